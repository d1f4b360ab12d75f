"""The benchmark scripts run end to end on tiny settings (no timing asserted)."""
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

ROOT = Path(__file__).resolve().parents[1]


def _run(*args):
    result = subprocess.run([sys.executable, *args], check=False,
                            capture_output=True,
                            text=True, cwd=ROOT, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def test_conformer_benchmark_runs():
    out = _run("benchmarks/conformers.py", "--num", "3")
    assert "speed-up of the default recipe per polymer" in out
    assert "MMPolymer (10 ETKDG+MMFF with H, + 2D)" in out


def test_scaling_benchmark_runs(tmp_path):
    out = _run("benchmarks/scaling.py", "--units", "1", "2", "--repeats", "1",
               "--batch-size", "2", "--encoders", "painn", "dense",
               "--polymers", "styrene-morpholine", "--out", str(tmp_path))
    assert "dense/painn" in out
    frame = pd.read_csv(tmp_path / "scaling_cpu.csv")
    assert len(frame) == 4 and frame["seconds"].gt(0).all()
    assert frame["atoms"].tolist() == [20, 20, 38, 38]
    assert (tmp_path / "scaling_cpu.png").stat().st_size > 10_000


def test_predict_latency_runs(tmp_path):
    from mmpoly_geo.cli import main

    csv = tmp_path / "t.csv"
    csv.write_text("psmiles,v\n" + "\n".join(
        f"*C{'C' * i}C(*)O,{i}" for i in range(12)) + "\n")
    config = tmp_path / "c.yaml"
    config.write_text(
        "model: {fusion_channels: 8, sequence_kwargs: {hidden_channels: 8, "
        "num_layers: 1, num_heads: 2}, encoder_3d_kwargs: {hidden_channels: 8,"
        " vector_channels: 2, num_layers: 1}}\n"
        "optim: {max_epochs: 1}\ntrainer: {progress_bar: false}\n"
        f"data: {{num_conformers: 2, num_workers: 0, root: '{tmp_path}'}}\n"
        "finetune: {folds: 2, baselines: [], pretrained: null}\n")
    assert main(["finetune", "--config", str(config), "--csv", str(csv),
                 "--target", "v", "--out", str(tmp_path / "run")]) == 0
    out = _run("benchmarks/predict_latency.py", "--model",
               str(tmp_path / "run"), "--repeats", "2",
               "--process-repeats", "1")
    assert "of the 1 s target" in out and "of the 3 s target" in out
    assert "imports of the prediction path" in out


def test_suite_quick_mode(tmp_path):
    out = _run("benchmarks/suite.py", "--quick", "--ablations", "--datasets", "Eat",
               "--seeds", "0", "--out", str(tmp_path / "suite"),
               "--root", str(tmp_path / "d"))
    assert "(published, not run here)" in out
    metrics = pd.read_csv(tmp_path / "suite" / "metrics.csv")
    expected = {"rf_morgan", "gin", "schnet", "visnet", "transformer_1d",
                "ours", "ours_scratch", "ours_single", "ours_3d", "ours_before",
                "ours_old_protocol",
                "ours_mean_fusion", "ours_no_bonds", "ours_no_descriptors",
                "ours_periodic", "ours_ensemble_3", "ours_star_keep",
                "ours_star_remove", "ours_2_units", "ours_3_units",
                "ours_eval_1_conformer", "ours_blend_rf", "ours_blend_rf+rf"}
    assert set(metrics.model) == expected
    assert set(metrics.seed) == {0}
    # Identical folds for every model: same test-set sizes per fold.
    sizes = metrics.groupby("model")["n_test"].apply(tuple)
    assert sizes.nunique() == 1
    # Validation MSE (training folds) for our models, none for baselines.
    assert metrics[metrics.model == "ours"]["val_mse"].notna().all()
    assert metrics[metrics.model == "rf_morgan"]["val_mse"].isna().all()
    table = (tmp_path / "suite" / "results.md").read_text()
    assert "| MMPolymer (published, not run here) | 0.061 ± 0.016 |" in table
    assert ("| MMPolymer without pretraining (published, not run here) | 0.122 |"
            in table)
    assert "(n=2)" in table and "### validation MSE" in table
    assert (tmp_path / "suite" / "rmse.png").stat().st_size > 5000
    saved = tmp_path / "suite" / "configs" / "Eat" / "ours_star_keep_seed0.yaml"
    assert "stars: keep" in saved.read_text()
    before = tmp_path / "suite" / "configs" / "Eat" / "ours_before_seed0.yaml"
    assert "fusion: mean" in before.read_text()
    # ours is the default (two members per fold); ablations are of one model.
    configs = tmp_path / "suite" / "configs" / "Eat"
    ours = yaml.safe_load((configs / "ours_seed0.yaml").read_text())
    assert len(ours["finetune"]["members"]) == 2
    for name in ("ours_single", "ours_periodic", "gin"):
        saved = yaml.safe_load((configs / f"{name}_seed0.yaml").read_text())
        assert saved["finetune"]["members"] is None, name

    # A second seed and the test-selection diagnostic, labelled as such.
    out = _run("benchmarks/suite.py", "--quick", "--datasets", "Eat",
               "--models", "ours", "ours_SELECT_ON_TEST", "--seeds", "1",
               "--out", str(tmp_path / "suite"), "--root", str(tmp_path / "d"))
    assert "| ours_SELECT_ON_TEST |" in out
    run = tmp_path / "suite" / "runs" / "Eat" / "ours_SELECT_ON_TEST" / "seed1"
    assert (run / "metrics_SELECT_ON_TEST.csv").is_file()

    # --folds: those folds only (the same test folds), labelled; --label
    # names a --set variant (the finished "ours" run is not reused).
    _run("benchmarks/suite.py", "--quick", "--datasets", "Eat", "--models",
         "ours", "--seeds", "0", "--folds", "1", "--out",
         str(tmp_path / "suite"), "--root", str(tmp_path / "d"),
         "--set", "model.dropout=0.25", "--label", "drop")
    part = pd.read_csv(tmp_path / "suite" / "metrics.csv")
    assert set(part.model) == {"ours_drop_folds1", "rf_morgan"}
    assert set(part.fold) == {1}
    full = metrics[(metrics.model == "ours") & (metrics.fold == 1)]
    assert part[part.model == "ours_drop_folds1"]["n_test"].tolist() == \
        full["n_test"].tolist()
    saved = (tmp_path / "suite" / "configs" / "Eat"
             / "ours_drop_folds1_seed0.yaml")
    assert "dropout: 0.25" in saved.read_text()
    # --report-only takes such a row name; training needs a known model.
    # A run trained fold by fold is reported (and averaged) through its
    # --folds parts, on the folds they hold (here fold 1 of ours_drop).
    out = _run("benchmarks/suite.py", "--quick", "--report-only",
               "--datasets", "Eat", "--models", "ours", "ours_drop_folds1",
               "ours_drop", "--seeds", "0", "--average", "ours_drop,ours",
               "--out", str(tmp_path / "suite"), "--root", str(tmp_path / "d"))
    assert "made of their --folds runs (1): Eat ours_drop seed 0 (folds1)" \
        in out
    both = pd.read_csv(tmp_path / "suite" / "metrics.csv")
    assert set(both.model) == {"ours", "ours_drop_folds1", "ours_drop",
                               "rf_morgan", "mean(ours_drop,ours)"}
    pooled = both[both.model == "ours_drop"]
    assert pooled.fold.tolist() == [1]
    assert pooled.rmse.item() == both[both.model == "ours_drop_folds1"
                                      ].rmse.item()
    runs = tmp_path / "suite" / "runs" / "Eat"
    preds = [pd.read_csv(runs / m / "seed0" / "predictions.csv")
             .query("model == 'mmpolymer' and fold == 1")
             .sort_values("row", ignore_index=True)
             for m in ("ours_drop_folds1", "ours")]
    mean = (preds[0].pred + preds[1].pred) / 2
    averaged = both[both.model == "mean(ours_drop,ours)"]
    assert averaged.fold.tolist() == [1]
    assert averaged.rmse.item() == pytest.approx(
        ((mean - preds[0].y) ** 2).mean() ** 0.5)
    bad = subprocess.run(
        [sys.executable, "benchmarks/suite.py", "--quick", "--datasets",
         "Eat", "--models", "ours_drop_folds1", "--out",
         str(tmp_path / "suite")], cwd=ROOT, capture_output=True, text=True)
    assert bad.returncode == 2 and "unknown model(s) ours_drop_folds1" in \
        bad.stderr
    # Parts holding the same fold (by their summaries) are an error.
    shutil.copytree(runs / "ours_drop_folds1", runs / "ours_drop_folds0-1")
    overlap = subprocess.run(
        [sys.executable, "benchmarks/suite.py", "--quick", "--report-only",
         "--datasets", "Eat", "--models", "ours_drop", "--seeds", "0",
         "--out", str(tmp_path / "suite"), "--root", str(tmp_path / "d")],
        cwd=ROOT, capture_output=True, text=True)
    assert overlap.returncode == 1 and "overlap: ours_drop_folds0-1, " \
        "ours_drop_folds1" in overlap.stderr
    shutil.rmtree(runs / "ours_drop_folds0-1")

    # --report-only tabulates finished runs, trains nothing, names the rest;
    # seeds are pooled (2 folds x 2 seeds); --average adds the fold-by-fold
    # mean of two finished runs' predictions where both are finished.
    report_args = ("benchmarks/suite.py", "--quick", "--report-only",
                   "--datasets", "Eat", "Eea", "--models", "ours", "gin",
                   "--seeds", "0", "1", "--average", "ours,gin", "--out",
                   str(tmp_path / "suite"), "--root", str(tmp_path / "d"),
                   "--paired", "mean(ours,gin),ours")
    out = _run(*report_args)
    assert ("not finished (8): Eat gin seed 1, Eea ours seed 0, Eea gin "
            "seed 0, Eea ours seed 1, Eea gin seed 1, Eat mean(ours,gin) "
            "seed 1, Eea mean(ours,gin) seed 0, Eea mean(ours,gin) seed 1"
            in out)
    assert not (tmp_path / "suite" / "runs" / "Eea").exists()
    report = pd.read_csv(tmp_path / "suite" / "metrics.csv")
    assert report.model.value_counts().to_dict() == {
        "ours": 4, "rf_morgan": 4, "gin": 2, "mean(ours,gin)": 2}
    runs = tmp_path / "suite" / "runs" / "Eat"
    preds = [pd.read_csv(runs / m / "seed0" / "predictions.csv")
             .query("model == 'mmpolymer'").sort_values(["fold", "row"],
                                                        ignore_index=True)
             for m in ("ours", "gin")]
    both = preds[0].assign(pred=(preds[0].pred + preds[1].pred) / 2)
    expected = both.groupby("fold").apply(
        lambda g: ((g.pred - g.y) ** 2).mean() ** 0.5).to_numpy()
    averaged = report[report.model == "mean(ours,gin)"].sort_values("fold")
    assert averaged.rmse.to_numpy() == pytest.approx(expected)
    assert not np.allclose(averaged.rmse.to_numpy(), report[
        (report.model == "ours") & (report.seed == 0)].rmse.to_numpy())
    # --paired: the average against ours, on the folds both hold (seed 0).
    ours0 = report[(report.model == "ours") & (report.seed == 0)
                   ].sort_values("fold")
    diff = averaged.rmse.to_numpy() - ours0.rmse.to_numpy()
    assert (f"| mean(ours,gin) - ours | Eat | 2 | "
            f"{averaged.rmse.mean():.4g} | {ours0.rmse.mean():.4g} | "
            f"{diff.mean():+.4g} ± {diff.std():.3g} | {(diff < 0).sum()}/2 |"
            in out)
    assert "| mean(ours,gin) - ours | Eea |" not in out  # no shared fold

    # Run folders are not committed: without them the same report comes
    # from record.csv, which every invocation above added its runs to (the
    # forest once per seed).
    shutil.rmtree(tmp_path / "suite" / "runs")
    out = _run(*report_args)
    assert ("no run folder here (4): Eat ours seed 0, Eat gin seed 0, "
            "Eat ours seed 1, Eat mean(ours,gin) seed 0" in out)
    again = pd.read_csv(tmp_path / "suite" / "metrics.csv")
    key = ["dataset", "seed", "model", "fold"]
    pd.testing.assert_frame_equal(
        again.sort_values(key, ignore_index=True),
        report.sort_values(key, ignore_index=True))
    # Nor does training retrain a recorded run whose folder is gone.
    out = _run("benchmarks/suite.py", "--quick", "--datasets", "Eat",
               "--models", "ours", "--seeds", "0", "--out",
               str(tmp_path / "suite"), "--root", str(tmp_path / "d"))
    assert "no run folder here (1): Eat ours seed 0" in out
    assert not (tmp_path / "suite" / "runs").exists()


def test_suite_pretrained_variants():
    import runpy

    suite = runpy.run_path(str(ROOT / "benchmarks" / "suite.py"))
    models = {"ours": ["a=1"], "gin": []}
    variants = suite["pretrained_variants"](
        models, ["runs/pre", "desc=runs/pre_desc"])
    assert variants == {
        "ours_pretrained": ["a=1", "finetune.pretrained=runs/pre"],
        "ours_pretrained_desc": ["a=1", "finetune.pretrained=runs/pre_desc"]}


def test_suite_paired_differences():
    import runpy

    suite = runpy.run_path(str(ROOT / "benchmarks" / "suite.py"))
    metrics = pd.DataFrame({
        "model": ["a"] * 3 + ["b"] * 4,
        "seed": [0, 0, 1, 0, 0, 1, 1], "fold": [0, 1, 0, 0, 1, 0, 1],
        "rmse": [1.0, 2.0, 3.0, 1.5, 1.0, 3.5, 9.0],
        "val_mse": [0.1, 0.2, 0.3, 0.2, 0.1, 0.4, 9.0]})
    row = suite["paired_differences"](metrics, "a", "b")
    # Seed 1 fold 1 is b's only: left out.
    assert row["n"] == 3 and row["rmse_lower"] == 2 and row["val_lower"] == 2
    assert row["rmse_mean"] == pytest.approx(0.0)
    assert row["rmse_std"] == pytest.approx(np.std([-0.5, 1.0, -0.5]))
    assert row["rmse_a"] == pytest.approx(2.0)
    assert row["val_mean"] == pytest.approx(-0.1 / 3)
    assert suite["paired_differences"](metrics, "a", "c") is None


def test_suite_record_keeps_side_by_side_runs(tmp_path):
    """Two suite calls that finish one after the other keep each other's
    runs in the record; a run reported again replaces its old rows."""
    import runpy

    suite = runpy.run_path(str(ROOT / "benchmarks" / "suite.py"))
    path = tmp_path / "record.csv"

    def run(dataset, seed, rmse):
        return pd.DataFrame({"dataset": dataset, "model": "ours",
                             "seed": seed, "fold": [0, 1], "rmse": rmse})

    suite["update_record"](run("Xc", 0, 1.0), path)
    suite["update_record"](run("Xc", 1, 2.0), path)
    suite["update_record"](run("Eea", 0, 3.0), path)
    suite["update_record"](run("Xc", 0, 4.0), path)
    record = pd.read_csv(path)
    assert len(record) == 6
    by_run = record.groupby(["dataset", "seed"]).rmse.agg(list).to_dict()
    assert by_run == {("Eea", 0): [3.0, 3.0], ("Xc", 0): [4.0, 4.0],
                      ("Xc", 1): [2.0, 2.0]}
    assert [p.name for p in tmp_path.iterdir()] == ["record.csv"]


def test_pretrain_ablation_resumes(tmp_path, capsys):
    """Which commands the ablation runs, by the state of its run folders."""
    import runpy

    ablation = runpy.run_path(str(ROOT / "benchmarks" / "pretrain_ablation.py"))
    out = tmp_path / "abl"
    (out / "tokens").mkdir(parents=True)
    (out / "tokens" / "last.ckpt").touch()  # interrupted: resumes
    (out / "denoising").mkdir()
    (out / "denoising" / "card.json").write_text('{"finished": true}')
    (out / "contrastive").mkdir()  # a stretch the time limit ended
    (out / "contrastive" / "card.json").write_text('{"finished": false}')
    (out / "contrastive" / "last.ckpt").touch()
    kept = tmp_path / "kept"  # a copy kept from an earlier machine
    (kept / "denoising").mkdir(parents=True)
    (kept / "denoising" / "card.json").write_text('{"finished": true}')
    ablation["main"](["--stage", "pretrain", "--out", str(out), "--dry-run",
                      "--kept", str(kept), "--checkpoint", "descriptors=default",
                      "--set", "trainer.accelerator=gpu",
                      "--time-limit", "600"])
    lines = capsys.readouterr().out.splitlines()
    commands = [line for line in lines if line.startswith("$ ")]
    assert len(commands) == 2  # tokens and contrastive
    assert (f"--out {out / 'tokens'} --epochs 4 --resume --time-limit 600.0 "
            f"--set" in commands[0])
    assert "pretrain.branches=[1d] pretrain.coord_weight=0" in commands[0]
    assert commands[0].endswith("trainer.accelerator=gpu")
    assert f"--out {out / 'contrastive'} --epochs 4 --resume" in commands[1]
    assert "pretrain.descriptor_weight=0" in commands[1]
    assert f"denoising: pretrained ({kept / 'denoising'})" in lines

    # Fine-tuning takes the finished and the given checkpoints only, each
    # row paired with the from-scratch one.
    ablation["main"](["--stage", "finetune", "--out", str(out), "--dry-run",
                      "--kept", str(kept), "--checkpoint", "descriptors=default",
                      "--datasets", "Eea", "--seeds", "0"])
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == ("pretraining not finished, not fine-tuned: tokens, "
                        "contrastive")
    command = lines[1]
    assert "--models ours_single --seeds 0" in command
    # Its own scratch row (same code), never the committed ours_single.
    assert (f"--label abl --pretrained denoising={kept / 'denoising'} "
            f"descriptors=default --set" in command)
    assert command.endswith(
        "--paired ours_single_pretrained_denoising_abl,ours_single_abl "
        "ours_single_pretrained_descriptors_abl,ours_single_abl")
    with pytest.raises(SystemExit):
        ablation["main"](["--checkpoint", "masks=default", "--dry-run"])

    # A run finished here is kept (copied) and then fine-tuned from the copy.
    (out / "tokens" / "pretrained.pt").write_bytes(b"weights")
    (out / "tokens" / "card.json").write_text('{"finished": true}')
    ablation["main"](["--stage", "pretrain", "--variants", "tokens", "--out",
                      str(out), "--kept", str(kept)])
    assert (kept / "tokens" / "pretrained.pt").read_bytes() == b"weights"
    assert f"tokens: kept in {kept / 'tokens'}" in capsys.readouterr().out
    ablation["main"](["--stage", "finetune", "--variants", "tokens", "--out",
                      str(out), "--kept", str(kept), "--dry-run"])
    assert f"--pretrained tokens={kept / 'tokens'} " in capsys.readouterr().out


def test_fuzz_benchmark_runs(tmp_path):
    out = _run("benchmarks/fuzz.py", "--n", "40", "--num-conformers", "1",
               "--time-budget", "1", "--out", str(tmp_path))
    assert "| kept + rejected = all rows | pass |" in out
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["strings"] == 44 and summary["lost"] == 0
    assert summary["kept"] + summary["rejected"] == 44
    assert "bonded to each other" in summary["known_bad"]["**"]


def test_calibration_benchmark_runs(tmp_path):
    import numpy as np

    rng = np.random.default_rng(0)
    n = 300
    sim = rng.uniform(0.2, 1.0, n)
    sigma = rng.uniform(0.1, 0.3, n)
    y = rng.normal(size=n)
    # Errors 2x the spread, and larger far from the training data.
    pred = y + rng.normal(0, 2 * sigma * (1 + 2 * (sim < 0.4)))
    run = tmp_path / "runs" / "set" / "ours"
    run.mkdir(parents=True)
    pd.DataFrame(dict(model="mmpolymer", fold=np.arange(n) % 5, y=y,
                      pred=pred, pred_std=sigma, nn_similarity=sim)).to_csv(
        run / "predictions.csv", index=False)
    out = _run("benchmarks/calibration.py", str(run), "--out",
               str(tmp_path / "cal"))
    assert "| runs_set_ours | 300 |" in out
    result = json.loads((tmp_path / "cal" / "runs_set_ours.json").read_text())
    assert result["coverage_1sigma_raw"] < 0.5
    assert abs(result["coverage_1sigma"] - 0.68) < 0.08
    assert 0.35 <= result["similarity_threshold"] <= 0.6  # errors grow below 0.4
    assert (tmp_path / "cal" / "runs_set_ours.png").stat().st_size > 5000
    assert abs(result["coverage_interval95"] - 0.95) < 0.05
    # Two single-model runs (seeds) pooled into out-of-fold pairs.
    seeds = []
    for seed in (1, 2):
        seeds.append(tmp_path / "runs" / "set2" / f"seed{seed}")
        seeds[-1].mkdir(parents=True)
        pd.DataFrame(dict(
            model="mmpolymer", fold=np.arange(n) % 5, row=np.arange(n),
            psmiles=["*CC(*)" + "C" * (i % 7) for i in range(n)],
            target="value", y=y, pred=y + rng.normal(0, 0.2, n))).to_csv(
            seeds[-1] / "predictions.csv", index=False)
    out = _run("benchmarks/calibration.py", *map(str, seeds), "--pool", "2",
               "--out", str(tmp_path / "cal2"))
    assert "| runs_set2_pool2 | 300 |" in out
    # Runs trained member by member (here, each seed's two member runs):
    # alone, its members' mean and spread; pooled by 2, each run alone.
    second = [tmp_path / "runs" / "set2b" / f"seed{seed}" for seed in (1, 2)]
    for seed, folder in zip(seeds, second):
        folder.mkdir(parents=True)
        frame = pd.read_csv(seed / "predictions.csv")
        frame["pred"] = frame.y + rng.normal(0, 0.2, n)
        frame.to_csv(folder / "predictions.csv", index=False)
    runs = [f"{a},{b}" for a, b in zip(seeds, second)]
    out = _run("benchmarks/calibration.py", *runs, "--pool", "2", "--out",
               str(tmp_path / "cal3"))
    assert "| runs_set2+set2b_pool2 | 600 |" in out
    out = _run("benchmarks/calibration.py", runs[0], "--out",
               str(tmp_path / "cal3"))
    line = next(l for l in out.splitlines() if "| runs_set2_seed1+set2b |" in l)
    assert "| 300 |" in line
    # The second member trained fold by fold (finetune.only_folds parts,
    # joined by '+'): the same figures.
    frame = pd.read_csv(second[0] / "predictions.csv")
    parts = []
    for i, folds in enumerate(([0, 1], [2, 3, 4])):
        parts.append(tmp_path / "runs" / "set2b" / f"part{i}")
        parts[-1].mkdir()
        frame[frame.fold.isin(folds)].to_csv(parts[-1] / "predictions.csv",
                                              index=False)
        (parts[-1] / "summary.json").write_text(json.dumps(
            {"folds": 5, "folds_run": folds, "ensemble": 1}))
    out = _run("benchmarks/calibration.py", f"{seeds[0]},{parts[0]}+{parts[1]}",
               "--out", str(tmp_path / "cal4"))
    assert line in out.splitlines()


def test_pretrain_throughput_runs():
    out = _run("benchmarks/pretrain_throughput.py", "--num", "40", "--steps",
               "1", "--threads", "1")
    assert "| 32 | no | no |" in out and "1.00x" in out
    assert out.count("polymers/s") == 1 and out.count("x |") == 5


def test_preprocess_scaling_runs(tmp_path):
    pytest.importorskip("psutil")
    # Dask itself is tested in tests/data/test_sharded_processing.py.
    out = _run("benchmarks/preprocess_scaling.py", "--num", "12", "--sizes",
               "30", "60", "--dask-shards", "0", "--cores", "2", "16",
               "--out", str(tmp_path))
    assert "| processes | 2 |" in out
    result = json.loads((tmp_path / "preprocess_scaling.json").read_text())
    assert result["processing"]["processes 1"]["kept"] >= 10
    assert set(result["iterating"]) == {"30", "60"}
    assert result["iterating"]["60"]["disk"]["peak_rss_mib"] > 0
    assert result["projection_hours"]["16"] < result["projection_hours"]["2"]


def test_supervised_transfer_runs(tmp_path):
    from mmpoly_geo.chem import polymer_key
    from mmpoly_geo.data.shipped import shipped_files

    out = tmp_path / "sup"
    said = _run("benchmarks/supervised_transfer.py", "--sources", "Xc",
                "--exclude", "Eea", "--out", str(out), "--max-rows", "40",
                "--start", "none", "--set", "optim.max_epochs=1")
    labels = pd.read_csv(out / "labels.csv")
    eea = {polymer_key(s) for s in pd.read_csv(shipped_files("Eea")[0]).psmiles}
    first = pd.read_csv(shipped_files("Xc")[0], nrows=40).psmiles
    kept = [s for s in first if polymer_key(s) not in eea]
    # Exactly the source rows whose polymer is not one of the excluded set's.
    assert 0 < len(kept) < 40 and sorted(labels.psmiles) == sorted(kept)
    assert f"{40 - len(kept)} rows left out" in said
    blob = torch.load(out / "pretrained.pt", weights_only=True)
    assert blob["pretrained_branches"] == ["2d"]
    card = json.loads((out / "card.json").read_text())
    assert card["polymers"] == len(kept) and card["exclude"] == ["Eea"]


def test_supervised_transfer_from_labels_csv(tmp_path):
    from mmpoly_geo.chem import polymer_key
    from mmpoly_geo.data.shipped import shipped_files

    xc = pd.read_csv(shipped_files("Xc")[0], nrows=30).psmiles
    rng = np.random.default_rng(0)
    labels = pd.DataFrame({"psmiles": xc, "xtb_homo": rng.normal(size=30),
                           "xtb_lumo": rng.normal(size=30), "other": 1.0})
    labels.loc[3, ["xtb_homo", "xtb_lumo"]] = np.nan  # no label: dropped
    labels.loc[4, "xtb_lumo"] = np.nan  # one label: kept, the other masked
    labels.loc[30] = ["*C(*", np.nan, np.nan, 1.0]  # unparsable, no labels
    labels.to_csv(tmp_path / "labels.csv", index=False)
    out = tmp_path / "sup"
    said = _run("benchmarks/supervised_transfer.py", "--labels",
                str(tmp_path / "labels.csv"), "--columns", "xtb_homo",
                "xtb_lumo", "--exclude", "Eea", "--out", str(out),
                "--start", "none", "--set", "optim.max_epochs=1")
    eea = {polymer_key(s) for s in pd.read_csv(shipped_files("Eea")[0]).psmiles}
    kept = [s for i, s in enumerate(xc)
            if i != 3 and polymer_key(s) not in eea]
    written = pd.read_csv(out / "labels.csv")
    assert list(written.columns) == ["psmiles", "xtb_homo", "xtb_lumo"]
    assert list(written.psmiles) == kept and len(kept) < 29
    assert f"{31 - len(kept)} rows left out" in said
    card = json.loads((out / "card.json").read_text())
    assert card["targets"] == ["xtb_homo", "xtb_lumo"]
    assert torch.load(out / "pretrained.pt", weights_only=True)[
        "pretrained_branches"] == ["2d"]
    # Both kinds: the sets' rows first, then the CSV's, each NaN in the
    # other's columns.
    _run("benchmarks/supervised_transfer.py", "--sources", "Egc",
         "--max-rows", "20", "--labels", str(tmp_path / "labels.csv"),
         "--columns", "xtb_homo", "--exclude", "Eea", "--out",
         str(tmp_path / "both"), "--start", "none", "--set",
         "optim.max_epochs=1")
    both = pd.read_csv(tmp_path / "both" / "labels.csv")
    assert list(both.columns) == ["psmiles", "Egc", "xtb_homo"]
    egc = both.Egc.notna()
    assert egc.sum() > 0 and not both.xtb_homo[egc].notna().any()
    assert list(egc) == sorted(egc, reverse=True)  # the sets' rows first
    # --max-rows: each source's first file rows, then rows are left out.
    assert list(both.psmiles[~egc]) == [s for s in kept if s in set(xc[:20])]
    leak = subprocess.run(  # measured labels need --exclude
        [sys.executable, "benchmarks/supervised_transfer.py", "--sources",
         "Xc", "--out", str(tmp_path / "leak")], capture_output=True,
        text=True, cwd=ROOT, timeout=600)
    assert leak.returncode != 0 and "--sources needs --exclude" in leak.stderr


def test_xtb_corpus_labels_resumes(tmp_path):
    pytest.importorskip("tblite")
    corpus = tmp_path / "corpus.csv"
    pd.DataFrame({"psmiles": ["*CC(*)C", "*CC*", "*C(*)(*)C", "*CC(*)O",
                              "*OC*"]}).to_csv(corpus, index=False)
    out = tmp_path / "labels.csv"
    said = _run("benchmarks/xtb_corpus_labels.py", "--corpus", str(corpus),
                "--rows", "3", "--workers", "1", "--out", str(out))
    assert "0 polymers already labelled, 3 to go" in said
    first = pd.read_csv(out)
    said = _run("benchmarks/xtb_corpus_labels.py", "--corpus", str(corpus),
                "--rows", "5", "--workers", "1", "--chunk", "1",
                "--out", str(out))
    # The same seeded sample, extended; what was done is not done again.
    assert "3 polymers already labelled, 2 to go" in said
    table = pd.read_csv(out)
    assert table.head(3).equals(first)
    assert sorted(table.psmiles) == sorted(pd.read_csv(corpus).psmiles)
    bad = table.set_index("psmiles").loc["*C(*)(*)C"]
    assert np.isnan(bad.xtb_gap) and "3 '*' connection points" in bad.reason
    good = table[table.psmiles != "*C(*)(*)C"]
    assert good.xtb_gap.notna().all() and (good.reason.isna()).all()
    assert np.allclose(good.xtb_gap, good.xtb_lumo - good.xtb_homo)


def test_auxiliary_labels_runs(tmp_path):
    from mmpoly_geo.chem import polymer_key
    from mmpoly_geo.data.shipped import shipped_files

    record = tmp_path / "record.csv"
    pd.DataFrame([dict(model="other", fold=0, n_test=1, rmse=1.0, mae=1.0,
                       r2=0.0, val_mse=1.0, dataset="Eea", seed=0)]
                 ).to_csv(record, index=False)
    said = _run("benchmarks/auxiliary_labels.py", "--target", "Eea",
                "--aux", "Ei", "Xc", "--seeds", "0", "--max-rows", "30",
                "--out", str(tmp_path), "--record", str(record),
                "--label", "aux", "--set", "optim.max_epochs=1",
                "finetune.pretrained=null")
    table = pd.read_csv(tmp_path / "Eea" / "aux.csv")
    eea = pd.read_csv(shipped_files("Eea")[0], nrows=30)
    # The target's rows in file order (the suite's folds), joined by key.
    assert list(table.psmiles) == list(eea.psmiles)
    assert np.allclose(table.Eea, eea.value)
    ei = pd.read_csv(shipped_files("Ei")[0])
    ei = dict(zip(map(polymer_key, ei.psmiles), ei.value))
    assert np.allclose(table.Ei, [ei[polymer_key(s)] for s in eea.psmiles])
    xc = pd.read_csv(shipped_files("Xc")[0])
    xc = set(map(polymer_key, xc.psmiles))
    # NaN exactly where the auxiliary set has no value for the polymer.
    assert list(table.Xc.notna()) == [polymer_key(s) in xc
                                      for s in eea.psmiles]
    assert 0 < table.Xc.isna().sum() < 30
    assert "auxiliary values: Ei 30" in said
    rows = pd.read_csv(record)
    mine = rows[rows.model == "ours_gin2d_rdkit_aux"]
    assert sorted(mine.fold) == [0, 1, 2, 3, 4] and mine.n_test.sum() == 30
    assert (rows.model == "other").sum() == 1  # the record keeps its rows
    # Scored on the target alone: its predictions, not the pooled columns.
    pred = pd.read_csv(tmp_path / "Eea" / "aux" / "seed0" / "predictions.csv")
    fold0 = pred[(pred.fold == 0) & (pred.target == "Eea")]
    assert np.isclose(mine[mine.fold == 0].rmse.iloc[0],
                      np.sqrt(((fold0.pred - fold0.y) ** 2).mean()))


def test_xtb_forest_runs(tmp_path):
    pytest.importorskip("tblite")
    said = _run("benchmarks/xtb_forest.py", "--datasets", "Eea", "--seeds",
                "0", "--max-rows", "30", "--root", str(tmp_path),
                "--set", "data.num_conformers=1", "data.time_budget=null")
    first = said.splitlines()[0]
    assert first.startswith("Eea seed 0: rf_morgan RMSE")
    for model in ("rf_morgan_xtb", "rf_xtb"):
        assert f"{model} RMSE" in first
    # The three forests differ in their inputs, so in what they predict.
    rmse = [float(part.split("RMSE ")[1]) for part in first.split("; ")]
    assert len(set(rmse)) == 3 and all(np.isfinite(rmse))
    assert "--max-rows: not recorded" in said
