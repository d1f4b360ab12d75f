"""Transformer encoder over P-SMILES tokens."""
from __future__ import annotations

import math
from typing import Optional, Tuple

import torch
from torch import Tensor


class SequenceEncoder(torch.nn.Module):
    r"""Pre-LN Transformer encoder over token ids with a padding mask.

    The first position is the ``[CLS]`` token; its final state (after a
    LayerNorm) is the pooled output.

    Args:
        vocab_size (int): Number of token ids.
        hidden_channels (int, optional): Model width. (default: :obj:`256`)
        num_layers (int, optional): Transformer layers. (default: :obj:`4`)
        num_heads (int, optional): Attention heads. (default: :obj:`8`)
        ffn_channels (int, optional): Feed-forward width; 4x width if
            :obj:`None`. (default: :obj:`None`)
        dropout (float, optional): Dropout. (default: :obj:`0.1`)
        max_length (int, optional): Longest sequence. (default: :obj:`512`)
        positional (str, optional): ``"learned"`` or ``"sinusoidal"``
            position encodings. (default: ``"learned"``)
        pad_id (int, optional): Padding id. (default: :obj:`0`)

    Shapes:
        :obj:`tokens` :math:`[B, L]`, :obj:`mask` :math:`[B, L]` (True for real
        tokens) -> per-token :math:`[B, L, H]` (zero at padding), pooled
        :math:`[B, H]`.
    """
    def __init__(self, vocab_size: int, hidden_channels: int = 256,
                 num_layers: int = 4, num_heads: int = 8,
                 ffn_channels: Optional[int] = None, dropout: float = 0.1,
                 max_length: int = 512, positional: str = "learned",
                 pad_id: int = 0):
        super().__init__()
        if positional not in ("learned", "sinusoidal"):
            raise ValueError(f"positional must be 'learned' or 'sinusoidal', "
                             f"got {positional!r}")
        self.vocab_size = vocab_size
        self.hidden_channels = hidden_channels
        self.num_layers = num_layers
        self.max_length = max_length
        self.positional = positional
        self.pad_id = pad_id
        self.token_embedding = torch.nn.Embedding(vocab_size, hidden_channels,
                                                  padding_idx=pad_id)
        if positional == "learned":
            self.position_embedding = torch.nn.Embedding(max_length,
                                                         hidden_channels)
        else:
            self.register_buffer("sinusoid", _sinusoid(max_length,
                                                       hidden_channels),
                                 persistent=False)
        layer = torch.nn.TransformerEncoderLayer(
            hidden_channels, num_heads, ffn_channels or 4 * hidden_channels,
            dropout, activation="gelu", batch_first=True, norm_first=True)
        self.layers = torch.nn.TransformerEncoder(
            layer, num_layers, enable_nested_tensor=False)
        self.norm = torch.nn.LayerNorm(hidden_channels)
        self.dropout = torch.nn.Dropout(dropout)
        self.reset_parameters()

    def reset_parameters(self):
        torch.nn.init.normal_(self.token_embedding.weight, std=0.02)
        with torch.no_grad():
            self.token_embedding.weight[self.pad_id].zero_()
        if self.positional == "learned":
            torch.nn.init.normal_(self.position_embedding.weight, std=0.02)
        for layer in self.layers.layers:
            for module in layer.modules():
                if isinstance(module, torch.nn.Linear):
                    torch.nn.init.xavier_uniform_(module.weight)
                    if module.bias is not None:
                        torch.nn.init.zeros_(module.bias)
                elif isinstance(module, torch.nn.LayerNorm):
                    module.reset_parameters()
            layer.self_attn._reset_parameters()
        self.norm.reset_parameters()

    def forward(self, tokens: Tensor,
                mask: Optional[Tensor] = None) -> Tuple[Tensor, Tensor]:
        if tokens.dim() != 2:
            raise ValueError(f"tokens must have shape [B, L], got "
                             f"{tuple(tokens.shape)}")
        length = tokens.size(1)
        if length > self.max_length:
            raise ValueError(f"sequence length {length} exceeds max_length "
                             f"{self.max_length}")
        if mask is None:
            mask = tokens != self.pad_id
        h = self.token_embedding(tokens)
        if self.positional == "learned":
            h = h + self.position_embedding.weight[:length]
        else:
            h = h + self.sinusoid[:length].to(h.dtype)
        h = self.dropout(h)
        # Padding keys are masked in attention, so real tokens never see them.
        h = self.layers(h, src_key_padding_mask=~mask)
        h = self.norm(h) * mask.unsqueeze(-1).to(h.dtype)
        return h, h[:, 0]

    def __repr__(self) -> str:
        return (f"{self.__class__.__name__}({self.vocab_size}, "
                f"hidden_channels={self.hidden_channels}, "
                f"num_layers={self.num_layers}, positional={self.positional})")


def _sinusoid(length: int, channels: int) -> Tensor:
    position = torch.arange(length, dtype=torch.float32).unsqueeze(1)
    freq = torch.exp(torch.arange(0, channels, 2, dtype=torch.float32)
                     * (-math.log(10000.0) / channels))
    out = torch.zeros(length, channels)
    out[:, 0::2] = torch.sin(position * freq)
    out[:, 1::2] = torch.cos(position * freq[: channels // 2])
    return out
