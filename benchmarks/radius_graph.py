"""Radius graph: vesin cell lists (our fallback) vs a dense cdist baseline.

PyG 2.8's ``radius_graph`` needs pyg-lib, which is not on PyPI; mmpoly_geo
falls back to vesin. This compares it, in one process on the same inputs, with
the dense alternative (padded ``torch.cdist`` + threshold, O(sum n^2)). Edge
sets are checked to be identical.

Usage::

    python benchmarks/radius_graph.py [--cutoff 5.0] [--repeats 5]
"""
import argparse
import time

import torch
from torch_geometric.utils import to_dense_batch

from mmpoly_geo.data import radius_graph


def dense_radius_graph(pos, r, batch):
    dense, mask = to_dense_batch(pos, batch)
    dist = torch.cdist(dense, dense)
    keep = (dist < r) & mask.unsqueeze(1) & mask.unsqueeze(2)
    keep &= ~torch.eye(dense.size(1), dtype=torch.bool).unsqueeze(0)
    offset = torch.cumsum(torch.bincount(batch), 0) - torch.bincount(batch)
    g, i, j = keep.nonzero().t()
    return torch.stack([j + offset[g], i + offset[g]])


def timed(fn, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2], out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cutoff", type=float, default=5.0)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.manual_seed(0)
    print(f"cutoff {args.cutoff} A, {torch.get_num_threads()} threads, "
          "random points at liquid-like density (0.1 atoms/A^3)")
    print(f"{'graphs x atoms':>15} {'edges':>8} {'vesin ms':>9} "
          f"{'dense ms':>9} {'dense/vesin':>11}")
    for graphs, atoms in [(64, 30), (64, 60), (32, 150), (8, 800), (2, 3000)]:
        side = (atoms / 0.1) ** (1 / 3)
        pos = torch.rand(graphs * atoms, 3) * side
        batch = torch.arange(graphs).repeat_interleave(atoms)
        t_v, e_v = timed(lambda: radius_graph(pos, args.cutoff, batch),
                         args.repeats)
        t_d, e_d = timed(lambda: dense_radius_graph(pos, args.cutoff, batch),
                         args.repeats)
        # Same edges, up to float32-vs-float64 rounding at the cutoff.
        diff = {tuple(e) for e in e_v.t().tolist()} ^ \
            {tuple(e) for e in e_d.t().tolist()}
        for s, t in diff:
            assert abs((pos[s] - pos[t]).norm() - args.cutoff) < 1e-4
        print(f"{graphs:>6} x {atoms:<6} {e_v.size(1):>8} {1e3 * t_v:>9.2f} "
              f"{1e3 * t_d:>9.2f} {t_d / t_v:>11.2f}")


if __name__ == "__main__":
    main()
