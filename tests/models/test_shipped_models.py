"""The property models that ship in the package: every benchmark property,
within the size budget, loaded offline with ``weights_only=True``, and
``predict`` without a model prints them all with units and uncertainty."""
import json
import math

import torch

from mmpoly_geo import api
from mmpoly_geo.cli import main
from mmpoly_geo.data.shipped import BENCHMARKS
from mmpoly_geo.models.predictor import CARD, SHIPPED_DIR


def test_every_benchmark_property_ships():
    folders = {p.name: p for p in SHIPPED_DIR.iterdir() if p.is_dir()}
    assert set(BENCHMARKS) <= set(folders)
    total = sum(f.stat().st_size for p in folders.values() for f in p.iterdir())
    assert total < 50 * 2 ** 20  # the budget for all of them
    for name, folder in folders.items():
        card = json.loads((folder / CARD).read_text())
        assert card["name"] == name and card["unit"] == BENCHMARKS[name][2]
        assert card["members"] == len(list(folder.glob("member*.pt"))) >= 2
        assert card["command"].startswith("mmpoly-geo ship")
        # Calibrated on out-of-fold errors: close to the nominal 68 %.
        assert abs(card["calibration_coverage"]["coverage_1sigma"] - 0.68) < 0.05
        blob = torch.load(folder / "member0.pt", map_location="cpu",
                          weights_only=True)
        assert blob["target_names"] == [card["target"]]


def test_predict_without_model_gives_all_properties(capsys):
    api._shipped.cache_clear()
    frame = api.predict(["*CC(*)C", "*C(*)(C)(C)(C)C"])
    assert frame.error[0] == "" and "valence" in frame.error[1].lower()
    for name in BENCHMARKS:
        assert math.isfinite(frame[name][0])
        assert frame[f"{name}_ci95"][0] > frame[f"{name}_std"][0] > 0
        assert 0 < frame[f"{name}_nn_similarity"][0] <= 1
        assert math.isnan(frame[name][1])  # the bad row keeps its place
    capsys.readouterr()
    assert main(["predict", "*CC(*)C"]) == 0
    lines = capsys.readouterr().out.splitlines()
    for name, (_, prop, unit) in BENCHMARKS.items():
        start = f"{name}: {prop}" + (f" [{unit}]" if unit != "-" else "") + " = "
        assert any(line.strip().startswith(start) and "±" in line
                   for line in lines), name
