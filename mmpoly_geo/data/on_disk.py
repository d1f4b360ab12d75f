"""``PolymerOnDiskDataset``: polymers in an SQLite database (PyG's
``OnDiskDataset``), for corpora larger than memory."""
from __future__ import annotations

import csv
import json
import os
import time
from pathlib import Path
from typing import Callable, List, Optional, Sequence, Tuple, Union

import pandas as pd
import torch
from torch_geometric.data import OnDiskDataset
from torch_geometric.data.database import SQLiteDatabase

from mmpoly_geo.atomic import (
    atomic_torch_save, atomic_write_text, remove_stale_temporaries)
from mmpoly_geo.chem.conformers import CONFORMER_METHODS, TIME_BUDGET
from mmpoly_geo.chem.psmiles import MAX_ATOMS
from mmpoly_geo.data.dataset import REJECTED_COLUMNS, PolymerSource
from mmpoly_geo.data.processing import featurize_rows


class PolymerOnDiskDataset(PolymerSource, OnDiskDataset):
    r"""The polymers of :class:`~mmpoly_geo.data.PolymerDataset`, stored one
    by one in an SQLite database instead of memory, so memory stays flat as
    the corpus grows. Items are :class:`~mmpoly_geo.data.PolymerData` (pickled
    whole, so their batching rules are kept; PyG's ``to_on_disk_dataset``
    rebuilds plain ``Data``), and rows that cannot be processed are listed
    in ``rejected.csv`` as for the in-memory dataset.

    Processing runs in chunks of :obj:`chunk_size` rows; each chunk is
    committed to the database and then recorded in ``progress.json``, so a
    killed run continues from the last recorded chunk, and rows a chunk
    committed without being recorded are deleted first: every polymer is
    stored exactly once. ``done.json`` marks a finished database.

    Like the in-memory dataset it has :attr:`key`, :attr:`psmiles`,
    :attr:`row`, :attr:`num_tokens`, :attr:`y` and :attr:`descriptors` over
    all polymers (what splits, length buckets and scalers need), read in one
    pass over the database the first time one is asked for and cached in
    ``metadata.pt``; so the training commands can stream from it
    (``data.on_disk=true``).

    Sharded processing (e.g. one SLURM array task per shard): with
    :obj:`shard=(k, N)` only the :obj:`k`-th of :obj:`N` contiguous row ranges
    is processed, into its own folder (a dataset of those rows). The full
    dataset, built afterwards with the same settings, merges the finished
    shards of the largest complete set in row order instead of featurizing
    again (resumable too).

    Args:
        root, name, csv, smiles_column, target, num_conformers, seed,
        hydrogens, mmff, repeat_units, cutoff, max_atoms, stars, descriptors,
        time_budget, num_workers, transform, log: as for
            :class:`~mmpoly_geo.data.PolymerDataset`.
        chunk_size (int, optional): Rows per committed chunk.
            (default: :obj:`1000`)
        shard (tuple, optional): :obj:`(k, N)`: process only shard
            :obj:`k` (0-based) of :obj:`N`. (default: :obj:`None`, all rows)

    .. code-block:: python

        from torch_geometric.loader import DataLoader

        dataset = PolymerOnDiskDataset("data", name="pretrain-permissive",
                                       descriptors="none")
        loader = DataLoader(dataset, batch_size=64, shuffle=True)
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
                 num_workers: Optional[int] = None, chunk_size: int = 1000,
                 shard: Optional[Tuple[int, int]] = None,
                 transform: Optional[Callable] = None, log: bool = True):
        if chunk_size < 1:
            raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
        if shard is not None and not 0 <= shard[0] < shard[1]:
            raise ValueError(f"shard must be (k, N) with 0 <= k < N, got "
                             f"{shard}")
        self.shard = None if shard is None else (int(shard[0]), int(shard[1]))
        self._setup_source(name, csv, smiles_column, target, num_workers,
                           dict(num_conformers=num_conformers, seed=seed,
                                hydrogens=hydrogens, mmff=mmff,
                                repeat_units=repeat_units, cutoff=cutoff,
                                max_atoms=max_atoms, stars=stars,
                                descriptors=descriptors,
                                time_budget=time_budget))
        self.chunk_size = chunk_size
        self._tag = self._settings_hash()
        super().__init__(os.path.join(root, self.name), transform, log=log)
        self.rejected = pd.read_csv(
            os.path.join(self.processed_dir, "rejected.csv"), dtype=str,
            keep_default_na=False)
        self.processing_summary = json.loads(
            Path(self.processed_paths[1]).read_text(encoding="utf-8"))

    @property
    def processed_dir(self) -> str:
        return os.path.join(self._base_dir, *(
            [] if self.shard is None else
            [f"shard-{self.shard[0]}-of-{self.shard[1]}"]))

    @property
    def _base_dir(self) -> str:
        return os.path.join(self.root, "processed", f"{self._tag}-on-disk")

    def _row_range(self, num_rows: int) -> Tuple[int, int]:
        if self.shard is None:
            return 0, num_rows
        k, n = self.shard
        return k * num_rows // n, (k + 1) * num_rows // n

    def _complete_shards(self) -> List[Path]:
        """The folders of the largest set of shards that are all finished."""
        found = {}
        for path in Path(self._base_dir).glob("shard-*-of-*"):
            _, k, _, n = path.name.split("-")
            if (path / "done.json").is_file():
                found.setdefault(int(n), {})[int(k)] = path
        complete = [n for n, shards in found.items() if len(shards) == n]
        if not complete:
            return []
        n = max(complete)
        return [found[n][k] for k in range(n)]

    @property
    def processed_file_names(self) -> List[str]:
        # The database is the first (OnDiskDataset opens processed_paths[0]);
        # done.json marks it complete.
        return [f"{self.backend}.db", "done.json"]

    def _process(self):
        self._process_with_own_progress(super()._process)

    def process(self):
        remove_stale_temporaries(self.processed_dir)
        self.download()
        start = time.perf_counter()
        rows = list(self._read_rows())
        progress_path = Path(self.processed_dir) / "progress.json"
        fresh = {"rows_done": 0, "stored": 0, "rejected": [],
                 "methods": [0] * len(CONFORMER_METHODS),
                 "budget_exceeded": 0}
        progress = (json.loads(progress_path.read_text())
                    if progress_path.is_file() else dict(fresh))
        shards = self._complete_shards() if self.shard is None else []
        if shards and "shards_merged" not in progress:
            # Rows featurized here by an interrupted run give way to the
            # finished shards.
            progress = dict(fresh, shards_merged=0)
        self._truncate(progress["stored"])
        show = getattr(self, "_show_progress", self.log)
        if shards:
            self._merge(shards, progress, progress_path)
        first, last = self._row_range(len(rows))
        for begin in range(max(first, progress["rows_done"]) if not shards
                           else last, last, self.chunk_size):
            chunk = rows[begin:min(begin + self.chunk_size, last)]
            results = featurize_rows(
                self.featurizer, [(r[3], r[4]) for r in chunk],
                self.num_workers, log=show, row_timeout=self.row_timeout,
                desc=f"Processing {self.name} rows {begin + 1}-"
                     f"{begin + len(chunk)} of {len(rows)}")
            kept = []
            for (file, row, line, psmiles, _), result in zip(chunk, results):
                if not result.ok:
                    progress["rejected"].append(
                        [file, row, line, psmiles, result.reason,
                         result.error])
                    continue
                result.data.row = row
                kept.append(result.data)
                progress["methods"][int(result.data.conf_method)] += 1
                progress["budget_exceeded"] += int(
                    result.data.conf_budget_exceeded)
            self.extend(kept)  # one committed transaction
            progress["rows_done"] = begin + len(chunk)
            progress["stored"] = len(self)
            atomic_write_text(progress_path, json.dumps(progress))
        rejected = pd.DataFrame(progress["rejected"], columns=REJECTED_COLUMNS)
        atomic_write_text(Path(self.processed_dir) / "rejected.csv",
                          rejected.to_csv(index=False,
                                          quoting=csv.QUOTE_NONNUMERIC))
        summary = {
            "rows": last - first, "kept": len(self), "rejected": len(rejected),
            "shard": self.shard, "merged_shards": len(shards),
            "rejected_by_error": {str(k): int(v) for k, v in
                                  rejected["error"].value_counts().items()},
            "conformer_methods": dict(zip(CONFORMER_METHODS,
                                          progress["methods"])),
            "budget_exceeded": progress["budget_exceeded"],
            "time_budget": self.featurizer.time_budget,
            "seconds_this_run": time.perf_counter() - start,
        }
        atomic_write_text(self.processed_paths[1], json.dumps(summary,
                                                              indent=2))

    def _merge(self, shards: List[Path], progress: dict, progress_path: Path):
        """Appends the finished shards' polymers, rejections and counts in
        row order, one recorded shard at a time."""
        for index in range(progress.get("shards_merged", 0), len(shards)):
            folder = shards[index]
            db = SQLiteDatabase(str(folder / f"{self.backend}.db"),
                                name=self.__class__.__name__)
            for begin in range(0, len(db), self.chunk_size):
                self.extend(db.multi_get(range(
                    begin, min(begin + self.chunk_size, len(db)))))
            db.close()
            shard_progress = json.loads((folder / "progress.json").read_text())
            progress["rejected"] += shard_progress["rejected"]
            progress["methods"] = [a + b for a, b in zip(
                progress["methods"], shard_progress["methods"])]
            progress["budget_exceeded"] += shard_progress["budget_exceeded"]
            progress["shards_merged"] = index + 1
            progress["stored"] = len(self)
            atomic_write_text(progress_path, json.dumps(progress))

    def __getitems__(self, indices: List[int]):
        # PyG's version reads database positions, ignoring the subset of an
        # index_select()-ed dataset: map through indices() first.
        base = self.indices()
        return self.multi_get([int(base[i]) for i in indices])

    def _metadata(self) -> dict:
        if getattr(self, "_meta", None) is None:
            path = Path(self.processed_dir) / "metadata.pt"
            if path.is_file():
                self._meta = torch.load(path, weights_only=True)
            else:
                # Preallocated tensors, not lists of per-polymer tensors:
                # the pass's peak memory stays near the result's size.
                n, width = len(self), len(self.targets)
                meta = {"key": [], "psmiles": [],
                        "row": torch.empty(n, dtype=torch.long),
                        "num_tokens": torch.empty(n, dtype=torch.long),
                        "y": torch.zeros(n, width), "descriptors": None}
                for begin in range(0, n, self.chunk_size):
                    items = self.db.multi_get(range(
                        begin, min(begin + self.chunk_size, n)))
                    for i, data in enumerate(items, start=begin):
                        data = self.deserialize(data)
                        meta["key"].append(data.key)
                        meta["psmiles"].append(data.psmiles)
                        meta["row"][i] = int(data.row)
                        meta["num_tokens"][i] = int(data.num_tokens)
                        if "y" in data:
                            meta["y"][i] = data.y.view(-1)
                        if meta["descriptors"] is None:
                            meta["descriptors"] = torch.empty(
                                n, data.descriptors.numel())
                        meta["descriptors"][i] = data.descriptors.view(-1)
                if meta["descriptors"] is None:  # no polymer at all
                    meta["descriptors"] = torch.zeros(0, 0)
                self._meta = meta
                atomic_torch_save(self._meta, path)
        return self._meta

    @property
    def key(self) -> List[str]:
        """Polymer keys (grouped splits), one per stored polymer."""
        return self._metadata()["key"]

    @property
    def psmiles(self) -> List[str]:
        return self._metadata()["psmiles"]

    @property
    def row(self) -> torch.Tensor:
        return self._metadata()["row"]

    @property
    def num_tokens(self) -> torch.Tensor:
        return self._metadata()["num_tokens"]

    @property
    def y(self) -> torch.Tensor:
        return self._metadata()["y"]

    @property
    def descriptors(self) -> torch.Tensor:
        return self._metadata()["descriptors"]

    def _truncate(self, length: int):
        """Deletes the rows a killed run committed after its last recorded
        chunk (indices >= :obj:`length`)."""
        if len(self) > length:
            db = self.db
            db.cursor.execute(f"DELETE FROM {db.name} WHERE id >= ?",
                              (length,))
            db.connection.commit()
            self._numel = len(db)

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self.name}, {len(self)})"
