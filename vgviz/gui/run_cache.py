"""The cache of in-app runs: every run the window trains is recorded to a file in
QStandardPaths' CacheLocation/runs, named by date-time and preset. The folder keeps the last
MAX_RUNS runs within MAX_BYTES; the oldest go when a new run starts, never one in use."""
from __future__ import annotations

import contextlib
import os
import re
import time
from pathlib import Path

from PySide6 import QtCore

MAX_RUNS = 20
MAX_BYTES = 1 << 30
SUFFIX = ".vgviz"
# A file whose write-ahead log changed this recently is being written by some process.
BUSY_S = 60.0


def cache_folder() -> Path:
    base = QtCore.QStandardPaths.writableLocation(QtCore.QStandardPaths.StandardLocation.CacheLocation)
    return Path(base) / "runs"


def _size(path: Path) -> int:
    total = 0
    for extra in ("", "-wal", "-shm"):
        with contextlib.suppress(OSError):
            total += os.path.getsize(f"{path}{extra}")
    return total


def _busy(path: Path, now: float) -> bool:
    try:
        return now - os.path.getmtime(f"{path}-wal") < BUSY_S
    except OSError:
        return False


def prune(folder: Path, keep: set[Path] = frozenset(), max_runs: int = MAX_RUNS,
          max_bytes: int = MAX_BYTES) -> list[Path]:
    """Delete the oldest run files of ``folder`` until at most ``max_runs`` remain within
    ``max_bytes``; files in ``keep`` and files being written are never deleted. Returns those deleted."""
    try:
        runs = sorted((p for p in folder.iterdir() if p.suffix == SUFFIX and p.is_file()),
                      key=lambda p: (p.stat().st_mtime_ns, p.name))
    except OSError:
        return []
    keep = {Path(k).resolve() for k in keep}
    now = time.time()
    sizes = {p: _size(p) for p in runs}
    count, total = len(runs), sum(sizes.values())
    deleted = []
    for path in runs:
        if count <= max_runs and total <= max_bytes:
            break
        if path.resolve() in keep or _busy(path, now):
            continue
        try:
            for extra in ("-wal", "-shm", ""):
                with contextlib.suppress(FileNotFoundError):
                    os.remove(f"{path}{extra}")
        except OSError:
            continue
        count, total = count - 1, total - sizes[path]
        deleted.append(path)
    return deleted


def new_run_path(preset: str | None, folder: Path | None = None, keep: set[Path] = frozenset(),
                 max_runs: int = MAX_RUNS, max_bytes: int = MAX_BYTES) -> Path | None:
    """A fresh file name for a new run, after making room for it; None if the folder can't be made."""
    folder = cache_folder() if folder is None else folder
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    prune(folder, keep, max_runs - 1, max_bytes)
    now = time.time()
    name = time.strftime("%Y-%m-%d_%H-%M-%S", time.localtime(now)) + f".{int(now * 1e6) % 1_000_000:06d}_" + re.sub(r"[^A-Za-z0-9_.-]+", "-", preset or "custom")
    path, n = folder / (name + SUFFIX), 1
    while path.exists():
        n += 1
        path = folder / f"{name}-{n}{SUFFIX}"
    return path
