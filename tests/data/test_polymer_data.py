import warnings

import pytest
import torch
from torch_geometric.data import InMemoryDataset
from torch_geometric.loader import DataLoader

from mmpoly_geo.data import (
    PolymerData, PolymerFeaturizer, SelectConformer, expand_conformers,
    to_dense_tokens)

from ..conftest import MIXED


def test_fields(featurizer):
    data = featurizer("*CC(*)c1ccccc1", y=[1.5, float("nan")])
    assert isinstance(data, PolymerData)
    n = data.num_nodes
    assert n == 10 and data.x.shape == (n, 10) and data.z.tolist() == [6] * 10
    assert data.is_star.nonzero().view(-1).tolist() == [0, 3]
    assert data.x[:, -1].tolist() == data.is_star.long().tolist()
    assert data.pos_confs.shape == (n, 3, 3) and data.num_conformers == 3
    assert torch.equal(data.pos, data.pos_confs[:, 0])
    assert data.edge_index.shape == (2, 20) and data.edge_attr.shape == (20, 4)
    assert data.y.shape == (1, 2) and torch.isnan(data.y[0, 1])
    assert featurizer.tokenizer.decode(data.tokens) == data.psmiles
    assert data.num_tokens.item() == data.tokens.numel()
    d = (data.pos[data.radius_edge_index[0]]
         - data.pos[data.radius_edge_index[1]]).norm(dim=-1)
    assert d.max() < 5.0 and data.radius_cutoff.item() == 5.0


def test_input_writing_does_not_matter(featurizer):
    a = featurizer("*CC(*)c1ccccc1")
    b = featurizer("c1ccc(cc1)C(*)C*")
    assert a.psmiles == b.psmiles and a.key == b.key
    assert torch.equal(a.pos_confs, b.pos_confs)
    assert torch.equal(a.is_star, b.is_star)


def test_mixed_batch_round_trip(featurizer):
    items = [featurizer(s, y=[float(i)]) for i, s in enumerate(MIXED)]
    batch = next(iter(DataLoader(items, batch_size=len(items))))
    assert batch.num_graphs == len(MIXED)
    assert batch.y.view(-1).tolist() == list(range(len(MIXED)))
    tokens, mask = to_dense_tokens(batch)
    assert tokens.shape[0] == len(MIXED)
    for i, item in enumerate(items):
        assert torch.equal(tokens[i][mask[i]], item.tokens)
        assert (tokens[i][~mask[i]] == 0).all()
        back = batch.get_example(i)
        for key in ("x", "pos_confs", "edge_index", "radius_edge_index",
                    "unit", "is_star"):
            assert torch.equal(back[key], item[key]), key
        assert back.psmiles == item.psmiles
    # Edge indices point inside their own graph.
    for key in ("edge_index", "radius_edge_index"):
        e = batch[key]
        assert torch.equal(batch.batch[e[0]], batch.batch[e[1]])


def test_oligomer_and_hydrogens():
    f = PolymerFeaturizer(num_conformers=2, repeat_units=3, hydrogens=True)
    data = f("*CC(*)C")
    heavy = 3 * 3 + 2
    assert data.unit.max() == 2
    assert (data.z[:heavy] == 6).all() and (data.z[heavy:] == 1).all()
    assert data.num_nodes == heavy + 2 * heavy + 2  # C9H18 + 2 CH3 ends
    assert data.tokens.tolist() == f.tokenizer.encode("*CC(*)C").tolist()


def test_select_conformer(featurizer):
    data = featurizer("*Oc1ccc(CC(*)=O)cc1")
    second = SelectConformer(1)(data)
    assert torch.equal(second.pos, data.pos_confs[:, 1])
    assert torch.equal(data.pos, data.pos_confs[:, 0])  # input untouched
    torch.manual_seed(0)
    picks = {int((SelectConformer()(data).pos == data.pos_confs[:, 1]).all())
             for _ in range(20)}
    assert picks == {0, 1}
    views = expand_conformers(data, cutoff=3.0)
    assert len(views) == 3
    for k, v in enumerate(views):
        d = (v.pos[v.radius_edge_index[0]] - v.pos[v.radius_edge_index[1]])
        assert d.norm(dim=-1).max() < 3.0
        assert torch.equal(v.pos, data.pos_confs[:, k])
    with pytest.raises(IndexError, match="3 conformers"):
        SelectConformer(5)(data)


def test_save_load_without_warnings(tmp_path, featurizer):
    items = [featurizer(s) for s in MIXED[:3]]
    path = tmp_path / "d.pt"
    InMemoryDataset.save(items, str(path))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out, slices, cls = torch.load(path, weights_only=True)
    assert cls is PolymerData


def test_star_handling_modes():
    keep = PolymerFeaturizer(num_conformers=1, stars="keep")("*CC(*)c1ccccc1")
    assert keep.num_nodes == 10 and keep.z[keep.is_star].tolist() == [0, 0]
    removed = PolymerFeaturizer(num_conformers=1, stars="remove")(
        "*CC(*)c1ccccc1")
    assert removed.num_nodes == 8 and not removed.is_star.any()
    assert removed.unit.shape == (8,)
    assert removed.tokens.tolist() == keep.tokens.tolist()  # 1D unchanged
    with pytest.raises(ValueError, match="stars must be one of"):
        PolymerFeaturizer(stars="drop")


def test_periodic_bond_and_descriptors():
    from mmpoly_geo.chem.descriptors import (
        MORGAN_BITS, morgan_counts, rdkit_descriptor_names)

    for stars, expected in (("substitute", [[1, 7], [7, 1]]),
                            ("keep", [[1, 7], [7, 1]]),
                            ("remove", [[0, 6], [6, 0]])):
        data = PolymerFeaturizer(num_conformers=1, stars=stars)(
            "*Oc1ccc(CC(*)=O)cc1")
        # The O and the carbonyl C that the stars were bonded to.
        assert data.periodic_edge_index.tolist() == expected, stars
        i, j = data.periodic_edge_index[:, 0].tolist()
        assert (data.z[i], data.z[j]) == (8, 6)
        assert data.periodic_edge_attr.tolist() == [[0, 0, 0, 0]] * 2
    # Both stars on one atom: no self-loop.
    assert PolymerFeaturizer(num_conformers=1)("*C*").periodic_edge_index \
        .shape == (2, 0)
    data = PolymerFeaturizer(num_conformers=1)("*CC(*)c1ccccc1")
    names = rdkit_descriptor_names()
    assert data.descriptors.shape == (1, len(names) + MORGAN_BITS)
    # Star-substituted unit: RDKit computes every descriptor.
    assert not data.descriptors[0, :len(names)].isnan().any()
    # The Morgan part equals the random-forest baseline's features.
    assert data.descriptors[0, len(names):].tolist() == morgan_counts(
        data.psmiles).tolist()
    assert PolymerFeaturizer(num_conformers=1, descriptors="none")(
        "*CC(*)C").descriptors.shape == (1, 0)
    with pytest.raises(ValueError, match="descriptors"):
        PolymerFeaturizer(descriptors="maccs")
