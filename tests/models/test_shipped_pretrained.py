"""The pretrained checkpoints that ship in the package: load offline with
``weights_only=True``, carry their model card, and embed without
fine-tuning."""
import json
import socket

import pytest
import torch

from mmpoly_geo.models import MMPolymer
from mmpoly_geo.models.pretrained import (
    CARD_FILE, MAX_SHIPPED_MB, PRETRAINED_DIR, resolve_pretrained)


@pytest.fixture
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("network access attempted")
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


SHIPPED = {"default": ["1d", "3d"], "gin": ["2d"]}


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_checkpoint_ships_and_loads_offline(no_network, name):
    path = resolve_pretrained(name)
    assert path.parent == PRETRAINED_DIR / name
    assert path.stat().st_size < MAX_SHIPPED_MB * 2 ** 20
    blob = torch.load(path, map_location="cpu", weights_only=True)
    assert set(blob) >= {"format", "config", "state_dict"}
    # The branches pretraining trained (files without the record: 1d, 3d).
    assert blob.get("pretrained_branches", ["1d", "3d"]) == SHIPPED[name]
    model = MMPolymer.load(path)
    assert sum(p.numel() for p in model.parameters()) > 1e5

    card = json.loads((path.parent / CARD_FILE).read_text())
    # Weights we ship respect the corpus licences: permissive data only.
    assert card["corpus"]["source"] == "datasets/pretrain/psmiles_permissive.csv"
    assert "MIT" in card["corpus"]["licence"]
    assert card["corpus"]["polymers"] > 70000
    assert card["steps"] > 1000 and card["training_seconds"] > 0
    assert card["command"].startswith("mmpoly-geo pretrain")
    assert "val_loss" in card["best_epoch_validation"]
    assert card["featurizer"]["num_conformers"] >= 1
    assert card.get("branches", ["1d", "3d"]) == SHIPPED[name]


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_checkpoint_embeds_without_finetuning(no_network, name):
    from mmpoly_geo import embed

    frame = embed(["*CC(*)C", "*CC(*)c1ccccc1", "not a polymer"],
                  pretrained=name)
    columns = [c for c in frame.columns if c.startswith("emb_")]
    vectors = torch.tensor(frame.loc[:1, columns].to_numpy(dtype="float32"))
    assert len(columns) > 0 and torch.isfinite(vectors).all()
    # Different polymers get different vectors; the bad row keeps its place.
    assert not torch.allclose(vectors[0], vectors[1])
    assert frame["error"][2] != "" and frame["error"][0] == ""
