"""Models composed from :mod:`mmpoly_geo.nn` layers, PyG baselines, and the
fold ensemble that predicts with trained models."""
from mmpoly_geo.models.baselines import (
    BASELINES, GINBaseline, SchNetBaseline, ViSNetBaseline, build_model)
from mmpoly_geo.models.mmpolymer import ENCODERS_3D, MODES, MMPolymer
from mmpoly_geo.models.predictor import Predictor

__all__ = ["BASELINES", "ENCODERS_3D", "GINBaseline", "MMPolymer", "MODES",
           "Predictor", "SchNetBaseline", "ViSNetBaseline", "build_model"]
