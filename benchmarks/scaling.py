"""Scaling of the 3D encoders with atoms per polymer: forward+backward time
and peak memory per batch, radius-graph encoders vs the dense pair reference.

Oligomers of 1, 2, 4, 8 and 16 repeat units of real polymers (Egc) are
embedded once (ETKDG, heavy atoms); each (encoder, size) point is then run in
a fresh child process so that its peak memory is its own: on CPU the RSS
growth of one step after a warm-up step (freed memory returned to the OS via
``MALLOC_MMAP_THRESHOLD_``), on CUDA ``torch.cuda.max_memory_allocated``. All encoders share
width 64 and 3 layers; "equivariant" is the default (lmax 1), "equivariant-l2" uses lmax 2. Ratios are dense / ours, from the same run.

Usage::

    python benchmarks/scaling.py [--device cuda] [--units 1 2 4 8 16]
        [--batch-size 4] [--repeats 3] [--out benchmarks/results]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

POLYMERS = {  # heavy atoms per repeat unit incl. stars: 20 and 50
    "styrene-morpholine": "*CC(*)c1ccc(C(O)CCN2CCOCC2)cc1",
    "polyimide": "*C(=O)c1ccc2c(c1)C(=O)N(c1ccc(Oc3cc4ccccc4cc3Oc3ccc("
                 "N4C(=O)c5ccc(*)cc5C4=O)cc3)cc1)C2=O",
}
ENCODERS = {
    "equivariant": dict(hidden_channels=64, vector_channels=16, lmax=1,
                        num_layers=3, cutoff=5.0),
    "equivariant-l2": dict(hidden_channels=64, vector_channels=16, lmax=2,
                           num_layers=3, cutoff=5.0),
    "painn": dict(hidden_channels=64, num_layers=3, cutoff=5.0),
    "dense": dict(hidden_channels=64, num_layers=3, num_heads=8,
                  num_kernels=128),
}
BASELINE = "dense"


def _status_bytes(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"{field} not in /proc/self/status")


def child(batch_path: str, encoder: str, device: str, repeats: int) -> dict:
    """Runs one measurement (in its own process) and returns it."""
    from mmpoly_geo.models.mmpolymer import ENCODERS_3D

    torch.manual_seed(0)
    batch = torch.load(batch_path, weights_only=False).to(device)
    model = ENCODERS_3D[encoder.split("-")[0]](**ENCODERS[encoder]).to(device)

    def step():
        out = model(batch.x, batch.pos, batch.radius_edge_index, batch.batch)
        loss = out.node.pow(2).mean() + out.vectors.pow(2).mean()
        loss.backward()
        model.zero_grad(set_to_none=True)

    step()  # warm-up: thread pools, caches, lazily built buffers
    if device == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
    else:
        # The parent sets MALLOC_MMAP_THRESHOLD_ so that freed tensors go back
        # to the OS and RSS follows live memory; writing 5 to clear_refs
        # resets the peak RSS (VmHWM), so the peak below is this step's.
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        base = _status_bytes("VmRSS")
    step()
    if device == "cuda":
        torch.cuda.synchronize()
        peak = torch.cuda.max_memory_allocated() - base
    else:
        peak = _status_bytes("VmHWM") - base
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        if device == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    times.sort()
    return dict(seconds=times[len(times) // 2], peak_bytes=max(peak, 0),
                edges=int(batch.radius_edge_index.size(1)))


def build_batches(polymers, units, batch_size, workdir):
    from torch_geometric.data import Batch

    from mmpoly_geo.data import PolymerFeaturizer

    paths = []
    for name in polymers:
        psmiles = POLYMERS[name]
        for n in units:
            start = time.perf_counter()
            data = PolymerFeaturizer(num_conformers=1, repeat_units=n)(psmiles)
            batch = Batch.from_data_list([data] * batch_size)
            path = Path(workdir) / f"{name}_{n}.pt"
            torch.save(batch, path)
            print(f"  {name} x{n}: {data.num_nodes} atoms, "
                  f"{data.radius_edge_index.size(1)} radius edges "
                  f"(conformer {time.perf_counter() - start:.1f} s)",
                  flush=True)
            paths.append((name, n, data.num_nodes, path))
    return paths


def plot(rows, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from matplotlib.ticker import ScalarFormatter

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.4))
    colors = dict(zip(ENCODERS, plt.rcParams["axes.prop_cycle"].by_key()["color"]))
    styles = dict(zip(POLYMERS, ["o-", "s--", "^:"]))
    for encoder in ENCODERS:
        for polymer in POLYMERS:
            pts = sorted((r["atoms"], r["seconds"], r["peak_bytes"])
                         for r in rows if r["encoder"] == encoder
                         and r["polymer"] == polymer and r.get("seconds"))
            if not pts:
                continue
            atoms, secs, mem = zip(*pts)
            kw = dict(color=colors[encoder], label=f"{encoder} ({polymer})")
            axes[0].plot(atoms, secs, styles[polymer], **kw)
            axes[1].plot(atoms, [m / 2**20 for m in mem], styles[polymer], **kw)
    for ax, label in zip(axes, ["forward+backward time per batch (s)",
                                "peak memory per batch (MiB)"]):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.xaxis.set_major_formatter(ScalarFormatter())
        ax.xaxis.set_minor_formatter(ScalarFormatter())
        ax.tick_params(axis="x", which="minor", labelsize=7)
        ax.set_xlabel("heavy atoms per polymer")
        ax.set_ylabel(label)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle("3D encoders: radius graph (ours) vs dense pairs (Uni-Mol style)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--units", type=int, nargs="+", default=[1, 2, 4, 8, 16])
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--encoders", nargs="+", default=list(ENCODERS),
                        choices=list(ENCODERS))
    parser.add_argument("--polymers", nargs="+", default=list(POLYMERS),
                        choices=list(POLYMERS))
    parser.add_argument("--out", default="benchmarks/results")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child[0], args.child[1], args.device,
                               args.repeats)))
        return

    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = []
    with tempfile.TemporaryDirectory() as workdir:
        print("embedding oligomers:")
        for name, n, atoms, path in build_batches(args.polymers, args.units,
                                                  args.batch_size, workdir):
            for encoder in args.encoders:
                cmd = [sys.executable, __file__, "--device", args.device,
                       "--repeats", str(args.repeats), "--child", str(path),
                       encoder]
                env = dict(os.environ, MALLOC_MMAP_THRESHOLD_="65536",
                           MALLOC_TRIM_THRESHOLD_="0")
                result = subprocess.run(cmd, capture_output=True, text=True,
                                        env=env)
                row = dict(polymer=name, units=n, atoms=atoms, encoder=encoder)
                if result.returncode == 0:
                    row.update(json.loads(result.stdout.strip().splitlines()[-1]))
                else:  # e.g. out of memory: recorded, not hidden
                    row["error"] = result.stderr.strip().splitlines()[-1][:200]
                rows.append(row)
                print(f"  {name} x{n} ({atoms} atoms) {encoder}: "
                      + (f"{row['seconds']:.3f} s, "
                         f"{row['peak_bytes'] / 2**20:.1f} MiB"
                         if "seconds" in row else row["error"]), flush=True)

    import pandas as pd
    frame = pd.DataFrame(rows)
    frame.to_csv(out_dir / f"scaling_{args.device}.csv", index=False)
    print(f"\nbatch of {args.batch_size} copies, device {args.device}, "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    table = frame.pivot_table(index=["polymer", "units", "atoms"],
                              columns="encoder",
                              values=["seconds", "peak_bytes"])
    if BASELINE in args.encoders:
        for encoder in args.encoders:
            if encoder == BASELINE:
                continue
            table[("time ratio", f"{BASELINE}/{encoder}")] = (
                table[("seconds", BASELINE)] / table[("seconds", encoder)])
            table[("memory ratio", f"{BASELINE}/{encoder}")] = (
                table[("peak_bytes", BASELINE)]
                / table[("peak_bytes", encoder)])
    for enc in args.encoders:
        table[("peak_bytes", enc)] = table[("peak_bytes", enc)] / 2**20
    table = table.rename(columns={"peak_bytes": "peak MiB"})
    with pd.option_context("display.width", 250, "display.max_columns", 30,
                           "display.float_format", "{:.3g}".format):
        print(table.to_string())
    png = out_dir / f"scaling_{args.device}.png"
    plot(rows, png)
    print(f"\nwrote {out_dir / f'scaling_{args.device}.csv'} and {png}")


if __name__ == "__main__":
    main()
