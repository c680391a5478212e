"""vgviz.core.layout.network_diagram: the numbers the network diagram draws (no Qt)."""
import math
import subprocess
import sys

import numpy as np
import pytest

from vgviz.core.layout import network_diagram


# -- layout -----------------------------------------------------------------------

def test_layer_sizes_from_edge_matrices():
    edges = [np.zeros((16, 2)), np.zeros((8, 16)), np.zeros((3, 8))]
    assert network_diagram.layer_sizes(edges) == [2, 16, 8, 3]
    with pytest.raises(ValueError, match="inputs"):
        network_diagram.layer_sizes([np.zeros((16, 2)), np.zeros((8, 15))])


@pytest.mark.parametrize("sizes", [[2, 16, 16, 3], [1], [2, 1, 1], [2] + [512] * 3 + [3], [2] + [64] * 20 + [3]])
def test_node_positions_inside_rect_columns_left_to_right(sizes):
    rect = (10.0, 20.0, 400.0, 300.0)
    pos = network_diagram.node_positions(sizes, rect, max_spacing=30)
    assert [len(p) for p in pos] == sizes
    xs = [p[0, 0] for p in pos]
    assert all(a < b for a, b in zip(xs, xs[1:]))
    for p in pos:
        assert np.all(p[:, 0] > 10) and np.all(p[:, 0] < 410)
        assert np.all(p[:, 1] > 20) and np.all(p[:, 1] < 320)
        assert np.all(np.diff(p[:, 1]) > 0)                 # top to bottom, no overlap
        assert np.allclose(p[:, 1].mean(), 170.0)           # centred vertically


def test_max_spacing_caps_small_columns():
    lay = network_diagram.layout_nodes([2, 4], (0, 0, 100, 1000), max_spacing=30)
    assert np.allclose(np.diff(lay.y[1]), 30)
    lay = network_diagram.layout_nodes([2, 4], (0, 0, 100, 1000))
    assert np.allclose(np.diff(lay.y[1]), 250)


# -- colour binning -----------------------------------------------------------------

def test_bin_log_matches_formula():
    lo, hi, k = 1e-8, 1e-1, 64
    rng = np.random.default_rng(1)
    v = 10.0 ** rng.uniform(-7.99, -1.01, 1000)
    want = np.floor(k * (np.log10(v) - math.log10(lo)) / (math.log10(hi) - math.log10(lo))).astype(int)
    assert np.array_equal(network_diagram.bin_log(v, lo, hi, k), want)


def test_bin_log_bucket_boundaries():
    lo, hi, k = 1e-6, 1e-2, 4          # one decade per bucket
    v = np.array([1e-6 * 1.0001, 1e-5 * 1.0001, 1e-4 * 1.0001, 1e-3 * 1.0001, 9.9e-3])
    assert network_diagram.bin_log(v, lo, hi, k).tolist() == [0, 1, 2, 3, 3]
    edges = network_diagram.bucket_edges(lo, hi, k)
    assert np.allclose(edges, [1e-6, 1e-5, 1e-4, 1e-3, 1e-2])


def test_bin_log_ends_clip_and_odd_values():
    lo, hi, k = 1e-8, 1e-1, 32
    v = np.array([0.0, 1e-30, 1e-8, 1e-1, 5.0, np.inf, np.nan, -1.0])
    assert network_diagram.bin_log(v, lo, hi, k).tolist() == [0, 0, 0, 31, 31, 31, 0, 0]


def test_bin_log_rejects_bad_range():
    with pytest.raises(ValueError):
        network_diagram.bin_log(np.ones(3), 0.0, 1.0, 8)
    with pytest.raises(ValueError):
        network_diagram.bin_log(np.ones(3), 1.0, 0.5, 8)


# -- colour range ---------------------------------------------------------------------

def test_default_range_deep_sigmoid_like_uses_eight_decades():
    # layer typical magnitudes 1e-9 ... 1e-1 as in a deep sigmoid net at step 0
    layers = [np.full((16, 16), 10.0 ** e) * np.linspace(0.5, 2, 256).reshape(16, 16) for e in range(-9, 0)]
    lo, hi = network_diagram.default_color_range(layers)
    assert hi == pytest.approx(1.0)        # max 2e-1 -> ceil -> 1e0
    assert lo == pytest.approx(1e-8)       # capped at 8 decades
    layers = [np.full((4, 4), 3e-5), np.full((4, 4), 8e-2)]
    lo, hi = network_diagram.default_color_range(layers)
    assert (lo, hi) == (pytest.approx(1e-5), pytest.approx(1e-1))   # weakest median 3e-5 -> 1e-5; 4 decades


def test_default_range_minimum_span_and_fallbacks():
    lo, hi = network_diagram.default_color_range([np.full((4, 4), 0.03)])
    assert hi == pytest.approx(0.1) and lo == pytest.approx(1e-5)      # at least 4 decades
    assert network_diagram.default_color_range(None) == (1e-8, 1e-1)
    assert network_diagram.default_color_range([np.zeros((3, 3))]) == (1e-8, 1e-1)
    lo, hi = network_diagram.default_color_range([np.array([np.nan, np.inf, 2e-3, 0.0])])
    assert hi == pytest.approx(1e-2)


# -- edge reduction -------------------------------------------------------------------

def _net(sizes, seed=0):
    rng = np.random.default_rng(seed)
    return [(rng.random((o, i)) * 10.0 ** -l).astype(np.float32) for l, (i, o) in enumerate(zip(sizes, sizes[1:]))]


def test_no_reduction_under_budget():
    edges = _net([2, 8, 8, 3])
    sel = network_diagram.reduce_edges(edges, budget=1000)
    assert not sel.reduced and sel.kept == sel.total == 2 * 8 + 8 * 8 + 8 * 3
    assert network_diagram.describe_selection(sel) == "all 104 edges"


@pytest.mark.parametrize("sizes,budget", [([2] + [64] * 20 + [3], 4000), ([2] + [128] * 6 + [3], 1000),
                                          ([2, 512, 3], 300), ([2] + [64] * 3 + [3], 5)])
def test_reduction_keeps_strongest_per_pair_within_budget(sizes, budget):
    edges = _net(sizes)
    sel = network_diagram.reduce_edges(edges, budget=budget)
    assert sel.reduced
    assert sel.kept <= budget
    assert sel.total == sum(e.size for e in edges)
    for e, idx in zip(edges, sel.indices):
        flat = e.ravel()
        assert len(idx) >= 1                                   # every layer pair represented
        assert np.all(np.diff(idx) > 0)                        # ascending, unique
        if len(idx) < flat.size:                               # the strongest of this pair
            assert flat[idx].min() >= np.delete(flat, idx).max()


def test_fair_share_gives_small_pairs_all_their_edges():
    edges = _net([2, 64, 64, 64, 3])       # pairs of 128, 4096, 4096, 192 edges
    sel = network_diagram.reduce_edges(edges, budget=1000)
    kept = [len(i) for i in sel.indices]
    assert kept[0] == 128 and kept[3] == 192
    assert kept[1] + kept[2] == 1000 - 128 - 192 and abs(kept[1] - kept[2]) <= 1


def test_fair_quotas():
    assert network_diagram.fair_quotas([10, 1000, 1000], 1000 + 10).tolist() == [10, 500, 500]
    assert network_diagram.fair_quotas([5, 5], 100).tolist() == [5, 5]
    q = network_diagram.fair_quotas([100, 100, 100], 10)
    assert q.sum() == 10 and q.min() >= 3
    with pytest.raises(ValueError):
        network_diagram.fair_quotas([10, 10, 10], 2)


def test_strongest_exact_with_many_zeros_and_nans():
    rng = np.random.default_rng(3)
    a = rng.random(50_000).astype(np.float32)
    a[rng.random(50_000) < 0.7] = 0.0                           # ReLU-like: most gradients exactly 0
    a[:10] = np.nan
    for k in (1, 50, 500, 5000):
        idx = network_diagram.strongest(a, k)
        assert len(idx) == k and np.all(np.diff(idx) > 0)
        want = np.sort(np.argsort(np.nan_to_num(a, nan=-1.0))[-k:])
        assert np.array_equal(np.sort(a[idx]), np.sort(a[want]))
    z = np.zeros(1000, dtype=np.float32)
    z[5] = 1.0
    idx = network_diagram.strongest(z, 3)
    assert len(idx) == 3 and 5 in idx                            # positives first, then zeros


def test_sentence_mentions_counts_and_strips():
    edges = _net([2] + [64] * 20 + [3])
    sel = network_diagram.reduce_edges(edges, budget=4000)
    text = network_diagram.describe_selection(sel)
    assert text == ("showing the strongest 4,000 of 78,144 edges (per layer pair); "
                    "node colour uses every neuron")
    text = network_diagram.describe_selection(sel, strip_sizes=[512, 512])
    assert "512 neurons drawn as strips" in text


def test_network_diagram_layout_imports_no_qt():
    code = ("import sys, vgviz.core.layout.network_diagram; "
            "bad = [m for m in sys.modules if m.startswith(('PySide6', 'pyqtgraph', 'shiboken'))]; "
            "print(bad); sys.exit(1 if bad else 0)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
