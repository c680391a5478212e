"""Saving a copy of a run file, also one that is being written: SQLite's online backup API reads
a consistent snapshot through a reader's connection (whole commits only), into a temporary file
beside the target that replaces it only once complete (vgviz.core.files.atomic_path)."""
from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from urllib.parse import quote

from ..files import WriteError, atomic_path
from .format import RunFileError
from .reader import open_run


def save_copy(source: str | os.PathLike, target: str | os.PathLike) -> None:
    """Copy the run file ``source`` to ``target`` as one self-contained file (no -wal).
    RunFileError if ``source`` is not a readable run file, WriteError if ``target`` can't be written."""
    if Path(target).resolve() == Path(source).resolve():
        raise WriteError(f"cannot write {target}: it is the run file being copied")
    open_run(source).close()   # a bad source is a RunFileError before anything is written

    def verify(tmp: str) -> None:
        try:
            open_run(tmp).close()
        except RunFileError as err:
            raise WriteError(f"cannot write {target}: the copy does not read back ({err})") from None

    with atomic_path(target, verify=verify) as tmp:
        src = sqlite3.connect(f"file:{quote(str(Path(source).resolve()))}?mode=ro", uri=True)
        dst = sqlite3.connect(tmp)
        try:
            src.backup(dst)
            dst.execute("PRAGMA journal_mode=DELETE")   # one file, whatever mode the source was in
        except sqlite3.Error as err:
            raise WriteError(f"cannot write {target}: {err}") from None
        finally:
            dst.close()
            src.close()
