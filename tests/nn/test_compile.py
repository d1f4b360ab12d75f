"""EquivariantEncoder.forward touches no Irreps objects, so torch.compile
can trace it whole (fullgraph=True)."""
import torch

from mmpoly_geo.nn import EquivariantEncoder


def test_fullgraph_compile_matches_eager(batch):
    torch.manual_seed(0)
    model = EquivariantEncoder(hidden_channels=8, vector_channels=2, lmax=1,
                               num_layers=1, cutoff=4.0)
    args = (batch.x, batch.pos, batch.radius_edge_index, batch.batch)
    ref = model(*args)
    out = torch.compile(model, fullgraph=True)(*args)
    for a, r in zip(out, ref):
        torch.testing.assert_close(a, r, atol=1e-5, rtol=1e-5)
