"""Featurizing many P-SMILES in worker processes, one row never stopping the
others: each row's exception becomes its reason, and a worker that gives no
result in time is replaced."""
from __future__ import annotations

import multiprocessing as mp
import os
import time
from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple, Union

from tqdm.auto import tqdm

from mmpoly_geo.chem.errors import row_failure_reason
from mmpoly_geo.data.featurize import PolymerFeaturizer
from mmpoly_geo.data.polymer_data import PolymerData

#: Fewer items than this are processed in the calling process.
MIN_ITEMS_FOR_POOL = 64
#: ``RowResult.error`` of a row whose worker gave no result in time.
WORKER_TIMEOUT = "WorkerTimeout"
#: ``RowResult.error`` of a row whose target cell is not a number.
INVALID_TARGET = "InvalidTarget"


@dataclass
class RowResult:
    """The outcome of one row.

    Attributes:
        data (PolymerData, optional): The polymer, :obj:`None` if rejected.
        reason (str): Why the row was rejected (empty when kept).
        error (str): The exception's class name (empty when kept), e.g.
            ``"AdjacentStarsError"``; :data:`WORKER_TIMEOUT`,
            :data:`INVALID_TARGET`, or the name of an exception we did not
            anticipate (its reason starts with ``"internal error:"``).
        seconds (float): Time spent on the row in its worker.
    """
    data: Optional[PolymerData]
    reason: str = ""
    error: str = ""
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.data is not None

    @property
    def internal(self) -> bool:
        """Rejected by an exception we did not anticipate, i.e. a bug to
        report (not a :class:`~mmpoly_geo.chem.errors.PSmilesError`)."""
        return self.reason.startswith("internal error:")


#: One row: its P-SMILES and its targets (a list of floats), or the reason
#: its target cell was rejected (a string).
Item = Tuple[object, Union[Sequence[float], str]]


def featurize_rows(featurizer: PolymerFeaturizer, items: Sequence[Item],
                   num_workers: Optional[int] = None, desc: str = "Processing",
                   log: bool = True, row_timeout: Optional[float] = None
                   ) -> List[RowResult]:
    r"""Featurizes ``(psmiles, targets)`` items, in order.

    Args:
        featurizer (PolymerFeaturizer): The featurizer.
        items (list): ``(psmiles, targets)`` pairs; a string as targets
            rejects the row with that reason.
        num_workers (int, optional): Worker processes (:obj:`None`: all
            cores; 0 or 1, or fewer than :data:`MIN_ITEMS_FOR_POOL` items: in
            this process, where no timeout applies). (default: :obj:`None`)
        desc (str, optional): Progress bar label.
        log (bool, optional): Show a progress bar. (default: :obj:`True`)
        row_timeout (float, optional): Seconds without a result after which
            the oldest unfinished row is rejected (:data:`WORKER_TIMEOUT`) and
            the workers are replaced; :obj:`None` waits for ever.
            (default: :obj:`None`)
    """
    if num_workers is None:
        num_workers = os.cpu_count() or 1
    bar = tqdm(total=len(items), desc=desc, unit="polymer",
               disable=not log or bool(os.environ.get("PYTEST_CURRENT_TEST")))
    if num_workers <= 1 or len(items) < MIN_ITEMS_FOR_POOL:
        global _WORKER
        _WORKER = featurizer  # this process's torch threads stay as they are
        raw = []
        for item in items:
            raw.append(_featurize_one(item))
            bar.update()
    else:
        raw = _featurize_in_pool(featurizer, items, num_workers, bar,
                                 row_timeout)
    bar.close()
    out = []
    for ok, value, error, seconds in raw:
        if ok:
            arrays, targets = value
            try:
                out.append(RowResult(featurizer.to_data(
                    arrays, targets if len(targets) else None),
                    seconds=seconds))
                continue
            except Exception as exc:
                value, error = row_failure_reason(exc), type(exc).__name__
        out.append(RowResult(None, value, error, seconds))
    return out


_WORKER: Optional[PolymerFeaturizer] = None


def _init_worker(featurizer: PolymerFeaturizer):
    global _WORKER
    _WORKER = featurizer
    # RDKit does the work; keep torch from oversubscribing the cores.
    import torch
    torch.set_num_threads(1)


def _featurize_one(item):
    """``(ok, (arrays, targets) or reason, error class, seconds)``."""
    psmiles, targets = item
    if isinstance(targets, str):  # the row's target cell was invalid
        return False, targets, INVALID_TARGET, 0.0
    start = time.perf_counter()
    try:
        value = _WORKER.arrays(psmiles), targets
        return True, value, "", time.perf_counter() - start
    except Exception as exc:  # one row never stops the others
        return (False, row_failure_reason(exc), type(exc).__name__,
                time.perf_counter() - start)


def _featurize_in_pool(featurizer, items, num_workers, bar, row_timeout):
    ctx = mp.get_context("fork" if "fork" in mp.get_all_start_methods()
                         else "spawn")
    raw, start = [], 0
    while start < len(items):
        # chunksize=1: when no result comes for row_timeout seconds, the
        # next row in order is one that has been running at least that long.
        with ctx.Pool(num_workers, initializer=_init_worker,
                      initargs=(featurizer,)) as pool:
            results = pool.imap(_featurize_one, items[start:], chunksize=1)
            try:
                for _ in range(start, len(items)):
                    raw.append(results.next(timeout=row_timeout))
                    bar.update()
            except mp.TimeoutError:
                raw.append((False, (
                    f"internal error: no result within {row_timeout:g} s "
                    f"(the worker hung or crashed); row skipped"),
                    WORKER_TIMEOUT, float(row_timeout)))
                bar.update()
            start = len(raw)
        # Leaving the block terminates the pool, and with it a hung worker.
    return raw

