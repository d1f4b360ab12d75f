"""Radius graphs without pyg-lib: PyG's kernel when present, else vesin on
the CPU, or a blockwise dense search on the batch's own device (GPU)."""
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
    neighbour list of `vesin <https://github.com/Luthaf/vesin>`_ for
    coordinates on the CPU (linear in the number of atoms, no compiler
    needed) in one call for the whole batch: graphs are laid side by side more
    than :obj:`r` apart, so no pair crosses graphs. Coordinates on another
    device (GPU) never go to the host: all pairs within each graph are
    compared there, blockwise (graphs grouped so that a block holds at most
    :data:`DENSE_BLOCK` pairs), which suits polymers of a few hundred atoms.
    :obj:`batch` must be sorted (as in PyG batches).

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
        ``source_to_target`` flow), sorted by target, then by source (or by
        distance when :obj:`max_num_neighbors` is set).
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
    if pos.device.type != "cpu":
        return dense_radius_graph(pos, r, batch, loop, max_num_neighbors)
    return _vesin_radius_graph(pos, r, batch, loop, max_num_neighbors)


#: Most atom pairs compared at once by :func:`dense_radius_graph`.
DENSE_BLOCK = 1 << 24


def dense_radius_graph(pos: Tensor, r: float, batch: Optional[Tensor] = None,
                       loop: bool = False,
                       max_num_neighbors: Optional[int] = None) -> Tensor:
    """:func:`radius_graph` by comparing all pairs within each graph on
    :obj:`pos`'s device (same edges and order); used for GPU tensors."""
    from torch_geometric.utils import to_dense_batch

    device, n = pos.device, pos.size(0)
    if n == 0:
        return torch.empty(2, 0, dtype=torch.long, device=device)
    if batch is None:
        batch = torch.zeros(n, dtype=torch.long, device=device)
    counts = torch.bincount(batch).tolist()  # one small host sync
    ptr = [0]
    for c in counts:
        ptr.append(ptr[-1] + c)
    src, dst, dist = [], [], []
    first = 0
    while first < len(counts):
        last, widest = first, 0
        while last < len(counts):
            wider = max(widest, counts[last])
            if last > first and (last - first + 1) * wider ** 2 > DENSE_BLOCK:
                break
            widest, last = wider, last + 1
        x = pos[ptr[first]:ptr[last]]
        b = batch[ptr[first]:ptr[last]] - first
        dense, mask = to_dense_batch(x, b, batch_size=last - first)
        d = torch.cdist(dense, dense)
        adj = (d < r) & mask.unsqueeze(2) & mask.unsqueeze(1)
        if not loop:
            adj &= ~torch.eye(dense.size(1), dtype=torch.bool, device=device)
        g, i, j = adj.nonzero(as_tuple=True)
        start = torch.as_tensor(ptr[first:last], device=device)[g]
        dst.append(start + i)
        src.append(start + j)
        dist.append(d[g, i, j])
        first = last
    src, dst, dist = torch.cat(src), torch.cat(dst), torch.cat(dist)
    if max_num_neighbors is None:
        order = torch.argsort(dst * n + src)
        return torch.stack([src[order], dst[order]])
    # Order by target, then distance, then source (stable sorts, last key
    # first), and keep each target's nearest ones.
    order = torch.sort(src, stable=True).indices
    order = order[torch.sort(dist[order], stable=True).indices]
    order = order[torch.sort(dst[order], stable=True).indices]
    src, dst = src[order], dst[order]
    first_of = torch.searchsorted(dst, dst, right=False)
    keep = torch.arange(dst.numel(), device=device) - first_of \
        < max_num_neighbors
    return torch.stack([src[keep], dst[keep]])


def _vesin_radius_graph(pos, r, batch, loop, max_num_neighbors):
    from vesin import NeighborList

    device = pos.device
    points = pos.detach().to("cpu", torch.float64).numpy().copy()
    n = points.shape[0]
    if n == 0:
        return torch.empty(2, 0, dtype=torch.long, device=device)
    if batch is not None and n:
        # One call for the whole batch: lay the graphs out side by side along
        # x, each more than r from the next, so that no pair crosses graphs.
        graph = batch.detach().cpu().numpy()
        starts = np.flatnonzero(np.r_[True, graph[1:] != graph[:-1]])
        lo = np.minimum.reduceat(points[:, 0], starts)
        hi = np.maximum.reduceat(points[:, 0], starts)
        offset = np.r_[0.0, np.cumsum(hi - lo + 2.0 * r)[:-1]] - lo
        counts = np.diff(np.r_[starts, n])
        points[:, 0] += np.repeat(offset, counts)
    calculator = NeighborList(cutoff=float(r), full_list=True)
    i, j, d = calculator.compute(points, np.zeros((3, 3)), periodic=False,
                                 quantities="ijd")
    src, dst = j.astype(np.int64), i.astype(np.int64)
    if loop:
        idx = np.arange(n, dtype=np.int64)
        src, dst = np.r_[src, idx], np.r_[dst, idx]
        d = np.r_[d, np.zeros(n)]
    if max_num_neighbors is None:
        order = np.argsort(dst * n + src)  # one int64 key: fast
        src, dst = src[order], dst[order]
    else:
        order = np.lexsort((src, d, dst))
        src, dst = src[order], dst[order]
        # Rank of each edge among its target's edges, nearest first.
        first = np.searchsorted(dst, dst, side="left")
        rank = np.arange(dst.shape[0]) - first
        keep = rank < max_num_neighbors
        src, dst = src[keep], dst[keep]
    return torch.from_numpy(np.stack([src, dst])).to(device)
