"""The on-disk dataset: same polymers as in memory, PolymerData batching
kept, and exactly-once results after a kill."""
import multiprocessing as mp
import os
import signal

import pytest
import torch
from torch_geometric.loader import DataLoader

from mmpoly_geo.data import (
    PolymerData, PolymerDataset, PolymerOnDiskDataset, to_dense_tokens)

ROWS = [f"*C{'C' * (i % 5)}C(*){'O' if i % 2 else 'C'}" for i in range(23)]
ROWS[7] = "**"  # rejected
ROWS[15] = "*CC(*)é"  # rejected


def _csv(tmp_path):
    path = tmp_path / "poly.csv"
    path.write_text("psmiles,y\n" + "\n".join(
        f'"{s}",{i}' for i, s in enumerate(ROWS)) + "\n", encoding="utf-8")
    return str(path)


KW = dict(target="y", num_conformers=2, descriptors="none", num_workers=0)


def test_same_polymers_as_in_memory_and_batches(tmp_path):
    import warnings
    csv = _csv(tmp_path)
    disk = PolymerOnDiskDataset(tmp_path / "d", csv=csv, chunk_size=5, **KW)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        memory = PolymerDataset(tmp_path / "m", csv=csv, **KW)
    assert len(disk) == len(memory) == 21
    assert [d.psmiles for d in disk] == [d.psmiles for d in memory]
    assert torch.equal(disk[3].pos_confs, memory[3].pos_confs)
    assert isinstance(disk[0], PolymerData)
    assert disk.rejected["error"].tolist() == ["AdjacentStarsError",
                                               "InvalidCharacterError"]
    assert disk.processing_summary["kept"] == 21
    batch = next(iter(DataLoader(disk, batch_size=4)))
    tokens, mask = to_dense_tokens(batch)  # PolymerData batching kept
    assert tokens.shape[0] == 4 and batch.radius_edge_index.max() < \
        batch.num_nodes
    again = PolymerOnDiskDataset(tmp_path / "d", csv=csv, chunk_size=5, **KW)
    assert len(again) == 21  # reused, not processed again


def _killed_after_commit(root, csv):
    # Killed after the second chunk was committed but before it was
    # recorded: the restart must not store its rows twice.
    from mmpoly_geo.data import on_disk
    real = on_disk.atomic_write_text
    calls = []

    def kill_on_second_record(path, text):
        calls.append(path)
        if str(path).endswith("progress.json") and len(calls) == 2:
            os.kill(os.getpid(), signal.SIGKILL)
        real(path, text)

    on_disk.atomic_write_text = kill_on_second_record
    PolymerOnDiskDataset(root, csv=csv, chunk_size=5, **KW)


@pytest.mark.skipif("fork" not in mp.get_all_start_methods(),
                    reason="kills a forked child")
def test_kill_then_rerun_stores_each_polymer_once(tmp_path):
    csv = _csv(tmp_path)
    reference = PolymerOnDiskDataset(tmp_path / "ref", csv=csv, chunk_size=5,
                                     **KW)
    child = mp.get_context("fork").Process(
        target=_killed_after_commit, args=(str(tmp_path / "r"), csv))
    child.start()
    child.join(120)
    assert child.exitcode == -signal.SIGKILL
    rerun = PolymerOnDiskDataset(tmp_path / "r", csv=csv, chunk_size=5, **KW)
    assert [d.psmiles for d in rerun] == [d.psmiles for d in reference]
    assert [int(d.row) for d in rerun] == [int(d.row) for d in reference]
    assert rerun.rejected.equals(reference.rejected)


def test_shards_merge_into_the_full_dataset(tmp_path):
    csv = _csv(tmp_path)
    reference = PolymerOnDiskDataset(tmp_path / "ref", csv=csv, chunk_size=4,
                                     **KW)
    shards = [PolymerOnDiskDataset(tmp_path / "s", csv=csv, chunk_size=4,
                                   shard=(k, 3), **KW) for k in (2, 0, 1)]
    assert sum(len(s) for s in shards) == len(reference)
    assert sorted(int(d.row) for s in shards for d in s) == \
        [int(d.row) for d in reference]
    merged = PolymerOnDiskDataset(tmp_path / "s", csv=csv, chunk_size=4, **KW)
    assert merged.processing_summary["merged_shards"] == 3
    assert [d.psmiles for d in merged] == [d.psmiles for d in reference]
    assert torch.equal(merged[5].pos_confs, reference[5].pos_confs)
    assert merged.rejected.equals(reference.rejected)
    with pytest.raises(ValueError, match="shard"):
        PolymerOnDiskDataset(tmp_path / "s", csv=csv, shard=(3, 3), **KW)


def test_subsets_and_metadata(tmp_path):
    disk = PolymerOnDiskDataset(tmp_path / "d", csv=_csv(tmp_path),
                                chunk_size=5, **KW)
    assert len(disk.key) == len(disk) and disk.num_tokens.shape == (21,)
    assert disk.y.shape == (21, 1) and disk.descriptors.shape == (21, 0)
    assert disk.psmiles[4] == disk[4].psmiles
    # A subset batches the polymers it names (PyG's __getitems__ did not).
    subset = disk.index_select(torch.tensor([9, 2, 17]))
    batch = next(iter(DataLoader(subset, batch_size=3)))
    assert batch.psmiles == [disk[9].psmiles, disk[2].psmiles,
                             disk[17].psmiles]
    again = PolymerOnDiskDataset(tmp_path / "d", csv=_csv(tmp_path),
                                 chunk_size=5, **KW)
    assert again.key == disk.key  # from metadata.pt


def test_pretrain_streams_from_disk(tmp_path):
    from mmpoly_geo.data.shipped import shipped_files
    from mmpoly_geo.training import load_config
    from mmpoly_geo.training.pretrain import run_pretrain

    lines = open(shipped_files("Eea")[0]).read().splitlines()[:41]
    tiny_csv_path = tmp_path / "tiny.csv"
    tiny_csv_path.write_text("\n".join(lines) + "\n")
    config = load_config(None, [
        f"data.csv={tiny_csv_path}", "data.on_disk=true",
        f"data.root={tmp_path / 'data'}", "data.num_conformers=2",
        "data.num_workers=0", "pretrain.max_epochs=1",
        "pretrain.batch_size=16", "pretrain.val_fraction=0.2",
        "trainer.progress_bar=false", "trainer.accelerator=cpu",
        "model.fusion_channels=16",
        "model.sequence_kwargs={hidden_channels: 16, num_layers: 1, num_heads: 2}",
        "model.encoder_3d_kwargs={hidden_channels: 8, vector_channels: 2, num_layers: 1}"])
    assert run_pretrain(config, tmp_path / "pre").is_file()
    assert any((tmp_path / "data").rglob("sqlite.db"))
