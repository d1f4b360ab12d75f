"""Radius-graph edges labelled with the chemical bond they are (if any)."""
from __future__ import annotations

from typing import Optional, Tuple

import torch
from torch import Tensor

#: Bond types of ``edge_attr[:, 0]`` (single, double, triple, aromatic, other).
NUM_BOND_TYPES = 5
#: Edge categories of :func:`typed_edges`: 0 not bonded, ``1 + bond type``
#: for bonds, ``1 + NUM_BOND_TYPES + bond type`` for periodic closures.
NUM_EDGE_TYPES = 1 + 2 * NUM_BOND_TYPES


def typed_edges(radius_edge_index: Tensor, bond_edge_index: Tensor,
                bond_type: Tensor, num_nodes: int,
                periodic_edge_index: Optional[Tensor] = None,
                periodic_bond_type: Optional[Tensor] = None
                ) -> Tuple[Tensor, Tensor]:
    r"""Merges a radius graph with the bond graph: every radius edge gets the
    type of the bond it coincides with (``0`` if none), bonds longer than the
    cutoff are added, and periodic closure bonds (the repeat unit's two ends,
    possibly parallel to an existing bond) are added with their own types.

    Args:
        radius_edge_index (torch.Tensor): :math:`[2, E_r]`.
        bond_edge_index (torch.Tensor): :math:`[2, E_b]`, both directions.
        bond_type (torch.Tensor): :math:`[E_b]` in ``0 .. NUM_BOND_TYPES-1``.
        num_nodes (int): Atoms.
        periodic_edge_index (torch.Tensor, optional): :math:`[2, E_p]`.
        periodic_bond_type (torch.Tensor, optional): :math:`[E_p]`.

    Returns:
        ``(edge_index [2, E], edge_type [E])`` with
        :math:`E_r \le E \le E_r + E_b + E_p`; the radius edges come first, in
        their order.
    """
    n = max(int(num_nodes), 1)
    r_key = radius_edge_index[0] * n + radius_edge_index[1]
    b_key = bond_edge_index[0] * n + bond_edge_index[1]
    edge_type = torch.zeros_like(r_key)
    if b_key.numel():
        order = torch.argsort(b_key)
        sorted_keys = b_key[order]
        pos = torch.searchsorted(sorted_keys, r_key).clamp_max(
            sorted_keys.numel() - 1)
        hit = sorted_keys[pos] == r_key
        edge_type = torch.where(hit, 1 + bond_type[order][pos], edge_type)
        covered = torch.zeros(b_key.numel(), dtype=torch.bool,
                              device=b_key.device)
        covered[order[pos[hit]]] = True
        extra = ~covered
    else:
        extra = torch.zeros(0, dtype=torch.bool, device=r_key.device)
    parts_index = [radius_edge_index, bond_edge_index[:, extra]]
    parts_type = [edge_type, 1 + bond_type[extra]]
    if periodic_edge_index is not None and periodic_edge_index.numel():
        parts_index.append(periodic_edge_index)
        parts_type.append(1 + NUM_BOND_TYPES + periodic_bond_type)
    return torch.cat(parts_index, 1), torch.cat(parts_type)
