"""Run and open_run: read a run file, also while its writer is still appending.

    with open_run("run.vgviz") as run:
        run.step, run.loss                       # every recorded step
        run.series("grad_l2")                    # (rows, P): older steps as bucket means
        run.snapshot(1200)                       # the StepStats of the nearest full capture
        if run.refresh(): ...                    # the writer committed new rows

Every query opens the file read-only; any SQLite error on the way becomes RunFileError.
"""
from __future__ import annotations

import functools
import json
import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np

from ..measure.stats import PARAM_STATS, StepStats
from .format import FORMAT, SCHEMA_VERSION, RunFileError, StoragePolicy, decode_capture, from_bfloat16
from .model import ModelDescription

_SQLITE_MAGIC = b"SQLite format 3\x00"


@dataclass(frozen=True)
class RunEvent:
    step: int
    kind: str       # "clipped", "diverged", "finished", "failed", …
    detail: str


def _database_errors(method):
    """SQLite errors (a damaged page, a file cut short) as one RunFileError line."""
    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except sqlite3.DatabaseError as e:
            raise RunFileError(f"{self.path}: damaged run file ({_one_line(e)})") from None
    return wrapper


def _one_line(error: Exception) -> str:
    return " ".join(str(error).split()) or type(error).__name__


def _check_header(path: Path) -> None:
    """Not a file, not SQLite, or shorter than its header says (with no WAL beside it,
    whose pages would be the rest)."""
    if not path.exists():
        raise RunFileError(f"{path}: no such file")
    if not path.is_file():
        raise RunFileError(f"{path}: not a file")
    try:
        with open(path, "rb") as f:
            header = f.read(100)
    except OSError as e:
        raise RunFileError(f"{path}: can't read ({e.strerror or e})") from None
    if len(header) < 100 or not header.startswith(_SQLITE_MAGIC):
        raise RunFileError(f"{path}: not a vgviz run file")
    page_size = int.from_bytes(header[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    pages = int.from_bytes(header[28:32], "big")
    pages_valid = header[24:28] == header[92:96] and pages > 0
    if pages_valid and not Path(f"{path}-wal").exists():
        expected, size = pages * page_size, path.stat().st_size
        if size < expected:
            raise RunFileError(f"{path}: truncated run file ({size} of {expected} bytes)")


class Run:
    """A run file, read lazily; refresh() picks up what a writer committed since."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        _check_header(self.path)
        try:
            self._db = sqlite3.connect(f"file:{quote(str(self.path.resolve()))}?mode=ro", uri=True,
                                       check_same_thread=False)
        except sqlite3.Error as e:
            raise RunFileError(f"{self.path}: can't open ({_one_line(e)})") from None
        try:
            self._read_meta()
        except BaseException:
            self._db.close()
            raise
        self._cache: dict[str, Any] = {}
        self._data_version = self._version()

    def _read_meta(self) -> None:
        try:
            meta = dict(self._db.execute("SELECT key, value FROM meta").fetchall())
        except sqlite3.OperationalError as e:
            if "no such table" in str(e):
                raise RunFileError(f"{self.path}: not a vgviz run file (an SQLite database "
                                   "without a vgviz run in it)") from None
            raise RunFileError(f"{self.path}: damaged run file ({_one_line(e)})") from None
        except sqlite3.DatabaseError as e:
            raise RunFileError(f"{self.path}: damaged run file ({_one_line(e)})") from None
        if meta.get("format") != FORMAT:
            raise RunFileError(f"{self.path}: not a vgviz run file")
        try:
            version = int(meta["schema_version"])
        except (KeyError, ValueError):
            raise RunFileError(f"{self.path}: damaged run file (no schema version)") from None
        if version > SCHEMA_VERSION:
            raise RunFileError(f"{self.path}: written by a newer vgviz (run file version {version}; "
                               f"this vgviz reads up to {SCHEMA_VERSION}): upgrade vgviz to open it")
        try:
            self.config: dict | None = json.loads(meta["config"])
            model = json.loads(meta["model"])
            self.model: ModelDescription | None = ModelDescription.from_json(model) if model else None
            self.param_names: tuple[str, ...] = tuple(json.loads(meta["param_names"]))
            self.layer_names: tuple[str, ...] = tuple(json.loads(meta["layer_names"]))
            self.stat_names: tuple[str, ...] = tuple(json.loads(meta["param_stats"]))
            self.policy = StoragePolicy.from_json(json.loads(meta["policy"]))
            self.created: str = meta.get("created", "")
        except (KeyError, ValueError, TypeError) as e:
            raise RunFileError(f"{self.path}: damaged run file (metadata: {_one_line(e)})") from None

    # -- freshness --------------------------------------------------------------------------
    def _version(self) -> int:
        try:
            return self._db.execute("PRAGMA data_version").fetchone()[0]
        except sqlite3.DatabaseError as e:
            raise RunFileError(f"{self.path}: damaged run file ({_one_line(e)})") from None

    def refresh(self) -> bool:
        """True if a writer committed since the last look; the properties re-read lazily."""
        version = self._version()
        if version == self._data_version:
            return False
        self._data_version = version
        self._cache.clear()
        return True

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> "Run":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- per-step numbers -------------------------------------------------------------------
    def _cached(self, key: str, load):
        if key not in self._cache:
            self._cache[key] = load()
        return self._cache[key]

    @_database_errors
    def _load_steps(self) -> dict[str, np.ndarray]:
        rows = self._db.execute("SELECT step, loss, accuracy FROM steps ORDER BY first_step").fetchall()
        if not rows:
            return {"step": np.zeros(0, np.int64), "loss": np.zeros(0, np.float32),
                    "accuracy": np.zeros(0, np.float32)}
        return {"step": np.concatenate([np.frombuffer(r[0], "<i8") for r in rows]),
                "loss": np.concatenate([np.frombuffer(r[1], "<f4") for r in rows]),
                "accuracy": np.concatenate([np.frombuffer(r[2], "<f4") for r in rows])}

    @property
    def step(self) -> np.ndarray:
        """(n,) int64: every recorded step."""
        return self._cached("steps", self._load_steps)["step"]

    @property
    def loss(self) -> np.ndarray:
        return self._cached("steps", self._load_steps)["loss"]

    @property
    def accuracy(self) -> np.ndarray:
        return self._cached("steps", self._load_steps)["accuracy"]

    @property
    def steps(self) -> int:
        """How many steps were recorded."""
        return len(self.step)

    @_database_errors
    def _load_series(self, name: str) -> dict[str, np.ndarray]:
        if name not in self.stat_names:
            raise KeyError(f"{name!r}: not a per-parameter statistic; known: {', '.join(self.stat_names)}")
        row = self.stat_names.index(name)
        shape = (len(self.stat_names), len(self.param_names))
        bucket = self.policy.bucket
        steps, values, low, high = [], [], [], []
        for first, n, step_blob, stats, s_min, s_mean, s_max in self._db.execute(
                "SELECT first_step, n, step, stats, stats_min, stats_mean, stats_max FROM steps "
                "ORDER BY first_step"):
            if stats is not None:
                part = from_bfloat16(stats, (n,) + shape)[:, row]
                steps.append(np.frombuffer(step_blob, "<i8"))
                values.append(part), low.append(part), high.append(part)
            else:
                nb = -(-n // bucket)
                step_values = np.frombuffer(step_blob, "<i8")
                starts = np.arange(nb) * bucket
                ends = np.minimum(starts + bucket, n) - 1
                steps.append((step_values[starts] + step_values[ends]) // 2)
                values.append(from_bfloat16(s_mean, (nb,) + shape)[:, row])
                low.append(from_bfloat16(s_min, (nb,) + shape)[:, row])
                high.append(from_bfloat16(s_max, (nb,) + shape)[:, row])
        if not steps:
            empty = np.zeros((0, len(self.param_names)), np.float32)
            return {"steps": np.zeros(0, np.int64), "values": empty, "low": empty, "high": empty}
        return {"steps": np.concatenate(steps), "values": np.concatenate(values),
                "low": np.concatenate(low), "high": np.concatenate(high)}

    def series(self, name: str) -> np.ndarray:
        """(rows, len(param_names)) float32 of one PARAM_STATS row: one row per step where
        every step is kept, one per bucket (its mean) where the policy thinned them."""
        return self._cached(f"series:{name}", lambda: self._load_series(name))["values"]

    def envelope(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """(min, max) over each row of series(name): equal to it where every step is kept."""
        data = self._cached(f"series:{name}", lambda: self._load_series(name))
        return data["low"], data["high"]

    @property
    def series_steps(self) -> np.ndarray:
        """(rows,) the step of each series row (a bucket's middle step)."""
        return self._cached(f"series:{PARAM_STATS[0]}", lambda: self._load_series(PARAM_STATS[0]))["steps"]

    # -- evaluations and events ---------------------------------------------------------------
    @property
    @_database_errors
    def evals(self) -> np.ndarray:
        """(n, 3): step, test loss, test accuracy."""
        def load():
            rows = self._db.execute("SELECT step, test_loss, test_accuracy FROM evals ORDER BY step").fetchall()
            return np.array([[np.nan if v is None else v for v in r] for r in rows],
                            dtype=np.float64).reshape(-1, 3)
        return self._cached("evals", load)

    @property
    @_database_errors
    def events(self) -> list[RunEvent]:
        return self._cached("events", lambda: [RunEvent(int(s), k, d) for s, k, d in self._db.execute(
            "SELECT step, kind, detail FROM events ORDER BY step, id")])

    # -- full captures ------------------------------------------------------------------------
    @property
    @_database_errors
    def capture_steps(self) -> np.ndarray:
        return self._cached("captures", lambda: np.array(
            [r[0] for r in self._db.execute("SELECT step FROM captures ORDER BY step")], dtype=np.int64))

    @_database_errors
    def snapshot(self, step: int) -> StepStats | None:
        """The StepStats of the full capture nearest to `step` (None if there is none).
        Each layer's |dL/dW| holds its strongest policy.edges_per_layer entries, 0 elsewhere."""
        steps = self.capture_steps
        if len(steps) == 0:
            return None
        nearest = int(steps[np.argmin(np.abs(steps - step))])
        row = self._db.execute("SELECT header, arrays FROM captures WHERE step = ?", (nearest,)).fetchone()
        if row is None:   # thinned by the writer since capture_steps was read
            self._cache.pop("captures", None)
            return self.snapshot(step)
        try:
            return decode_capture(row[0], row[1])
        except (ValueError, KeyError, TypeError, IndexError) as e:
            raise RunFileError(f"{self.path}: damaged capture at step {nearest} ({_one_line(e)})") from None

    # -- decision boundaries ------------------------------------------------------------------
    @property
    @_database_errors
    def surface_steps(self) -> np.ndarray:
        """The steps a decision boundary was stored at (none in a file written before the
        `surfaces` table, or of a model without a 2-D input plane)."""
        def load():
            has_table = self._db.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'surfaces'").fetchone()
            rows = self._db.execute("SELECT step FROM surfaces ORDER BY step") if has_table else ()
            return np.array([r[0] for r in rows], dtype=np.int64)
        return self._cached("surfaces", load)

    @_database_errors
    def surface(self, step: int):
        """The decision boundary stored at or before `step` (a DecisionSurface), or None."""
        from ..tasks.trainer import DecisionSurface   # imports torch: only when asked

        steps = self.surface_steps
        before = steps[steps <= step]
        if len(before) == 0:
            return None
        at = int(before[-1])
        row = self._db.execute("SELECT extent, shape, predicted, confidence FROM surfaces WHERE step = ?",
                               (at,)).fetchone()
        if row is None:   # thinned by the writer since surface_steps was read
            self._cache.pop("surfaces", None)
            return self.surface(step)
        try:
            extent, shape = tuple(json.loads(row[0])), tuple(json.loads(row[1]))
            predicted = np.frombuffer(row[2], dtype="u1").reshape(shape).astype(np.int64)
            confidence = np.frombuffer(row[3], dtype="<f4").reshape(shape)
        except (ValueError, TypeError) as e:
            raise RunFileError(f"{self.path}: damaged decision boundary at step {at} ({_one_line(e)})") from None
        return DecisionSurface(extent, predicted, confidence, at)

    # -- weights ------------------------------------------------------------------------------
    @property
    @_database_errors
    def weight_steps(self) -> np.ndarray:
        return self._cached("weights", lambda: np.array(
            [r[0] for r in self._db.execute("SELECT DISTINCT step FROM weights ORDER BY step")], dtype=np.int64))

    @_database_errors
    def weights(self, step: int) -> dict[str, np.ndarray]:
        """The checkpoint at or before `step` (the first one if `step` precedes them all)."""
        steps = self.weight_steps
        if len(steps) == 0:
            raise LookupError(f"{self.path}: no weights saved")
        at = int(steps[max(0, np.searchsorted(steps, step, side="right") - 1)])
        out = {}
        for name, dtype, shape, data in self._db.execute(
                "SELECT name, dtype, shape, data FROM weights WHERE step = ? ORDER BY rowid", (at,)):
            blob_dtype = "<f4" if "float" in dtype else "<i8"   # as RunWriter.save_weights stores them
            out[name] = np.frombuffer(data, blob_dtype).reshape(json.loads(shape)).copy()
        return out


def open_run(path: str | os.PathLike) -> Run:
    """Open a run file for reading; RunFileError (one line) if it can't be read as one."""
    return Run(path)
