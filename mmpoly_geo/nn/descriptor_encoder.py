"""Whole-polymer descriptor vectors (RDKit descriptors, Morgan counts):
standardisation fitted on training data, and an encoder built on it."""
from __future__ import annotations

import torch
from torch import Tensor


class DescriptorScaler(torch.nn.Module):
    r"""Standardises descriptor vectors: :math:`\operatorname{asinh}` first
    (heavy tails such as RDKit's ``Ipc`` stay finite, counts become log-like),
    then a mean and standard deviation held in buffers (set them from training
    data with :meth:`fit`, so they are saved with the model), then a clip to
    :math:`\pm` :obj:`clip`.

    Args:
        num_descriptors (int): Descriptors :math:`D`.
        clip (float, optional): Clip of standardised values.
            (default: :obj:`6.0`)
        count_std_floor (float, optional): Floor of the fitted standard
            deviation of count columns (integer-valued in all training rows:
            Morgan bits, RDKit fragment counts). A count seen in few training
            polymers has a tiny standard deviation, so without a floor one
            occurrence becomes a :obj:`clip`-sized input, met by weights that
            saw it a few times. :obj:`1.0` makes one occurrence of a rare
            count about :math:`\operatorname{asinh}(1) = 0.88`; continuous
            descriptors are never floored. (default: :obj:`0.0`)

    Shapes: :math:`[B, D]` -> :math:`[B, D]`; missing values (``NaN``) become
    0 (the mean) or stay ``NaN`` (:obj:`fill_missing=False`, for targets).
    """
    def __init__(self, num_descriptors: int, clip: float = 6.0,
                 count_std_floor: float = 0.0):
        super().__init__()
        if count_std_floor < 0:
            raise ValueError(f"count_std_floor must be >= 0, got "
                             f"{count_std_floor}")
        self.num_descriptors = num_descriptors
        self.clip = clip
        self.count_std_floor = count_std_floor
        self.register_buffer("mean", torch.zeros(num_descriptors))
        self.register_buffer("std", torch.ones(num_descriptors))

    def reset_parameters(self):
        self.mean.zero_()
        self.std.fill_(1.0)

    def _check(self, descriptors: Tensor):
        if descriptors.dim() != 2 or descriptors.size(1) != self.num_descriptors:
            raise ValueError(f"descriptors must have shape [N, "
                             f"{self.num_descriptors}], got "
                             f"{tuple(descriptors.shape)}")

    @torch.no_grad()
    def fit(self, descriptors: Tensor) -> "DescriptorScaler":
        """Sets the standardisation from :obj:`descriptors` :math:`[N, D]`
        (``NaN`` ignored; constant columns get standard deviation 1, count
        columns at least :obj:`count_std_floor`)."""
        self._check(descriptors)
        raw = descriptors.double()
        x = torch.asinh(raw)
        mean = torch.nanmean(x, 0)
        std = torch.sqrt(torch.nanmean((x - mean) ** 2, 0))
        mean = torch.nan_to_num(mean, nan=0.0)
        counts = ((raw == raw.round()) | raw.isnan()).all(0)
        std = torch.where(counts, std.clamp(min=self.count_std_floor), std)
        std = torch.where(torch.nan_to_num(std, nan=0.0) > 1e-6, std,
                          torch.ones_like(std))
        self.mean.copy_(mean.to(self.mean))
        self.std.copy_(std.to(self.std))
        return self

    def forward(self, descriptors: Tensor, fill_missing: bool = True) -> Tensor:
        self._check(descriptors)
        x = (torch.asinh(descriptors.to(self.mean.dtype)) - self.mean) / self.std
        if fill_missing:
            x = torch.nan_to_num(x, nan=0.0)
        return x.clamp(-self.clip, self.clip)


class DescriptorEncoder(torch.nn.Module):
    r"""Standardises a descriptor vector (:class:`DescriptorScaler`, fitted
    with :meth:`fit`) and maps it to :obj:`out_channels` with a two-layer MLP.

    Args:
        in_channels (int): Descriptors :math:`D`.
        out_channels (int): Output size.
        dropout (float, optional): Input dropout. (default: :obj:`0.1`)
        clip (float, optional): Clip of standardised values.
            (default: :obj:`6.0`)
        count_std_floor (float, optional): Floor of the fitted standard
            deviation of count columns (see :class:`DescriptorScaler`).
            (default: :obj:`0.0`)

    Shapes: :math:`[B, D]` -> :math:`[B, H]`.
    """
    def __init__(self, in_channels: int, out_channels: int,
                 dropout: float = 0.1, clip: float = 6.0,
                 count_std_floor: float = 0.0):
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.scaler = DescriptorScaler(in_channels, clip, count_std_floor)
        self.mlp = torch.nn.Sequential(
            torch.nn.Dropout(dropout), torch.nn.Linear(in_channels, out_channels),
            torch.nn.SiLU(), torch.nn.Linear(out_channels, out_channels))

    def reset_parameters(self):
        self.scaler.reset_parameters()
        for m in self.mlp:
            if isinstance(m, torch.nn.Linear):
                m.reset_parameters()

    def fit(self, descriptors: Tensor) -> "DescriptorEncoder":
        """Fits the standardisation on :obj:`descriptors` :math:`[N, D]`."""
        self.scaler.fit(descriptors)
        return self

    def forward(self, descriptors: Tensor) -> Tensor:
        return self.mlp(self.scaler(descriptors))
