"""``PolymerDataset``: P-SMILES CSV files as a PyG ``InMemoryDataset``."""
from __future__ import annotations

import csv
import hashlib
import json
import os
import shutil
import time
import warnings
from pathlib import Path
from typing import Callable, List, Optional, Sequence, Union

import numpy as np
import pandas as pd
import torch
from torch_geometric.data import InMemoryDataset

from mmpoly_geo.atomic import (
    atomic_path, atomic_write_text, remove_stale_temporaries)
from mmpoly_geo.chem.conformers import CONFORMER_METHODS, TIME_BUDGET
from mmpoly_geo.chem.errors import row_failure_reason
from mmpoly_geo.chem.psmiles import MAX_ATOMS
from mmpoly_geo.data.featurize import PolymerFeaturizer
from mmpoly_geo.data.processing import featurize_rows
from mmpoly_geo.data.shipped import BENCHMARKS, shipped_files

#: Columns of ``rejected.csv``: source file, 0-based data row, line in the
#: file, the input as written, the reason, and the exception's class name.
REJECTED_COLUMNS = ["file", "row", "line", "input", "reason", "error"]
#: How many of the slowest rows ``processing.json`` lists.
NUM_SLOWEST = 10


class PolymerRowsWarning(UserWarning):
    """Some rows of the input could not be processed (see ``rejected.csv``)."""


class PolymerSource:
    """What the in-memory and on-disk polymer datasets share: the input
    files (a shipped set or your CSVs), the featurizer, the cache key of the
    settings, and the reading of rows (targets parsed, bad cells reported)."""

    def _setup_source(self, name, csv, smiles_column, target, num_workers,
                      featurizer_kwargs):
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
        self.featurizer = PolymerFeaturizer(**featurizer_kwargs)

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

    def _process_with_own_progress(self, process: Callable[[], None]):
        """Runs PyG's :obj:`process` step with our progress bar (shown when
        :obj:`log`) instead of its "Processing... Done!" lines."""
        show, self.log = self.log, False
        self._show_progress = show
        try:
            process()
        finally:
            self.log = show

    @property
    def row_timeout(self) -> float:
        """Seconds a worker may spend on one row before it is replaced and the
        row rejected: :obj:`60 + 3 * time_budget` (an hour without budget)."""
        budget = self.featurizer.time_budget
        return 3600.0 if budget is None else 60.0 + 3.0 * budget


class PolymerDataset(PolymerSource, InMemoryDataset):
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
    :class:`PolymerRowsWarning` gives their count. ``processing.json`` (also
    :attr:`processing_summary`) counts rows by outcome and conformer method,
    and lists the slowest rows.

    One row never stops processing: any exception it raises becomes its
    reason (``internal error: <type>: <message>`` for those we did not
    anticipate), conformer embedding has a time budget per polymer
    (:obj:`time_budget`), and a worker that gives no result for
    :obj:`60 + 3 * time_budget` seconds (hung, or killed by a crash in
    native code) is replaced and its row rejected. The cache is written to a
    temporary file and renamed, so an interrupted run leaves no partial cache;
    an unreadable cache (e.g. truncated by a full disk) is processed again
    with a warning.

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
        stars, descriptors, time_budget:
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
                 time_budget: Optional[float] = TIME_BUDGET,
                 num_workers: Optional[int] = None,
                 transform: Optional[Callable] = None,
                 pre_transform: Optional[Callable] = None,
                 pre_filter: Optional[Callable] = None,
                 force_reload: bool = False, log: bool = True):
        self._setup_source(name, csv, smiles_column, target, num_workers,
                           dict(num_conformers=num_conformers, seed=seed,
                                hydrogens=hydrogens, mmff=mmff,
                                repeat_units=repeat_units, cutoff=cutoff,
                                max_atoms=max_atoms, stars=stars,
                                descriptors=descriptors,
                                time_budget=time_budget))
        self._tag = self._settings_hash()
        super().__init__(os.path.join(root, self.name), transform,
                         pre_transform, pre_filter, log=log,
                         force_reload=force_reload)
        try:
            self._load_cache()
        except Exception as exc:  # truncated or corrupted by a crash
            warnings.warn(
                f"the processed cache in {self.processed_dir} is unreadable "
                f"({type(exc).__name__}: {exc}); processing again",
                stacklevel=2)
            for path in self.processed_paths:
                Path(path).unlink(missing_ok=True)
            self._process()
            self._load_cache()

    def _load_cache(self):
        self.load(self.processed_paths[0])
        self.rejected = pd.read_csv(self.processed_paths[1], dtype=str,
                                    keep_default_na=False)
        if list(self.rejected.columns) != REJECTED_COLUMNS:
            raise ValueError(f"{self.processed_paths[1]} has columns "
                             f"{list(self.rejected.columns)}")
        self.processing_summary = json.loads(
            Path(self.processed_paths[2]).read_text(encoding="utf-8"))

    def _process(self):
        # PyG reads these records before deciding to process; one left
        # truncated by a crash would stop every later run.
        for name in ("pre_transform.pt", "pre_filter.pt"):
            record = Path(self.processed_dir) / name
            if record.is_file():
                try:
                    torch.load(record, weights_only=False)
                except Exception:
                    record.unlink()
        self._process_with_own_progress(super()._process)

    @property
    def processed_dir(self) -> str:
        return os.path.join(self.root, "processed", self._tag)

    @property
    def processed_file_names(self) -> List[str]:
        return ["data.pt", "rejected.csv", "processing.json"]

    def process(self):
        remove_stale_temporaries(self.processed_dir)
        self.download()  # the raw copies may predate a changed source file
        start = time.perf_counter()
        rows = list(self._read_rows())
        results = featurize_rows(
            self.featurizer, [(r[3], r[4]) for r in rows], self.num_workers,
            desc=f"Processing {self.name}",
            log=getattr(self, "_show_progress", self.log),
            row_timeout=self.row_timeout)
        data_list, rejected = [], []
        for (file, row, line, psmiles, _), result in zip(rows, results):
            if not result.ok:
                rejected.append((file, row, line, psmiles, result.reason,
                                 result.error))
                continue
            data = result.data
            data.row = row  # position in the source file, for joins
            try:
                if self.pre_filter is not None and not self.pre_filter(data):
                    rejected.append((file, row, line, psmiles,
                                     "removed by pre_filter", "PreFilter"))
                    continue
                if self.pre_transform is not None:
                    data = self.pre_transform(data)
            except Exception as exc:
                rejected.append((file, row, line, psmiles,
                                 "pre_filter/pre_transform failed: "
                                 + row_failure_reason(exc),
                                 type(exc).__name__))
                continue
            data_list.append(data)
        if not data_list:
            raise ValueError(
                f"no row of {self.raw_file_names} could be processed; first "
                f"reasons: {[r[4] for r in rejected[:3]]}")
        summary = self._summary(rows, results, data_list, rejected,
                                time.perf_counter() - start)
        # data.pt last: the cache counts as complete (PyG skips processing)
        # only once every file exists, and each appears whole or not at all.
        with atomic_path(self.processed_paths[1]) as tmp:
            # Quoted text: an input holding a bare carriage return would
            # otherwise split its row in two when read back.
            pd.DataFrame(rejected, columns=REJECTED_COLUMNS).to_csv(
                tmp, index=False, quoting=csv.QUOTE_NONNUMERIC)
        atomic_write_text(self.processed_paths[2],
                          json.dumps(summary, indent=2))
        with atomic_path(self.processed_paths[0]) as tmp:
            self.save(data_list, str(tmp))
        if rejected:
            warnings.warn(
                f"{len(rejected)} of {len(rows)} rows of "
                f"{', '.join(self.raw_file_names)} could not be processed; "
                f"rows and reasons are in {self.processed_paths[1]}",
                PolymerRowsWarning, stacklevel=2)

    def _summary(self, rows, results, data_list, rejected, seconds) -> dict:
        """What ``processing.json`` holds."""
        methods = [int(d.conf_method) for d in data_list]
        slowest = sorted(range(len(rows)), key=lambda i: -results[i].seconds)
        return {
            "rows": len(rows), "kept": len(data_list),
            "rejected": len(rejected),
            "rejected_by_error": {
                str(k): int(v) for k, v in pd.Series(
                    [r[5] for r in rejected], dtype=object)
                .value_counts().items()},
            "internal_errors": sum(r[4].startswith("internal error:")
                                   for r in rejected),
            "conformer_methods": {m: methods.count(i)
                                  for i, m in enumerate(CONFORMER_METHODS)},
            "budget_exceeded": sum(bool(d.conf_budget_exceeded)
                                   for d in data_list),
            "time_budget": self.featurizer.time_budget,
            "row_timeout": self.row_timeout,
            "seconds": seconds,
            "row_seconds_total": sum(r.seconds for r in results),
            "slowest": [dict(file=rows[i][0], row=rows[i][1],
                             input=str(rows[i][3])[:200],
                             seconds=round(results[i].seconds, 3),
                             outcome=results[i].error or "kept")
                        for i in slowest[:NUM_SLOWEST]],
        }

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self.name}, {len(self)})"
