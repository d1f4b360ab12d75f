"""The ``mmpoly-geo`` command line."""
from __future__ import annotations

import argparse
import csv
import sys
import time
from pathlib import Path
from typing import List, Optional


def _add_featurizer_args(p: argparse.ArgumentParser):
    g = p.add_argument_group("3D and graph settings")
    g.add_argument("--num-conformers", type=int,
                   help="conformers per polymer (default: 5; 2 for the "
                        "pretraining corpora, as pretraining reads them)")
    g.add_argument("--seed", type=int,
                   help="conformer seed (default: the configuration's "
                        "seed, 0)")
    g.add_argument("--hydrogens", action="store_true",
                   help="keep hydrogens as atoms")
    g.add_argument("--mmff", action="store_true",
                   help="MMFF94-relax conformers (slower)")
    g.add_argument("--repeat-units", type=int,
                   help="oligomer length for the 3D input (default: 1)")
    g.add_argument("--cutoff", type=float,
                   help="radius-graph cutoff in Angstrom (default: 5.0)")
    g.add_argument("--descriptors",
                   choices=["none", "rdkit", "morgan", "rdkit+morgan"],
                   help="whole-polymer descriptors to store (default: "
                        "rdkit+morgan, as fine-tuning uses; rdkit for the "
                        "pretraining corpora, as pretraining uses)")
    g.add_argument("--time-budget", type=float,
                   help="seconds of conformer embedding per polymer before "
                        "falling back to random-coordinate embedding, then "
                        "2D (default: 10)")


def _prepare(args) -> int:
    import warnings

    from mmpoly_geo.data import (
        PolymerDataset, PolymerOnDiskDataset, PolymerRowsWarning)
    from mmpoly_geo.data.shipped import PRETRAIN
    from mmpoly_geo.training.config import DEFAULTS, pretrain_data

    # Unset settings default to what the command reading the data uses, so
    # that its cache is found.
    defaults = (pretrain_data(DEFAULTS) if args.name in PRETRAIN
                else DEFAULTS["data"])
    for key in ("num_conformers", "descriptors", "repeat_units", "cutoff",
                "time_budget"):
        if getattr(args, key) is None:
            setattr(args, key, defaults[key])
    if args.seed is None:
        args.seed = DEFAULTS["seed"]
    kwargs = dict(
        name=args.name, csv=args.csv, smiles_column=args.smiles_column,
        target=args.target, num_conformers=args.num_conformers,
        seed=args.seed, hydrogens=args.hydrogens, mmff=args.mmff,
        repeat_units=args.repeat_units, cutoff=args.cutoff,
        descriptors=args.descriptors, time_budget=args.time_budget,
        num_workers=args.num_workers)
    start = time.perf_counter()
    if args.dask:
        from mmpoly_geo.data.sharded_processing import prepare_on_dask

        if args.shard:
            raise ValueError("--dask runs all shards; drop --shard")
        kwargs.pop("num_workers")
        dataset = prepare_on_dask(args.root, args.dask,
                                  scheduler=args.scheduler,
                                  n_workers=args.num_workers or 2,
                                  chunk_size=args.chunk_size, **kwargs)
    elif args.on_disk or args.shard:
        shard = None
        if args.shard:
            k, _, n = args.shard.partition("/")
            if not (k.isdigit() and n.isdigit()):
                raise ValueError(f"--shard must look like k/N, got "
                                 f"{args.shard!r}")
            shard = (int(k), int(n))
        dataset = PolymerOnDiskDataset(args.root, chunk_size=args.chunk_size,
                                       shard=shard, **kwargs)
    else:
        with warnings.catch_warnings():
            # The summary below reports rejected rows; no need to warn twice.
            warnings.simplefilter("ignore", PolymerRowsWarning)
            dataset = PolymerDataset(args.root, force_reload=args.force_reload,
                                     **kwargs)
    elapsed = time.perf_counter() - start
    summary = dataset.processing_summary
    print(f"{dataset.name}: {summary['kept']} of {summary['rows']} polymers "
          f"kept ({elapsed:.1f} s) -> {dataset.processed_dir}")
    print("coordinates by method: " + ", ".join(
        f"{m} {c}" for m, c in summary["conformer_methods"].items())
        + f"; {summary['budget_exceeded']} ran out of the "
          f"{summary['time_budget']} s embedding budget")
    if isinstance(dataset, PolymerDataset):
        print(f"atoms per polymer: mean "
              f"{dataset._data.num_nodes / len(dataset):.1f}; "
              f"targets: {dataset.target_names or 'none'}")
    listing = Path(dataset.processed_dir) / "rejected.csv"
    print(f"rejected {summary['rejected']} rows"
          + (f" (listed in {listing}):" if summary["rejected"] else ""))
    rejected = dataset.rejected
    for error, count in summary["rejected_by_error"].items():
        first = rejected[rejected["error"] == error].iloc[0]
        print(f"  {count:6d}  {error}, e.g. {first['file']} line "
              f"{first['line']}: {first['reason'][:120]}")
    if summary.get("internal_errors"):
        print(f"{summary['internal_errors']} rows failed with an internal "
              f"error: please report them (rows and messages in "
              f"{listing})")
    slow = summary["slowest"][0] if summary.get("slowest") else None
    if slow:
        print(f"slowest row: {slow['file']} line {slow['row'] + 2}, "
              f"{slow['seconds']:.1f} s")
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


def _run_config(args):
    from mmpoly_geo.training import load_config

    overrides = list(args.set or [])
    # Pretraining has its own optimisation settings.
    section = "pretrain" if getattr(args, "func", None) is _pretrain \
        else "optim"
    for flag, key in (("name", "data.name"), ("csv", "data.csv"),
                      ("root", "data.root"),
                      ("epochs", f"{section}.max_epochs"),
                      ("folds", "finetune.folds"),
                      ("time_limit", "pretrain.time_limit"),
                      ("seed", "seed")):
        value = getattr(args, flag, None)
        if value is not None:
            overrides.append(f"{key}={value}")
    pretrained = getattr(args, "pretrained", None)
    if pretrained is not None and getattr(args, "func", None) is _finetune:
        value = ("null" if pretrained == ["none"] else
                 pretrained[0] if len(pretrained) == 1 else
                 "[" + ", ".join(map(repr, pretrained)) + "]")
        overrides.append(f"finetune.pretrained={value}")
    if getattr(args, "verbose", False):
        overrides.append("trainer.verbose=true")
    if getattr(args, "target", None):
        overrides.append(f"data.target={args.target}")
    return load_config(args.config, overrides)


def _finetune(args) -> int:
    from mmpoly_geo.training import run_finetune

    config = _run_config(args)
    summary = run_finetune(config, Path(args.out), resume=args.resume)
    per_fold = summary["models_per_fold"]
    print(f"\n{summary['dataset']}: {summary['folds']}-fold CV"
          f"{f' ({per_fold} models per fold, averaged)' if per_fold > 1 else ''}"
          f", {summary['n']} polymers, {summary['seconds']:.0f} s -> {args.out}")
    for name, m in summary["models"].items():
        print(f"  {name:>10}: RMSE {m['rmse']['mean']:.4f} ± {m['rmse']['std']:.4f}"
              f"  MAE {m['mae']['mean']:.4f} ± {m['mae']['std']:.4f}"
              f"  R² {m['r2']['mean']:.4f} ± {m['r2']['std']:.4f}")
    return 0


def _read_inputs(args):
    import pandas as pd

    inputs = []
    for item in args.input:
        if item.lower().endswith(".csv"):
            frame = pd.read_csv(item, dtype=str, keep_default_na=False)
            if args.smiles_column not in frame.columns:
                raise KeyError(f"{item}: no column {args.smiles_column!r} "
                               f"(columns: {list(frame.columns)})")
            inputs += list(frame[args.smiles_column])
        else:
            inputs.append(item)
    return inputs


def _predict(args, embed: bool = False) -> int:
    from mmpoly_geo import api

    properties = getattr(args, "properties", None)
    if embed and not args.output:
        raise ValueError("embed needs --output (a CSV file)")
    predictors = ([api.embedding_model(args.model, args.pretrained)] if embed
                  else api.load_models(args.model, properties))
    inputs = _read_inputs(args)
    start = time.perf_counter()
    frame = (api.embed(inputs, predictors) if embed
             else api.predict(inputs, predictors, properties))
    elapsed = time.perf_counter() - start
    failed = int((frame["error"] != "").sum())
    if args.output:
        # Quoted text: inputs may hold carriage returns.
        frame.to_csv(args.output, index=False,
                     quoting=csv.QUOTE_NONNUMERIC)
        print(f"wrote {len(frame)} rows to {args.output} "
              f"({failed} could not be used; see column 'error')")
    else:
        for _, row in frame.iterrows():
            if row["error"]:
                print(f"{row['psmiles']}\terror: {row['error']}")
                continue
            values = _property_lines(row, frame, predictors)
            if len(values) == 1:
                print(f"{row['psmiles']}\t{values[0]}")
            else:
                print(row["psmiles"])
                for value in values:
                    print(f"  {value}")
    count = sum(len(p.folds) for p in predictors)
    print(f"({len(inputs)} input(s), {elapsed:.2f} s after loading "
          f"{count} model(s))", file=sys.stderr)
    return 1 if failed == len(frame) else 0


def _property_lines(row, frame, predictors) -> List[str]:
    """One line of text per predicted property of one result row."""
    one = len(predictors) == 1
    lines = []
    for p in predictors:
        for name in p.output_names:
            if name not in frame:
                continue
            value, ci = row[name], row.get(name + "_ci95")
            described = (p.card or {}).get("property")
            label = f"{name}: {described}" if described and \
                described != name else name
            text = f"{label}{_unit(p)} = {value:.4f} ± " \
                   f"{row[name + '_std']:.4f}"
            if ci == ci and ci is not None:  # not NaN
                text += f" (95 %: {value - ci:.4f} to {value + ci:.4f})"
            similarity = row.get("nn_similarity" if one
                                 else f"{name}_nn_similarity")
            if similarity == similarity and similarity is not None:
                text += f"; most similar training polymer: Tanimoto " \
                        f"{similarity:.2f}"
            low = "low_similarity" if one else f"{name}_low_similarity"
            if low in frame and row[low] is True:
                text += " (far from its training polymers)"
            lines.append(text)
    return lines


def _unit(predictor) -> str:
    unit = (predictor.card or {}).get("unit", "")
    return f" [{unit}]" if unit and unit != "-" else ""


def _embed(args) -> int:
    return _predict(args, embed=True)


def _ship(args) -> int:
    from mmpoly_geo.training.shipping import run_ship

    config = _run_config(args)
    path = run_ship(config, Path(args.out), ensemble=args.ensemble,
                    cv_runs=[[member.split("+") for member in run.split(",")]
                             for run in args.cv_run or ()],
                    install=args.install,
                    command=" ".join(["mmpoly-geo"] + args.argv))
    print(f"model folder: {path}")
    return 0


def _pretrain(args) -> int:
    from mmpoly_geo.training.pretrain import run_pretrain

    config = _run_config(args)
    path = run_pretrain(config, Path(args.out), resume=args.resume,
                        install=args.install,
                        command=" ".join(["mmpoly-geo"] + args.argv))
    print(f"pretrained model written to {path}")
    return 0


def _add_run_args(p: argparse.ArgumentParser, data: bool = True):
    p.add_argument("--config", help="YAML file (see the README)")
    p.add_argument("--set", nargs="*", metavar="KEY=VALUE",
                   help="override settings, e.g. optim.lr=1e-3 model.mode=3d")
    p.add_argument("--out", required=True, help="output folder of the run")
    p.add_argument("--resume", action="store_true",
                   help="continue an interrupted run in --out")
    p.add_argument("--epochs", type=int)
    p.add_argument("--verbose", action="store_true",
                   help="show Lightning's own banners, tips and warnings")
    p.add_argument("--seed", type=int)
    if data:
        src = p.add_mutually_exclusive_group()
        src.add_argument("--name", help="shipped data set")
        src.add_argument("--csv", help="your CSV file")
        p.add_argument("--target", help="target column of --csv")
        p.add_argument("--root", help="dataset root")


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
    p.add_argument("--on-disk", action="store_true",
                   help="an on-disk (SQLite) dataset for corpora larger than "
                        "memory; resumable after a kill")
    p.add_argument("--shard", metavar="k/N",
                   help="on disk: process only shard k (0-based) of N, e.g. "
                        "one SLURM array task each; a later run without "
                        "--shard merges the finished shards")
    p.add_argument("--chunk-size", type=int, default=1000,
                   help="on disk: rows per committed chunk (default: 1000)")
    p.add_argument("--dask", type=int, metavar="SHARDS",
                   help="on disk: run SHARDS shards as Dask tasks, then merge "
                        "(needs the 'dask' extra); on a local cluster of "
                        "--num-workers processes unless --scheduler is given")
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="with --dask: an existing Dask scheduler, e.g. "
                        "tcp://host:8786")
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

    f = sub.add_parser(
        "finetune", help="k-fold cross-validated fine-tuning on a data set",
        description="Grouped k-fold CV (folds fixed by the seed) with a "
                    "validation split inside each training fold; writes "
                    "metrics, out-of-fold predictions, a parity plot and the "
                    "fold models to --out.")
    _add_run_args(f)
    f.add_argument("--folds", type=int)
    f.add_argument("--pretrained", metavar="CHECKPOINT", nargs="+",
                   help="start from pretrained checkpoints (default: the "
                        "shipped 'gin'; 'none': from scratch): files or "
                        "folders written by 'pretrain', or shipped ones by "
                        "name ('gin', 'default'); each passes on the "
                        "branches it trained to the models that have them")
    f.set_defaults(func=_finetune)

    for name, func, text in (
            ("predict", _predict, "predict properties of new polymers"),
            ("embed", _embed, "write polymer fingerprints (fused vectors)")):
        q = sub.add_parser(name, help=text, description=text + " with the "
                           "fold ensemble of a 'finetune' run.")
        q.add_argument("input", nargs="+",
                       help="P-SMILES strings and/or CSV files (rows in "
                            "order)")
        q.add_argument("--model",
                       help="output folder of 'finetune' (or one fold file);"
                            " default: the models shipped with the package")
        if name == "predict":
            q.add_argument("--properties", nargs="+",
                           help="only these properties (default: all)")
        else:
            q.add_argument("--pretrained", metavar="CHECKPOINT",
                           help="instead of --model: a pretrained checkpoint "
                                "(a 'pretrain' output or a shipped name; "
                                "the default without --model: 'default')")
        q.add_argument("--output", help="CSV file to write")
        q.add_argument("--smiles-column", default="psmiles")
        q.set_defaults(func=func)

    s = sub.add_parser(
        "ship", help="train a property model on a whole data set, to ship",
        description="Trains an ensemble on the whole data set (each member "
                    "with its own validation split) and writes a compact "
                    "model folder with a model card (OUT/model); --install "
                    "copies it into the package, where 'predict' without "
                    "--model finds it.")
    _add_run_args(s)
    s.add_argument("--ensemble", type=int, default=2,
                   help="members (default: 2; about 2.7 MB each at the "
                        "default model size)")
    s.add_argument("--cv-run", nargs="+", metavar="RUN_DIR[,RUN_DIR]",
                   help="'finetune' output folder(s) of the same "
                        "configuration: one ensemble run, or several runs "
                        "(e.g. seeds, pooled into out-of-fold ensembles of "
                        "the shipped size); a run trained member by member "
                        "is its members' folders joined by commas (same "
                        "seed and folds), a member trained fold by fold "
                        "its finetune.only_folds parts joined by '+'; "
                        "their metrics and the uncertainty calibration go "
                        "into the card")
    s.add_argument("--install", action="store_true",
                   help="copy the model folder into mmpoly_geo/models/shipped")
    s.set_defaults(func=_ship)

    t = sub.add_parser(
        "pretrain", help="pretrain on unlabelled P-SMILES",
        description="Masked tokens, coordinate denoising with masked atom "
                    "types and 1D-3D contrastive alignment (weights in the "
                    "pretrain section of the config).")
    _add_run_args(t)
    t.add_argument("--install", nargs="?", const="default", metavar="NAME",
                   help="copy the checkpoint and its card into the package "
                        "(mmpoly_geo/models/pretrained/NAME, default "
                        "'default'), where --pretrained NAME finds it")
    t.add_argument("--time-limit", type=float, metavar="SECONDS",
                   help="end this call at the last epoch that fits in "
                        "SECONDS (checkpoint and card written; continue "
                        "with --resume): a long run in stretches")
    t.set_defaults(func=_pretrain)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    args.argv = argv
    if getattr(args, "target", None) == []:
        args.target = None
    try:
        return args.func(args)
    except (FileNotFoundError, KeyError, ValueError) as exc:
        # A KeyError's str() is the repr of its key: print the message.
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args \
            else exc
        print(f"error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
