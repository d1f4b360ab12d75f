"""Bond-typed radius edges and the 3D encoder that reads them."""
import torch
from e3nn import o3

from mmpoly_geo.nn import NUM_EDGE_TYPES, EquivariantEncoder, typed_edges
from mmpoly_geo.nn.typed_edges import NUM_BOND_TYPES


def test_radius_edges_get_their_bond_type():
    radius = torch.tensor([[1, 0, 2, 1, 2, 0], [0, 1, 1, 2, 0, 2]])
    bonds = torch.tensor([[0, 1, 1, 2], [1, 0, 2, 1]])
    bond_type = torch.tensor([0, 0, 1, 1])  # 0-1 single, 1-2 double
    edges, types = typed_edges(radius, bonds, bond_type, 3)
    assert torch.equal(edges, radius)  # every bond is a radius edge already
    got = {(int(s), int(d)): int(t) for (s, d), t in zip(edges.T, types)}
    assert got == {(1, 0): 1, (0, 1): 1, (2, 1): 2, (1, 2): 2,
                   (2, 0): 0, (0, 2): 0}


def test_long_bonds_and_periodic_bonds_are_added():
    radius = torch.tensor([[1, 0], [0, 1]])
    bonds = torch.tensor([[0, 1, 1, 2], [1, 0, 2, 1]])  # 1-2 beyond cutoff
    bond_type = torch.tensor([3, 3, 0, 0])
    periodic = torch.tensor([[0, 2], [2, 0]])
    edges, types = typed_edges(radius, bonds, bond_type, 3, periodic,
                               torch.tensor([1, 1]))
    assert edges.tolist() == [[1, 0, 1, 2, 0, 2], [0, 1, 2, 1, 2, 0]]
    p = 1 + NUM_BOND_TYPES + 1
    assert types.tolist() == [4, 4, 1, 1, p, p]
    assert int(types.max()) < NUM_EDGE_TYPES


def test_parallel_periodic_edge_is_kept():
    radius = torch.tensor([[1, 0], [0, 1]])
    bonds = radius.clone()
    edges, types = typed_edges(radius, bonds, torch.tensor([0, 0]), 2,
                               radius.clone(), torch.tensor([0, 0]))
    assert edges.size(1) == 4
    assert types.tolist() == [1, 1, 1 + NUM_BOND_TYPES, 1 + NUM_BOND_TYPES]


def test_no_bonds():
    radius = torch.tensor([[1, 0], [0, 1]])
    edges, types = typed_edges(radius, torch.zeros(2, 0, dtype=torch.long),
                               torch.zeros(0, dtype=torch.long), 2)
    assert torch.equal(edges, radius) and types.tolist() == [0, 0]


def test_encoder_with_bond_types_is_invariant_and_uses_them(batch):
    torch.manual_seed(0)
    model = EquivariantEncoder(hidden_channels=16, vector_channels=4,
                               num_layers=2, cutoff=4.0,
                               num_edge_types=NUM_EDGE_TYPES,
                               pooling="attention").double().eval()
    edges, types = typed_edges(batch.radius_edge_index, batch.edge_index,
                               batch.edge_attr[:, 0], batch.num_nodes,
                               batch.periodic_edge_index,
                               batch.periodic_edge_attr[:, 0])
    pos = batch.pos.double()
    ref = model(batch.x, pos, edges, batch.batch, edge_type=types)
    rot = o3.rand_matrix(dtype=torch.float64)
    out = model(batch.x, pos @ rot.T + 1.0, edges, batch.batch,
                edge_type=types)
    assert (out.pooled - ref.pooled).abs().max() < 1e-8
    assert (out.vectors - ref.vectors @ rot.T).abs().max() < 1e-8
    # Bond types are information: calling every edge "not bonded" changes
    # the output.
    blind = model(batch.x, pos, edges, batch.batch,
                  edge_type=torch.zeros_like(types))
    assert (blind.pooled - ref.pooled).abs().max() > 1e-4


def test_encoder_rejects_missing_or_unexpected_edge_types(batch):
    import pytest

    typed = EquivariantEncoder(hidden_channels=8, vector_channels=2,
                               num_layers=1, num_edge_types=NUM_EDGE_TYPES)
    with pytest.raises(ValueError, match="edge_type"):
        typed(batch.x, batch.pos, batch.radius_edge_index, batch.batch)
    plain = EquivariantEncoder(hidden_channels=8, vector_channels=2,
                               num_layers=1)
    with pytest.raises(ValueError, match="edge_type"):
        plain(batch.x, batch.pos, batch.radius_edge_index, batch.batch,
              edge_type=torch.zeros(batch.radius_edge_index.size(1),
                                    dtype=torch.long))
