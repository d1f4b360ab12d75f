import math

import pytest
import torch
from e3nn import o3

from mmpoly_geo.nn import (
    IGNORE_INDEX, AtomTypeHead, ContrastiveAlignment, CoordinateDenoisingHead,
    MaskedTokenHead, PropertyHead)


def test_masked_token_loss_ignores_unmasked():
    torch.manual_seed(0)
    head = MaskedTokenHead(8, 20)
    h = torch.randn(2, 5, 8)
    logits = head(h)
    assert logits.shape == (2, 5, 20)
    labels = torch.full((2, 5), IGNORE_INDEX)
    assert head.loss(logits, labels).item() == 0.0
    labels[0, 1] = 3
    expected = torch.nn.functional.cross_entropy(logits[0, 1:2], labels[0, 1:2])
    torch.testing.assert_close(head.loss(logits, labels), expected)


def test_atom_type_head_shape():
    head = AtomTypeHead(8)
    assert head(torch.randn(4, 8)).shape == (4, 119)


def test_denoising_head_recovers_and_is_equivariant():
    head = CoordinateDenoisingHead()
    clean = torch.randn(6, 3)
    noisy = clean + 0.3 * torch.randn(6, 3)
    # Untrained, it predicts "no change", whatever the vectors.
    torch.testing.assert_close(head(noisy, 100 * torch.randn(6, 3)), noisy)
    with torch.no_grad():
        head.scale.fill_(1.0)
    perfect = head(noisy, clean - noisy)
    assert head.loss(perfect, clean).item() == pytest.approx(0.0, abs=1e-7)
    assert head.loss(noisy, clean) > 0
    R = o3.rand_matrix()
    torch.testing.assert_close(head(noisy @ R.T, (clean - noisy) @ R.T),
                               perfect @ R.T)
    mask = torch.zeros(6, dtype=torch.bool)
    assert head.loss(noisy, clean, mask).item() == 0.0
    # Huber with delta 1, summed over xyz: a 2 A error in x costs 1.5.
    one = head.loss(torch.tensor([[2.0, 0, 0]]), torch.zeros(1, 3))
    assert one.item() == pytest.approx(1.5)


def test_contrastive_alignment():
    torch.manual_seed(0)
    head = ContrastiveAlignment(8, 6, proj_channels=4, temperature=0.5,
                                learnable_temperature=False)
    assert head.temperature == pytest.approx(0.5)
    assert "log_scale" not in dict(head.named_parameters())
    loss, logits = head(torch.randn(5, 8), torch.randn(5, 6))
    assert logits.shape == (5, 5) and loss.item() > 0
    # The loss of a batch whose logits favour the diagonal is lower.
    learn = ContrastiveAlignment(4, 4, proj_channels=4)
    with torch.no_grad():
        for proj in (learn.proj_1d, learn.proj_3d):
            proj[0].weight.copy_(torch.eye(4))
            proj[0].bias.zero_()
            proj[2].weight.copy_(torch.eye(4))
            proj[2].bias.zero_()
    x = torch.eye(4) * 5 + 1
    aligned, _ = learn(x, x)
    shuffled, _ = learn(x, x[[1, 2, 3, 0]])
    assert aligned < shuffled
    assert aligned.item() < math.log(4)


def test_property_head_nan_masked_loss():
    head = PropertyHead(4, num_targets=2)
    pred = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    target = torch.tensor([[1.0, float("nan")], [2.0, float("nan")]])
    assert head.loss(pred, target).item() == pytest.approx(0.5)
    all_nan = torch.full((2, 2), float("nan"))
    assert head.loss(pred, all_nan).item() == 0.0
    assert head(torch.randn(3, 4)).shape == (3, 2)
