"""Overlap of the shipped pretraining corpora with the 8 benchmark sets, by
:func:`~mmpoly_geo.chem.polymer_key` (the same polymer however its repeat
unit is written): how many benchmark polymers a pretrained model has seen
(unlabelled) during pretraining. Rows that cannot be parsed are counted, not
matched.

Usage::

    python benchmarks/corpus_overlap.py [--out benchmarks/results/corpus_overlap.md]
"""
import argparse
import sys
from pathlib import Path

import pandas as pd
from tqdm.auto import tqdm

from mmpoly_geo.chem import polymer_key
from mmpoly_geo.data.shipped import BENCHMARKS, PRETRAIN, shipped_files


def keys(psmiles, desc):
    out, bad = set(), 0
    for s in tqdm(psmiles, desc=desc, mininterval=5):
        try:
            out.add(polymer_key(s))
        except Exception:
            bad += 1
    return out, bad


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="benchmarks/results/corpus_overlap.md")
    args = p.parse_args(argv)
    corpora = {}
    for path in shipped_files("pretrain"):
        frame = pd.read_csv(path)
        corpora[path.stem], bad = keys(frame.psmiles, path.stem)
        print(f"{path.name}: {len(frame)} rows, {len(corpora[path.stem])} "
              f"distinct polymers, {bad} unparsable", flush=True)
    permissive = [Path(f).stem for f in PRETRAIN["pretrain-permissive"]]
    lines = ["| set | polymers | in permissive corpus | in any shipped corpus |",
             "|---|---|---|---|"]
    for name in BENCHMARKS:
        bench, bad = keys(pd.read_csv(shipped_files(name)[0]).psmiles, name)
        in_permissive = len(bench & set().union(*(corpora[c]
                                                  for c in permissive)))
        in_any = len(bench & set().union(*corpora.values()))
        lines.append(f"| {name} | {len(bench)} | {in_permissive} "
                     f"({in_permissive / len(bench):.0%}) | {in_any} "
                     f"({in_any / len(bench):.0%}) |")
    text = "\n".join(
        ["# Benchmark polymers in the shipped pretraining corpora",
         "", "By polymer key (repeat unit closed into a ring, stereo ignored);"
         " `python benchmarks/corpus_overlap.py`.", ""] + lines) + "\n"
    Path(args.out).write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
