"""Lightning module for property fine-tuning."""
from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import torch
from torch import Tensor

from mmpoly_geo.data.transforms import use_conformer
from mmpoly_geo.models import MMPolymer, build_model
from mmpoly_geo.models.mmpolymer import (
    BRANCH_PREFIXES, CHECKPOINT_FORMAT, DEFAULT_PRETRAINED_BRANCHES,
    read_checkpoint)
from mmpoly_geo.models.predictor import predict_conformer_average
from mmpoly_geo.nn import PropertyHead
from mmpoly_geo.training.resumable import ResumableModule
from mmpoly_geo.training.sampling import random_conformers

FREEZE = ("none", "sequence", "3d", "2d", "encoders")


class FinetuneModule(ResumableModule):
    r"""Fine-tunes :class:`~mmpoly_geo.models.MMPolymer` on standardised
    targets with a NaN-masked MSE.

    Training draws one random conformer per polymer per step (from
    ``(seed, epoch, step)``, so a resumed run draws the same); validation
    averages predictions over all conformers and logs ``val_mse`` in target
    units (the early-stopping monitor).

    With :obj:`ema_decay` > 0 an exponential moving average of the weights
    (:attr:`ema_model`, decay :math:`\min(d, (1+t)/(10+t))` at step
    :math:`t`) is what validation, prediction and the saved model use: it
    smooths the step-to-step noise that otherwise decides which epoch a
    small validation split picks.

    Args:
        model_config (dict): Model arguments (see
            :func:`~mmpoly_geo.models.build_model`).
        target_mean, target_std (list): Standardisation fitted on the
            training fold only.
        lr, weight_decay, warmup_ratio: AdamW with linear warm-up over that
            fraction of the steps, then cosine decay.
        freeze (str): ``"none"``, ``"sequence"``, ``"3d"``, ``"2d"`` (the
            GIN branch) or ``"encoders"`` (every encoder the model has).
        cutoff (float): Radius-graph cutoff. seed (int): Sampling seed.
        eval_conformers (int, optional): Conformers averaged at evaluation
            (all if :obj:`None`).
        ema_decay (float): Weight-averaging decay per step; :obj:`0` off.
        encoder_lr_scale (float): Learning-rate factor of the sequence, 3D
            and GIN encoders (the parts pretraining trains); the head, fusion and
            descriptor branch keep :obj:`lr`. Below 1 it keeps more of a
            pretrained representation (default: :obj:`1.0`).
    """
    def __init__(self, model_config: Dict[str, Any],
                 target_mean: Sequence[float], target_std: Sequence[float],
                 lr: float = 5e-4, weight_decay: float = 1e-4,
                 warmup_ratio: float = 0.06, freeze: str = "none",
                 cutoff: float = 5.0, seed: int = 0,
                 eval_conformers: Optional[int] = None,
                 ema_decay: float = 0.0, encoder_lr_scale: float = 1.0):
        super().__init__()
        if freeze not in FREEZE:
            raise ValueError(f"freeze must be one of {FREEZE}, got {freeze!r}")
        self.save_hyperparameters()
        self.model = build_model(model_config)
        if freeze != "none" and not isinstance(self.model, MMPolymer):
            raise ValueError("freeze applies to MMPolymer models only")
        self.register_buffer("target_mean", torch.tensor(list(target_mean)))
        self.register_buffer("target_std", torch.tensor(list(target_std)))
        self._apply_freeze()
        self.ema_model = None
        if ema_decay > 0:
            self.ema_model = copy.deepcopy(self.model).requires_grad_(False)

    @property
    def eval_model(self) -> torch.nn.Module:
        """The model that validation, prediction and saving use (the
        averaged one when :obj:`ema_decay` > 0)."""
        return self.model if self.ema_model is None else self.ema_model

    def sync_ema(self):
        """Copies the training weights into the average (after loading
        pretrained weights or fitted descriptor scales)."""
        if self.ema_model is not None:
            self.ema_model.load_state_dict(self.model.state_dict())

    @torch.no_grad()
    def on_train_batch_end(self, outputs, batch, batch_idx):
        if self.ema_model is None:
            return
        step = self.global_step
        decay = min(self.hparams.ema_decay, (1.0 + step) / (10.0 + step))
        for avg, new in zip(self.ema_model.parameters(),
                            self.model.parameters()):
            avg.lerp_(new.detach(), 1.0 - decay)
        for avg, new in zip(self.ema_model.buffers(), self.model.buffers()):
            avg.copy_(new)

    def _encoders(self, which: str = "encoders") -> List[torch.nn.Module]:
        """The encoders pretraining trains that the model has:
        ``"sequence"``, ``"3d"``, ``"2d"`` or all (``"encoders"``); a member
        of the default without one of them (e.g. the 1D + 3D model for
        ``"2d"``) has none to give."""
        parts = {"sequence": self.model.sequence_encoder,
                 "3d": self.model.encoder_3d, "2d": self.model.encoder_2d}
        chosen = list(parts.values()) if which == "encoders" else [parts[which]]
        return [part for part in chosen if part is not None]

    def _apply_freeze(self):
        if self.hparams.freeze == "none":
            return
        for part in self._encoders(self.hparams.freeze):
            for p in part.parameters():
                p.requires_grad_(False)

    def param_groups(self):
        scale = self.hparams.encoder_lr_scale
        groups = super().param_groups()
        if scale == 1.0 or not isinstance(self.model, MMPolymer):
            return groups
        trainable = groups[0]["params"]
        encoders = {id(p) for part in self._encoders()
                    for p in part.parameters()}
        return [{"params": [p for p in trainable if id(p) in encoders],
                 "lr": self.hparams.lr * scale},
                {"params": [p for p in trainable if id(p) not in encoders]}]

    def load_pretrained(self, path: str) -> List[str]:
        """Copies the weights of the branches a pretrained :class:`MMPolymer`
        file trained (its ``pretrained_branches``: sequence and 3D unless it
        says otherwise) into the model's own copies of those branches; the
        rest (property head, descriptor branch, branches the file did not
        train) keeps the model's initialisation. Returns the branches
        copied (none when the model has none of them, e.g. the GIN-branch
        member of the default given a sequence + 3D file).

        Raises:
            ValueError: naming the keys of a pretrained branch that are
                missing from the file or have another shape (a model
                configuration that differs from the pretraining one would
                otherwise fine-tune from random weights without a word).
        """
        blob = read_checkpoint(Path(path), CHECKPOINT_FORMAT, "checkpoint",
                               "an MMPolymer checkpoint")
        source = blob["state_dict"]
        branches = blob.get("pretrained_branches",
                            list(DEFAULT_PRETRAINED_BRANCHES))
        own = self.model.state_dict()
        copied = [b for b in branches
                  if any(k.startswith(BRANCH_PREFIXES[b][0]) for k in own)]
        prefixes = tuple(p for b in copied for p in BRANCH_PREFIXES[b])
        wanted = [k for k in own if k.startswith(prefixes)]
        bad = [k for k in wanted
               if k not in source or source[k].shape != own[k].shape]
        if bad:
            shapes = [f"{k} (file {tuple(source[k].shape)}, model "
                      f"{tuple(own[k].shape)})" if k in source else
                      f"{k} (not in file)" for k in bad[:8]]
            raise ValueError(
                f"{path}: {len(bad)} weight(s) of the model do not match the "
                f"pretrained file, so the model configuration differs from "
                f"the pretraining one: {', '.join(shapes)}"
                f"{' ...' if len(bad) > 8 else ''} (finetune.pretrained=null "
                f"fine-tunes from scratch)")
        self.model.load_state_dict({k: source[k] for k in wanted},
                                   strict=False)
        self.sync_ema()
        return copied

    def training_prediction(self, batch, batch_idx) -> Tuple[Tensor, Tensor]:
        """The training step's predictions and standardised targets, both
        :math:`[B, T]`: one conformer drawn per polymer and the model's own
        random draws, both seeded by ``(seed, epoch, batch_idx)``."""
        if self.model.mode not in ("1d", "2d"):
            index = random_conformers(batch, self.hparams.seed,
                                      self.current_epoch, batch_idx)
            use_conformer(batch, index, self.hparams.cutoff)
        g = torch.Generator().manual_seed(
            (self.hparams.seed * 1000003 + self.current_epoch) * 100003
            + batch_idx + 7)
        extra = {"generator": g} if isinstance(self.model, MMPolymer) else {}
        pred = self.model(batch, **extra)["pred"]
        y = (batch.y - self.target_mean) / self.target_std
        return pred, y.view_as(pred)

    def training_step(self, batch, batch_idx):
        loss = PropertyHead.loss(*self.training_prediction(batch, batch_idx))
        self.log("train_loss", loss, batch_size=batch.num_graphs,
                 prog_bar=True, on_step=False, on_epoch=True, sync_dist=True)
        return loss

    def validation_step(self, batch, batch_idx):
        pred = predict_conformer_average(self.eval_model, batch, self.target_mean,
                                         self.target_std, self.hparams.cutoff,
                                         self.hparams.eval_conformers)
        mse = PropertyHead.loss(pred, batch.y)
        self.log("val_mse", mse, batch_size=batch.num_graphs, prog_bar=True,
                 on_step=False, on_epoch=True, sync_dist=True)
        return mse

    def predict_step(self, batch, batch_idx):
        return predict_conformer_average(self.eval_model, batch, self.target_mean,
                                         self.target_std, self.hparams.cutoff,
                                         self.hparams.eval_conformers)
