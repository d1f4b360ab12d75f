import numpy as np
import pytest
import torch
from sklearn.metrics import r2_score

from mmpoly_geo.training import (
    grouped_kfold, load_config, regression_metrics, train_val_split)


def test_grouped_kfold_keeps_duplicates_together():
    keys = [f"p{i // 3}" if i < 30 else f"q{i}" for i in range(60)]
    folds = grouped_kfold(keys, 5, seed=3)
    assert sorted(np.concatenate(folds).tolist()) == list(range(60))
    owner = {}
    for f, idx in enumerate(folds):
        for i in idx:
            assert owner.setdefault(keys[i], f) == f
    assert max(map(len, folds)) - min(map(len, folds)) <= 3
    again = grouped_kfold(keys, 5, seed=3)
    assert all(np.array_equal(a, b) for a, b in zip(folds, again))
    other = grouped_kfold(keys, 5, seed=4)
    assert not all(np.array_equal(a, b) for a, b in zip(folds, other))
    with pytest.raises(ValueError, match="cannot fill"):
        grouped_kfold(["a", "a", "b"], 3)


def test_train_val_split_groups():
    keys = [f"k{i // 2}" for i in range(40)]
    train, val = train_val_split(np.arange(40), keys, 0.2, seed=0)
    assert len(set(train) & set(val)) == 0 and len(train) + len(val) == 40
    assert {keys[i] for i in train}.isdisjoint({keys[i] for i in val})
    assert 6 <= len(val) <= 10


def test_metrics_match_sklearn():
    rng = np.random.default_rng(0)
    y = rng.normal(size=(50, 1))
    p = y + 0.3 * rng.normal(size=(50, 1))
    m = regression_metrics(y, p)
    assert m["r2"] == pytest.approx(r2_score(y, p))
    assert m["rmse"] == pytest.approx(np.sqrt(((y - p) ** 2).mean()))
    y[:5] = np.nan
    m = regression_metrics(y, p)
    assert m["r2"] == pytest.approx(r2_score(y[5:], p[5:]))


def test_config_overrides_and_errors(tmp_path):
    c = load_config(None, ["optim.lr=1e-3", "model.mode=3d",
                           "finetune.baselines=[]",
                           "model.encoder_3d_kwargs={lmax: 2}"])
    assert c["optim"]["lr"] == 1e-3 and c["model"]["mode"] == "3d"
    assert c["finetune"]["baselines"] == []
    assert c["model"]["encoder_3d_kwargs"]["lmax"] == 2
    assert c["model"]["encoder_3d_kwargs"]["num_layers"] == 3  # kept
    with pytest.raises(ValueError, match="unknown setting 'optim.lrr'"):
        load_config(None, ["optim.lrr=1"])
    with pytest.raises(FileNotFoundError):
        load_config(tmp_path / "none.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("- 1\n- 2\n")
    with pytest.raises(ValueError, match="mapping"):
        load_config(bad)


def test_shipped_default_config_matches_defaults():
    from pathlib import Path

    from mmpoly_geo.training import DEFAULTS

    path = Path(__file__).resolve().parents[2] / "configs" / "default.yaml"
    assert load_config(path) == DEFAULTS
    import yaml
    assert yaml.safe_load(path.read_text()) == DEFAULTS


@pytest.mark.parametrize("argv, expected", [
    ([], "gin"),  # the default: the shipped GIN-branch checkpoint
    (["--pretrained", "none"], None),
    (["--pretrained", "runs/pre"], "runs/pre"),
    (["--pretrained", "default", "gin"], ["default", "gin"]),
])
def test_finetune_pretrained_flag(argv, expected):
    from mmpoly_geo.cli import _run_config, build_parser
    from mmpoly_geo.training.config import pretrained_checkpoints

    args = build_parser().parse_args(["finetune", "--name", "Eea", "--out", "o"] + argv)
    config = _run_config(args)
    assert config["finetune"]["pretrained"] == expected
    assert pretrained_checkpoints(config) == (
        [] if expected is None else
        expected if isinstance(expected, list) else [expected])


def test_pretrained_checkpoints_rejects_other_values():
    from mmpoly_geo.training.config import pretrained_checkpoints

    for bad in ("finetune.pretrained=[]", "finetune.pretrained=3",
                "finetune.pretrained={a: 1}"):
        with pytest.raises(ValueError, match="finetune.pretrained must be"):
            pretrained_checkpoints(load_config(None, [bad]))


def test_data_seed_pins_the_conformers_apart_from_the_run_seed(tiny_csv,
                                                                tmp_path):
    from mmpoly_geo.training.cross_validation import load_dataset

    def processed(*overrides):
        config = load_config(None, [
            f"data.csv={tiny_csv}", "data.target=value",
            f"data.root={tmp_path / 'data'}", "data.num_conformers=1",
            "data.descriptors=none", "data.num_workers=0", *overrides])
        dataset = load_dataset(config)
        return dataset.processed_dir, dataset[0].pos

    run1, pos1 = processed("seed=1")
    run2, pos2 = processed("seed=2")
    assert run1 != run2 and not torch.equal(pos1, pos2)
    # Another run seed with the conformer seed pinned reuses run 1's data.
    pinned, pos = processed("seed=2", "data.seed=1")
    assert pinned == run1 and torch.equal(pos, pos1)
