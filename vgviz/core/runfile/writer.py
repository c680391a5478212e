"""RunWriter: appends a training run to a run file (SQLite in WAL mode, one writer).

Steps are buffered in memory and written as one row of blobs per commit; commits come
at least every policy.commit_interval_s (from append calls, and from a timer thread
while nothing is appended), so a kill -9 loses about that much and never leaves a
file that won't open: SQLite's WAL makes every commit atomic.
"""
from __future__ import annotations

import os
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch

from ..measure.stats import PARAM_STATS, StepStats
from .format import (FORMAT, SCHEMA, SCHEMA_VERSION, StoragePolicy, dumps, encode_capture,
                     from_bfloat16, to_bfloat16)
from .model import ModelDescription

COMPACT_ROWS = 20_000   # steps compacted in one pass: ~20 MB of float32 for 42 tensors


class RunWriter:
    def __init__(self, path: str | os.PathLike, config: Mapping[str, Any] | None = None,
                 model: ModelDescription | None = None, *, param_names: tuple[str, ...] | None = None,
                 layer_names: tuple[str, ...] = (), overwrite: bool = False,
                 policy: StoragePolicy | None = None):
        self.path = Path(path)
        self.policy = policy or StoragePolicy()
        if param_names is None:
            param_names = model.trainable_names if model is not None else ()
        self.param_names = tuple(param_names)
        self.layer_names = tuple(layer_names)
        if self.path.exists() or self.path.is_symlink():
            if not overwrite:
                raise FileExistsError(f"{self.path}: exists (overwrite=True replaces it)")
            for suffix in ("", "-wal", "-shm", "-journal"):
                Path(str(self.path) + suffix).unlink(missing_ok=True)
        self._db = sqlite3.connect(str(self.path), isolation_level=None, check_same_thread=False)
        self._lock = threading.RLock()
        db = self._db
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")   # a commit survives a killed process
        db.execute("BEGIN")
        for statement in SCHEMA.split(";"):
            if statement.strip():
                db.execute(statement)
        meta = {"format": FORMAT, "schema_version": str(SCHEMA_VERSION),
                "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                "config": dumps(dict(config) if config is not None else None),
                "model": dumps(model.to_json() if model is not None else None),
                "param_names": dumps(list(self.param_names)),
                "param_stats": dumps(list(PARAM_STATS)),
                "layer_names": dumps(list(self.layer_names)),
                "policy": dumps(self.policy.to_json())}
        db.executemany("INSERT INTO meta VALUES (?, ?)", meta.items())
        db.execute("COMMIT")
        db.execute("BEGIN")
        self._pending_steps: list[int] = []
        self._pending_loss: list[float] = []
        self._pending_accuracy: list[float] = []
        self._pending_stats: list[np.ndarray] = []
        self._last_step = -1
        self._newest_step = -1
        self._dirty = False
        self._captures = 0
        self._surfaces = 0
        self._last_commit = time.monotonic()
        self._closed = False
        self._stop = threading.Event()
        self._timer = threading.Thread(target=self._commit_while_idle, name="vgviz-run-writer",
                                       daemon=True)
        self._timer.start()

    # -- appending ----------------------------------------------------------------------------
    def append_step(self, step: int, loss: float, accuracy: float, param_stats: np.ndarray) -> None:
        """One training step: its loss, accuracy and (6, P) PARAM_STATS. Steps must increase."""
        with self._lock:
            self._check_open()
            if step <= self._last_step:
                raise ValueError(f"step {step} after step {self._last_step}: steps must increase")
            self._last_step = step
            self._pending_steps.append(step)
            self._pending_loss.append(loss)
            self._pending_accuracy.append(accuracy)
            self._pending_stats.append(param_stats)
            self._dirty = True
            if time.monotonic() - self._last_commit >= self.policy.commit_interval_s:
                self._commit()

    def append_steps(self, steps: np.ndarray, loss: np.ndarray, accuracy: np.ndarray,
                     param_stats: np.ndarray) -> None:
        """Many steps at once: (n,) steps, loss, accuracy and (n, 6, P) param_stats."""
        steps = np.asarray(steps, dtype=np.int64)
        with self._lock:
            self._check_open()
            if len(steps) == 0:
                return
            if steps[0] <= self._last_step or np.any(np.diff(steps) <= 0):
                raise ValueError("steps must increase")
            self._flush_pending()
            self._write_steps(steps, np.asarray(loss), np.asarray(accuracy), np.asarray(param_stats))
            self._last_step = int(steps[-1])
            self._compact()
            self._dirty = True
            if time.monotonic() - self._last_commit >= self.policy.commit_interval_s:
                self._commit()

    def append_capture(self, step: int, stats: StepStats) -> None:
        """A full capture (δ, edges, forward signal, …) of one step, thinned to the policy."""
        header, blob = encode_capture(stats, self.policy.edges_per_layer)
        with self._lock:
            self._check_open()
            self._db.execute("INSERT OR REPLACE INTO captures VALUES (?, ?, ?)", (int(step), header, blob))
            self._captures += 1
            if self._captures > self.policy.max_captures:
                self._captures = self._thin("captures", self.policy.max_captures)
            self._dirty = True

    def append_surface(self, surface) -> None:
        """A decision boundary (vgviz.core.tasks.trainer.DecisionSurface: the predicted class
        and its probability on the grid the window draws), thinned to the policy."""
        predicted = np.ascontiguousarray(surface.predicted, dtype="u1")
        confidence = np.ascontiguousarray(surface.confidence, dtype="<f4")
        with self._lock:
            self._check_open()
            self._db.execute("INSERT OR REPLACE INTO surfaces VALUES (?, ?, ?, ?, ?)",
                             (int(surface.step), dumps([float(v) for v in surface.extent]),
                              dumps(list(predicted.shape)), predicted.tobytes(), confidence.tobytes()))
            self._surfaces += 1
            if self._surfaces > self.policy.max_surfaces:
                self._surfaces = self._thin("surfaces", self.policy.max_surfaces)
            self._dirty = True

    def append_eval(self, step: int, test_loss: float, test_accuracy: float) -> None:
        with self._lock:
            self._check_open()
            self._db.execute("INSERT OR REPLACE INTO evals VALUES (?, ?, ?)",
                             (int(step), float(test_loss), float(test_accuracy)))
            self._dirty = True

    def append_event(self, step: int, kind: str, detail: str = "") -> None:
        """"clipped", "diverged", "finished", "failed", …"""
        with self._lock:
            self._check_open()
            self._db.execute("INSERT INTO events (step, kind, detail) VALUES (?, ?, ?)",
                             (int(step), str(kind), str(detail)))
            self._dirty = True

    def save_weights(self, step: int, state_dict: Mapping[str, Any]) -> None:
        """Every tensor of a state dict: floats as float32, integers as int64, with shapes."""
        rows = []
        for name, value in state_dict.items():
            tensor = torch.as_tensor(value).detach().cpu()
            if tensor.is_floating_point():
                data = tensor.float().numpy().astype("<f4", copy=False)
            else:
                data = tensor.long().numpy().astype("<i8", copy=False)
            rows.append((int(step), str(name), str(tensor.dtype).removeprefix("torch."),
                         dumps(list(data.shape)), np.ascontiguousarray(data).tobytes()))
        with self._lock:
            self._check_open()
            self._db.executemany("INSERT OR REPLACE INTO weights VALUES (?, ?, ?, ?, ?)", rows)
            self._dirty = True

    # -- committing ---------------------------------------------------------------------------
    def flush(self) -> None:
        """Write and commit everything appended so far."""
        with self._lock:
            self._check_open()
            self._commit()

    def close(self) -> None:
        """Commit, and leave a single file: the journal goes back from WAL to DELETE mode
        (unless a reader holds the file open, which keeps WAL until the last one closes)."""
        with self._lock:
            if self._closed:
                return
            self._commit()
            self._closed = True
            self._stop.set()
            self._db.execute("COMMIT")
            try:
                self._db.execute("PRAGMA journal_mode=DELETE")
            except sqlite3.OperationalError:   # a reader holds it: WAL stays, which is fine
                pass
            self._db.close()
        self._timer.join(timeout=5)

    @property
    def closed(self) -> bool:
        return self._closed

    def __enter__(self) -> "RunWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _check_open(self) -> None:
        if self._closed:
            raise ValueError(f"{self.path}: the writer is closed")

    def _commit_while_idle(self) -> None:
        interval = self.policy.commit_interval_s
        while not self._stop.wait(interval / 2):
            with self._lock:
                if (not self._closed and self._dirty
                        and time.monotonic() - self._last_commit >= interval):
                    self._commit()

    def _commit(self) -> None:
        self._flush_pending()
        self._compact()
        self._db.execute("COMMIT")
        self._db.execute("BEGIN")
        self._dirty = False
        self._last_commit = time.monotonic()

    def _flush_pending(self) -> None:
        if not self._pending_steps:
            return
        self._write_steps(np.array(self._pending_steps, dtype=np.int64),
                          np.array(self._pending_loss), np.array(self._pending_accuracy),
                          np.stack(self._pending_stats))
        self._pending_steps, self._pending_loss = [], []
        self._pending_accuracy, self._pending_stats = [], []

    def _write_steps(self, steps: np.ndarray, loss: np.ndarray, accuracy: np.ndarray,
                     stats: np.ndarray) -> None:
        if stats.shape != (len(steps), len(PARAM_STATS), len(self.param_names)):
            raise ValueError(f"param_stats: expected (n, {len(PARAM_STATS)}, {len(self.param_names)}) "
                             f"values; got {stats.shape}")
        self._db.execute("INSERT INTO steps (first_step, last_step, n, step, loss, accuracy, stats) "
                         "VALUES (?, ?, ?, ?, ?, ?, ?)",
                         (int(steps[0]), int(steps[-1]), len(steps), steps.astype("<i8").tobytes(),
                          loss.astype("<f4").tobytes(), accuracy.astype("<f4").tobytes(),
                          to_bfloat16(stats)))
        self._newest_step = int(steps[-1])

    def _compact(self) -> None:
        """Steps past the first `keep_first` and older than the newest `recent` keep their
        param_stats only as min/mean/max per `bucket` steps (loss and accuracy stay).
        Works through at most COMPACT_ROWS steps at a time (bounded memory)."""
        policy, newest = self.policy, self._newest_step
        eligible = self._db.execute(
            "SELECT first_step, n FROM steps WHERE stats IS NOT NULL "
            "AND first_step >= ? AND last_step < ? ORDER BY first_step",
            (policy.keep_first, newest - policy.recent)).fetchall()
        group: list[int] = []
        total = 0
        for first_step, n in eligible:
            group.append(first_step)
            total += n
            if total >= COMPACT_ROWS:
                self._compact_rows(group)
                group, total = [], 0
        if total >= 8 * policy.bucket:      # merge a few buckets' worth at a time
            self._compact_rows(group)
        self._newest_step = newest

    def _compact_rows(self, first_steps: list[int]) -> None:
        policy = self.policy
        marks = ",".join("?" * len(first_steps))
        rows = self._db.execute(f"SELECT first_step, n, step, loss, accuracy, stats FROM steps "
                                f"WHERE first_step IN ({marks}) ORDER BY first_step", first_steps).fetchall()
        total = sum(row[1] for row in rows)
        shape = (len(PARAM_STATS), len(self.param_names))
        steps = np.concatenate([np.frombuffer(r[2], dtype="<i8") for r in rows])
        loss = np.concatenate([np.frombuffer(r[3], dtype="<f4") for r in rows])
        accuracy = np.concatenate([np.frombuffer(r[4], dtype="<f4") for r in rows])
        stats = np.concatenate([from_bfloat16(r[5], (r[1],) + shape) for r in rows])
        whole = total // policy.bucket * policy.bucket
        buckets = stats[:whole].reshape(-1, policy.bucket, *shape)
        self._db.executemany("DELETE FROM steps WHERE first_step = ?", [(r[0],) for r in rows])
        with np.errstate(invalid="ignore", over="ignore"):
            mean = buckets.mean(axis=1, dtype=np.float32)
        self._db.execute(
            "INSERT INTO steps (first_step, last_step, n, step, loss, accuracy, stats_min, "
            "stats_mean, stats_max) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (int(steps[0]), int(steps[whole - 1]), whole, steps[:whole].tobytes(),
             loss[:whole].tobytes(), accuracy[:whole].tobytes(), to_bfloat16(buckets.min(axis=1)),
             to_bfloat16(mean), to_bfloat16(buckets.max(axis=1))))
        if whole < total:
            self._write_steps(steps[whole:], loss[whole:], accuracy[whole:], stats[whole:])

    def _thin(self, table: str, most: int) -> int:
        """Past ``most`` rows (captures, surfaces): drop every other row of the older part of
        the run (the first one and the newest quarter stay), so they thin out towards the
        start. Returns the rows left."""
        steps = [row[0] for row in self._db.execute(f"SELECT step FROM {table} ORDER BY step")]
        keep_recent = max(1, most // 4)
        older = steps[1:len(steps) - keep_recent]
        dropped = older[1::2]
        self._db.executemany(f"DELETE FROM {table} WHERE step = ?", [(s,) for s in dropped])
        return len(steps) - len(dropped)
