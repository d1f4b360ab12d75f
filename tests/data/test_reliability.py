"""One bad row never stops processing; no crash leaves a cache that is read
half-written."""
import io
import json
import multiprocessing as mp
import os
import signal
import time
import warnings

import pytest
import torch

from mmpoly_geo.data import PolymerDataset, PolymerFeaturizer
from mmpoly_geo.data import processing
from mmpoly_geo.data.processing import WORKER_TIMEOUT, featurize_rows

BAD_ROWS = """psmiles,value
*CC(*)C,1.0
**,2.0
*C(CCCS(*)(=N)=O)CO1~CCC(N)C1,3.0
"*CC(*)c1ccccc1\u00e9",4.0
*CC(*)c1ccccc1,abc
*CC(*)CC,6.0
"""


def _csv(tmp_path, text=BAD_ROWS, name="bad.csv"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def _build(root, csv, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return PolymerDataset(root, csv=csv, target="value", num_conformers=2,
                              descriptors="none", num_workers=0, **kw)


def test_every_row_kept_or_rejected_with_reason(tmp_path):
    ds = _build(tmp_path / "r", _csv(tmp_path))
    assert [d.psmiles for d in ds] == ["*CC(*)C", "*CC(*)CC"]
    rej = ds.rejected
    assert rej["error"].tolist() == [
        "AdjacentStarsError", "QueryFeatureError", "InvalidCharacterError",
        "InvalidTarget"]
    assert len(ds) + len(rej) == 6
    summary = ds.processing_summary
    assert summary["rows"] == 6 and summary["kept"] == 2
    assert summary["rejected_by_error"]["AdjacentStarsError"] == 1
    assert summary["internal_errors"] == 0
    assert summary["conformer_methods"]["etkdg"] == 2
    assert len(summary["slowest"]) == 6


class _Exploding(PolymerFeaturizer):
    """Fails like a bug for one input, hangs for another, kills its worker
    process for a third."""

    def arrays(self, psmiles):
        if psmiles == "*CC(*)Br":
            raise RuntimeError("boom")
        if psmiles == "*CC(*)I":
            time.sleep(60)
        if psmiles == "*CC(*)F":
            os._exit(1)  # as a segfault in native code would
        return super().arrays(psmiles)


def test_internal_error_is_isolated_in_process():
    f = _Exploding(num_conformers=1, descriptors="none")
    out = featurize_rows(f, [("*CC(*)C", []), ("*CC(*)Br", []),
                             ("*CC(*)CC", [])], num_workers=0, log=False)
    assert [r.ok for r in out] == [True, False, True]
    assert out[1].reason == "internal error: RuntimeError: boom"
    assert out[1].internal and out[1].error == "RuntimeError"


@pytest.mark.skipif("fork" not in mp.get_all_start_methods(),
                    reason="the test featurizer is defined in a test module")
def test_hung_or_crashed_worker_loses_only_its_row(monkeypatch):
    monkeypatch.setattr(processing, "MIN_ITEMS_FOR_POOL", 1)
    rows = ["*CC(*)C", "*CC(*)I", "*CC(*)CC", "*CC(*)F", "*CC(*)Br",
            "*CC(*)CCC"]
    f = _Exploding(num_conformers=1, descriptors="none")
    out = featurize_rows(f, [(s, []) for s in rows], num_workers=2,
                         log=False, row_timeout=3)
    assert [r.ok for r in out] == [True, False, True, False, False, True]
    assert out[1].error == WORKER_TIMEOUT and out[3].error == WORKER_TIMEOUT
    assert "hung or crashed" in out[1].reason
    assert out[4].reason == "internal error: RuntimeError: boom"
    assert [r.data.psmiles for r in out if r.ok] == [
        "*CC(*)C", "*CC(*)CC", "*CC(*)CCC"]


def _killed_child(target, *args):
    ctx = mp.get_context("fork")
    child = ctx.Process(target=target, args=args)
    child.start()
    child.join(120)
    assert child.exitcode == -signal.SIGKILL


def _kill_during_processing(root, csv):
    calls = []

    def pre_transform(data):
        calls.append(1)
        if len(calls) == 2:
            os.kill(os.getpid(), signal.SIGKILL)
        return data

    _build(root, csv, pre_transform=pre_transform)


def _kill_while_writing_cache(root, csv):
    from torch_geometric.io import fs

    def half_written(obj, path):
        buffer = io.BytesIO()
        torch.save(obj, buffer)
        with open(path, "wb") as f:
            f.write(buffer.getvalue()[:200])
        os.kill(os.getpid(), signal.SIGKILL)

    fs.torch_save = half_written
    _build(root, csv)


def _same(a, b):
    assert [d.psmiles for d in a] == [d.psmiles for d in b]
    assert torch.equal(a.pos_confs, b.pos_confs) and torch.equal(a.x, b.x)
    assert a.rejected.equals(b.rejected)


@pytest.mark.skipif("fork" not in mp.get_all_start_methods(),
                    reason="kills a forked child")
@pytest.mark.parametrize("kill", [_kill_during_processing,
                                  _kill_while_writing_cache])
def test_kill_then_rerun_equals_uninterrupted(tmp_path, kill):
    csv = _csv(tmp_path)
    reference = _build(tmp_path / "ref", csv)
    _killed_child(kill, str(tmp_path / "r"), csv)
    processed = next((tmp_path / "r" / "bad" / "processed").iterdir())
    assert not (processed / "data.pt").exists()  # nothing half-written
    rerun = _build(tmp_path / "r", csv)
    _same(rerun, reference)
    assert not list(processed.glob(".*tmp-*"))  # temporaries cleaned


def test_truncated_cache_is_rebuilt(tmp_path):
    csv = _csv(tmp_path)
    first = _build(tmp_path / "r", csv)
    data_pt = first.processed_paths[0]
    with open(data_pt, "r+b") as f:
        f.truncate(os.path.getsize(data_pt) // 2)
    record = os.path.join(first.processed_dir, "pre_transform.pt")
    with open(record, "wb") as f:
        f.write(b"\x80")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        again = PolymerDataset(tmp_path / "r", csv=csv, target="value",
                               num_conformers=2, descriptors="none",
                               num_workers=0)
    assert any("unreadable" in str(w.message) and "processing again"
               in str(w.message) for w in caught)
    _same(again, first)


def test_rejected_csv_survives_carriage_returns(tmp_path):
    csv = _csv(tmp_path, 'psmiles,value\n"*CC(*)\rC",1\n*CC(*)C,2\n',
               name="cr.csv")
    ds = _build(tmp_path / "r", csv)
    assert len(ds) == 1 and len(ds.rejected) == 1
    assert ds.rejected["input"][0] == "*CC(*)\rC"
    on_disk = json.loads(open(os.path.join(ds.processed_dir,
                                           "processing.json")).read())
    assert on_disk["rows"] == 2
