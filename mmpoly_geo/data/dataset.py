"""``PolymerDataset``: P-SMILES CSV files as a PyG ``InMemoryDataset``."""
from __future__ import annotations

import hashlib
import json
import multiprocessing as mp
import os
import shutil
import warnings
from pathlib import Path
from typing import Callable, List, Optional, Sequence, Union

import numpy as np
import pandas as pd
from torch_geometric.data import InMemoryDataset
from tqdm.auto import tqdm

from mmpoly_geo.chem.errors import PSmilesError
from mmpoly_geo.chem.psmiles import MAX_ATOMS
from mmpoly_geo.data.featurize import PolymerFeaturizer
from mmpoly_geo.data.shipped import BENCHMARKS, shipped_files

REJECTED_COLUMNS = ["file", "row", "line", "input", "reason"]


class PolymerRowsWarning(UserWarning):
    """Some rows of the input could not be processed (see ``rejected.csv``)."""


class PolymerDataset(InMemoryDataset):
    r"""Polymers from P-SMILES CSV files, with tokens, conformers and graphs.

    Either one of the shipped data sets by :obj:`name` (the 8 MMPolymer
    benchmarks ``"Egc"``, ``"Egb"``, ``"Eea"``, ``"Ei"``, ``"Xc"``,
    ``"EPS"``, ``"Nc"``, ``"Eat"`` with target ``"value"``, or the unlabelled
    corpora ``"pretrain"`` and ``"pretrain-permissive"``), or your own file via
    :obj:`csv`. Each row becomes a :class:`~mmpoly_geo.data.PolymerData`.

    Processing runs in :obj:`num_workers` processes with a progress bar and is
    cached under ``root/<name>/processed/<settings hash>/``, one folder per
    combination of settings and input file contents. Rows that cannot be
    processed are never dropped silently: they are listed with their reason in
    ``rejected.csv`` in the same folder (also :attr:`rejected`), and a
    :class:`PolymerRowsWarning` gives their count.

    Args:
        root (str): Root folder.
        name (str, optional): A shipped data set. (default: :obj:`None`)
        csv (str or list, optional): Your CSV file(s), used if :obj:`name` is
            not given. (default: :obj:`None`)
        smiles_column (str, optional): Column holding the P-SMILES.
            (default: ``"psmiles"``)
        target (str or list, optional): Target column(s); :obj:`None` for
            unlabelled data (named benchmarks default to ``"value"``). Empty
            cells become ``NaN``; non-numeric cells reject the row.
        num_conformers, seed, hydrogens, mmff, repeat_units, cutoff, max_atoms,
        stars, descriptors:
            see :class:`~mmpoly_geo.data.PolymerFeaturizer`.
        num_workers (int, optional): Processes for processing; :obj:`None`
            uses all cores, :obj:`0` processes in this process.
        transform, pre_transform, pre_filter, force_reload, log: as in
            :class:`~torch_geometric.data.InMemoryDataset`. Rows removed by
            :obj:`pre_filter` are listed in ``rejected.csv`` too.

    .. code-block:: python

        from torch_geometric.loader import DataLoader
        from mmpoly_geo.data import PolymerDataset, SelectConformer

        dataset = PolymerDataset("data", name="Eea",
                                 transform=SelectConformer("random"))
        loader = DataLoader(dataset, batch_size=32, shuffle=True)
    """

    def __init__(self, root: str, name: Optional[str] = None,
                 csv: Union[str, Sequence[str], None] = None,
                 smiles_column: str = "psmiles",
                 target: Union[str, Sequence[str], None] = None,
                 num_conformers: int = 5, seed: int = 0,
                 hydrogens: bool = False, mmff: bool = False,
                 repeat_units: int = 1, cutoff: float = 5.0,
                 max_atoms: int = MAX_ATOMS, stars: str = "substitute",
                 descriptors: str = "rdkit+morgan",
                 num_workers: Optional[int] = None,
                 transform: Optional[Callable] = None,
                 pre_transform: Optional[Callable] = None,
                 pre_filter: Optional[Callable] = None,
                 force_reload: bool = False, log: bool = True):
        if (name is None) == (csv is None):
            raise ValueError("give exactly one of 'name' (a shipped data set) "
                             "or 'csv' (your own file)")
        if name is not None:
            self.sources = shipped_files(name)
            if target is None and name in BENCHMARKS:
                target = "value"
            self.name = name
        else:
            paths = [csv] if isinstance(csv, (str, os.PathLike)) else list(csv)
            self.sources = [Path(p) for p in paths]
            for p in self.sources:
                if not p.is_file():
                    raise FileNotFoundError(f"CSV file not found: {p}")
            self.name = self.sources[0].stem
        self.smiles_column = smiles_column
        self.targets = ([target] if isinstance(target, str)
                        else list(target) if target is not None else [])
        self.num_workers = num_workers
        self.featurizer = PolymerFeaturizer(
            num_conformers=num_conformers, seed=seed, hydrogens=hydrogens,
            mmff=mmff, repeat_units=repeat_units, cutoff=cutoff,
            max_atoms=max_atoms, stars=stars, descriptors=descriptors)
        self._tag = self._settings_hash()
        super().__init__(os.path.join(root, self.name), transform,
                         pre_transform, pre_filter, log=log,
                         force_reload=force_reload)
        self.load(self.processed_paths[0])
        self.rejected = pd.read_csv(self.processed_paths[1], dtype=str,
                                    keep_default_na=False)

    def _settings_hash(self) -> str:
        digest = hashlib.sha1()
        for p in self.sources:
            digest.update(Path(p).read_bytes())
        settings = dict(self.featurizer.config(), smiles=self.smiles_column,
                        targets=self.targets)
        digest.update(json.dumps(settings, sort_keys=True).encode())
        return digest.hexdigest()[:12]

    @property
    def raw_file_names(self) -> List[str]:
        return [Path(p).name for p in self.sources]

    @property
    def processed_dir(self) -> str:
        return os.path.join(self.root, "processed", self._tag)

    @property
    def processed_file_names(self) -> List[str]:
        return ["data.pt", "rejected.csv"]

    @property
    def target_names(self) -> List[str]:
        """Names of the columns of :obj:`y`."""
        return list(self.targets)

    def download(self):
        for src, dst in zip(self.sources, self.raw_paths):
            shutil.copyfile(src, dst)

    def _read_rows(self):
        """Yields ``(file, row, line, psmiles, targets or error)``."""
        for path in self.raw_paths:
            # dtype=str keeps the text as written (e.g. 'NA' is not a number
            # silently turned into NaN for the P-SMILES column).
            frame = pd.read_csv(path, dtype=str, keep_default_na=False,
                                skipinitialspace=True)
            missing = [c for c in [self.smiles_column] + self.targets
                       if c not in frame.columns]
            if missing:
                raise KeyError(
                    f"{path}: column(s) {missing} not found; columns are "
                    f"{[c for c in frame.columns if not c.startswith('Unnamed')]}"
                    " (set smiles_column= / target=)")
            name = Path(path).name
            for row, record in enumerate(frame.to_dict("records")):
                values, error = [], None
                for col in self.targets:
                    cell = record[col].strip()
                    if cell == "" or cell.lower() in ("nan", "na"):
                        values.append(np.nan)
                        continue
                    try:
                        values.append(float(cell))
                    except ValueError:
                        error = f"target {col!r} is not a number: {cell!r}"
                        break
                yield (name, row, row + 2, record[self.smiles_column],
                       error if error else values)

    def process(self):
        self.download()  # the raw copies may predate a changed source file
        rows = list(self._read_rows())
        work = [(r[3], r[4]) for r in rows]
        results = _featurize_all(self.featurizer, work, self.num_workers,
                                 desc=f"Processing {self.name}", log=self.log)
        data_list, rejected = [], []
        for (file, row, line, psmiles, _), (ok, out) in zip(rows, results):
            if not ok:
                rejected.append((file, row, line, psmiles, out))
                continue
            data = out
            data.row = row  # position in the source file, for joins
            if self.pre_filter is not None and not self.pre_filter(data):
                rejected.append((file, row, line, psmiles,
                                 "removed by pre_filter"))
                continue
            if self.pre_transform is not None:
                data = self.pre_transform(data)
            data_list.append(data)
        if not data_list:
            raise ValueError(
                f"no row of {self.raw_file_names} could be processed; first "
                f"reasons: {[r[4] for r in rejected[:3]]}")
        self.save(data_list, self.processed_paths[0])
        pd.DataFrame(rejected, columns=REJECTED_COLUMNS).to_csv(
            self.processed_paths[1], index=False)
        if rejected:
            warnings.warn(
                f"{len(rejected)} of {len(rows)} rows of "
                f"{', '.join(self.raw_file_names)} could not be processed; "
                f"rows and reasons are in {self.processed_paths[1]}",
                PolymerRowsWarning, stacklevel=2)

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self.name}, {len(self)})"


def _featurize_one(item):
    psmiles, targets = item
    if isinstance(targets, str):  # the row's target cell was invalid
        return False, targets
    try:
        return True, (_WORKER.arrays(psmiles), targets)
    except PSmilesError as exc:
        return False, str(exc)


_WORKER: Optional[PolymerFeaturizer] = None


def _init_worker(featurizer: PolymerFeaturizer):
    global _WORKER
    _WORKER = featurizer
    # RDKit does the work; keep torch from oversubscribing the cores.
    import torch
    torch.set_num_threads(1)


def _featurize_all(featurizer: PolymerFeaturizer, items, num_workers,
                   desc: str, log: bool = True):
    """Featurizes ``(psmiles, targets)`` items in worker processes; returns
    ``(True, PolymerData)`` or ``(False, reason)`` per item, in order."""
    if num_workers is None:
        num_workers = os.cpu_count() or 1
    bar = dict(total=len(items), desc=desc, unit="polymer",
               disable=not log or bool(os.environ.get("PYTEST_CURRENT_TEST")))
    if num_workers <= 1 or len(items) < 64:
        _init_worker(featurizer)
        raw = [_featurize_one(i) for i in tqdm(items, **bar)]
    else:
        ctx = mp.get_context("fork" if "fork" in mp.get_all_start_methods()
                             else "spawn")
        with ctx.Pool(num_workers, initializer=_init_worker,
                      initargs=(featurizer,)) as pool:
            raw = list(tqdm(pool.imap(_featurize_one, items, chunksize=16),
                            **bar))
    out = []
    for ok, value in raw:
        if ok:
            arrays, targets = value
            out.append((True, featurizer.to_data(
                arrays, targets if len(targets) else None)))
        else:
            out.append((False, value))
    return out
