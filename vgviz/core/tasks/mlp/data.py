"""Embedded 2-D data sets, generated from a seed: nothing is downloaded."""
from __future__ import annotations

import numpy as np

from ..dataset import N_SAMPLES, TEST_FRACTION, Dataset


def _spiral(rng, n):
    # Two interleaved arms, 1.75 turns each: hard for a linear model, easy for a deep one.
    half = n // 2
    t = np.sqrt(rng.uniform(0, 1, half)) * 1.75 * 2 * np.pi
    arm = np.stack([t * np.cos(t), t * np.sin(t)], 1) / (1.75 * 2 * np.pi)
    x = np.concatenate([arm, -arm]) + rng.normal(0, 0.03, (2 * half, 2))
    y = np.repeat([0, 1], half)
    return x, y, 2


def _moons(rng, n):
    half = n // 2
    a = rng.uniform(0, np.pi, half)
    b = rng.uniform(0, np.pi, n - half)
    upper = np.stack([np.cos(a), np.sin(a)], 1)
    lower = np.stack([1 - np.cos(b), 0.5 - np.sin(b)], 1)
    x = np.concatenate([upper, lower]) + rng.normal(0, 0.1, (n, 2))
    x = (x - [0.5, 0.25]) / 1.2
    return x, np.repeat([0, 1], [half, n - half]), 2


def _circles(rng, n):
    half = n // 2
    angle = rng.uniform(0, 2 * np.pi, n)
    radius = np.concatenate([np.full(half, 0.4), np.full(n - half, 0.9)])
    x = np.stack([np.cos(angle), np.sin(angle)], 1) * radius[:, None] + rng.normal(0, 0.06, (n, 2))
    return x, np.repeat([0, 1], [half, n - half]), 2


def _xor(rng, n):
    x = rng.uniform(-1, 1, (n, 2))
    x += np.sign(x) * 0.05  # a small gap along the axes
    y = ((x[:, 0] > 0) ^ (x[:, 1] > 0)).astype(np.int64)
    return x, y, 2


def _blobs(rng, n):
    centres = np.array([[-0.6, -0.5], [0.6, -0.5], [0.0, 0.6]])
    y = rng.integers(0, 3, n)
    x = centres[y] + rng.normal(0, 0.22, (n, 2))
    return x, y, 3


_GENERATORS = {"spiral": _spiral, "moons": _moons, "circles": _circles, "xor": _xor, "blobs": _blobs}


def load_digits() -> tuple[np.ndarray, np.ndarray]:
    """The real 8×8 handwritten digits (1,797 images, UCI optdigits test set, CC BY 4.0),
    shipped in resources/ — pixels scaled from 0..16 to 0..1."""
    import gzip
    import io
    from importlib import resources

    packed = resources.files("vgviz.resources").joinpath("digits.csv.gz").read_bytes()
    table = np.loadtxt(io.StringIO(gzip.decompress(packed).decode("ascii")), delimiter=",")
    return table[:, :-1] / 16.0, table[:, -1].astype(np.int64)


def make_dataset(name: str, seed: int, n: int = N_SAMPLES) -> Dataset:
    """A 2-D data set (or the digits) by name; the sequence task is vgviz.core.tasks.recurrent.data's."""
    if name == "digits":
        x, y = load_digits()
        n_classes = 10
        rng = np.random.default_rng(seed)
    elif name in _GENERATORS:
        rng = np.random.default_rng(seed)
        x, y, n_classes = _GENERATORS[name](rng, n)
    else:
        raise ValueError(f"unknown dataset {name!r}; known: {', '.join(_GENERATORS)}, digits")
    order = rng.permutation(len(x))
    x = x[order].astype(np.float32)
    y = np.asarray(y)[order].astype(np.int64)
    n_test = int(round(len(x) * TEST_FRACTION))
    return Dataset(name, x[n_test:], y[n_test:], x[:n_test], y[:n_test], n_classes)
