"""Calibration of ensemble uncertainties and the applicability domain, from
the out-of-fold predictions of ``finetune.ensemble >= 2`` runs.

For each run (``predictions.csv`` of ``mmpoly-geo finetune``):

- coverage of the raw ensemble spread at 1 and 2 sigma, and after scaling it
  by :func:`mmpoly_geo.models.calibration.fit_scale`, with the scale fitted
  on the *other* folds (cross-validated: no fold calibrates itself), against
  the normal 68.3 % / 95.4 % (the baseline);
- the error against the nearest-neighbour Tanimoto similarity to the training
  fold, in quintiles, and a threshold: the largest similarity (0.01 steps)
  whose rows below (at least 10) have an RMSE at least 1.5x the RMSE of all
  rows (``None`` when there is none: error does not grow off-domain);
- a figure: observed vs nominal coverage, and |error| vs similarity.

Writes ``<out>/<label>.json`` and ``<out>/<label>.png`` and a table
``<out>/results.md`` for all runs given.

Usage::

    python benchmarks/calibration.py RUN_DIR [RUN_DIR ...] [--out benchmarks/results/calibration]
"""
import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from mmpoly_geo.models.calibration import (
    NORMAL_COVERAGE, coverage, fit_scale, similarity_threshold)

RATIO = 1.5


def analyse(predictions: pd.DataFrame) -> dict:
    ours = predictions[predictions.model.str.startswith("mmpolymer")]
    ours = ours.dropna(subset=["y", "pred"])
    if ours["pred_std"].isna().all():
        raise ValueError("no ensemble spread: run finetune with "
                         "finetune.ensemble >= 2")
    err = (ours.pred - ours.y).to_numpy()
    sigma = ours.pred_std.to_numpy()
    folds = ours.fold.to_numpy()
    scaled = np.empty_like(sigma)
    scales = {}
    for k in np.unique(folds):
        other = folds != k
        scales[int(k)] = fit_scale(err[other], sigma[other])
        scaled[folds == k] = scales[int(k)] * sigma[folds == k]
    sim = ours.nn_similarity.to_numpy()
    quint = pd.qcut(sim, 5, duplicates="drop")
    by_sim = (pd.DataFrame({"sim": quint, "sq": err ** 2})
              .groupby("sim", observed=True)["sq"].mean() ** 0.5)
    threshold = similarity_threshold(err, sim, RATIO)
    return {
        "n": int(len(err)), "rmse": float(np.sqrt(np.mean(err ** 2))),
        "coverage_1sigma_raw": coverage(err, sigma, 1),
        "coverage_2sigma_raw": coverage(err, sigma, 2),
        "coverage_1sigma": coverage(err, scaled, 1),
        "coverage_2sigma": coverage(err, scaled, 2),
        "scale_per_held_out_fold": scales,
        "scale_all_folds": fit_scale(err, sigma),
        "rmse_by_similarity_quintile": {str(k): float(v)
                                        for k, v in by_sim.items()},
        "similarity_threshold": threshold,
        "_arrays": (err, sigma, scaled, sim),
    }


def plot(result: dict, title: str, path: Path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    err, sigma, scaled, sim = result["_arrays"]
    ks = np.linspace(0, 3, 31)
    nominal = [float(np.mean(np.abs(np.random.default_rng(0).normal(
        size=100_000)) <= k)) for k in ks]
    fig, (a, b) = plt.subplots(1, 2, figsize=(9.5, 4))
    a.plot(nominal, [coverage(err, sigma, k) for k in ks], label="raw spread")
    a.plot(nominal, [coverage(err, scaled, k) for k in ks],
           label="calibrated (scale from other folds)")
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


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("runs", nargs="+", help="finetune output folders")
    p.add_argument("--out", default="benchmarks/results/calibration")
    args = p.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    lines = ["| run | n | RMSE | 1 sigma raw | 1 sigma calibrated | "
             "2 sigma raw | 2 sigma calibrated | similarity threshold |",
             "|---|---|---|---|---|---|---|---|"]
    for run in args.runs:
        run = Path(run)
        label = "_".join(run.parts[-3:])
        result = analyse(pd.read_csv(run / "predictions.csv"))
        plot(result, f"{label}: n = {result['n']}", out / f"{label}.png")
        result.pop("_arrays")
        (out / f"{label}.json").write_text(json.dumps(result, indent=2))
        lines.append(
            f"| {label} | {result['n']} | {result['rmse']:.4g} | "
            f"{result['coverage_1sigma_raw']:.3f} | "
            f"{result['coverage_1sigma']:.3f} | "
            f"{result['coverage_2sigma_raw']:.3f} | "
            f"{result['coverage_2sigma']:.3f} | "
            f"{result['similarity_threshold']} |")
    lines.append("")
    lines.append(f"Nominal (normal): 1 sigma {NORMAL_COVERAGE[1]}, 2 sigma "
                 f"{NORMAL_COVERAGE[2]}. Calibrated: each fold's spread "
                 f"scaled by the factor fitted on the other folds.")
    (out / "results.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
