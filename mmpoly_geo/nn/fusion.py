"""Fusion of per-modality vectors into one polymer representation."""
from __future__ import annotations

from typing import Dict, Mapping, Optional

import torch
from torch import Tensor

FUSIONS = ("concat", "mean")


class ModalityFusion(torch.nn.Module):
    r"""Projects each modality's pooled vector to :obj:`channels`
    (Linear-GELU-Linear-LayerNorm) and fuses them.

    ``"concat"`` (MMPolymer's choice) concatenates the projections in a fixed
    order, with zeros for a modality not given, so one model serves every
    subset of its modalities; with :obj:`modality_dropout` > 0 each present
    modality of each sample is zeroed with that probability during training
    (never all of a sample's), so the model learns to predict from any
    subset. ``"mean"`` averages the projections of the modalities given
    (adding a modality can then only dilute the others).

    Args:
        in_channels (dict): Input size per modality name, in fusion order.
        channels (int): Projected size per modality.
        fusion (str, optional): ``"concat"`` or ``"mean"``.
            (default: ``"concat"``)
        modality_dropout (float, optional): Training-time probability of
            dropping a modality (``"concat"`` only). (default: :obj:`0.0`)

    Shapes: ``{name: [B, C_name]}`` (a subset of the modalities) ->
    :math:`[B, M \cdot D]` (concat) or :math:`[B, D]` (mean).
    """
    def __init__(self, in_channels: Mapping[str, int], channels: int,
                 fusion: str = "concat", modality_dropout: float = 0.0):
        super().__init__()
        if fusion not in FUSIONS:
            raise ValueError(f"fusion must be one of {FUSIONS}, got {fusion!r}")
        if not 0.0 <= modality_dropout < 1.0:
            raise ValueError("modality_dropout must be in [0, 1), got "
                             f"{modality_dropout}")
        self.fusion = fusion
        self.channels = channels
        self.modality_dropout = modality_dropout
        self.projections = torch.nn.ModuleDict({
            name: torch.nn.Sequential(
                torch.nn.Linear(c, channels), torch.nn.GELU(),
                torch.nn.Linear(channels, channels),
                torch.nn.LayerNorm(channels))
            for name, c in in_channels.items()})

    @property
    def out_channels(self) -> int:
        return self.channels * (len(self.projections)
                                if self.fusion == "concat" else 1)

    def reset_parameters(self):
        for m in self.modules():
            if isinstance(m, (torch.nn.Linear, torch.nn.LayerNorm)):
                m.reset_parameters()

    def forward(self, inputs: Dict[str, Tensor],
                generator: Optional[torch.Generator] = None) -> Tensor:
        unknown = set(inputs) - set(self.projections)
        if unknown or not inputs:
            raise ValueError(f"modalities must be a non-empty subset of "
                             f"{list(self.projections)}, got {list(inputs)}")
        projected = {k: self.projections[k](v) for k, v in inputs.items()}
        if self.fusion == "mean":
            return torch.stack(list(projected.values())).mean(0)
        ref = next(iter(projected.values()))
        if self.training and self.modality_dropout > 0 and len(projected) > 1:
            keep = torch.rand(ref.size(0), len(projected), generator=generator
                              ).to(ref.device) >= self.modality_dropout
            # A sample that would lose everything keeps one random modality.
            none = ~keep.any(1)
            pick = torch.randint(len(projected), (ref.size(0),),
                                 generator=generator).to(ref.device)
            keep[none, pick[none]] = True
            projected = {k: v * keep[:, i, None].to(v.dtype)
                         for i, (k, v) in enumerate(projected.items())}
        return torch.cat([projected[k] if k in projected
                          else ref.new_zeros(ref.size(0), self.channels)
                          for k in self.projections], dim=-1)
