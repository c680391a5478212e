"""A run file replayed: the History the plots draw and the stats the diagram draws equal the live run's."""
from __future__ import annotations

import numpy as np
import pytest

from vgviz.core.config import RunConfig
from vgviz.core.measure.history import History
from vgviz.core.runfile import RunRecorder, open_run
from vgviz.core.runfile.replay import history_from_run, layer_columns, stats_at
from vgviz.core.tasks import make_trainer

BF16 = 1e-2   # the file keeps per-step sums as bfloat16 (8 bits of mantissa)


def record(tmp_path, config: RunConfig, steps: int):
    trainer = make_trainer(config)
    path = tmp_path / "run.vgrun"
    recorder = RunRecorder(trainer, path, capture_hz=1e6)   # every step a full capture
    live = None
    for _ in range(steps):
        stats = trainer.step()       # the stats of step k are measured before its update
        recorder.record(stats)
        live = live or History(stats.n_layers)
        live.append(stats)
    recorder.close()
    return path, live


@pytest.mark.parametrize("config", [
    RunConfig(depth=3, width=6, steps=40, eval_every=10),
    RunConfig(model="lstm", dataset="recall", seq_len=6, depth=2, width=5, batch_size=8, steps=40, eval_every=10),
], ids=["mlp", "lstm"])
def test_replayed_history_equals_the_live_one(tmp_path, config):
    path, live = record(tmp_path, config, 12)
    with open_run(path) as run:
        assert len(layer_columns(run)) == len(run.layer_names) == live.n_layers
        replay = history_from_run(run)
        np.testing.assert_array_equal(replay.steps, live.steps)
        np.testing.assert_allclose(replay.loss, live.loss, rtol=1e-6)
        np.testing.assert_allclose(replay.grad_l2, live.grad_l2, rtol=BF16)
        np.testing.assert_allclose(replay.grad_mean_abs, live.grad_mean_abs, rtol=BF16)
        measured = np.isfinite(live.update_ratio)     # the live recurrent view has no per-layer ratio
        np.testing.assert_allclose(replay.update_ratio[measured], live.update_ratio[measured], rtol=BF16)
        # and the recorder's evaluation of the final weights, after the 12 updates
        np.testing.assert_allclose(replay.test[:-1], live.test, rtol=1e-6)
        assert replay.test[-1, 0] == 12
        # up to a step: what the scrubber shows there
        part = history_from_run(run, until_step=5)
        assert part.steps[-1] == 5 and part.latest.step == 5
        assert stats_at(run, 5).step == 5


def test_a_long_file_fits_the_history_evenly():
    steps = np.arange(0, 100_000, 3)
    n = len(steps)
    history = History.from_arrays(2, steps=steps, loss=np.arange(n, dtype=float), accuracy=np.zeros(n),
                                  grad_l2=np.ones((n, 2)), grad_mean_abs=np.ones((n, 2)),
                                  grad_norm_total=np.ones(n), update_ratio=np.ones((n, 2)), capacity=1000)
    assert len(history) <= 1000 and history.steps[0] == 0 and history.steps[-1] == steps[-1]
    gaps = np.diff(history.steps)
    assert gaps.max() - gaps.min() <= 3                       # evenly spread over the run
    assert history.stride >= n / 1000
