"""Pretraining objective ablation of the sequence + 3D model (issue 10):
MMPolymer's objectives added one at a time, each checkpoint fine-tuned as
the 1D + 3D model (``ours_single``) on the same folds and seeds as that
model from scratch, trained by the same code, and compared with it fold by
fold.

Variants (cumulative; ``none`` is the from-scratch row ``ours_single_abl``):

- ``tokens``: masked tokens (the sequence branch only),
- ``denoising``: + coordinate denoising with masked atom types (3D branch),
- ``contrastive``: + 1D-3D contrastive alignment (MMPolymer's three),
- ``descriptors``: + RDKit descriptor regression (the shipped ``default``
  checkpoint was made by this variant at 4 epochs: ``--checkpoint
  descriptors=default`` reuses it instead of pretraining again).

Each variant pretrains on the permissive corpus (``mmpoly-geo pretrain
--name pretrain-permissive --set data.on_disk=true``; its on-disk
processing, ~25 min on 2 cores, runs once on first use) into
``--out/VARIANT``; its finished weights and card are copied to
``--kept/VARIANT`` (committed, ~4 MB each: run folders do not outlive a
machine), which fine-tuning reads. ``benchmarks/suite.py`` then fine-tunes
rows ``ours_single_pretrained_VARIANT_abl`` and, once per data set and
seed, the scratch row ``ours_single_abl`` (``--label abl``: the committed
``ours_single`` rows, made by older code, are neither retrained nor
replaced), and reports them with ``--paired`` differences. Everything
resumes: a kept variant or one whose card says it is finished is not
pretrained again, one with ``last.ckpt`` resumes (``--resume``;
``--time-limit SECONDS`` ends each pretraining call cleanly at an epoch
boundary, its card marked unfinished), and the suite resumes unfinished
fine-tuning runs and reports finished ones (also those only in its
``record.csv``) as they are; run the same command again to continue (on 2
CPU cores one 4-epoch variant takes 0.5-1.5 h of one thread, fine-tuning
~25 min per data set, variant and 3 seeds: a run of several sessions, e.g.
one process per core with disjoint ``--variants`` or ``--datasets``).

Usage::

    python benchmarks/pretrain_ablation.py [--stage all|pretrain|finetune]
        [--variants tokens denoising contrastive descriptors] [--epochs 4]
        [--datasets Eea EPS Xc] [--seeds 0 1 2] [--out runs/ablation]
        [--kept benchmarks/results/pretrain_ablation]
        [--checkpoint descriptors=default] [--set trainer.accelerator=gpu ...]
        [--time-limit SECONDS] [--suite-out benchmarks/results/accuracy]
        [--dry-run]
"""
import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

from mmpoly_geo.data.shipped import BENCHMARKS
from mmpoly_geo.models.pretrained import CARD_FILE, CHECKPOINT_FILE

#: ``pretrain`` overrides of each variant; objectives not named keep their
#: defaults (all on, descriptor regression off).
VARIANTS = {
    "tokens": ["pretrain.branches=[1d]", "pretrain.coord_weight=0",
               "pretrain.atom_weight=0", "pretrain.contrastive_weight=0",
               "pretrain.descriptor_weight=0"],
    "denoising": ["pretrain.contrastive_weight=0",
                  "pretrain.descriptor_weight=0"],
    "contrastive": ["pretrain.descriptor_weight=0"],
    "descriptors": ["pretrain.descriptor_weight=1.0"],
}
#: The fine-tuned model: the 1D + 3D member of the default, whose branches
#: these checkpoints pretrain (its from-scratch row is the ``none`` variant).
MODEL = "ours_single"
#: The suite's --label of every row of the ablation.
LABEL = "abl"
ROOT = Path(__file__).resolve().parents[1]


def pretrained(run):
    """Whether the pretraining run folder :obj:`run` is finished: its card
    is written and no time limit ended it early (cards written before time
    limits existed are of finished runs)."""
    card = Path(run) / "card.json"
    return card.is_file() and json.loads(card.read_text()).get("finished",
                                                               True)


def keep(run, kept):
    """Copies the finished run :obj:`run`'s weights and card into the folder
    :obj:`kept` (committed: run folders do not outlive a machine, and a
    4-epoch variant costs ~1.5 h of a CPU thread to make again)."""
    kept = Path(kept)
    kept.mkdir(parents=True, exist_ok=True)
    for name in (CHECKPOINT_FILE, CARD_FILE):
        shutil.copyfile(Path(run) / name, kept / name)


def pretrain_command(variant, out, epochs, overrides, time_limit=None):
    """The ``mmpoly-geo pretrain`` command of :obj:`variant` into
    ``out/variant`` (``--resume`` when an interrupted run or an earlier
    stretch is there; ``--time-limit`` with :obj:`time_limit`); ``None``
    when that run is finished (:func:`pretrained`)."""
    run = Path(out) / variant
    if pretrained(run):
        return None
    return ([sys.executable, "-m", "mmpoly_geo.cli", "pretrain", "--name",
             "pretrain-permissive", "--out", str(run), "--epochs",
             str(epochs)]
            + (["--resume"] if (run / "last.ckpt").is_file() else [])
            + (["--time-limit", str(time_limit)] if time_limit else [])
            + ["--set", "data.on_disk=true", "trainer.progress_bar=false"]
            + VARIANTS[variant] + list(overrides))


def finetune_command(checkpoints, datasets, seeds, suite_out, overrides):
    """The ``suite.py`` command that fine-tunes (or reports, when finished)
    ``ours_single`` from scratch and from each of :obj:`checkpoints`
    (``{variant: path}``), rows labelled :data:`LABEL`, and pairs every
    variant's row with the from-scratch one."""
    scratch = f"{MODEL}_{LABEL}"
    rows = [f"{MODEL}_pretrained_{v}_{LABEL}" for v in checkpoints]
    return ([sys.executable, str(ROOT / "benchmarks" / "suite.py"),
             "--datasets", *datasets, "--models", MODEL, "--seeds",
             *map(str, seeds), "--out", str(suite_out), "--label", LABEL,
             "--pretrained", *(f"{v}={p}" for v, p in checkpoints.items()),
             "--set", "trainer.progress_bar=false", "finetune.baselines=[]",
             *overrides, "--paired", *(f"{r},{scratch}" for r in rows)])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stage", choices=["all", "pretrain", "finetune"],
                        default="all")
    parser.add_argument("--variants", nargs="+", choices=list(VARIANTS),
                        default=list(VARIANTS))
    parser.add_argument("--epochs", type=int, default=4,
                        help="pretraining epochs of each variant (default 4, "
                             "as the shipped default checkpoint)")
    parser.add_argument("--datasets", nargs="+", choices=list(BENCHMARKS),
                        default=["Eea", "EPS", "Xc"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--out", default="runs/ablation",
                        help="pretraining run folders, one per variant")
    parser.add_argument("--suite-out", default="benchmarks/results/accuracy")
    parser.add_argument(
        "--kept", default="benchmarks/results/pretrain_ablation",
        help="finished variants' pretrained.pt and card.json are copied to "
             "KEPT/VARIANT (committed); fine-tuning reads them from there, "
             "and a variant kept there is not pretrained again")
    parser.add_argument(
        "--checkpoint", nargs="+", default=[], metavar="VARIANT=CHECKPOINT",
        help="use this checkpoint (a file, run folder or shipped name) for "
             "a variant instead of pretraining it")
    parser.add_argument("--set", nargs="*", default=[],
                        help="overrides for pretraining and fine-tuning, "
                             "e.g. trainer.accelerator=gpu")
    parser.add_argument(
        "--time-limit", type=float, metavar="SECONDS",
        help="each pretraining call ends at the last epoch that fits in "
             "SECONDS (run again to continue); fine-tuning waits for "
             "finished variants")
    parser.add_argument("--dry-run", action="store_true",
                        help="print the commands that would run, run none")
    args = parser.parse_args(argv)
    # Commands run in the project root: paths resolved from here first.
    args.out = Path(args.out).resolve()
    args.kept = Path(args.kept).resolve()
    args.suite_out = Path(args.suite_out).resolve()
    given = {}
    for spec in args.checkpoint:
        variant, _, path = spec.partition("=")
        if variant not in VARIANTS or not path:
            parser.error(f"--checkpoint takes VARIANT=CHECKPOINT with a "
                         f"variant of {', '.join(VARIANTS)}; got {spec!r}")
        given[variant] = path

    def run(command):
        print("$ " + " ".join(command), flush=True)
        if not args.dry_run:
            subprocess.run(command, check=True, cwd=ROOT)

    if args.stage in ("all", "pretrain"):
        for variant in args.variants:
            if variant in given:
                continue
            if pretrained(args.kept / variant):
                print(f"{variant}: pretrained ({args.kept / variant})")
                continue
            command = pretrain_command(variant, args.out, args.epochs,
                                       args.set, args.time_limit)
            if command is None:
                print(f"{variant}: pretrained ({args.out / variant})")
            else:
                run(command)
            if not args.dry_run and pretrained(args.out / variant):
                keep(args.out / variant, args.kept / variant)
                print(f"{variant}: kept in {args.kept / variant}")
    if args.stage in ("all", "finetune"):
        # A dry run of both stages only printed the pretraining above.
        assume_pretrained = args.stage == "all" and args.dry_run
        checkpoints, waiting = {}, []
        for variant in args.variants:
            if variant in given:
                checkpoints[variant] = given[variant]
            elif pretrained(args.kept / variant):
                checkpoints[variant] = str(args.kept / variant)
            elif assume_pretrained or pretrained(args.out / variant):
                checkpoints[variant] = str(args.out / variant)
            else:
                waiting.append(variant)
        if waiting:
            print("pretraining not finished, not fine-tuned: "
                  + ", ".join(waiting))
        if checkpoints:
            run(finetune_command(checkpoints, args.datasets, args.seeds,
                                 args.suite_out, args.set))


if __name__ == "__main__":
    main()
