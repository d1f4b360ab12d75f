"""One-call prediction and embedding from Python:
``mmpoly_geo.predict(["*CC(*)C"], model="runs/eea")``.

Models are loaded once per process and reused (keyed by their path and file
times), so calling :func:`predict` in a loop costs only the prediction.
"""
from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Optional, Sequence, Union

import pandas as pd

from mmpoly_geo.models.predictor import Predictor, featurize_shared

ModelSpec = Union[str, os.PathLike, Predictor,
                  Sequence[Union[str, os.PathLike, Predictor]]]


def predict(psmiles: Union[str, Sequence[str]], model: ModelSpec = None,
            properties: Optional[Sequence[str]] = None,
            batch_size: int = 64) -> pd.DataFrame:
    r"""Predicts properties of polymers.

    Args:
        psmiles (str or list of str): P-SMILES strings.
        model: The output folder of ``mmpoly-geo finetune`` (or one fold
            file, or a loaded :class:`~mmpoly_geo.models.Predictor`), or a
            list of them (e.g. one run per property); :obj:`None` uses the
            models shipped with the package (``mmpoly-geo ship``; their
            cards: ``mmpoly_geo/models/shipped/README.md``).
        properties (list of str, optional): Only these targets (all when
            :obj:`None`); a name no model predicts is an error.
        batch_size (int, optional): Polymers per forward pass.
            (default: :obj:`64`)

    Returns:
        pandas.DataFrame: One row per input, in order: ``psmiles``,
        ``psmiles_canonical``, per property its value, ``<name>_std`` (its
        standard uncertainty) and ``<name>_ci95`` (the half-width of its 95 %
        interval), both calibrated on out-of-fold errors for shipped models
        and the raw spread over the fold models (and twice it) otherwise,
        ``nn_similarity`` (largest Tanimoto
        similarity to the model's training polymers; ``<name>_nn_similarity``
        per property when several models are given), and ``error`` (empty, or
        why that input could not be used; such rows are kept, never dropped).
    """
    return _run(psmiles, model, properties, batch_size)


def embed(psmiles: Union[str, Sequence[str]], model: ModelSpec = None,
          pretrained: Optional[str] = None,
          batch_size: int = 64) -> pd.DataFrame:
    r"""Fused vectors (``emb_0`` ... ``emb_D``, conformer 0, averaged over the
    fold models) of polymers, with ``psmiles`` and ``error`` columns as
    :func:`predict`.

    Args:
        model: One ``finetune`` run (vectors tuned to its property).
        pretrained (str, optional): Instead, a pretrained checkpoint (a
            ``pretrain`` output, or a shipped one by name): general-purpose
            vectors without fine-tuning. With neither, the shipped
            ``"default"`` checkpoint.
    """
    frame = embedding_model(model, pretrained).predict(
        _as_list(psmiles), batch_size=batch_size, embed=True)
    keep = ["psmiles", "psmiles_canonical", "error"]
    return frame[[c for c in frame.columns
                  if c in keep or c.startswith("emb_")]]


def embedding_model(model: ModelSpec = None,
                    pretrained: Optional[str] = None) -> Predictor:
    """The one model :func:`embed` uses (see there), loaded once per
    process."""
    if model is not None and pretrained is not None:
        raise ValueError("embed takes a model or a pretrained checkpoint, "
                         "not both")
    if model is None:
        return _pretrained(str(pretrained or "default"))
    predictors = load_models(model)
    if len(predictors) != 1:
        raise ValueError("embed takes one model (a finetune run folder)")
    return predictors[0]


def _run(psmiles, model, properties, batch_size):
    inputs = _as_list(psmiles)
    predictors = load_models(model, properties)
    names = [t for p in predictors for t in p.output_names]
    if properties is not None:
        unknown = sorted(set(properties) - set(names))
        if unknown:
            raise ValueError(f"no model predicts {unknown}; the models "
                             f"predict {names}")
    out = pd.DataFrame({"psmiles": inputs})
    errors = [""] * len(inputs)
    several = len(predictors) > 1
    predictors = [p for p in predictors
                  if properties is None or set(p.output_names) & set(properties)]
    for predictor, featurized in zip(predictors,
                                     featurize_shared(predictors, inputs)):
        wanted = [t for t in predictor.output_names
                  if properties is None or t in properties]
        frame = predictor.predict(inputs, batch_size=batch_size,
                                  featurized=featurized)
        if "psmiles_canonical" not in out and \
                "psmiles_canonical" in frame:
            out["psmiles_canonical"] = frame["psmiles_canonical"]
        for t in wanted:
            out[t] = frame.get(t)
            out[f"{t}_std"] = frame.get(f"{t}_std")
            out[f"{t}_ci95"] = frame.get(f"{t}_ci95")
            # Each model has its own training polymers.
            for column in ("nn_similarity", "low_similarity"):
                if column in frame:
                    out[f"{t}_{column}" if several
                        else column] = frame[column]
        errors = [e or f for e, f in zip(errors, frame["error"])]
    out["error"] = errors
    return out


def _as_list(psmiles):
    return [psmiles] if isinstance(psmiles, str) else list(psmiles)


def load_models(model: ModelSpec = None,
                properties: Optional[Sequence[str]] = None):
    """The :class:`~mmpoly_geo.models.Predictor` objects for :obj:`model`
    (see :func:`predict`), loaded once per process; the shipped ones (those
    named in :obj:`properties`, or all) when :obj:`model` is :obj:`None`."""
    if model is None:
        return _shipped(None if properties is None else tuple(properties))
    items = [model] if isinstance(model, (str, os.PathLike, Predictor)) \
        else list(model)
    out = []
    for item in items:
        if isinstance(item, Predictor):
            out.append(item)
            continue
        path = Path(item).resolve()
        if not path.exists():
            raise FileNotFoundError(f"model path not found: {item}")
        files = (sorted(path.glob("models/fold*.pt"))
                 + sorted(path.glob("member*.pt"))) if path.is_dir() \
            else [path]
        stamp = tuple(f.stat().st_mtime_ns for f in files)
        out.append(_load(str(path), stamp))
    return out


@lru_cache(maxsize=4)
def _pretrained(spec: str) -> Predictor:
    return Predictor.from_pretrained(spec)


@lru_cache(maxsize=4)
def _shipped(properties):
    return Predictor.shipped(properties)


@lru_cache(maxsize=16)
def _load(path: str, stamp: tuple) -> Predictor:
    """Loads a predictor once per (path, file times): a retrained run in the
    same folder is picked up, an unchanged one is reused."""
    return Predictor.load(path)
