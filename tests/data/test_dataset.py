import warnings

import pandas as pd
import pytest
import torch
from torch_geometric.loader import DataLoader

from mmpoly_geo.data import PolymerDataset, PolymerRowsWarning, SelectConformer


def _write(path, text):
    path.write_text(text)
    return str(path)


BAD_CSV = """psmiles,Tg,density
*CC(*)C,250,0.9
CC,100,1.0
*CC(*)c1ccccc1,373,
*C(C*,1,1
,5,5
*CC(*)F,abc,1.2
*C([2H])=C(*)[2H],,
"""


def test_rejected_rows_listed(tmp_path):
    csv = _write(tmp_path / "mine.csv", BAD_CSV)
    with pytest.warns(PolymerRowsWarning, match="4 of 7 rows of mine.csv"):
        ds = PolymerDataset(tmp_path / "root", csv=csv,
                            target=["Tg", "density"], num_conformers=2,
                            num_workers=0)
    assert len(ds) == 3
    rej = ds.rejected
    assert rej["row"].tolist() == ["1", "3", "4", "5"]
    assert rej["line"].tolist() == ["3", "5", "6", "7"]
    reasons = rej["reason"].tolist()
    assert "no '*'" in reasons[0]
    assert "parentheses" in reasons[1]
    assert "empty" in reasons[2]
    assert "target 'Tg' is not a number: 'abc'" == reasons[3]
    on_disk = pd.read_csv(ds.processed_paths[1])
    assert len(on_disk) == 4 and list(on_disk.columns) == [
        "file", "row", "line", "input", "reason", "error"]
    assert rej["error"].tolist() == [
        "StarCountError", "UnparsableSmilesError", "EmptyPSmilesError",
        "InvalidTarget"]
    # Kept rows: targets with NaN for missing labels; deuterated row kept.
    assert ds.y.shape == (3, 2)
    assert torch.isnan(ds.y[1, 1]) and torch.isnan(ds.y[2]).all()
    assert ds[2].psmiles == "*C([2H])=C(*)[2H]"
    assert [d.row.item() for d in ds] == [0, 2, 6]


def test_cache_and_reload(tmp_path):
    csv = _write(tmp_path / "ok.csv", "smiles,val\n*CC(*)C,1\n*CC(*)CC,2\n")
    kw = dict(csv=csv, smiles_column="smiles", target="val",
              num_conformers=2, num_workers=0)
    a = PolymerDataset(tmp_path / "r", **kw)
    stamp = (tmp_path / "r" / "ok" / "processed").stat().st_mtime
    b = PolymerDataset(tmp_path / "r", **kw)
    assert torch.equal(a.x, b.x) and b.processed_dir == a.processed_dir
    # Other settings or changed contents: another cache folder.
    c = PolymerDataset(tmp_path / "r", **dict(kw, cutoff=3.0))
    assert c.processed_dir != a.processed_dir
    _write(tmp_path / "ok.csv", "smiles,val\n*CC(*)C,1\n")
    d = PolymerDataset(tmp_path / "r", **kw)
    assert len(d) == 1 and d.processed_dir != a.processed_dir
    del stamp


def test_transforms_and_filter(tmp_path):
    csv = _write(tmp_path / "t.csv", "psmiles,y\n*CC(*)C,1\n*CC(*)CC,2\n*OCC*,3\n")

    class Tag:
        def __call__(self, data):
            data.tag = torch.tensor([7])
            return data

        def __repr__(self):
            return "Tag()"

    ds = PolymerDataset(tmp_path / "r", csv=csv, target="y", num_conformers=2,
                        num_workers=0, pre_transform=Tag(),
                        pre_filter=lambda d: d.num_nodes > 3,
                        transform=SelectConformer(1))
    # pre_filter removals are listed, not silent.
    assert len(ds) == 1 or len(ds.rejected) + len(ds) == 3
    assert (ds.rejected["reason"] == "removed by pre_filter").all()
    item = ds[0]
    assert item.tag.item() == 7
    assert torch.equal(item.pos, item.pos_confs[:, 1])
    again = PolymerDataset(tmp_path / "r", csv=csv, target="y",
                           num_conformers=2, num_workers=0, pre_transform=Tag(),
                           pre_filter=lambda d: d.num_nodes > 3,
                           force_reload=True)
    assert len(again) == len(ds)


def test_parallel_equals_serial(tmp_path):
    rows = [f"*C{'C' * (i % 7)}C(*){'C' * (i % 3)}O" for i in range(70)]
    csv = _write(tmp_path / "p.csv", "psmiles\n" + "\n".join(rows) + "\n")
    serial = PolymerDataset(tmp_path / "a", csv=csv, num_conformers=2,
                            num_workers=0)
    parallel = PolymerDataset(tmp_path / "b", csv=csv, num_conformers=2,
                              num_workers=2)
    assert len(serial) == len(parallel) == 70
    assert torch.equal(serial.pos_confs, parallel.pos_confs)
    assert serial.psmiles == parallel.psmiles
    assert "y" not in serial[0]


def test_errors(tmp_path):
    with pytest.raises(ValueError, match="exactly one of"):
        PolymerDataset(tmp_path)
    with pytest.raises(ValueError, match="unknown dataset 'Tg'"):
        PolymerDataset(tmp_path, name="Tg")
    with pytest.raises(FileNotFoundError, match="CSV file not found"):
        PolymerDataset(tmp_path, csv=tmp_path / "nope.csv")
    csv = _write(tmp_path / "c.csv", "smiles,val\n*CC(*)C,1\n")
    with pytest.raises(KeyError, match=r"\['psmiles'\] not found"):
        PolymerDataset(tmp_path / "r", csv=csv, num_workers=0)
    bad = _write(tmp_path / "bad.csv", "psmiles\nCC\nC\n")
    with pytest.raises(ValueError, match="no row"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            PolymerDataset(tmp_path / "r2", csv=bad, num_workers=0)


def test_shipped_eat_crlf_trailing_comma(tmp_path):
    # Eat.csv has CRLF line endings and a 'psmiles,value,' header.
    raw = open(__import__("mmpoly_geo.data.shipped", fromlist=["x"])
               .shipped_files("Eat")[0], "rb").read()
    assert raw.startswith(b"psmiles,value,\r\n")
    ds = PolymerDataset(tmp_path, name="Eat", num_conformers=1)
    assert len(ds) == 390 and len(ds.rejected) == 0
    assert ds.target_names == ["value"]
    assert not torch.isnan(ds.y).any()
    assert ds.y.min() > -6.9 and ds.y.max() < -5.0
    loader = DataLoader(ds, batch_size=64)
    assert sum(b.num_graphs for b in loader) == 390
