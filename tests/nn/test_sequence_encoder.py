import pytest
import torch

from mmpoly_geo.data import PSmilesTokenizer, to_dense_tokens
from mmpoly_geo.nn import SequenceEncoder


@pytest.mark.parametrize("positional", ["learned", "sinusoidal"])
def test_padding_does_not_change_outputs(positional):
    torch.manual_seed(0)
    tok = PSmilesTokenizer()
    model = SequenceEncoder(len(tok), hidden_channels=32, num_layers=2,
                            num_heads=4, positional=positional).eval()
    ids = tok.encode("*CC(*)c1ccccc1")
    short = ids.unsqueeze(0)
    padded = torch.cat([ids, torch.zeros(7, dtype=torch.long)]).unsqueeze(0)
    a, pa = model(short)
    b, pb = model(padded)
    torch.testing.assert_close(a, b[:, :ids.numel()], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(pa, pb, atol=1e-5, rtol=1e-5)
    assert (b[:, ids.numel():] == 0).all()


def test_batch_of_polymers(batch):
    torch.manual_seed(0)
    model = SequenceEncoder(120, hidden_channels=32, num_layers=2,
                            num_heads=4).eval()
    tokens, mask = to_dense_tokens(batch)
    states, pooled = model(tokens, mask)
    assert states.shape == (*tokens.shape, 32) and pooled.shape == (4, 32)
    for i in range(batch.num_graphs):
        alone = batch.get_example(i).tokens.unsqueeze(0)
        s, p = model(alone)
        torch.testing.assert_close(p[0], pooled[i], atol=1e-5, rtol=1e-5)


def test_gradients_and_errors():
    model = SequenceEncoder(50, hidden_channels=16, num_layers=1, num_heads=2,
                            max_length=8)
    tokens = torch.randint(5, 50, (3, 6))
    tokens[:, 0] = 1
    states, pooled = model(tokens)
    (states.sum() + pooled.sum()).backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name
    with pytest.raises(ValueError, match="exceeds max_length"):
        model(torch.ones(1, 9, dtype=torch.long))
    with pytest.raises(ValueError, match="positional"):
        SequenceEncoder(10, positional="rotary")
    assert "SequenceEncoder(50" in repr(model)
