"""Embedding of the categorical atom features of :class:`PolymerData`."""
from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor

from mmpoly_geo.chem.features import ATOM_FEATURE_DIMS


class AtomEncoder(torch.nn.Module):
    r"""Sums one learned embedding per categorical atom feature.

    Args:
        hidden_channels (int): Output size.
        feature_dims (list, optional): Number of categories of each column of
            :obj:`x`. (default: :data:`~mmpoly_geo.chem.features.ATOM_FEATURE_DIMS`)

    Shapes:
        input :obj:`x` :math:`[N, F]` (int64) -> output :math:`[N, H]`.
    """
    def __init__(self, hidden_channels: int,
                 feature_dims: Sequence[int] = ATOM_FEATURE_DIMS):
        super().__init__()
        self.feature_dims = tuple(feature_dims)
        self.embeddings = torch.nn.ModuleList(
            torch.nn.Embedding(d, hidden_channels) for d in self.feature_dims)
        self.reset_parameters()

    def reset_parameters(self):
        for emb in self.embeddings:
            torch.nn.init.normal_(emb.weight, std=len(self.embeddings) ** -0.5)

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != 2 or x.size(1) != len(self.embeddings):
            raise ValueError(f"x must have shape [N, {len(self.embeddings)}], "
                             f"got {tuple(x.shape)}")
        out = 0
        for i, emb in enumerate(self.embeddings):
            out = out + emb(x[:, i])
        return out
