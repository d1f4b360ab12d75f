"""What the GFN2-xTB descriptors add to the random forest: the suite's
forest on Morgan counts (``rf_morgan``), the same forest on Morgan counts +
the three xTB orbital energies (``rf_morgan_xtb``) and on the xTB energies
alone (``rf_xtb``), on the suite's folds and seeds.

The xTB energies are read from the data set processed with
``data.descriptors=rdkit+xtb`` (the suite's cache when it has run with that
setting; processed here otherwise, ~0.5 s per polymer). The recomputed
``rf_morgan`` matches the suite's rows fold for fold, a check that the folds
are the same. Rows go into the suite's record, which ``suite.py
--report-only`` tables and pairs (``--paired rf_morgan_xtb,rf_morgan``).

Usage::

    python benchmarks/xtb_forest.py --datasets Eea Ei Egb
"""
import argparse
import importlib.util
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from mmpoly_geo.chem.descriptors import descriptor_slice
from mmpoly_geo.data.shipped import shipped_files
from mmpoly_geo.training import load_config
from mmpoly_geo.training.baselines import morgan_counts, random_forest_predict
from mmpoly_geo.training.cross_validation import fold_splits, load_dataset
from mmpoly_geo.training.metrics import regression_metrics

_spec = importlib.util.spec_from_file_location(
    "suite", Path(__file__).resolve().parent / "suite.py")
suite = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(suite)


def forest_rows(dataset, config, name, seed):
    """Per-fold metrics of the three forests on one seed's folds (rows of
    data set :obj:`name`)."""
    keys = list(dataset.key)
    y = dataset.y.numpy()
    morgan = morgan_counts(list(dataset.psmiles))
    xtb = dataset.descriptors.numpy().reshape(len(dataset), -1)[
        :, descriptor_slice("xtb", config["data"]["descriptors"])]
    # A polymer xTB could not compute gets the column means of the others.
    xtb = np.where(np.isnan(xtb), np.nanmean(xtb, axis=0), xtb)
    features = {"rf_morgan": morgan, "rf_morgan_xtb": np.hstack([morgan, xtb]),
                "rf_xtb": xtb}
    rows = []
    for fold, (_, _, test) in enumerate(fold_splits(config, keys)):
        rest = np.setdiff1d(np.arange(len(keys)), test)
        for name, x in features.items():
            pred = random_forest_predict(x[rest], y[rest], x[test], seed=seed)
            rows.append(dict(model=name, fold=fold, n_test=len(test),
                             **regression_metrics(y[test], pred),
                             dataset=name, seed=seed))
    return rows


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--datasets", nargs="+", required=True)
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--root", default="data",
                   help="processed data (the suite's --root)")
    p.add_argument("--record",
                   default="benchmarks/results/accuracy/record.csv")
    p.add_argument("--max-rows", type=int,
                   help="first rows only, from a copy of the CSV (a quick "
                        "look; not recorded)")
    p.add_argument("--set", nargs="*", default=[])
    args = p.parse_args(argv)
    rows = []
    for name in args.datasets:
        source = [f"data.name={name}"]
        if args.max_rows:
            subset = Path(args.root) / "xtb_forest" / f"{name}.csv"
            subset.parent.mkdir(parents=True, exist_ok=True)
            pd.read_csv(shipped_files(name)[0], nrows=args.max_rows
                        ).to_csv(subset, index=False)
            source = [f"data.csv={subset}", "data.target=value"]
        for seed in args.seeds:
            config = load_config(None, [f"data.root={args.root}", *source,
                                        "data.descriptors=rdkit+xtb",
                                        f"seed={seed}", *args.set])
            found = forest_rows(load_dataset(config), config, name, seed)
            rows += found
            mean = pd.DataFrame(found).groupby("model", sort=False).rmse.mean()
            print(f"{name} seed {seed}: " + "; ".join(
                f"{m} RMSE {v:.4g}" for m, v in mean.items()), flush=True)
    frame = pd.DataFrame(rows)
    if args.max_rows:
        print("--max-rows: not recorded")
    else:
        # The suite's rf_morgan rows stay as they are: only the new ones.
        suite.update_record(frame[frame.model != "rf_morgan"],
                            Path(args.record))
        print(f"recorded rf_morgan_xtb, rf_xtb in {args.record}")
    summary = frame.groupby(["dataset", "model"], sort=False).rmse.agg(
        ["mean", "std"])
    print(summary.to_string())
    return 0


if __name__ == "__main__":
    sys.exit(main())
