"""End to end: every training subcommand on a tiny CSV (CPU, seconds)."""
import json
import multiprocessing as mp
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import pytorch_lightning as pl
import torch

from mmpoly_geo.cli import main
from mmpoly_geo.models import MMPolymer
from mmpoly_geo.models import Predictor
from mmpoly_geo.training import load_config
from mmpoly_geo.training.pretrain import run_pretrain


def test_finetune_predict_embed(tiny_config, tiny_csv, tmp_path, capsys):
    out = tmp_path / "run"
    rc = main(["finetune", "--config", str(tiny_config), "--csv",
               str(tiny_csv), "--target", "value", "--out", str(out)])
    assert rc == 0
    text = capsys.readouterr().out
    assert "2-fold CV (2 models per fold, averaged), 48 polymers" in text
    assert "mmpolymer: RMSE" in text and "rf_morgan: RMSE" in text
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary["models"]) == {"mmpolymer", "rf_morgan"}
    metrics = pd.read_csv(out / "metrics.csv")
    assert len(metrics) == 4 and metrics["n_test"].sum() == 2 * 48
    preds = pd.read_csv(out / "predictions.csv")
    assert preds["nn_similarity"].between(0, 1).all()
    # Two members per fold (the default finetune.members): their spread.
    assert (preds[preds.model == "mmpolymer"]["pred_std"] > 0).all()
    # Out-of-fold: each polymer predicted once per model.
    assert preds[preds.model == "mmpolymer"]["row"].nunique() == 48
    assert (out / "parity.png").stat().st_size > 5000
    assert (out / "config.yaml").is_file()
    assert sorted(p.name for p in (out / "models").iterdir()) == [
        f"fold{f}_member{m}.pt" for f in (0, 1) for m in (0, 1)]
    # Fold files load with weights_only=True.
    torch.load(out / "models" / "fold0_member1.pt", weights_only=True)

    rc = main(["predict", "*CC(*)C", "--model", str(out)])
    captured = capsys.readouterr()
    assert rc == 0 and "*CC(*)C\tvalue = " in captured.out and "±" in captured.out
    rc = main(["predict", "**", "--model", str(out)])
    assert rc == 1 and "**\terror: the two '*' are bonded to each other" in (
        capsys.readouterr().out)
    # Several inputs in one call, in order; a bad one keeps its place.
    assert main(["predict", "*CC(*)C", "**", "*OCC*", "--model",
                 str(out)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split("\t")[0] for line in lines] == ["*CC(*)C", "**",
                                                       "*OCC*"]
    assert "(95 %: " in lines[0] and lines[1].startswith("**\terror: ")
    inputs = tmp_path / "new.csv"
    inputs.write_text("psmiles\n*CC(*)C\nCCO\n*OCC*\n**\n"
                      "*C(CCCS(*)(=N)=O)CO1~CCC(N)C1\n\"*CC(*)\rC\"\n")
    result = tmp_path / "pred.csv"
    assert main(["predict", str(inputs), "--model", str(out), "--output",
                 str(result)]) == 0
    frame = pd.read_csv(result, keep_default_na=False)
    # Every input keeps its row, in order, with its reason.
    assert frame["psmiles"].tolist() == [
        "*CC(*)C", "CCO", "*OCC*", "**", "*C(CCCS(*)(=N)=O)CO1~CCC(N)C1",
        "*CC(*)\rC"]
    errors = frame["error"].tolist()
    assert errors[0] == errors[2] == ""
    assert errors[1].startswith("P-SMILES has no '*'")
    assert "bonded to each other" in errors[3]
    assert "query bond" in errors[4] and "whitespace" in errors[5]
    assert frame["value"][0] != "" and frame["value_std"][0] != ""
    # The Python API: same numbers, models loaded once, bad rows kept.
    import mmpoly_geo
    from mmpoly_geo import api

    api._load.cache_clear()
    frame = mmpoly_geo.predict(["*CC(*)C", "**", "*OCC*"], model=out)
    assert frame["psmiles"].tolist() == ["*CC(*)C", "**", "*OCC*"]
    assert frame["error"][0] == "" and "bonded" in frame["error"][1]
    # Applicability domain: a training polymer is its own nearest neighbour.
    first = pd.read_csv(tiny_csv)["psmiles"][0]
    near = mmpoly_geo.predict([first, "*[Si](C)(C)O*"], model=out)
    assert near["nn_similarity"][0] == pytest.approx(1.0)
    assert near["nn_similarity"][1] < 0.5
    cli = pd.read_csv(result, keep_default_na=False)
    assert frame["value"][0] == pytest.approx(float(cli["value"][0]))
    assert frame["value"][2] == pytest.approx(float(cli["value"][2]))
    mmpoly_geo.predict("*CC(*)C", model=out, properties=["value"])
    assert api._load.cache_info().hits >= 1
    # Models of one architecture share it once built; each alone gives the
    # same.
    from mmpoly_geo.models import Predictor
    both = Predictor.load(out).predict(["*CC(*)c1ccccc1"])
    alone = [Predictor.load(out / "models" / f"fold{k}_member{m}.pt").predict(
        ["*CC(*)c1ccccc1"])["value"][0] for k in (0, 1) for m in (0, 1)]
    assert both["value"][0] == pytest.approx(np.mean(alone), abs=1e-5)
    assert both["value_std"][0] == pytest.approx(np.std(alone), abs=1e-5)
    with pytest.raises(ValueError, match="no model predicts"):
        mmpoly_geo.predict("*CC(*)C", model=out, properties=["Tg"])
    from mmpoly_geo.models import predictor as predictor_module
    with pytest.MonkeyPatch.context() as patch:  # a package without models
        patch.setattr(predictor_module, "SHIPPED_DIR", tmp_path / "none")
        api._shipped.cache_clear()
        with pytest.raises(FileNotFoundError,
                           match="no property models ship"):
            mmpoly_geo.predict("*CC(*)C")
    api._shipped.cache_clear()
    vectors = mmpoly_geo.embed(["*CC(*)C"], model=out)
    assert sum(c.startswith("emb_") for c in vectors.columns) == 48
    emb = tmp_path / "emb.csv"
    assert main(["embed", str(inputs), "--model", str(out), "--output",
                 str(emb)]) == 0
    # Concatenation fusion: 1D, 3D and descriptor projections of 16 each.
    assert sum(c.startswith("emb_") for c in pd.read_csv(emb).columns) == 48


def test_predict_errors(tmp_path, capsys):
    assert main(["predict", "*CC*", "--model", str(tmp_path / "nope")]) == 2
    assert "model path not found" in capsys.readouterr().err
    bad = tmp_path / "fold0.pt"
    bad.write_bytes(b"garbage")
    assert main(["predict", "*CC*", "--model", str(bad)]) == 2
    assert "not a readable model file" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main(["predict", "*CC*", "--model", str(tmp_path / "empty")]) == 2
    assert "no fold models" in capsys.readouterr().err


def test_pretrain_then_finetune(tiny_config, tiny_csv, tmp_path, capsys,
                                monkeypatch):
    from mmpoly_geo import api
    from mmpoly_geo.models import pretrained as pretrained_module
    from mmpoly_geo.training import pretrain as pretrain_module

    shipped = tmp_path / "package"
    monkeypatch.setattr(pretrained_module, "PRETRAINED_DIR", shipped)
    monkeypatch.setattr(pretrain_module, "PRETRAINED_DIR", shipped)
    api._pretrained.cache_clear()
    pre = tmp_path / "pre"
    assert main(["pretrain", "--config", str(tiny_config), "--csv",
                 str(tiny_csv), "--out", str(pre), "--install",
                 "--set", "pretrain.num_conformers=3"]) == 0
    model_file = pre / "pretrained.pt"
    assert model_file.is_file()
    # Said before the first epoch, which a bar in a log file does not show.
    said = capsys.readouterr().out
    m = re.search(r"pretraining on (\d+) polymers \((\d+) held out for "
                  r"validation\): (\d+) steps per epoch", said)
    assert m, said
    train, val, steps = map(int, m.groups())
    assert train + val == 48 and val > 0 and steps >= 1
    log = pd.read_csv(pre / "logs" / "metrics.csv")
    for k in ("train_token", "train_coord", "train_atom", "train_contrastive"):
        assert log[k].notna().any(), k
    card = json.loads((shipped / "default" / "card.json").read_text())
    assert card["corpus"]["polymers"] == 48 and card["steps"] > 0
    # The steps said before training are the steps each epoch ran.
    assert card["steps"] == steps * card["epochs_run"]
    assert card["objectives"]["token_weight"] > 0
    assert "val_loss" in card["best_epoch_validation"]
    assert card["command"].startswith("mmpoly-geo pretrain")
    # The corpus is read with pretraining's own data settings.
    assert card["featurizer"]["num_conformers"] == 3
    assert card["featurizer"]["descriptors"] == "rdkit"
    assert (shipped / "default" / "pretrained.pt").read_bytes() == \
        model_file.read_bytes()
    run = tmp_path / "ft"
    assert main(["finetune", "--config", str(tiny_config), "--csv",
                 str(tiny_csv), "--target", "value", "--out", str(run),
                 "--pretrained", "default", "--set",
                 "finetune.baselines=[]", "model.mode=3d"]) == 0
    assert "mmpolymer: RMSE" in capsys.readouterr().out
    # Embeddings straight from the pretrained checkpoint, no fine-tuning.
    emb = tmp_path / "emb.csv"
    assert main(["embed", "*CC(*)C", "**", "--output", str(emb)]) == 0
    frame = pd.read_csv(emb, keep_default_na=False)
    width = sum(c.startswith("emb_") for c in frame.columns)
    assert width > 0 and frame["error"][0] == "" and frame["error"][1] != ""
    again = api.embed(["*CC(*)C"], pretrained=str(pre))
    assert again["emb_0"][0] == pytest.approx(float(frame["emb_0"][0]),
                                              abs=1e-5)
    capsys.readouterr()
    assert main(["finetune", "--config", str(tiny_config), "--csv",
                 str(tiny_csv), "--target", "value", "--out",
                 str(tmp_path / "x"), "--pretrained", "nope"]) == 2
    assert "not a shipped checkpoint" in capsys.readouterr().err.replace(
        "nor a shipped", "not a shipped")


def test_objectives_can_be_switched_off(tiny_config, tiny_csv, tmp_path):
    config = load_config(tiny_config, [
        f"data.csv={tiny_csv}", "pretrain.token_weight=0",
        "pretrain.contrastive_weight=0", "pretrain.max_epochs=1"])
    run_pretrain(config, tmp_path / "p")
    log = pd.read_csv(tmp_path / "p" / "logs" / "metrics.csv")
    assert "train_token" not in log and "train_contrastive" not in log
    assert log["train_coord"].notna().any()


class _Kill(pl.Callback):
    """Kills the run in the middle of an epoch (default: the second)."""
    def __init__(self, epoch=1):
        self.epoch = epoch

    def on_train_batch_start(self, trainer, module, batch, batch_idx):
        if trainer.current_epoch == self.epoch and batch_idx == 1:
            raise RuntimeError("simulated kill")


class _BestSoFar(pl.Callback):
    """Records the checkpoint callback's best score and file as training
    starts (after a resume has restored them)."""
    def on_train_start(self, trainer, module):
        callback = trainer.checkpoint_callback
        self.score = float(callback.best_model_score)
        self.path = callback.best_model_path


def test_killed_pretrain_resumes_to_same_result(tiny_config, tiny_csv,
                                                tmp_path, capsys):
    config = load_config(tiny_config, [f"data.csv={tiny_csv}",
                                       "pretrain.max_epochs=3"])
    full = run_pretrain(config, tmp_path / "a")
    with pytest.raises(RuntimeError, match="simulated kill"):
        run_pretrain(config, tmp_path / "b", callbacks=[_Kill()])
    assert (tmp_path / "b" / "last.ckpt").is_file()
    resumed = run_pretrain(config, tmp_path / "b", resume=True)
    a = MMPolymer.load(full).state_dict()
    b = MMPolymer.load(resumed).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    # The log holds every epoch once, as the uninterrupted run's does.
    logs = [pd.read_csv(tmp_path / run / "logs" / "metrics.csv")
            for run in ("a", "b")]
    assert sorted(logs[0].epoch.unique()) == [0, 1, 2]
    pd.testing.assert_frame_equal(logs[1], logs[0])
    # Killed, its folder moved, resumed and killed again, resumed again: each
    # resume continues from the latest epoch (no stale or versioned files).
    with pytest.raises(RuntimeError, match="simulated kill"):
        run_pretrain(config, tmp_path / "c", callbacks=[_Kill()])
    (tmp_path / "c").rename(tmp_path / "moved")
    probe = _BestSoFar()
    with pytest.raises(RuntimeError, match="simulated kill"):
        run_pretrain(config, tmp_path / "moved", resume=True,
                     callbacks=[probe, _Kill(epoch=2)])
    # The resumed run knows the best score so far (a worse epoch cannot
    # replace best.ckpt), recorded where the checkpoint now is.
    assert probe.score == pytest.approx(
        logs[0].val_loss[logs[0].epoch == 0].dropna().item())
    assert probe.path == str(tmp_path / "moved" / "best.ckpt")
    assert sorted(p.name for p in (tmp_path / "moved").glob("*.ckpt")) == \
        ["best.ckpt", "last.ckpt"]
    # Written at the end of epoch 1 (0-based), after the move (the one
    # moved was written at the end of epoch 0).
    assert torch.load(tmp_path / "moved" / "last.ckpt",
                      weights_only=False)["epoch"] == 1
    # Each checkpoint carries the fitting time so far, so the card's total
    # counts the killed stretches too (it is written only at the end).
    # (Stretches a day long, made so by editing the checkpoint.)
    last = torch.load(tmp_path / "moved" / "last.ckpt", weights_only=False)
    assert last["training_seconds"] > 0
    last["training_seconds"] = 86400.0
    torch.save(last, tmp_path / "moved" / "last.ckpt")
    moved = run_pretrain(config, tmp_path / "moved", resume=True)
    card = json.loads((tmp_path / "moved" / "card.json").read_text())
    assert 86400 <= card["training_seconds"] < 2 * 86400
    c = MMPolymer.load(moved).state_dict()
    assert all(torch.equal(a[k], c[k]) for k in a)
    pd.testing.assert_frame_equal(
        pd.read_csv(tmp_path / "moved" / "logs" / "metrics.csv"), logs[0])
    assert card["finished"]

    # A stretch that the time limit ends (a tiny one: after the first epoch)
    # writes its files and says it is unfinished; --resume then ends where
    # the uninterrupted run does. Through the command line.
    stretch = ["pretrain", "--config", str(tiny_config), "--csv",
               str(tiny_csv), "--out", str(tmp_path / "t"), "--epochs", "3"]
    assert main(stretch + ["--time-limit", "1e-6"]) == 0
    card = json.loads((tmp_path / "t" / "card.json").read_text())
    assert not card["finished"] and card["epochs_run"] == 1
    assert ("the time limit ended this stretch after epoch 1 of 3; continue "
            "with the same command and --resume") in capsys.readouterr().out
    assert main(stretch + ["--resume"]) == 0
    card = json.loads((tmp_path / "t" / "card.json").read_text())
    assert card["finished"] and card["epochs_run"] == 3
    d = MMPolymer.load(tmp_path / "t" / "pretrained.pt").state_dict()
    assert all(torch.equal(a[k], d[k]) for k in a)
    # A run that ends at its last epoch is finished, limit or not.
    last_only = ["pretrain", "--config", str(tiny_config), "--csv",
                 str(tiny_csv), "--out", str(tmp_path / "one"), "--epochs",
                 "1", "--time-limit", "1e-6"]
    assert main(last_only) == 0
    assert json.loads((tmp_path / "one" / "card.json").read_text())[
        "finished"]


class _WorseEachEpoch(pl.LightningModule):
    """A model whose validation MSE rises every epoch (0, 1, 2, ...)."""
    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(1))

    def training_step(self, batch, batch_idx):
        return (self.w - batch[0]).pow(2).mean()

    def validation_step(self, batch, batch_idx):
        self.log("val_mse", float(self.current_epoch))

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def test_last_checkpoint_follows_every_epoch(tiny_config, tmp_path):
    # Lightning writes last.ckpt only when the monitored metric improved: a
    # run stopped after epochs without improvement would resume from the
    # best epoch, losing the epochs since.
    from mmpoly_geo.training.trainer import best_checkpoint, build_trainer

    config = load_config(tiny_config, ["optim.max_epochs=3"])
    trainer = build_trainer(config, tmp_path, "val_mse", patience=10)
    data = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(torch.ones(4)), batch_size=2)
    trainer.fit(_WorseEachEpoch(), data, data)
    last = torch.load(tmp_path / "last.ckpt", weights_only=False)
    best = torch.load(best_checkpoint(trainer), weights_only=False)
    assert (last["epoch"], best["epoch"]) == (2, 0)
    # The early-stopping state saved with it counts the epochs since the best.
    stopping = next(v for k, v in last["callbacks"].items()
                    if k.startswith("EarlyStopping"))
    assert stopping["wait_count"] == 2


class _SigKill(pl.Callback):
    """kill -9 of the whole process in the middle of its second epoch."""
    def on_train_batch_start(self, trainer, module, batch, batch_idx):
        if trainer.current_epoch == 1 and batch_idx == 1:
            os.kill(os.getpid(), signal.SIGKILL)


def _finetune_killed_by_sigkill(config, out):
    from mmpoly_geo.training import run_finetune

    ctx = mp.get_context("fork")
    child = ctx.Process(target=run_finetune, args=(config, out),
                        kwargs=dict(callbacks=[_SigKill()]))
    child.start()
    child.join(300)
    assert child.exitcode == -signal.SIGKILL


@pytest.mark.skipif("fork" not in mp.get_all_start_methods(),
                    reason="kills a forked child")
def test_killed_finetune_resumes_to_same_result(tiny_config, tiny_csv,
                                                tmp_path):
    from mmpoly_geo.training import run_finetune

    config = load_config(tiny_config, [
        f"data.csv={tiny_csv}", "data.target=value", "optim.max_epochs=3",
        "finetune.baselines=[]"])
    # One thread throughout: OpenMP's thread pool does not survive fork(),
    # and the same thread count keeps the runs comparable digit for digit.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        full = run_finetune(config, tmp_path / "a")
        # kill -9: no exception handler or finally block runs.
        _finetune_killed_by_sigkill(config, tmp_path / "b")
        assert (tmp_path / "b" / "fold0_member0" / "last.ckpt").is_file()
        assert not (tmp_path / "b" / "summary.json").exists()
        resumed = run_finetune(config, tmp_path / "b", resume=True)
    finally:
        torch.set_num_threads(threads)
    assert resumed["models"] == full["models"]
    pa = Predictor.load(tmp_path / "a").predict(["*CC(*)C"])
    pb = Predictor.load(tmp_path / "b").predict(["*CC(*)C"])
    assert pa["value"][0] == pb["value"][0]


def test_finished_folds_are_reloaded_not_retrained(tiny_config, tiny_csv,
                                                   tmp_path, capsys):
    from mmpoly_geo.training import run_finetune

    config = load_config(tiny_config, [
        f"data.csv={tiny_csv}", "data.target=value", "optim.max_epochs=1",
        "finetune.baselines=[]"])
    full = run_finetune(config, tmp_path)
    trained = capsys.readouterr().out
    assert "reloaded" not in trained
    checkpoints = sorted(tmp_path.glob("models/*.pt"))
    assert checkpoints
    stamps = [p.stat().st_mtime_ns for p in checkpoints]
    again = run_finetune(config, tmp_path, resume=True)
    lines = [line for line in capsys.readouterr().out.splitlines()
             if line.startswith("fold ")]
    assert len(lines) == config["finetune"]["folds"]
    assert all(line.endswith("; finished earlier, reloaded")
               for line in lines)
    assert [p.stat().st_mtime_ns for p in checkpoints] == stamps
    assert again["models"] == full["models"]


def _rename_one_weight(last: Path) -> None:
    """What an older version's checkpoint looks like: a weight renamed."""
    ckpt = torch.load(last, map_location="cpu", weights_only=False)
    key = next(iter(ckpt["state_dict"]))
    ckpt["state_dict"][key + "_old_name"] = ckpt["state_dict"].pop(key)
    torch.save(ckpt, last)


@pytest.mark.parametrize("damage, message", [
    (lambda last: last.write_bytes(last.read_bytes()[:100]),
     "last.ckpt is unreadable"),
    (_rename_one_weight, "last.ckpt does not fit this model"),
], ids=["truncated", "older-version"])
def test_unusable_checkpoint_restarts_the_run(tiny_config, tiny_csv,
                                               tmp_path, damage, message):
    config = load_config(tiny_config, [f"data.csv={tiny_csv}",
                                       "pretrain.max_epochs=2"])
    full = run_pretrain(config, tmp_path / "a")
    with pytest.raises(RuntimeError, match="simulated kill"):
        run_pretrain(config, tmp_path / "b", callbacks=[_Kill()])
    damage(tmp_path / "b" / "last.ckpt")
    with pytest.warns(UserWarning, match=message):
        resumed = run_pretrain(config, tmp_path / "b", resume=True)
    a = MMPolymer.load(full).state_dict()
    b = MMPolymer.load(resumed).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    # Started again: the log holds every epoch once, as the uninterrupted
    # run's does.
    logs = [pd.read_csv(tmp_path / run / "logs" / "metrics.csv")
            for run in ("a", "b")]
    assert sorted(logs[0].epoch.unique()) == [0, 1]
    pd.testing.assert_frame_equal(logs[1], logs[0])
    # A damaged model file is a clear error, not a traceback from torch.
    Path(resumed).write_bytes(Path(resumed).read_bytes()[:100])
    with pytest.raises(ValueError, match="not a readable checkpoint"):
        MMPolymer.load(resumed)


def test_ddp_two_cpu_processes(tiny_config, tiny_csv, tmp_path):
    out = tmp_path / "ddp"
    result = subprocess.run(
        [sys.executable, "-m", "mmpoly_geo.cli", "pretrain", "--config",
         str(tiny_config), "--csv", str(tiny_csv), "--out", str(out),
         "--set", "trainer.devices=2", "trainer.strategy=ddp",
         "pretrain.max_epochs=1", "data.on_disk=true", "--verbose"],
        capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "MEMBER: 2/2" in result.stderr  # both ranks joined (gloo on CPU)
    # ... streaming from the on-disk dataset, each rank its share.
    assert any((tmp_path / "data").rglob("sqlite.db"))
    assert (out / "pretrained.pt").is_file()


NOISE = ("Tip:", "litlogger", "GPU available", "TPU available",
         "exists and is not empty", "LeafSpec", "Trainer.fit", "Processing...",
         "Loading `train_dataloader`", "Warning")


def test_finetune_terminal_is_quiet(tiny_config, tiny_csv, tmp_path):
    command = [sys.executable, "-m", "mmpoly_geo.cli", "finetune", "--config",
               str(tiny_config), "--csv", str(tiny_csv), "--target", "value",
               "--set", "optim.max_epochs=1"]
    quiet = subprocess.run(command + ["--out", str(tmp_path / "q")],
                           capture_output=True, text=True, timeout=600)
    assert quiet.returncode == 0, quiet.stderr[-3000:]
    text = quiet.stdout + quiet.stderr
    assert [n for n in NOISE if n in text] == []
    assert "fold 1/2: mmpolymer RMSE" in quiet.stdout
    assert "2-fold CV (2 models per fold, averaged), 48 polymers" in quiet.stdout
    verbose = subprocess.run(command + ["--out", str(tmp_path / "v"),
                                        "--verbose"],
                             capture_output=True, text=True, timeout=600)
    assert verbose.returncode == 0
    assert "GPU available" in verbose.stdout + verbose.stderr


def test_ship_then_predict_without_model(tiny_config, tiny_csv, tmp_path,
                                         capsys, monkeypatch):
    from mmpoly_geo import api
    from mmpoly_geo.models import predictor as predictor_module
    from mmpoly_geo.training import shipping

    shipped = tmp_path / "shipped"
    monkeypatch.setattr(predictor_module, "SHIPPED_DIR", shipped)
    monkeypatch.setattr(shipping, "SHIPPED_DIR", shipped)
    api._shipped.cache_clear()
    # One model per member (finetune.members=null): the ensemble is the
    # subject here; members of different settings: test_protocol.
    common = ["--config", str(tiny_config), "--csv", str(tiny_csv),
              "--target", "value", "--set", "optim.max_epochs=2",
              "finetune.members=null"]
    cv = tmp_path / "cv"
    assert main(["finetune", *common, "finetune.ensemble=2",
                 "finetune.baselines=[]", "--out", str(cv)]) == 0
    assert main(["ship", *common, "--ensemble", "2", "--cv-run", str(cv),
                 "--out", str(tmp_path / "ship"), "--install"]) == 0
    card = json.loads((shipped / "tiny" / "card.json").read_text())
    assert card["members"] == 2 and card["training_data"]["polymers"] == 48
    assert card["calibration"]["k2"] > card["calibration"]["k1"] > 0
    assert 0 <= card["calibration_coverage"]["coverage_1sigma"] <= 1
    assert card["cross_validation"]["metrics"]["rmse"]["mean"] > 0
    # One run's metrics already describe its ensembles: no pooled figure.
    assert "rmse_of_pooled_ensembles" not in card["cross_validation"]
    assert card["command"].startswith("mmpoly-geo ship")
    files = sorted(p.name for p in (shipped / "tiny").iterdir())
    assert files == ["card.json", "member0.pt", "member1.pt"]
    # Compact: float16 weights, no pretraining heads.
    full = (cv / "models" / "fold0_member0.pt").stat().st_size
    assert (shipped / "tiny" / "member0.pt").stat().st_size < 0.6 * full
    capsys.readouterr()
    assert main(["predict", "*CC(*)C"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("*CC(*)C\ttiny: value = ") and "±" in out
    assert "Tanimoto" in out
    frame = api.predict(["*CC(*)C"], properties=["tiny"])
    assert {"psmiles", "psmiles_canonical", "tiny", "tiny_std", "tiny_ci95",
            "nn_similarity", "error"} <= set(frame.columns)
    assert frame.tiny_ci95[0] > frame.tiny_std[0] > 0
    assert "similarity_threshold" in card
    with pytest.raises(FileNotFoundError, match="no shipped model"):
        api.predict(["*CC(*)C"], properties=["Egc"])
    # Calibration from separate single-model runs (seeds), pooled in pairs;
    # the members are already trained, so ship only rewrites the card,
    # keeping the hardware and time of the run that trained them.
    card_path = tmp_path / "ship" / "model" / "card.json"
    trained = json.loads(card_path.read_text())
    card_path.write_text(json.dumps(dict(trained, hardware="the trainer's")))
    seeds = []
    for seed in (1, 2):
        seeds.append(tmp_path / f"cv_seed{seed}")
        assert main(["finetune", *common, "finetune.baselines=[]",
                     f"seed={seed}", "--out", str(seeds[-1])]) == 0
    assert main(["ship", *common, "--ensemble", "2", "--cv-run",
                 *map(str, seeds), "--out", str(tmp_path / "ship")]) == 0
    card = json.loads((tmp_path / "ship" / "model" / "card.json").read_text())
    assert "pooled into out-of-fold ensembles of 2" in card["calibration_source"]
    assert card["hardware"] == "the trainer's"
    assert card["training_seconds"] == trained["training_seconds"]
    assert card["cross_validation"]["metrics"]["rmse"]["n"] == 4  # 2 x 2 folds
    assert card["calibration"]["k1"] > 0
    # A run trained member by member (two runs of one seed and its folds,
    # here of two learning rates), its members averaged as shipped.
    other = tmp_path / "cv_seed1_lr"
    assert main(["finetune", *common, "finetune.baselines=[]", "seed=1",
                 "optim.lr=0.003", "--out", str(other)]) == 0
    assert main(["ship", *common, "--ensemble", "2", "--cv-run",
                 f"{seeds[0]},{other}", "--out", str(tmp_path / "ship")]) == 0
    card = json.loads((tmp_path / "ship" / "model" / "card.json").read_text())
    assert "1 cross-validation run(s) of 2 member runs each" in \
        card["calibration_source"]
    members = [pd.read_csv(r / "predictions.csv").set_index("row").sort_index()
               for r in (seeds[0], other)]
    assert (members[0].fold == members[1].fold).all()
    mean = (members[0].pred + members[1].pred) / 2
    rmse = [np.sqrt(((mean - members[0].y)[members[0].fold == f] ** 2).mean())
            for f in (0, 1)]
    metrics = card["cross_validation"]["metrics"]["rmse"]
    assert metrics["n"] == 2 and metrics["mean"] == pytest.approx(np.mean(rmse))
    pooled = np.sqrt(((mean - members[0].y) ** 2).mean())
    assert card["cross_validation"]["rmse_of_pooled_ensembles"] == \
        pytest.approx(pooled)
    # The same member trained fold by fold (finetune.only_folds parts,
    # joined by '+'): the same card figures; parts must hold each fold once.
    parts = []
    for fold in (0, 1):
        parts.append(tmp_path / f"cv_seed1_lr_fold{fold}")
        assert main(["finetune", *common, "finetune.baselines=[]", "seed=1",
                     "optim.lr=0.003", f"finetune.only_folds=[{fold}]",
                     "--out", str(parts[-1])]) == 0
    assert main(["ship", *common, "--ensemble", "2", "--cv-run",
                 f"{seeds[0]},{parts[0]}+{parts[1]}",
                 "--out", str(tmp_path / "ship")]) == 0
    by_parts = json.loads(
        (tmp_path / "ship" / "model" / "card.json").read_text())
    for metric, values in card["cross_validation"]["metrics"].items():
        assert by_parts["cross_validation"]["metrics"][metric] == \
            pytest.approx(values)
    assert by_parts["calibration"] == pytest.approx(card["calibration"])
    assert by_parts["cross_validation"]["runs"] == [
        f"{seeds[0]},{parts[0]}+{parts[1]}"]
    capsys.readouterr()
    assert main(["ship", *common, "--ensemble", "2", "--cv-run",
                 f"{seeds[0]},{parts[0]}+{parts[0]}",
                 "--out", str(tmp_path / "ship")]) != 0
    assert "each of its 2 folds once" in capsys.readouterr().err
    # A second shipped model whose featurizer differs only in its descriptor
    # set (RDKit only, GIN branch alone): one shared featurisation serves
    # both, and its predictions equal those of its own featurisation.
    csv_2d = tmp_path / "tiny2d.csv"
    csv_2d.write_text(tiny_csv.read_text())
    assert main(["ship", "--config", str(tiny_config), "--csv", str(csv_2d),
                 "--target", "value", "--set", "optim.max_epochs=2",
                 "data.descriptors=rdkit", "model.encoder_2d=gin",
                 "model.mode=2d", "--out", str(tmp_path / "ship2d"),
                 "--install"]) == 0
    api._shipped.cache_clear()
    both = api.predict(["*CC(*)c1ccccc1", "**"])
    alone = api.predict(["*CC(*)c1ccccc1", "**"], model=shipped / "tiny2d")
    assert both.tiny2d[0] == pytest.approx(alone.tiny2d[0], rel=1e-5)
    tiny_alone = api.predict(["*CC(*)c1ccccc1"], model=shipped / "tiny")
    assert both.tiny[0] == pytest.approx(tiny_alone.tiny[0], rel=1e-5)
    assert both.error[1] and pd.isna(both.tiny2d[1])
