"""Pretrained checkpoints that ship with the package (``mmpoly-geo pretrain
--install``), found by name: ``finetune --pretrained default`` and
``embed --pretrained default`` use them offline."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, Union

#: Where shipped pretrained checkpoints live, one folder per name, each with
#: ``pretrained.pt`` (an :class:`~mmpoly_geo.models.MMPolymer` file) and
#: ``card.json``.
PRETRAINED_DIR = Path(__file__).resolve().parent / "pretrained"

#: The file and card inside a checkpoint folder.
CHECKPOINT_FILE, CARD_FILE = "pretrained.pt", "card.json"

#: Largest checkpoint that may ship inside the package.
MAX_SHIPPED_MB = 25.0


def resolve_pretrained(spec: Union[str, Path]) -> Path:
    """The checkpoint file for :obj:`spec`: a file written by ``pretrain``
    (its ``pretrained.pt`` or the run folder holding it), or the name of a
    shipped checkpoint (``"default"``).

    Raises:
        FileNotFoundError: no such file, or no shipped checkpoint of that
            name (the message lists the shipped ones).
    """
    path = Path(spec)
    if path.is_dir() and (path / CHECKPOINT_FILE).is_file():
        return path / CHECKPOINT_FILE
    if path.is_file():
        return path
    shipped = PRETRAINED_DIR / str(spec) / CHECKPOINT_FILE
    if len(path.parts) == 1 and shipped.is_file():
        return shipped
    names = sorted(p.parent.name for p in PRETRAINED_DIR.glob(
        f"*/{CHECKPOINT_FILE}"))
    shipped_text = (", ".join(names) if names else
                    "none with this version yet; make one with "
                    "'mmpoly-geo pretrain ... --install'")
    raise FileNotFoundError(
        f"pretrained checkpoint not found: {spec!r} is neither a file "
        f"written by 'mmpoly-geo pretrain' nor a shipped checkpoint "
        f"(shipped: {shipped_text})")


def pretrained_card(path: Union[str, Path]) -> Dict[str, Any]:
    """The card next to a checkpoint file (empty when there is none)."""
    card = Path(path).parent / CARD_FILE
    return json.loads(card.read_text(encoding="utf-8")) if card.is_file() \
        else {}
