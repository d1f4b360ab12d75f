"""Lightning module for property fine-tuning."""
from __future__ import annotations

from typing import Any, Dict, Optional, Sequence

import torch
from torch import Tensor

from mmpoly_geo.models import MMPolymer, build_model
from mmpoly_geo.nn import PropertyHead
from mmpoly_geo.training.resumable import ResumableModule
from mmpoly_geo.training.sampling import random_conformers, use_conformer

FREEZE = ("none", "sequence", "3d", "encoders")


@torch.no_grad()
def predict_conformer_average(model: MMPolymer, batch, mean: Tensor,
                              std: Tensor, cutoff: float,
                              num_conformers: Optional[int] = None) -> Tensor:
    """Predictions in target units, averaged over the first
    :obj:`num_conformers` stored conformers (all if :obj:`None`; models that
    use no coordinates need one pass). Shape :math:`[B, T]`."""
    if model.mode in ("1d", "2d"):  # no coordinates used
        return model(batch)["pred"] * std + mean
    preds = []
    total = batch.pos_confs.size(1)
    for k in range(min(total, num_conformers or total)):
        use_conformer(batch, k, cutoff)
        preds.append(model(batch)["pred"])
    return torch.stack(preds).mean(0) * std + mean


class FinetuneModule(ResumableModule):
    r"""Fine-tunes :class:`~mmpoly_geo.models.MMPolymer` on standardised
    targets with a NaN-masked MSE.

    Training draws one random conformer per polymer per step (from
    ``(seed, epoch, step)``, so a resumed run draws the same); validation
    averages predictions over all conformers and logs ``val_mse`` in target
    units (the early-stopping monitor).

    Args:
        model_config (dict): Model arguments (see
            :func:`~mmpoly_geo.models.build_model`).
        target_mean, target_std (list): Standardisation fitted on the
            training fold only.
        lr, weight_decay, warmup_ratio: AdamW with linear warm-up over that
            fraction of the steps, then cosine decay.
        freeze (str): ``"none"``, ``"sequence"``, ``"3d"`` or ``"encoders"``.
        cutoff (float): Radius-graph cutoff. seed (int): Sampling seed.
        eval_conformers (int, optional): Conformers averaged at evaluation
            (all if :obj:`None`).
    """
    def __init__(self, model_config: Dict[str, Any],
                 target_mean: Sequence[float], target_std: Sequence[float],
                 lr: float = 5e-4, weight_decay: float = 1e-4,
                 warmup_ratio: float = 0.06, freeze: str = "none",
                 cutoff: float = 5.0, seed: int = 0,
                 eval_conformers: Optional[int] = None):
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

    def _apply_freeze(self):
        freeze = self.hparams.freeze
        if freeze == "none":
            return
        parts = {"sequence": [self.model.sequence_encoder],
                 "3d": [self.model.encoder_3d],
                 "encoders": [self.model.sequence_encoder,
                              self.model.encoder_3d]}.get(freeze, [])
        for part in parts:
            for p in part.parameters():
                p.requires_grad_(False)

    def load_pretrained(self, path: str):
        """Copies the weights of a pretrained :class:`MMPolymer` file, except
        a property head of another shape."""
        source = MMPolymer.load(path).state_dict()
        own = self.model.state_dict()
        kept = {k: v for k, v in source.items()
                if k in own and own[k].shape == v.shape}
        self.model.load_state_dict(kept, strict=False)
        return sorted(set(own) - set(kept))

    def training_step(self, batch, batch_idx):
        if self.model.mode not in ("1d", "2d"):
            index = random_conformers(batch, self.hparams.seed,
                                      self.current_epoch, batch_idx)
            use_conformer(batch, index, self.hparams.cutoff)
        pred = self.model(batch)["pred"]
        y = (batch.y - self.target_mean) / self.target_std
        loss = PropertyHead.loss(pred, y)
        self.log("train_loss", loss, batch_size=batch.num_graphs,
                 prog_bar=True, on_step=False, on_epoch=True, sync_dist=True)
        return loss

    def validation_step(self, batch, batch_idx):
        pred = predict_conformer_average(self.model, batch, self.target_mean,
                                         self.target_std, self.hparams.cutoff,
                                         self.hparams.eval_conformers)
        mse = PropertyHead.loss(pred, batch.y)
        self.log("val_mse", mse, batch_size=batch.num_graphs, prog_bar=True,
                 on_step=False, on_epoch=True, sync_dist=True)
        return mse

    def predict_step(self, batch, batch_idx):
        return predict_conformer_average(self.model, batch, self.target_mean,
                                         self.target_std, self.hparams.cutoff,
                                         self.hparams.eval_conformers)
