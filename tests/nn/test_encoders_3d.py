"""Symmetry, batching and gradient tests shared by all 3D encoders."""
import pytest
import torch
from e3nn import o3
from torch_geometric.loader import DataLoader

from mmpoly_geo.nn import DensePairEncoder, EquivariantEncoder, PaiNNEncoder

ENCODERS = {
    "equivariant": lambda: EquivariantEncoder(hidden_channels=16,
                                              vector_channels=4, lmax=2,
                                              num_layers=2, cutoff=4.0),
    "equivariant_l1": lambda: EquivariantEncoder(hidden_channels=16,
                                                 vector_channels=4, lmax=1,
                                                 num_layers=2, cutoff=4.0),
    "painn": lambda: PaiNNEncoder(hidden_channels=16, num_layers=2, cutoff=4.0),
    "dense": lambda: DensePairEncoder(hidden_channels=16, num_layers=2,
                                      num_heads=4, num_kernels=16),
}


def _run(model, batch, pos):
    return model(batch.x, pos, batch.radius_edge_index, batch.batch)


def _transforms(dtype):
    torch.manual_seed(0)
    rot = o3.rand_matrix(dtype=dtype)
    reflection = -torch.eye(3, dtype=dtype)
    mirror = torch.diag(torch.tensor([1.0, 1.0, -1.0], dtype=dtype))
    return {"rotation": rot, "inversion": reflection, "mirror": mirror,
            "rotoreflection": mirror @ rot}


@pytest.mark.parametrize("name", sorted(ENCODERS))
@pytest.mark.parametrize("dtype, tol", [(torch.float64, 1e-6),
                                        (torch.float32, 1e-4)])
def test_invariance_and_equivariance(name, dtype, tol, batch):
    torch.manual_seed(0)
    model = ENCODERS[name]().to(dtype).eval()
    pos = batch.pos.to(dtype)
    ref = _run(model, batch, pos)
    assert ref.vectors.abs().max() > 1e-3  # not trivially zero
    shift = torch.tensor([1.5, -2.0, 0.7], dtype=dtype)
    for kind, mat in _transforms(dtype).items():
        # The radius graph depends only on distances: same edges apply.
        out = _run(model, batch, pos @ mat.T + shift)
        scale = ref.node.abs().max()
        assert (out.node - ref.node).abs().max() <= tol * max(1.0, scale), kind
        assert (out.pooled - ref.pooled).abs().max() <= tol * max(1.0, scale)
        vscale = ref.vectors.abs().max()
        err = (out.vectors - ref.vectors @ mat.T).abs().max()
        assert err <= tol * max(1.0, vscale), (kind, err)


@pytest.mark.parametrize("name", sorted(ENCODERS))
def test_atom_permutation(name, polymers):
    torch.manual_seed(0)
    model = ENCODERS[name]().double().eval()
    data = polymers[1]
    perm = torch.randperm(data.num_nodes)
    inv = torch.empty_like(perm)
    inv[perm] = torch.arange(perm.numel())
    ref = model(data.x, data.pos.double(), data.radius_edge_index)
    out = model(data.x[perm], data.pos.double()[perm],
                inv[data.radius_edge_index])
    torch.testing.assert_close(out.node, ref.node[perm])
    torch.testing.assert_close(out.pooled, ref.pooled)
    torch.testing.assert_close(out.vectors, ref.vectors[perm])


@pytest.mark.parametrize("name", sorted(ENCODERS))
def test_batch_independence(name, polymers, batch):
    torch.manual_seed(0)
    model = ENCODERS[name]().double().eval()
    full = _run(model, batch, batch.pos.double())
    for i, data in enumerate(polymers):
        alone = model(data.x, data.pos.double(), data.radius_edge_index)
        mask = batch.batch == i
        torch.testing.assert_close(full.node[mask], alone.node)
        torch.testing.assert_close(full.pooled[i], alone.pooled[0])
        torch.testing.assert_close(full.vectors[mask], alone.vectors)
    # Same graph in another batch.
    other = next(iter(DataLoader([polymers[2], polymers[0]], batch_size=2)))
    mixed = _run(model, other, other.pos.double())
    torch.testing.assert_close(mixed.pooled[1], full.pooled[0])


@pytest.mark.parametrize("name", sorted(ENCODERS))
def test_gradients_reach_every_parameter(name, batch):
    torch.manual_seed(0)
    model = ENCODERS[name]()
    out = _run(model, batch, batch.pos)
    loss = out.node.pow(2).mean() + out.pooled.pow(2).mean() \
        + out.vectors.pow(2).mean()
    loss.backward()
    for pname, p in model.named_parameters():
        assert p.grad is not None, pname
        if "embedding" in pname or "atom_encoder" in pname or \
                "gaussian.mul" in pname or "gaussian.bias" in pname:
            continue  # embedding rows of absent categories get no gradient
        assert p.grad.abs().sum() > 0, pname


@pytest.mark.parametrize("name", sorted(ENCODERS))
def test_reset_parameters(name, batch):
    torch.manual_seed(0)
    model = ENCODERS[name]()
    before = [p.detach().clone() for p in model.parameters()]
    torch.manual_seed(1)
    model.reset_parameters()
    changed = sum(not torch.equal(a, p) for a, p in zip(before,
                                                        model.parameters()))
    assert changed >= len(before) // 2
    assert name.split("_")[0] in repr(model).lower() or "Encoder" in repr(model)


@pytest.mark.parametrize("name", sorted(ENCODERS))
def test_used_inside_user_module(name, batch):
    from mmpoly_geo.data import to_dense_tokens
    from mmpoly_geo.nn import (
        ContrastiveAlignment, CoordinateDenoisingHead, PropertyHead,
        SequenceEncoder)

    class MyModel(torch.nn.Module):
        """What a user might write: our layers inside their own module."""
        def __init__(self):
            super().__init__()
            self.atoms = ENCODERS[name]()
            self.tokens = SequenceEncoder(120, hidden_channels=16,
                                          num_layers=1, num_heads=2)
            self.align = ContrastiveAlignment(16, 16, proj_channels=8)
            self.denoise = CoordinateDenoisingHead()
            self.readout = PropertyHead(32, num_targets=1)

        def forward(self, data):
            enc = self.atoms(data.x, data.pos, data.radius_edge_index,
                             data.batch)
            _, pooled = self.tokens(*to_dense_tokens(data))
            align, _ = self.align(pooled, enc.pooled)
            recovered = self.denoise(data.pos, enc.vectors)
            pred = self.readout(torch.cat([pooled, enc.pooled], dim=-1))
            return pred, align, recovered

    torch.manual_seed(0)
    model = MyModel()
    pred, align, recovered = model(batch)
    assert pred.shape == (batch.num_graphs, 1)
    assert recovered.shape == batch.pos.shape
    (model.readout.loss(pred, batch.y) + align
     + model.denoise.loss(recovered, batch.pos)).backward()
    assert model.readout.mlp[1].weight.grad.abs().sum() > 0
    assert model.denoise.scale.grad is not None
