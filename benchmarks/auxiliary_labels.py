"""Auxiliary labels on the target's own polymers (a diagnostic for the
pretraining issue): fine-tunes the default's GIN member on one benchmark set
with the values other benchmark sets hold for the *same* polymers (joined by
polymer key) as extra outputs, and scores the target alone.

The question it answers: does a related property measured on the training
polymers help, as a related property measured on *other* polymers does
(``benchmarks/supervised_transfer.py``, Egc -> Egb)? Only training-fold
labels are trained on: the auxiliary values of a test polymer sit in the
row that the test fold leaves out, so none of them is seen.

The target's rows keep their file order, so the folds and validation splits
are the suite's (an empty ``--aux`` reproduces the suite's row of the GIN
member fold by fold). The loss is the target's masked MSE plus
:obj:`--weight` times the mean of the auxiliary targets' (each standardised
on the training fold); validation, and so the checkpoint kept, scores the
target only. The per-fold metrics of the target go into the suite's
record as row ``ours_gin2d_rdkit_LABEL``, which ``suite.py --report-only``
tables and pairs with the other rows.

Usage::

    python benchmarks/auxiliary_labels.py --target Eea --label aux_labels
    python benchmarks/suite.py --report-only --datasets Eea --models \\
        ours_gin2d_rdkit_pre_gin ours_gin2d_rdkit_aux_labels ...
"""
import argparse
import contextlib
import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from mmpoly_geo.chem import polymer_key
from mmpoly_geo.data.shipped import shipped_files
from mmpoly_geo.models.predictor import predict_conformer_average
from mmpoly_geo.nn import PropertyHead
from mmpoly_geo.training import load_config, run_finetune
from mmpoly_geo.training.finetune_module import FinetuneModule
from mmpoly_geo.training.metrics import regression_metrics

HERE = Path(__file__).resolve().parent
# The suite's record and its GIN-member settings, from the suite itself.
_spec = importlib.util.spec_from_file_location("suite", HERE / "suite.py")
suite = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(suite)
_spec = importlib.util.spec_from_file_location(
    "supervised_transfer", HERE / "supervised_transfer.py")
supervised_transfer = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(supervised_transfer)

#: The sets that share most of their polymers (see ``--aux``).
RELATED = ["Eea", "Ei", "EPS", "Nc", "Eat", "Egb", "Egc"]


def auxiliary_table(target, aux, max_rows=None):
    """The target's rows in file order (:obj:`max_rows` first rows only),
    one column per set: the target's value, then each of :obj:`aux`'s value
    for the same polymer (NaN where it has none)."""
    frame = pd.read_csv(shipped_files(target)[0], nrows=max_rows)
    table = pd.DataFrame({"psmiles": frame.psmiles, target: frame.value})
    keys = [polymer_key(s) for s in frame.psmiles]
    for name in aux:
        other = pd.read_csv(shipped_files(name)[0])
        values = dict(zip(map(polymer_key, other.psmiles), other.value))
        table[name] = [values.get(k, np.nan) for k in keys]
    return table


@contextlib.contextmanager
def target_first(weight):
    """Within it, fine-tuning trains on column 0 plus :obj:`weight` times the
    mean of the other columns' losses, and validates on column 0 only."""
    def training_step(self, batch, batch_idx):
        pred, y = self.training_prediction(batch, batch_idx)
        loss = PropertyHead.loss(pred[:, :1], y[:, :1])
        if weight > 0 and pred.size(1) > 1:
            loss = loss + weight * torch.stack(
                [PropertyHead.loss(pred[:, j:j + 1], y[:, j:j + 1])
                 for j in range(1, pred.size(1))]).mean()
        self.log("train_loss", loss, batch_size=batch.num_graphs,
                 on_step=False, on_epoch=True)
        return loss

    def validation_step(self, batch, batch_idx):
        pred = predict_conformer_average(
            self.eval_model, batch, self.target_mean, self.target_std,
            self.hparams.cutoff, self.hparams.eval_conformers)
        mse = PropertyHead.loss(pred[:, :1], batch.y.view_as(pred)[:, :1])
        self.log("val_mse", mse, batch_size=batch.num_graphs, on_step=False,
                 on_epoch=True)
        return mse

    saved = FinetuneModule.training_step, FinetuneModule.validation_step
    FinetuneModule.training_step = training_step
    FinetuneModule.validation_step = validation_step
    try:
        yield
    finally:
        FinetuneModule.training_step, FinetuneModule.validation_step = saved


def target_metrics(run_dir, target, model, dataset, seed):
    """Per-fold metrics of :obj:`target` alone from a finished run, in the
    record's columns."""
    pred = pd.read_csv(run_dir / "predictions.csv")
    pred = pred[(pred.model == "mmpolymer") & (pred.target == target)]
    val = pd.read_csv(run_dir / "metrics.csv")
    val = val[val.model == "mmpolymer"].set_index("fold").val_mse
    return pd.DataFrame([
        dict(model=model, fold=int(fold), n_test=len(g),
             **regression_metrics(g.y.to_numpy(), g.pred.to_numpy()),
             val_mse=float(val.loc[fold]), dataset=dataset, seed=seed)
        for fold, g in pred.groupby("fold")])


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--target", required=True)
    p.add_argument("--aux", nargs="*",
                   help="sets whose values are the auxiliary targets "
                        "(default: the other sets of "
                        f"{' '.join(RELATED)}, which share most polymers)")
    p.add_argument("--weight", type=float, default=1.0)
    p.add_argument("--label", default="aux_labels")
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--out", default="runs/aux_labels")
    p.add_argument("--record",
                   default="benchmarks/results/accuracy/record.csv")
    p.add_argument("--max-rows", type=int,
                   help="first rows of the target only (a quick look)")
    p.add_argument("--set", nargs="*", default=[],
                   help="more settings, e.g. optim.max_epochs=1")
    args = p.parse_args(argv)
    aux = [s for s in (RELATED if args.aux is None else args.aux)
           if s != args.target]
    out = Path(args.out) / args.target
    out.mkdir(parents=True, exist_ok=True)
    table = auxiliary_table(args.target, aux, args.max_rows)
    csv = out / f"{args.label}.csv"
    table.to_csv(csv, index=False)
    print(f"{args.target}: {len(table)} polymers; auxiliary values: "
          + (", ".join(f"{s} {table[s].notna().sum()}" for s in aux)
             or "none"), flush=True)
    model = f"ours_gin2d_rdkit_{args.label}"
    rows = []
    for seed in args.seeds:
        config = load_config(None, supervised_transfer.GIN_MEMBER + [
            f"data.csv={csv}",
            f"data.target={json.dumps([args.target] + aux)}",
            f"data.root={out / 'data'}", "data.num_conformers=1",
            f"seed={seed}", *args.set])
        run_dir = out / args.label / f"seed{seed}"
        with target_first(args.weight):
            run_finetune(config, run_dir, resume=True)
        rows.append(target_metrics(run_dir, args.target, model,
                                   args.target, seed))
        print(f"{args.target} {model} seed {seed}: RMSE "
              f"{rows[-1].rmse.mean():.4g}", flush=True)
    suite.update_record(pd.concat(rows, ignore_index=True),
                        Path(args.record))
    print(f"recorded {model} in {args.record}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
