"""MMPolymer: sequence encoder + 3D encoder + fusion + heads."""
from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Dict, Optional, Union

import torch
from torch import Tensor

from mmpoly_geo.data.polymer_data import to_dense_tokens
from mmpoly_geo.data.tokenizer import PSmilesTokenizer
from mmpoly_geo.nn import (
    AtomTypeHead, ContrastiveAlignment, CoordinateDenoisingHead,
    DensePairEncoder, EquivariantEncoder, MaskedTokenHead, PaiNNEncoder,
    PropertyHead, SequenceEncoder)

ENCODERS_3D = {
    "equivariant": EquivariantEncoder,
    "painn": PaiNNEncoder,
    "dense": DensePairEncoder,
}
MODES = ("1d", "3d", "both")
CHECKPOINT_FORMAT = "mmpoly_geo.MMPolymer/1"


class MMPolymer(torch.nn.Module):
    r"""Multimodal polymer model: a :class:`~mmpoly_geo.nn.SequenceEncoder`
    over P-SMILES tokens and a 3D encoder over the radius graph, whose pooled
    vectors are projected to a common size and fused by averaging the
    modalities in use, followed by a property head; pretraining heads are
    attached too.

    Averaging (instead of MMPolymer's concatenation) keeps the head's input
    size independent of :obj:`mode`, so a model pretrained with both
    modalities can be fine-tuned or evaluated with one (``"1d"``/``"3d"``).

    Args:
        vocab_size (int, optional): Token ids. (default: the shipped vocabulary)
        num_targets (int, optional): Regression targets. (default: :obj:`1`)
        mode (str, optional): ``"1d"``, ``"3d"`` or ``"both"``.
            (default: ``"both"``)
        encoder_3d (str, optional): ``"equivariant"`` (e3nn),
            ``"painn"`` or ``"dense"`` (Uni-Mol-style). (default:
            ``"equivariant"``)
        fusion_channels (int, optional): Common projected size.
            (default: :obj:`256`)
        sequence_kwargs (dict, optional): Arguments of the sequence encoder.
        encoder_3d_kwargs (dict, optional): Arguments of the 3D encoder.
        dropout (float, optional): Property-head dropout. (default: :obj:`0.1`)

    Forward input: a (batched) :class:`~mmpoly_geo.data.PolymerData`. Output:
    a dict with ``pred`` :math:`[B, T]`, ``fused`` :math:`[B, D]` and, for the
    modalities in use, ``token_states`` :math:`[B, L, H]`, ``token_mask``,
    ``pooled_1d``, ``atom_states`` :math:`[N, H_3]`, ``pooled_3d``,
    ``vectors`` :math:`[N, 3]`.
    """
    def __init__(self, vocab_size: Optional[int] = None, num_targets: int = 1,
                 mode: str = "both", encoder_3d: str = "equivariant",
                 fusion_channels: int = 256,
                 sequence_kwargs: Optional[Dict[str, Any]] = None,
                 encoder_3d_kwargs: Optional[Dict[str, Any]] = None,
                 dropout: float = 0.1):
        super().__init__()
        if encoder_3d not in ENCODERS_3D:
            raise ValueError(f"encoder_3d must be one of {list(ENCODERS_3D)}, "
                             f"got {encoder_3d!r}")
        if vocab_size is None:
            vocab_size = len(PSmilesTokenizer())
        self._config = dict(
            vocab_size=vocab_size, num_targets=num_targets, mode=mode,
            encoder_3d=encoder_3d, fusion_channels=fusion_channels,
            sequence_kwargs=dict(sequence_kwargs or {}),
            encoder_3d_kwargs=dict(encoder_3d_kwargs or {}), dropout=dropout)
        self.mode = mode
        self.sequence_encoder = SequenceEncoder(vocab_size,
                                                **self._config["sequence_kwargs"])
        self.encoder_3d = ENCODERS_3D[encoder_3d](
            **self._config["encoder_3d_kwargs"])
        h1 = self.sequence_encoder.hidden_channels
        h3 = self.encoder_3d.out_channels
        self.project_1d = _projection(h1, fusion_channels)
        self.project_3d = _projection(h3, fusion_channels)
        self.property_head = PropertyHead(fusion_channels, num_targets,
                                          dropout=dropout)
        self.token_head = MaskedTokenHead(h1, vocab_size)
        self.atom_type_head = AtomTypeHead(h3)
        self.denoising_head = CoordinateDenoisingHead()
        self.contrastive = ContrastiveAlignment(h1, h3)

    @property
    def mode(self) -> str:
        return self._mode

    @mode.setter
    def mode(self, value: str):
        if value not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {value!r}")
        self._mode = value

    def config(self) -> Dict[str, Any]:
        """Constructor arguments (with the current mode)."""
        return dict(copy.deepcopy(self._config), mode=self.mode)

    def reset_parameters(self):
        for module in self.children():
            if hasattr(module, "reset_parameters"):
                module.reset_parameters()
            else:
                for m in module.modules():
                    if isinstance(m, torch.nn.Linear):
                        m.reset_parameters()

    def forward(self, data, mode: Optional[str] = None) -> Dict[str, Tensor]:
        mode = mode or self.mode
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        out: Dict[str, Tensor] = {}
        fused = []
        if mode in ("1d", "both"):
            tokens, mask = to_dense_tokens(data)
            states, pooled = self.sequence_encoder(tokens, mask)
            out.update(token_states=states, token_mask=mask, pooled_1d=pooled)
            fused.append(self.project_1d(pooled))
        if mode in ("3d", "both"):
            enc = self.encoder_3d(data.x, data.pos, data.radius_edge_index,
                                  getattr(data, "batch", None))
            out.update(atom_states=enc.node, pooled_3d=enc.pooled,
                       vectors=enc.vectors)
            fused.append(self.project_3d(enc.pooled))
        out["fused"] = torch.stack(fused).mean(0)
        out["pred"] = self.property_head(out["fused"])
        return out

    def save(self, path: Union[str, Path]):
        """Writes configuration and weights (loadable with
        ``weights_only=True``)."""
        torch.save({"format": CHECKPOINT_FORMAT, "config": self.config(),
                    "state_dict": self.state_dict()}, path)

    @classmethod
    def load(cls, path: Union[str, Path],
             map_location: Union[str, torch.device] = "cpu") -> "MMPolymer":
        """Reads a file written by :meth:`save`.

        Raises:
            FileNotFoundError: no such file.
            ValueError: the file is corrupted or not an MMPolymer checkpoint.
        """
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"checkpoint not found: {path}")
        blob = read_checkpoint(path, CHECKPOINT_FORMAT, "checkpoint",
                               "an MMPolymer checkpoint", map_location)
        model = cls(**blob["config"])
        model.load_state_dict(blob["state_dict"])
        return model

    def __repr__(self) -> str:
        c = self._config
        return (f"{self.__class__.__name__}(mode={self.mode!r}, "
                f"encoder_3d={c['encoder_3d']!r}, vocab_size={c['vocab_size']}, "
                f"num_targets={c['num_targets']}, "
                f"fusion_channels={c['fusion_channels']})")


def read_checkpoint(path: Path, fmt: str, readable: str, kind: str,
                    map_location: Union[str, torch.device] = "cpu") -> dict:
    """Loads a ``{"format": fmt, ...}`` file with ``weights_only=True``.

    Raises:
        ValueError: ``"<path> is not a readable <readable>"`` when it cannot
            be loaded, ``"<path> is not <kind>"`` when the format differs.
    """
    try:
        blob = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:
        raise ValueError(f"{path} is not a readable {readable} "
                         f"({type(exc).__name__}: {exc})") from None
    if not isinstance(blob, dict) or blob.get("format") != fmt:
        raise ValueError(f"{path} is not {kind} (expected format {fmt!r})")
    return blob


def _projection(in_channels: int, out_channels: int) -> torch.nn.Module:
    return torch.nn.Sequential(
        torch.nn.Linear(in_channels, out_channels), torch.nn.GELU(),
        torch.nn.Linear(out_channels, out_channels),
        torch.nn.LayerNorm(out_channels))
