import pytest
import torch

from mmpoly_geo.data import radius_graph


def _reference(pos, r, batch):
    d = torch.cdist(pos, pos)
    mask = (d < r) & (batch[:, None] == batch[None, :])
    mask.fill_diagonal_(False)
    tgt, src = mask.nonzero().t()
    return {(int(s), int(t)) for s, t in zip(src, tgt)}


def test_matches_brute_force():
    torch.manual_seed(0)
    pos = torch.randn(60, 3) * 3
    batch = torch.tensor([0] * 15 + [1] * 25 + [2] * 20)
    edges = radius_graph(pos, 2.5, batch)
    assert {tuple(e) for e in edges.t().tolist()} == _reference(pos, 2.5, batch)
    # Sorted by target; no cross-graph edges.
    assert torch.all(edges[1][1:] >= edges[1][:-1])
    assert torch.equal(batch[edges[0]], batch[edges[1]])


def test_loop_and_cap():
    torch.manual_seed(1)
    pos = torch.randn(30, 3)
    full = radius_graph(pos, 10.0)
    assert full.size(1) == 30 * 29
    looped = radius_graph(pos, 10.0, loop=True)
    assert looped.size(1) == 30 * 30
    capped = radius_graph(pos, 10.0, max_num_neighbors=4)
    assert torch.bincount(capped[1]).tolist() == [4] * 30
    # The kept neighbours are the nearest ones.
    d = torch.cdist(pos, pos).fill_diagonal_(float("inf"))
    nearest = d.topk(4, largest=False).indices
    for i in range(30):
        assert set(capped[0][capped[1] == i].tolist()) == set(nearest[i].tolist())


def test_empty_and_errors():
    assert radius_graph(torch.zeros(0, 3), 1.0).shape == (2, 0)
    import pytest
    with pytest.raises(ValueError, match="shape"):
        radius_graph(torch.zeros(4, 2), 1.0)
    with pytest.raises(ValueError, match="positive"):
        radius_graph(torch.zeros(4, 3), 0.0)


@pytest.mark.parametrize("cap", [None, 3])
def test_device_path_equals_vesin(monkeypatch, cap):
    """The blockwise dense search used for GPU tensors gives the same edges
    in the same order (run here on the CPU, with tiny blocks)."""
    import importlib
    module = importlib.import_module("mmpoly_geo.data.radius_graph")

    monkeypatch.setattr(module, "DENSE_BLOCK", 200)  # several blocks
    torch.manual_seed(2)
    pos = torch.randn(70, 3) * 2
    batch = torch.tensor([0] * 5 + [1] * 30 + [2] * 1 + [3] * 34)
    for loop in (False, True):
        ref = module._vesin_radius_graph(pos, 2.0, batch, loop, cap)
        got = module.dense_radius_graph(pos, 2.0, batch, loop, cap)
        assert torch.equal(got, ref), (loop, cap)
    assert module.dense_radius_graph(torch.zeros(0, 3), 1.0).shape == (2, 0)
