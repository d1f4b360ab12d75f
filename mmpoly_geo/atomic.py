"""Crash-safe file writes: write to a temporary file beside the target, then
rename it over the target (atomic on POSIX and Windows), so a reader sees the
old file or the new one, never a truncated one - whatever kills the writer."""
from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Union

import torch

PathLike = Union[str, os.PathLike]
_TMP_MARK = ".tmp-"


@contextmanager
def atomic_path(path: PathLike) -> Iterator[Path]:
    """Yields a temporary path in :obj:`path`'s folder; when the block ends
    without an exception it replaces :obj:`path`, otherwise it is removed.

    .. code-block:: python

        with atomic_path("data.pt") as tmp:
            torch.save(obj, tmp)
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}{_TMP_MARK}{os.getpid()}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def atomic_torch_save(obj, path: PathLike):
    """:func:`torch.save` through :func:`atomic_path`."""
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def atomic_write_text(path: PathLike, text: str):
    """:meth:`pathlib.Path.write_text` (UTF-8) through :func:`atomic_path`."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def remove_stale_temporaries(folder: PathLike):
    """Deletes temporary files that writers killed mid-write left in
    :obj:`folder` (call it only while no other process writes there)."""
    folder = Path(folder)
    if folder.is_dir():
        for tmp in folder.glob(f".*{_TMP_MARK}*"):
            tmp.unlink(missing_ok=True)
