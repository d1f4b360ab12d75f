"""Prediction heads and their losses: masked tokens, masked atom types and
environments, coordinate denoising, 1D-3D contrastive alignment, property
regression."""
from __future__ import annotations

import math
from typing import Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

IGNORE_INDEX = -100


class _ClassifierHead(torch.nn.Module):
    def __init__(self, in_channels: int, num_classes: int):
        super().__init__()
        self.in_channels = in_channels
        self.num_classes = num_classes
        self.dense = torch.nn.Linear(in_channels, in_channels)
        self.norm = torch.nn.LayerNorm(in_channels)
        self.out = torch.nn.Linear(in_channels, num_classes)

    def reset_parameters(self):
        self.dense.reset_parameters()
        self.norm.reset_parameters()
        self.out.reset_parameters()

    def forward(self, h: Tensor) -> Tensor:
        return self.out(self.norm(F.gelu(self.dense(h))))

    @staticmethod
    def loss(logits: Tensor, labels: Tensor) -> Tensor:
        """Cross-entropy over positions whose label is not
        :data:`IGNORE_INDEX` (-100); zero if there are none."""
        logits = logits.reshape(-1, logits.size(-1))
        labels = labels.reshape(-1)
        if not (labels != IGNORE_INDEX).any():
            return logits.sum() * 0.0
        return F.cross_entropy(logits.float(), labels,
                               ignore_index=IGNORE_INDEX)

    def __repr__(self) -> str:
        return (f"{self.__class__.__name__}({self.in_channels}, "
                f"{self.num_classes})")


class MaskedTokenHead(_ClassifierHead):
    r"""Predicts masked P-SMILES tokens from per-token states (1D MLM).

    Args:
        in_channels (int): Token state size :math:`H`.
        vocab_size (int): Number of token ids.

    Shapes: :math:`[*, H]` -> logits :math:`[*, V]`; :meth:`loss` takes labels
    :math:`[*]` with -100 at unmasked positions.
    """


class AtomTypeHead(_ClassifierHead):
    r"""Predicts masked atom types (atomic numbers) from invariant atom
    features.

    Args:
        in_channels (int): Atom feature size :math:`H`.
        num_types (int, optional): Classes. (default: :obj:`119`)

    Shapes: :math:`[N, H]` -> logits :math:`[N, T]`.
    """
    def __init__(self, in_channels: int, num_types: int = 119):
        super().__init__(in_channels, num_types)


class AtomEnvironmentHead(_ClassifierHead):
    r"""Predicts each atom's bonded environment (GROVER's contextual property,
    Rong et al. 2020, factorised): for every one of :obj:`num_slots` slots
    (e.g. a neighbour element and a bond type) how many neighbours the atom
    has in it, as a class :math:`0, \dots, C - 1` (the last class meaning
    :math:`C - 1` or more).

    Args:
        in_channels (int): Atom state size :math:`H`.
        num_slots (int): Slots :math:`S`.
        num_counts (int, optional): Count classes :math:`C`.
            (default: :obj:`4`)

    Shapes: :math:`[N, H]` -> logits :math:`[N, S, C]`; :meth:`loss` takes
    labels :math:`[N, S]` with -100 in every slot of an atom not scored.
    """
    def __init__(self, in_channels: int, num_slots: int, num_counts: int = 4):
        super().__init__(in_channels, num_slots * num_counts)
        self.num_slots, self.num_counts = num_slots, num_counts

    def forward(self, h: Tensor) -> Tensor:
        return super().forward(h).view(-1, self.num_slots, self.num_counts)

    @staticmethod
    def loss(logits: Tensor, labels: Tensor) -> Tensor:
        """Cross-entropy summed over the slots and averaged over the atoms
        scored, so that its size compares with one classification per atom
        (most slots are empty and easy); zero if no atom is scored."""
        scored = (labels != IGNORE_INDEX).all(-1)
        if not scored.any():
            return logits.sum() * 0.0
        return F.cross_entropy(
            logits[scored].float().flatten(0, 1), labels[scored].flatten(),
            reduction="sum") / scored.sum()

    def __repr__(self) -> str:
        return (f"{self.__class__.__name__}({self.in_channels}, "
                f"num_slots={self.num_slots}, num_counts={self.num_counts})")


class CoordinateDenoisingHead(torch.nn.Module):
    r"""Recovers clean coordinates from noised ones with an equivariant
    per-atom displacement: :math:`\hat{p}_i = \tilde{p}_i + s\,v_i`, where
    :math:`v_i` are an encoder's equivariant vectors and :math:`s` a learned
    scalar. The loss is smooth-L1 (Huber, :math:`\delta = 1`) between
    :math:`\hat{p}` and the clean :math:`p`, summed over xyz and averaged over
    the atoms selected (all, or the noised ones), as published for MMPolymer.

    :math:`s` starts at 0, so the untrained head predicts "no change" (the
    noised input, whose loss is at most that of the noise) instead of adding
    the encoder's random initial vectors (several Angstrom); :math:`s` gets a
    gradient at once and the vectors one as soon as :math:`s \neq 0`.

    Shapes: noisy positions and vectors :math:`[N, 3]` -> :math:`[N, 3]`.
    """
    def __init__(self):
        super().__init__()
        self.scale = torch.nn.Parameter(torch.zeros(1))

    def reset_parameters(self):
        torch.nn.init.zeros_(self.scale)

    def forward(self, noisy_pos: Tensor, vectors: Tensor) -> Tensor:
        return noisy_pos + self.scale * vectors

    @staticmethod
    def loss(pred_pos: Tensor, clean_pos: Tensor,
             mask: Optional[Tensor] = None) -> Tensor:
        err = F.smooth_l1_loss(pred_pos.float(), clean_pos.float(),
                               reduction="none", beta=1.0).sum(-1)
        if mask is not None:
            if not mask.any():
                return err.sum() * 0.0
            err = err[mask]
        return err.mean()


class ContrastiveAlignment(torch.nn.Module):
    r"""Symmetric 1D-3D InfoNCE: projects both pooled vectors, L2-normalises
    them and scores all pairs of a batch by cosine similarity over a
    temperature; matching polymers are the positives.

    Args:
        in_channels_1d (int): Size of the 1D pooled vector.
        in_channels_3d (int): Size of the 3D pooled vector.
        proj_channels (int, optional): Projection size. (default: :obj:`128`)
        temperature (float, optional): Initial temperature :math:`\tau`.
            (default: :obj:`0.1`)
        learnable_temperature (bool, optional): Learn :math:`\log(1/\tau)`
            (clamped to :math:`\tau \geq 0.01`). (default: :obj:`True`)
        symmetric (bool, optional): Average the 1D->3D and 3D->1D losses; the
            MMPolymer slides show 1D->3D only. (default: :obj:`True`)

    Shapes: :math:`[B, H_1]`, :math:`[B, H_3]` -> scalar loss (and the
    :math:`[B, B]` logits).
    """
    def __init__(self, in_channels_1d: int, in_channels_3d: int,
                 proj_channels: int = 128, temperature: float = 0.1,
                 learnable_temperature: bool = True, symmetric: bool = True):
        super().__init__()
        self.symmetric = symmetric
        self.initial_temperature = temperature
        self.proj_1d = torch.nn.Sequential(
            torch.nn.Linear(in_channels_1d, proj_channels), torch.nn.GELU(),
            torch.nn.Linear(proj_channels, proj_channels))
        self.proj_3d = torch.nn.Sequential(
            torch.nn.Linear(in_channels_3d, proj_channels), torch.nn.GELU(),
            torch.nn.Linear(proj_channels, proj_channels))
        log_scale = torch.tensor([math.log(1.0 / temperature)])
        if learnable_temperature:
            self.log_scale = torch.nn.Parameter(log_scale)
        else:
            self.register_buffer("log_scale", log_scale)

    def reset_parameters(self):
        for m in list(self.proj_1d) + list(self.proj_3d):
            if isinstance(m, torch.nn.Linear):
                m.reset_parameters()
        with torch.no_grad():
            self.log_scale.fill_(math.log(1.0 / self.initial_temperature))

    @property
    def temperature(self) -> float:
        return float(1.0 / self.log_scale.clamp(max=math.log(100.0)).exp())

    def forward(self, h_1d: Tensor, h_3d: Tensor) -> Tuple[Tensor, Tensor]:
        z1 = F.normalize(self.proj_1d(h_1d).float(), dim=-1)
        z3 = F.normalize(self.proj_3d(h_3d).float(), dim=-1)
        scale = self.log_scale.clamp(max=math.log(100.0)).exp()
        logits = scale * z1 @ z3.t()
        target = torch.arange(logits.size(0), device=logits.device)
        loss = F.cross_entropy(logits, target)
        if self.symmetric:
            loss = 0.5 * (loss + F.cross_entropy(logits.t(), target))
        return loss, logits


class PropertyHead(torch.nn.Module):
    r"""MLP regression head for one or many targets, with a NaN-masked MSE.

    Args:
        in_channels (int): Input size.
        num_targets (int, optional): Targets :math:`T`. (default: :obj:`1`)
        hidden_channels (int, optional): Hidden width. (default: in_channels)
        dropout (float, optional): Dropout before the MLP. (default: :obj:`0.1`)

    Shapes: :math:`[B, H]` -> :math:`[B, T]`.
    """
    def __init__(self, in_channels: int, num_targets: int = 1,
                 hidden_channels: Optional[int] = None, dropout: float = 0.1):
        super().__init__()
        hidden = hidden_channels or in_channels
        self.num_targets = num_targets
        self.mlp = torch.nn.Sequential(
            torch.nn.Dropout(dropout), torch.nn.Linear(in_channels, hidden),
            torch.nn.SiLU(), torch.nn.Linear(hidden, num_targets))

    def reset_parameters(self):
        for m in self.mlp:
            if isinstance(m, torch.nn.Linear):
                m.reset_parameters()

    def forward(self, h: Tensor) -> Tensor:
        return self.mlp(h)

    @staticmethod
    def loss(pred: Tensor, target: Tensor) -> Tensor:
        """Mean squared error over the observed (non-NaN) target entries."""
        target = target.view_as(pred)
        observed = ~torch.isnan(target)
        if not observed.any():
            return pred.sum() * 0.0
        diff = pred.float()[observed] - target.float()[observed]
        return (diff ** 2).mean()

