"""Readout of per-atom features into one vector per polymer."""
from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor
from torch_geometric.nn import global_add_pool, global_mean_pool
from torch_geometric.utils import softmax

POOLINGS = ("mean", "sum", "attention")


class GraphPooling(torch.nn.Module):
    r"""Mean, sum or attention pooling over the atoms of each graph.

    ``"attention"`` weights atoms by a softmax (per graph) of a learned
    linear score, as PyG's ``AttentionalAggregation`` with a linear gate.

    Args:
        channels (int): Feature size.
        kind (str, optional): ``"mean"``, ``"sum"`` or ``"attention"``.
            (default: ``"mean"``)

    Shapes: :math:`[N, H]`, batch :math:`[N]` -> :math:`[B, H]`.
    """
    def __init__(self, channels: int, kind: str = "mean"):
        super().__init__()
        if kind not in POOLINGS:
            raise ValueError(f"pooling must be one of {POOLINGS}, got {kind!r}")
        self.kind = kind
        self.gate = torch.nn.Linear(channels, 1) if kind == "attention" else None

    def reset_parameters(self):
        if self.gate is not None:
            self.gate.reset_parameters()

    def forward(self, x: Tensor, batch: Tensor,
                size: Optional[int] = None) -> Tensor:
        if self.kind == "mean":
            return global_mean_pool(x, batch, size)
        if self.kind == "sum":
            return global_add_pool(x, batch, size)
        weight = softmax(self.gate(x), batch, num_nodes=x.size(0))
        return global_add_pool(weight * x, batch, size)
