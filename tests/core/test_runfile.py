"""Run files: written by RunRecorder from a real trainer, read back by open_run."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from vgviz.core.config import RunConfig
from vgviz.core.measure.stats import PARAM_STATS
from vgviz.core.runfile import RunRecorder, RunWriter, describe_model, open_run
from vgviz.core.tasks import make_trainer

BFLOAT16_RTOL = 2 ** -8      # 8 significant bits, rounded to nearest


def record_run(path, steps=60, capture_hz=float("inf"), **config):
    trainer = make_trainer(RunConfig.from_dict(dict(dict(depth=4, width=8, steps=steps, eval_every=20),
                                                    **config)))
    recorded = []
    with RunRecorder(trainer, path, capture_hz=capture_hz) as rec:
        while not trainer.finished:
            stats = trainer.step(full=rec.wants_full())
            recorded.append(stats)
            rec.record(stats)
    return trainer, recorded


def assert_stats_close(read, written):
    """Every field of a StepStats read back equals the written one to float32 precision."""
    for f in dataclasses.fields(written):
        a, b = getattr(read, f.name), getattr(written, f.name)
        if isinstance(b, np.ndarray):
            np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-30, err_msg=f.name)
        elif isinstance(b, tuple) and b and isinstance(b[0], np.ndarray):
            assert len(a) == len(b), f.name
            for x, y in zip(a, b):
                np.testing.assert_allclose(x, y, rtol=1e-6, atol=1e-30, err_msg=f.name)
        elif isinstance(b, float):
            assert a == pytest.approx(b, rel=1e-12, nan_ok=True), f.name
        else:
            assert a == b, f.name


@pytest.mark.parametrize("config", [dict(), dict(model="lstm", dataset="recall", depth=2, width=8)],
                         ids=["mlp", "lstm"])
def test_round_trip_from_a_real_trainer(tmp_path, config):
    path = tmp_path / "run.vgviz"
    trainer, recorded = record_run(path, **config)
    with open_run(path) as run:
        assert run.steps == len(recorded) == 60
        np.testing.assert_array_equal(run.step, [s.step for s in recorded])
        np.testing.assert_array_equal(run.loss, np.float32([s.loss for s in recorded]))
        np.testing.assert_array_equal(run.accuracy, np.float32([s.accuracy for s in recorded]))
        assert run.param_names == tuple(n for n, p in trainer.model.named_parameters() if p.requires_grad)
        assert run.layer_names == trainer.layer_names
        assert run.config == trainer.config.to_dict()
        assert run.model == describe_model(trainer.model)
        written = np.stack([s.param_stats for s in recorded])
        for k, name in enumerate(PARAM_STATS):
            np.testing.assert_array_equal(run.series_steps, run.step)
            np.testing.assert_allclose(run.series(name), written[:, k], rtol=BFLOAT16_RTOL, atol=1e-38,
                                       err_msg=name)
        assert run.evals[:, 0].tolist() == [0, 20, 40]
        np.testing.assert_allclose(run.evals[:, 1], [s.test_loss for s in recorded if s.test_loss is not None])
        # every step was full and capture_hz unbounded: every step was captured
        np.testing.assert_array_equal(run.capture_steps, run.step)
        for s in (recorded[0], recorded[33]):
            assert_stats_close(run.snapshot(s.step), s)
        assert [(e.step, e.kind) for e in run.events] == [(60, "finished")]
        assert run.weight_steps.tolist() == [0, 1, 4, 16, 60]
        final = run.weights(10_000)
        for name, value in trainer.model.state_dict().items():
            np.testing.assert_array_equal(final[name], value.float().numpy())
        for name, value in run.weights(0).items():
            np.testing.assert_array_equal(value, trainer.initial_state[name].float().numpy())
