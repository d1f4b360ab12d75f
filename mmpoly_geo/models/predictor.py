"""Saved fold models and the ensemble that predicts new polymers. Needs no
training stack (Lightning is not imported), so prediction starts fast."""
from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import pandas as pd
import torch
from torch import Tensor
from torch_geometric.data import Batch

from mmpoly_geo.atomic import atomic_torch_save
from mmpoly_geo.chem.descriptors import descriptor_slice, descriptor_union
from mmpoly_geo.chem.errors import row_failure_reason
from mmpoly_geo.chem.similarity import (
    morgan_bits, nearest_neighbour_similarity)
from mmpoly_geo.data.featurize import PolymerFeaturizer
from mmpoly_geo.data.shipped import BENCHMARKS
from mmpoly_geo.data.transforms import use_conformer
from mmpoly_geo.models.baselines import build_model
from mmpoly_geo.models.calibration import IDENTITY, uncertainty
from mmpoly_geo.models.pretrained import pretrained_card, resolve_pretrained
from mmpoly_geo.models.mmpolymer import (
    PRETRAINING_HEADS, MMPolymer, read_checkpoint)

# /2: models of MMPolymer checkpoint format /3.
FOLD_FORMAT = "mmpoly_geo.FoldModel/2"
#: The model card of a shipped model folder.
CARD = "card.json"
#: Where the package's shipped property models live, one folder each.
SHIPPED_DIR = Path(__file__).resolve().parent / "shipped"


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
                    train_psmiles: Optional[Sequence[str]] = None,
                    half: bool = False):
    """Writes one fine-tuned model with what prediction needs (targets'
    standardisation and names, featurizer settings) and the canonical
    P-SMILES it learned from (for the applicability domain). Pretraining
    heads and the modules the model's mode never calls are left out
    (:func:`left_out`); :obj:`half` stores floating-point weights as float16
    (half the size, for shipped models; predictions change in the 4th
    significant digit)."""
    state = {k: (v.half() if half and v.is_floating_point() else v)
             for k, v in model.state_dict().items()
             if not k.startswith(left_out(model))}
    atomic_torch_save({
        "format": FOLD_FORMAT, "config": model.config(),
        "state_dict": state,
        "target_mean": torch.as_tensor(target_mean).float().cpu(),
        "target_std": torch.as_tensor(target_std).float().cpu(),
        "target_names": list(target_names),
        "featurizer": dict(featurizer),
        "train_psmiles": list(train_psmiles or [])}, path)


def left_out(model: torch.nn.Module) -> Tuple[str, ...]:
    """Prefixes of the weights fold files leave out: the pretraining heads
    and the modules the model's mode never calls
    (:attr:`MMPolymer.unused_modules`)."""
    return tuple(name + "." for name in PRETRAINING_HEADS
                 + tuple(getattr(model, "unused_modules", ())))


def load_weights(model: torch.nn.Module, state_dict: Dict[str, Tensor]):
    """Loads a fold file's weights (float16 ones are cast back); only those
    fold files leave out (:func:`left_out`) may be missing, and those an
    older file holds are not loaded (the model may be built without them)."""
    skip = left_out(model)
    missing, unexpected = model.load_state_dict(
        {k: v for k, v in state_dict.items() if not k.startswith(skip)},
        strict=False)
    missing = [k for k in missing if not k.startswith(skip)]
    if missing or unexpected:
        raise ValueError(f"the weights do not fit the model: missing "
                         f"{missing[:5]}, unexpected {unexpected[:5]}")


class SharedArchitectureModel(torch.nn.Module):
    """One model's weights on a module shared by every model of the same
    architecture: an ensemble builds its e3nn layers (code generation,
    ~0.5 s a model) once, not once per member. The weights are loaded into
    the shared module (:func:`load_weights`, which also checks that they
    fit) when it is made and whenever another member used the module last:
    a copy per switch of member, not per call. Behaves like the model in
    evaluation mode."""

    def __init__(self, template: MMPolymer, state: Dict[str, Tensor]):
        super().__init__()
        self.template = [template]  # a list: not registered as a submodule
        self.state = state
        self.mode = template.mode
        self._activate()

    def _activate(self):
        template = self.template[0]
        if getattr(template, "_loaded_state", None) is not self.state:
            load_weights(template, self.state)
            template._loaded_state = self.state

    @torch.no_grad()
    def forward(self, *args, **kwargs):
        self._activate()
        return self.template[0](*args, **kwargs)


def load_fold_model(path: Path, templates: Dict[str, Any]) -> Dict[str, Any]:
    """Reads a fold file; its model runs on the module in :obj:`templates`
    (a dict shared over calls) built for its architecture, built here when
    there is none yet (:class:`SharedArchitectureModel`)."""
    blob = read_checkpoint(path, FOLD_FORMAT, "model file",
                           "a fine-tuned mmpoly_geo model")
    key = json.dumps(blob["config"], sort_keys=True, default=str)
    if key not in templates:
        # Without the encoders the file leaves out (quicker to build).
        templates[key] = build_model(dict(blob["config"],
                                          build_unused=False)).eval()
    blob["model"] = SharedArchitectureModel(templates[key],
                                            blob["state_dict"])
    return blob


class Predictor:
    r"""The fold ensemble of a ``finetune`` run: predicts the mean over the
    fold models (each averaged over conformers) and their standard deviation
    as an uncertainty.

    .. code-block:: python

        predictor = Predictor.load("runs/eea")
        frame = predictor.predict(["*CC(*)C"])
    """
    def __init__(self, folds: List[Dict[str, Any]],
                 card: Optional[Dict[str, Any]] = None):
        if not folds:
            raise ValueError("no fold models given")
        self.folds = folds
        #: The model card of a shipped model (None for a finetune run).
        self.card = card
        #: How the spread over the models becomes an uncertainty and a 95 %
        #: interval (:func:`~mmpoly_geo.models.calibration.fit_calibration`,
        #: from a shipped model's card; otherwise the raw spread and twice
        #: it, uncalibrated).
        self.calibration = dict((card or {}).get("calibration") or IDENTITY)
        #: Below this nearest-neighbour similarity the out-of-fold errors were
        #: clearly larger (a shipped model's card; None otherwise): such
        #: predictions get ``low_similarity`` = True.
        self.similarity_threshold = (card or {}).get("similarity_threshold")
        self.target_names = folds[0]["target_names"]
        #: Output column names: the targets, or a shipped model's name.
        self.output_names = ([card["name"]] if card and
                             len(self.target_names) == 1
                             else list(self.target_names))
        settings = folds[0]["featurizer"]
        self.featurizer = PolymerFeaturizer(**settings)
        #: Canonical P-SMILES the fold models learned from (empty for model
        #: files that do not record them).
        self.train_psmiles = sorted({s for fold in folds
                                     for s in fold.get("train_psmiles", [])})
        self._train_fingerprints = None

    @classmethod
    def load(cls, path: Union[str, Path],
             templates: Optional[Dict[str, Any]] = None) -> "Predictor":
        """From a run folder (its ``models/fold*.pt``), a shipped model
        folder (``member*.pt`` and ``card.json``, see ``mmpoly-geo ship``) or
        one model file. :obj:`templates`: see :func:`load_fold_model` (models
        of one folder always share them)."""
        path = Path(path)
        card = None
        if path.is_dir():
            files = (sorted((path / "models").glob("fold*.pt"))
                     or sorted(path.glob("fold*.pt"))
                     or sorted(path.glob("member*.pt")))
            if not files:
                raise FileNotFoundError(
                    f"no fold models (models/fold*.pt) in {path}; is it the "
                    f"output folder of 'mmpoly-geo finetune'?")
            if (path / CARD).is_file():
                card = json.loads((path / CARD).read_text(encoding="utf-8"))
        elif path.is_file():
            files = [path]
        else:
            raise FileNotFoundError(f"model path not found: {path}")
        templates = {} if templates is None else templates
        return cls([load_fold_model(f, templates) for f in files], card)

    @classmethod
    def from_pretrained(cls, spec: Union[str, Path]) -> "Predictor":
        """A pretrained checkpoint (a ``pretrain`` output, or a shipped one
        by name, e.g. ``"default"``) for :meth:`predict` with ``embed=True``:
        fused vectors without any fine-tuning (it predicts no property). Its
        featurizer settings come from the checkpoint's card."""
        path = resolve_pretrained(spec)
        model = MMPolymer.load(path).eval()
        width = int(model.config()["num_targets"])
        fold = {"model": model, "config": model.config(),
                "target_mean": torch.zeros(width),
                "target_std": torch.ones(width), "target_names": [],
                "featurizer": pretrained_card(path).get("featurizer", {}),
                "train_psmiles": []}
        return cls([fold])

    @classmethod
    def shipped(cls, properties: Optional[Sequence[str]] = None
                ) -> List["Predictor"]:
        """The property models shipped with the package (all, or those
        named), each a :class:`Predictor` with its :attr:`card`.

        Raises:
            FileNotFoundError: none ships, or a named one does not.
        """
        found = {p.name: p for p in sorted(SHIPPED_DIR.glob("*"))
                 if (p / CARD).is_file()}
        if not found:
            raise FileNotFoundError(
                "no property models ship with this version of mmpoly_geo "
                "yet; pass --model (model=) the output folder of "
                "'mmpoly-geo finetune', or train and install one with "
                "'mmpoly-geo ship --name Eea --out runs/ship/Eea --install'")
        # The benchmark order (the paper's), then any others by name.
        order = list(BENCHMARKS) + sorted(set(found) - set(BENCHMARKS))
        names = ([n for n in order if n in found] if properties is None
                 else list(properties))
        unknown = [n for n in names if n not in found]
        if unknown:
            raise FileNotFoundError(f"no shipped model for {unknown}; "
                                    f"shipped: {sorted(found)}")
        templates = {}  # the shipped models share one architecture
        return [cls.load(found[n], templates) for n in names]

    def featurize(self, psmiles: Sequence[str]) -> List[Tuple[Any, str]]:
        """Per input, ``(PolymerData, "")`` or ``(None, reason)``; pass it to
        :meth:`predict` of every predictor with the same featurizer settings
        to featurize once (several predictors: :func:`featurize_shared`)."""
        return _featurize(self.featurizer, psmiles)

    @torch.no_grad()
    def predict(self, psmiles: Sequence[str], batch_size: int = 64,
                embed: bool = False,
                featurized: Optional[List[Tuple[Any, str]]] = None
                ) -> pd.DataFrame:
        """Returns one row per input: ``psmiles``, for each target its mean and
        ``<target>_std`` and ``<target>_ci95`` (the half-width of a 95 %
        interval) from the spread over the models (calibrated for a shipped
        model, see :attr:`calibration`), and ``error`` (empty, or why the input
        could not be used). With :obj:`embed`, also ``emb_0..emb_D`` (the
        fused vector of conformer 0, averaged over the folds' models of the
        first model's architecture: with ``finetune.members``, the first
        member's), and
        ``nn_similarity``: the largest Tanimoto similarity (Morgan bits) of
        the polymer to the ones the models learned from (``NaN`` when the
        model files do not record them). One input that fails, for whatever
        reason, never stops the others: its row keeps its place with the
        reason in ``error``. :obj:`featurized`: the inputs' :meth:`featurize`
        output, when already computed."""
        if featurized is None:
            featurized = self.featurize(psmiles)
        rows = [{"psmiles": s, "error": error}
                for s, (_, error) in zip(psmiles, featurized)]
        good = [i for i, (item, _) in enumerate(featurized) if item is not None]
        data = [featurized[i][0] for i in good]
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
            # Vectors of different architectures (finetune.members) do not
            # mix: those of the first model's architecture are averaged.
            if embed and fold["config"] == self.folds[0]["config"]:
                emb.append(fold["model"](Batch.from_data_list(chunk))[
                    "fused"].numpy())
        stacked = np.stack(per_fold)
        mean, spread = stacked.mean(0), stacked.std(0)
        std = uncertainty(spread, self.calibration, 1)
        half = uncertainty(spread, self.calibration, 2)
        vectors = np.stack(emb).mean(0) if embed else None
        if self._train_fingerprints is None:  # once per predictor
            self._train_fingerprints = morgan_bits(self.train_psmiles)
        similarity = nearest_neighbour_similarity(
            [d.psmiles for d in chunk], self._train_fingerprints)
        for j, i in enumerate(idx):
            rows[i]["psmiles_canonical"] = chunk[j].psmiles
            rows[i]["nn_similarity"] = float(similarity[j])
            if self.similarity_threshold is not None:
                rows[i]["low_similarity"] = bool(
                    similarity[j] < self.similarity_threshold)
            for t, name in enumerate(self.output_names):
                rows[i][name] = float(mean[j, t])
                rows[i][f"{name}_std"] = float(std[j, t])
                rows[i][f"{name}_ci95"] = float(half[j, t])
            if embed:
                for d, v in enumerate(vectors[j]):
                    rows[i][f"emb_{d}"] = float(v)


def featurize_shared(predictors: Sequence[Predictor], psmiles: Sequence[str]
                     ) -> List[List[Tuple[Any, str]]]:
    """The inputs' :meth:`Predictor.featurize` output for each predictor,
    computed once for all predictors whose featurizer settings differ at most
    in the descriptor set (conformer embedding is most of the cost): with the
    union of their sets, each predictor then seeing its own columns."""
    groups: Dict[str, List[int]] = {}
    for i, predictor in enumerate(predictors):
        settings = predictor.featurizer.config()
        settings.pop("descriptors")
        groups.setdefault(json.dumps(settings, sort_keys=True), []).append(i)
    out: List[List[Tuple[Any, str]]] = [[] for _ in predictors]
    for members in groups.values():
        kinds = [predictors[i].featurizer.descriptors for i in members]
        union = descriptor_union(kinds)
        featurizer = next(
            (predictors[i].featurizer for i in members
             if predictors[i].featurizer.descriptors == union), None)
        if featurizer is None:
            featurizer = PolymerFeaturizer(**dict(
                predictors[members[0]].featurizer.model_settings(),
                descriptors=union))
        shared = _featurize(featurizer, psmiles)
        for i, kind in zip(members, kinds):
            out[i] = shared if kind == union else [
                (None if item is None else
                 _with_descriptors(item, descriptor_slice(kind, union)), error)
                for item, error in shared]
    return out


def _featurize(featurizer: PolymerFeaturizer, psmiles: Sequence[str]
               ) -> List[Tuple[Any, str]]:
    out = []
    for s in psmiles:
        try:
            out.append((featurizer(s), ""))
        except Exception as exc:
            out.append((None, row_failure_reason(exc)))
    return out


def _with_descriptors(item, columns: slice):
    """A shallow copy of :obj:`item` keeping only those descriptor columns."""
    item = copy.copy(item)
    item.descriptors = item.descriptors[:, columns]
    return item
