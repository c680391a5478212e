"""History: bounded memory, even coverage of the whole run, test points."""
from __future__ import annotations

import numpy as np
import pytest

from vgviz.core.measure.history import History
from vgviz.core.measure.stats import StepStats

N_LAYERS = 3


def fake(step: int, test: bool = False) -> StepStats:
    """StepStats whose numbers encode the step, so rows can be checked after decimation."""
    return StepStats(
        step=step, loss=float(step), accuracy=step / 1e6, diverged=False,
        layer_names=("hidden1", "hidden2", "output"),
        grad_mean_abs=np.arange(N_LAYERS) + step * 10.0,
        grad_l2=np.arange(N_LAYERS) + step * 100.0,
        delta_l2=np.zeros(N_LAYERS),
        delta_mean_abs=(np.zeros(4), np.zeros(4), np.zeros(2)),
        edge_abs=None,
        test_loss=step * 0.5 if test else None,
        test_accuracy=step * 1e-7 if test else None,
    )


def check_consistent(h: History, last_step: int) -> None:
    steps = h.steps
    assert len(h) == len(steps) <= h.capacity
    assert steps[0] == 0
    diffs = np.diff(steps)
    assert np.all(diffs == h.stride), (h.stride, np.unique(diffs))
    assert 0 <= last_step - steps[-1] < h.stride  # covers up to the end of the run
    np.testing.assert_array_equal(h.loss, steps.astype(float))
    np.testing.assert_array_equal(h.accuracy, steps / 1e6)
    np.testing.assert_array_equal(h.grad_l2, np.arange(N_LAYERS)[None, :] + steps[:, None] * 100.0)
    np.testing.assert_array_equal(h.grad_mean_abs, np.arange(N_LAYERS)[None, :] + steps[:, None] * 10.0)
    assert h.grad_l2.shape == (len(h), N_LAYERS)


def test_bounded_with_even_coverage_over_a_long_run():
    h = History(N_LAYERS, capacity=64)
    for step in range(10_000):
        h.append(fake(step))
        assert len(h) <= 64
        if step % 997 == 0:
            check_consistent(h, step)
    check_consistent(h, 9_999)
    assert h.stride & (h.stride - 1) == 0  # a power of two
    assert len(h) >= 32  # decimation halves, never empties
    assert h.latest.step == 9_999


def test_below_capacity_keeps_every_step():
    h = History(N_LAYERS, capacity=100)
    for step in range(100):
        h.append(fake(step))
    assert h.stride == 1
    np.testing.assert_array_equal(h.steps, np.arange(100))


@pytest.mark.parametrize("capacity", [2, 3, 5, 7])
def test_small_and_odd_capacities(capacity):
    h = History(N_LAYERS, capacity=capacity)
    for step in range(500):
        h.append(fake(step))
        assert len(h) <= capacity
    check_consistent(h, 499)


@pytest.mark.parametrize("every", [2, 4, 10])
def test_recording_only_every_kth_step_stays_bounded(every):
    # A caller that appends every k-th step: after doubling the stride all kept
    # rows may still be on the new grid, so one decimation frees no room.
    h = History(N_LAYERS, capacity=4)
    last = 0
    for step in range(0, 400 * every, every):
        h.append(fake(step))
        last = step
        assert len(h) <= 4
    steps = h.steps
    assert steps[0] == 0
    assert np.all(np.diff(steps) == np.diff(steps)[0])
    assert last - steps[-1] < h.stride


def test_remeasured_step_is_not_duplicated():
    h = History(N_LAYERS, capacity=10)
    h.append(fake(0))
    h.append(fake(1))
    again = fake(1)
    h.append(again)
    np.testing.assert_array_equal(h.steps, [0, 1])
    assert h.latest is again


def test_test_points_recorded_and_bounded():
    h = History(N_LAYERS, capacity=16)
    expected = []
    for step in range(200):
        scored = step % 5 == 0
        h.append(fake(step, test=scored))
        if scored:
            expected.append((step, step * 0.5, step * 1e-7))
    t = h.test
    assert t.shape[1] == 3 and len(t) <= 16
    # all rows are genuine test points, oldest first, starting at step 0
    assert t[0, 0] == 0
    assert np.all(np.diff(t[:, 0]) > 0)
    want = {row[0]: row for row in expected}
    for row in t:
        np.testing.assert_allclose(row, want[row[0]])


def test_test_points_small_run_exact():
    h = History(N_LAYERS, capacity=100)
    for step in range(12):
        h.append(fake(step, test=step % 4 == 0))
    np.testing.assert_allclose(h.test, [[0, 0.0, 0.0], [4, 2.0, 4e-7], [8, 4.0, 8e-7]])
    assert History(N_LAYERS).test.shape == (0, 3)


def test_capacity_must_be_at_least_two():
    with pytest.raises(ValueError):
        History(N_LAYERS, capacity=1)


def test_with_real_trainer_stats():
    from vgviz.core.config import RunConfig
    from vgviz.core.tasks import make_trainer

    trainer = make_trainer(RunConfig(depth=2, width=4, eval_every=2))
    h = History(3, capacity=4)
    h.append(trainer.measure())
    for _ in range(9):
        h.append(trainer.step())
    assert len(h) <= 4 and h.steps[0] == 0
    assert h.latest.step == 8
    roomy = History(3, capacity=100)
    trainer = make_trainer(RunConfig(depth=2, width=4, eval_every=2))
    for _ in range(9):
        roomy.append(trainer.step())
    np.testing.assert_array_equal(roomy.steps, np.arange(9))
    assert roomy.test[:, 0].tolist() == [0, 2, 4, 6, 8]


def test_a_remeasured_step_adds_no_second_test_point():
    from vgviz.core.measure.history import History
    from vgviz.core.presets import load_preset
    from vgviz.core.tasks import make_trainer

    trainer = make_trainer(load_preset("shallow-sigmoid").config)
    history = History(3)
    history.append(trainer.measure())   # the GUI's step-0 snapshot
    history.append(trainer.step())      # step 0 again, then the update
    assert history.test[:, 0].tolist() == [0.0]
    assert history.steps.tolist() == [0]
