"""Radius graphs without pyg-lib: PyG's kernel when present, else vesin."""
from __future__ import annotations

from typing import Optional

import numpy as np
import torch
from torch import Tensor


def radius_graph(pos: Tensor, r: float, batch: Optional[Tensor] = None,
                 loop: bool = False,
                 max_num_neighbors: Optional[int] = None) -> Tensor:
    r"""Computes the edges between all atoms of the same graph closer than
    :obj:`r`.

    Uses :func:`torch_geometric.nn.radius_graph` when pyg-lib provides it
    (``torch_geometric.typing.WITH_RADIUS``), otherwise the cell-list
    neighbour list of `vesin <https://github.com/Luthaf/vesin>`_ (linear in
    the number of atoms, no compiler needed), one graph at a time. Coordinates
    on a GPU are copied to the CPU for vesin and the edges moved back.

    Args:
        pos (torch.Tensor): Coordinates, shape :obj:`[N, 3]`.
        r (float): Cutoff radius (Angstrom).
        batch (torch.Tensor, optional): Graph index of each atom, shape
            :obj:`[N]`, sorted. (default: :obj:`None`, one graph)
        loop (bool, optional): Add self-loops. (default: :obj:`False`)
        max_num_neighbors (int, optional): Keep at most this many nearest
            neighbours per atom. (default: :obj:`None`, no cap)

    Returns:
        torch.Tensor: :obj:`edge_index` of shape :obj:`[2, E]` (int64), both
        directions of each pair, source in row 0 and target in row 1 (PyG's
        ``source_to_target`` flow), sorted by target then distance.
    """
    if pos.dim() != 2 or pos.size(-1) != 3:
        raise ValueError(f"pos must have shape [N, 3], got {tuple(pos.shape)}")
    if r <= 0:
        raise ValueError(f"cutoff r must be positive, got {r}")
    import torch_geometric.typing as pyg_typing
    if getattr(pyg_typing, "WITH_RADIUS", False):  # pragma: no cover
        from torch_geometric.nn import radius_graph as pyg_radius_graph
        return pyg_radius_graph(pos, r, batch, loop,
                                max_num_neighbors or pos.size(0))
    return _vesin_radius_graph(pos, r, batch, loop, max_num_neighbors)


def _vesin_radius_graph(pos, r, batch, loop, max_num_neighbors):
    from vesin import NeighborList

    device = pos.device
    points = pos.detach().to("cpu", torch.float64).numpy()
    if batch is None:
        bounds = [0, points.shape[0]]
    else:
        counts = torch.bincount(batch.detach().cpu())
        bounds = [0] + torch.cumsum(counts, 0).tolist()
    calculator = NeighborList(cutoff=float(r), full_list=True)
    box = np.zeros((3, 3))
    src, dst, dist = [], [], []
    for start, end in zip(bounds[:-1], bounds[1:]):
        if end - start < 1:
            continue
        i, j, d = calculator.compute(points[start:end], box, periodic=False,
                                     quantities="ijd")
        src.append(j.astype(np.int64) + start)
        dst.append(i.astype(np.int64) + start)
        dist.append(d)
        if loop:
            idx = np.arange(start, end, dtype=np.int64)
            src.append(idx)
            dst.append(idx)
            dist.append(np.zeros(end - start))
    if not src:
        return torch.empty(2, 0, dtype=torch.long, device=device)
    src, dst, dist = (np.concatenate(a) for a in (src, dst, dist))
    order = np.lexsort((src, dist, dst))
    src, dst = src[order], dst[order]
    if max_num_neighbors is not None:
        # Rank of each edge among its target's edges, nearest first.
        first = np.searchsorted(dst, dst, side="left")
        rank = np.arange(dst.shape[0]) - first
        keep = rank < max_num_neighbors
        src, dst = src[keep], dst[keep]
    edge_index = torch.from_numpy(np.stack([src, dst]))
    return edge_index.to(device)
