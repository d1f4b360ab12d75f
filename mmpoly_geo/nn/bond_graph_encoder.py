"""Topological (2D) encoder: message passing over the bond graph."""
from __future__ import annotations

from typing import Optional, Sequence, Tuple

import torch
from torch import Tensor
from torch_geometric.nn import MLP, GINEConv, global_add_pool
from torch_geometric.nn.models import GIN
from torch_geometric.nn.models.basic_gnn import BasicGNN

from mmpoly_geo.chem.features import ATOM_FEATURE_DIMS, BOND_FEATURE_DIMS
from mmpoly_geo.nn.atom_encoder import AtomEncoder


class GINE(BasicGNN):
    r"""PyG's :class:`~torch_geometric.nn.models.GIN` with
    :class:`~torch_geometric.nn.conv.GINEConv` layers: the same layer stack,
    each message :math:`\mathrm{ReLU}(x_j + e_{ji})` adding the embedding of
    the bond it crosses. :obj:`edge_attr` must have ``hidden_channels``
    columns (:obj:`in_channels` of the first layer)."""
    supports_edge_weight = False
    supports_edge_attr = True

    def init_conv(self, in_channels: int, out_channels: int, **kwargs):
        mlp = MLP([in_channels, out_channels, out_channels], act=self.act,
                  act_first=self.act_first, norm=self.norm,
                  norm_kwargs=self.norm_kwargs)
        return GINEConv(mlp, **kwargs)


class BondGraphEncoder(torch.nn.Module):
    r"""Embeds the categorical atom features (:class:`AtomEncoder`), runs
    PyG's :class:`~torch_geometric.nn.models.GIN` over the bond graph and
    sum-pools per polymer. Sees no coordinates, so it is blind to conformer
    noise; the GIN baseline of the benchmark suite is this encoder with a
    property head. With :obj:`bond_features`, the layers are :class:`GINE`
    ones and each message also carries the embedding of its bond's
    categorical features (type, stereo, conjugation, ring).

    Args:
        hidden_channels (int, optional): Width of every layer.
            (default: :obj:`128`)
        num_layers (int, optional): GIN layers. (default: :obj:`4`)
        dropout (float, optional): Dropout between layers.
            (default: :obj:`0.1`)
        feature_dims (list, optional): Categories of each column of
            :obj:`x`. (default: :data:`~mmpoly_geo.chem.features.ATOM_FEATURE_DIMS`)
        bond_features (bool, optional): Messages carry the bond features
            :obj:`edge_attr`. (default: :obj:`False`)
        bond_feature_dims (list, optional): Categories of each column of
            :obj:`edge_attr`. (default: :data:`~mmpoly_geo.chem.features.BOND_FEATURE_DIMS`)

    Shapes: :obj:`x` :math:`[N, F]` (int64), :obj:`edge_index`
    :math:`[2, E]`, :obj:`batch` :math:`[N]`, :obj:`edge_attr`
    :math:`[E, F_b]` (int64; needed with :obj:`bond_features`, else ignored)
    -> ``(node, pooled)``: :math:`[N, H]`, :math:`[B, H]`.
    """
    def __init__(self, hidden_channels: int = 128, num_layers: int = 4,
                 dropout: float = 0.1,
                 feature_dims: Sequence[int] = ATOM_FEATURE_DIMS,
                 bond_features: bool = False,
                 bond_feature_dims: Sequence[int] = BOND_FEATURE_DIMS):
        super().__init__()
        self.hidden_channels = hidden_channels
        self.atom_encoder = AtomEncoder(hidden_channels, feature_dims)
        # The bond embedding is an AtomEncoder over the bond columns: the
        # same sum of one embedding per categorical feature.
        self.bond_encoder = (AtomEncoder(hidden_channels, bond_feature_dims)
                             if bond_features else None)
        gnn = GINE if bond_features else GIN
        self.gnn = gnn(hidden_channels, hidden_channels, num_layers,
                       dropout=dropout)

    @property
    def out_channels(self) -> int:
        return self.hidden_channels

    def reset_parameters(self):
        self.atom_encoder.reset_parameters()
        if self.bond_encoder is not None:
            self.bond_encoder.reset_parameters()
        self.gnn.reset_parameters()

    def forward(self, x: Tensor, edge_index: Tensor,
                batch: Optional[Tensor] = None,
                num_graphs: Optional[int] = None,
                edge_attr: Optional[Tensor] = None) -> Tuple[Tensor, Tensor]:
        if self.bond_encoder is None:
            node = self.gnn(self.atom_encoder(x), edge_index)
        elif edge_attr is None:
            raise ValueError("this encoder was built with bond_features=True "
                             "and needs edge_attr")
        else:
            node = self.gnn(self.atom_encoder(x), edge_index,
                            edge_attr=self.bond_encoder(edge_attr))
        if batch is None:
            batch = edge_index.new_zeros(x.size(0))
            num_graphs = 1
        return node, global_add_pool(node, batch, size=num_graphs)
