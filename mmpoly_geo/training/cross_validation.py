"""K-fold cross-validated fine-tuning (the ``finetune`` command)."""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Dict

import numpy as np
import pandas as pd
import pytorch_lightning as pl
import torch
from torch_geometric.loader import DataLoader

from mmpoly_geo.data import PolymerDataset
from mmpoly_geo.training.baselines import morgan_counts, random_forest_predict
from mmpoly_geo.training.config import save_config
from mmpoly_geo.training.finetune_module import FinetuneModule
from mmpoly_geo.training.metrics import regression_metrics
from mmpoly_geo.training.predictor import save_fold_model
from mmpoly_geo.training.splits import grouped_kfold, train_val_split
from mmpoly_geo.training.trainer import fit


def load_dataset(config: Dict[str, Any]) -> PolymerDataset:
    d = config["data"]
    return PolymerDataset(
        d["root"], name=d["name"], csv=d["csv"],
        smiles_column=d["smiles_column"], target=d["target"],
        num_conformers=d["num_conformers"], repeat_units=d["repeat_units"],
        cutoff=d["cutoff"], stars=d["stars"], seed=config["seed"],
        num_workers=d["num_workers"])


def run_finetune(config: Dict[str, Any], out_dir: Path,
                 resume: bool = False, callbacks=None) -> Dict[str, Any]:
    """Runs grouped k-fold CV of :class:`FinetuneModule` (and the baselines)
    and writes to :obj:`out_dir`: ``config.yaml``, ``metrics.csv`` (per fold
    and model), ``summary.json`` (mean +- std), ``predictions.csv``
    (out-of-fold), ``parity.png``, ``models/fold*.pt`` and Lightning
    checkpoints/logs under ``fold*/``. With :obj:`resume`, finished folds are
    kept and an interrupted fold continues from its ``last.ckpt``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    save_config(config, out_dir / "config.yaml")
    start = time.perf_counter()
    dataset = load_dataset(config)
    if not dataset.target_names:
        raise ValueError("finetune needs target column(s): set data.target "
                         "(or use a named benchmark)")
    f = config["finetune"]
    keys = list(dataset.key)
    y = dataset.y.numpy()
    source_rows = dataset.row.view(-1).numpy()
    tests = grouped_kfold(keys, f["folds"], config["seed"])
    featurizer = dict(dataset.featurizer.__getstate__())
    featurizer.pop("vocab", None)
    models_dir = out_dir / "models"
    models_dir.mkdir(exist_ok=True)

    pred_rows, metric_rows = [], []
    fingerprints = (morgan_counts(list(dataset.psmiles))
                    if "rf" in (f["baselines"] or []) else None)
    for fold, test_idx in enumerate(tests):
        pl.seed_everything(config["seed"] + fold, workers=True, verbose=False)
        rest = np.setdiff1d(np.arange(len(dataset)), test_idx)
        train_idx, val_idx = train_val_split(rest, keys, f["val_fraction"],
                                             config["seed"] + fold)
        fold_dir = out_dir / f"fold{fold}"
        model_file = models_dir / f"fold{fold}.pt"
        pred = _fit_fold(config, dataset, train_idx, val_idx, test_idx,
                         fold_dir, model_file, featurizer, resume, callbacks)
        results = {"mmpolymer": pred}
        if fingerprints is not None:
            results["rf_morgan"] = random_forest_predict(
                fingerprints[train_idx], y[train_idx], fingerprints[test_idx],
                seed=config["seed"])
        for name, p in results.items():
            metric_rows.append(dict(model=name, fold=fold,
                                    n_test=len(test_idx),
                                    **regression_metrics(y[test_idx], p)))
            for j, i in enumerate(test_idx):
                for t, target in enumerate(dataset.target_names):
                    pred_rows.append(dict(
                        model=name, fold=fold, row=int(source_rows[i]),
                        psmiles=dataset.psmiles[i], target=target,
                        y=float(y[i, t]), pred=float(p[j, t])))
        pd.DataFrame(metric_rows).to_csv(out_dir / "metrics.csv", index=False)

    metrics = pd.DataFrame(metric_rows)
    summary = {"dataset": dataset.name, "n": len(dataset),
               "targets": dataset.target_names, "folds": f["folds"],
               "seconds": time.perf_counter() - start, "models": {}}
    for name, group in metrics.groupby("model"):
        summary["models"][name] = {
            m: {"mean": float(group[m].mean()),
                "std": float(group[m].std(ddof=0))}  # population std, as PolyConFM
            for m in ("rmse", "mae", "r2")}
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2))
    predictions = pd.DataFrame(pred_rows)
    predictions.to_csv(out_dir / "predictions.csv", index=False)
    parity_plot(predictions, summary, out_dir / "parity.png")
    return summary


def _fit_fold(config, dataset, train_idx, val_idx, test_idx, fold_dir,
              model_file, featurizer, resume, callbacks) -> np.ndarray:
    o, f = config["optim"], config["finetune"]
    y_train = dataset.y[torch.as_tensor(train_idx)]
    mean = torch.nanmean(y_train, dim=0)
    std = torch.sqrt(torch.nanmean((y_train - mean) ** 2, dim=0)).clamp_min(1e-8)
    model_config = dict(config["model"],
                        num_targets=len(dataset.target_names))
    module = FinetuneModule(model_config, mean.tolist(), std.tolist(),
                            lr=o["lr"], weight_decay=o["weight_decay"],
                            warmup_ratio=o["warmup_ratio"], freeze=f["freeze"],
                            cutoff=config["data"]["cutoff"],
                            seed=config["seed"],
                            eval_conformers=f["eval_conformers"])
    if f["pretrained"]:
        module.load_pretrained(f["pretrained"])
    if resume and model_file.is_file() and (fold_dir / "done").is_file():
        return _predict_saved(module, model_file, dataset, test_idx, o)
    trainer = fit(module, config, dataset, train_idx, val_idx, fold_dir,
                  "val_mse", resume, callbacks)
    best = trainer.checkpoint_callback.best_model_path or str(
        fold_dir / "last.ckpt")
    module = FinetuneModule.load_from_checkpoint(best, map_location="cpu",
                                                 weights_only=False)
    if trainer.is_global_zero:
        save_fold_model(model_file, module.model, module.target_mean,
                        module.target_std, dataset.target_names, featurizer)
        (fold_dir / "done").write_text(best)
    return _predict(module, dataset, test_idx, o)


def _predict_saved(module, model_file, dataset, test_idx, o):
    blob = torch.load(model_file, map_location="cpu", weights_only=True)
    module.model.load_state_dict(blob["state_dict"])
    module.target_mean.copy_(blob["target_mean"])
    module.target_std.copy_(blob["target_std"])
    return _predict(module, dataset, test_idx, o)


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
