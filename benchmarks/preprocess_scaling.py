"""Preprocessing throughput and memory as the corpus grows.

1. Processing: the first ``--num`` rows of the shipped permissive pretraining
   corpus into a :class:`~mmpoly_geo.data.PolymerOnDiskDataset` with 1 and 2
   worker processes (``num_workers``) and on a local Dask cluster of 2
   workers (``--dask-shards`` shards): polymers/s and peak RSS of the whole
   process tree (sampled every 50 ms). Baseline: 1 worker, same run.
2. Iterating: the processed polymers repeated into on-disk datasets of each
   ``--sizes`` polymers (rows copied inside SQLite; processing 100k polymers
   would take an hour of CPU and measures nothing new), then, in a fresh
   process each, the metadata pass (keys, lengths: what splits and length
   buckets read) and one epoch through a ``DataLoader`` (batch 64): peak RSS
   and time. Baseline: the same polymers held in memory as one collated
   ``InMemoryDataset`` (what :class:`~mmpoly_geo.data.PolymerDataset` keeps).
3. Projection: wall time for 1M polymers on N cores, from the 1-worker rate
   and the measured 2-worker efficiency, assuming shards keep that
   efficiency (they share nothing but the input file).

Linux only (peak RSS from ``psutil`` over the process tree; ``psutil`` comes
with the ``dask`` extra).

Usage::

    python benchmarks/preprocess_scaling.py [--num 600] [--sizes 10000 100000]
        [--dask-shards 4] [--out benchmarks/results]
"""
import argparse
import json
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pandas as pd
import psutil

from mmpoly_geo.data.shipped import shipped_files

SETTINGS = dict(descriptors="none", num_conformers=5, chunk_size=1000)

PROCESS = """
import sys, time
from mmpoly_geo.data import PolymerOnDiskDataset, prepare_on_dask
root, csv, workers, shards = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
settings = {settings!r}
start = time.perf_counter()
if shards:
    ds = prepare_on_dask(root, shards, n_workers=workers, progress=False, csv=csv, **settings)
else:
    ds = PolymerOnDiskDataset(root, csv=csv, num_workers=workers, log=False, **settings)
print(len(ds), time.perf_counter() - start)
"""

ITERATE = """
import sys, time
import torch
from torch_geometric.loader import DataLoader
from mmpoly_geo.data import PolymerOnDiskDataset
from torch_geometric.data import InMemoryDataset
root, csv, mode = sys.argv[1], sys.argv[2], sys.argv[3]
settings = {settings!r}
start = time.perf_counter()
ds = PolymerOnDiskDataset(root, csv=csv, num_workers=0, log=False, **settings)
if mode == "memory":
    items = []
    for begin in range(0, len(ds), 1000):
        items += ds.__getitems__(list(range(begin, min(begin + 1000, len(ds)))))
    data, slices = InMemoryDataset.collate(items)
    del items
    n = int(slices["x"].numel() - 1)
else:
    keys, lengths = ds.key, ds.num_tokens  # the metadata pass
    seen = 0
    for batch in DataLoader(ds, batch_size=64):
        seen += batch.num_graphs
    n = seen
print(n, time.perf_counter() - start)
"""


def run_measured(code: str, args):
    """Runs :obj:`code` in a fresh interpreter; returns (stdout, peak RSS of
    its process tree in MiB, wall seconds)."""
    start = time.perf_counter()
    child = subprocess.Popen([sys.executable, "-c", code, *map(str, args)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
    peak = [0]

    def sample():
        parent = psutil.Process(child.pid)
        while child.poll() is None:
            try:
                procs = [parent] + parent.children(recursive=True)
                rss = 0
                for p in procs:
                    try:
                        rss += p.memory_info().rss
                    except psutil.Error:
                        pass
                peak[0] = max(peak[0], rss)
            except psutil.Error:
                pass
            time.sleep(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, err = child.communicate()
    sampler.join()
    if child.returncode != 0:
        raise RuntimeError(f"child failed:\n{err[-3000:]}")
    return out.strip().splitlines()[-1], peak[0] / 2 ** 20, \
        time.perf_counter() - start


def grow(src_root: Path, dst_root: Path, size: int):
    """Copies an on-disk dataset and repeats its polymers to :obj:`size`."""
    if dst_root.exists():
        shutil.rmtree(dst_root)
    shutil.copytree(src_root, dst_root)
    (db_path,) = dst_root.glob("*/processed/*-on-disk/*.db")
    for meta in dst_root.glob("*/processed/*-on-disk/metadata.pt"):
        meta.unlink()
    con = sqlite3.connect(db_path)
    (table,) = [r[0] for r in con.execute(
        "SELECT name FROM sqlite_master WHERE type='table'")]
    columns = [r[1] for r in con.execute(f"PRAGMA table_info({table})")]
    base = con.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
    rest = ", ".join(c for c in columns if c != "id")
    total = base
    while total < size:
        take = min(base, size - total)
        con.execute(f"INSERT INTO {table} (id, {rest}) SELECT id + ?, {rest} "
                    f"FROM {table} WHERE id < ?", (total, take))
        total += take
    con.commit()
    con.close()
    return db_path.stat().st_size


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--num", type=int, default=600)
    p.add_argument("--sizes", type=int, nargs="+", default=[10000, 100000])
    p.add_argument("--dask-shards", type=int, default=4,
                   help="shards on the local Dask cluster (0: skip Dask)")
    p.add_argument("--cores", type=int, nargs="+", default=[2, 16, 64, 256])
    p.add_argument("--out", default="benchmarks/results")
    args = p.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    lines, result = [], {"num": args.num, "settings": SETTINGS}

    def say(text=""):
        print(text, flush=True)
        lines.append(text)

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        corpus = pd.read_csv(shipped_files("pretrain-permissive")[0],
                             nrows=args.num)
        csv = tmp / "corpus.csv"
        corpus.to_csv(csv, index=False)
        code = PROCESS.format(settings=SETTINGS)
        say(f"## Processing {args.num} corpus polymers (5 conformers, no "
            f"descriptors), on disk")
        say("")
        say("| engine | workers | polymers/s | speed-up vs 1 worker | "
            "peak RSS (MiB, all processes) |")
        say("|---|---|---|---|---|")
        runs = {}
        engines = [("processes", 1, 0), ("processes", 2, 0)]
        if args.dask_shards:
            engines.append(("dask local", 2, args.dask_shards))
        for label, workers, shards in engines:
            root = tmp / f"{label.replace(' ', '_')}{workers}"
            text, rss, _ = run_measured(code, [root, csv, workers, shards])
            kept, seconds = text.split()
            rate = args.num / float(seconds)
            runs[(label, workers)] = {"polymers_per_s": rate, "kept": int(kept),
                                      "seconds": float(seconds),
                                      "peak_rss_mib": rss}
            base = runs[("processes", 1)]["polymers_per_s"]
            say(f"| {label} | {workers} | {rate:.1f} | {rate / base:.2f}x | "
                f"{rss:.0f} |")
        result["processing"] = {f"{k[0]} {k[1]}": v for k, v in runs.items()}

        rate1 = runs[("processes", 1)]["polymers_per_s"]
        efficiency = runs[("processes", 2)]["polymers_per_s"] / (2 * rate1)
        say("")
        say(f"## Projected wall time for 1M polymers (1-worker rate "
            f"{rate1:.1f}/s, 2-worker efficiency {efficiency:.2f})")
        say("")
        say("| cores | hours |")
        say("|---|---|")
        result["projection_hours"] = {}
        for n in args.cores:
            hours = 1e6 / (rate1 * n * (efficiency if n > 1 else 1)) / 3600
            result["projection_hours"][n] = hours
            say(f"| {n} | {hours:.1f} |")

        say("")
        say("## Iterating (fresh process each): on disk vs in memory")
        say("")
        say("| polymers | database (MiB) | on disk: peak RSS (MiB) | on disk: "
            "s | in memory: peak RSS (MiB) | in memory: s |")
        say("|---|---|---|---|---|---|")
        code = ITERATE.format(settings=SETTINGS)
        result["iterating"] = {}
        for size in args.sizes:
            root = tmp / f"grown{size}"
            db_bytes = grow(tmp / "processes1", root, size)
            row = {"database_mib": db_bytes / 2 ** 20}
            for mode in ("disk", "memory"):
                text, rss, _ = run_measured(code, [root, csv, mode])
                n, seconds = text.split()
                assert int(n) == size, (n, size)
                row[mode] = {"peak_rss_mib": rss, "seconds": float(seconds)}
            result["iterating"][size] = row
            say(f"| {size} | {row['database_mib']:.0f} | "
                f"{row['disk']['peak_rss_mib']:.0f} | "
                f"{row['disk']['seconds']:.1f} | "
                f"{row['memory']['peak_rss_mib']:.0f} | "
                f"{row['memory']['seconds']:.1f} |")
            shutil.rmtree(root)
    (out / "preprocess_scaling.txt").write_text("\n".join(lines) + "\n")
    (out / "preprocess_scaling.json").write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
