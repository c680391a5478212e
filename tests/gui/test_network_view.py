"""NetworkView: the gradient-coloured network diagram (offscreen, pytest-qt)."""
import numpy as np
import pytest
from PySide6 import QtCore, QtGui

from vgviz.core.config import RunConfig
from vgviz.core.presets import load_preset
from vgviz.core.tasks import make_trainer
from vgviz.gui.network_view import NetworkView, layer_colors


@pytest.fixture(scope="module")
def sigmoid_run():
    """Stats of the deep-sigmoid preset at step 0 and after 20 updates."""
    trainer = make_trainer(load_preset("deep-sigmoid").config)
    first = trainer.step()
    for _ in range(19):
        trainer.step()
    return first, trainer.step()


@pytest.fixture(scope="module")
def relu_stats():
    """Step 0 of the deep-relu-he preset: same topology as deep-sigmoid, other magnitudes."""
    return make_trainer(load_preset("deep-relu-he").config).step()


@pytest.fixture
def view(qtbot):
    w = NetworkView()
    qtbot.addWidget(w)
    w.resize(1000, 600)
    return w


def distinct_colours(img: QtGui.QImage, step: int = 2) -> int:
    img = img.convertToFormat(QtGui.QImage.Format.Format_RGB32)
    ptr = img.constBits()
    arr = np.frombuffer(ptr, dtype=np.uint32, count=img.width() * img.height()).reshape(img.height(), img.width())
    return len(np.unique(arr[::step, ::step]))


def test_buckets_change_between_steps(view, sigmoid_run):
    first, later = sigmoid_run
    view.show_stats(first)
    b0 = view.drawn_edge_buckets()
    n_edges = sum(e.size for e in first.edge_abs)
    assert view.drawn_edge_count() == len(b0) == n_edges
    view.show_stats(later)
    b20 = view.drawn_edge_buckets()
    assert b0.shape == b20.shape
    assert not np.array_equal(b0, b20)
    assert f"all {n_edges:,} edges" in view.caption() and "step 21" in view.caption()  # 20 updates before it, then its own


def test_deep_sigmoid_early_layers_darker(view, sigmoid_run):
    first, _ = sigmoid_run
    view.show_stats(first)
    n_pairs = first.n_layers
    means = [view.drawn_edge_buckets(l).mean() for l in range(n_pairs)]
    assert means[0] < means[-1] - 0.5 * 64           # well below: half the colour scale apart
    assert means[0] < means[n_pairs // 2] < means[-1]
    assert view.node_buckets(0).mean() < view.node_buckets(n_pairs - 1).mean()


def test_grab_is_not_blank(view, sigmoid_run):
    view.show_stats(sigmoid_run[0])
    img = view.grab().toImage()
    assert img.width() == 1000 and img.height() == 600
    assert distinct_colours(img) > 50


def test_empty_view_paints(view):
    img = view.grab().toImage()
    assert distinct_colours(img) > 2          # background and the "no run yet" text
    assert view.color_range() is None and view.drawn_edge_count() == 0


def test_node_tooltip_has_exact_value(view, qtbot, sigmoid_run):
    first, _ = sigmoid_run
    view.show()
    qtbot.waitExposed(view)
    view.show_stats(first)
    pos = view.node_position(2, 5)
    value = float(first.delta_mean_abs[2][5])
    expected = f"hidden3 · neuron 5 · mean |δ| = {value:.3e}"
    assert view.tooltip_at(pos) == expected
    qtbot.mouseMove(view, pos.toPoint())
    qtbot.waitUntil(lambda: view.hover_text() == expected, timeout=2000)
    assert "input" in view.tooltip_at(view.node_position(-1, 0))


def test_edge_tooltip_names_layers_indices_and_value(view, sigmoid_run):
    first, _ = sigmoid_run
    view.show_stats(first)
    layer, j, i = 3, 7, 2                     # hidden3 -> hidden4, w[7, 2]
    a, b = view.node_position(layer - 1, i), view.node_position(layer, j)
    pos = a * 0.7 + b * 0.3
    value = float(first.edge_abs[layer][j, i])
    assert view.tooltip_at(pos) == f"hidden3 → hidden4 · w[7, 2] · |dL/dW| = {value:.3e}"
    assert view.tooltip_at(QtCore.QPointF(2, 590)) == ""


def test_layer_header_tooltip(view, sigmoid_run):
    first, _ = sigmoid_run
    view.show_stats(first)
    x = view.node_position(7, 0).x()
    text = view.tooltip_at(QtCore.QPointF(x, 12))
    assert text.startswith("hidden8 · 16 neurons") and f"{first.grad_l2[7]:.3e}" in text


def test_big_network_is_reduced_and_paints(qtbot):
    w = NetworkView(edge_budget=4000)
    qtbot.addWidget(w)
    w.resize(1000, 600)
    stats = make_trainer(RunConfig(depth=50, width=128, activation="relu", batch_size=16)).step()
    w.show_stats(stats)
    assert w.drawn_edge_count() <= 4000
    assert all(len(w.drawn_edge_buckets(l)) >= 1 for l in range(stats.n_layers))
    total = sum(e.size for e in stats.edge_abs)
    assert total > 800_000
    assert f"strongest 4,000 of {total:,} edges (per layer pair)" in w.caption()
    img = w.grab().toImage()
    assert distinct_colours(img) > 20
    assert w.last_paint_ms < 500


def test_nodes_only_without_edges(view):
    stats = make_trainer(RunConfig(depth=3, width=8), capture_edges=False).step()
    view.show_stats(stats)
    assert view.drawn_edge_count() == 0
    assert "nodes only" in view.caption()
    assert distinct_colours(view.grab().toImage()) > 10
    assert "hidden1 · neuron 0" in view.tooltip_at(view.node_position(0, 0))


def test_range_locked_per_run_and_reset_unlocks(view, sigmoid_run, relu_stats):
    first, later = sigmoid_run
    view.show_stats(first)
    locked = view.color_range()
    assert locked == (pytest.approx(1e-9), pytest.approx(1e-1))
    relu = relu_stats
    view.show_stats(relu)
    assert view.color_range() == locked                          # still the first stats' range
    view.reset()
    assert view.color_range() is None and view.drawn_edge_count() == 0
    view.show_stats(relu)
    assert view.color_range() != locked
    assert view.color_range()[0] > locked[0]


def test_auto_range_refits_every_frame(view, sigmoid_run, relu_stats):
    first, _ = sigmoid_run
    view.show_stats(first)
    relu = relu_stats
    view.set_auto_range(True)
    view.show_stats(relu)
    auto = view.color_range()
    assert auto != (pytest.approx(1e-9), pytest.approx(1e-1))
    view.set_auto_range(False)                                   # locks at what is shown
    view.show_stats(first)
    assert view.color_range() == auto


def test_layer_colours(view, sigmoid_run):
    cols = layer_colors(9)
    assert len(cols) == 9 and len({c.name() for c in cols}) == 9
    assert all(c.lightnessF() > 0.5 for c in cols)          # readable on the dark background
    assert layer_colors(0) == [] and len(layer_colors(1)) == 1
    view.show_stats(sigmoid_run[0])
    view.set_layer_colors([QtGui.QColor(255, 0, 0)] * 9)
    img = view.grab().toImage().convertToFormat(QtGui.QImage.Format.Format_RGB32)
    arr = np.frombuffer(img.constBits(), dtype=np.uint32, count=1000 * 600).reshape(600, 1000)
    assert (arr[:40] == 0xFFFF0000).sum() > 20               # the labels are drawn in the layer colour


def test_non_finite_gradients_are_marked(view, sigmoid_run):
    import dataclasses
    _, later = sigmoid_run
    bad = dataclasses.replace(
        later, diverged=True,
        edge_abs=tuple(np.full(e.shape, np.nan, dtype=e.dtype) for e in later.edge_abs),
        delta_mean_abs=tuple(np.full(d.shape, np.inf) for d in later.delta_mean_abs))
    view.show_stats(bad)
    assert np.all(view.drawn_edge_buckets() == 64) and np.all(view.node_buckets(0) == 64)
    assert "DIVERGED" in view.caption() and "magenta = NaN/inf" in view.caption()
    assert distinct_colours(view.grab().toImage()) > 10
