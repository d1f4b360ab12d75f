"""MMPolymer: sequence encoder + 3D encoder + fusion + heads."""
from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Dict, Optional, Sequence, Tuple, Union

import torch
from torch import Tensor

from mmpoly_geo.atomic import atomic_torch_save
from mmpoly_geo.data.polymer_data import to_dense_tokens
from mmpoly_geo.data.tokenizer import PSmilesTokenizer
from mmpoly_geo.nn import (
    AtomTypeHead, BondGraphEncoder, ContrastiveAlignment,
    CoordinateDenoisingHead, DensePairEncoder, DescriptorEncoder,
    EncoderOutput, EquivariantEncoder, MaskedTokenHead, ModalityFusion,
    PaiNNEncoder, PropertyHead, SequenceEncoder)
from mmpoly_geo.nn.typed_edges import NUM_EDGE_TYPES, typed_edges

ENCODERS_3D = {
    "equivariant": EquivariantEncoder,
    "painn": PaiNNEncoder,
    "dense": DensePairEncoder,
}
ENCODERS_2D = {"gin": BondGraphEncoder}
MODES = ("1d", "2d", "3d", "both")
#: The sequence ("1d") and 3D ("3d") branches each mode calls.
MODE_MODALITIES = {"1d": {"1d"}, "3d": {"3d"}, "both": {"1d", "3d"},
                   "2d": set()}
#: The submodule that encodes each of those branches.
BRANCH_ENCODERS = {"1d": "sequence_encoder", "3d": "encoder_3d"}
#: Heads used only in pretraining: prediction files leave them out.
PRETRAINING_HEADS = ("token_head", "atom_type_head", "denoising_head",
                     "contrastive")
#: The state-dict prefixes of each branch that pretraining can train: what a
#: pretrained file passes on for that branch (``pretrained_branches``).
BRANCH_PREFIXES = {
    "1d": ("sequence_encoder.", "fusion.projections.1d.", "token_head."),
    "3d": ("encoder_3d.", "fusion.projections.3d.", "atom_type_head.",
           "denoising_head."),
    "2d": ("encoder_2d.", "fusion.projections.2d."),
}
#: The branches a pretrained file without the record trained (files
#: written before the 2D branch could be pretrained).
DEFAULT_PRETRAINED_BRANCHES = ("1d", "3d")
# /2: concatenation fusion, bond-typed 3D edges, descriptor branch.
# /3: contrastive alignment in the fused space (head sizes changed).
CHECKPOINT_FORMAT = "mmpoly_geo.MMPolymer/3"


class MMPolymer(torch.nn.Module):
    r"""Multimodal polymer model: a :class:`~mmpoly_geo.nn.SequenceEncoder`
    over P-SMILES tokens, a 3D encoder over the radius graph (whose edges
    carry their bond type, so the encoder sees chemistry as well as
    geometry) and optionally a :class:`~mmpoly_geo.nn.DescriptorEncoder` of
    whole-polymer descriptors and a 2D encoder of the bond graph, fused by
    :class:`~mmpoly_geo.nn.ModalityFusion` and followed by a property head;
    pretraining heads are attached too.

    With ``fusion="concat"`` (MMPolymer's choice) a modality left out by
    :obj:`mode` contributes zeros, and modality dropout in training teaches
    the model to predict from either branch, so one model serves
    ``mode="1d"``, ``"3d"`` and ``"both"``. The descriptor and 2D branches,
    when built, are used in every mode; ``mode="2d"`` (needs the 2D branch)
    uses them alone.

    Args:
        vocab_size (int, optional): Token ids. (default: the shipped vocabulary)
        num_targets (int, optional): Regression targets. (default: :obj:`1`)
        mode (str, optional): ``"1d"``, ``"3d"``, ``"both"`` or ``"2d"``
            (neither sequence nor 3D: the 2D and descriptor branches only).
            (default: ``"both"``)
        encoder_3d (str, optional): ``"equivariant"`` (e3nn),
            ``"painn"`` or ``"dense"`` (Uni-Mol-style). (default:
            ``"equivariant"``)
        fusion_channels (int, optional): Projected size per modality.
            (default: :obj:`256`)
        sequence_kwargs (dict, optional): Arguments of the sequence encoder.
        encoder_3d_kwargs (dict, optional): Arguments of the 3D encoder.
        dropout (float, optional): Property-head dropout. (default: :obj:`0.1`)
        fusion (str, optional): ``"concat"`` or ``"mean"``.
            (default: ``"concat"``)
        modality_dropout (float, optional): Training-time probability of
            dropping a modality per sample (``"concat"``). (default: :obj:`0.1`)
        bonds (bool, optional): Give the 3D encoder each edge's bond type
            (``"equivariant"`` only). (default: :obj:`None`, meaning
            :obj:`True` for ``"equivariant"`` and :obj:`False` otherwise)
        periodic (bool, optional): Add the periodic closure bond (the repeat
            unit's two ends, :obj:`data.periodic_edge_index`) to the 3D
            encoder's edges (needs :obj:`bonds`). (default: :obj:`False`)
        num_descriptors (int, optional): Number :math:`D` of descriptors
            the branch reads; :obj:`0` builds no descriptor branch.
            (default: :obj:`0`)
        descriptor_columns (list, optional): ``[start, stop]``: the columns
            of :obj:`data.descriptors` the branch reads (``stop - start ==
            num_descriptors``), so models reading different descriptor sets
            (e.g. RDKit only, of RDKit + Morgan) share one featurisation.
            (default: :obj:`None`: all columns)
        descriptor_kwargs (dict, optional): Arguments of the
            :class:`~mmpoly_geo.nn.DescriptorEncoder` (``clip``,
            ``count_std_floor``; ``dropout`` defaults to :obj:`dropout`).
        encoder_2d (str, optional): ``"gin"`` adds a
            :class:`~mmpoly_geo.nn.BondGraphEncoder` over the bond graph
            (with the periodic bond when :obj:`periodic`), fused as one more
            modality (pretrained with ``pretrain.branches=[2d]``).
            (default: :obj:`None`)
        encoder_2d_kwargs (dict, optional): Arguments of the 2D encoder
            (e.g. ``bond_features=True``: messages carry bond types).
        build_unused (bool, optional): If :obj:`False`, the sequence or 3D
            encoder that :obj:`mode` never calls is not built: a model to
            load a fold file into for prediction (the e3nn encoder is most of
            a model's build time; fold files leave these encoders out, see
            :attr:`unused_modules`). Such a model cannot switch to a mode
            that needs them. (default: :obj:`True`)

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
                 dropout: float = 0.1, fusion: str = "concat",
                 modality_dropout: float = 0.1, bonds: Optional[bool] = None,
                 periodic: bool = False, num_descriptors: int = 0,
                 descriptor_columns: Optional[Sequence[int]] = None,
                 descriptor_kwargs: Optional[Dict[str, Any]] = None,
                 encoder_2d: Optional[str] = None,
                 encoder_2d_kwargs: Optional[Dict[str, Any]] = None,
                 build_unused: bool = True):
        super().__init__()
        if encoder_2d is not None and encoder_2d not in ENCODERS_2D:
            raise ValueError(f"encoder_2d must be None or one of "
                             f"{list(ENCODERS_2D)}, got {encoder_2d!r}")
        if encoder_3d not in ENCODERS_3D:
            raise ValueError(f"encoder_3d must be one of {list(ENCODERS_3D)}, "
                             f"got {encoder_3d!r}")
        if bonds is None:
            bonds = encoder_3d == "equivariant"
        if bonds and encoder_3d != "equivariant":
            raise ValueError(f"bonds=True needs encoder_3d='equivariant' "
                             f"(got {encoder_3d!r}); set bonds=False")
        if periodic and not bonds:
            raise ValueError("periodic=True needs bonds=True")
        if descriptor_columns is not None:
            descriptor_columns = [int(c) for c in descriptor_columns]
            if (len(descriptor_columns) != 2 or descriptor_columns[0] < 0
                    or descriptor_columns[1] - descriptor_columns[0]
                    != num_descriptors):
                raise ValueError(
                    f"descriptor_columns must be [start, stop] with stop - "
                    f"start = num_descriptors ({num_descriptors}), got "
                    f"{descriptor_columns}")
        if vocab_size is None:
            vocab_size = len(PSmilesTokenizer())
        self._config = dict(
            vocab_size=vocab_size, num_targets=num_targets, mode=mode,
            encoder_3d=encoder_3d, fusion_channels=fusion_channels,
            sequence_kwargs=dict(sequence_kwargs or {}),
            encoder_3d_kwargs=dict(encoder_3d_kwargs or {}), dropout=dropout,
            fusion=fusion, modality_dropout=modality_dropout, bonds=bonds,
            periodic=periodic, num_descriptors=num_descriptors,
            descriptor_columns=descriptor_columns,
            descriptor_kwargs=dict(descriptor_kwargs or {}),
            encoder_2d=encoder_2d,
            encoder_2d_kwargs=dict(encoder_2d_kwargs or {}))
        self.bonds = bonds
        self.periodic = periodic
        built = (MODE_MODALITIES.get(mode, {"1d", "3d"}) if not build_unused
                 else {"1d", "3d"})
        self.sequence_encoder = self.encoder_3d = None
        # Sizes of the modules that serve only a skipped encoder (its fusion
        # projection, its pretraining head): never loaded, never called.
        h1 = h3 = 1
        if "1d" in built:
            self.sequence_encoder = SequenceEncoder(
                vocab_size, **self._config["sequence_kwargs"])
            h1 = self.sequence_encoder.hidden_channels
        if "3d" in built:
            kwargs_3d = dict(self._config["encoder_3d_kwargs"])
            if bonds:
                kwargs_3d.setdefault("num_edge_types", NUM_EDGE_TYPES)
            self.encoder_3d = ENCODERS_3D[encoder_3d](**kwargs_3d)
            h3 = self.encoder_3d.out_channels
        modalities = {"1d": h1, "3d": h3}
        self.encoder_2d = None
        if encoder_2d is not None:
            self.encoder_2d = ENCODERS_2D[encoder_2d](
                **self._config["encoder_2d_kwargs"])
            modalities["2d"] = self.encoder_2d.out_channels
        self.descriptor_encoder = None
        if num_descriptors:
            self.descriptor_encoder = DescriptorEncoder(
                num_descriptors, fusion_channels,
                **{"dropout": dropout, **self._config["descriptor_kwargs"]})
            modalities["descriptors"] = fusion_channels
        self.fusion = ModalityFusion(modalities, fusion_channels, fusion,
                                     modality_dropout)
        self.property_head = PropertyHead(self.fusion.out_channels,
                                          num_targets, dropout=dropout)
        self.token_head = MaskedTokenHead(h1, vocab_size)
        self.atom_type_head = AtomTypeHead(h3)
        self.denoising_head = CoordinateDenoisingHead()
        # Aligns the fusion projections of the 1D and 3D vectors: the space
        # fine-tuning reads, so pretraining trains the projections it uses.
        self.contrastive = ContrastiveAlignment(fusion_channels,
                                                fusion_channels)
        self.mode = mode

    def select_descriptors(self, descriptors: Tensor) -> Tensor:
        """The columns of :obj:`descriptors` :math:`[B, D']` the descriptor
        branch reads (see :obj:`descriptor_columns`): :math:`[B, D]`."""
        columns = self._config["descriptor_columns"]
        if columns is None:
            return descriptors
        if descriptors.size(-1) < columns[1]:
            raise ValueError(
                f"this model reads columns {columns[0]}:{columns[1]} of "
                f"data.descriptors, which has {descriptors.size(-1)}; process "
                f"the data with the featurizer's descriptors setting used in "
                f"training")
        return descriptors[:, columns[0]:columns[1]]

    @property
    def project_1d(self) -> torch.nn.Module:
        """Projection of the pooled sequence vector into the fused space."""
        return self.fusion.projections["1d"]

    @property
    def project_3d(self) -> torch.nn.Module:
        """Projection of the pooled 3D vector into the fused space."""
        return self.fusion.projections["3d"]

    @property
    def project_2d(self) -> torch.nn.Module:
        """Projection of the pooled 2D vector into the fused space."""
        return self.fusion.projections["2d"]

    @property
    def mode(self) -> str:
        return self._mode

    @mode.setter
    def mode(self, value: str):
        self._check_mode(value)
        self._mode = value

    @property
    def unused_modules(self) -> Tuple[str, ...]:
        """The submodules (dotted names) that :attr:`mode` never calls: the
        sequence or 3D encoder and its fusion projection. They are built by
        default (``build_unused=True``), so that one architecture serves
        every mode, but a model trained in a mode without them never trains
        them: fold files leave them out
        (:func:`~mmpoly_geo.models.predictor.save_fold_model`), and a model
        built with ``build_unused=False`` lacks the encoders."""
        return tuple(name for m in sorted(BRANCH_ENCODERS)
                     if m not in MODE_MODALITIES[self.mode]
                     for name in (BRANCH_ENCODERS[m],
                                  f"fusion.projections.{m}"))

    def _check_mode(self, mode: str):
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        if mode == "2d" and self.encoder_2d is None:
            raise ValueError("mode='2d' needs the 2D branch (encoder_2d)")
        for modality, name in BRANCH_ENCODERS.items():
            if (modality in MODE_MODALITIES[mode]
                    and getattr(self, name) is None):
                raise ValueError(f"mode={mode!r} needs {name}, which this "
                                 f"model was built without "
                                 f"(build_unused=False)")

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

    def encode_3d(self, data, x: Optional[Tensor] = None,
                  pos: Optional[Tensor] = None,
                  radius_edge_index: Optional[Tensor] = None) -> EncoderOutput:
        """Runs the 3D encoder on :obj:`data` (or on the given atom features,
        coordinates and radius graph, e.g. masked and noised ones in
        pretraining), adding bond types and periodic bonds as configured."""
        x = data.x if x is None else x
        pos = data.pos if pos is None else pos
        edges = (data.radius_edge_index if radius_edge_index is None
                 else radius_edge_index)
        batch = getattr(data, "batch", None)
        if not self.bonds:
            return self.encoder_3d(x, pos, edges, batch)
        periodic = ((data.periodic_edge_index, data.periodic_edge_attr[:, 0])
                    if self.periodic else (None, None))
        edges, edge_type = typed_edges(edges, data.edge_index,
                                       data.edge_attr[:, 0], pos.size(0),
                                       *periodic)
        return self.encoder_3d(x, pos, edges, batch, edge_type=edge_type)

    def encode_2d(self, data, x: Optional[Tensor] = None
                  ) -> Tuple[Tensor, Tensor]:
        """Runs the 2D encoder over the bond graph of :obj:`data` (with the
        periodic bond when configured) on :obj:`x` (default: ``data.x``;
        e.g. masked atoms in pretraining): ``(node, pooled)``."""
        edges, edge_attr = data.edge_index, data.edge_attr
        if self.periodic:
            edges = torch.cat([edges, data.periodic_edge_index], 1)
            edge_attr = torch.cat([edge_attr, data.periodic_edge_attr])
        return self.encoder_2d(data.x if x is None else x, edges,
                               getattr(data, "batch", None),
                               getattr(data, "num_graphs", 1),
                               edge_attr=edge_attr)

    def forward(self, data, mode: Optional[str] = None,
                generator: Optional[torch.Generator] = None
                ) -> Dict[str, Tensor]:
        """:obj:`generator` drives modality dropout in training (default:
        the global RNG)."""
        mode = mode or self.mode
        self._check_mode(mode)
        out: Dict[str, Tensor] = {}
        inputs: Dict[str, Tensor] = {}
        if mode in ("1d", "both"):
            tokens, mask = to_dense_tokens(data)
            states, pooled = self.sequence_encoder(tokens, mask)
            out.update(token_states=states, token_mask=mask, pooled_1d=pooled)
            inputs["1d"] = pooled
        if mode in ("3d", "both"):
            self._check_cutoff(data)
            enc = self.encode_3d(data)
            out.update(atom_states=enc.node, pooled_3d=enc.pooled,
                       vectors=enc.vectors)
            inputs["3d"] = enc.pooled
        if self.encoder_2d is not None:
            inputs["2d"] = self.encode_2d(data)[1]
        if self.descriptor_encoder is not None:
            descriptors = getattr(data, "descriptors", None)
            if descriptors is not None:
                descriptors = self.select_descriptors(descriptors)
            if descriptors is None or descriptors.size(-1) != \
                    self.descriptor_encoder.in_channels:
                raise ValueError(
                    f"this model needs data.descriptors with "
                    f"{self.descriptor_encoder.in_channels} columns, got "
                    f"{None if descriptors is None else descriptors.size(-1)}"
                    f"; process the data with the featurizer's descriptors "
                    f"setting used in training")
            inputs["descriptors"] = self.descriptor_encoder(descriptors)
        out["fused"] = self.fusion(inputs, generator)
        out["pred"] = self.property_head(out["fused"])
        return out

    def _check_cutoff(self, data):
        cutoff = getattr(self.encoder_3d, "cutoff", None)
        given = getattr(data, "radius_cutoff", None)
        if cutoff is None or given is None or given.numel() == 0:
            return
        if not torch.allclose(given.float(), given.new_full(
                given.shape, float(cutoff)).float()):
            raise ValueError(
                f"the data's radius graph was built with cutoff "
                f"{given.view(-1)[0].item():g} A but the 3D encoder's radial "
                f"basis ends at {cutoff:g} A; build the model with "
                f"encoder_3d_kwargs={{'cutoff': "
                f"{given.view(-1)[0].item():g}}} (the finetune and pretrain "
                f"commands set it from data.cutoff)")

    def save(self, path: Union[str, Path],
             pretrained_branches: Optional[Sequence[str]] = None):
        """Writes configuration and weights (loadable with
        ``weights_only=True``); a pretrained file records which branches
        (keys of :data:`BRANCH_PREFIXES`) pretraining trained, so
        fine-tuning takes those and nothing else from it."""
        blob = {"format": CHECKPOINT_FORMAT, "config": self.config(),
                "state_dict": self.state_dict()}
        if pretrained_branches is not None:
            blob["pretrained_branches"] = list(pretrained_branches)
        atomic_torch_save(blob, path)

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
                f"fusion={c['fusion']!r}, bonds={c['bonds']}, "
                f"periodic={c['periodic']}, "
                f"num_descriptors={c['num_descriptors']}, "
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
    found = blob.get("format") if isinstance(blob, dict) else None
    if isinstance(found, str) and found.split("/")[0] == fmt.split("/")[0] \
            and found != fmt:
        raise ValueError(
            f"{path} was written by another version of mmpoly_geo (format "
            f"{found!r}; this version reads {fmt!r}); train it again, or "
            f"use the version that wrote it")
    if found != fmt:
        raise ValueError(f"{path} is not {kind} (expected format {fmt!r})")
    return blob
