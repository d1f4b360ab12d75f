"""Training protocol: weight averaging, ensembles, the test-selection
diagnostic, pretrained-weight checks and the resolved model configuration."""
import json

import pandas as pd
import pytest
import torch

from mmpoly_geo.models import MMPolymer
from mmpoly_geo.models import Predictor
from mmpoly_geo.training import load_config, run_finetune
from mmpoly_geo.training.config import resolve_model_config
from mmpoly_geo.training.cross_validation import validation_predictions
from mmpoly_geo.training.finetune_module import FinetuneModule

TINY = dict(kind="mmpolymer", fusion_channels=8,
            sequence_kwargs=dict(hidden_channels=8, num_layers=1, num_heads=2),
            encoder_3d_kwargs=dict(hidden_channels=8, vector_channels=2,
                                   num_layers=1))


def test_ema_follows_the_weights_with_warm_up():
    torch.manual_seed(0)
    module = FinetuneModule(TINY, [0.0], [1.0], ema_decay=0.9)
    assert module.eval_model is module.ema_model
    before = [p.clone() for p in module.ema_model.parameters()]
    with torch.no_grad():
        for p in module.model.parameters():
            p.add_(1.0)
    module.on_train_batch_end(None, None, 0)  # step 0: decay 1/10
    for old, avg in zip(before, module.ema_model.parameters()):
        torch.testing.assert_close(avg, old + 0.9)
    assert not any(p.requires_grad for p in module.ema_model.parameters())
    plain = FinetuneModule(TINY, [0.0], [1.0], ema_decay=0.0)
    assert plain.ema_model is None and plain.eval_model is plain.model


def test_encoder_lr_scale_slows_only_the_encoders(tiny_config, tiny_csv,
                                                   tmp_path):
    module = FinetuneModule(TINY, [0.0], [1.0], lr=1e-3, encoder_lr_scale=0.1)
    encoders, rest = module.param_groups()
    assert encoders["lr"] == pytest.approx(1e-4) and "lr" not in rest
    ids = {id(p) for p in module.model.sequence_encoder.parameters()} | {
        id(p) for p in module.model.encoder_3d.parameters()}
    assert {id(p) for p in encoders["params"]} == ids
    head = {id(p) for p in module.model.property_head.parameters()}
    assert head <= {id(p) for p in rest["params"]}
    trainable = [p for p in module.parameters() if p.requires_grad]
    assert len(encoders["params"]) + len(rest["params"]) == len(trainable)
    # The default is one group at optim.lr, as before the option existed.
    plain = FinetuneModule(TINY, [0.0], [1.0], lr=1e-3).param_groups()
    assert len(plain) == 1 and len(plain[0]["params"]) == len(trainable)
    config = load_config(tiny_config, [
        f"data.csv={tiny_csv}", "data.target=value", "optim.max_epochs=1",
        "finetune.folds=2", "finetune.baselines=[]",
        "finetune.encoder_lr_scale=0.5"])
    assert run_finetune(config, tmp_path / "run")["models"]["mmpolymer"]


@pytest.mark.parametrize("freeze, sequence, geometric, bond_graph", [
    ("none", True, True, True), ("sequence", False, True, True),
    ("3d", True, False, True), ("2d", True, True, False),
    ("encoders", False, False, False)])
def test_freeze_stops_only_the_named_encoders(freeze, sequence, geometric,
                                              bond_graph):
    module = FinetuneModule(dict(TINY, encoder_2d="gin"), [0.0], [1.0],
                            freeze=freeze, encoder_lr_scale=0.5)
    model = module.model

    def trains(part):
        return {p.requires_grad for p in part.parameters()}
    assert trains(model.sequence_encoder) == {sequence}
    assert trains(model.encoder_3d) == {geometric}
    assert trains(model.encoder_2d) == {bond_graph}
    assert trains(model.property_head) == {True}
    # The slower learning rate reaches the GIN too (when it trains).
    slow = {id(p) for p in module.param_groups()[0]["params"]}
    assert ({id(p) for p in model.encoder_2d.parameters()} <= slow) == bond_graph
    # A model without a GIN branch (the default's first member) has
    # nothing to freeze for "2d".
    plain = FinetuneModule(TINY, [0.0], [1.0], freeze="2d").model
    assert trains(plain.sequence_encoder) == trains(plain.encoder_3d) == {True}


def test_load_pretrained_names_mismatched_keys(tmp_path):
    other = MMPolymer(**{k: v for k, v in TINY.items() if k != "kind"}
                      | dict(sequence_kwargs=dict(hidden_channels=16,
                                                  num_layers=1, num_heads=2)))
    path = tmp_path / "pre.pt"
    other.save(path)
    module = FinetuneModule(TINY, [0.0], [1.0])
    with pytest.raises(ValueError, match=r"sequence_encoder\..*\(file "):
        module.load_pretrained(str(path))
    same = MMPolymer(**{k: v for k, v in TINY.items() if k != "kind"},
                     num_targets=3)
    same.save(path)
    module = FinetuneModule(TINY, [0.0], [1.0])
    head = module.model.property_head.state_dict()
    assert module.load_pretrained(str(path)) == ["1d", "3d"]
    loaded, saved = module.model.state_dict(), same.state_dict()
    assert all(torch.equal(loaded[k], saved[k]) for k in saved
               if k.startswith(("sequence_encoder.", "encoder_3d.")))
    # What fine-tuning adds keeps its own initialisation.
    assert all(torch.equal(v, module.model.property_head.state_dict()[k])
               for k, v in head.items())


def test_load_pretrained_takes_only_the_branches_the_file_trained(tmp_path):
    gin = dict(TINY, encoder_2d="gin",
               encoder_2d_kwargs=dict(hidden_channels=8, num_layers=1))
    pretrained = MMPolymer(**{k: v for k, v in gin.items() if k != "kind"})
    path = tmp_path / "pre2d.pt"
    pretrained.save(path, pretrained_branches=["2d"])
    module = FinetuneModule(dict(gin, mode="2d"), [0.0], [1.0])
    sequence = module.model.sequence_encoder.state_dict()
    assert module.load_pretrained(str(path)) == ["2d"]
    loaded, saved = module.model.state_dict(), pretrained.state_dict()
    assert all(torch.equal(loaded[k], saved[k]) for k in saved
               if k.startswith(("encoder_2d.", "fusion.projections.2d.")))
    # The file's sequence encoder was never trained: not taken.
    assert all(torch.equal(v, module.model.sequence_encoder.state_dict()[k])
               for k, v in sequence.items())
    assert not all(torch.equal(v, saved[f"sequence_encoder.{k}"])
                   for k, v in sequence.items())
    # A model without the 2D branch (the default's first member) takes
    # nothing from it.
    assert FinetuneModule(TINY, [0.0], [1.0]).load_pretrained(str(path)) == []


def test_resolved_model_config_takes_cutoff_and_descriptors(polymers):
    config = load_config(None, ["data.cutoff=4.0",
                                "model.descriptor_kwargs.count_std_floor=1.0"])
    model = resolve_model_config(config, polymers)
    assert model["encoder_3d_kwargs"]["cutoff"] == 4.0
    assert model["descriptor_kwargs"] == {"count_std_floor": 1.0}
    assert model["num_descriptors"] == polymers[0].descriptors.size(1) > 0
    assert "descriptors" not in model
    assert model["descriptor_columns"] is None  # all of them
    off = resolve_model_config(load_config(None, ["model.descriptors=false"]),
                               polymers)
    assert off["num_descriptors"] == 0
    # One part of data.descriptors (RDKit first, then Morgan counts).
    rdkit = resolve_model_config(
        load_config(None, ["model.descriptors=rdkit"]), polymers)
    morgan = resolve_model_config(
        load_config(None, ["model.descriptors=morgan"]), polymers)
    width = polymers[0].descriptors.size(1)
    assert rdkit["descriptor_columns"] == [0, rdkit["num_descriptors"]]
    assert morgan["descriptor_columns"] == [rdkit["num_descriptors"], width]
    assert 0 < rdkit["num_descriptors"] < width
    with pytest.raises(ValueError, match="part of data.descriptors='rdkit'"):
        resolve_model_config(load_config(None, [
            "data.descriptors=rdkit", "model.descriptors=morgan"]), polymers)
    bad = load_config(None, ["model.encoder_3d_kwargs={cutoff: 6.0}"])
    with pytest.raises(ValueError, match="data.cutoff"):
        resolve_model_config(bad, polymers)


def test_ensemble_and_select_on_test_diagnostic(tiny_config, tiny_csv,
                                                tmp_path):
    config = load_config(tiny_config, [
        f"data.csv={tiny_csv}", "data.target=value", "optim.max_epochs=2",
        "finetune.ensemble=2", "finetune.members=null"])
    summary = run_finetune(config, tmp_path / "ens")
    files = sorted(p.name for p in (tmp_path / "ens" / "models").iterdir())
    assert files == [f"fold{f}_member{m}.pt" for f in (0, 1) for m in (0, 1)]
    assert summary["ensemble"] == 2 and not summary["select_on_test"]
    metrics = pd.read_csv(tmp_path / "ens" / "metrics.csv")
    ours = metrics[metrics.model == "mmpolymer"]
    assert ours["val_mse"].notna().all()          # training folds only
    # The validation MSE of what a fold predicts (its members' average),
    # equal to the one recomputed from the saved models.
    val = validation_predictions(tmp_path / "ens")
    assert set(val.fold) == {0, 1} and val.y.notna().all()
    recomputed = val.assign(se=(val.pred - val.y) ** 2).groupby("fold").se.mean()
    assert ours.set_index("fold")["val_mse"].to_numpy() == pytest.approx(
        recomputed.to_numpy(), rel=1e-5)
    assert metrics[metrics.model == "rf_morgan"]["val_mse"].isna().all()
    assert len(Predictor.load(tmp_path / "ens").folds) == 4
    preds = pd.read_csv(tmp_path / "ens" / "predictions.csv")
    ours = preds[preds.model == "mmpolymer"]
    assert (ours["pred_std"] > 0).all()  # the members' spread, per polymer
    assert preds[preds.model == "rf_morgan"]["pred_std"].isna().all()

    diag = load_config(tiny_config, [
        f"data.csv={tiny_csv}", "data.target=value", "optim.max_epochs=2",
        "finetune.select_on_test=true", "finetune.baselines=[]"])
    summary = run_finetune(diag, tmp_path / "diag")
    out = tmp_path / "diag"
    assert summary["select_on_test"]
    assert set(summary["models"]) == {"mmpolymer_SELECT_ON_TEST"}
    for name in ("metrics_SELECT_ON_TEST.csv", "summary_SELECT_ON_TEST.json",
                 "predictions_SELECT_ON_TEST.csv", "parity_SELECT_ON_TEST.png"):
        assert (out / name).is_file(), name
    assert not (out / "metrics.csv").exists()
    assert not (out / "models").exists()  # not loadable by predict
    assert json.loads((out / "summary_SELECT_ON_TEST.json").read_text())[
        "select_on_test"]


def test_model_reads_only_its_descriptor_columns(batch):
    torch.manual_seed(0)
    width = batch.descriptors.size(1)
    args = {k: v for k, v in TINY.items() if k != "kind"}
    args["encoder_3d_kwargs"] = dict(args["encoder_3d_kwargs"], cutoff=4.0)
    model = MMPolymer(**args, num_descriptors=5,
                      descriptor_columns=[2, 7]).eval()
    before = model(batch)["pred"]
    changed = batch.clone()
    changed.descriptors = batch.descriptors.clone()
    changed.descriptors[:, 7:] += 100.0
    changed.descriptors[:, :2] -= 100.0
    torch.testing.assert_close(model(changed)["pred"], before)
    changed.descriptors[:, 4] += 100.0
    assert not torch.allclose(model(changed)["pred"], before)
    assert MMPolymer(**model.config()).config()["descriptor_columns"] == [2, 7]
    with pytest.raises(ValueError, match="stop - start"):
        MMPolymer(**args, num_descriptors=4, descriptor_columns=[2, 7])
    short = batch.clone()
    short.descriptors = batch.descriptors[:, :6]
    with pytest.raises(ValueError, match="columns 2:7 of data.descriptors, "
                                         "which has 6"):
        model(short)
    assert width > 7


def test_member_configs():
    from mmpoly_geo.training.config import member_configs

    config = load_config(None, ["seed=3", "finetune.ensemble=2",
                                "finetune.members=[{}, {model: {mode: 2d, "
                                "encoder_2d: gin}, optim: {lr: 0.001}}]"])
    members = member_configs(config)
    assert [m["seed"] for m in members] == [3, 1003, 3, 1003]
    assert [m["model"]["mode"] for m in members] == ["both"] * 2 + ["2d"] * 2
    assert members[2]["optim"]["lr"] == 0.001
    assert members[2]["optim"]["batch_size"] == config["optim"]["batch_size"]
    assert config["model"]["mode"] == "both"  # the run's own is untouched
    # Default: the 1D + 3D model and the GIN branch on RDKit descriptors.
    default = member_configs(load_config(None))
    assert [m["model"]["mode"] for m in default] == ["both", "2d"]
    assert default[1]["model"]["descriptors"] == "rdkit"
    assert len(member_configs(load_config(
        None, ["finetune.members=null"]))) == 1
    with pytest.raises(ValueError, match=r"members\[1\] sets model.descriptors, "
                                         r"model.encoder_2d, model.mode, .*"
                                         r"model.kind='gin': set "
                                         r"finetune.members=null"):
        member_configs(load_config(None, ["model.kind=gin"]))
    with pytest.raises(ValueError, match=r"members\[1\] reads model.descriptors="
                                         r"'rdkit', which data.descriptors="
                                         r"'morgan' lacks"):
        member_configs(load_config(None, ["data.descriptors=morgan"]))
    with pytest.raises(ValueError, match="finetune.ensemble must be >= 1"):
        member_configs(load_config(None, ["finetune.ensemble=0"]))
    with pytest.raises(ValueError, match=r"members\[0\] may change only "
                                         r"model/optim .*\['data'\]"):
        member_configs(load_config(None, [
            "finetune.members=[{data: {cutoff: 4.0}}]"]))
    with pytest.raises(ValueError, match="unknown setting 'model.colour'"):
        member_configs(load_config(None, [
            "finetune.members=[{model: {colour: red}}]"]))


def test_members_of_different_settings(tiny_config, tiny_csv, tmp_path):
    # The default members: our 1D + 3D model and the GIN branch alone on
    # RDKit descriptors only, from one featurisation (RDKit + Morgan),
    # averaged per fold.
    config = load_config(tiny_config, [
        f"data.csv={tiny_csv}", "data.target=value", "optim.max_epochs=1",
        "finetune.baselines=[]"])
    summary = run_finetune(config, tmp_path / "mix")
    assert summary["models_per_fold"] == 2 and summary["ensemble"] == 1
    predictor = Predictor.load(tmp_path / "mix")
    names = sorted(p.name for p in (tmp_path / "mix" / "models").iterdir())
    assert names == [f"fold{f}_member{m}.pt" for f in (0, 1) for m in (0, 1)]
    configs = [fold["config"] for fold in predictor.folds]
    assert [c["mode"] for c in configs] == ["both", "2d"] * 2
    assert configs[0]["descriptor_columns"] is None
    assert configs[1]["descriptor_columns"] == [0, configs[1][
        "num_descriptors"]] and configs[1]["encoder_2d"] == "gin"
    frame = predictor.predict(["*CC(*)C", "*CC(*)c1ccccc1"])
    assert frame.error.eq("").all() and (frame.value_std > 0).all()
    preds = pd.read_csv(tmp_path / "mix" / "predictions.csv")
    assert (preds.pred_std > 0).all()  # the two members disagree


def test_resume_refuses_changed_settings(tiny_config, tiny_csv, tmp_path):
    from mmpoly_geo.training.cross_validation import check_resumable
    from mmpoly_geo.training.config import save_config

    config = load_config(tiny_config, [f"data.csv={tiny_csv}",
                                       "data.target=value"])
    save_config(config, tmp_path / "config.yaml")
    check_resumable(config, tmp_path / "config.yaml")  # same: fine
    quiet = load_config(tiny_config, [f"data.csv={tiny_csv}",
                                      "data.target=value",
                                      "trainer.progress_bar=true"])
    check_resumable(quiet, tmp_path / "config.yaml")
    other = load_config(tiny_config, [f"data.csv={tiny_csv}",
                                      "data.target=value", "optim.lr=1e-3"])
    with pytest.raises(ValueError, match=r"optim.lr: 0.0003 -> 0.001"):
        run_finetune(other, tmp_path, resume=True)


def test_blend_with_the_forest_chosen_on_validation(tiny_config, tiny_csv,
                                                    tmp_path):
    from mmpoly_geo.training.cross_validation import _blend_weight

    # The weight that fits the validation split best.
    y = torch.linspace(0, 1, 20).numpy()
    assert _blend_weight(y, y + 1.0, y) == 1.0
    assert _blend_weight(y + 1.0, y, y) == 0.0
    assert _blend_weight(y + 0.5, y - 0.5, y) == 0.5
    config = load_config(tiny_config, [
        f"data.csv={tiny_csv}", "data.target=value", "optim.max_epochs=1",
        "finetune.blend=rf"])
    summary = run_finetune(config, tmp_path / "b")
    assert set(summary["models"]) == {"mmpolymer", "rf_morgan",
                                      "mmpolymer+rf"}
    metrics = pd.read_csv(tmp_path / "b" / "metrics.csv")
    weights = metrics[metrics.model == "mmpolymer+rf"]["blend_weight"]
    assert weights.between(0, 1).all() and len(weights) == 2
    with pytest.raises(ValueError, match="needs the forest"):
        run_finetune(load_config(tiny_config, [
            f"data.csv={tiny_csv}", "data.target=value",
            "finetune.blend=rf", "finetune.baselines=[]"]), tmp_path / "c")


def test_only_folds_must_name_existing_folds(tiny_config, tiny_csv, tmp_path):
    config = load_config(tiny_config, [
        f"data.csv={tiny_csv}", "data.target=value", "finetune.folds=2",
        "finetune.only_folds=[2]"])
    with pytest.raises(ValueError, match=r"only_folds must list folds in 0\.\.1"):
        run_finetune(config, tmp_path / "run")
