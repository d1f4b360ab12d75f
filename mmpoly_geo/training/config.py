"""Run configuration: defaults, YAML files and ``--set key=value`` overrides."""
from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional

import yaml

from mmpoly_geo.atomic import atomic_write_text
from mmpoly_geo.chem.descriptors import descriptor_slice

#: The default ``finetune.members``: per fold, our 1D + 3D model (with RDKit
#: and Morgan descriptors) and our model with only its GIN branch and RDKit
#: descriptors, predictions averaged. Their errors correlate only ~0.8: the
#: pair's validation MSE is lower than the 1D + 3D model's on all 7 benchmark
#: sets measured (3 seeds x 5 folds; README "Results"); the second member adds
#: ~20 % to the training time.
DEFAULT_MEMBERS: List[Dict[str, Any]] = [
    {}, {"model": {"mode": "2d", "encoder_2d": "gin", "descriptors": "rdkit"}}]

#: The default ``finetune.pretrained``: the shipped GIN-branch checkpoint,
#: which only the default's second member has a branch for (it takes the
#: GIN, the first member nothing). Its validation MSE was lower than from
#: scratch on 7 of 8 benchmark sets (level on Eat; 3 seeds x 5 folds, README
#: "Pretraining").
DEFAULT_PRETRAINED = "gin"

#: The default configuration (small enough for a laptop CPU).
DEFAULTS: Dict[str, Any] = {
    "data": {
        "root": "data", "name": None, "csv": None,
        "smiles_column": "psmiles", "target": None,
        "num_conformers": 5, "repeat_units": 1, "cutoff": 5.0,
        "stars": "substitute", "descriptors": "rdkit+morgan",
        "time_budget": 10.0, "num_workers": None, "on_disk": False,
        # Seed of the conformer embedding; None: the run's seed. Pinning it
        # lets runs with other seeds reuse one processed dataset.
        "seed": None,
    },
    "model": {
        "kind": "mmpolymer", "baseline_kwargs": {},
        "mode": "both", "encoder_3d": "equivariant", "fusion_channels": 128,
        "fusion": "concat", "modality_dropout": 0.1, "bonds": None,
        "periodic": False, "descriptors": True, "descriptor_kwargs": {},
        "sequence_kwargs": {"hidden_channels": 128, "num_layers": 3,
                            "num_heads": 4, "dropout": 0.1},
        "encoder_3d_kwargs": {"hidden_channels": 64, "vector_channels": 16,
                              "lmax": 1, "num_layers": 3, "pooling": "sum"},
        "encoder_2d": None, "encoder_2d_kwargs": {},
        "dropout": 0.1,
    },
    "optim": {
        "lr": 3.0e-4, "weight_decay": 0.05, "warmup_ratio": 0.06,
        "batch_size": 32, "max_epochs": 100, "patience": 30,
        "gradient_clip_val": 1.0, "ema_decay": 0.99, "length_buckets": False,
    },
    "trainer": {
        "accelerator": "auto", "devices": 1, "strategy": "auto",
        "num_nodes": 1, "precision": "32-true", "loader_workers": 0,
        "progress_bar": True, "verbose": False,
    },
    "finetune": {
        "folds": 5, "only_folds": None, "val_fraction": 0.15,
        "pretrained": DEFAULT_PRETRAINED, "freeze": "none",
        "encoder_lr_scale": 1.0,
        "baselines": ["rf"], "eval_conformers": None,
        "ensemble": 1, "select_on_test": False, "blend": "none",
        "members": copy.deepcopy(DEFAULT_MEMBERS),
    },
    "pretrain": {
        "val_fraction": 0.05, "mask_prob": 0.15, "noise": 1.0,
        # Polymers never pretrained on (neither trained nor validated):
        # shipped benchmark names or CSV files with a psmiles column.
        "exclude": [],
        "token_weight": 1.0, "coord_weight": 1.0, "atom_weight": 1.0,
        "contrastive_weight": 1.0, "temperature": 0.1,
        # Multi-task regression of RDKit descriptors: off until measured.
        "descriptor_weight": 0.0,
        # Masked atoms' bonded environments (GROVER's context): off until
        # measured.
        "environment_weight": 0.0,
        # Also mask the bonded neighbours of masked atoms in the input.
        "mask_neighbours": False,
        # The branches pretrained: MMPolymer's sequence and 3D ones, or the
        # bond-graph one (2d, with model.encoder_2d).
        "branches": ["1d", "3d"],
        # Pretraining's own optimisation (fine-tuning's is `optim`).
        "lr": 5.0e-4, "weight_decay": 0.01, "warmup_ratio": 0.06,
        "batch_size": 64, "max_epochs": 30, "patience": 5,
        "length_buckets": True, "num_conformers": 2,
        # Seconds for one call (a stretch of a long run): it ends at the
        # last epoch that fits, and --resume continues it. None: no limit.
        "time_limit": None,
    },
    "seed": 0,
}


def pretrain_data(config: Dict[str, Any]) -> Dict[str, Any]:
    """The ``data`` section ``pretrain`` reads its corpus with: fewer
    conformers (``pretrain.num_conformers``; processing a corpus is dominated
    by conformer embedding) and RDKit descriptors (targets of the descriptor
    objective, never an input; a few ms per polymer), so that one processed
    corpus serves every mix of objectives."""
    return dict(config["data"], descriptors="rdkit",
                num_conformers=config["pretrain"]["num_conformers"])


def load_config(path: Optional[str] = None,
                overrides: Iterable[str] = ()) -> Dict[str, Any]:
    """Defaults, updated by a YAML file, then by ``section.key=value``
    overrides (values parsed as YAML: ``optim.lr=1e-3``,
    ``model.mode=3d``, ``finetune.baselines=[]``).

    Raises:
        FileNotFoundError / ValueError: naming the file or the bad key.
    """
    config = copy.deepcopy(DEFAULTS)
    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise FileNotFoundError(f"config file not found: {p}")
        loaded = yaml.safe_load(p.read_text()) or {}
        if not isinstance(loaded, dict):
            raise ValueError(f"{p}: a config file must hold a mapping")
        _merge(config, loaded, str(p))
    for item in overrides:
        if "=" not in item:
            raise ValueError(f"override {item!r} must look like section.key=value")
        key, value = item.split("=", 1)
        node = {}
        cursor = node
        parts = key.strip().split(".")
        for part in parts[:-1]:
            cursor = cursor.setdefault(part, {})
        cursor[parts[-1]] = _parse_value(value)
        _merge(config, node, f"--set {item}")
    return config


def _parse_value(text: str):
    value = yaml.safe_load(text)
    if isinstance(value, str):  # YAML 1.1 reads '1e-3' as a string
        try:
            return float(value)
        except ValueError:
            pass
    return value


def _merge(base: dict, update: dict, where: str, prefix: str = ""):
    for key, value in update.items():
        if key not in base:
            raise ValueError(f"{where}: unknown setting {prefix + key!r}; "
                             f"known: {sorted(base)}")
        # *_kwargs sections are constructor arguments: any key is allowed.
        if isinstance(base[key], dict) and not key.endswith("_kwargs"):
            if not isinstance(value, dict):
                raise ValueError(f"{where}: {prefix + key!r} must be a mapping")
            _merge(base[key], value, where, prefix + key + ".")
        elif isinstance(base[key], dict):
            base[key] = dict(base[key], **(value or {}))
        else:
            base[key] = value


#: The sections a ``finetune.members`` entry may change: the members of a
#: fold share the data (one featurisation) and the split.
MEMBER_SECTIONS = ("model", "optim")


def member_configs(config: Dict[str, Any]) -> List[Dict[str, Any]]:
    """The configurations of the models trained per fold: for each entry of
    ``finetune.members`` (a mapping of ``model``/``optim`` settings that
    differ from the run's; none: the run's own configuration),
    ``finetune.ensemble`` seeds (``seed``, ``seed + 1000``, ...).

    Raises:
        ValueError: ``finetune.ensemble`` below 1, an entry that is not a
            mapping or changes another section, an unknown setting, settings
            of our model for a baseline (``model.kind``) or a descriptor set
            that ``data.descriptors`` lacks.
    """
    ensemble = int(config["finetune"]["ensemble"])
    if ensemble < 1:
        raise ValueError(f"finetune.ensemble must be >= 1, got {ensemble}")
    members = config["finetune"].get("members")
    if members is None:
        members = [{}]
    if not isinstance(members, list) or not members:
        raise ValueError(f"finetune.members must be a non-empty list of "
                         f"mappings (or null), got {members!r}")
    out = []
    for i, member in enumerate(members):
        member = member or {}
        if not isinstance(member, dict):
            raise ValueError(f"finetune.members[{i}] must be a mapping of "
                             f"settings, got {member!r}")
        other = sorted(set(member) - set(MEMBER_SECTIONS))
        if other:
            raise ValueError(
                f"finetune.members[{i}] may change only "
                f"{'/'.join(MEMBER_SECTIONS)} (the members of a fold share "
                f"the data and the split), not {other}")
        merged = copy.deepcopy(config)
        _merge(merged, copy.deepcopy(member), f"finetune.members[{i}]")
        _check_member(merged, member, i)
        for k in range(ensemble):
            out.append(dict(merged, seed=config["seed"] + 1000 * k))
    return out


def _check_member(merged: Dict[str, Any], member: Dict[str, Any], i: int):
    """Rejects a ``finetune.members`` entry that cannot mean what it says
    (the default list assumes our model with RDKit descriptors in the data)."""
    hint = "set finetune.members=null to train one model per fold"
    kind = merged["model"].get("kind", "mmpolymer")
    ours_only = sorted(set(member.get("model") or {})
                       - {"kind", "baseline_kwargs"})
    if kind != "mmpolymer" and ours_only:
        raise ValueError(
            f"finetune.members[{i}] sets model.{', model.'.join(ours_only)}, "
            f"settings of our model, but model.kind={kind!r}: {hint} (or "
            f"give each member its own model.kind)")
    wanted = merged["model"].get("descriptors")
    have = merged["data"]["descriptors"]
    if kind == "mmpolymer" and isinstance(wanted, str):
        try:
            descriptor_slice(wanted, have)
        except ValueError:
            raise ValueError(
                f"finetune.members[{i}] reads model.descriptors={wanted!r}, "
                f"which data.descriptors={have!r} lacks: add it to "
                f"data.descriptors, or {hint}") from None


def pretrained_checkpoints(config: Dict[str, Any]) -> List[str]:
    """The checkpoints of ``finetune.pretrained`` (null: none; one
    checkpoint, or a list of them: each passes on the branches it trained).

    Raises:
        ValueError: a value that is not a checkpoint or a list of them.
    """
    value = config["finetune"]["pretrained"]
    if value is None:
        return []
    specs = value if isinstance(value, list) else [value]
    if not specs or not all(isinstance(v, str) and v for v in specs):
        raise ValueError(
            f"finetune.pretrained must be null, a checkpoint (a file, a run "
            f"folder or a shipped name) or a list of them, got {value!r}")
    return list(specs)


def save_config(config: Dict[str, Any], path: Path):
    """Writes the resolved configuration as YAML."""
    atomic_write_text(path, yaml.safe_dump(config, sort_keys=False))


def resolve_model_config(config: Dict[str, Any], dataset) -> Dict[str, Any]:
    """The ``model`` section completed from the data: number of targets,
    the descriptor width (``model.descriptors``) and the 3D encoder's cutoff
    (``data.cutoff``; a different ``encoder_3d_kwargs.cutoff`` is an error,
    since the radial basis must end where the radius graph does).

    Raises:
        ValueError: naming the conflicting settings.
    """
    model = copy.deepcopy(config["model"])
    model["num_targets"] = max(1, len(getattr(dataset, "target_names", [])))
    cutoff = float(config["data"]["cutoff"])
    kwargs = dict(model.get("encoder_3d_kwargs") or {})
    given = kwargs.get("cutoff")
    if given is not None and abs(float(given) - cutoff) > 1e-9:
        raise ValueError(
            f"model.encoder_3d_kwargs.cutoff={given} differs from "
            f"data.cutoff={cutoff}: the 3D encoder's radial basis must end "
            f"where the radius graph does; set only data.cutoff")
    ours = model.get("kind", "mmpolymer") == "mmpolymer"
    if ours and model.get("encoder_3d", "equivariant") != "dense":
        kwargs["cutoff"] = cutoff
    model["encoder_3d_kwargs"] = kwargs
    if ours:
        width, columns = 0, None
        wanted = model.pop("descriptors", False)
        if wanted:
            descriptors = (getattr(dataset[0], "descriptors", None)
                           if len(dataset) else None)
            width = 0 if descriptors is None else int(descriptors.size(-1))
            if width == 0:
                raise ValueError(
                    "model.descriptors=true needs descriptors in the data: "
                    "set data.descriptors (e.g. rdkit or rdkit+morgan) or "
                    "model.descriptors=false")
            have = config["data"]["descriptors"]
            if isinstance(wanted, str) and wanted != have:
                try:
                    part = descriptor_slice(wanted, have)
                except ValueError as exc:
                    raise ValueError(f"model.descriptors={wanted!r} must be "
                                     f"part of data.descriptors={have!r}: "
                                     f"{exc}") from None
                columns = [part.start, part.stop]
                width = part.stop - part.start
        model["num_descriptors"] = width
        model["descriptor_columns"] = columns
    else:
        model.pop("descriptors", None)
        model.pop("descriptor_kwargs", None)
    return model
