"""Sharded preprocessing on a local Dask cluster of 2 worker processes: the
same polymers as one process, and exactly once after the whole run
(driver, scheduler and workers) is killed mid-way and run again."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import torch

pytest.importorskip("distributed")

from mmpoly_geo.data import PolymerOnDiskDataset, prepare_on_dask  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
SETTINGS = dict(target="value", num_conformers=2, descriptors="none",
                chunk_size=10)


def _csv(tmp_path, rows):
    frame = pd.read_csv(REPO / "datasets" / "mmpolymer" / "Eea.csv").head(rows)
    frame.loc[5, "psmiles"] = "**"  # rejected, in shard 0
    path = tmp_path / "poly.csv"
    frame.to_csv(path, index=False)
    return str(path)


def _same(a, b):
    assert [d.psmiles for d in a] == [d.psmiles for d in b]
    assert [int(d.row) for d in a] == [int(d.row) for d in b]
    assert a.rejected.equals(b.rejected)


def test_dask_shards_equal_one_process(tmp_path):
    csv = _csv(tmp_path, 40)
    reference = PolymerOnDiskDataset(tmp_path / "ref", csv=csv, num_workers=0,
                                     **SETTINGS)
    merged = prepare_on_dask(tmp_path / "dask", 3, n_workers=2,
                             progress=False, csv=csv, **SETTINGS)
    _same(merged, reference)
    assert merged.processing_summary["merged_shards"] == 3
    assert torch.equal(merged[7].pos_confs, reference[7].pos_confs)
    with pytest.raises(ValueError, match="shards"):
        prepare_on_dask(tmp_path / "x", 0, csv=csv, **SETTINGS)


def test_killed_dask_run_resumes_exactly_once(tmp_path):
    csv = _csv(tmp_path, 320)
    command = [sys.executable, "-m", "mmpoly_geo.cli", "prepare", "--csv", csv,
               "--target", "value", "--num-conformers", "2", "--descriptors",
               "none", "--chunk-size", "10", "--root", str(tmp_path / "d"),
               "--dask", "8", "--num-workers", "2"]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    child = subprocess.Popen(command, env=env, start_new_session=True,
                             stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    base = tmp_path / "d" / "poly" / "processed"
    deadline = time.time() + 300
    while not list(base.glob("*/shard-*-of-8/done.json")):
        assert child.poll() is None, "the run ended before a shard finished"
        assert time.time() < deadline
        time.sleep(0.05)
    os.killpg(child.pid, signal.SIGKILL)  # driver, scheduler and workers
    child.wait()
    done = list(base.glob("*/shard-*-of-8/done.json"))
    assert 1 <= len(done) < 8  # killed mid-way
    assert not list(base.glob("*/done.json"))  # before the merge
    rerun = prepare_on_dask(tmp_path / "d", 8, n_workers=2, progress=False,
                            csv=csv, **SETTINGS)
    reference = PolymerOnDiskDataset(tmp_path / "ref", csv=csv, num_workers=0,
                                     **SETTINGS)
    _same(rerun, reference)
    assert len(rerun) + len(rerun.rejected) == 320
