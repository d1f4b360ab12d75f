"""Calibration of ensemble uncertainties and the applicability domain, from
the out-of-fold predictions of ``finetune.ensemble >= 2`` runs.

For each run (``predictions.csv`` of ``mmpoly-geo finetune``):

- coverage of the raw ensemble spread at 1 and 2 sigma, and of the
  calibrated uncertainty (at 1 and 2) and 95 % interval
  (:func:`mmpoly_geo.models.calibration.fit_calibration`), each fold
  calibrated on the *other* folds (no fold calibrates itself), against the
  normal 68.3 % / 95.4 % (the baseline);
- the error against the nearest-neighbour Tanimoto similarity to the training
  fold, in quintiles, and a threshold: the largest similarity (0.01 steps)
  whose rows below (at least 10) have an RMSE at least 1.5x the RMSE of all
  rows (``None`` when there is none: error does not grow off-domain);
- a figure: observed vs nominal coverage, and |error| vs similarity.

Writes ``<out>/<label>.json`` and ``<out>/<label>.png`` and a table
``<out>/results.md`` for all runs given.

``--pool K`` instead treats the runs of each folder (e.g. the suite's
``runs/<set>/ours/seed0``, ``seed1``, ``seed2``) as independent
cross-validation runs and pools them into out-of-fold ensembles of K models
(:func:`mmpoly_geo.models.calibration.pool_runs`): the calibration of a
shipped K-model ensemble, without training ensembles. A run trained member
by member (the suite's two members of the default, each its own run) is its
members' folders joined by commas; pooled, each run gives one model of each
member. A member trained fold by fold (``finetune.only_folds`` parts, the
suite's ``NAME_foldsI`` runs) is its parts' folders joined by ``+``.

Usage::

    python benchmarks/calibration.py RUN_DIR [RUN_DIR ...] [--out benchmarks/results/calibration]
    python benchmarks/calibration.py benchmarks/results/accuracy/runs/*/ours/seed* --pool 2
    R=benchmarks/results/accuracy/runs
    python benchmarks/calibration.py $(for d in Eea EPS; do for s in 0 1 2; do
        echo $R/$d/ours_single_rerun/seed$s,$R/$d/ours_gin2d_rdkit/seed$s; done; done) --pool 2
"""
import argparse
import json
import re
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from mmpoly_geo.models.calibration import (
    NORMAL_COVERAGE, coverage, coverage_summary, cross_calibrated,
    fit_calibration, pool_runs, similarity_threshold)
from mmpoly_geo.training.shipping import read_cv_run

RATIO = 1.5


def analyse(predictions: pd.DataFrame) -> dict:
    ours = predictions[predictions.model.str.startswith("mmpolymer")]
    ours = ours.dropna(subset=["y", "pred"])
    if ours["pred_std"].isna().all():
        raise ValueError("no ensemble spread: run finetune with "
                         "finetune.ensemble >= 2 (or pool runs: --pool)")
    err = (ours.pred - ours.y).to_numpy()
    sigma = ours.pred_std.to_numpy()
    folds = ours.fold.to_numpy()
    std, half = cross_calibrated(err, sigma, folds)
    report = {**coverage_summary(err, sigma, std, half),
              "calibration": fit_calibration(err, sigma)}
    sim = ours.nn_similarity.to_numpy()
    quint = pd.qcut(sim, 5, duplicates="drop")
    by_sim = (pd.DataFrame({"sim": quint, "sq": err ** 2})
              .groupby("sim", observed=True)["sq"].mean() ** 0.5)
    return {
        "rmse": float(np.sqrt(np.mean(err ** 2))), **report,
        "rmse_by_similarity_quintile": {str(k): float(v)
                                        for k, v in by_sim.items()},
        "similarity_threshold": similarity_threshold(err, sim, RATIO),
        "_arrays": (err, sigma, std, half, sim),
    }


def plot(result: dict, title: str, path: Path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    err, sigma, scaled, half, sim = result["_arrays"]
    ks = np.linspace(0, 3, 31)
    nominal = [float(np.mean(np.abs(np.random.default_rng(0).normal(
        size=100_000)) <= k)) for k in ks]
    fig, (a, b) = plt.subplots(1, 2, figsize=(9.5, 4))
    a.plot(nominal, [coverage(err, sigma, k) for k in ks], label="raw spread")
    a.plot(nominal, [coverage(err, scaled, k) for k in ks],
           label="calibrated (fitted on the other folds)")
    a.plot([NORMAL_COVERAGE[2]], [coverage(err, half, 1)], "o",
           label="calibrated 95 % interval")
    a.plot([0, 1], [0, 1], "k--", lw=1)
    a.set_xlabel("nominal coverage (normal)")
    a.set_ylabel("observed coverage, out of fold")
    a.legend(fontsize=8)
    b.scatter(sim, np.abs(err), s=6, alpha=0.5)
    if result["similarity_threshold"] is not None:
        b.axvline(result["similarity_threshold"], color="r", lw=1)
    b.set_xlabel("nearest-neighbour Tanimoto similarity to the training fold")
    b.set_ylabel("|error|, out of fold")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _name(run, pooled=False):
    """A label from the first member's folder (e.g. ``Eea_ours_seed0``; of a
    pool, its parent's: ``Eea_ours``), then the other members' models (a
    member trained fold by fold: its model's name without ``_foldsI``)."""
    def model(member):
        name = member[0].parts[-2]
        return re.sub(r"_folds[0-9-]+$", "", name) if len(member) > 1 \
            else name
    first = run[0][0]
    parts = ((first.parts[-3], model(run[0])) if pooled else
             (first.parts[-3], model(run[0]), first.parts[-1]))
    return "_".join(parts) + "".join("+" + model(m) for m in run[1:])


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("runs", nargs="+", metavar="RUN_DIR[,RUN_DIR]",
                   help="finetune output folders; a run trained member by "
                        "member is its members' folders joined by commas "
                        "(their predictions averaged), a member trained fold "
                        "by fold its parts joined by '+'")
    p.add_argument("--out", default="benchmarks/results/calibration")
    p.add_argument("--pool", type=int, metavar="K",
                   help="pool the runs of each parent folder into out-of-fold "
                        "ensembles of K members")
    args = p.parse_args(argv)
    # A run trained member by member: its members' folders joined by commas;
    # a member trained fold by fold: its parts joined by '+'.
    runs = [[[Path(p) for p in member.split("+")] for member in run.split(",")]
            for run in args.runs]
    read = lambda run: [read_cv_run(member)[1] for member in run]
    if args.pool:
        groups = {}
        for run in runs:
            groups.setdefault(_name(run, pooled=True), []).append(run)
        tables = {f"{name}_pool{args.pool}":
                  pool_runs([read(run) for run in sorted(group)], args.pool)
                  for name, group in sorted(groups.items())}
    else:
        tables = {_name(run): (read(run)[0] if len(run) == 1 else
                                  pool_runs([read(run)], len(run)))
                  for run in runs}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    lines = ["| run | n | RMSE | 1 sigma raw | 1 sigma calibrated | "
             "2 sigma raw | 2 sigma calibrated | 95 % interval calibrated | "
             "mean sigma | mean 95 % half-width | similarity threshold |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for label, predictions in tables.items():
        result = analyse(predictions)
        plot(result, f"{label}: n = {result['n']}", out / f"{label}.png")
        result.pop("_arrays")
        (out / f"{label}.json").write_text(json.dumps(result, indent=2))
        lines.append(
            f"| {label} | {result['n']} | {result['rmse']:.4g} | "
            f"{result['coverage_1sigma_raw']:.3f} | "
            f"{result['coverage_1sigma']:.3f} | "
            f"{result['coverage_2sigma_raw']:.3f} | "
            f"{result['coverage_2sigma']:.3f} | "
            f"{result['coverage_interval95']:.3f} | "
            f"{result['mean_std']:.4g} | {result['mean_interval95']:.4g} | "
            f"{result['similarity_threshold']} |")
    lines.append("")
    if args.pool:
        lines.append(f"Pooled: the models of each folder's runs form "
                     f"out-of-fold ensembles of {args.pool} (every "
                     f"combination of runs holding that many models; a run "
                     f"given as member runs joined by ',' holds one model "
                     f"of each member); n counts each polymer once per "
                     f"combination, and RMSE is that of these ensembles "
                     f"over all their predictions.")
        lines.append("")
    lines.append(f"Nominal (normal): 1 sigma {NORMAL_COVERAGE[1]}, 2 sigma "
                 f"{NORMAL_COVERAGE[2]}. Calibrated: each fold's uncertainty "
                 f"from the calibration fitted on the other folds (variance "
                 f"model sqrt(a^2 s^2 + b^2) by Gaussian likelihood, then "
                 f"the 68.27 % and 95.45 % quantiles of |error| / sigma). "
                 f"Errors are heavier-tailed than normal, so 2 calibrated "
                 f"sigma cover less than 95 %: use the 95 % interval.")
    (out / "results.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
