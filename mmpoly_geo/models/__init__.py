"""Models composed from :mod:`mmpoly_geo.nn` layers, and PyG baselines."""
from mmpoly_geo.models.baselines import (
    BASELINES, GINBaseline, SchNetBaseline, ViSNetBaseline, build_model)
from mmpoly_geo.models.mmpolymer import ENCODERS_3D, MODES, MMPolymer

__all__ = ["BASELINES", "ENCODERS_3D", "GINBaseline", "MMPolymer", "MODES",
           "SchNetBaseline", "ViSNetBaseline", "build_model"]
