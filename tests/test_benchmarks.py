"""The benchmark scripts run end to end on tiny settings (no timing asserted)."""
import subprocess
import sys
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]


def _run(*args):
    result = subprocess.run([sys.executable, *args], capture_output=True,
                            text=True, cwd=ROOT, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def test_conformer_benchmark_runs():
    out = _run("benchmarks/conformers.py", "--num", "3")
    assert "speed-up of the default recipe per polymer" in out
    assert "MMPolymer (10 ETKDG+MMFF with H, + 2D)" in out


def test_scaling_benchmark_runs(tmp_path):
    out = _run("benchmarks/scaling.py", "--units", "1", "2", "--repeats", "1",
               "--batch-size", "2", "--encoders", "painn", "dense",
               "--polymers", "styrene-morpholine", "--out", str(tmp_path))
    assert "dense/painn" in out
    frame = pd.read_csv(tmp_path / "scaling_cpu.csv")
    assert len(frame) == 4 and frame["seconds"].gt(0).all()
    assert frame["atoms"].tolist() == [20, 20, 38, 38]
    assert (tmp_path / "scaling_cpu.png").stat().st_size > 10_000
