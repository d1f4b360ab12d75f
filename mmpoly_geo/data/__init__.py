"""Data: tokenizer, polymer ``Data``, radius graphs, transforms, datasets."""
from mmpoly_geo.data.dataset import PolymerDataset, PolymerRowsWarning
from mmpoly_geo.data.featurize import PolymerFeaturizer
from mmpoly_geo.data.on_disk import PolymerOnDiskDataset
from mmpoly_geo.data.polymer_data import PolymerData, to_dense_tokens
from mmpoly_geo.data.radius_graph import radius_graph
from mmpoly_geo.data.sharded_processing import prepare_on_dask
from mmpoly_geo.data.tokenizer import PSmilesTokenizer, build_vocab, tokenize
from mmpoly_geo.data.transforms import (
    SelectConformer, expand_conformers, use_conformer)

__all__ = [
    "PolymerData", "PolymerDataset", "PolymerFeaturizer",
    "PolymerOnDiskDataset", "PolymerRowsWarning",
    "PSmilesTokenizer", "SelectConformer", "build_vocab", "expand_conformers",
    "prepare_on_dask",
    "radius_graph", "to_dense_tokens", "tokenize", "use_conformer",
]
