"""ModalityFusion, GraphPooling and DescriptorEncoder."""
import pytest
import torch

from mmpoly_geo.nn import DescriptorEncoder, GraphPooling, ModalityFusion


def test_concat_fusion_fills_missing_modalities_with_zeros():
    torch.manual_seed(0)
    fusion = ModalityFusion({"1d": 6, "3d": 4}, channels=5).eval()
    a, b = torch.randn(3, 6), torch.randn(3, 4)
    both = fusion({"1d": a, "3d": b})
    only_3d = fusion({"3d": b})
    assert both.shape == only_3d.shape == (3, 10) == (3, fusion.out_channels)
    assert torch.equal(only_3d[:, :5], torch.zeros(3, 5))
    assert torch.allclose(only_3d[:, 5:], both[:, 5:])
    with pytest.raises(ValueError, match="subset"):
        fusion({"2d": a})


def test_modality_dropout_never_drops_a_whole_sample():
    torch.manual_seed(0)
    fusion = ModalityFusion({"a": 4, "b": 4}, channels=3,
                            modality_dropout=0.9).train()
    out = fusion({"a": torch.randn(500, 4), "b": torch.randn(500, 4)},
                 torch.Generator().manual_seed(1))
    kept = torch.stack([out[:, :3].abs().sum(1) > 0,
                        out[:, 3:].abs().sum(1) > 0], 1)
    assert kept.any(1).all()          # every sample keeps one modality
    assert (~kept).any()              # and modalities are dropped
    fusion.eval()                     # no dropout at evaluation
    out = fusion({"a": torch.randn(50, 4), "b": torch.randn(50, 4)})
    assert (out[:, :3].abs().sum(1) > 0).all()


def test_mean_fusion_averages():
    fusion = ModalityFusion({"a": 2, "b": 2}, channels=4, fusion="mean")
    a, b = torch.randn(2, 2), torch.randn(2, 2)
    expected = (fusion.projections["a"](a) + fusion.projections["b"](b)) / 2
    assert torch.allclose(fusion({"a": a, "b": b}), expected)
    assert fusion.out_channels == 4
    with pytest.raises(ValueError, match="fusion"):
        ModalityFusion({"a": 2}, 4, fusion="sum")


@pytest.mark.parametrize("kind", ["mean", "sum", "attention"])
def test_pooling_is_permutation_invariant_and_per_graph(kind):
    torch.manual_seed(0)
    pool = GraphPooling(4, kind)
    x = torch.randn(7, 4)
    batch = torch.tensor([0, 0, 0, 1, 1, 1, 1])
    ref = pool(x, batch)
    perm = torch.tensor([2, 0, 1, 6, 4, 3, 5])
    assert torch.allclose(pool(x[perm], batch), ref, atol=1e-6)
    assert torch.allclose(pool(x[:3], batch[:3]), ref[:1], atol=1e-6)
    if kind == "sum":
        assert torch.allclose(ref[0], x[:3].sum(0))


def test_descriptor_encoder_standardises_on_fit_and_handles_nan():
    torch.manual_seed(0)
    train = torch.randn(50, 3) * torch.tensor([1.0, 100.0, 0.0]) + 5.0
    train[0, 1] = float("nan")
    enc = DescriptorEncoder(3, 8).fit(train).eval()
    x = torch.asinh(train.double())
    assert torch.allclose(enc.scaler.mean[0].double(), x[:, 0].mean(), atol=1e-5)
    assert enc.scaler.std[2] == 1.0                      # constant column
    assert torch.isfinite(enc.scaler.mean).all()
    out = enc(torch.tensor([[float("nan"), 1e30, float("inf")]]))
    assert out.shape == (1, 8) and torch.isfinite(out).all()
    state = enc.state_dict()                      # scales are saved
    assert {"scaler.mean", "scaler.std"} <= set(state)
    # Targets keep their missing values.
    scaled = enc.scaler(torch.tensor([[float("nan"), 5.0, 5.0]]),
                        fill_missing=False)
    assert torch.isnan(scaled[0, 0]) and torch.isfinite(scaled[0, 1:]).all()
    with pytest.raises(ValueError, match="shape"):
        enc(torch.zeros(2, 4))


def test_count_std_floor_keeps_a_rare_count_from_becoming_a_clipped_input():
    # A count seen in 1 of 100 training rows: standardised, one occurrence
    # is ~10 standard deviations (clipped to 6); the floor keeps it near 1.
    torch.manual_seed(0)
    rare = torch.zeros(100, 2)
    rare[0, 0] = 1.0
    rare[:, 1] = torch.randn(100) * 0.01     # continuous and narrow
    plain = DescriptorEncoder(2, 4).fit(rare).scaler
    floored = DescriptorEncoder(2, 4, count_std_floor=1.0).fit(rare).scaler
    one = torch.tensor([[1.0, 0.0]])
    assert plain(one)[0, 0].item() == pytest.approx(6.0)
    assert 0.5 < floored(one)[0, 0].item() < 1.0
    assert floored.std[0].item() == 1.0
    # Continuous columns keep their own scale, however narrow.
    assert floored.std[1] == plain.std[1] < 0.1
    with pytest.raises(ValueError, match="count_std_floor"):
        DescriptorEncoder(1, 4, count_std_floor=-1.0)
