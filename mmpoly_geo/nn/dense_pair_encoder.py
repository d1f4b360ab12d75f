"""Uni-Mol-style dense pair encoder (the 3D branch of MMPolymer), as a
reference and baseline: every layer holds :math:`O(N^2)` pair tensors."""
from __future__ import annotations

import math
from typing import Optional

import torch
from torch import Tensor
from torch_geometric.utils import to_dense_batch

from mmpoly_geo.nn.encoder_output import EncoderOutput

_NUM_ELEMENTS = 119


class GaussianPairEmbedding(torch.nn.Module):
    r"""Gaussian kernels of pair distances with a learned affine transform per
    atom-pair type: :math:`x = a_{t_i t_j} d_{ij} + b_{t_i t_j}`, then
    :math:`K` Gaussians with learned means and widths.

    Shapes: distances :math:`[B, N, N]`, pair types :math:`[B, N, N]` ->
    :math:`[B, N, N, K]`.
    """
    def __init__(self, num_kernels: int = 128, num_pair_types: int = 120 ** 2):
        super().__init__()
        self.num_kernels = num_kernels
        self.means = torch.nn.Embedding(1, num_kernels)
        self.stds = torch.nn.Embedding(1, num_kernels)
        self.mul = torch.nn.Embedding(num_pair_types, 1)
        self.bias = torch.nn.Embedding(num_pair_types, 1)
        self.reset_parameters()

    def reset_parameters(self):
        torch.nn.init.uniform_(self.means.weight, 0, 3)
        torch.nn.init.uniform_(self.stds.weight, 0, 3)
        torch.nn.init.constant_(self.mul.weight, 1.0)
        torch.nn.init.constant_(self.bias.weight, 0.0)

    def forward(self, dist: Tensor, pair_type: Tensor) -> Tensor:
        x = self.mul(pair_type).squeeze(-1) * dist + self.bias(pair_type).squeeze(-1)
        mean = self.means.weight.view(-1)
        std = self.stds.weight.view(-1).abs() + 1e-5
        z = (x.unsqueeze(-1) - mean) / std
        return torch.exp(-0.5 * z ** 2) / (math.sqrt(2 * math.pi) * std)


class DensePairLayer(torch.nn.Module):
    """Pre-LN self-attention with an additive pair bias, whose logits become
    the next layer's pair representation (Uni-Mol), plus a feed-forward."""
    def __init__(self, channels: int, num_heads: int, ffn_channels: int,
                 dropout: float):
        super().__init__()
        self.num_heads = num_heads
        self.head_dim = channels // num_heads
        self.norm1 = torch.nn.LayerNorm(channels)
        self.qkv = torch.nn.Linear(channels, 3 * channels)
        self.out = torch.nn.Linear(channels, channels)
        self.norm2 = torch.nn.LayerNorm(channels)
        self.ffn = torch.nn.Sequential(
            torch.nn.Linear(channels, ffn_channels), torch.nn.GELU(),
            torch.nn.Linear(ffn_channels, channels))
        self.dropout = torch.nn.Dropout(dropout)

    def forward(self, h: Tensor, pair: Tensor, key_mask: Tensor):
        B, N, C = h.shape
        q, k, v = self.qkv(self.norm1(h)).view(
            B, N, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        logits = q @ k.transpose(-1, -2) / math.sqrt(self.head_dim) + pair
        attn = logits.masked_fill(~key_mask[:, None, None, :], float("-inf"))
        attn = self.dropout(attn.softmax(dim=-1))
        out = (attn @ v).transpose(1, 2).reshape(B, N, C)
        h = h + self.dropout(self.out(out))
        h = h + self.dropout(self.ffn(self.norm2(h)))
        return h, logits


class DensePairEncoder(torch.nn.Module):
    r"""Uni-Mol-style 3D encoder (MMPolymer's 3D branch), re-implemented from
    its description: atom-type tokens plus a ``[CLS]`` token at the centroid,
    Gaussian kernels of all pair distances per atom-pair type, an attention
    bias per head that is updated layer by layer, and an equivariant
    coordinate output from the change of the pair representation:
    :math:`\hat{v}_i = \sum_j \psi(x^{(L)}_{ij} - x^{(0)}_{ij})(p_i - p_j)/N`.

    Memory and time grow with the square of the atom count; kept as the
    baseline of ``benchmarks/scaling.py`` and as an option.

    Args:
        hidden_channels (int, optional): Width. (default: :obj:`64`)
        num_layers (int, optional): Layers. (default: :obj:`3`)
        num_heads (int, optional): Heads. (default: :obj:`8`)
        num_kernels (int, optional): Gaussian kernels. (default: :obj:`128`)
        ffn_channels (int, optional): Feed-forward width. (default: 4x width)
        dropout (float, optional): Dropout. (default: :obj:`0.0`)
        out_channels (int, optional): Output size. (default: hidden)

    Shapes: as :class:`~mmpoly_geo.nn.EquivariantEncoder`; :obj:`x` must hold
    atomic numbers in column 0 and :obj:`edge_index` is ignored (all pairs).
    """
    def __init__(self, hidden_channels: int = 64, num_layers: int = 3,
                 num_heads: int = 8, num_kernels: int = 128,
                 ffn_channels: Optional[int] = None, dropout: float = 0.0,
                 out_channels: Optional[int] = None):
        super().__init__()
        if hidden_channels % num_heads:
            raise ValueError("hidden_channels must be divisible by num_heads")
        self.hidden_channels = hidden_channels
        self.num_layers = num_layers
        self.num_heads = num_heads
        self.out_channels = out_channels or hidden_channels
        num_types = _NUM_ELEMENTS + 1  # + [CLS]
        self.num_types = num_types
        self.atom_embedding = torch.nn.Embedding(num_types, hidden_channels)
        self.gaussian = GaussianPairEmbedding(num_kernels, num_types ** 2)
        self.pair_proj = torch.nn.Sequential(
            torch.nn.Linear(num_kernels, num_kernels), torch.nn.GELU(),
            torch.nn.Linear(num_kernels, num_heads))
        self.layers = torch.nn.ModuleList(
            DensePairLayer(hidden_channels, num_heads,
                           ffn_channels or 4 * hidden_channels, dropout)
            for _ in range(num_layers))
        self.norm = torch.nn.LayerNorm(hidden_channels)
        self.node_out = torch.nn.Linear(hidden_channels, self.out_channels)
        self.coord_proj = torch.nn.Sequential(
            torch.nn.Linear(num_heads, num_heads), torch.nn.GELU(),
            torch.nn.Linear(num_heads, 1))

    def reset_parameters(self):
        for m in self.modules():
            if m is not self and hasattr(m, "reset_parameters"):
                m.reset_parameters()

    def forward(self, x: Tensor, pos: Tensor,
                edge_index: Optional[Tensor] = None,
                batch: Optional[Tensor] = None) -> EncoderOutput:
        if batch is None:
            batch = torch.zeros(pos.size(0), dtype=torch.long,
                                device=pos.device)
        types, mask = to_dense_batch(x[:, 0], batch, fill_value=0)
        p, _ = to_dense_batch(pos, batch)
        B = types.size(0)
        count = mask.sum(1, keepdim=True).clamp_min(1)
        centroid = (p * mask.unsqueeze(-1)).sum(1) / count
        cls = torch.full((B, 1), _NUM_ELEMENTS, dtype=types.dtype,
                         device=types.device)
        types = torch.cat([cls, types], dim=1)
        p = torch.cat([centroid.unsqueeze(1), p], dim=1)
        mask = torch.cat([mask.new_ones(B, 1), mask], dim=1)

        delta = p.unsqueeze(2) - p.unsqueeze(1)  # p_i - p_j, [B, N, N, 3]
        dist = delta.norm(dim=-1)
        pair_type = types.unsqueeze(2) * self.num_types + types.unsqueeze(1)
        pair0 = self.pair_proj(self.gaussian(dist, pair_type).to(pos.dtype))
        pair0 = pair0.permute(0, 3, 1, 2)  # [B, heads, N, N]
        h = self.atom_embedding(types).to(pos.dtype)
        pair = pair0
        for layer in self.layers:
            h, pair = layer(h, pair, mask)
        h = self.norm(h)
        pooled = self.node_out(h[:, 0])
        node = self.node_out(h[:, 1:][mask[:, 1:]])
        coef = self.coord_proj((pair - pair0).permute(0, 2, 3, 1)).squeeze(-1)
        pair_mask = (mask.unsqueeze(2) & mask.unsqueeze(1)).to(coef.dtype)
        pair_mask[:, 0, :] = 0  # the [CLS] token carries no coordinate
        pair_mask[:, :, 0] = 0
        vec = ((coef * pair_mask).unsqueeze(-1) * delta).sum(2) / count.unsqueeze(-1)
        vectors = vec[:, 1:][mask[:, 1:]]
        return EncoderOutput(node, pooled, vectors)

    def __repr__(self) -> str:
        return (f"{self.__class__.__name__}(hidden_channels="
                f"{self.hidden_channels}, num_layers={self.num_layers}, "
                f"num_heads={self.num_heads})")
