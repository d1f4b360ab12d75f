"""Saved fold models and the ensemble that predicts new polymers. Needs no
training stack (Lightning is not imported), so prediction starts fast."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Union

import numpy as np
import pandas as pd
import torch
from torch import Tensor
from torch_geometric.data import Batch

from mmpoly_geo.atomic import atomic_torch_save
from mmpoly_geo.chem.errors import row_failure_reason
from mmpoly_geo.chem.similarity import nearest_neighbour_similarity
from mmpoly_geo.data.featurize import PolymerFeaturizer
from mmpoly_geo.data.transforms import use_conformer
from mmpoly_geo.models.baselines import build_model
from mmpoly_geo.models.mmpolymer import MMPolymer, read_checkpoint

# /2: models of MMPolymer checkpoint format /3.
FOLD_FORMAT = "mmpoly_geo.FoldModel/2"


@torch.no_grad()
def predict_conformer_average(model: MMPolymer, batch, mean: Tensor,
                              std: Tensor, cutoff: float,
                              num_conformers: Optional[int] = None) -> Tensor:
    """Predictions in target units, averaged over the first
    :obj:`num_conformers` stored conformers (all if :obj:`None`; models that
    use no coordinates need one pass). Shape :math:`[B, T]`."""
    if model.mode in ("1d", "2d"):  # no coordinates used
        return model(batch)["pred"] * std + mean
    preds = []
    total = batch.pos_confs.size(1)
    for k in range(min(total, num_conformers or total)):
        use_conformer(batch, k, cutoff)
        preds.append(model(batch)["pred"])
    return torch.stack(preds).mean(0) * std + mean


def save_fold_model(path: Path, model, target_mean, target_std,
                    target_names: Sequence[str], featurizer: Dict[str, Any],
                    train_psmiles: Optional[Sequence[str]] = None):
    """Writes one fine-tuned model with what prediction needs (targets'
    standardisation and names, featurizer settings) and the canonical
    P-SMILES it learned from (for the applicability domain)."""
    atomic_torch_save({
        "format": FOLD_FORMAT, "config": model.config(),
        "state_dict": model.state_dict(),
        "target_mean": torch.as_tensor(target_mean).float().cpu(),
        "target_std": torch.as_tensor(target_std).float().cpu(),
        "target_names": list(target_names),
        "featurizer": dict(featurizer),
        "train_psmiles": list(train_psmiles or [])}, path)


def _load_fold(path: Path) -> Dict[str, Any]:
    blob = read_checkpoint(path, FOLD_FORMAT, "model file",
                           "a fine-tuned mmpoly_geo model")
    model = build_model(blob["config"])
    model.load_state_dict(blob["state_dict"])
    blob["model"] = model.eval()
    return blob


class Predictor:
    r"""The fold ensemble of a ``finetune`` run: predicts the mean over the
    fold models (each averaged over conformers) and their standard deviation
    as an uncertainty.

    .. code-block:: python

        predictor = Predictor.load("runs/eea")
        frame = predictor.predict(["*CC(*)C"])
    """
    def __init__(self, folds: List[Dict[str, Any]]):
        if not folds:
            raise ValueError("no fold models given")
        self.folds = folds
        self.target_names = folds[0]["target_names"]
        settings = folds[0]["featurizer"]
        self.featurizer = PolymerFeaturizer(**settings)
        #: Canonical P-SMILES the fold models learned from (empty for model
        #: files that do not record them).
        self.train_psmiles = sorted({s for fold in folds
                                     for s in fold.get("train_psmiles", [])})

    @classmethod
    def load(cls, path: Union[str, Path]) -> "Predictor":
        """From a run folder (its ``models/fold*.pt``) or one model file."""
        path = Path(path)
        if path.is_dir():
            files = sorted((path / "models").glob("fold*.pt")) or sorted(
                path.glob("fold*.pt"))
            if not files:
                raise FileNotFoundError(
                    f"no fold models (models/fold*.pt) in {path}; is it the "
                    f"output folder of 'mmpoly-geo finetune'?")
        elif path.is_file():
            files = [path]
        else:
            raise FileNotFoundError(f"model path not found: {path}")
        return cls([_load_fold(f) for f in files])

    @torch.no_grad()
    def predict(self, psmiles: Sequence[str], batch_size: int = 64,
                embed: bool = False) -> pd.DataFrame:
        """Returns one row per input: ``psmiles``, for each target its mean and
        ``<target>_std`` over folds, and ``error`` (empty, or why the input
        could not be used). With :obj:`embed`, also ``emb_0..emb_D`` (the
        fused vector of conformer 0, averaged over folds), and
        ``nn_similarity``: the largest Tanimoto similarity (Morgan bits) of
        the polymer to the ones the models learned from (``NaN`` when the
        model files do not record them). One input that fails, for whatever
        reason, never stops the others: its row keeps its place with the
        reason in ``error``."""
        rows = [{"psmiles": s, "error": ""} for s in psmiles]
        good, data = [], []
        for i, s in enumerate(psmiles):
            try:
                data.append(self.featurizer(s))
                good.append(i)
            except Exception as exc:
                rows[i]["error"] = row_failure_reason(exc)
        for start in range(0, len(data), batch_size):
            chunk = data[start:start + batch_size]
            idx = good[start:start + batch_size]
            try:
                self._fill(rows, idx, chunk, embed)
            except Exception:  # find the failing input(s) one by one
                for i, item in zip(idx, chunk):
                    try:
                        self._fill(rows, [i], [item], embed)
                    except Exception as exc:
                        rows[i]["error"] = row_failure_reason(exc)
        return pd.DataFrame(rows)

    def _fill(self, rows, idx, chunk, embed):
        """Predicts one batch and writes the values into :obj:`rows`."""
        per_fold, emb = [], []
        for fold in self.folds:
            batch = Batch.from_data_list(chunk)
            per_fold.append(predict_conformer_average(
                fold["model"], batch, fold["target_mean"],
                fold["target_std"], self.featurizer.cutoff).numpy())
            if embed:
                emb.append(fold["model"](Batch.from_data_list(chunk))[
                    "fused"].numpy())
        stacked = np.stack(per_fold)
        mean, std = stacked.mean(0), stacked.std(0)
        similarity = nearest_neighbour_similarity(
            [d.psmiles for d in chunk], self.train_psmiles)
        for j, i in enumerate(idx):
            rows[i]["psmiles_canonical"] = chunk[j].psmiles
            rows[i]["nn_similarity"] = float(similarity[j])
            for t, name in enumerate(self.target_names):
                rows[i][name] = float(mean[j, t])
                rows[i][f"{name}_std"] = float(std[j, t])
            if embed:
                vec = np.stack(emb).mean(0)[j]
                for d, v in enumerate(vec):
                    rows[i][f"emb_{d}"] = float(v)
