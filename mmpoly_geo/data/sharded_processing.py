"""Sharded preprocessing on a Dask cluster: the shards of a
:class:`~mmpoly_geo.data.PolymerOnDiskDataset` as Dask tasks, then the merge.

Dask (``pip install "mmpoly_geo[dask]"``) rather than Ray: it is pure Python
and small, runs the same code on a laptop (``LocalCluster``), on an existing
scheduler (``tcp://host:8786``) and on SLURM/PBS through ``dask-jobqueue``,
and each shard task is one ordinary function call, so nothing here depends
on the engine beyond :func:`prepare_on_dask`. Without Dask the same shards
run as independent ``mmpoly-geo prepare --shard k/N`` jobs (e.g. a SLURM
array) followed by one ``prepare --on-disk`` that merges them.

Resumable the way the shards are: every shard commits its rows in recorded
chunks and marks itself done, and the merge records each merged shard; kill
the whole cluster at any moment, run the same call again, and finished
shards are skipped, unfinished ones continue, and every polymer is stored
exactly once.
"""
from __future__ import annotations

import time
from typing import Any, Dict, Union

from mmpoly_geo.data.on_disk import PolymerOnDiskDataset


def process_shard(root: str, shard: int, shards: int,
                  settings: Dict[str, Any]) -> Dict[str, Any]:
    """Processes shard :obj:`shard` of :obj:`shards` in this process (what a
    Dask task runs) and returns its counts. Featurizes in-process: a Dask
    worker is already one of the parallel processes."""
    start = time.perf_counter()
    settings = dict(settings, num_workers=0, log=False)
    dataset = PolymerOnDiskDataset(root, shard=(shard, shards), **settings)
    summary = dataset.processing_summary
    return {"shard": shard, "rows": summary["rows"], "kept": summary["kept"],
            "rejected": summary["rows"] - summary["kept"],
            "seconds": time.perf_counter() - start}


def prepare_on_dask(root: str, shards: int,
                    scheduler: Union[str, Any, None] = None,
                    n_workers: int = 2, progress: bool = True,
                    retries: int = 1, **settings) -> PolymerOnDiskDataset:
    r"""Processes a corpus as :obj:`shards` Dask tasks (one
    :class:`~mmpoly_geo.data.PolymerOnDiskDataset` shard each) and merges
    them into the full on-disk dataset, which it returns.

    Args:
        root (str): Root folder, as for the dataset.
        shards (int): Number of shards (tasks); more shards than workers
            balance uneven rows and lose less work to a lost worker.
        scheduler (str or distributed.Client, optional): An existing
            scheduler's address or client; :obj:`None` starts a local
            cluster of :obj:`n_workers` single-threaded processes for the
            call. (default: :obj:`None`)
        n_workers (int, optional): Workers of the local cluster.
            (default: :obj:`2`)
        progress (bool, optional): A progress bar over shards.
        retries (int, optional): Times Dask reruns a shard whose worker died
            (a rerun continues from the shard's last recorded chunk).
        **settings: The dataset's arguments (``name`` or ``csv``,
            ``num_conformers``, ``descriptors``, ``chunk_size``, ...).
            ``num_workers`` is ignored: each shard featurizes in its task.

    Raises:
        ImportError: Dask's ``distributed`` is not installed.
        RuntimeError: shards failed (named, with their errors); the shards
            that finished are kept, and running the call again resumes.
    """
    try:
        from distributed import Client, LocalCluster, as_completed
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ImportError("the Dask engine needs Dask's distributed "
                          "scheduler: pip install 'mmpoly_geo[dask]' (or "
                          "run 'mmpoly-geo prepare --shard k/N' jobs "
                          "yourself)") from exc
    if shards < 1:
        raise ValueError(f"shards must be >= 1, got {shards}")
    settings.pop("num_workers", None)
    root = str(root)
    cluster = None
    if scheduler is None:
        cluster = LocalCluster(n_workers=n_workers, threads_per_worker=1,
                               processes=True, dashboard_address=None)
        client = Client(cluster)
    elif isinstance(scheduler, str):
        client = Client(scheduler)
    else:
        client = scheduler
    failed = {}
    try:
        futures = [client.submit(process_shard, root, k, shards, settings,
                                 pure=False, retries=retries)
                   for k in range(shards)]
        bar = None
        if progress:
            from tqdm.auto import tqdm
            bar = tqdm(total=shards, desc="Shards", unit="shard")
        for future in as_completed(futures):
            k = futures.index(future)
            try:
                future.result()
            except Exception as exc:  # one failed shard never stops the rest
                failed[k] = f"{type(exc).__name__}: {exc}"
            if bar is not None:
                bar.update(1)
        if bar is not None:
            bar.close()
    finally:
        if client is not scheduler:
            client.close()
        if cluster is not None:
            cluster.close()
    if failed:
        raise RuntimeError(
            f"{len(failed)} of {shards} shards failed (finished shards are "
            f"kept; run again to resume): " + "; ".join(
                f"shard {k}: {why}" for k, why in sorted(failed.items())))
    return PolymerOnDiskDataset(root, num_workers=0, **settings)
