"""Models composed from :mod:`mmpoly_geo.nn` layers."""
from mmpoly_geo.models.mmpolymer import ENCODERS_3D, MODES, MMPolymer

__all__ = ["ENCODERS_3D", "MODES", "MMPolymer"]
