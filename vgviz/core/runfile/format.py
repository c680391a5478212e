"""The run file's format: schema, version, storage policy and array encodings (docs/runfile.md).

Arrays are raw little-endian blobs; their shapes live in JSON or in the row. Nothing
is pickled: reading a run file never runs code from it.
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np

from ..measure.stats import StepStats

FORMAT = "vgviz-run"
SCHEMA_VERSION = 1

SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE steps (
    first_step INTEGER PRIMARY KEY, last_step INTEGER NOT NULL, n INTEGER NOT NULL,
    step BLOB NOT NULL, loss BLOB NOT NULL, accuracy BLOB NOT NULL,
    stats BLOB, stats_min BLOB, stats_mean BLOB, stats_max BLOB);
CREATE TABLE captures (step INTEGER PRIMARY KEY, header TEXT NOT NULL, arrays BLOB NOT NULL);
CREATE TABLE evals (step INTEGER PRIMARY KEY, test_loss REAL, test_accuracy REAL);
CREATE TABLE events (id INTEGER PRIMARY KEY, step INTEGER NOT NULL, kind TEXT NOT NULL,
                     detail TEXT NOT NULL);
CREATE TABLE weights (step INTEGER NOT NULL, name TEXT NOT NULL, dtype TEXT NOT NULL,
                      shape TEXT NOT NULL, data BLOB NOT NULL, PRIMARY KEY (step, name));
CREATE TABLE surfaces (step INTEGER PRIMARY KEY, extent TEXT NOT NULL, shape TEXT NOT NULL,
                       predicted BLOB NOT NULL, confidence BLOB NOT NULL);
"""
# `surfaces` came after version 1's first files: a reader finds it missing in those (no new
# version: readers ignore tables they do not know, and one that knows it checks it is there).


class RunFileError(Exception):
    """A file that can't be read as a vgviz run: its message is one line for the user."""


@dataclass(frozen=True)
class StoragePolicy:
    """What a run file keeps (defaults: a 10⁶-step 20×64 MLP run stays under 100 MB)."""

    keep_first: int = 10_000        # steps below this keep every step's param_stats
    recent: int = 10_000            # …and so do the newest `recent` steps
    bucket: int = 100               # older steps: min/mean/max per `bucket` consecutive steps
    max_captures: int = 500         # full captures kept, thinned over the older part of the run
    max_surfaces: int = 100         # decision boundaries kept (~20 KB each), thinned the same way
    edges_per_layer: int = 256      # |dL/dW| kept per layer pair: the strongest ones
    commit_interval_s: float = 0.5  # a kill -9 loses at most about this much

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "StoragePolicy":
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


# -- bfloat16: float32's range with 8 significant bits -----------------------------------------
# float16 would flush gradients below 6e-8 to zero: the vanishing gradients this app shows.

def to_bfloat16(values: np.ndarray) -> bytes:
    """The upper 16 bits of each float32 (rounded to nearest even), little-endian."""
    f32 = np.ascontiguousarray(values, dtype="<f4")
    bits = f32.view("<u4")
    with np.errstate(over="ignore"):
        rounded = ((bits + (0x7FFF + ((bits >> 16) & 1))) >> 16).astype("<u2")
    rounded[np.isnan(f32)] = 0x7FC0
    return rounded.tobytes()


def from_bfloat16(blob: bytes, shape: tuple[int, ...]) -> np.ndarray:
    halves = np.frombuffer(blob, dtype="<u2")
    return (halves.astype("<u4") << 16).view("<f4").reshape(shape)


def dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


# -- a full capture: every StepStats field, arrays as float32 ----------------------------------

def _json_value(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_json_value(v) for v in value]
    if isinstance(value, (np.floating, float)):
        return float(value)
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    return value


def _tuples(value: Any) -> Any:
    return tuple(_tuples(v) for v in value) if isinstance(value, list) else value


def encode_capture(stats: StepStats, edges_per_layer: int) -> tuple[str, bytes]:
    """(JSON header, blob) of a StepStats. Each layer's |dL/dW| keeps its strongest
    `edges_per_layer` entries (flat indices as int32, values as float32)."""
    scalars: dict[str, Any] = {}
    arrays: list[list] = []        # [field, index or -1, shape, byte offset]
    edges: list[list] = []         # [layer, shape, kept, index offset or -1, value offset]
    parts: list[bytes] = []
    offset = 0

    def put(data: np.ndarray) -> int:
        nonlocal offset
        raw = data.tobytes()
        parts.append(raw)
        start, offset = offset, offset + len(raw)
        return start

    for f in fields(stats):
        value = getattr(stats, f.name)
        if f.name == "edge_abs" and value is not None:
            scalars["edge_abs"] = len(value)
            for layer, matrix in enumerate(value):
                flat = np.ascontiguousarray(matrix, dtype="<f4").reshape(-1)
                if flat.size > edges_per_layer:
                    kept = np.argpartition(flat, flat.size - edges_per_layer)[-edges_per_layer:]
                    kept.sort()
                    index_at = put(kept.astype("<i4"))
                    edges.append([layer, list(matrix.shape), len(kept), index_at, put(flat[kept])])
                else:
                    edges.append([layer, list(matrix.shape), flat.size, -1, put(flat)])
        elif isinstance(value, np.ndarray):
            arrays.append([f.name, -1, list(value.shape), put(np.ascontiguousarray(value, dtype="<f4"))])
        elif isinstance(value, tuple) and value and isinstance(value[0], np.ndarray):
            scalars[f.name] = len(value)
            for i, item in enumerate(value):
                arrays.append([f.name, i, list(item.shape), put(np.ascontiguousarray(item, dtype="<f4"))])
        elif f.name == "delta_mean_abs":       # the empty tuple of a light step
            scalars[f.name] = 0
        else:
            scalars[f.name] = _json_value(value)
    header = {"scalars": scalars, "arrays": arrays, "edges": edges}
    return json.dumps(header, separators=(",", ":")), b"".join(parts)


def decode_capture(header_text: str, blob: bytes) -> StepStats:
    header = json.loads(header_text)
    scalars, known = header["scalars"], {f.name for f in fields(StepStats)}
    tuple_fields = {"delta_mean_abs", "edge_abs", "layer_timestep_grad"}
    values: dict[str, Any] = {}
    sequences: dict[str, list] = {}
    for name, value in scalars.items():
        if name not in known:
            continue                      # written by a later vgviz with more fields
        if name in tuple_fields:
            sequences[name] = [None] * value if value is not None else None
        else:
            values[name] = _tuples(value)
    for name, index, shape, at in header["arrays"]:
        if name not in known:
            continue
        count = math.prod(shape)
        array = np.frombuffer(blob, dtype="<f4", count=count, offset=at).reshape(shape).astype(np.float64)
        if index < 0:
            values[name] = array
        else:
            sequences.setdefault(name, [None] * (index + 1))
            sequences[name][index] = array
    for layer, shape, kept, index_at, value_at in header["edges"]:
        matrix = np.zeros(math.prod(shape), dtype=np.float32)
        edge_values = np.frombuffer(blob, dtype="<f4", count=kept, offset=value_at)
        if index_at < 0:
            matrix[:] = edge_values
        else:
            matrix[np.frombuffer(blob, dtype="<i4", count=kept, offset=index_at)] = edge_values
        sequences["edge_abs"][layer] = matrix.reshape(shape)
    for name, items in sequences.items():
        values[name] = None if items is None else tuple(items)
    values.setdefault("delta_mean_abs", ())
    values.setdefault("edge_abs", None)
    for name in ("layer_names", "param_names"):
        if name in values:
            values[name] = tuple(values[name])
    values["skip_connections"] = tuple(tuple(pair) for pair in values.get("skip_connections", ()))
    return StepStats(**values)
