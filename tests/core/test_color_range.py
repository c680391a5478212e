"""The colour range modes and the relative-to-output view, as numbers (no Qt)."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from vgviz.core.layout.color_range import RangeError, SharedRange, parse_range, relative_to_output, union_range
from vgviz.core.layout.scene import NetworkScene, TimelineScene
from vgviz.core.measure.stats import StepStats
from vgviz.core.presets import PresetError, _parse_preset, load_preset, preset_range

from .test_scene import log_buckets, make_stats


@pytest.mark.parametrize("text, expected", [("1e-9:1e-1", (1e-9, 0.1)), (" 1e-5 … 1 ", (1e-5, 1.0)),
                                            ("0.001..0.1", (1e-3, 0.1))])
def test_a_typed_range_is_parsed(text, expected):
    assert parse_range(text) == pytest.approx(expected)


@pytest.mark.parametrize("text", ["", "1e-3", "a:b", "1:0.1", "0:1", "-1:1", "1e-3:inf", "nan:1", "1:2:3", "1:1"])
def test_a_bad_range_is_refused_with_one_clear_line(text):
    with pytest.raises(RangeError) as err:
        parse_range(text)
    assert "\n" not in str(err.value) and "LO" in str(err.value)


def test_per_run_mode_keeps_step_0_and_auto_refits():
    scene = NetworkScene(edge_budget=500)
    scene.update(make_stats(0))
    first = scene.range
    scene.update(make_stats(5, scale=1e-4, seed=1))
    assert scene.range == first and scene.range_step == 0 and scene.range_tag() == "step 0"
    scene.set_mode("auto")
    scene.update(make_stats(6, scale=1e-4, seed=1))
    assert scene.range[1] < first[1] and scene.range_step == 6
    assert "re-fitted every frame" in scene.legend()


def test_fixed_mode_uses_the_typed_range_for_every_run():
    scene = NetworkScene(edge_budget=500)
    scene.set_mode("fixed", (1e-9, 1e-1))
    scene.update(make_stats(0, scale=1e-6))
    assert scene.range == (1e-9, 1e-1)
    scene.reset()                               # a new run keeps the mode and the range
    scene.update(make_stats(0, scale=10.0, seed=3))
    assert scene.range == (1e-9, 1e-1) and scene.range_tag() == "fixed"
    with pytest.raises(ValueError):
        scene.set_mode("fixed", (1.0, 0.1))


def test_shared_mode_keeps_one_range_for_every_scene_until_reset():
    shared = SharedRange()
    a, b, unrolled = NetworkScene(edge_budget=500), NetworkScene(edge_budget=500), TimelineScene()
    for scene in (a, b, unrolled):
        scene.shared = shared
        scene.set_mode("shared")
    a.update(make_stats(0))
    b.update(make_stats(0, scale=1e-5, seed=2))            # another run, other magnitudes: same range
    unrolled.update(StepStats(step=0, loss=1.0, accuracy=0.5, diverged=False, layer_names=("rnn",),
                              grad_mean_abs=np.ones(1), grad_l2=np.ones(1), delta_l2=np.ones(1),
                              delta_mean_abs=(), edge_abs=None, timestep_grad=np.array([1e-30, 1e-29])))
    assert a.range == b.range == unrolled.range == shared.range
    shared.reset()
    b.reset()
    b.update(make_stats(0, scale=1e-5, seed=2))
    assert b.range != a.range and shared.range == b.range


def test_a_preset_range_replaces_the_step_0_fit():
    scene = NetworkScene(edge_budget=500)
    scene.preset_range = (1e-9, 1e-1)
    scene.update(make_stats(0, scale=10.0))
    assert scene.range == (1e-9, 1e-1) and "set by the preset" in scene.legend()
    sigmoid = load_preset("deep-sigmoid")
    assert sigmoid.color_range == load_preset("deep-relu-he").color_range == (1e-9, 1e-1)
    # the preset's network with any steps or seed (a live render and its run file agree); not another network
    assert preset_range(replace(sigmoid.config, steps=6, seed=3)) == (1e-9, 1e-1)
    assert preset_range(replace(sigmoid.config, depth=3)) is None and preset_range(None) is None
    with pytest.raises(PresetError, match="color_range"):
        _parse_preset("bad", 'color_range = [1, "x"]\n[config]\n')
    with pytest.raises(PresetError, match="0 < LO < HI"):
        _parse_preset("bad", "color_range = [1.0, 0.5]\n[config]\n")


def _stats(grad_mean_abs, grad_l2, deltas, edges, loss=1.0, accuracy=0.5) -> StepStats:
    n = len(grad_mean_abs)
    return StepStats(step=7, loss=loss, accuracy=accuracy, diverged=False,
                     layer_names=tuple(f"hidden{i + 1}" for i in range(n - 1)) + ("output",),
                     grad_mean_abs=np.array(grad_mean_abs), grad_l2=np.array(grad_l2), delta_l2=np.ones(n),
                     delta_mean_abs=tuple(np.array(d) for d in deltas),
                     edge_abs=tuple(np.array(e) for e in edges))


def test_relative_mode_divides_by_the_output_layers_gradient_at_the_same_step():
    # two inputs → 2 hidden → 1 output; by hand: the output layer's mean |dL/dW| is 0.02,
    # its mean |δ| is 0.5, its ‖dL/dW‖ is 0.04
    stats = _stats([2e-6, 0.02], [4e-6, 0.04], [[1e-5, 3e-5], [0.5]],
                   [[[1e-6, 3e-6], [2e-6, 2e-6]], [[0.01, 0.03]]])
    rel = relative_to_output(stats)
    np.testing.assert_allclose(rel.grad_mean_abs, [1e-4, 1.0])
    np.testing.assert_allclose(rel.grad_l2, [1e-4, 1.0])
    np.testing.assert_allclose(rel.edge_abs[0], [[5e-5, 1.5e-4], [1e-4, 1e-4]])
    np.testing.assert_allclose(rel.edge_abs[1], [[0.5, 1.5]])
    np.testing.assert_allclose(rel.delta_mean_abs[0], [2e-5, 6e-5])
    scene = NetworkScene()
    scene.relative = True
    scene.update(stats)
    np.testing.assert_allclose(scene.edge_values[:4], [5e-5, 1.5e-4, 1e-4, 1e-4])
    assert scene.source is stats and "÷ output" in scene.colorbar_title()
    assert "each layer ÷ the output layer's" in scene.legend()
    assert scene.layer_label(0, scene.stats)[1] == "‖∇W‖ 1.0e-04× out"
    # an output layer with no gradient: no quotient, not a crash
    zero = relative_to_output(_stats([1e-6, 0.0], [1e-6, 0.0], [[1e-5, 1e-5], [0.0]],
                                     [[[1e-6, 1e-6], [1e-6, 1e-6]], [[0.0, 0.0]]]))
    assert np.isnan(zero.grad_mean_abs).all()


def test_relative_view_keeps_vanishing_visible_after_convergence_and_the_caption_says_converged():
    # converged: every gradient is tiny, but the first layer is still 10⁴× below the output
    stats = _stats([1e-9, 1e-5], [1e-9, 1e-5], [[1e-9, 1e-9], [1e-5]],
                   [[[1e-9, 1e-9], [1e-9, 1e-9]], [[1e-5, 1e-5]]], loss=0.01, accuracy=1.0)
    absolute, relative = NetworkScene(), NetworkScene()
    relative.relative = True
    for scene in (absolute, relative):
        scene.preset_range = (1e-9, 1e-1)       # a lecture's absolute scale (the relative view fits its own)
        scene.update(stats)
    assert "small gradients everywhere mean convergence, not vanishing" in absolute.caption()
    assert "(R: relative to the output layer)" in absolute.caption()
    assert "(R: relative" not in relative.caption() and "convergence, not vanishing" in relative.caption()
    # on the absolute scale even the output layer is in the lower half of the colours: "everything
    # vanished"; relative, the output layer is at the top and the first layer 4 decades below it
    assert absolute.edge_buckets[-1] <= absolute.n_buckets // 2
    lo, hi = relative.range
    assert relative.edge_buckets[-1] == relative.n_buckets - 1 == log_buckets(np.array([1.0]), lo, hi, 64)[0]
    assert lo <= 1e-4 and relative.edge_buckets[0] == log_buckets(np.array([1e-4]), lo, hi, 64)[0]
    not_converged = _stats([1e-9, 1e-5], [1e-9, 1e-5], [[1e-9, 1e-9], [1e-5]],
                           [[[1e-9, 1e-9], [1e-9, 1e-9]], [[1e-5, 1e-5]]], loss=0.69, accuracy=0.5)
    absolute.update(not_converged)
    assert "converged" not in absolute.caption()


def test_a_range_shared_by_several_runs_covers_them_all():
    assert union_range([(1e-9, 1e-3), (1e-6, 1e-1)]) == (1e-9, 1e-1)
    shared = SharedRange()
    assert shared.take_all(iter([(1e-5, 1e-2), (1e-7, 1e-3)])) == (1e-7, 1e-2) == shared.range
    with pytest.raises(ValueError):
        union_range([])
