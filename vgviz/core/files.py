"""Writing a file so that a failure never costs the user the old one.

Every file vgviz writes (pictures, animations, config files) is written under a temporary
name beside its target, checked, synced to the disk and only then moved onto the target with
os.replace: a full disk, a killed process or a writer that fails leaves the old file as it
was. Errors are one line (``WriteError``) that says why in words a user can act on. Plain
Python: no Qt, no torch.
"""
from __future__ import annotations

import contextlib
import errno
import os
import re
import shutil
import tempfile
import time
from pathlib import Path
from typing import Callable, Iterator


class WriteError(Exception):
    """A file that could not be written: one line saying why; any old file is kept."""


# the OS reasons a user can act on, in words; any other error keeps the system's own wording
_REASONS = {errno.ENOSPC: "no space left on the device",
            errno.EFBIG: "the file is too large for the device (or for this process's file size limit)",
            getattr(errno, "EDQUOT", -1): "the disk quota is used up"}


def describe_os_error(err: OSError) -> str:
    return _REASONS.get(err.errno) or err.strerror or str(err)


# Temporary names carry the writer's process id, e.g. .vgviz-4711-k2j4h1x0.png,
# .vgviz-frames-4711-abcd1234/, .vgviz-old-4711-abcd1234/. A process killed during an
# export (kill -9, a power cut) leaves them behind; the next export to that folder removes
# those that are stale: the exact names vgviz makes, untouched for STALE_AGE_S, and whose
# writer is no longer running on this machine. The age also protects a live export from
# another machine on a shared folder (its pid means nothing here): a writer touches its
# file at least once per frame. Where a pid cannot be checked safely (Windows: os.kill
# would end the process) only a much older age counts.
STALE_AGE_S = 10 * 60
STALE_AGE_UNCHECKED_S = 24 * 60 * 60
_TEMP_NAME = re.compile(r"\.vgviz-(?:frames-|old-)?(\d+)-[a-z0-9_]{8}(?:\.[A-Za-z0-9]{1,4})?")


def temp_prefix(kind: str = "") -> str:
    return f".vgviz-{kind}{os.getpid()}-"


def _writer_running(pid: int) -> bool | None:
    """Is process ``pid`` running on this machine? None where that cannot be asked."""
    if os.name != "posix":
        return None
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:            # EPERM: it runs, as another user
        return True
    return True


def clean_stale_temporaries(folder: str) -> list[str]:
    """Remove what killed exports left in ``folder`` (see above); returns the names removed."""
    removed = []
    now = time.time()
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        match = _TEMP_NAME.fullmatch(entry.name)
        if match is None or entry.is_symlink():
            continue
        try:
            age = now - entry.stat(follow_symlinks=False).st_mtime
        except OSError:
            continue
        running = _writer_running(int(match.group(1)))
        if running or age < (STALE_AGE_UNCHECKED_S if running is None else STALE_AGE_S):
            continue
        if entry.is_dir(follow_symlinks=False):
            shutil.rmtree(entry.path, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                os.remove(entry.path)
        if not os.path.lexists(entry.path):
            removed.append(entry.name)
    return removed


def target_folder(path: str) -> str:
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.exists(folder):
        parent = folder
        while parent and not os.path.exists(parent):
            parent = os.path.dirname(parent)
        if parent and not os.path.isdir(parent):
            raise WriteError(f"cannot write {path}: {parent} is a file, not a folder")
        raise WriteError(f"cannot write {path}: the folder {folder} does not exist")
    if not os.path.isdir(folder):
        raise WriteError(f"cannot write {path}: {folder} is a file, not a folder")
    return folder


def chmod_like_new(path: str, mode: int) -> None:
    """mkstemp/mkdtemp make private files; give the result the permissions a plain open() would."""
    mask = os.umask(0)
    os.umask(mask)
    with contextlib.suppress(OSError):
        os.chmod(path, mode & ~mask)


def sync_file(path: str) -> None:
    """Flush ``path`` to the disk (whoever wrote it): a crash after the rename must not
    leave a file of the right name with nothing in it. A failure here is a failed write."""
    with open(path, "rb+") as fh:
        os.fsync(fh.fileno())


def sync_folder(folder: str) -> None:
    """Make a rename in ``folder`` durable (POSIX; best effort, the data itself is synced)."""
    if os.name != "posix":
        return
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def write_bytes(path: str, data: bytes) -> None:
    """Write with Python I/O, so a full disk raises the OSError that says so (ENOSPC, EFBIG…)."""
    with open(path, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = "",
                verify: Callable[[str], None] | None = None) -> Iterator[str]:
    """A temporary file beside ``path`` to write. When the block succeeds the file is
    checked (not empty, and ``verify(tmp)``, which raises WriteError, passes), synced to
    the disk and moved onto ``path``; on any failure it is removed and ``path`` is left as it
    was. OSErrors become WriteError."""
    path = os.fspath(path)
    if os.path.isdir(path):
        raise WriteError(f"cannot write {path}: it is a folder")
    folder = target_folder(path)
    clean_stale_temporaries(folder)
    try:
        fd, tmp = tempfile.mkstemp(prefix=temp_prefix(), suffix=suffix or Path(path).suffix, dir=folder)
        os.close(fd)
    except OSError as err:
        raise WriteError(f"cannot write {path}: {describe_os_error(err)}") from None
    try:
        yield tmp
        if os.path.getsize(tmp) == 0:
            raise WriteError(f"cannot write {path}: nothing was written")
        if verify is not None:
            verify(tmp)
        sync_file(tmp)
        chmod_like_new(tmp, 0o666)
        os.replace(tmp, path)
        sync_folder(folder)
    except OSError as err:
        raise WriteError(f"cannot write {path}: {describe_os_error(err)}") from None
    finally:
        with contextlib.suppress(OSError):
            if os.path.exists(tmp):
                os.remove(tmp)
