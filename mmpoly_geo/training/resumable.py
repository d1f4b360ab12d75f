"""Base Lightning module: optimiser with warm-up and cosine decay, and RNG
states in checkpoints so that resumed runs repeat uninterrupted ones."""
from __future__ import annotations

import math
import random
import time
from typing import Any, Dict

import numpy as np
import pytorch_lightning as pl
import torch


class ResumableModule(pl.LightningModule):
    """Needs ``lr``, ``weight_decay`` and ``warmup_ratio`` hyper-parameters.
    AdamW over the trainable parameters (in the groups of
    :meth:`param_groups`); the schedule steps per batch."""

    def param_groups(self):
        """AdamW parameter groups; a group's ``"lr"`` overrides
        ``hparams.lr``. Default: every trainable parameter in one group."""
        return [{"params": [p for p in self.parameters() if p.requires_grad]}]

    def configure_optimizers(self):
        optimizer = torch.optim.AdamW(self.param_groups(), lr=self.hparams.lr,
                                      weight_decay=self.hparams.weight_decay)
        total = max(1, int(self.trainer.estimated_stepping_batches))
        return {"optimizer": optimizer, "lr_scheduler": {
            "scheduler": warmup_cosine(optimizer, total,
                                       self.hparams.warmup_ratio),
            "interval": "step"}}

    #: Fitting time recorded by the checkpoint a run resumed from.
    _seconds_before = 0.0
    _fit_start = None
    _fit_end = None

    def on_fit_start(self):
        self._fit_start, self._fit_end = time.perf_counter(), None

    def on_fit_end(self):
        self._fit_end = time.perf_counter()

    def training_seconds(self) -> float:
        """Wall time spent fitting, including the earlier stretches of a
        resumed run (up to the checkpoint it resumed from); it stops growing
        when fitting ends."""
        if self._fit_start is None:
            return self._seconds_before
        end = time.perf_counter() if self._fit_end is None else self._fit_end
        return self._seconds_before + end - self._fit_start

    # Dropout draws from the global RNGs: keep them in checkpoints so that a
    # resumed run continues exactly as an uninterrupted one. The time is kept
    # there too, so a stretch that is killed still counts in the total.
    def on_save_checkpoint(self, checkpoint):
        checkpoint["rng_states"] = rng_states()
        checkpoint["training_seconds"] = self.training_seconds()

    def on_load_checkpoint(self, checkpoint):
        if "rng_states" in checkpoint:
            set_rng_states(checkpoint["rng_states"])
        self._seconds_before = float(checkpoint.get("training_seconds", 0.0))


def warmup_cosine(optimizer, total_steps: int, warmup_ratio: float):
    """Linear warm-up over ``warmup_ratio * total_steps``, then cosine decay
    to zero."""
    warmup = max(1, int(round(warmup_ratio * total_steps)))

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = (step - warmup) / max(1, total_steps - warmup)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def rng_states() -> Dict[str, Any]:
    """The global RNG states, as tensors and plain values (so that a
    ``weights_only`` load accepts them)."""
    name, keys, pos, has_gauss, cached = np.random.get_state()
    version, state, gauss = random.getstate()
    return {"torch": torch.get_rng_state(),
            "numpy": [name, torch.from_numpy(keys.astype(np.int64)), int(pos),
                      int(has_gauss), float(cached)],
            "python": [version, list(state), gauss]}


def set_rng_states(states: Dict[str, Any]):
    torch.set_rng_state(states["torch"])
    name, keys, pos, has_gauss, cached = states["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss,
                         cached))
    version, state, gauss = states["python"]
    random.setstate((version, tuple(state), gauss))
