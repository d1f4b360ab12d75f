"""The ``mmpoly-geo`` command line."""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import List, Optional


def _add_featurizer_args(p: argparse.ArgumentParser):
    g = p.add_argument_group("3D and graph settings")
    g.add_argument("--num-conformers", type=int, default=5,
                   help="conformers per polymer (default: 5)")
    g.add_argument("--seed", type=int, default=0,
                   help="conformer seed (default: 0)")
    g.add_argument("--hydrogens", action="store_true",
                   help="keep hydrogens as atoms")
    g.add_argument("--mmff", action="store_true",
                   help="MMFF94-relax conformers (slower)")
    g.add_argument("--repeat-units", type=int, default=1,
                   help="oligomer length for the 3D input (default: 1)")
    g.add_argument("--cutoff", type=float, default=5.0,
                   help="radius-graph cutoff in Angstrom (default: 5.0)")


def _prepare(args) -> int:
    import warnings

    from mmpoly_geo.chem.conformers import CONFORMER_METHODS
    from mmpoly_geo.data import PolymerDataset, PolymerRowsWarning

    start = time.perf_counter()
    with warnings.catch_warnings():
        # The summary below reports rejected rows; no need to warn twice.
        warnings.simplefilter("ignore", PolymerRowsWarning)
        dataset = PolymerDataset(
            args.root, name=args.name, csv=args.csv,
            smiles_column=args.smiles_column, target=args.target,
            num_conformers=args.num_conformers, seed=args.seed,
            hydrogens=args.hydrogens, mmff=args.mmff,
            repeat_units=args.repeat_units, cutoff=args.cutoff,
            num_workers=args.num_workers, force_reload=args.force_reload)
    elapsed = time.perf_counter() - start
    data = dataset._data
    total = len(dataset) + len(dataset.rejected)
    print(f"{dataset.name}: {len(dataset)} of {total} polymers processed in "
          f"{elapsed:.1f} s -> {dataset.processed_dir}")
    methods = data.conf_method.view(-1).bincount(
        minlength=len(CONFORMER_METHODS)).tolist()
    print("coordinates by method: " + ", ".join(
        f"{m} {c}" for m, c in zip(CONFORMER_METHODS, methods)))
    print(f"atoms per polymer: mean {data.num_nodes / len(dataset):.1f}; "
          f"targets: {dataset.target_names or 'none'}")
    if len(dataset.rejected):
        print(f"rejected {len(dataset.rejected)} rows (listed in "
              f"{dataset.processed_paths[1]}):")
        for reason, count in (dataset.rejected["reason"].str.split(":").str[0]
                              .value_counts().items()):
            print(f"  {count:6d}  {reason}")
    else:
        print("rejected 0 rows")
    return 0


def _vocab(args) -> int:
    from mmpoly_geo.data.shipped import BENCHMARKS, shipped_files
    from mmpoly_geo.data.tokenizer import DEFAULT_VOCAB, build_vocab_from_csv

    files = args.files or (
        sorted(shipped_files("pretrain"))
        + [shipped_files(name)[0] for name in BENCHMARKS])
    vocab = build_vocab_from_csv(files, column=args.smiles_column,
                                 min_count=args.min_count)
    out = Path(args.out) if args.out else DEFAULT_VOCAB
    out.write_text("\n".join(vocab) + "\n", encoding="utf-8")
    print(f"wrote {len(vocab)} tokens from {len(files)} file(s) to {out}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mmpoly-geo",
        description="Multimodal (P-SMILES + 3D) polymer property prediction.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser(
        "prepare", help="process a CSV or shipped data set into a PyG dataset",
        description="Validates, canonicalises and featurises polymers (tokens, "
                    "conformers, graphs); lists rejected rows with reasons.")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--name", help="shipped data set: Egc, Egb, Eea, Ei, Xc, "
                                    "EPS, Nc, Eat, pretrain, pretrain-permissive")
    src.add_argument("--csv", help="your CSV file")
    p.add_argument("--target", nargs="*", default=None,
                   help="target column(s) of --csv")
    p.add_argument("--smiles-column", default="psmiles")
    p.add_argument("--root", default="data", help="dataset root (default: data)")
    p.add_argument("--num-workers", type=int, default=None,
                   help="worker processes (default: all cores)")
    p.add_argument("--force-reload", action="store_true")
    _add_featurizer_args(p)
    p.set_defaults(func=_prepare)

    v = sub.add_parser(
        "vocab", help="build the tokenizer vocabulary from CSV files",
        description="Without FILES, rebuilds the shipped vocabulary from the "
                    "shipped corpora and benchmark sets.")
    v.add_argument("files", nargs="*")
    v.add_argument("--out", help="output file (default: the package's vocab)")
    v.add_argument("--smiles-column", default="psmiles")
    v.add_argument("--min-count", type=int, default=1)
    v.set_defaults(func=_vocab)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    if getattr(args, "target", None) == []:
        args.target = None
    try:
        return args.func(args)
    except (FileNotFoundError, KeyError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
