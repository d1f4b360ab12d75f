"""Locations of the data files shipped with mmpoly_geo (no download)."""
from __future__ import annotations

import os
from pathlib import Path
from typing import List

#: The 8 MMPolymer benchmark sets: name -> (file, property, unit).
BENCHMARKS = {
    "Egc": ("mmpolymer/Egc.csv", "band gap, single chain (DFT)", "eV"),
    "Egb": ("mmpolymer/Egb.csv", "band gap, bulk (DFT)", "eV"),
    "Eea": ("mmpolymer/Eea.csv", "electron affinity", "eV"),
    "Ei": ("mmpolymer/Ei.csv", "ionization energy", "eV"),
    "Xc": ("mmpolymer/Xc.csv", "crystallization tendency", "%"),
    "EPS": ("mmpolymer/EPS.csv", "dielectric constant", "-"),
    "Nc": ("mmpolymer/Nc.csv", "refractive index", "-"),
    "Eat": ("mmpolymer/Eat.csv", "atomization energy", "eV/atom"),
}

#: Unlabelled pretraining corpora: name -> files (see datasets/pretrain).
PRETRAIN = {
    "pretrain": ["pretrain/psmiles_permissive.csv", "pretrain/psmiles_gpl.csv",
                 "pretrain/psmiles_noncommercial.csv"],
    "pretrain-permissive": ["pretrain/psmiles_permissive.csv"],
}

#: Licences of the corpora (datasets/README.md): what weights trained on them
#: inherit.
CORPUS_LICENCES = {
    "pretrain-permissive": "MIT / Apache-2.0 (PI1M, htang7415 UQ sets, GREA; "
                           "keep the notices in datasets/pretrain/licenses)",
    "pretrain": "mixed: MIT / Apache-2.0, GPL-3.0 (OpenMacromolecularGenome) "
                "and the GTRC non-commercial licence (polyVERSE): weights "
                "trained on it are for non-commercial use only",
}


def datasets_dir() -> Path:
    """The folder holding the shipped CSVs.

    Looked up in order: ``$MMPOLY_GEO_DATASETS``; ``mmpoly_geo/_datasets``
    (installed wheel); ``datasets/`` of the source tree (editable install).
    """
    candidates = []
    if os.environ.get("MMPOLY_GEO_DATASETS"):
        candidates.append(Path(os.environ["MMPOLY_GEO_DATASETS"]))
    package = Path(__file__).resolve().parents[1]
    candidates += [package / "_datasets", package.parent / "datasets"]
    for path in candidates:
        if (path / "mmpolymer").is_dir():
            return path
    raise FileNotFoundError(
        "shipped datasets not found; looked in "
        + ", ".join(str(p) for p in candidates)
        + " (set MMPOLY_GEO_DATASETS to the repository's datasets/ folder)")


def shipped_files(name: str) -> List[Path]:
    """Paths of the CSV file(s) of a shipped dataset (see :data:`BENCHMARKS`
    and :data:`PRETRAIN`)."""
    if name in BENCHMARKS:
        rel = [BENCHMARKS[name][0]]
    elif name in PRETRAIN:
        rel = PRETRAIN[name]
    else:
        raise ValueError(
            f"unknown dataset {name!r}; shipped datasets are "
            f"{sorted(BENCHMARKS) + sorted(PRETRAIN)}")
    root = datasets_dir()
    return [root / r for r in rel]
