"""Fuzzing: mutated P-SMILES through the real processing path.

Makes ``--n`` strings (default 10,000) with :func:`mmpoly_geo.chem.fuzz.fuzz_psmiles`
from every shipped P-SMILES (the 8 benchmark sets and the pretraining corpus),
adds the rows that once crashed or stalled processing, writes them to a CSV and
builds a :class:`~mmpoly_geo.data.PolymerDataset` from it with the default
featurizer settings and worker processes. It then checks what the reliability
contract promises and prints counts by outcome and the slowest rows:

- kept + rejected = all rows (nothing dropped), and every rejection has a
  specific reason (an exception class we anticipated: no ``internal error``);
- no row took longer than the conformer time budget (plus ``--slack``);
- the run finished (one bad row never stops it).

The baseline is the time budget itself. Writes ``summary.json`` and
``results.md`` to ``--out`` (default ``benchmarks/results/fuzz``); exits 1 if a
check fails.

Usage::

    python benchmarks/fuzz.py [--n 10000] [--seed 0] [--workers 2]
"""
import argparse
import csv as csv_module
import json
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from mmpoly_geo.chem.conformers import TIME_BUDGET
from mmpoly_geo.chem.fuzz import fuzz_psmiles
from mmpoly_geo.data import PolymerDataset
from mmpoly_geo.data.shipped import BENCHMARKS, shipped_files

#: Rows that once crashed or stalled processing (the reliability issue).
KNOWN_BAD = [
    "**",
    "*C(CCCS(*)(=N)=O)CO1~CCC(N)C1",
    "*CC(*)c1ccccc1\u00e9",
    "*c1ccc2cc(C(=O)NNC(=O)c3ccc4cc(c3=O)N4C(=O)c3ccc([Si](C)(C)c4ccc5c(c4)"
    "C(=O)N(*)C5=O)cc3)ccc2n1",
]


def seed_strings():
    files = [shipped_files(name)[0] for name in BENCHMARKS]
    files += shipped_files("pretrain")
    out = []
    for f in files:
        out += pd.read_csv(f, dtype=str, keep_default_na=False)["psmiles"].tolist()
    return sorted(set(out))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=10_000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--num-conformers", type=int, default=5)
    p.add_argument("--time-budget", type=float, default=TIME_BUDGET)
    p.add_argument("--slack", type=float, default=5.0,
                   help="seconds a row may exceed the embedding budget by "
                        "(validation, descriptors, graphs; default 5)")
    p.add_argument("--out", default="benchmarks/results/fuzz")
    args = p.parse_args(argv)

    seeds = seed_strings()
    strings = fuzz_psmiles(seeds, args.n, seed=args.seed) + KNOWN_BAD
    with tempfile.TemporaryDirectory() as tmp:
        csv = Path(tmp) / "fuzz.csv"
        # Quote every field: a bare carriage return is a line break to any
        # CSV reader, and pandas does not quote it by default.
        pd.DataFrame({"psmiles": strings}).to_csv(
            csv, index=False, quoting=csv_module.QUOTE_ALL)
        start = time.perf_counter()
        dataset = PolymerDataset(
            tmp, csv=str(csv), num_workers=args.workers,
            num_conformers=args.num_conformers, time_budget=args.time_budget)
        seconds = time.perf_counter() - start
        summary = dict(dataset.processing_summary)
        rejected = dataset.rejected
        kept_rows = set(dataset.row.view(-1).tolist())

    rows = len(strings)
    slowest = summary["slowest"]
    over = [s for s in slowest
            if s["seconds"] > args.time_budget + args.slack]
    internal = rejected[rejected.reason.str.startswith("internal error:")]
    lost = rows - len(kept_rows) - len(rejected)
    checks = {
        "kept + rejected = all rows": summary["rows"] == rows and lost == 0,
        "no internal error (every rejection has a specific reason)":
            len(internal) == 0,
        f"no row over the budget + slack ({args.time_budget:g} + "
        f"{args.slack:g} s)": not over,
    }
    result = {
        "command": " ".join(["python"] + sys.argv),
        "strings": rows, "seed_strings": len(seeds),
        "fuzz_seed": args.seed, "workers": args.workers,
        "num_conformers": args.num_conformers,
        "time_budget": args.time_budget, "wall_seconds": round(seconds, 1),
        "kept": len(kept_rows), "rejected": len(rejected), "lost": lost,
        "rejected_by_error": summary["rejected_by_error"],
        "internal_errors": internal[["input", "reason"]].to_dict("records"),
        "conformer_methods": summary["conformer_methods"],
        "budget_exceeded": summary["budget_exceeded"],
        "slowest": slowest,
        "known_bad": {s: (rejected[rejected.input == s].reason.tolist()
                          or ["kept"])[0] for s in KNOWN_BAD},
        "checks": checks,
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "summary.json").write_text(json.dumps(result, indent=2))
    lines = [
        f"# Fuzzing: {rows} strings ({args.n} mutated + {len(KNOWN_BAD)} "
        f"known bad rows), seed {args.seed}",
        "",
        f"`{result['command']}`: {args.workers} workers, "
        f"{args.num_conformers} conformers, time budget "
        f"{args.time_budget:g} s; {seconds:.0f} s wall.",
        "",
        "| check | result |", "|---|---|",
        *[f"| {name} | {'pass' if ok else 'FAIL'} |"
          for name, ok in checks.items()],
        "",
        f"Kept {len(kept_rows)}, rejected {len(rejected)}, lost {lost}; "
        f"conformers by method: " + ", ".join(
            f"{m} {c}" for m, c in summary["conformer_methods"].items())
        + f"; {summary['budget_exceeded']} hit the time budget.",
        "", "| outcome | rows |", "|---|---|",
        f"| kept | {len(kept_rows)} |",
        *[f"| {e} | {c} |" for e, c in summary["rejected_by_error"].items()],
        "", "Slowest rows:", "", "| seconds | outcome | input (first 80 chars) |",
        "|---|---|---|",
        *[f"| {s['seconds']:.2f} | {s['outcome']} | "
          f"`{s['input'][:80]!r}` |" for s in slowest],
        "", "Rows that once crashed or stalled processing:", "",
        *[f"- `{s[:60]!r}`: {r}" for s, r in result["known_bad"].items()],
    ]
    (out / "results.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
