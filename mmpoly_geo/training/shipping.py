"""Models that ship with the package: an ensemble trained on a whole data
set, stored compactly, with a model card (the ``ship`` command)."""
from __future__ import annotations

import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any, Dict, Optional, Sequence, Union

import numpy as np
import pandas as pd
import pytorch_lightning as pl
import torch

import mmpoly_geo
from mmpoly_geo.atomic import atomic_write_text
from mmpoly_geo.data.shipped import BENCHMARKS
from mmpoly_geo.models.calibration import (
    calibration_report, pool_runs, similarity_threshold)
from mmpoly_geo.models.predictor import CARD, SHIPPED_DIR
from mmpoly_geo.training.config import member_configs, save_config
from mmpoly_geo.training.cross_validation import _fit_fold, load_dataset
from mmpoly_geo.training.metrics import regression_metrics
from mmpoly_geo.training.splits import train_val_split


#: A cross-validation run given to ``ship``: one folder, or its members'
#: folders (a run trained member by member), each member one folder or the
#: folders of its ``finetune.only_folds`` parts (a run trained fold by fold).
CVRun = Union[Path, Sequence[Union[Path, Sequence[Path]]]]


def run_ship(config: Dict[str, Any], out_dir: Path, ensemble: int = 2,
             cv_runs: Sequence[CVRun] = (),
             install: bool = False,
             command: Optional[str] = None) -> Path:
    r"""Trains :obj:`ensemble` models (of each ``finetune.members`` entry)
    on the whole data set of
    :obj:`config` (each with its own seed and validation split, which selects
    its checkpoint as in cross-validation) and writes ``out_dir/model/``:
    ``member*.pt`` (float16 weights, no pretraining heads) and ``card.json``
    (property, unit, training data and licence, the command, the
    configuration, and, from the cross-validation runs :obj:`cv_runs` of the
    same configuration (one ensemble run, or several seeds; a run trained
    member by member is a list of its members' folders; a member trained
    fold by fold, the list of its ``finetune.only_folds`` parts), their
    metrics and
    the uncertainty calibration (see :func:`_from_cv_runs`);
    :obj:`command` is recorded as the one that made it, by default this
    process's). With :obj:`install` the model
    folder is copied to the package's shipped models
    (``mmpoly_geo/models/shipped/<name>``), where ``mmpoly-geo predict``
    without ``--model`` finds it.
    Training checkpoints stay under ``out_dir/member*/``; an interrupted run
    continues where it stopped."""
    out_dir = Path(out_dir)
    model_dir = out_dir / "model"
    model_dir.mkdir(parents=True, exist_ok=True)
    save_config(config, out_dir / "config.yaml")
    # A rerun (e.g. to add --cv-run or --install) keeps the trained members
    # and the training time and hardware the earlier run recorded.
    card_path = model_dir / CARD
    earlier = json.loads(card_path.read_text()) if card_path.is_file() else {}
    seconds = earlier.get("training_seconds", 0)
    hardware = (f"{os.cpu_count()} CPU cores, torch {torch.__version__}, "
                f"{torch.get_num_threads()} thread(s) per process")
    trained_now = False
    dataset = load_dataset(config)
    if len(dataset.target_names) != 1:
        raise ValueError("ship trains one property per model folder; give "
                         "one target column")
    keys = list(dataset.key)
    everything = np.arange(len(dataset))
    featurizer = dataset.featurizer.model_settings()
    val_mse = []
    # finetune.members: each entry trained ensemble times.
    configs = member_configs(dict(config, finetune=dict(
        config["finetune"], ensemble=ensemble)))
    for member, member_config in enumerate(configs):
        start = time.perf_counter()
        trained = (out_dir / f"member{member}" / "done").is_file()
        pl.seed_everything(member_config["seed"], workers=True, verbose=False)
        train_idx, val_idx = train_val_split(
            everything, keys, config["finetune"]["val_fraction"],
            member_config["seed"])
        _, score, _ = _fit_fold(member_config, dataset, train_idx, val_idx,
                             val_idx, out_dir / f"member{member}",
                             model_dir / f"member{member}.pt", featurizer,
                             resume=True, callbacks=None, half=True)
        val_mse.append(score)
        if not trained:
            seconds += time.perf_counter() - start
            trained_now = True
    if not trained_now:  # the members were trained by an earlier run
        hardware = earlier.get("hardware", hardware)
    name = config["data"]["name"] or dataset.name
    target = dataset.target_names[0]
    card = {
        "name": name, "target": target,
        "property": BENCHMARKS[name][1] if name in BENCHMARKS else target,
        "unit": BENCHMARKS[name][2] if name in BENCHMARKS else "",
        "training_data": {
            "source": (f"datasets/{BENCHMARKS[name][0]}"
                       if name in BENCHMARKS else str(config["data"]["csv"])),
            "polymers": len(dataset),
            "rejected_rows": len(dataset.rejected),
            "licence": ("GPL-3.0 (the MMPolymer benchmark data; see "
                        "datasets/README.md)" if name in BENCHMARKS
                        else "that of your data")},
        "members": len(configs), "member_val_mse": val_mse,
        "command": command or " ".join(["mmpoly-geo"] + sys.argv[1:]),
        "mmpoly_geo_version": mmpoly_geo.__version__,
        "created": time.strftime("%Y-%m-%d"),
        "training_seconds": round(seconds),
        "hardware": hardware,
        "config": config,
    }
    if cv_runs:
        card.update(_from_cv_runs(
            [[[m] if isinstance(m, (str, Path)) else list(m) for m in
              ([r] if isinstance(r, (str, Path)) else r)] for r in cv_runs],
            len(configs)))
    atomic_write_text(card_path, json.dumps(card, indent=2))
    if install:
        target_dir = SHIPPED_DIR / name
        if target_dir.exists():
            shutil.rmtree(target_dir)
        shutil.copytree(model_dir, target_dir)
        return target_dir
    return model_dir


def read_cv_run(parts: Sequence[Path]):
    """The summary (``None`` when a single folder has none) and the
    out-of-fold predictions of one ``finetune`` run: one folder, or the
    folders of its ``finetune.only_folds`` parts (disjoint folds that
    together hold all of them).

    Raises:
        ValueError: parts that overlap or leave folds out.
    """
    frames = [pd.read_csv(p / "predictions.csv") for p in parts]
    if len(parts) == 1:
        path = parts[0] / "summary.json"
        return (json.loads(path.read_text()) if path.is_file() else None,
                frames[0])
    summaries = [json.loads((p / "summary.json").read_text()) for p in parts]
    held = [s.get("folds_run", list(range(s["folds"]))) for s in summaries]
    folds = summaries[0]["folds"]
    if (sum(map(len, held)) != len(set().union(*held))
            or set().union(*held) != set(range(folds))):
        raise ValueError(
            f"the parts {', '.join(map(str, parts))} hold folds {held}: the "
            f"parts of one run must hold each of its {folds} folds once")
    return summaries[0], pd.concat(frames, ignore_index=True)


def _from_cv_runs(cv_runs: Sequence[Sequence[Sequence[Path]]],
                  models: int) -> Dict[str, Any]:
    """Cross-validation metrics and the uncertainty calibration from
    ``finetune`` output folders of the shipped configuration: one ensemble
    run, or several runs (e.g. seeds) pooled into out-of-fold ensembles of
    :obj:`models` models (:func:`~mmpoly_geo.models.calibration.pool_runs`),
    so the calibration fits the spread of an ensemble of the shipped size.
    Each entry of :obj:`cv_runs` is one run, a list of its members (one, or
    the runs of one run trained member by member, e.g. the default's two
    members, each its own ``finetune`` run of the same seed and folds, whose
    predictions are averaged as the shipped members' are), each member a
    list of folders (one, or its ``finetune.only_folds`` parts)."""
    groups = [[read_cv_run([Path(p) for p in member]) for member in group]
              for group in cv_runs]
    summaries = [g[0][0] for g in groups]
    for group, summary in zip(cv_runs, summaries):
        if summary is None:
            raise ValueError(f"{group[0][0]} has no summary.json: give "
                             f"finished 'finetune' output folders")
    frames = [[frame for _, frame in g] for g in groups]
    if len(groups) == 1 and len(groups[0]) == 1:
        table = frames[0][0][frames[0][0].model == "mmpolymer"]
        source = (f"out-of-fold predictions of one "
                  f"{summaries[0].get('models_per_fold', summaries[0]['ensemble'])}"
                  f"-member ensemble run")
        run_tables = [table]
        pooled: Dict[str, float] = {}
    else:
        table = pool_runs(frames, models)
        size = len(groups[0])
        source = (f"{len(groups)} cross-validation run(s)"
                  + (f" of {size} member runs each" if size > 1 else "")
                  + f" pooled into out-of-fold ensembles of {models}")
        # Each run's own out-of-fold predictions (its members averaged).
        run_tables = [pool_runs([f], size) for f in frames]
        # Closer to what ships than the single runs' metrics below.
        pooled = {"rmse_of_pooled_ensembles": float(
            np.sqrt(np.mean((table.pred - table.y) ** 2)))}
    # Per run and test fold, over all runs x folds (population std, as the
    # finetune summaries).
    per_fold = pd.DataFrame([
        {"fold": fold, **regression_metrics(part.y.to_numpy(),
                                            part.pred.to_numpy())}
        for t in run_tables for fold, part in t.groupby("fold")])
    out: Dict[str, Any] = {"cross_validation": {
        "runs": [",".join("+".join(map(str, member)) for member in group)
                 for group in cv_runs],
        "folds": summaries[0]["folds"], "ensemble": summaries[0]["ensemble"],
        "metrics": {m: {"mean": float(per_fold[m].mean()),
                        "std": float(per_fold[m].std(ddof=0)),
                        "n": int(per_fold[m].notna().sum())}
                    for m in ("rmse", "mae", "r2")}, **pooled},
        "calibration_source": source}
    errors = (table.pred - table.y).to_numpy()
    if "pred_std" in table and (table.pred_std > 0).any():
        report = calibration_report(errors, table.pred_std.to_numpy(),
                                    table.fold.to_numpy())
        out["calibration"] = report.pop("calibration")
        out["calibration_coverage"] = report
    else:
        out["calibration_source"] = ("none: the run has no ensemble spread "
                                     "(uncertainties are the raw spread)")
    if "nn_similarity" in table:
        out["similarity_threshold"] = similarity_threshold(
            errors, table.nn_similarity)
    return out
