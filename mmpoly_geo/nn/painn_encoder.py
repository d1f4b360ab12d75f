"""PaiNN-style equivariant encoder: scalar and vector features, no tensor
products (Schuett et al., ICML 2021)."""
from __future__ import annotations

import math
from typing import Optional

import torch
from torch import Tensor
from torch_geometric.nn import global_mean_pool
from torch_geometric.utils import scatter

from mmpoly_geo.nn.atom_encoder import AtomEncoder
from mmpoly_geo.nn.encoder_output import EncoderOutput


def _cosine_cutoff(length: Tensor, cutoff: float) -> Tensor:
    return 0.5 * (torch.cos(length * math.pi / cutoff) + 1.0) * (length < cutoff)


def _sinc_basis(length: Tensor, cutoff: float, num_basis: int) -> Tensor:
    n = torch.arange(1, num_basis + 1, device=length.device, dtype=length.dtype)
    return torch.sin(n * math.pi * length.unsqueeze(-1) / cutoff) / (
        length.unsqueeze(-1) + 1e-9)


class PaiNNInteraction(torch.nn.Module):
    """One PaiNN message + update block on :math:`F` scalar and :math:`F`
    vector channels (vectors stored as :math:`[N, 3, F]`)."""
    def __init__(self, channels: int, num_basis: int, cutoff: float,
                 avg_num_neighbors: float):
        super().__init__()
        self.channels = channels
        self.cutoff = cutoff
        self.message_mlp = torch.nn.Sequential(
            torch.nn.Linear(channels, channels), torch.nn.SiLU(),
            torch.nn.Linear(channels, 3 * channels))
        self.filter = torch.nn.Linear(num_basis, 3 * channels)
        self.U = torch.nn.Linear(channels, channels, bias=False)
        self.V = torch.nn.Linear(channels, channels, bias=False)
        self.update_mlp = torch.nn.Sequential(
            torch.nn.Linear(2 * channels, channels), torch.nn.SiLU(),
            torch.nn.Linear(channels, 3 * channels))
        self.norm = 1.0 / math.sqrt(avg_num_neighbors)

    def reset_parameters(self):
        for m in self.modules():
            if isinstance(m, torch.nn.Linear):
                m.reset_parameters()

    def forward(self, s: Tensor, v: Tensor, src: Tensor, dst: Tensor,
                unit_vec: Tensor, rbf: Tensor, envelope: Tensor):
        F = self.channels
        x = self.message_mlp(s)[src] * self.filter(rbf) * envelope.unsqueeze(-1)
        ds, dv_v, dv_r = x.split(F, dim=-1)
        dv = v[src] * dv_v.unsqueeze(1) + unit_vec.unsqueeze(-1) * dv_r.unsqueeze(1)
        s = s + scatter(ds, dst, 0, dim_size=s.size(0), reduce="sum") * self.norm
        v = v + scatter(dv, dst, 0, dim_size=s.size(0), reduce="sum") * self.norm
        Uv, Vv = self.U(v), self.V(v)
        norm = torch.sqrt((Vv ** 2).sum(dim=1) + 1e-8)
        a = self.update_mlp(torch.cat([s, norm], dim=-1))
        a_vv, a_sv, a_ss = a.split(F, dim=-1)
        v = v + a_vv.unsqueeze(1) * Uv
        s = s + a_sv * (Uv * Vv).sum(dim=1) + a_ss
        return s, v


class PaiNNEncoder(torch.nn.Module):
    r"""A cheaper equivariant 3D encoder: PaiNN-style scalar/vector message
    passing on the radius graph (l <= 1, no tensor products).

    Same interface and outputs as
    :class:`~mmpoly_geo.nn.EquivariantEncoder`.

    Args:
        hidden_channels (int, optional): Scalar and vector channels.
            (default: :obj:`64`)
        num_layers (int, optional): Interaction blocks. (default: :obj:`3`)
        cutoff (float, optional): Radial cutoff in Angstrom. (default: :obj:`5.0`)
        num_basis (int, optional): Radial basis size. (default: :obj:`16`)
        avg_num_neighbors (float, optional): Neighbour-sum normalisation.
            (default: :obj:`16.0`)
        out_channels (int, optional): Output size. (default: hidden)
    """
    def __init__(self, hidden_channels: int = 64, num_layers: int = 3,
                 cutoff: float = 5.0, num_basis: int = 16,
                 avg_num_neighbors: float = 16.0,
                 out_channels: Optional[int] = None):
        super().__init__()
        self.hidden_channels = hidden_channels
        self.num_layers = num_layers
        self.cutoff = cutoff
        self.num_basis = num_basis
        self.out_channels = out_channels or hidden_channels
        self.atom_encoder = AtomEncoder(hidden_channels)
        self.layers = torch.nn.ModuleList(
            PaiNNInteraction(hidden_channels, num_basis, cutoff,
                             avg_num_neighbors) for _ in range(num_layers))
        self.node_out = torch.nn.Sequential(
            torch.nn.Linear(hidden_channels, self.out_channels),
            torch.nn.SiLU(),
            torch.nn.Linear(self.out_channels, self.out_channels))
        self.vector_out = torch.nn.Linear(hidden_channels, 1, bias=False)

    def reset_parameters(self):
        self.atom_encoder.reset_parameters()
        for layer in self.layers:
            layer.reset_parameters()
        for m in self.node_out:
            if isinstance(m, torch.nn.Linear):
                m.reset_parameters()
        self.vector_out.reset_parameters()

    def forward(self, x: Tensor, pos: Tensor, edge_index: Tensor,
                batch: Optional[Tensor] = None) -> EncoderOutput:
        if batch is None:
            batch = torch.zeros(pos.size(0), dtype=torch.long,
                                device=pos.device)
        src, dst = edge_index
        vec = pos[src] - pos[dst]
        length = vec.norm(dim=-1)
        unit_vec = vec / length.clamp_min(1e-9).unsqueeze(-1)
        rbf = _sinc_basis(length, self.cutoff, self.num_basis)
        envelope = _cosine_cutoff(length, self.cutoff)
        s = self.atom_encoder(x).to(pos.dtype)
        v = s.new_zeros(s.size(0), 3, self.hidden_channels)
        for layer in self.layers:
            s, v = layer(s, v, src, dst, unit_vec, rbf, envelope)
        node = self.node_out(s)
        return EncoderOutput(node, global_mean_pool(node, batch),
                             self.vector_out(v).squeeze(-1))

    def __repr__(self) -> str:
        return (f"{self.__class__.__name__}(hidden_channels="
                f"{self.hidden_channels}, num_layers={self.num_layers}, "
                f"cutoff={self.cutoff})")
