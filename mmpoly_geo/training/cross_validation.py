"""K-fold cross-validated fine-tuning (the ``finetune`` command)."""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Dict, List, Sequence, Tuple

import numpy as np
import pandas as pd
import pytorch_lightning as pl
import torch
from torch_geometric.loader import DataLoader

from mmpoly_geo.atomic import atomic_write_text
from mmpoly_geo.chem.similarity import nearest_neighbour_similarity
from mmpoly_geo.data import PolymerDataset, PolymerOnDiskDataset
from mmpoly_geo.training.baselines import morgan_counts, random_forest_predict
from mmpoly_geo.training.config import (
    load_config, member_configs, pretrained_checkpoints, resolve_model_config,
    save_config)
from mmpoly_geo.training.finetune_module import FinetuneModule
from mmpoly_geo.training.metrics import mean_squared_error, regression_metrics
from mmpoly_geo.models.pretrained import resolve_pretrained
from mmpoly_geo.models.mmpolymer import read_checkpoint
from mmpoly_geo.models.predictor import (
    FOLD_FORMAT, load_fold_model, load_weights, predict_conformer_average,
    save_fold_model)
from mmpoly_geo.training.splits import grouped_kfold, train_val_split
from mmpoly_geo.training.trainer import best_checkpoint, fit


def load_dataset(config: Dict[str, Any]):
    """The :class:`PolymerDataset` of ``config["data"]``, or, with
    ``data.on_disk``, the :class:`PolymerOnDiskDataset`; conformers seeded
    by ``data.seed``, or by the run's ``seed`` when that is :obj:`None`."""
    d = config["data"]
    seed = config["seed"] if d.get("seed") is None else d["seed"]
    cls = PolymerOnDiskDataset if d["on_disk"] else PolymerDataset
    return cls(
        d["root"], name=d["name"], csv=d["csv"],
        smiles_column=d["smiles_column"], target=d["target"],
        num_conformers=d["num_conformers"], repeat_units=d["repeat_units"],
        cutoff=d["cutoff"], stars=d["stars"], descriptors=d["descriptors"],
        time_budget=d["time_budget"], seed=seed, num_workers=d["num_workers"])


#: Marks every output of a run that selected checkpoints on the test fold.
SELECT_ON_TEST_TAG = "_SELECT_ON_TEST"


def output_tag(config: Dict[str, Any]) -> str:
    """``"_SELECT_ON_TEST"`` for the test-fold selection diagnostic, else
    ``""``; part of the run's file names and model labels."""
    return SELECT_ON_TEST_TAG if config["finetune"]["select_on_test"] else ""


def run_finetune(config: Dict[str, Any], out_dir: Path,
                 resume: bool = False, callbacks=None) -> Dict[str, Any]:
    """Runs grouped k-fold CV of :class:`FinetuneModule` (and the baselines)
    and writes to :obj:`out_dir`: ``config.yaml``, ``metrics.csv`` (per fold
    and model), ``summary.json`` (mean +- std), ``predictions.csv``
    (out-of-fold), ``parity.png``, ``models/fold*.pt`` and Lightning
    checkpoints/logs under ``fold*/``. With :obj:`resume`, finished folds are
    kept and an interrupted fold continues from its ``last.ckpt``.

    ``finetune.blend=rf`` adds ``mmpolymer+rf``: the weighted average of our
    model and the forest, with the weight chosen on the validation split
    (the forest refitted without it), recorded as ``blend_weight``.

    ``finetune.only_folds=[i, ...]`` trains and reports those folds only
    (same folds and splits as the full run): a cheap first look at a setting
    on a large set; its summary names the folds.

    ``finetune.ensemble=K`` trains K models per fold (seeds ``seed``,
    ``seed + 1000``, ...; same folds and validation split) and averages their
    predictions; ``finetune.members`` (a list of ``model``/``optim``
    settings) makes them models of different settings, each K times
    (:func:`~mmpoly_geo.training.config.member_configs`).
    ``finetune.pretrained`` (default: the shipped ``gin`` checkpoint; null:
    from scratch; a list: several files) copies each file's pretrained
    branches into every model that has them
    (:meth:`~mmpoly_geo.training.FinetuneModule.load_pretrained`).
    ``finetune.select_on_test=true`` is a *diagnostic* that validates on the
    test fold (as some published code does); its file names
    and model labels carry ``_SELECT_ON_TEST``, and its models are not
    loadable by ``predict``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if resume:
        check_resumable(config, out_dir / "config.yaml")
    save_config(config, out_dir / "config.yaml")
    start = time.perf_counter()
    dataset = load_dataset(config)
    if not dataset.target_names:
        raise ValueError("finetune needs target column(s): set data.target "
                         "(or use a named benchmark)")
    f = config["finetune"]
    configs = member_configs(config)
    for spec in pretrained_checkpoints(config):
        resolve_pretrained(spec)  # a missing one fails here, early
    if f["blend"] not in ("none", "rf"):
        raise ValueError(f"finetune.blend must be 'none' or 'rf', got "
                         f"{f['blend']!r}")
    if f["blend"] == "rf" and "rf" not in (f["baselines"] or []):
        raise ValueError("finetune.blend=rf needs the forest: "
                         "finetune.baselines=[rf]")
    tag = output_tag(config)
    keys = list(dataset.key)
    y = dataset.y.numpy()
    source_rows = dataset.row.view(-1).numpy()
    splits = fold_splits(config, keys)
    only = f["only_folds"]
    if only is not None:
        only = sorted({int(i) for i in only})
        if not only or not all(0 <= i < len(splits) for i in only):
            raise ValueError(f"finetune.only_folds must list folds in "
                             f"0..{len(splits) - 1}, got {f['only_folds']!r}")
    featurizer = dataset.featurizer.model_settings()
    models_dir = out_dir / f"models{tag}"
    models_dir.mkdir(exist_ok=True)
    label = f"mmpolymer{tag}"

    pred_rows, metric_rows = [], []
    fingerprints = (morgan_counts(list(dataset.psmiles))
                    if "rf" in (f["baselines"] or []) else None)
    for fold, (train_idx, val_idx, test_idx) in enumerate(splits):
        if only is not None and fold not in only:
            continue
        rest = np.setdiff1d(np.arange(len(dataset)), test_idx)
        fold_start = time.perf_counter()
        members, member_val, val_mse, reloaded = [], [], [], []
        for member, member_config in enumerate(configs):
            name = f"fold{fold}" if len(configs) == 1 else \
                f"fold{fold}_member{member}"
            reloaded.append(resume and _finished(
                out_dir / f"{name}{tag}", models_dir / f"{name}.pt"))
            pl.seed_everything(member_config["seed"] + fold, workers=True,
                               verbose=False)
            pred, score, val_pred = _fit_fold(
                member_config, dataset, train_idx, val_idx, test_idx,
                out_dir / f"{name}{tag}", models_dir / f"{name}.pt",
                featurizer, resume, callbacks,
                predict_val=f["blend"] == "rf" or len(configs) > 1)
            members.append(pred)
            member_val.append(val_pred)
            val_mse.append(score)
        results = {label: np.mean(members, axis=0)}
        # What the fold predicts is judged on the validation split: with
        # several models their average, else the kept checkpoint's score.
        fold_val_mse = (mean_squared_error(y[val_idx],
                                           np.mean(member_val, axis=0))
                        if len(configs) > 1 else float(np.mean(val_mse)))
        blend_weight = np.nan
        # Spread of the ensemble members (for calibrating uncertainties; NaN
        # with one member) and each test polymer's nearest-neighbour
        # similarity to the training fold (applicability domain).
        spread = np.std(members, axis=0) if len(members) > 1 else None
        similarity = nearest_neighbour_similarity(
            [dataset.psmiles[i] for i in test_idx],
            [dataset.psmiles[i] for i in rest])
        if fingerprints is not None:
            # The forest selects nothing on validation data: it trains on
            # the whole training fold.
            results["rf_morgan"] = random_forest_predict(
                fingerprints[rest], y[rest], fingerprints[test_idx],
                seed=config["seed"])
            if f["blend"] == "rf":
                blend_weight = _blend_weight(
                    np.mean(member_val, axis=0), random_forest_predict(
                        fingerprints[train_idx], y[train_idx],
                        fingerprints[val_idx], seed=config["seed"]),
                    y[val_idx])
                results[f"{label}+rf"] = (
                    blend_weight * results[label]
                    + (1 - blend_weight) * results["rf_morgan"])
        for name, p in results.items():
            # The selected checkpoint's validation MSE (training folds only):
            # what settings may be chosen on.
            metric_rows.append(dict(model=name, fold=fold,
                                    n_test=len(test_idx),
                                    **regression_metrics(y[test_idx], p),
                                    val_mse=fold_val_mse
                                    if name == label else np.nan,
                                    blend_weight=blend_weight
                                    if name == f"{label}+rf" else np.nan))
            for j, i in enumerate(test_idx):
                for t, target in enumerate(dataset.target_names):
                    pred_rows.append(dict(
                        model=name, fold=fold, row=int(source_rows[i]),
                        psmiles=dataset.psmiles[i], target=target,
                        y=float(y[i, t]), pred=float(p[j, t]),
                        pred_std=float(spread[j, t])
                        if name == label and spread is not None else np.nan,
                        nn_similarity=float(similarity[j])))
        atomic_write_text(out_dir / f"metrics{tag}.csv",
                          pd.DataFrame(metric_rows).to_csv(index=False))
        scores = "; ".join(f"{r['model']} RMSE {r['rmse']:.4g}"
                           for r in metric_rows if r["fold"] == fold)
        # A fold finished by an earlier call is reloaded, not trained: its
        # seconds here would read as a (very fast) training time.
        took = ("finished earlier, reloaded" if all(reloaded)
                else f"{time.perf_counter() - fold_start:.0f} s")
        print(f"fold {fold + 1}/{len(splits)}: {scores}; validation MSE "
              f"{fold_val_mse:.4g}; {took}", flush=True)

    metrics = pd.DataFrame(metric_rows)
    summary = {"dataset": dataset.name, "n": len(dataset),
               "targets": dataset.target_names, "folds": f["folds"],
               "folds_run": (only if only is not None
                             else list(range(len(splits)))),
               "ensemble": int(f["ensemble"]),
               "models_per_fold": len(configs),
               "select_on_test": bool(f["select_on_test"]),
               "seconds": time.perf_counter() - start, "models": {}}
    for name, group in metrics.groupby("model"):
        summary["models"][name] = {
            m: {"mean": float(group[m].mean()),
                "std": float(group[m].std(ddof=0))}  # population std, as PolyConFM
            for m in ("rmse", "mae", "r2", "val_mse", "blend_weight")
            if group[m].notna().any()}
    predictions = pd.DataFrame(pred_rows)
    atomic_write_text(out_dir / f"predictions{tag}.csv",
                      predictions.to_csv(index=False))
    parity_plot(predictions, summary, out_dir / f"parity{tag}.png")
    # Written last: its presence marks a finished run.
    atomic_write_text(out_dir / f"summary{tag}.json",
                      json.dumps(summary, indent=2))
    return summary


def fold_splits(config: Dict[str, Any], keys: Sequence[str]
                ) -> List[Tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Per fold of a run of :obj:`config`: its ``(train, validation, test)``
    dataset indices. Grouped k-fold on the polymer :obj:`keys` with the seed;
    the validation split (``finetune.val_fraction``, whole groups) comes from
    the other folds, or is the test fold itself under the
    ``finetune.select_on_test`` diagnostic."""
    f = config["finetune"]
    out = []
    for fold, test in enumerate(grouped_kfold(keys, f["folds"],
                                              config["seed"])):
        rest = np.setdiff1d(np.arange(len(keys)), test)
        if f["select_on_test"]:
            train, val = rest, test
        else:
            train, val = train_val_split(rest, keys, f["val_fraction"],
                                         config["seed"] + fold)
        out.append((train, val, test))
    return out


def validation_predictions(run_dir: Path) -> pd.DataFrame:
    """The validation-split predictions of a finished ``finetune`` run,
    recomputed from its saved fold models (a fold's members averaged) and
    its ``config.yaml``: columns ``fold``, ``row`` (source row), ``target``,
    ``y``, ``pred``. What an average of runs is judged on (training folds
    only), for runs that did not store them."""
    run_dir = Path(run_dir)
    config = load_config(run_dir / "config.yaml")
    dataset = load_dataset(config)
    models_dir = run_dir / f"models{output_tag(config)}"
    source_rows = dataset.row.view(-1).numpy()
    y = dataset.y.numpy()
    templates = {}  # one built model per architecture, as Predictor does
    rows = []
    for fold, (_, val, _) in enumerate(fold_splits(config,
                                                   list(dataset.key))):
        files = (sorted(models_dir.glob(f"fold{fold}.pt"))
                 or sorted(models_dir.glob(f"fold{fold}_member*.pt")))
        if not files:  # a fold the run did not train (finetune.only_folds)
            continue
        pred = np.mean([_predict_saved(load_fold_model(file, templates),
                                       dataset, val, config)
                        for file in files], axis=0)
        for j, i in enumerate(val):
            for t, target in enumerate(dataset.target_names):
                rows.append(dict(fold=fold, row=int(source_rows[i]),
                                 target=target, y=float(y[i, t]),
                                 pred=float(pred[j, t])))
    return pd.DataFrame(rows)


def _predict_saved(fold: Dict[str, Any], dataset, idx, config) -> np.ndarray:
    """Predictions of a saved fold model (:func:`load_fold_model`) for the
    polymers :obj:`idx`, as the run made them (conformer average, the run's
    batch size)."""
    loader = DataLoader(dataset.index_select(torch.as_tensor(idx)),
                        batch_size=config["optim"]["batch_size"])
    return torch.cat([predict_conformer_average(
        fold["model"], batch, fold["target_mean"], fold["target_std"],
        config["data"]["cutoff"], config["finetune"]["eval_conformers"])
        for batch in loader]).numpy()


#: Settings that may differ between a run and its resumption.
RESUME_FREE = {("trainer", "progress_bar"), ("trainer", "verbose"),
               ("trainer", "loader_workers"),
               ("data", "num_workers"), ("data", "root")}


def check_resumable(config: Dict[str, Any], saved: Path):
    """Raises :class:`ValueError` naming the settings that differ from the
    run being resumed (its finished folds would otherwise be reused as if
    they came from the new settings)."""
    if not saved.is_file():
        return
    old = load_config(saved)
    diffs = [f"{section}.{key}: {old[section].get(key)!r} -> {value!r}"
             for section, values in config.items() if isinstance(values, dict)
             for key, value in values.items()
             if (section, key) not in RESUME_FREE
             and old.get(section, {}).get(key) != value]
    if old.get("seed") != config.get("seed"):
        diffs.append(f"seed: {old.get('seed')!r} -> {config.get('seed')!r}")
    if diffs:
        raise ValueError(
            f"cannot resume {saved.parent}: its settings differ ("
            + "; ".join(diffs) + "); use another output folder")


def _finished(fold_dir: Path, model_file: Path) -> bool:
    """Whether a fold's model was trained to the end by an earlier call."""
    return model_file.is_file() and (fold_dir / "done").is_file()


def _fit_fold(config, dataset, train_idx, val_idx, test_idx, fold_dir,
              model_file, featurizer, resume, callbacks, half=False,
              predict_val=False):
    """Trains one model; returns its test-fold predictions, the validation
    MSE of the checkpoint kept and, with :obj:`predict_val`, its
    validation-split predictions (else None) (:obj:`half`: float16 model
    file)."""
    o, f = config["optim"], config["finetune"]
    y_train = dataset.y[torch.as_tensor(train_idx)]
    mean = torch.nanmean(y_train, dim=0)
    std = torch.sqrt(torch.nanmean((y_train - mean) ** 2, dim=0)).clamp_min(1e-8)
    module = FinetuneModule(resolve_model_config(config, dataset),
                            mean.tolist(), std.tolist(),
                            lr=o["lr"], weight_decay=o["weight_decay"],
                            warmup_ratio=o["warmup_ratio"], freeze=f["freeze"],
                            cutoff=config["data"]["cutoff"],
                            seed=config["seed"],
                            eval_conformers=f["eval_conformers"],
                            ema_decay=o["ema_decay"],
                            encoder_lr_scale=f["encoder_lr_scale"])
    copied = {}
    for spec in pretrained_checkpoints(config):
        for branch in module.load_pretrained(resolve_pretrained(spec)):
            if branch in copied:
                raise ValueError(
                    f"finetune.pretrained: {copied[branch]!r} and {spec!r} "
                    f"both pretrained the {branch} branch; give one of them")
            copied[branch] = spec
    encoder = getattr(module.model, "descriptor_encoder", None)
    if encoder is not None:  # standardised on the training fold only
        encoder.fit(module.model.select_descriptors(
            dataset.descriptors[torch.as_tensor(train_idx)]))
        module.sync_ema()
    if resume and _finished(fold_dir, model_file):
        load_saved(module, model_file)
        score = _read_score(fold_dir / "done")
    else:
        module, score = _train(module, config, dataset, train_idx, val_idx,
                               fold_dir, model_file, featurizer, resume,
                               callbacks, half)
    return (_predict(module, dataset, test_idx, o), score,
            _predict(module, dataset, val_idx, o) if predict_val else None)


def _train(module, config, dataset, train_idx, val_idx, fold_dir,
           model_file, featurizer, resume, callbacks, half):
    """Fits :obj:`module`, saves the kept checkpoint's model file; returns
    that module and its validation MSE."""
    done = fold_dir / "done"
    trainer = fit(module, config, dataset, train_idx, val_idx, fold_dir,
                  "val_mse", resume, callbacks)
    best = str(best_checkpoint(trainer) or fold_dir / "last.ckpt")
    module = FinetuneModule.load_from_checkpoint(best, map_location="cpu",
                                                 weights_only=False)
    score = trainer.checkpoint_callback.best_model_score
    score = float("nan") if score is None else float(score)
    if trainer.is_global_zero:
        seen = np.concatenate([train_idx, val_idx])
        save_fold_model(model_file, module.eval_model, module.target_mean,
                        module.target_std, dataset.target_names, featurizer,
                        [dataset.psmiles[i] for i in seen], half=half)
        atomic_write_text(done, json.dumps({"checkpoint": best,
                                            "val_mse": score}))
    return module, score


def _blend_weight(ours_val, rf_val, y_val) -> float:
    r"""The weight :math:`w` (0, 0.1, ..., 1) of our model in
    :math:`w\,\hat y + (1 - w)\,\hat y_{RF}` with the lowest MSE on the
    validation split (the forest trained without it): chosen on the training
    folds only."""
    best, best_mse = 1.0, np.inf
    for w in np.linspace(0.0, 1.0, 11):
        mse = mean_squared_error(y_val, w * ours_val + (1 - w) * rf_val)
        if mse < best_mse - 1e-12:
            best, best_mse = float(w), mse
    return best


def _read_score(done: Path) -> float:
    try:
        return float(json.loads(done.read_text())["val_mse"])
    except (ValueError, KeyError, TypeError):  # written by an older version
        return float("nan")


def load_saved(module, model_file):
    """Puts a saved fold model's weights and target scaling into
    :obj:`module` (its evaluated model)."""
    blob = read_checkpoint(model_file, FOLD_FORMAT, "model file",
                           "a fine-tuned mmpoly_geo model")
    load_weights(module.eval_model, blob["state_dict"])
    module.target_mean.copy_(blob["target_mean"])
    module.target_std.copy_(blob["target_std"])


def _predict(module, dataset, idx, o) -> np.ndarray:
    module.eval()
    loader = DataLoader(dataset.index_select(torch.as_tensor(idx)),
                        batch_size=o["batch_size"])
    return torch.cat([module.predict_step(b, i) for i, b in
                      enumerate(loader)]).numpy()


def parity_plot(predictions: pd.DataFrame, summary: Dict[str, Any],
                path: Path):
    """Out-of-fold predicted vs true values, one panel per model."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    models = list(summary["models"])
    fig, axes = plt.subplots(1, len(models), figsize=(4.5 * len(models), 4.3),
                             squeeze=False)
    for ax, name in zip(axes[0], models):
        part = predictions[predictions.model == name].dropna(subset=["y"])
        ax.scatter(part.y, part.pred, s=8, alpha=0.6)
        lo = float(min(part.y.min(), part.pred.min()))
        hi = float(max(part.y.max(), part.pred.max()))
        ax.plot([lo, hi], [lo, hi], "k--", lw=1)
        m = summary["models"][name]
        ax.set_title(f"{name}: RMSE {m['rmse']['mean']:.3f}±{m['rmse']['std']:.3f}"
                     f", R² {m['r2']['mean']:.3f}", fontsize=9)
        ax.set_xlabel(f"true {', '.join(summary['targets'])}")
        ax.set_ylabel("predicted (out of fold)")
    fig.suptitle(f"{summary['dataset']}: {summary['folds']}-fold CV, "
                 f"n = {summary['n']}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
