"""GFN2-xTB labels for corpus polymers (for the pretraining issue): the
frontier orbital energies of :func:`~mmpoly_geo.chem.xtb.xtb_descriptors`
(HOMO, LUMO, gap of a star-substituted dimer, eV) for a random sample of a
pretraining corpus, written as a labels CSV that
``benchmarks/supervised_transfer.py --labels`` trains the GIN branch on.

Unlike the benchmark labels, these are computed from the structure alone, so
any polymer can have them (~0.5 s per polymer on one core); a benchmark
polymer in the sample leaks nothing about its measured property.

Resumable: rows already in :obj:`--out` are kept and not computed again;
work is written in chunks, so an interrupted run loses at most one chunk.
A polymer whose worker hangs or crashes is recorded with an empty value and
its reason, like a polymer xTB cannot compute (NaN); training masks both.

Usage::

    python benchmarks/xtb_corpus_labels.py --rows 8000 --minutes 40 \\
        --out runs/xtb_corpus/labels.csv
"""
import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from mmpoly_geo.chem.psmiles import parse_psmiles
from mmpoly_geo.chem.xtb import XTB_DESCRIPTOR_NAMES, require_xtb, \
    xtb_descriptors
from mmpoly_geo.data.processing import featurize_rows

#: The shipped corpus whose licences allow shipping weights trained on it.
PERMISSIVE_CORPUS = (Path(__file__).resolve().parents[1] / "datasets" /
                     "pretrain" / "psmiles_permissive.csv")
#: Seconds without a result before a polymer's worker is replaced.
ROW_TIMEOUT = 120


class XtbLabeller:
    """What :func:`~mmpoly_geo.data.processing.featurize_rows` needs of a
    featurizer (``arrays`` in the worker, ``to_data`` in the caller), giving
    the xTB values of each polymer, so the pool's timeout and crash handling
    serve this script too."""

    def arrays(self, psmiles):
        # An unusable P-SMILES is rejected with its reason (xtb_descriptors
        # would say NaN without one).
        parse_psmiles(psmiles)
        return xtb_descriptors(psmiles)

    def to_data(self, values, targets):
        return values


def sample(corpus, rows, seed):
    """The corpus's P-SMILES in a seeded random order, the first :obj:`rows`
    (a larger :obj:`rows` later extends the same sample)."""
    frame = pd.read_csv(corpus)
    order = np.random.default_rng(seed).permutation(len(frame))
    return frame.psmiles.iloc[order[:rows]].tolist()


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--corpus", default=str(PERMISSIVE_CORPUS))
    p.add_argument("--rows", type=int, required=True,
                   help="polymers of the seeded random sample")
    p.add_argument("--seed", type=int, default=0, help="sampling seed")
    p.add_argument("--out", required=True, help="labels CSV (resumed)")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    p.add_argument("--chunk", type=int, default=400,
                   help="polymers per write")
    p.add_argument("--minutes", type=float,
                   help="stop after the chunk that passes this time")
    args = p.parse_args(argv)
    require_xtb()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    columns = ["psmiles", *XTB_DESCRIPTOR_NAMES, "seconds", "reason"]
    done = set(pd.read_csv(out).psmiles) if out.exists() else set()
    todo = [s for s in sample(args.corpus, args.rows, args.seed)
            if s not in done]
    print(f"{len(done)} polymers already labelled, {len(todo)} to go",
          flush=True)
    start = time.perf_counter()
    for i in range(0, len(todo), args.chunk):
        chunk = todo[i:i + args.chunk]
        results = featurize_rows(XtbLabeller(), [(s, []) for s in chunk],
                                 num_workers=args.workers,
                                 desc=f"xTB {i + len(done)}",
                                 row_timeout=ROW_TIMEOUT)
        rows = []
        for s, r in zip(chunk, results):
            values = r.data if r.ok else [np.nan] * len(XTB_DESCRIPTOR_NAMES)
            if r.ok and np.isnan(values).any():
                reason = "xTB gave no value (no embedding or no SCF)"
            else:
                reason = r.reason
            rows.append([s, *values, round(r.seconds, 2), reason])
        pd.DataFrame(rows, columns=columns).to_csv(
            out, mode="a", header=not out.exists(), index=False)
        elapsed = time.perf_counter() - start
        print(f"{i + len(chunk)}/{len(todo)} in {elapsed:.0f} s", flush=True)
        if args.minutes is not None and elapsed > 60 * args.minutes:
            print("time limit reached; rerun to go on", flush=True)
            break
    labels = pd.read_csv(out)
    print(f"{out}: {len(labels)} polymers, "
          f"{int(labels.xtb_gap.notna().sum())} with values", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
