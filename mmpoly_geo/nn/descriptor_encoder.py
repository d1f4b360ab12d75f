"""Encoder of whole-polymer descriptor vectors (RDKit descriptors, Morgan
counts) with standardisation fitted on training data."""
from __future__ import annotations

import torch
from torch import Tensor


class DescriptorEncoder(torch.nn.Module):
    r"""Standardises a descriptor vector and maps it to :obj:`out_channels`.

    Each input is first compressed with :math:`\operatorname{asinh}` (heavy
    tails such as RDKit's ``Ipc`` stay finite, counts become log-like), then
    standardised with a mean and standard deviation held in buffers (set them
    from training data with :meth:`fit`, so they are saved with the model);
    missing values (``NaN``) become the mean, and standardised values are
    clipped to :math:`\pm` :obj:`clip`. A two-layer MLP follows.

    Args:
        in_channels (int): Descriptors :math:`D`.
        out_channels (int): Output size.
        dropout (float, optional): Input dropout. (default: :obj:`0.1`)
        clip (float, optional): Clip of standardised values.
            (default: :obj:`6.0`)

    Shapes: :math:`[B, D]` -> :math:`[B, H]`.
    """
    def __init__(self, in_channels: int, out_channels: int,
                 dropout: float = 0.1, clip: float = 6.0):
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.clip = clip
        self.register_buffer("mean", torch.zeros(in_channels))
        self.register_buffer("std", torch.ones(in_channels))
        self.mlp = torch.nn.Sequential(
            torch.nn.Dropout(dropout), torch.nn.Linear(in_channels, out_channels),
            torch.nn.SiLU(), torch.nn.Linear(out_channels, out_channels))

    def reset_parameters(self):
        self.mean.zero_()
        self.std.fill_(1.0)
        for m in self.mlp:
            if isinstance(m, torch.nn.Linear):
                m.reset_parameters()

    @torch.no_grad()
    def fit(self, descriptors: Tensor) -> "DescriptorEncoder":
        """Sets the standardisation from :obj:`descriptors` :math:`[N, D]`
        (``NaN`` ignored; constant columns get standard deviation 1)."""
        if descriptors.dim() != 2 or descriptors.size(1) != self.in_channels:
            raise ValueError(f"descriptors must have shape [N, "
                             f"{self.in_channels}], got "
                             f"{tuple(descriptors.shape)}")
        x = torch.asinh(descriptors.double())
        mean = torch.nanmean(x, 0)
        std = torch.sqrt(torch.nanmean((x - mean) ** 2, 0))
        mean = torch.nan_to_num(mean, nan=0.0)
        std = torch.where(torch.nan_to_num(std, nan=0.0) > 1e-6, std,
                          torch.ones_like(std))
        self.mean.copy_(mean.to(self.mean))
        self.std.copy_(std.to(self.std))
        return self

    def forward(self, descriptors: Tensor) -> Tensor:
        if descriptors.dim() != 2 or descriptors.size(1) != self.in_channels:
            raise ValueError(f"descriptors must have shape [B, "
                             f"{self.in_channels}], got "
                             f"{tuple(descriptors.shape)}")
        x = (torch.asinh(descriptors.to(self.mean.dtype)) - self.mean) / self.std
        x = torch.nan_to_num(x, nan=0.0).clamp(-self.clip, self.clip)
        return self.mlp(x)
