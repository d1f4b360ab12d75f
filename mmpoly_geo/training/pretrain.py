"""Multimodal pretraining (the ``pretrain`` command): masked tokens (1D),
coordinate denoising with masked atom types and environments (3D or the bond
graph), 1D-3D contrastive alignment, descriptor regression."""
from __future__ import annotations

import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any, Dict, Iterable, Optional, Sequence, Set, Tuple

import numpy as np
import pandas as pd
import pytorch_lightning as pl
import torch
from torch import Tensor

import mmpoly_geo
from mmpoly_geo.atomic import atomic_write_text

from mmpoly_geo.chem.features import BOND_FEATURE_DIMS, masked_atom_features
from mmpoly_geo.chem.psmiles import polymer_key_or_none
from mmpoly_geo.data.polymer_data import to_dense_tokens
from mmpoly_geo.data.radius_graph import radius_graph
from mmpoly_geo.data.tokenizer import SPECIAL_TOKENS, PSmilesTokenizer
from mmpoly_geo.data.shipped import (
    BENCHMARKS, CORPUS_LICENCES, PRETRAIN, shipped_files)
from mmpoly_geo.models import MMPolymer, build_model
from mmpoly_geo.models.mmpolymer import MODE_MODALITIES
from mmpoly_geo.models.pretrained import (
    CARD_FILE, CHECKPOINT_FILE, MAX_SHIPPED_MB, PRETRAINED_DIR)
from mmpoly_geo.nn import (
    IGNORE_INDEX, AtomEnvironmentHead, AtomTypeHead, DescriptorScaler,
    PropertyHead)
from mmpoly_geo.training.config import (
    pretrain_data, resolve_model_config, save_config)
from mmpoly_geo.training.resumable import ResumableModule
from mmpoly_geo.data.transforms import use_conformer
from mmpoly_geo.training.sampling import random_conformers
from mmpoly_geo.training.splits import train_val_split
from mmpoly_geo.training.trainer import TimeLimit, best_checkpoint, fit

#: Settings of the ``pretrain`` section that replace ``optim``'s in
#: pretraining.
PRETRAIN_OPTIM = ("lr", "weight_decay", "warmup_ratio", "batch_size",
                  "max_epochs", "patience", "length_buckets")
#: Epoch whose randomness every validation pass uses: the same masks, noise
#: and conformers each epoch, so validation losses compare across epochs.
VALIDATION_EPOCH = 0
VALIDATION_STEP_OFFSET = 10**6
#: The branches each objective trains (``pretrain.branches`` chooses the
#: branches; an objective whose branches are not chosen must be off).
OBJECTIVE_BRANCHES = {"token": {"1d"}, "coord": {"3d"}, "atom": {"3d", "2d"},
                      "environment": {"3d", "2d"},
                      "contrastive": {"1d", "3d"},
                      "descriptor": {"1d", "2d", "3d"}}
#: Neighbour elements (atomic numbers) that :func:`atom_environments` tells
#: apart; every other element (and a star kept as atom 0) counts as "other".
ENVIRONMENT_ELEMENTS = (1, 6, 7, 8, 9, 14, 15, 16, 17, 35)
#: Slots of an atom environment: (neighbour element or other) x bond type.
ENVIRONMENT_SLOTS = (len(ENVIRONMENT_ELEMENTS) + 1) * BOND_FEATURE_DIMS[0]


def mask_atoms(x: Tensor, chosen: Tensor) -> Tensor:
    """Replaces the whole feature row of each :obj:`chosen` atom by
    :func:`~mmpoly_geo.chem.features.masked_atom_features` (masking the
    element column alone leaves it readable from the others)."""
    out = x.clone()
    out[chosen] = torch.as_tensor(masked_atom_features(), device=x.device)
    return out


def atom_environments(z: Tensor, edge_index: Tensor, bond_type: Tensor,
                      num_counts: int = 4) -> Tensor:
    """Each atom's bonded environment: how many neighbours it has of each
    element of :data:`ENVIRONMENT_ELEMENTS` (or other) through each bond type
    (column 0 of ``edge_attr``), clipped at :obj:`num_counts` - 1; shape
    :obj:`[N,` :data:`ENVIRONMENT_SLOTS` :obj:`]` (int64). The target of
    :class:`~mmpoly_geo.nn.AtomEnvironmentHead` for masked atoms: GROVER's
    context of radius 1 (element and bond of every neighbour), per slot.

    Args:
        z (Tensor): Atomic numbers :obj:`[N]`.
        edge_index (Tensor): Bond graph, both directions :obj:`[2, E]`.
        bond_type (Tensor): Bond type category of each edge :obj:`[E]`.
    """
    table = torch.full((119,), len(ENVIRONMENT_ELEMENTS), dtype=torch.long,
                       device=z.device)
    table[list(ENVIRONMENT_ELEMENTS)] = torch.arange(
        len(ENVIRONMENT_ELEMENTS), device=z.device)
    src, dst = edge_index
    slot = table[z[src]] * BOND_FEATURE_DIMS[0] + bond_type
    counts = torch.zeros(z.numel(), ENVIRONMENT_SLOTS, dtype=torch.long,
                         device=z.device)
    counts.index_put_((dst, slot), torch.ones_like(slot), accumulate=True)
    return counts.clamp(max=num_counts - 1)


def mask_tokens(tokens: Tensor, mask: Tensor, prob: float, vocab_size: int,
                generator: torch.Generator) -> Tuple[Tensor, Tensor]:
    """BERT masking of non-special tokens: each is chosen with :obj:`prob`;
    chosen ones become ``[MASK]`` (80 %), a random token (10 %) or stay (10 %).
    Returns the masked ids and the labels (-100 where not chosen)."""
    first = len(SPECIAL_TOKENS)
    eligible = mask & (tokens >= first)
    draw = torch.rand(tokens.shape, generator=generator).to(tokens.device)
    chosen = eligible & (draw < prob)
    labels = torch.where(chosen, tokens, torch.full_like(tokens, IGNORE_INDEX))
    how = torch.rand(tokens.shape, generator=generator).to(tokens.device)
    random_ids = torch.randint(first, vocab_size, tokens.shape,
                               generator=generator).to(tokens.device)
    out = tokens.clone()
    out[chosen & (how < 0.8)] = PSmilesTokenizer.mask_id
    swap = chosen & (how >= 0.8) & (how < 0.9)
    out[swap] = random_ids[swap]
    return out, labels


class PretrainModule(ResumableModule):
    r"""Pretrains the :obj:`branches` of :class:`~mmpoly_geo.models.MMPolymer`
    (sequence ``"1d"`` and 3D ``"3d"``, MMPolymer's; or the bond-graph
    ``"2d"`` branch, ``model.encoder_2d``) with
    :math:`L = w_t L_{token} + w_c L_{coord} + w_a L_{atom} + w_e L_{env}
    + w_{nce} L_{nce} + w_d L_{desc}`; a weight of 0 switches an objective
    off (ablations).

    - :math:`L_{token}`: masked P-SMILES tokens (:obj:`mask_prob`, 80/10/10).
    - :math:`L_{coord}`: a random conformer; atoms chosen with
      :obj:`mask_prob` get uniform noise in :math:`\pm` :obj:`noise`
      Angstrom per axis (Uni-Mol's recipe) and their whole feature row
      masked (:func:`mask_atoms`); the radius graph is built **on the noised
      coordinates** only (the encoder sees only what a noised structure
      offers); smooth-L1 on the recovered coordinates of the noised atoms.
      :math:`L_{atom}`: their elements, from the 3D branch and (``"2d"``)
      from the 2D branch's atom states over the bond graph with the same
      atoms masked (logged as ``atom_2d``; Hu et al.'s attribute masking),
      by a head of this module, not of the saved model.
      :math:`L_{env}` (:obj:`environment_weight` > 0): the same masked
      atoms' bonded environments (:func:`atom_environments`: how many
      neighbours of which element through which bond type; GROVER's
      contextual property), from each of those branches (``environment``,
      ``environment_2d``), by heads of this module. With
      :obj:`mask_neighbours`, the bonded neighbours of the masked atoms are
      masked in the input too (not scored, not noised), so an environment
      is not read off the neighbours' own rows.
    - :math:`L_{nce}`: symmetric InfoNCE between the 1D and 3D vectors of
      the same (masked/noised) inputs after the **fusion projections**, the
      space fine-tuning reads.
    - :math:`L_{desc}` (:obj:`num_descriptors` > 0): multi-task regression of
      the polymer's RDKit 2D descriptors (``data.descriptors``, standardised
      by :attr:`descriptor_scaler`, fitted on the training split; ``NaN``
      entries masked) from each pretrained branch's vector after its fusion
      projection, by one shared head, averaged over the branches
      (ChemBERTa-2's MTR objective). The head belongs to this module, not
      to the saved model.

    Randomness comes from ``(seed, epoch, step)`` and the RNG states are kept
    in checkpoints, so a resumed run gives the same result; validation uses
    the same draws every epoch (:data:`VALIDATION_EPOCH`), so its loss is
    comparable across epochs and can select the checkpoint.
    """
    def __init__(self, model_config: Dict[str, Any], lr: float = 5e-4,
                 weight_decay: float = 1e-4, warmup_ratio: float = 0.06,
                 mask_prob: float = 0.15, noise: float = 1.0,
                 token_weight: float = 1.0, coord_weight: float = 1.0,
                 atom_weight: float = 1.0, contrastive_weight: float = 1.0,
                 temperature: float = 0.1, cutoff: float = 5.0, seed: int = 0,
                 descriptor_weight: float = 0.0, num_descriptors: int = 0,
                 branches: Sequence[str] = ("1d", "3d"),
                 environment_weight: float = 0.0,
                 mask_neighbours: bool = False):
        super().__init__()
        self.save_hyperparameters()
        if descriptor_weight > 0 and num_descriptors < 1:
            raise ValueError("descriptor_weight > 0 needs num_descriptors "
                             "(the width of data.descriptors)")
        #: The branches this run trains (the saved file records them).
        self.branches = trained_branches(branches, model_config, dict(
            token=token_weight, coord=coord_weight, atom=atom_weight,
            contrastive=contrastive_weight, descriptor=descriptor_weight,
            environment=environment_weight))
        model = build_model(dict(model_config, mode="both"))
        if not isinstance(model, MMPolymer):
            raise ValueError("pretraining needs model.kind=mmpolymer")
        self.model = model
        with torch.no_grad():
            self.model.contrastive.log_scale.fill_(float(np.log(1 / temperature)))
        self.descriptor_scaler = self.descriptor_head = None
        if descriptor_weight > 0:
            channels = model.fusion.channels
            self.descriptor_scaler = DescriptorScaler(num_descriptors)
            self.descriptor_head = PropertyHead(channels, num_descriptors,
                                                dropout=0.0)
        self.atom_head_2d = None
        if "2d" in self.branches and atom_weight > 0:
            self.atom_head_2d = AtomTypeHead(model.encoder_2d.out_channels)
        self.environment_heads = None
        if environment_weight > 0:
            atom_channels = {"3d": model.atom_type_head.in_channels}
            if model.encoder_2d is not None:
                atom_channels["2d"] = model.encoder_2d.out_channels
            self.environment_heads = torch.nn.ModuleDict({
                b: AtomEnvironmentHead(atom_channels[b], ENVIRONMENT_SLOTS)
                for b in ("3d", "2d") if b in self.branches})

    def _losses(self, batch, epoch: int, step: int) -> Dict[str, Tensor]:
        h = self.hparams
        g = torch.Generator().manual_seed(
            (h.seed * 1000003 + epoch) * 100003 + step)
        losses = {}
        fused = {}  # each pretrained branch's vector in the fused space
        if "1d" in self.branches:
            tokens, mask = to_dense_tokens(batch)
            masked, labels = mask_tokens(tokens, mask, h.mask_prob,
                                         self.model.token_head.num_classes, g)
            states, pooled_1d = self.model.sequence_encoder(masked, mask)
            if h.token_weight > 0:
                losses["token"] = self.model.token_head.loss(
                    self.model.token_head(states), labels)
            fused["1d"] = self.model.project_1d(pooled_1d)
        if "3d" in self.branches:
            # The graph is built on the noised coordinates below only.
            use_conformer(batch, random_conformers(batch, h.seed, epoch, step),
                          cutoff=None)
        chosen = x = None
        if "3d" in self.branches or "2d" in self.branches:
            chosen = (torch.rand(batch.num_nodes, generator=g)
                      < h.mask_prob).to(batch.x.device)
            atoms = torch.where(chosen, batch.z,
                                torch.full_like(batch.z, IGNORE_INDEX))
            # The atoms whose features the encoders do not see.
            hidden = chosen
            if h.mask_neighbours:
                src, dst = batch.edge_index
                hidden = chosen.clone()
                hidden[dst[chosen[src]]] = True
            if h.environment_weight > 0:
                environments = atom_environments(
                    batch.z, batch.edge_index, batch.edge_attr[:, 0])
                environments[~chosen] = IGNORE_INDEX
        if "3d" in self.branches:
            noise = (torch.rand(batch.num_nodes, 3, generator=g) * 2 - 1)
            noisy = batch.pos + noise.to(batch.pos) * h.noise * chosen[:, None]
            x = mask_atoms(batch.x, hidden)
            edges = radius_graph(noisy, h.cutoff, batch.batch)
            enc = self.model.encode_3d(batch, x=x, pos=noisy,
                                       radius_edge_index=edges)
            if h.coord_weight > 0:
                recovered = self.model.denoising_head(noisy, enc.vectors)
                losses["coord"] = self.model.denoising_head.loss(
                    recovered, batch.pos, chosen)
            if h.atom_weight > 0:
                losses["atom"] = self.model.atom_type_head.loss(
                    self.model.atom_type_head(enc.node), atoms)
            if h.environment_weight > 0:
                head = self.environment_heads["3d"]
                losses["environment"] = head.loss(head(enc.node), environments)
            fused["3d"] = self.model.project_3d(enc.pooled)
        if "2d" in self.branches:
            x = mask_atoms(batch.x, hidden) if x is None else x
            node_2d, pooled_2d = self.model.encode_2d(batch, x=x)
            if h.atom_weight > 0:
                losses["atom_2d"] = self.atom_head_2d.loss(
                    self.atom_head_2d(node_2d), atoms)
            if h.environment_weight > 0:
                head = self.environment_heads["2d"]
                losses["environment_2d"] = head.loss(head(node_2d),
                                                     environments)
            fused["2d"] = self.model.project_2d(pooled_2d)
        if h.contrastive_weight > 0:
            losses["contrastive"], _ = self.model.contrastive(fused["1d"],
                                                              fused["3d"])
        if h.descriptor_weight > 0:
            target = self.descriptor_scaler(batch.descriptors,
                                            fill_missing=False)
            losses["descriptor"] = sum(
                self.descriptor_head.loss(self.descriptor_head(v), target)
                for v in fused.values()) / len(fused)
        weights = {"token": h.token_weight, "coord": h.coord_weight,
                   "atom": h.atom_weight, "atom_2d": h.atom_weight,
                   "environment": h.environment_weight,
                   "environment_2d": h.environment_weight,
                   "contrastive": h.contrastive_weight,
                   "descriptor": h.descriptor_weight}
        losses["loss"] = sum(weights[k] * v for k, v in losses.items())
        return losses

    def on_train_start(self):
        # Said before the first step: the progress bar of a run whose output
        # goes to a file shows nothing until the first epoch ends (minutes
        # on a corpus). The loaders' own counts (buckets, DDP ranks).
        t = self.trainer
        if t.is_global_zero:
            print(f"pretraining on {len(t.train_dataloader.dataset)} polymers "
                  f"({len(t.val_dataloaders.dataset)} held out for "
                  f"validation): {t.num_training_batches} steps per epoch, "
                  f"up to {t.max_epochs} epochs")

    def training_step(self, batch, batch_idx):
        losses = self._losses(batch, self.current_epoch, batch_idx)
        for k, v in losses.items():
            self.log(f"train_{k}", v, batch_size=batch.num_graphs,
                     on_step=False, on_epoch=True, prog_bar=k == "loss",
                     sync_dist=True)
        return losses["loss"]

    def validation_step(self, batch, batch_idx):
        losses = self._losses(batch, VALIDATION_EPOCH,
                              VALIDATION_STEP_OFFSET + batch_idx)
        for k, v in losses.items():
            self.log(f"val_{k}", v, batch_size=batch.num_graphs,
                     on_step=False, on_epoch=True, sync_dist=True)


def trained_branches(branches: Sequence[str], model_config: Dict[str, Any],
                     weights: Dict[str, float]) -> Tuple[str, ...]:
    """The :obj:`branches` that an objective switched on (:obj:`weights`)
    trains, in the order 1d, 3d, 2d.

    Raises:
        ValueError: an unknown branch; 2d without ``model.encoder_2d``; an
            objective that is on but trains none of :obj:`branches`."""
    chosen = set(branches)
    if not chosen or not chosen <= {"1d", "2d", "3d"}:
        raise ValueError(f"pretrain.branches must be a non-empty list of "
                         f"1d, 2d and 3d, got {list(branches)}")
    if "2d" in chosen and not model_config.get("encoder_2d"):
        raise ValueError("pretrain.branches with 2d needs the 2D branch: set "
                         "model.encoder_2d=gin")
    for name, weight in weights.items():
        need = OBJECTIVE_BRANCHES[name]
        # Contrastive alignment needs both of its branches, the rest any one.
        needs_all = name == "contrastive"
        missing = (need - chosen if needs_all
                   else set() if need & chosen else need)
        if weight > 0 and missing:
            raise ValueError(
                f"pretrain.{name}_weight > 0 needs the "
                f"{(' and ' if needs_all else ' or ').join(sorted(missing))} "
                f"branch in pretrain.branches (got {sorted(chosen)}); set "
                f"pretrain.{name}_weight=0")
    on = {b for name, weight in weights.items() if weight > 0
          for b in OBJECTIVE_BRANCHES[name]}
    trained = tuple(b for b in ("1d", "3d", "2d") if b in chosen & on)
    if not trained:
        raise ValueError("all pretraining objectives are switched off")
    return trained


def excluded_keys(sources: Iterable[str]) -> Set[str]:
    """Polymer keys (:func:`~mmpoly_geo.chem.polymer_key`) of the polymers in
    :obj:`sources`: shipped benchmark names (``"Eea"``) or CSV files with a
    ``psmiles`` column. A string that does not parse is skipped: no corpus
    row (all parsed) can be that polymer.

    Raises:
        ValueError: a source that is neither, or a CSV without ``psmiles``.
    """
    keys = set()
    for source in sources:
        if source in BENCHMARKS:
            path = shipped_files(source)[0]
        elif Path(source).is_file():
            path = Path(source)
        else:
            raise ValueError(
                f"pretrain.exclude: {source!r} is neither a shipped benchmark "
                f"({', '.join(BENCHMARKS)}) nor a CSV file")
        frame = pd.read_csv(path)
        if "psmiles" not in frame:
            raise ValueError(f"pretrain.exclude: {path} has no 'psmiles' "
                             f"column (columns: {list(frame.columns)})")
        keys.update(filter(None, map(polymer_key_or_none, frame["psmiles"])))
    return keys


def run_pretrain(config: Dict[str, Any], out_dir: Path,
                 resume: bool = False, callbacks=None,
                 install: Optional[str] = None,
                 command: Optional[str] = None) -> Path:
    """Pretrains on ``data`` (targets ignored) and writes ``config.yaml``,
    Lightning checkpoints and logs, ``pretrained.pt``: the weights of the
    epoch with the lowest validation loss (an :class:`MMPolymer` file for
    ``finetune --pretrained``), and ``card.json`` (corpus and licence,
    objectives, epochs and steps, losses of the best epoch, wall time,
    hardware, featurizer settings, :obj:`command`). Learning rate, weight
    decay, warm-up, batch size, epochs and patience come from the
    ``pretrain`` section. With ``pretrain.time_limit`` (seconds) the call
    ends at the last epoch that fits (:class:`TimeLimit`): both files are
    written for the epochs so far, the card says ``"finished": false``, and
    ``resume=True`` continues the run. With :obj:`install` (a name, e.g.
    ``"default"``) both files of a finished run are copied into the
    package's shipped checkpoints, where ``--pretrained <name>`` finds
    them."""
    from mmpoly_geo.training.cross_validation import load_dataset

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    save_config(config, out_dir / "config.yaml")
    card_path = out_dir / CARD_FILE
    pl.seed_everything(config["seed"], workers=True, verbose=False)
    p = config["pretrain"]
    # RDKit descriptors are targets here, never an input: the descriptor
    # branch is fine-tuning's.
    config = dict(config, data=pretrain_data(config),
                  model=dict(config["model"], descriptors=False),
                  optim=dict(config["optim"],
                             **{k: p[k] for k in PRETRAIN_OPTIM}))
    dataset = load_dataset(config)
    p, o = config["pretrain"], config["optim"]
    module = PretrainModule(
        resolve_model_config(config, dataset), lr=o["lr"], weight_decay=o["weight_decay"],
        warmup_ratio=o["warmup_ratio"], mask_prob=p["mask_prob"],
        noise=p["noise"], token_weight=p["token_weight"],
        coord_weight=p["coord_weight"], atom_weight=p["atom_weight"],
        contrastive_weight=p["contrastive_weight"],
        temperature=p["temperature"], cutoff=config["data"]["cutoff"],
        seed=config["seed"], descriptor_weight=p["descriptor_weight"],
        num_descriptors=int(dataset.descriptors.size(-1)),
        branches=p["branches"], environment_weight=p["environment_weight"],
        mask_neighbours=p["mask_neighbours"])
    keys = list(dataset.key)
    rows = np.arange(len(dataset))
    if p["exclude"]:
        # Out of training and validation both, so that a benchmark's
        # polymers can be kept unseen by the pretrained weights.
        left_out = excluded_keys(p["exclude"])
        rows = rows[np.array([k not in left_out for k in keys], dtype=bool)]
        print(f"pretrain.exclude: left out {len(dataset) - len(rows)} of "
              f"{len(dataset)} polymers", flush=True)
    excluded = len(dataset) - len(rows)
    train_idx, val_idx = train_val_split(rows, keys, p["val_fraction"],
                                         config["seed"])
    if module.descriptor_scaler is not None:
        module.descriptor_scaler.fit(
            dataset.descriptors[torch.as_tensor(train_idx)])
    callbacks, limit = list(callbacks or []), None
    if p["time_limit"]:
        limit = TimeLimit(p["time_limit"])
        callbacks.append(limit)
    trainer = fit(module, config, dataset, train_idx, val_idx, out_dir,
                  "val_loss", resume, callbacks)
    finished = not (limit and limit.stopped)
    # Earlier stretches of a resumed run included (from its checkpoint).
    seconds = trainer.lightning_module.training_seconds()
    best = best_checkpoint(trainer)
    if best:
        module = PretrainModule.load_from_checkpoint(
            best, map_location="cpu", weights_only=False)
    path = out_dir / CHECKPOINT_FILE
    if trainer.is_global_zero:
        # Embeddings from the file read the pretrained branches only.
        module.model.mode = next(
            mode for mode, used in MODE_MODALITIES.items()
            if used == set(module.branches) & {"1d", "3d"})
        module.model.save(path, pretrained_branches=module.branches)
        featurizer = dataset.featurizer.model_settings()
        card = _card(config, dataset, trainer, out_dir, featurizer,
                     seconds, command, module.branches,
                     finished=finished, excluded=excluded)
        atomic_write_text(card_path, json.dumps(card, indent=2))
        if not finished:
            print(f"the time limit ended this stretch after epoch "
                  f"{card['epochs_run']} of {p['max_epochs']}"
                  f"{' (not installed)' if install else ''}; continue with "
                  f"the same command and --resume", flush=True)
        elif install:  # a stretch is not shipped
            return install_pretrained(out_dir, install)
    return path


def _card(config, dataset, trainer, out_dir, featurizer, seconds, command,
          branches, finished=True, excluded=0):
    p = config["pretrain"]
    name = config["data"]["name"]
    log = out_dir / "logs" / "metrics.csv"
    best = {}
    if log.is_file():
        frame = pd.read_csv(log)
        if "val_loss" in frame and frame["val_loss"].notna().any():
            row = frame.loc[frame["val_loss"].idxmin()]
            best = {k: float(v) for k, v in row.items()
                    if k.startswith("val_") and v == v}
            best["epoch"] = int(row["epoch"])
    return {
        "corpus": {
            "source": (f"datasets/{', datasets/'.join(PRETRAIN[name])}"
                       if name in PRETRAIN else str(config["data"]["csv"])),
            "polymers": len(dataset), "rejected_rows": len(dataset.rejected),
            # Left out by pretrain.exclude: the polymers trained and
            # validated on are polymers - excluded.
            "exclude": list(p["exclude"]), "excluded": excluded,
            "licence": CORPUS_LICENCES.get(name, "that of your data")},
        "branches": list(branches),
        "objectives": {k: p[k] for k in (
            "token_weight", "coord_weight", "atom_weight",
            "environment_weight", "contrastive_weight", "descriptor_weight",
            "mask_prob", "mask_neighbours")},
        # False: a stretch that pretrain.time_limit ended; --resume goes on.
        "finished": finished,
        "epochs_run": int(trainer.current_epoch),
        "steps": int(trainer.global_step),
        "best_epoch_validation": best,
        "training_seconds": round(seconds),
        "hardware": f"{os.cpu_count()} CPU cores, torch {torch.__version__}"
                    f", {torch.get_num_threads()} thread(s), accelerator "
                    f"{config['trainer']['accelerator']}",
        "command": command or " ".join(["mmpoly-geo"] + sys.argv[1:]),
        "mmpoly_geo_version": mmpoly_geo.__version__,
        "created": time.strftime("%Y-%m-%d"),
        "featurizer": featurizer,
        "config": config,
    }


def install_pretrained(out_dir: Path, name: str = "default") -> Path:
    """Copies a finished pretraining run's ``pretrained.pt`` and
    ``card.json`` into the package (``mmpoly_geo/models/pretrained/<name>``);
    returns the installed checkpoint.

    Raises:
        ValueError: the checkpoint is larger than the package allows.
    """
    out_dir = Path(out_dir)
    size = (out_dir / CHECKPOINT_FILE).stat().st_size / 2 ** 20
    if size > MAX_SHIPPED_MB:
        raise ValueError(f"{out_dir / CHECKPOINT_FILE} is {size:.1f} MB; "
                         f"checkpoints shipped in the package must stay "
                         f"under {MAX_SHIPPED_MB:g} MB")
    target = PRETRAINED_DIR / name
    target.mkdir(parents=True, exist_ok=True)
    for file in (CHECKPOINT_FILE, CARD_FILE):
        shutil.copyfile(out_dir / file, target / file)
    return target / CHECKPOINT_FILE
