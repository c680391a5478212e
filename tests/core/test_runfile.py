"""Run files: written by RunRecorder from a real trainer, read back by open_run."""
from __future__ import annotations

import dataclasses
import json
import signal
import sqlite3
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from vgviz.core.config import RunConfig
from vgviz.core.measure.stats import PARAM_STATS
from vgviz.core.runfile import (SCHEMA_VERSION, ModelDescription, RunFileError, RunRecorder, RunWriter,
                                 describe_model,
                                 open_run)
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


@pytest.mark.parametrize("config", [dict(), dict(model="lstm", dataset="recall", depth=2, width=8, seq_len=8,
                                                 batch_size=16)], ids=["mlp", "lstm"])
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
        assert run.evals[:, 0].tolist() == [0, 20, 40, 60]   # and the final weights, after 60 updates
        np.testing.assert_allclose(run.evals[:-1, 1], [s.test_loss for s in recorded if s.test_loss is not None])
        assert run.evals[-1, 1:].tolist() == pytest.approx(trainer.evaluate())
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


@pytest.mark.parametrize("config", [dict(), dict(optimizer="adam", lr=0.01), dict(clip_norm=0.05),
                                    dict(model="gru", dataset="recall", depth=2, width=8, seq_len=8)],
                         ids=["sgd", "adam", "clipped", "gru"])
def test_param_stats_equal_the_gradients_computed_with_torch(config):
    trainer = make_trainer(RunConfig.from_dict(dict(dict(depth=4, width=8, steps=10), **config)))
    for full in (True, False, True):
        if trainer.config.recurrent and not full:
            continue
        params = dict(trainer.model.named_parameters())
        before = {name: p.detach().clone() for name, p in params.items()}
        stats = trainer.step(full=full)
        assert stats.param_names == tuple(params)
        assert stats.param_stats.shape == (len(PARAM_STATS), len(params))
        # the gradients before clipping: together they make the global norm
        total = np.sqrt(np.sum(stats.param_stats[0] ** 2))
        assert total == pytest.approx(stats.grad_norm_total, rel=1e-5)
        # every tensor, against the gradient the trainer left in p.grad (clipped there otherwise)
        for j, (name, p) in enumerate(params.items()):
            g = p.grad.double()
            if not trainer.config.clip_norm:
                np.testing.assert_allclose(stats.param_stats[:4, j],
                                           [float(g.norm()), float(g.abs().mean()), float(g.abs().max()),
                                            float((g == 0).double().mean())], rtol=2e-4, atol=1e-12,
                                           err_msg=name)
            w, w_after = before[name].double(), p.detach().double()
            assert stats.param_stats[4, j] == pytest.approx(float(w.norm()), rel=1e-5)
            if trainer.config.optimizer == "sgd" and not trainer.config.momentum:
                # W' = W − lr·g exactly; a difference of float32 weights would be rounded
                ratio = float(trainer.config.lr * g.norm() / w_after.norm())
            else:   # ΔW of float32 weights is rounded where the update is tiny
                ratio = float((w_after - w).norm() / w_after.norm())
            assert stats.param_stats[5, j] == pytest.approx(ratio, rel=1e-2), name


# -- other processes ---------------------------------------------------------------------------

P = 3
STATS = np.arange(6 * P, dtype=np.float32).reshape(6, P) + 1


READER = """
import sys, time
from vgviz.core.runfile import open_run
run = open_run(sys.argv[1])
seen = run.steps
print(seen, flush=True)
deadline = time.monotonic() + 60
while seen < int(sys.argv[2]) and time.monotonic() < deadline:
    if run.refresh():
        seen = run.steps
        print(seen, flush=True)
    time.sleep(0.01)
"""


def test_a_reader_in_another_process_sees_new_steps_after_refresh(tmp_path):
    path = tmp_path / "live.vgviz"
    with RunWriter(path, param_names=("a", "b", "c")) as writer:
        for step in range(10):
            writer.append_step(step, 1.0, 0.5, STATS)
        writer.flush()
        reader = subprocess.Popen([sys.executable, "-c", READER, str(path), "25"],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            assert reader.stdout.readline().strip() == "10"
            for step in range(10, 25):
                writer.append_step(step, 1.0, 0.5, STATS)
            writer.flush()
            assert reader.stdout.readline().strip() == "25"
            assert reader.wait(timeout=60) == 0, reader.stderr.read()
        finally:
            reader.kill()
            reader.wait()


WRITER = """
import sys, time
import numpy as np
from vgviz.core.runfile import RunWriter
w = RunWriter(sys.argv[1], param_names=("a", "b", "c"))
stats = np.ones((6, 3), np.float32)
step = 0
while True:
    w.append_step(step, float(step), 0.5, stats)
    print(step, flush=True)
    step += 1
    time.sleep(0.01)
"""


def test_kill_9_of_the_writer_loses_at_most_a_second(tmp_path):
    path = tmp_path / "killed.vgviz"
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(path)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        for line in writer.stdout:
            if int(line) >= 150:     # ≥ 1.5 s of steps at ≥ 10 ms each
                break
        writer.send_signal(signal.SIGKILL)
        last = int(line)
    finally:
        writer.kill()
        assert writer.wait() == -signal.SIGKILL, writer.stderr.read()
    with open_run(path) as run:
        # steps take ≥ 10 ms, so a second is at most 100 of them
        assert run.steps >= last + 1 - 100
        np.testing.assert_array_equal(run.step, np.arange(run.steps))
        np.testing.assert_array_equal(run.loss, np.arange(run.steps, dtype=np.float32))
        assert run.series("grad_l2").shape == (run.steps, 3)


# -- files that are not (whole) runs ------------------------------------------------------------

CAPTURE = make_trainer(RunConfig.from_dict(dict(depth=3, width=4))).step()


def _written_run(path):
    with RunWriter(path, param_names=("a", "b", "c")) as writer:
        for step in range(3000):
            writer.append_step(step, 1.0, 0.5, STATS)
            if step % 50 == 0:
                writer.append_capture(step, dataclasses.replace(CAPTURE, step=step))
    return path


def _assert_one_line(error, path, words):
    message = str(error.value)
    assert "\n" not in message and message.startswith(f"{path}: "), message
    assert words in message.removeprefix(f"{path}: "), message   # (the test's folder names hold words too)
    assert len(message) < 200, message


@pytest.mark.parametrize("content", [b"", b"hello, this is not a run\n" * 10, bytes(range(256)) * 40],
                         ids=["empty", "text", "random"])
def test_a_file_that_is_not_sqlite_is_refused_in_one_line(tmp_path, content):
    path = tmp_path / "not-a-run.vgviz"
    path.write_bytes(content)
    with pytest.raises(RunFileError) as error:
        open_run(path)
    _assert_one_line(error, path, "not a vgviz run file")


def test_an_sqlite_database_that_is_not_a_run_is_refused(tmp_path):
    path = tmp_path / "other.db"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE birds (name TEXT)")
    db.commit()
    db.close()
    with pytest.raises(RunFileError) as error:
        open_run(path)
    _assert_one_line(error, path, "not a vgviz run file")


def test_a_run_from_a_newer_vgviz_is_refused(tmp_path):
    path = _written_run(tmp_path / "future.vgviz")
    db = sqlite3.connect(path)
    db.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION + 1),))
    db.commit()
    db.close()
    with pytest.raises(RunFileError) as error:
        open_run(path)
    _assert_one_line(error, path, "newer vgviz")


def test_a_truncated_run_is_refused(tmp_path):
    path = _written_run(tmp_path / "cut.vgviz")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(RunFileError) as error:
        open_run(path)
    _assert_one_line(error, path, "truncated")


def test_a_run_with_damaged_pages_reads_as_one_line_or_not_at_all(tmp_path):
    path = _written_run(tmp_path / "damaged.vgviz")
    data = bytearray(path.read_bytes())
    page = 4096
    rng = np.random.default_rng(0)
    for first in range(len(data) // 2 // page * page, len(data), 3 * page):   # the metadata stays whole
        data[first:first + page] = rng.bytes(page)
    path.write_bytes(bytes(data))
    with pytest.raises(RunFileError) as error:
        with open_run(path) as run:
            run.series("grad_l2"), run.loss, run.snapshot(0), run.events, run.evals
    _assert_one_line(error, path, "damaged")


# -- a million steps ---------------------------------------------------------------------------

MILLION = 1_000_000


@pytest.fixture(scope="module")
def million_step_run(tmp_path_factory):
    """A 10⁶-step run of the 20×64 MLP (42 tensors) under the default policy, written in
    batches: a sawtooth of period 100 in every statistic, 1000 full captures of a real
    20×64 step and log-spaced weights."""
    trainer = make_trainer(RunConfig.from_dict(dict(depth=20, width=64, batch_size=32)))
    capture = trainer.step()
    names = trainer.param_names
    base = np.arange(1, 6 * len(names) + 1, dtype=np.float32).reshape(6, len(names)) * 1e-9
    path = tmp_path_factory.mktemp("million") / "million.vgviz"
    with RunWriter(path, param_names=names, layer_names=trainer.layer_names) as writer:
        batch = 10_000
        tooth = (1 + (np.arange(batch) % 100) / 100).astype(np.float32)
        stats = tooth[:, None, None] * base
        for first in range(0, MILLION, batch):
            steps = np.arange(first, first + batch)
            writer.append_steps(steps, steps * 1e-6, np.full(batch, 0.5), stats)
            for step in steps[::batch // 10]:
                writer.append_capture(int(step), dataclasses.replace(capture, step=int(step)))
            if first & (first - 1) == 0 or first + batch == MILLION:
                writer.save_weights(first, trainer.model.state_dict())
    return path, base


def test_a_million_steps_read_back(million_step_run):
    path, base = million_step_run
    with open_run(path) as run:
        assert run.steps == MILLION
        np.testing.assert_array_equal(run.step, np.arange(MILLION))
        np.testing.assert_array_equal(run.loss, np.float32(np.arange(MILLION) * 1e-6))
        start = time.perf_counter()
        series = run.series("grad_max_abs")
        print(f"\nread one series of 10⁶ steps: {time.perf_counter() - start:.3f} s, {len(series)} rows")
        low, high = run.envelope("grad_max_abs")
        steps = run.series_steps
        whole = low == high
        whole_rows = whole.all(axis=1)
        assert whole_rows.sum() >= 20_000 and (~whole_rows).sum() >= 9_000
        expected = (1 + (steps % 100) / 100)[:, None] * base[2]
        np.testing.assert_allclose(series[whole_rows], expected[whole_rows], rtol=BFLOAT16_RTOL)
        # thinned rows: a bucket of the sawtooth, as mean (of values already rounded once), min and max
        np.testing.assert_allclose(series[~whole_rows], np.broadcast_to(1.495 * base[2], series[~whole_rows].shape),
                                   rtol=2 * BFLOAT16_RTOL)
        np.testing.assert_allclose(low[~whole_rows], np.broadcast_to(base[2], low[~whole_rows].shape),
                                   rtol=BFLOAT16_RTOL)
        np.testing.assert_allclose(high[~whole_rows], np.broadcast_to(1.99 * base[2], high[~whole_rows].shape),
                                   rtol=BFLOAT16_RTOL)
        # the first and the newest 10,000 steps are kept whole
        assert steps[whole_rows][:10_000].tolist() == list(range(10_000))
        assert steps[-10_000:].tolist() == list(range(MILLION - 10_000, MILLION))
        assert 0 < len(run.capture_steps) <= run.policy.max_captures
        assert run.capture_steps[0] == 0 and run.capture_steps[-1] == MILLION - 1000
        assert run.snapshot(MILLION).step == MILLION - 1000


def test_a_million_steps_of_a_20x64_mlp_take_under_100_mb(million_step_run):
    path, _ = million_step_run
    size = path.stat().st_size
    print(f"\n10⁶ steps of a 20×64 MLP: {size / 1e6:.1f} MB")
    assert size < 100e6


# -- the model description and the writer's guards ----------------------------------------------

class _Shared(torch.nn.Module):
    """Conv, attention, an LSTM, a frozen layer and a weight shared by two layers."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(1, 4, 3)
        self.attention = torch.nn.MultiheadAttention(8, 2)
        self.lstm = torch.nn.LSTM(8, 16)
        self.encode = torch.nn.Linear(16, 16)
        self.decode = torch.nn.Linear(16, 16)
        self.decode.weight = self.encode.weight
        self.frozen = torch.nn.Linear(16, 2)
        self.frozen.requires_grad_(False)


def test_describe_model_of_any_module_round_trips_through_json():
    model = _Shared()
    description = describe_model(model)
    assert description.param_names == tuple(n for n, _ in model.named_parameters())
    assert description.shared == {"decode.weight": "encode.weight"}
    assert description.trainable_names == tuple(n for n, p in model.named_parameters() if p.requires_grad)
    assert "frozen.weight" not in description.trainable_names
    kinds = {layer.name: (layer.kind, layer.in_shape, layer.out_shape) for layer in description.layers}
    assert kinds == {"conv": ("Conv2d", (1,), (4,)), "attention": ("MultiheadAttention", (8,), (8,)),
                     "lstm": ("LSTM", (8,), (16,)), "encode": ("Linear", (16,), (16,)),
                     "decode": ("Linear", (16,), (16,)), "frozen": ("Linear", (16,), (2,))}
    assert ModelDescription.from_json(json.loads(json.dumps(description.to_json()))) == description


def test_describe_model_knows_the_residual_skips():
    trainer = make_trainer(RunConfig.from_dict(dict(depth=6, width=8, residual=True)))
    description = describe_model(trainer.model)
    assert description.skip_connections == trainer.skip_connections and description.skip_connections


def test_the_writer_refuses_to_overwrite_a_file_unless_asked(tmp_path):
    path = tmp_path / "kept.vgviz"
    path.write_text("someone's file")
    with pytest.raises(FileExistsError):
        RunWriter(path, param_names=("a",))
    assert path.read_text() == "someone's file"
    with RunWriter(path, param_names=("a", "b", "c"), overwrite=True) as writer:
        writer.append_step(0, 1.0, 0.5, STATS)
        with pytest.raises(ValueError):
            writer.append_step(0, 1.0, 0.5, STATS)     # steps must increase
    with open_run(path) as run:
        assert run.steps == 1


def record_boundaries(path, period_s: float, max_surfaces: int = 100):
    """A 40-step spiral run recorded with a decision boundary at most every ``period_s``;
    returns the boundary of the weights after every step."""
    from vgviz.core.runfile.format import StoragePolicy

    trainer = make_trainer(RunConfig.from_dict(dict(depth=3, width=8, steps=40)))
    boundaries = {0: trainer.decision_surface()}
    with RunRecorder(trainer, path, capture_hz=1.0, surface_period_s=period_s,
                     policy=StoragePolicy(max_surfaces=max_surfaces)) as rec:
        while not trainer.finished:
            rec.record(trainer.step(full=rec.wants_full()))
            boundaries[trainer.step_count] = trainer.decision_surface()
    return boundaries


def test_decision_boundaries_are_recorded_thinned_and_read_back(tmp_path):
    path = tmp_path / "run.vgviz"
    boundaries = record_boundaries(path, period_s=0.0, max_surfaces=12)   # one due every step
    with open_run(path) as run:
        steps = run.surface_steps
        assert steps[0] == 0 and steps[-1] == 40          # the first and the final weights
        assert 3 <= len(steps) <= 12                       # thinned to the policy
        for step in (0, int(steps[len(steps) // 2]), 40):
            read, written = run.surface(step), boundaries[step]
            assert read.step == step and read.extent == pytest.approx(written.extent)
            np.testing.assert_array_equal(read.predicted, written.predicted)
            np.testing.assert_array_equal(read.confidence, written.confidence.astype(np.float32))
        gap = int(np.argmax(np.diff(steps) > 1))            # two kept boundaries with steps between
        assert run.surface(int(steps[gap]) + 1).step == steps[gap]   # the one at or before the step
        assert run.surface(-1) is None


def test_decision_boundaries_are_recorded_at_most_every_period(tmp_path):
    path = tmp_path / "run.vgviz"
    record_boundaries(path, period_s=3600.0)
    with open_run(path) as run:
        assert list(run.surface_steps) == [0, 40]          # none due in between: the first and the last


def test_a_file_without_decision_boundaries_reads_as_none(tmp_path):
    path = tmp_path / "run.vgviz"
    record_run(path, steps=5)
    with sqlite3.connect(path) as db:   # as written before the surfaces table
        db.execute("DROP TABLE surfaces")
    with open_run(path) as run:
        assert len(run.surface_steps) == 0 and run.surface(5) is None
    lstm = tmp_path / "lstm.vgviz"      # no input plane: nothing recorded
    record_run(lstm, steps=5, model="lstm", dataset="recall", depth=2, width=8, seq_len=8, batch_size=16)
    with open_run(lstm) as run:
        assert len(run.surface_steps) == 0
