"""Overlap of the shipped pretraining corpora with the 8 benchmark sets, by
:func:`~mmpoly_geo.chem.polymer_key` (the same polymer however its repeat
unit is written): how many benchmark polymers a pretrained model has seen
(unlabelled) during pretraining; and how close the rest of each corpus is
(nearest-neighbour Tanimoto of Morgan bits, benchmark polymers removed from
the corpus: ``pretrain.exclude``). Rows that cannot be parsed are counted,
not matched.

Usage::

    python benchmarks/corpus_overlap.py [--out benchmarks/results/corpus_overlap.md]
"""
import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from mmpoly_geo.chem import polymer_key_or_none
from mmpoly_geo.chem.similarity import morgan_bits, nearest_neighbour_similarity
from mmpoly_geo.data.shipped import BENCHMARKS, PRETRAIN, shipped_files


def keys(psmiles, desc):
    """Each row's polymer key (``None`` where it does not parse)."""
    return [polymer_key_or_none(s)
            for s in tqdm(psmiles, desc=desc, mininterval=5)]


def similarity(name, bench, rows):
    """Median nearest-neighbour Tanimoto of a benchmark's polymers to
    :obj:`rows` (P-SMILES), and the share of them at >= 0.7."""
    print(f"{name}: nearest neighbours among {len(rows)}", flush=True)
    sim = nearest_neighbour_similarity(bench, rows)
    return f"{np.nanmedian(sim):.2f} ({np.nanmean(sim >= 0.7):.0%})"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="benchmarks/results/corpus_overlap.md")
    args = p.parse_args(argv)
    corpora, rows = {}, {}
    for path in shipped_files("pretrain"):
        frame = pd.read_csv(path)
        row_keys = keys(frame.psmiles, path.stem)
        corpora[path.stem] = set(row_keys) - {None}
        rows[path.stem] = list(zip(frame.psmiles, row_keys))
        print(f"{path.name}: {len(frame)} rows, {len(corpora[path.stem])} "
              f"distinct polymers, {row_keys.count(None)} unparsable",
              flush=True)
    permissive = [Path(f).stem for f in PRETRAIN["pretrain-permissive"]]
    benches = {name: pd.read_csv(shipped_files(name)[0]).psmiles
               for name in BENCHMARKS}
    bench_keys = {name: keys(b, name) for name, b in benches.items()}
    every = set().union(*bench_keys.values())
    # Corpus rows that are no benchmark polymer: nearness without identity.
    unseen = {part: morgan_bits([s for s, k in r if k not in every])
              for part, r in rows.items()}
    near_permissive = [fp for c in permissive for fp in unseen[c]]
    near_any = [fp for fps in unseen.values() for fp in fps]
    lines = ["| set | polymers | in permissive corpus | in any shipped corpus "
             "| nearest neighbour in permissive | nearest neighbour in any |",
             "|---|---|---|---|---|---|"]
    for name in BENCHMARKS:
        bench = set(bench_keys[name]) - {None}
        in_permissive = len(bench & set().union(*(corpora[c]
                                                  for c in permissive)))
        in_any = len(bench & set().union(*corpora.values()))
        lines.append(f"| {name} | {len(bench)} | {in_permissive} "
                     f"({in_permissive / len(bench):.0%}) | {in_any} "
                     f"({in_any / len(bench):.0%}) | "
                     f"{similarity(name, benches[name], near_permissive)} | "
                     f"{similarity(name, benches[name], near_any)} |")
    text = "\n".join(
        ["# Benchmark polymers in the shipped pretraining corpora",
         "", "By polymer key (repeat unit closed into a ring, stereo ignored);"
         " `python benchmarks/corpus_overlap.py`. Nearest neighbour: the"
         " median over a set's polymers of the largest Tanimoto similarity"
         " (Morgan bits, radius 2) to a corpus polymer that is in none of"
         " the 8 sets (what `pretrain.exclude` leaves), and the share at"
         " >= 0.7.", ""] + lines) + "\n"
    Path(args.out).write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
