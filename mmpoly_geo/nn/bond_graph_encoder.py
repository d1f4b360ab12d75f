"""Topological (2D) encoder: message passing over the bond graph."""
from __future__ import annotations

from typing import Optional, Sequence, Tuple

import torch
from torch import Tensor
from torch_geometric.nn import global_add_pool
from torch_geometric.nn.models import GIN

from mmpoly_geo.chem.features import ATOM_FEATURE_DIMS
from mmpoly_geo.nn.atom_encoder import AtomEncoder


class BondGraphEncoder(torch.nn.Module):
    r"""Embeds the categorical atom features (:class:`AtomEncoder`), runs
    PyG's :class:`~torch_geometric.nn.models.GIN` over the bond graph and
    sum-pools per polymer. Sees no coordinates, so it is blind to conformer
    noise; the GIN baseline of the benchmark suite is this encoder with a
    property head.

    Args:
        hidden_channels (int, optional): Width of every layer.
            (default: :obj:`128`)
        num_layers (int, optional): GIN layers. (default: :obj:`4`)
        dropout (float, optional): Dropout between layers.
            (default: :obj:`0.1`)
        feature_dims (list, optional): Categories of each column of
            :obj:`x`. (default: :data:`~mmpoly_geo.chem.features.ATOM_FEATURE_DIMS`)

    Shapes: :obj:`x` :math:`[N, F]` (int64), :obj:`edge_index`
    :math:`[2, E]`, :obj:`batch` :math:`[N]` -> ``(node, pooled)``:
    :math:`[N, H]`, :math:`[B, H]`.
    """
    def __init__(self, hidden_channels: int = 128, num_layers: int = 4,
                 dropout: float = 0.1,
                 feature_dims: Sequence[int] = ATOM_FEATURE_DIMS):
        super().__init__()
        self.hidden_channels = hidden_channels
        self.atom_encoder = AtomEncoder(hidden_channels, feature_dims)
        self.gnn = GIN(hidden_channels, hidden_channels, num_layers,
                       dropout=dropout)

    @property
    def out_channels(self) -> int:
        return self.hidden_channels

    def reset_parameters(self):
        self.atom_encoder.reset_parameters()
        self.gnn.reset_parameters()

    def forward(self, x: Tensor, edge_index: Tensor,
                batch: Optional[Tensor] = None,
                num_graphs: Optional[int] = None) -> Tuple[Tensor, Tensor]:
        node = self.gnn(self.atom_encoder(x), edge_index)
        if batch is None:
            batch = edge_index.new_zeros(x.size(0))
            num_graphs = 1
        return node, global_add_pool(node, batch, size=num_graphs)
