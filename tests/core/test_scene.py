"""The diagram scenes without Qt: edge selection, colour range and buckets against numpy done by hand."""
from __future__ import annotations

import math

import numpy as np

from vgviz.core.layout.scene import LIVE_EDGE_BUDGET, NetworkScene, TimelineScene
from vgviz.core.measure.stats import StepStats

SIZES = [2, 30, 30, 30, 4]     # edges per pair: 60, 900, 900, 120 = 1,980


def make_stats(step: int, scale: float = 1.0, seed: int = 0, sizes: list[int] = SIZES,
               nan_edge: bool = False) -> StepStats:
    rng = np.random.default_rng(seed)
    # distinct magnitudes over ~7 decades, so "the strongest N" has one answer
    edges = list(scale * 10.0 ** rng.uniform(-8, -1, size=(n_out, n_in)) for n_in, n_out in zip(sizes, sizes[1:]))
    if nan_edge:
        edges[2][0, 0] = np.nan
    nodes = tuple(scale * 10.0 ** rng.uniform(-8, -1, size=n) for n in sizes[1:])
    n = len(edges)
    return StepStats(step=step, loss=1.0, accuracy=0.5, diverged=False,
                     layer_names=tuple(f"hidden{i + 1}" for i in range(n - 1)) + ("output",),
                     grad_mean_abs=np.ones(n), grad_l2=np.ones(n), delta_l2=np.ones(n),
                     delta_mean_abs=nodes, edge_abs=tuple(edges))


def log_buckets(values: np.ndarray, lo: float, hi: float, k: int) -> np.ndarray:
    t = (np.log10(values) - math.log10(lo)) / (math.log10(hi) - math.log10(lo)) * k
    return np.clip(np.floor(t), 0, k - 1).astype(int)


def test_the_strongest_edges_of_each_pair_and_their_buckets_match_numpy():
    scene = NetworkScene(n_buckets=64, edge_budget=500)
    stats = make_stats(0)
    scene.update(stats)
    # a fair split of 500 over pairs of 60, 900, 900, 120: the small pairs keep everything,
    # the two big ones share the remaining 320
    expected = [np.arange(60), None, None, np.arange(120)]
    for pair in (1, 2):
        flat = stats.edge_abs[pair].ravel()
        expected[pair] = np.sort(np.argsort(-flat)[:160])
    for got, want in zip(scene.selection.indices, expected):
        np.testing.assert_array_equal(got, want)
    lo, hi = scene.range
    top = max(float(e.max()) for e in stats.edge_abs)
    assert hi == 10.0 ** math.ceil(math.log10(top))
    drawn = np.concatenate([e.ravel()[i] for e, i in zip(stats.edge_abs, expected)])
    np.testing.assert_array_equal(scene.edge_buckets, log_buckets(drawn, lo, hi, 64))
    for layer, nodes in enumerate(stats.delta_mean_abs):
        np.testing.assert_array_equal(scene.node_buckets[layer], log_buckets(nodes, lo, hi, 64))
    np.testing.assert_array_equal(scene.drawn_edge_buckets(3), log_buckets(stats.edge_abs[3].ravel(), lo, hi, 64))
    assert "showing the strongest 500 of 1,980 edges" in scene.caption()


def test_the_colour_range_is_fixed_at_the_first_step_unless_auto():
    scene = NetworkScene(edge_budget=500)
    scene.update(make_stats(0))
    first = scene.range
    scene.update(make_stats(10, scale=1e3, seed=1))      # 1,000x stronger gradients
    assert scene.range == first and scene.range_step == 0
    assert "fixed for this run at step 0" in scene.legend()
    assert (scene.edge_buckets == 63).mean() > 0.3       # off the top of the locked scale
    scene.auto = True
    scene.update(make_stats(20, scale=1e3, seed=1))
    assert scene.range[1] == first[1] * 1e3 and scene.range_step == 20
    assert "re-fitted every frame" in scene.legend()


def test_a_live_scene_draws_at_most_the_live_budget_and_non_finite_edges_are_red():
    scene = NetworkScene(edge_budget=8000)
    scene.live = True
    assert scene.drawn_budget == LIVE_EDGE_BUDGET
    small = [2, 16, 16, 16, 16, 4]                              # 864 edges: under the live budget
    scene.update(make_stats(0, sizes=small, nan_edge=True))
    assert len(scene.edge_buckets) == 864 < LIVE_EDGE_BUDGET and (scene.edge_buckets == scene.n_buckets).sum() == 1
    assert "magenta = NaN/inf" in scene.caption()
    scene.update(make_stats(1, sizes=[2, 64, 64, 64, 4]))     # 8,576 edges
    assert len(scene.edge_buckets) == LIVE_EDGE_BUDGET and scene.selection.reduced
    scene.live = False
    scene.update(make_stats(2, sizes=[2, 64, 64, 64, 4]))
    assert len(scene.edge_buckets) == 8000


def test_timeline_buckets_match_numpy_and_mark_zero_nan_and_unreached():
    scene = TimelineScene(n_buckets=64)
    values = np.array([0.0, 1e-12, 3e-7, 2e-3, 0.09, np.inf])
    stats = StepStats(step=5, loss=1.0, accuracy=0.5, diverged=False, layer_names=("rnn",),
                      grad_mean_abs=np.ones(1), grad_l2=np.ones(1), delta_l2=np.ones(1),
                      delta_mean_abs=(np.ones(1),), edge_abs=None, timestep_grad=values)
    scene.update(stats)
    lo, hi = scene.range
    buckets = scene.bin(values)
    np.testing.assert_array_equal(buckets[1:5], log_buckets(values[1:5], lo, hi, 64))
    assert buckets[0] == scene.zero_bucket == 64 and buckets[5] == 65
    assert scene.range_step == 5 and "fixed for this run at step 5" in scene.legend(any_zero=True)
    assert "green = exactly 0" in scene.legend(any_zero=True)
    scene.frame = object()            # a stepper frame: NaN means not reached yet
    assert scene.bin(np.array([np.nan]))[0] == scene.unlit_bucket == 66


def test_the_timeline_relative_to_its_last_step_and_its_converged_note():
    scene = TimelineScene(n_buckets=64)
    values = np.array([1e-9, 1e-6, 1e-3])
    stats = StepStats(step=5000, loss=1e-4, accuracy=1.0, diverged=False, layer_names=("rnn",),
                      grad_mean_abs=np.ones(1), grad_l2=np.ones(1), delta_l2=np.ones(1),
                      delta_mean_abs=(np.ones(1),), edge_abs=None, timestep_grad=values)
    scene.update(stats)
    absolute = scene.range
    assert "converged: small gradients everywhere mean convergence, not vanishing (R: " in scene.caption(1)
    scene.relative = True
    scene.update(stats)                              # each step ÷ the last one's, on a range fitted again
    np.testing.assert_allclose(scene.values, [1e-6, 1e-3, 1.0])
    assert scene.range != absolute and scene.range[0] <= 1e-6 and scene.range[1] >= 1.0
    assert "÷ the last one's" in scene.legend(any_zero=False) and "÷ last" in scene.colorbar_title()
    assert "(R: " not in scene.caption(1)
    zero_last = StepStats(**{**stats.__dict__, "timestep_grad": np.array([1e-3, 0.0])})
    scene.update(zero_last)
    assert np.isnan(scene.values).all()              # nothing to divide by

def test_the_drawn_edges_are_chosen_once_per_stats_and_budget_and_forgotten_with_the_stats():
    """The training thread chooses a full capture's edges (prepare_edges) and the GUI thread's
    frame finds them: the same object, equal to choosing them again, until the stats are gone."""
    import gc

    from vgviz.core.layout import network_diagram as topo
    from vgviz.core.layout import scene as scenes

    stats = make_stats(0, sizes=[2, 64, 64, 64, 4])    # 8,448 edges: more than the live budget
    scenes.prepare_edges(stats)
    scene = NetworkScene()
    scene.live = True
    scene.update(stats)
    prepared = scenes.drawn_edges(stats, LIVE_EDGE_BUDGET)
    assert scene.drawn is prepared and scene.edge_values is prepared.values
    again = topo.reduce_edges(stats.edge_abs, LIVE_EDGE_BUDGET)
    assert all(np.array_equal(a, b) for a, b in zip(prepared.selection.indices, again.indices))
    assert prepared.selection.kept == LIVE_EDGE_BUDGET
    pair_of_edge = np.repeat(np.arange(4), [len(i) for i in again.indices])
    assert np.array_equal(prepared.pair, pair_of_edge)
    assert np.array_equal(prepared.flat, np.concatenate(again.indices))
    paused = scenes.drawn_edges(stats, 4000)           # another budget: chosen again
    assert paused.selection.kept == 4000 and scenes.drawn_edges(stats, 4000) is paused
    key = id(stats)
    del stats, scene
    gc.collect()
    assert key not in scenes._DRAWN
