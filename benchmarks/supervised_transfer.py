"""Supervised transfer to the GIN branch (a diagnostic for the pretraining
issue): trains the default's GIN member on the labels of some benchmark sets
at once (one output per set, NaN-masked where a polymer has no value), with
every polymer of the target sets left out (by polymer key, as
``pretrain.exclude`` does), and writes its GIN branch as a pretrained file
that ``finetune.pretrained`` takes. No label and no polymer of a target set
is seen, so fine-tuning a target set from it is measured on unseen polymers.

The labels may also come from a CSV (:obj:`--labels`: a ``psmiles`` column
and one column per label, e.g. the GFN2-xTB orbital energies of corpus
polymers that ``benchmarks/xtb_corpus_labels.py`` writes), alone or added to
the sets' labels. Labels computed from the structure alone leak nothing
about a measured property, so :obj:`--exclude` is optional there.

It trains fold 0 of the usual split of the merged labels (the rest is its
test fold; validation is carved from the training part, as always), starting
from :obj:`--start` (default ``gin``, the shipped unsupervised checkpoint).

Usage::

    python benchmarks/supervised_transfer.py --sources Egc Egb Xc \\
        --exclude Eea Ei EPS Nc Eat --out runs/sup_gin
    python benchmarks/supervised_transfer.py \\
        --labels runs/xtb_corpus/labels.csv --out runs/xtb_gin
    python benchmarks/suite.py --datasets Eea --models ours --label LABEL \\
        --set ... finetune.pretrained=runs/sup_gin
"""
import argparse
import json
import sys
import time
from pathlib import Path

import pandas as pd

from mmpoly_geo.chem import polymer_key, polymer_key_or_none
from mmpoly_geo.data.shipped import shipped_files
from mmpoly_geo.models import build_model
from mmpoly_geo.models.mmpolymer import read_checkpoint
from mmpoly_geo.models.predictor import FOLD_FORMAT, load_weights
from mmpoly_geo.training import load_config, run_finetune
from mmpoly_geo.training.pretrain import excluded_keys

#: The GIN member of the default, as the suite's GIN rows fine-tune it.
GIN_MEMBER = ["finetune.members=null", "model.encoder_2d=gin",
              "model.mode=2d", "data.descriptors=rdkit",
              "finetune.baselines=[]", "trainer.progress_bar=false"]


def merged_labels(sources, exclude, max_rows=None):
    """One row per polymer key of the :obj:`sources` sets (their first
    :obj:`max_rows` rows each, all by default), one column per set (NaN
    where that set has no value), rows of :obj:`exclude` left out; and how
    many source rows were left out."""
    left_out = excluded_keys(exclude)
    rows, dropped = {}, 0
    for name in sources:
        frame = pd.read_csv(shipped_files(name)[0], nrows=max_rows)
        for s, value in zip(frame.psmiles, frame.value):
            key = polymer_key(s)
            if key in left_out:
                dropped += 1
                continue
            rows.setdefault(key, {"psmiles": s})[name] = value
    return pd.DataFrame(list(rows.values()), columns=["psmiles", *sources]), \
        dropped


def csv_labels(path, columns, exclude, max_rows=None):
    """The rows of a labels CSV (a ``psmiles`` column, the :obj:`columns`
    as labels; its first :obj:`max_rows` rows, all by default), rows of
    :obj:`exclude` left out, rows without any label dropped; and how many
    rows were left out for either reason."""
    frame = pd.read_csv(path, nrows=max_rows)
    missing = [c for c in ["psmiles", *columns] if c not in frame]
    if missing:
        raise ValueError(f"{path} has no column {missing} (columns: "
                         f"{list(frame.columns)})")
    left_out = excluded_keys(exclude)
    keep = frame[columns].notna().any(axis=1)
    if left_out:
        keep &= ~frame.psmiles.map(
            lambda s: polymer_key_or_none(s) in left_out)
    return frame.loc[keep, ["psmiles", *columns]].reset_index(drop=True), \
        int((~keep).sum())


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sources", nargs="+",
                   help="benchmark sets whose labels are trained on")
    p.add_argument("--labels",
                   help="and/or a CSV of labels (psmiles + label columns)")
    p.add_argument("--columns", nargs="+",
                   default=["xtb_homo", "xtb_lumo", "xtb_gap"],
                   help="the label columns of --labels (default: the xTB "
                        "orbital energies)")
    p.add_argument("--exclude", nargs="*", default=[],
                   help="benchmark sets whose polymers are left out (the "
                        "targets to fine-tune later); needed with --sources")
    p.add_argument("--out", required=True)
    p.add_argument("--start", default="gin",
                   help="finetune.pretrained of the supervised run (default: "
                        "gin; none: from scratch)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-rows", type=int,
                   help="the first rows of each source (set or CSV) only, "
                        "before rows are left out (a quick look)")
    p.add_argument("--set", nargs="*", default=[],
                   help="more settings, e.g. optim.max_epochs=1")
    args = p.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if not args.sources and not args.labels:
        p.error("give --sources, --labels or both")
    if args.sources and not args.exclude:
        p.error("--sources needs --exclude: measured labels of the "
                "target sets' polymers would leak into fine-tuning")
    parts, targets, dropped = [], [], 0
    if args.sources:
        frame, left_out = merged_labels(args.sources, args.exclude,
                                        args.max_rows)
        parts.append(frame)
        targets += args.sources
        dropped += left_out
    if args.labels:
        frame, left_out = csv_labels(args.labels, args.columns, args.exclude,
                                     args.max_rows)
        parts.append(frame)
        targets += args.columns
        dropped += left_out
    # Both: one row per source row, NaN where a row lacks the other's labels.
    labels = pd.concat(parts, ignore_index=True)[["psmiles", *targets]]
    csv = out / "labels.csv"
    labels.to_csv(csv, index=False)
    print(f"{len(labels)} polymers with labels {', '.join(targets)}; "
          f"{dropped} rows left out (polymers of "
          f"{', '.join(args.exclude) or 'no set'}, or without labels)",
          flush=True)
    start = time.perf_counter()  # a rerun: the time of what it redid
    config = load_config(None, GIN_MEMBER + [
        f"data.csv={csv}", f"data.target={json.dumps(targets)}",
        f"data.root={out / 'data'}", "data.num_conformers=1",
        "finetune.only_folds=[0]",
        f"finetune.pretrained={'null' if args.start == 'none' else args.start}",
        f"seed={args.seed}", *args.set])
    # resume: a rerun keeps a finished fold 0.
    summary = run_finetune(config, out / "train", resume=True)
    fold = read_checkpoint(out / "train" / "models" / "fold0.pt", FOLD_FORMAT,
                           "model file", "a fine-tuned mmpoly_geo model")
    model = build_model(fold["config"])
    load_weights(model, fold["state_dict"])
    # Fine-tuning takes the GIN branch from it and nothing else.
    model.save(out / "pretrained.pt", pretrained_branches=["2d"])
    card = {"sources": args.sources, "labels": args.labels,
            "targets": targets,
            "exclude": args.exclude,
            "polymers": len(labels), "left_out_rows": dropped,
            "start": args.start, "seed": args.seed,
            "seconds": round(time.perf_counter() - start),
            "fold0": summary["models"],
            "command": "python benchmarks/supervised_transfer.py "
                       + " ".join(sys.argv[1:] if argv is None else argv)}
    (out / "card.json").write_text(json.dumps(card, indent=2, default=str))
    print(f"wrote {out / 'pretrained.pt'} ({card['seconds']} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
