"""Benchmark suite: identical grouped 5-fold CV for every model on the
MMPolymer data sets, one table (the library's CV runner does all training).

Models: ``rf_morgan`` (random forest on Morgan counts, run alongside the
first model), ``gin`` (PyG GIN, bond graph), ``schnet`` and ``visnet`` (PyG,
our radius graph), ``transformer_1d`` (our SequenceEncoder only), ``ours``
(the default configuration: per fold the average of two members, 1D + 3D +
descriptors and the GIN branch + RDKit descriptors, the GIN branch
fine-tuned from the shipped ``gin`` checkpoint), ``ours_scratch`` (that from
scratch), ``ours_single`` (its first member alone, the default before
``finetune.members``), ``ours_3d`` (that without the sequence branch) and
``ours_before`` (the configuration before the accuracy work: mean fusion, no
bond types, no descriptors, old protocol); all but ``ours``
from scratch (``*_pretrained`` too with ``--pretrained``;
``*_pretrained_LABEL`` for ``--pretrained LABEL=CHECKPOINT``). With
``--ablations`` also one row per change of the accuracy work switched back
(protocol, fusion, bonds, descriptors) or on (periodic bonds, an ensemble of
3), star keep/remove, 2 and 3 repeat units and 1 conformer at evaluation.
``ours_SELECT_ON_TEST`` is a diagnostic (never part of ``--ablations``) that
selects checkpoints on the test fold, to measure how much of a gap to
published numbers is protocol.

Every (data set, model) is run for each of ``--seeds`` (the seed sets the
folds, the conformers and the training randomness; all models share the
folds of a seed), and the table reports mean +- std over seeds x folds, with
the validation MSE (training folds only) of our models next to it: settings
are chosen on that, never on the test folds.
Published Table 2 rows (MMPolymer, Uni-Mol, TransPolymer) and MMPolymer's
Table 5 no-pretraining row are added for reference, labelled "published, not
run here".

Usage::

    python benchmarks/suite.py [--datasets Eea Ei ...] [--models gin ours ...]
        [--seeds 0 1 2] [--pretrained [LABEL=]runs/pre ...] [--folds 0]
        [--quick]
        [--report-only] [--average ours,ours_gin2d_rdkit ...]
        [--out benchmarks/results/accuracy]
        [--set optim.max_epochs=200 ...] [--label long]

``--quick`` (used by the tests): 40 polymers per data set, 2 folds, 1 epoch,
tiny models. Finished (dataset, model, seed) runs (with a ``summary.json``, or,
their folder absent, with rows in ``record.csv``, see below) are reported as
they are, never retrained (so their numbers are those of the code that made
them; delete a run folder and its record rows to redo it); unfinished ones
resume (``--resume`` of the runner), so an interrupted suite continues where
it stopped, and several suites with disjoint ``--datasets``/``--models`` can share one ``--out``
(e.g. one process per core); ``--report-only`` then tabulates whatever is
finished without training, taking runs whose folder is absent (run folders
are not committed) from ``record.csv`` in ``--out`` (every run ever reported
there; ``metrics.csv``, ``results.md`` and ``rmse.png`` show this
invocation's runs).
``--average A,B`` adds rows ``mean(A,B)``: the equal-weight average of two
finished runs' test-fold predictions, fold by fold (an ensemble of two
configurations; the weights are fixed, so nothing is chosen on test folds),
with the validation MSE of the same average (training folds only). A run
trained fold by fold (``--folds 0``, ``--folds 1``, ... in parallel lanes,
rows ``NAME_foldsI``) is reported under ``NAME`` by ``--report-only``, and
averaged, through its finished parts, on the folds they hold (the table's n
says how many). ``--paired A,B`` adds a table of the differences A - B
paired by (seed, fold) on the folds both rows hold (test RMSE and validation
MSE: mean ± std, and on how many folds A is lower): the comparison behind
every "paired" figure in the README, which tells a small but consistent
gain from the fold-to-fold spread that both rows share.
"""
import argparse
import json
import re
import shutil
import sys
import time
from pathlib import Path

import pandas as pd

from mmpoly_geo.atomic import atomic_path
from mmpoly_geo.data.shipped import BENCHMARKS, shipped_files
from mmpoly_geo.training import load_config, run_finetune
from mmpoly_geo.training.cross_validation import (
    SELECT_ON_TEST_TAG, output_tag, validation_predictions)
from mmpoly_geo.training.metrics import (
    mean_squared_error, regression_metrics)

#: The training protocol before the accuracy work (issue 9).
OLD_PROTOCOL = ["optim.lr=5e-4", "optim.weight_decay=1e-4",
                "optim.max_epochs=100", "optim.patience=20",
                "optim.ema_decay=0", "finetune.val_fraction=0.1"]
NO_DESCRIPTORS = ["model.descriptors=false", "data.descriptors=none"]
#: From scratch (the default fine-tunes its GIN member from the shipped
#: ``gin`` checkpoint: finetune.pretrained).
SCRATCH = ["finetune.pretrained=null"]
#: One model per fold, from scratch (the default trains two members:
#: finetune.members; the first, alone, has no branch the default's
#: checkpoint trained).
SINGLE = ["finetune.members=null"] + SCRATCH
MODELS = {
    "gin": ["model.kind=gin"] + NO_DESCRIPTORS + SINGLE,
    "schnet": ["model.kind=schnet"] + NO_DESCRIPTORS + SINGLE,
    "visnet": ["model.kind=visnet"] + NO_DESCRIPTORS + SINGLE,
    "transformer_1d": ["model.mode=1d"] + NO_DESCRIPTORS + SINGLE,
    "ours": [],
    "ours_scratch": SCRATCH,
    "ours_single": SINGLE,
    "ours_3d": ["model.mode=3d"] + SINGLE,
    "ours_before": ["model.fusion=mean", "model.bonds=false"]
    + NO_DESCRIPTORS + OLD_PROTOCOL + SINGLE,
}
#: Per-fold metrics of every run reported in ``--out`` (each invocation
#: adds or replaces its runs): what ``--report-only`` takes for runs whose
#: folder is absent (run folders are not committed).
RECORD = "record.csv"
#: Ablations of ``ours_single`` (the 1D + 3D member of ``ours`` alone, the
#: default before finetune.members): each change of the accuracy work
#: switched back (or an option switched on), Table 4 star handling, oligomer
#: input, number of conformers averaged at evaluation.
ABLATIONS = {name: overrides + SINGLE for name, overrides in {
    "ours_old_protocol": OLD_PROTOCOL,
    "ours_mean_fusion": ["model.fusion=mean"],
    "ours_no_bonds": ["model.bonds=false"],
    "ours_no_descriptors": NO_DESCRIPTORS,
    "ours_periodic": ["model.periodic=true"],
    "ours_ensemble_3": ["finetune.ensemble=3"],
    # Also reports ours_blend_rf+rf: ours averaged with the forest, the weight
    # chosen on the validation split.
    "ours_blend_rf": ["finetune.blend=rf", "finetune.baselines=[rf]"],
    "ours_star_keep": ["data.stars=keep"],
    "ours_star_remove": ["data.stars=remove"],
    "ours_2_units": ["data.repeat_units=2"],
    "ours_3_units": ["data.repeat_units=3"],
    "ours_eval_1_conformer": ["finetune.eval_conformers=1"],
}.items()}
#: Diagnostics: run only when named in --models, labelled in every output.
DIAGNOSTICS = {
    "ours" + SELECT_ON_TEST_TAG: ["finetune.select_on_test=true"] + SINGLE,
}
QUICK = [
    "optim.max_epochs=1", "finetune.folds=2", "data.num_conformers=2",
    "model.fusion_channels=16",
    "model.sequence_kwargs={hidden_channels: 16, num_layers: 1, num_heads: 2}",
    "model.encoder_3d_kwargs={hidden_channels: 8, vector_channels: 2, num_layers: 1}",
    "model.baseline_kwargs={hidden_channels: 16}",
    "trainer.progress_bar=false", "data.num_workers=0",
    # The shipped checkpoints fit the default model size only.
    "finetune.pretrained=null",
]
# MMPolymer Table 2 (CIKM 2024), RMSE and R^2 mean +- std (std None where
# not published); see shared reference mmpolymer.md. Not run here.
PUBLISHED = {
    "MMPolymer": {
        "Egc": (.431, .017, .924, .006), "Egb": (.496, .031, .934, .008),
        "Eea": (.286, .029, .925, .025), "Ei": (.390, .057, .836, .053),
        "Xc": (16.814, .867, .488, .072), "EPS": (.511, .035, .779, .052),
        "Nc": (.087, .010, .864, .036), "Eat": (.061, .016, .961, .018)},
    "Uni-Mol": {
        "Egc": (.489, .028, .901, .013), "Egb": (.531, .055, .925, .011),
        "Eea": (.332, .027, .901, .027), "Ei": (.407, .080, .820, .075),
        "Xc": (17.414, 1.581, .454, .079), "EPS": (.536, .053, .751, .085),
        "Nc": (.095, .013, .828, .072), "Eat": (.084, .034, .937, .032)},
    "TransPolymer": {
        "Egc": (.453, .007, .916, .002), "Egb": (.576, .021, .911, .008),
        "Eea": (.326, .040, .902, .036), "Ei": (.397, .061, .830, .059),
        "Xc": (17.740, .732, .430, .058), "EPS": (.547, .051, .744, .075),
        "Nc": (.096, .016, .826, .071), "Eat": (.147, .093, .800, .172)},
    # Table 5, first row: MMPolymer fine-tuned without any pretraining, the
    # like-for-like reference for models trained from scratch (stds are not
    # in the readable material).
    "MMPolymer without pretraining": {
        "Egc": (.596, None, .854, None), "Egb": (.575, None, .910, None),
        "Eea": (.343, None, .895, None), "Ei": (.432, None, .799, None),
        "Xc": (20.152, None, .269, None), "EPS": (.569, None, .725, None),
        "Nc": (.102, None, .811, None), "Eat": (.122, None, .873, None)},
}


def pretrained_variants(models, specs):
    """``ours``/``ours_single``/``ours_3d`` fine-tuned from each ``[LABEL=]CHECKPOINT`` of
    :obj:`specs`: ``{"ours_pretrained[_LABEL]": overrides}``."""
    out = {}
    for spec in specs:
        label, _, path = spec.rpartition("=")
        for m in ("ours", "ours_single", "ours_3d"):
            if m in models:
                out[m + "_pretrained" + (f"_{label}" if label else "")] = \
                    models[m] + [f"finetune.pretrained={path}"]
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+",
                        default=list(BENCHMARKS),
                        choices=list(BENCHMARKS))
    parser.add_argument("--models", nargs="+", default=list(MODELS),
                        help=f"models ({', '.join(MODELS)}), single "
                             f"ablations ({', '.join(ABLATIONS)}) and/or "
                             f"diagnostics ({', '.join(DIAGNOSTICS)}); with "
                             f"--report-only also the row name of any run "
                             f"(e.g. ours_3d_gin_folds0)")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2],
                        help="repeat the CV with these seeds (default: 0 1 2)")
    parser.add_argument(
        "--pretrained", nargs="+", default=[], metavar="[LABEL=]CHECKPOINT",
        help="pretrained checkpoints (a file, a run folder or a shipped "
             "name): ours_pretrained, or ours_pretrained_LABEL for each "
             "labelled one (compare pretraining variants on the same folds)")
    parser.add_argument(
        "--folds", nargs="+", type=int, metavar="FOLD",
        help="train and report only these folds, rows labelled "
             "NAME_foldsI-J (a first look at a setting on a large set; "
             "same folds and splits as the full runs)")
    parser.add_argument("--ablations", action="store_true",
                        help="also run the ablations of ours")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--report-only", action="store_true",
                        help="train nothing: tabulate the finished runs (and "
                             "those in --out's record.csv whose folder is "
                             "absent) and list the missing ones")
    parser.add_argument("--out", default="benchmarks/results/accuracy")
    parser.add_argument("--root", default="data")
    parser.add_argument("--set", nargs="*", default=[],
                        help="configuration overrides for every run this "
                             "invocation trains (finished runs are reported "
                             "as they are: name a new setting with --label)")
    parser.add_argument(
        "--average", nargs="+", default=[], metavar="ROW,ROW[,...]",
        help="also report rows mean(ROW,ROW): the equal-weight average of "
             "those finished runs' test-fold predictions, fold by fold (same "
             "seed, same folds; the weights are fixed, nothing is chosen on "
             "the test fold)")
    parser.add_argument(
        "--paired", nargs="+", default=[], metavar="ROW,ROW",
        help="also report the differences ROW - ROW paired by (seed, fold) "
             "(both rows among this invocation's, e.g. from --models or "
             "--average)")
    parser.add_argument(
        "--label",
        help="rows (and run folders) MODEL_LABEL: a --set variant compared "
             "with MODEL on the same folds")
    args = parser.parse_args()
    # A row may be an average, mean(A,B): split at commas outside brackets.
    pairs = [re.split(r",(?![^()]*\))", spec) for spec in args.paired]
    bad = [",".join(p) for p in pairs if len(p) != 2]
    if bad:
        parser.error(f"--paired takes two rows, A,B; got {', '.join(bad)}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    known = {**MODELS, **ABLATIONS, **DIAGNOSTICS}
    unknown = [m for m in args.models if m not in known]
    if unknown and not args.report_only:
        parser.error(f"unknown model(s) {', '.join(unknown)}; choose from "
                     f"{', '.join(known)} (any finished run's row name "
                     f"with --report-only)")
    # A finished run (e.g. a --label or --folds row) is reported from its
    # folder; its own config.yaml says how it was made.
    models = {m: known.get(m, []) for m in args.models}
    if args.ablations:
        models.update(ABLATIONS)
    models.update(pretrained_variants(models, args.pretrained))
    if args.label:
        models = {f"{m}_{args.label}": o for m, o in models.items()}
    if args.folds:
        folds = sorted(set(args.folds))
        suffix = "_folds" + "-".join(map(str, folds))
        models = {m + suffix: o + [f"finetune.only_folds={folds}"]
                  for m, o in models.items()}
    start = time.perf_counter()
    # Run folders are not committed; record.csv keeps the per-fold metrics
    # of every run ever reported here (its config.yaml under configs/).
    record = (pd.read_csv(out / RECORD) if (out / RECORD).is_file()
              else None)
    rows, missing, recorded, assembled = [], [], [], []
    for dataset in args.datasets:
        source = [f"data.name={dataset}"]
        if args.quick:
            subset = out / "quick_data" / f"{dataset}.csv"
            subset.parent.mkdir(parents=True, exist_ok=True)
            pd.read_csv(shipped_files(dataset)[0]).iloc[:40, :2].to_csv(
                subset, index=False)
            source = [f"data.csv={subset}", "data.target=value"]
        for seed in args.seeds:
            rf_reported = False
            for i, (name, overrides) in enumerate(models.items()):
                # The forest runs with the first model (and with any model
                # that needs it, e.g. the blend); reported once.
                config = load_config(None, [f"data.root={args.root}"] + source
                                     + (QUICK if args.quick else [])
                                     + [f"finetune.baselines="
                                        f"{'[rf]' if i == 0 else '[]'}"]
                                     + overrides + [f"seed={seed}"]
                                     + args.set)
                run_dir = out / "runs" / dataset / name / f"seed{seed}"
                tag = output_tag(config)
                t0 = time.perf_counter()
                # summary.json is written once every fold is finished: such
                # runs are reported as they are, never retrained.
                finished = (run_dir / f"summary{tag}.json").is_file()
                parts = ([] if finished or not args.report_only else
                         finished_runs(run_dir.parent.parent, name, seed, tag))
                if parts:  # trained fold by fold: its folds so far
                    assembled.append(f"{dataset} {name} seed {seed} ("
                                     + ", ".join(p.parent.name[len(name) + 1:]
                                                 for p in parts) + ")")
                    metrics = pd.concat([pd.read_csv(p / f"metrics{tag}.csv")
                                         for p in parts])
                    # The forest is reported with whole runs only.
                    metrics = metrics[metrics.model != "rf_morgan"]
                elif not finished and (args.report_only
                                       or not run_dir.exists()) and (
                        kept := recorded_rows(record, dataset, name, seed,
                                              with_rf=not rf_reported)
                ) is not None:
                    # Run folders do not outlive a machine; the record does:
                    # a recorded run without its folder is not retrained.
                    recorded.append(f"{dataset} {name} seed {seed}")
                    rf_reported = (rf_reported
                                   or "rf_morgan" in set(kept.model))
                    rows.append(kept)
                    continue
                elif args.report_only and not finished:
                    missing.append(f"{dataset} {name} seed {seed}")
                    continue
                else:
                    if not finished:
                        run_finetune(config, run_dir, resume=True)
                    # The exact configuration of every reported run (the
                    # fold runs' under their own names).
                    saved = (out / "configs" / dataset
                             / f"{name}_seed{seed}.yaml")
                    saved.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(run_dir / "config.yaml", saved)
                    metrics = pd.read_csv(run_dir / f"metrics{tag}.csv")
                if rf_reported:  # RF is reported once per data set and seed
                    metrics = metrics[metrics.model != "rf_morgan"]
                rf_reported = rf_reported or "rf_morgan" in set(metrics.model)
                # mmpolymer -> name, mmpolymer+rf -> name+rf
                metrics["model"] = metrics["model"].str.replace(
                    f"mmpolymer{tag}", name, regex=False)
                metrics["dataset"] = dataset
                metrics["seed"] = seed
                rows.append(metrics)
                if not args.report_only and not finished:
                    print(f"{dataset} {name} seed {seed}: "
                          f"{time.perf_counter() - t0:.0f} s", flush=True)
    for spec in args.average:
        parts = spec.split(",")
        name = f"mean({','.join(parts)})"
        for dataset in args.datasets:
            for seed in args.seeds:
                found = averaged_rows(out / "runs" / dataset, parts, seed)
                if found is None:
                    found = recorded_rows(record, dataset, name, seed,
                                          with_rf=False)
                    if found is not None:
                        recorded.append(f"{dataset} {name} seed {seed}")
                if found is None:
                    missing.append(f"{dataset} {name} seed {seed}")
                    continue
                rows.append(found.assign(model=name, dataset=dataset,
                                         seed=seed))
    if assembled:
        print(f"made of their --folds runs ({len(assembled)}): "
              + ", ".join(assembled))
    if recorded:
        print(f"reported from {out / RECORD}, no run folder here "
              f"({len(recorded)}): " + ", ".join(recorded))
    if missing:
        print(f"not finished ({len(missing)}): " + ", ".join(missing))
    if not rows:
        raise SystemExit(f"no finished runs under {out / 'runs'}")
    metrics = pd.concat(rows, ignore_index=True)
    metrics.to_csv(out / "metrics.csv", index=False)
    update_record(metrics, out / RECORD)
    table = write_table(metrics, args.datasets, out / "results.md", pairs)
    plot(metrics, out / "rmse.png")
    seconds = time.perf_counter() - start
    (out / "run.json").write_text(json.dumps(
        {"command": " ".join(["python"] + sys.argv), "datasets": args.datasets,
         "models": list(models), "seeds": args.seeds, "quick": args.quick,
         "set": args.set,
         "report_only": args.report_only, "missing": missing,
         "recorded": recorded,
         "seconds": seconds}, indent=2))
    print(table)
    print(f"\n{seconds:.0f} s; wrote {out / 'metrics.csv'}, "
          f"{out / 'results.md'}, {out / 'rmse.png'}")


def finished_runs(runs, name, seed, tag=""):
    """The finished run folders that hold run ``(name, seed)``: ``NAME`` itself,
    or else the ``--folds`` runs of it (``NAME_foldsI-J``, disjoint folds: a
    large set trained fold by fold in parallel lanes); empty when neither.
    :obj:`tag`: the runs' output tag (:func:`output_tag`)."""
    whole = runs / name / f"seed{seed}"
    if (whole / f"summary{tag}.json").is_file():
        return [whole]
    parts = sorted(p for p in runs.glob(f"{name}_folds*/seed{seed}")
                   if re.fullmatch(rf"{re.escape(name)}_folds[0-9-]+",
                                   p.parent.name)
                   and (p / f"summary{tag}.json").is_file())
    folds = [json.loads((p / f"summary{tag}.json").read_text())["folds_run"]
             for p in parts]
    if sum(map(len, folds)) != len(set().union(*folds)):
        raise SystemExit(f"the --folds runs of {name} seed {seed} overlap: "
                         + ", ".join(p.parent.name for p in parts))
    return parts


def averaged_rows(runs, names, seed):
    """Per-fold metrics of the equal-weight average of the test-fold
    predictions of the finished runs ``runs/NAME/seedSEED`` (or of a run's
    finished ``--folds`` parts, :func:`finished_runs`), on the test folds
    they all hold (``None`` when there is none); the runs must hold the same
    rows on those folds. Its ``val_mse`` is that of the same average on the
    runs' shared validation split (training folds only; recomputed from the
    saved fold models and cached in each run folder as
    ``validation_predictions.csv``)."""
    frames, val_frames = [], []
    for name in names:
        found = finished_runs(runs, name, seed)
        if not found:
            return None
        tests, vals = [], []
        for run in found:
            pred = pd.read_csv(run / "predictions.csv")
            tests.append(pred[pred.model == "mmpolymer"])
            cache = run / "validation_predictions.csv"
            if not cache.is_file():
                validation_predictions(run).to_csv(cache, index=False)
            vals.append(pd.read_csv(cache))
        test, val = pd.concat(tests), pd.concat(vals)
        frames.append(test.set_index(["fold", "row", "target"]).sort_index())
        val_frames.append(val.set_index(["fold", "row", "target"])
                          .sort_index())
    shared = sorted(set.intersection(*(
        set(f.index.get_level_values("fold")) for f in frames)))
    if not shared:
        return None
    frames = [f.loc[shared] for f in frames]
    val_frames = [f.loc[shared] for f in val_frames]
    for name, other, val in zip(names[1:], frames[1:], val_frames[1:]):
        if not other.index.equals(frames[0].index):
            raise SystemExit(f"--average: {name} seed {seed} holds other "
                             f"test folds than {names[0]}")
        if not val.index.equals(val_frames[0].index):
            raise SystemExit(f"--average: {name} seed {seed} holds another "
                             f"validation split than {names[0]}")
    mean = sum(f["pred"] for f in frames) / len(frames)
    val_mean = sum(f["pred"] for f in val_frames) / len(val_frames)
    val_y = val_frames[0]["y"]
    rows = []
    for fold, y in frames[0]["y"].groupby(level="fold"):
        rows.append(dict(fold=fold, n_test=len(y),
                         **regression_metrics(y.to_numpy(),
                                              mean.loc[fold].to_numpy()),
                         val_mse=mean_squared_error(
                             val_y.loc[fold].to_numpy(),
                             val_mean.loc[fold].to_numpy())))
    return pd.DataFrame(rows)


def update_record(metrics, path):
    """Writes :data:`RECORD` at ``path``: the record as it is now, with the
    runs of :obj:`metrics` (keyed by data set, model and seed) replaced or
    added.

    The record is read again here, not at the start of the call, so that two
    suite calls running side by side (disjoint data sets or seeds) keep each
    other's rows; it is written through :func:`~mmpoly_geo.atomic.atomic_path`
    (a temporary file per process, renamed over the record), so a reader
    never sees half of it."""
    key = ["dataset", "model", "seed"]
    if path.is_file():
        record = pd.read_csv(path)
        new = pd.MultiIndex.from_frame(metrics[key])
        old = pd.MultiIndex.from_frame(record[key])
        metrics = pd.concat([record[~old.isin(new)], metrics],
                            ignore_index=True)
    with atomic_path(path) as tmp:
        metrics.sort_values(key + ["fold"], kind="stable").to_csv(
            tmp, index=False)


def recorded_rows(record, dataset, name, seed, with_rf):
    """Rows of the run ``(dataset, name, seed)`` in the record
    (:data:`RECORD`): the model's own rows and its ``NAME+...``
    blends, and the forest's rows of that data set and seed if
    ``with_rf``; ``None`` when the record has no row of the model."""
    if record is None:
        return None
    run = record[(record.dataset == dataset) & (record.seed == seed)]
    own = (run.model == name) | run.model.str.startswith(name + "+")
    if not own.any():
        return None
    return run[own | ((run.model == "rf_morgan") & with_rf)]


def write_table(metrics, datasets, path, pairs=()):
    """RMSE and R² (mean ± population std over seeds x folds, and the number
    of runs), the validation MSE of our models (training folds only), the
    published rows, and the differences of :obj:`pairs` of rows
    (:func:`paired_differences`)."""
    lines = ["Mean ± std over seeds x folds (n = number of test folds "
             "pooled). Settings are chosen on the validation MSE (a split "
             "of the training folds), never on the test folds; rows ending "
             f"in {SELECT_ON_TEST_TAG} are a diagnostic that selects on the "
             "test fold. Published rows select on the held-out fold as "
             "their code does, and use other folds.", ""]
    for metric, label in (("rmse", "RMSE (lower is better)"),
                          ("r2", "R² (higher is better)"),
                          ("val_mse", "validation MSE, training folds only "
                                      "(lower is better)")):
        lines += [f"### {label}", "",
                  "| model | " + " | ".join(datasets) + " |",
                  "|---|" + "---|" * len(datasets)]
        for model, group in metrics.groupby("model", sort=False):
            if metric not in group or group[metric].isna().all():
                continue
            cells = []
            for d in datasets:
                v = group[group.dataset == d][metric].dropna()
                cells.append(f"{v.mean():.3f} ± {v.std(ddof=0):.3f} "
                             f"(n={len(v)})" if len(v) else "-")
            lines.append(f"| {model} | " + " | ".join(cells) + " |")
        if metric != "val_mse":
            k = 0 if metric == "rmse" else 2
            for model, values in PUBLISHED.items():
                cells = [f"{values[d][k]:.3f}" + (
                    "" if values[d][k + 1] is None
                    else f" ± {values[d][k + 1]:.3f}") for d in datasets]
                lines.append(f"| {model} (published, not run here) | "
                             + " | ".join(cells) + " |")
        lines.append("")
    if pairs:
        lines += ["### Paired by (seed, fold): A - B", "",
                  "Mean ± std of the per-fold differences on the folds both "
                  "rows hold (data sets where they share none are left "
                  "out); 'lower' counts the folds where A is lower. A "
                  "difference inside one std is noise.", "",
                  "| A - B | data set | n | RMSE A | RMSE B | RMSE A - B "
                  "| lower | validation MSE A - B | lower |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for a, b in pairs:
            for d in datasets:
                row = paired_differences(metrics[metrics.dataset == d], a, b)
                if row is None:
                    continue
                # The forest has no validation MSE.
                val = ("- | -" if row["val_mean"] != row["val_mean"] else
                       f"{row['val_mean']:+.4g} ± {row['val_std']:.3g} | "
                       f"{row['val_lower']}/{row['n']}")
                lines.append(
                    f"| {a} - {b} | {d} | {row['n']} | {row['rmse_a']:.4g} "
                    f"| {row['rmse_b']:.4g} | {row['rmse_mean']:+.4g} ± "
                    f"{row['rmse_std']:.3g} | {row['rmse_lower']}/{row['n']} "
                    f"| {val} |")
        lines.append("")
    text = "\n".join(lines)
    Path(path).write_text(text)
    return text


def paired_differences(metrics, a, b):
    """Differences of rows :obj:`a` and :obj:`b` of one data set's per-fold
    :obj:`metrics`, paired by (seed, fold) on the folds both hold: the mean
    RMSE of each, the mean and population std of RMSE(a) - RMSE(b) and of
    the validation MSE's difference, and the number of folds on which a is
    lower; ``None`` when they share no fold."""
    key = ["seed", "fold"]
    x = metrics[metrics.model == a].set_index(key)
    y = metrics[metrics.model == b].set_index(key)
    both = x.join(y, how="inner", suffixes=("_a", "_b"))
    if both.empty:
        return None
    rmse = both["rmse_a"] - both["rmse_b"]
    val = both["val_mse_a"] - both["val_mse_b"]
    return {"n": len(both), "rmse_a": both["rmse_a"].mean(),
            "rmse_b": both["rmse_b"].mean(), "rmse_mean": rmse.mean(),
            "rmse_std": rmse.std(ddof=0), "rmse_lower": int((rmse < 0).sum()),
            "val_mean": val.mean(), "val_std": val.std(ddof=0),
            "val_lower": int((val < 0).sum())}


def plot(metrics, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    summary = metrics.groupby(["dataset", "model"], sort=False)["rmse"].agg(
        ["mean", "std"]).reset_index()
    datasets = list(dict.fromkeys(summary.dataset))
    models = list(dict.fromkeys(summary.model))
    fig, axes = plt.subplots(1, len(datasets), figsize=(3.2 * len(datasets), 3.6),
                             squeeze=False)
    for ax, d in zip(axes[0], datasets):
        part = summary[summary.dataset == d].set_index("model").reindex(models)
        ax.bar(range(len(models)), part["mean"], yerr=part["std"].fillna(0),
               color=[f"C{i}" for i in range(len(models))])
        ax.set_xticks(range(len(models)), models, rotation=60, ha="right",
                      fontsize=7)
        ax.set_title(d)
        ax.set_ylabel("RMSE")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    main()
