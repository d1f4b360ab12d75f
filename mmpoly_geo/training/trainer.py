"""Builds the Lightning ``Trainer`` from a run configuration."""
from __future__ import annotations

import csv
import io
import logging
import os
import time
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import EarlyStopping, ModelCheckpoint
from pytorch_lightning.loggers import CSVLogger
from pytorch_lightning.loggers.csv_logs import ExperimentWriter
from pytorch_lightning.utilities import rank_zero_only
from pytorch_lightning.plugins.io import TorchCheckpointIO
from torch_geometric.loader import DataLoader

from mmpoly_geo.atomic import (
    atomic_path, atomic_write_text, remove_stale_temporaries)
from mmpoly_geo.training.sampling import (
    EpochSeededSampler, LengthBucketBatchSampler)


#: Loggers of Lightning's banners and tips (accelerator lines, the logging
#: service advertisement, "Trainer.fit stopped", ...).
LIGHTNING_LOGGERS = ("pytorch_lightning", "lightning.pytorch",
                     "lightning_fabric", "lightning.fabric")
#: Lightning warnings that say nothing to our users: our output folders hold
#: logs next to checkpoints by design, resumed runs reuse them, and the
#: others concern Lightning's own code or a CPU-only setup.
QUIET_WARNINGS = (
    r"Checkpoint directory .* exists and is not empty",
    r"Experiment logs directory .* exists and is not empty",
    r".*isinstance\(treespec, LeafSpec\)",
    r"The '\w+_dataloader' does not have many workers",
    r".*torch.jit.script.* is deprecated",
)


@contextmanager
def quiet_lightning(verbose: bool = False) -> Iterator[None]:
    """Within the block, Lightning's info lines and the warnings in
    :data:`QUIET_WARNINGS` are not shown (restored afterwards); with
    :obj:`verbose`, everything is."""
    if verbose:
        yield
        return
    levels = {}
    for name in LIGHTNING_LOGGERS:
        logger = logging.getLogger(name)
        levels[name] = logger.level
        logger.setLevel(logging.WARNING)
    try:
        with warnings.catch_warnings():
            for pattern in QUIET_WARNINGS:
                warnings.filterwarnings("ignore", message=pattern)
            yield
    finally:
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning checkpoints written to a temporary file and renamed, so a
    run killed while saving never leaves a truncated ``last.ckpt``."""

    def save_checkpoint(self, checkpoint, path, storage_options=None):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp:
            super().save_checkpoint(checkpoint, str(tmp), storage_options)


class ResumableModelCheckpoint(ModelCheckpoint):
    """:class:`~pytorch_lightning.callbacks.ModelCheckpoint` for runs that
    are stopped and resumed: ``last.ckpt`` is written after every
    validation, and a run whose folder was moved resumes with its record of
    the best score so far.

    Lightning (2.6) writes ``last.ckpt`` only when the monitored metric
    improved, so a run stopped after ``k`` epochs without improvement would
    resume ``k`` epochs back. And it drops the best-score record when the
    checkpoint's folder differs from the one it was written in; the first
    epoch after the resume would then replace ``best.ckpt`` however bad it
    is. Here the recorded files are looked up by name in the new folder."""

    def on_train_epoch_end(self, trainer: pl.Trainer,
                           pl_module: pl.LightningModule) -> None:
        super().on_train_epoch_end(trainer, pl_module)
        if self._should_save_on_train_epoch_end(trainer):
            self._save_last_if_missed(trainer)

    def on_validation_end(self, trainer: pl.Trainer,
                          pl_module: pl.LightningModule) -> None:
        super().on_validation_end(trainer, pl_module)
        if not self._should_save_on_train_epoch_end(trainer):
            self._save_last_if_missed(trainer)

    def _save_last_if_missed(self, trainer: pl.Trainer) -> None:
        # Skipped when the parent saved at this step (best and last).
        if self.save_last and not self._should_skip_saving_checkpoint(trainer):
            self._save_last_checkpoint(trainer,
                                       self._monitor_candidates(trainer))

    def load_state_dict(self, state_dict: Dict[str, Any]) -> None:
        if self.dirpath is not None and state_dict.get(
                "dirpath", self.dirpath) != self.dirpath:
            def moved(path):
                return str(Path(self.dirpath) / Path(path).name) if path \
                    else path
            state_dict = dict(
                state_dict, dirpath=self.dirpath,
                best_model_path=moved(state_dict.get("best_model_path", "")),
                kth_best_model_path=moved(
                    state_dict.get("kth_best_model_path", "")),
                last_model_path=moved(state_dict.get("last_model_path", "")),
                best_k_models={moved(k): v for k, v in state_dict.get(
                    "best_k_models", {}).items()})
        super().load_state_dict(state_dict)


class TimeLimit(pl.Callback):
    """Ends a long run's stretch cleanly: after each validation, stops
    training when another epoch as long as the last one would end more than
    :obj:`seconds` after this call began. The run stops at an epoch
    boundary, after that epoch's checkpoints (``last.ckpt`` is written at
    every validation, :class:`ResumableModelCheckpoint`), so ``--resume``
    continues it exactly where an uninterrupted run would be.

    Args:
        seconds (float): the wall-clock budget of this call.
    """

    def __init__(self, seconds: float):
        if not seconds > 0:
            raise ValueError(f"a time limit must be > 0 seconds, got "
                             f"{seconds!r}")
        self.seconds = float(seconds)
        #: Whether this callback stopped the run (set during fitting).
        self.stopped = False
        self._start = self._epoch_start = None

    def on_train_start(self, trainer: pl.Trainer,
                       pl_module: pl.LightningModule) -> None:
        self._start = time.monotonic()

    def on_train_epoch_start(self, trainer: pl.Trainer,
                             pl_module: pl.LightningModule) -> None:
        self._epoch_start = time.monotonic()

    def on_validation_end(self, trainer: pl.Trainer,
                          pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking or self._epoch_start is None:
            return
        # Ending anyway (early stopping, or the last epoch): finished, not
        # stopped by the limit.
        if trainer.should_stop or (trainer.max_epochs is not None and
                                   trainer.current_epoch + 1
                                   >= trainer.max_epochs):
            return
        now = time.monotonic()
        # Elapsed plus the last epoch's length; any rank that would run
        # over stops them all (ranks must stop together).
        over = 2 * now - self._epoch_start - self._start > self.seconds
        if trainer.strategy.reduce_boolean_decision(over, all=False):
            trainer.should_stop = True
            self.stopped = True


class _ContinuedExperimentWriter(ExperimentWriter):
    """Lightning's CSV writer, except that a resumed run keeps the rows its
    earlier stretches logged before the checkpoint it resumes from (Lightning
    deletes ``metrics.csv`` when its folder is reused), and drops the rows
    logged after it, which the resumed run logs again."""

    def __init__(self, log_dir: str, keep_before_step: int):
        self._keep_before_step = keep_before_step
        super().__init__(log_dir)

    def _check_log_dir_exists(self) -> None:
        path = Path(self.metrics_file_path)
        if not path.is_file():
            return
        with path.open(newline="") as file:
            reader = csv.DictReader(file)
            rows = [row for row in reader
                    if row.get("step") not in (None, "")
                    and int(float(row["step"])) < self._keep_before_step]
            keys = list(reader.fieldnames or [])
        text = io.StringIO()
        writer = csv.DictWriter(text, fieldnames=keys)
        writer.writeheader()
        writer.writerows(rows)
        atomic_write_text(path, text.getvalue())
        # Later saves append under this header (widened if new keys come).
        self.metrics_keys = keys


class ContinuedCSVLogger(CSVLogger):
    """:class:`~pytorch_lightning.loggers.CSVLogger` whose ``metrics.csv``
    survives a resume: with :obj:`keep_before_step` (the global step of the
    checkpoint resumed from), the rows logged before that step are kept."""

    def __init__(self, *args, keep_before_step: Optional[int] = None,
                 **kwargs):
        super().__init__(*args, **kwargs)
        self._keep_before_step = keep_before_step

    @property
    def experiment(self) -> ExperimentWriter:
        if (self._experiment is None and self._keep_before_step is not None
                and rank_zero_only.rank == 0):
            self._fs.makedirs(self.root_dir, exist_ok=True)
            self._experiment = _ContinuedExperimentWriter(
                self.log_dir, self._keep_before_step)
        return super().experiment


def build_trainer(config: Dict[str, Any], out_dir: Path, monitor: str,
                  patience: Optional[int] = None,
                  extra_callbacks: Optional[List[pl.Callback]] = None,
                  resume_step: Optional[int] = None) -> pl.Trainer:
    """A Trainer writing checkpoints (best on :obj:`monitor` and ``last``) and
    CSV logs to :obj:`out_dir`, with the accelerator, devices, strategy,
    precision, epochs, gradient clipping and early stopping of the config.
    A run resumed from a checkpoint at global step :obj:`resume_step` keeps
    the log rows of the steps before it."""
    t, o = config["trainer"], config["optim"]
    # No best-v1.ckpt / last-v1.ckpt: a resumed callback that does not know
    # the files would version them, and a later resume, which reads
    # last.ckpt, would go back to the stale one.
    callbacks = [ResumableModelCheckpoint(
        dirpath=out_dir, filename="best", monitor=monitor, mode="min",
        save_last=True, enable_version_counter=False)]
    if patience:
        callbacks.append(EarlyStopping(monitor=monitor, mode="min",
                                       patience=patience))
    show = bool(t["progress_bar"]) and not os.environ.get("PYTEST_CURRENT_TEST")
    if show:
        try:
            from pytorch_lightning.callbacks import RichProgressBar
            callbacks.append(RichProgressBar())
        except (ImportError, ModuleNotFoundError):  # rich missing: tqdm bar
            pass
    callbacks += extra_callbacks or []
    strategy = t["strategy"]
    if strategy in ("ddp", "ddp_spawn"):
        # MMPolymer carries heads for every objective; each run trains a
        # subset, so DDP must tolerate parameters without gradients.
        strategy = f"{strategy}_find_unused_parameters_true"
    return pl.Trainer(
        accelerator=t["accelerator"], devices=t["devices"],
        strategy=strategy, num_nodes=t["num_nodes"],
        precision=t["precision"], max_epochs=o["max_epochs"],
        gradient_clip_val=o["gradient_clip_val"], callbacks=callbacks,
        logger=ContinuedCSVLogger(out_dir, name="logs", version="",
                                  keep_before_step=resume_step),
        enable_progress_bar=show, enable_model_summary=False,
        use_distributed_sampler=False, deterministic=False,
        default_root_dir=out_dir, log_every_n_steps=1,
        plugins=[AtomicCheckpointIO()])


def fit(module: pl.LightningModule, config: Dict[str, Any], dataset,
        train_idx, val_idx, out_dir: Path, monitor: str, resume: bool = False,
        callbacks: Optional[List[pl.Callback]] = None) -> pl.Trainer:
    """Trains :obj:`module` on ``dataset[train_idx]`` (epoch-seeded order,
    split across DDP ranks), validating on ``dataset[val_idx]``; with
    :obj:`resume`, continues from ``out_dir/last.ckpt`` when present."""
    with quiet_lightning(config["trainer"]["verbose"]):
        return _fit(module, config, dataset, train_idx, val_idx, out_dir,
                    monitor, resume, callbacks)


def _fit(module, config, dataset, train_idx, val_idx, out_dir, monitor,
         resume, callbacks):
    o = config["optim"]
    last = Path(out_dir) / "last.ckpt"
    resume_step = None
    if resume:
        remove_stale_temporaries(out_dir)
    if resume and last.is_file():
        resume_step = _resume_step(last, module)
        if resume_step is None:
            # Damaged outside our writes, or written by a version whose
            # weights no longer fit this model: this run starts again (same
            # seed, so the same result as an uninterrupted run).
            for ckpt in Path(out_dir).glob("*.ckpt"):
                ckpt.unlink()
    trainer = build_trainer(config, out_dir, monitor, o["patience"], callbacks,
                            resume_step)
    train = dataset.index_select(torch.as_tensor(train_idx))
    workers = config["trainer"]["loader_workers"]
    if o.get("length_buckets"):
        batches = LengthBucketBatchSampler(
            dataset.num_tokens.view(-1)[torch.as_tensor(train_idx)].tolist(),
            o["batch_size"],
            config["seed"], trainer.world_size, trainer.global_rank)
        train_loader = DataLoader(train, batch_sampler=batches,
                                  num_workers=workers)
    else:
        sampler = EpochSeededSampler(len(train), config["seed"],
                                     trainer.world_size, trainer.global_rank)
        train_loader = DataLoader(train, sampler=sampler,
                                  batch_size=o["batch_size"],
                                  num_workers=workers)
    kw = dict(batch_size=o["batch_size"], num_workers=workers)
    trainer.fit(module, train_loader,
                DataLoader(dataset.index_select(torch.as_tensor(val_idx)), **kw),
                ckpt_path=str(last) if resume_step is not None else None)
    return trainer


def best_checkpoint(trainer: pl.Trainer) -> Optional[Path]:
    """The best checkpoint on the monitored metric (:obj:`None` when none
    was recorded), in the run's folder also when it was moved and resumed
    (:class:`ResumableModelCheckpoint`)."""
    recorded = trainer.checkpoint_callback.best_model_path
    return Path(recorded) if recorded else None


def _resume_step(checkpoint: Path, module: pl.LightningModule
                 ) -> Optional[int]:
    """The global step :obj:`checkpoint` was written at, or :obj:`None` (with
    a warning) when it cannot be resumed by :obj:`module`."""
    try:
        saved = torch.load(checkpoint, map_location="cpu", weights_only=False)
        state, step = saved["state_dict"], int(saved["global_step"])
    except Exception as exc:
        warnings.warn(f"{checkpoint} is unreadable "
                      f"({type(exc).__name__}: {exc}); training this run "
                      f"again from the start", stacklevel=3)
        return None
    expected = {k: v.shape for k, v in module.state_dict().items()}
    found = {k: v.shape for k, v in state.items()}
    if found != expected:
        differ = sorted(set(found) ^ set(expected)) + sorted(
            k for k in set(found) & set(expected) if found[k] != expected[k])
        warnings.warn(f"{checkpoint} does not fit this model (written by "
                      f"another version or configuration; differs in "
                      f"{len(differ)} weights, e.g. {differ[:3]}); training "
                      f"this run again from the start", stacklevel=3)
        return None
    return step
