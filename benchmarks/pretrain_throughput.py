"""Pretraining throughput (polymers per second through forward, backward and
optimizer step) of the default pretraining model on CPU, for batch sizes,
length-bucketed vs random batches and bf16 autocast vs fp32.

Baseline, in the same process: the setting before the pretraining work
(batch 32, random batches, fp32). Data: the first ``--num`` rows of the shipped
permissive corpus, processed with the default featurizer (descriptors only
when ``--descriptor-weight`` > 0).

Usage::

    python benchmarks/pretrain_throughput.py [--num 1024] [--steps 20] [--threads 2]
"""
import argparse
import tempfile
import time
from pathlib import Path

import pandas as pd
import torch
from torch_geometric.loader import DataLoader

from mmpoly_geo.data import PolymerDataset
from mmpoly_geo.data.shipped import shipped_files
from mmpoly_geo.training.config import DEFAULTS, resolve_model_config
from mmpoly_geo.training.pretrain import PretrainModule
from mmpoly_geo.training.sampling import (
    EpochSeededSampler, LengthBucketBatchSampler)

SETTINGS = [  # (batch size, length buckets, bf16)
    (32, False, False),
    (64, False, False),
    (64, True, False),
    (64, True, True),
    (128, True, True),
]


def measure(dataset, config, batch_size, buckets, bf16, steps, descriptor_weight):
    torch.manual_seed(0)
    p = DEFAULTS["pretrain"]
    module = PretrainModule(
        resolve_model_config(config, dataset), cutoff=5.0,
        descriptor_weight=descriptor_weight,
        num_descriptors=int(dataset.descriptors.size(-1)),
        temperature=p["temperature"])
    if module.descriptor_scaler is not None:
        module.descriptor_scaler.fit(dataset.descriptors)
    optimizer = torch.optim.AdamW(module.parameters(), lr=1e-4)
    if buckets:
        loader = DataLoader(dataset, batch_sampler=LengthBucketBatchSampler(
            dataset.num_tokens.view(-1).tolist(), batch_size))
    else:
        loader = DataLoader(dataset, batch_size=batch_size,
                            sampler=EpochSeededSampler(len(dataset)))
    batches = iter(loader)
    seen, elapsed = 0, 0.0
    for step in range(steps + 2):
        try:
            batch = next(batches)
        except StopIteration:
            batches = iter(loader)
            batch = next(batches)
        start = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = module._losses(batch, 0, step)["loss"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step >= 2:  # warm-up steps are not timed
            elapsed += time.perf_counter() - start
            seen += batch.num_graphs
    return seen / elapsed


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num", type=int, default=1024)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--descriptor-weight", type=float, default=0.0)
    parser.add_argument("--root", default=None,
                        help="dataset root (default: a temporary folder)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        csv = Path(tmp) / "corpus.csv"
        pd.read_csv(shipped_files("pretrain-permissive")[0]).iloc[
            :args.num, :1].to_csv(csv, index=False)
        dataset = PolymerDataset(
            args.root or tmp, csv=str(csv), log=False,
            descriptors="rdkit" if args.descriptor_weight > 0 else "none")
        config = dict(DEFAULTS, model=dict(DEFAULTS["model"],
                                           descriptors=False))
        results = []
        for batch_size, buckets, bf16 in SETTINGS:
            rate = measure(dataset, config, batch_size, buckets, bf16,
                           args.steps, args.descriptor_weight)
            results.append((batch_size, buckets, bf16, rate))
    base = results[0][3]
    print(f"{len(dataset)} polymers, {args.threads} thread(s), "
          f"{args.steps} timed steps each, descriptor weight "
          f"{args.descriptor_weight:g}")
    print("| batch | length buckets | bf16 | polymers/s | vs baseline |")
    print("|---|---|---|---|---|")
    for batch_size, buckets, bf16, rate in results:
        print(f"| {batch_size} | {'yes' if buckets else 'no'} | "
              f"{'yes' if bf16 else 'no'} | {rate:.1f} | {rate / base:.2f}x |")


if __name__ == "__main__":
    main()
