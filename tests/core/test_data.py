"""The embedded 2-D data sets."""
from __future__ import annotations

import numpy as np
import pytest

from vgviz.core.config import DATASETS
from vgviz.core.tasks.dataset import N_SAMPLES
from vgviz.core.tasks.mlp.data import make_dataset

CLASSES = {"spiral": 2, "moons": 2, "circles": 2, "xor": 2, "blobs": 3}


def test_every_config_dataset_exists():
    assert set(DATASETS) == set(CLASSES) | {"digits", "recall"}  # recall: the sequence task (test_recurrent.py)


def test_digits_are_the_real_8x8_images():
    d = make_dataset("digits", 0)
    assert d.n_classes == 10 and d.n_features == 64
    assert len(d.x_train) + len(d.x_test) == 1797
    assert len(d.x_test) == round(1797 * 0.2)
    x = np.concatenate([d.x_train, d.x_test])
    assert x.min() == 0.0 and x.max() == 1.0          # pixels 0..16 scaled to 0..1
    assert np.all(np.isclose(x * 16, np.round(x * 16), atol=1e-5))  # integer counts underneath
    counts = np.bincount(np.concatenate([d.y_train, d.y_test]), minlength=10)
    assert counts.min() >= 170 and counts.max() <= 190   # the optdigits test set: 174..183 per digit
    same = make_dataset("digits", 0)
    assert np.array_equal(same.x_train, d.x_train)
    assert not np.array_equal(make_dataset("digits", 1).y_train, d.y_train)  # the split is seeded


@pytest.mark.parametrize("name", sorted(CLASSES))
def test_shapes_dtypes_and_split(name):
    d = make_dataset(name, 0)
    assert d.name == name
    assert d.n_classes == CLASSES[name]
    assert d.n_features == 2
    assert d.x_train.shape == (800, 2) and d.x_test.shape == (200, 2)
    assert d.y_train.shape == (800,) and d.y_test.shape == (200,)
    assert d.x_train.dtype == np.float32 and d.x_test.dtype == np.float32
    assert d.y_train.dtype == np.int64 and d.y_test.dtype == np.int64
    assert len(d.x_train) + len(d.x_test) == N_SAMPLES
    assert np.all(np.isfinite(d.x_train)) and np.all(np.isfinite(d.x_test))
    # inputs on a scale a network can use without normalisation
    assert np.abs(np.concatenate([d.x_train, d.x_test])).max() < 2.5


@pytest.mark.parametrize("name", sorted(CLASSES))
def test_labels_in_range_and_roughly_balanced(name):
    d = make_dataset(name, 0)
    k = d.n_classes
    y = np.concatenate([d.y_train, d.y_test])
    assert y.min() >= 0 and y.max() < k
    counts = np.bincount(y, minlength=k)
    assert np.all(np.abs(counts / len(y) - 1 / k) < 0.05), counts
    # the shuffled split keeps every class in both parts
    assert set(np.unique(d.y_train)) == set(range(k)) == set(np.unique(d.y_test))
    tr = np.bincount(d.y_train, minlength=k) / len(d.y_train)
    assert np.all(np.abs(tr - 1 / k) < 0.08), tr


@pytest.mark.parametrize("name", sorted(CLASSES))
def test_seeded(name):
    a, b, c = make_dataset(name, 3), make_dataset(name, 3), make_dataset(name, 4)
    for field in ("x_train", "y_train", "x_test", "y_test"):
        assert np.array_equal(getattr(a, field), getattr(b, field))
    assert not np.array_equal(a.x_train, c.x_train)


@pytest.mark.parametrize("name", sorted(CLASSES))
def test_train_and_test_are_disjoint(name):
    d = make_dataset(name, 0)
    train = {tuple(r) for r in d.x_train.tolist()}
    assert not any(tuple(r) in train for r in d.x_test.tolist())


def test_global_numpy_rng_untouched():
    np.random.seed(5)
    state = np.random.get_state()[1].copy()
    make_dataset("blobs", 1)
    assert np.array_equal(np.random.get_state()[1], state)


def test_xor_labels_follow_quadrant_rule():
    d = make_dataset("xor", 0)
    for x, y in ((d.x_train, d.y_train), (d.x_test, d.y_test)):
        assert np.array_equal(y, ((x[:, 0] > 0) ^ (x[:, 1] > 0)).astype(np.int64))
        assert np.abs(x).min() >= 0.05 - 1e-6  # the gap along the axes


def test_circles_inner_class_is_inner():
    d = make_dataset("circles", 0)
    r = np.linalg.norm(d.x_train, axis=1)
    assert r[d.y_train == 0].mean() < 0.5 < 0.8 < r[d.y_train == 1].mean()


def test_unknown_name_raises():
    with pytest.raises(ValueError, match="known: spiral"):
        make_dataset("mnist", 0)
