"""The common output of the 3D encoders."""
from __future__ import annotations

from typing import NamedTuple

from torch import Tensor


class EncoderOutput(NamedTuple):
    """What every 3D encoder returns.

    Attributes:
        node (torch.Tensor): Invariant per-atom features :math:`[N, H]`.
        pooled (torch.Tensor): Invariant per-polymer vector :math:`[B, H]`.
        vectors (torch.Tensor): Equivariant per-atom vectors :math:`[N, 3]`
            (rotate with the input, flip sign under reflection), e.g. for
            coordinate denoising.
    """
    node: Tensor
    pooled: Tensor
    vectors: Tensor
