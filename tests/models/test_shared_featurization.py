"""Several predictors featurise new polymers once."""
from types import SimpleNamespace

import pytest
import torch

from mmpoly_geo.chem.descriptors import (
    MORGAN_BITS, descriptor_slice, descriptor_union, rdkit_descriptor_names)
from mmpoly_geo.data.featurize import PolymerFeaturizer
from mmpoly_geo.models.predictor import featurize_shared


def test_descriptor_union_and_slice():
    n = len(rdkit_descriptor_names())
    assert descriptor_union(["rdkit", "morgan"]) == "rdkit+morgan"
    assert descriptor_union(["none", "rdkit"]) == "rdkit"
    assert descriptor_union(["none"]) == "none"
    assert descriptor_slice("rdkit", "rdkit+morgan") == slice(0, n)
    assert descriptor_slice("morgan", "rdkit+morgan") == slice(n, n + MORGAN_BITS)
    assert descriptor_slice("morgan", "morgan") == slice(0, MORGAN_BITS)
    assert descriptor_slice("none", "rdkit") == slice(0, 0)
    with pytest.raises(ValueError, match="not part of"):
        descriptor_slice("morgan", "rdkit")
    with pytest.raises(ValueError, match="must be one of"):
        descriptor_union(["maccs"])


def test_featurize_shared_embeds_conformers_once():
    def model(descriptors, num_conformers=1):  # it needs only .featurizer
        return SimpleNamespace(featurizer=PolymerFeaturizer(
            num_conformers=num_conformers, descriptors=descriptors))

    predictors = [model(descriptors="rdkit+morgan"), model(descriptors="rdkit"),
                  model(descriptors="morgan"),
                  model(descriptors="rdkit", num_conformers=2)]
    inputs = ["*CC(*)c1ccccc1", "not a polymer"]
    both, rdkit, morgan, other = featurize_shared(predictors, inputs)
    # One featurisation for the first three: the same conformer tensors.
    assert rdkit[0][0].pos is both[0][0].pos
    assert morgan[0][0].pos is both[0][0].pos
    assert other[0][0].pos is not both[0][0].pos
    for result, kind in ((both, "rdkit+morgan"), (rdkit, "rdkit"),
                         (morgan, "morgan")):
        alone = PolymerFeaturizer(num_conformers=1,
                                  descriptors=kind)(inputs[0]).descriptors
        assert torch.equal(result[0][0].descriptors.nan_to_num(),
                           alone.nan_to_num())
        # The bad row keeps its place and reason for every predictor.
        assert result[1][0] is None and result[1][1]
    assert both[0][0].descriptors.shape[1] == (len(rdkit_descriptor_names())
                                               + MORGAN_BITS)
