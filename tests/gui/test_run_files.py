"""The window and run files: in-app runs recorded to the cache, files opened, followed, scrubbed,
saved and remembered."""
from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest

from tests.gui.conftest import WAIT_MS, has_stats, wait_until_paused
from vgviz.core.presets import load_preset
from vgviz.core.runfile import RunRecorder, open_run
from vgviz.core.runfile.replay import history_from_run, stats_at
from vgviz.gui import run_cache

SMALL = {"depth": 4, "width": 8, "steps": 400}


def record_file(path: Path, steps: int = 60, gate: threading.Event | None = None, gate_at: int = 0) -> None:
    """A run file of a small deep-sigmoid run, written by RunRecorder (every step captured);
    with a ``gate``, the writer stops after ``gate_at`` steps (committed) until it is set."""
    from vgviz.core.tasks import make_trainer

    trainer = make_trainer(load_preset("deep-sigmoid").config.replace(**{**SMALL, "steps": steps}))
    with RunRecorder(trainer, path, capture_hz=1e6) as rec:
        while not trainer.finished:
            rec.record(trainer.step(full=True))
            if gate is not None and trainer.step_count == gate_at:
                rec.writer.flush()
                gate.wait(60)


@pytest.fixture
def run_file(tmp_path):
    path = tmp_path / "run.vgviz"
    record_file(path)
    return path


def drawn_edges(window) -> np.ndarray:
    """What the network view's scene draws: the |dL/dW| of the edges it was given."""
    return edges(window.network.scene.stats)


def edges(stats) -> np.ndarray:
    return np.concatenate([np.asarray(g).ravel() for g in stats.edge_abs])


def open_window(qtbot, preset="deep-sigmoid"):
    from vgviz.gui.main_window import MainWindow

    w = MainWindow(preset=preset)
    qtbot.addWidget(w)
    w.show()
    return w


def test_in_app_run_is_recorded_with_the_windows_numbers(qtbot, window):
    window.start_run(window.run.config.replace(**SMALL))
    qtbot.waitUntil(lambda: has_stats(window), timeout=WAIT_MS)
    window.start()
    qtbot.waitUntil(lambda: window.run.step_count >= 50, timeout=WAIT_MS)
    window.pause()
    stopped = wait_until_paused(qtbot, window)
    path = window.run.path
    assert path is not None and Path(path).parent == run_cache.cache_folder()
    with open_run(path) as run:
        qtbot.waitUntil(lambda: run.refresh() or run.steps >= stopped, timeout=5000)
        history = window.run.history
        n = min(run.steps, len(history.loss))
        assert n >= 40
        np.testing.assert_allclose(run.loss[:n], np.asarray(history.loss)[:n], rtol=1e-6)
        assert run.config == window.run.config.to_dict()
        # the boundaries the worker computed for the window: at step 0 and where it paused
        qtbot.waitUntil(lambda: run.refresh() or stopped in run.surface_steps, timeout=5000)
        assert run.surface_steps[0] == 0
        qtbot.waitUntil(lambda: window.decision.surface.step == stopped, timeout=5000)
        np.testing.assert_array_equal(run.surface(stopped).predicted, window.decision.surface.predicted)


def test_cache_keeps_the_last_20_runs(tmp_path):
    folder = tmp_path / "runs"
    made = []
    for i in range(21):
        path = run_cache.new_run_path("deep-sigmoid", folder)
        path.write_bytes(b"x" * 10)
        made.append(path)
    files = sorted(folder.glob("*.vgviz"))
    assert len(files) == 20
    assert made[0] not in files and made[-1] in files


def test_cache_size_bound_spares_the_open_run(tmp_path):
    folder = tmp_path / "runs"
    made = []
    for i in range(5):
        path = run_cache.new_run_path("p", folder, keep={made[0]} if made else set(), max_bytes=250)
        path.write_bytes(b"x" * 100)
        made.append(path)
    files = set(folder.glob("*.vgviz"))
    assert made[0] in files                       # the open one is never deleted
    assert sum(f.stat().st_size for f in files) <= 300
    assert made[-1] in files and made[1] not in files


def test_open_file_shows_its_last_step_and_disables_training(qtbot, run_file):
    w = open_window(qtbot)
    assert w.runs.open_path(run_file)
    qtbot.waitUntil(lambda: has_stats(w), timeout=WAIT_MS)
    with open_run(run_file) as run:
        last = stats_at(run, run.steps - 1)
        assert w.run.step_count == run.steps
        np.testing.assert_allclose(drawn_edges(w), edges(last))
        assert w.network.scene.range_step == 0   # colours on the range of the run's start, as live
        loss_x, loss_y = w.plots._raw_curve.getData()
        assert loss_x[-1] == run.step[-1]
    assert not w.panel.start_button.isEnabled() and "file" in w.panel.start_button.toolTip()
    qtbot.wait(200)
    assert w.run.worker is None          # the first-run timer did not start a training
    w.close()


def test_the_ablation_runs_on_a_files_saved_weights(qtbot, run_file):
    """The diagnostics' ablation on a file: the model of its config at its last saved weights,
    in a helper thread; the same numbers as ablating that model directly."""
    import torch

    from vgviz.core.diagnose.experiments import activation_batch
    from vgviz.core.diagnose.measures import ablate
    from vgviz.core.runfile.restore import trainer_at

    w = open_window(qtbot)
    assert w.runs.open_path(run_file)
    qtbot.waitUntil(lambda: has_stats(w), timeout=WAIT_MS)
    w.diagnostics_dock.show()
    w.diagnostics.ablate_k.setValue(2)
    w.diagnostics.run_ablation()
    qtbot.waitUntil(lambda: w.diagnostics.ablation is not None, timeout=WAIT_MS)
    with open_run(run_file) as run:
        trainer = trainer_at(run, int(run.weight_steps[-1]))
    x, y = activation_batch(trainer), torch.from_numpy(trainer.data.y_train)
    expected = ablate(trainer.model, 2, x, y, initial_state=trainer.initial_state,
                      mode=w.diagnostics.ablate_mode.currentData(), seed=trainer.config.seed + 1)
    assert w.diagnostics.ablation.accuracy_before == pytest.approx(expected.accuracy_before)
    assert w.diagnostics.ablation.accuracy_after == pytest.approx(expected.accuracy_after)
    w.close()


def test_a_file_is_stepped_through_at_its_saved_weights(qtbot, run_file):
    """Backprop stepping on a file: the model of its config with the weights saved at or before
    the step shown, rebuilt off the GUI thread; the pass equals one recorded from those weights."""
    from vgviz.core.runfile.restore import trainer_at

    w = open_window(qtbot)
    assert w.runs.open_path(run_file)
    qtbot.waitUntil(lambda: has_stats(w), timeout=WAIT_MS)
    w.runs.show_step(20)                                   # weights saved at 0, 1, 4, 16 and the end
    w.backprop.record()
    qtbot.waitUntil(lambda: w.backprop.panel.trace is not None, timeout=WAIT_MS)
    assert w.run.trace_step == 16 and "step 16" in w.statusBar().currentMessage()
    with open_run(run_file) as run:
        expected = trainer_at(run, 16).trace()
    got = w.backprop.panel.trace
    assert len(got) == len(expected)
    np.testing.assert_allclose(got.display(len(got) - 1).node_values[0],
                               expected.display(len(expected) - 1).node_values[0], rtol=1e-6)
    w.close()


def test_a_file_without_weights_says_stepping_needs_the_model(qtbot, tmp_path, monkeypatch):
    from vgviz.core.runfile import recorder

    monkeypatch.setattr(recorder.RunRecorder, "_save_weights", lambda self: None)
    path = tmp_path / "no-weights.vgviz"
    record_file(path)
    w = open_window(qtbot)
    assert w.runs.open_path(path)
    qtbot.waitUntil(lambda: has_stats(w), timeout=WAIT_MS)
    w.backprop.record()
    assert "needs the model" in w.statusBar().currentMessage()
    w.diagnostics.run_ablation()
    assert "needs the model" in w.diagnostics.ablation_label.text()
    w.close()


def test_scrub_shows_the_step_and_returns_live(qtbot, run_file):
    w = open_window(qtbot)
    w.runs.open_path(run_file)
    qtbot.waitUntil(lambda: has_stats(w), timeout=WAIT_MS)
    k = 17
    w.runs.timeline.slider.setValue(k)
    assert w.runs.timeline.pinned
    with open_run(run_file) as run:
        expected = stats_at(run, k)
        np.testing.assert_allclose(drawn_edges(w), edges(expected))
        assert w.plots._raw_curve.getData()[0][-1] == history_from_run(run, k).steps[-1]
        # the file's step index k completes k + 1 steps, and every view counts steps completed
        assert w.runs.timeline.label.text() == f"step {k + 1} / {run.steps:,}"
        assert w.status.state.startswith(f"step {k + 1}")
        w.runs.nudge(+1)
        assert w.runs.timeline.slider.value() == k + 1
        w.runs.timeline.go_to(run.steps - 1)
    assert not w.runs.timeline.pinned
    w.close()


def test_a_replay_draws_the_recorded_decision_boundary_of_the_step_shown(qtbot, run_file):
    w = open_window(qtbot)
    assert w.runs.open_path(run_file)
    qtbot.waitUntil(lambda: has_stats(w), timeout=WAIT_MS)
    assert w.decision_dock.isVisible() and len(w.decision.points.data) > 0   # the data, made from the config
    with open_run(run_file) as run:
        saved = run.surface_steps
        assert saved[0] == 0 and saved[-1] == run.steps     # the first and the final weights'
        last = run.surface(run.steps)
        qtbot.waitUntil(lambda: w.decision.surface is not None and w.decision.surface.step == saved[-1],
                        timeout=5000)
        np.testing.assert_array_equal(w.decision.surface.predicted, last.predicted)
        assert w.decision.image.image is not None
        back = int(saved[-1]) - 2
        w.runs.timeline.go_to(back)                          # scrubbed back: the one recorded at or before
        qtbot.waitUntil(lambda: w.decision.surface.step == saved[saved <= back][-1], timeout=5000)
    w.close()


def test_scrubbing_a_training_run_pauses_the_view_not_the_training(qtbot, window):
    window.start_run(window.run.config.replace(**{**SMALL, "steps": 100_000}))
    qtbot.waitUntil(lambda: has_stats(window), timeout=WAIT_MS)
    window.start()
    with open_run(window.run.path) as recorded:   # the writer commits every half second
        qtbot.waitUntil(lambda: recorded.refresh() and recorded.steps > 5, timeout=WAIT_MS)
    # the timeline's range follows at ~2.5 Hz while training: step 3 must be on it first
    qtbot.waitUntil(lambda: window.runs.timeline.slider.maximum() > 3, timeout=WAIT_MS)
    window.runs.timeline.slider.setValue(3)
    qtbot.waitUntil(lambda: window.runs.timeline.pinned, timeout=5000)
    shown = window.network.scene.stats.step
    at = window.run.step_count
    qtbot.waitUntil(lambda: window.run.step_count > at + 100, timeout=WAIT_MS)
    assert window.network.scene.stats.step == shown <= 3
    assert "training goes on" in window.status.state
    window.runs.timeline.go_live()
    qtbot.waitUntil(lambda: window.network.scene.stats.step > at, timeout=5000)


def test_window_follows_a_file_written_in_another_thread(qtbot, tmp_path):
    path = tmp_path / "live.vgviz"
    gate = threading.Event()
    writer = threading.Thread(target=record_file, args=(path, 400, gate, 20))
    writer.start()
    try:
        w = open_window(qtbot)
        qtbot.waitUntil(lambda: path.exists() and w.runs.open_path(path), timeout=WAIT_MS)
        qtbot.waitUntil(lambda: w.run.step_count == 20, timeout=WAIT_MS)   # all the writer has
        gate.set()
        qtbot.waitUntil(lambda: w.run.step_count > 40, timeout=WAIT_MS)
        qtbot.waitUntil(lambda: w.runs.timeline.slider.maximum() >= 40, timeout=5000)   # and the timeline
    finally:
        gate.set()
        writer.join()
    qtbot.waitUntil(lambda: w.run.step_count == 400, timeout=WAIT_MS)
    w.close()


def test_a_followed_files_diagnostics_follow_it_as_the_plots_do(qtbot, tmp_path):
    path = tmp_path / "live.vgviz"
    gate = threading.Event()
    writer = threading.Thread(target=record_file, args=(path, 200, gate, 20))
    writer.start()
    try:
        w = open_window(qtbot)
        w.diagnostics_dock.toggleViewAction().trigger()     # the diagnostics panel shown
        qtbot.waitUntil(lambda: path.exists() and w.runs.open_path(path), timeout=WAIT_MS)
        qtbot.waitUntil(lambda: w.run.step_count == 20, timeout=WAIT_MS)   # all the writer has
        panel = w.diagnostics
        qtbot.waitUntil(lambda: panel.diagnosis is not None, timeout=WAIT_MS)
        assert int(panel.history.latest.step) == 19
        gate.set()
    finally:
        gate.set()
        writer.join()
    qtbot.waitUntil(lambda: w.run.step_count == 200, timeout=WAIT_MS)
    qtbot.waitUntil(lambda: w.run.history.latest.step == 199, timeout=WAIT_MS)
    panel.refresh(force=True)   # what its 2 Hz timer does
    assert panel.history is w.run.history and int(panel.history.latest.step) == 199
    assert panel.update_plot.curves[0].getData()[0][-1] >= 190   # its update-ratio plot reaches the end too
    w.close()


def test_refresh_is_cheap_enough_to_poll_at_display_rate(run_file):
    with open_run(run_file) as run:
        t = time.perf_counter()
        for _ in range(1000):
            run.refresh()
        per_call = (time.perf_counter() - t) / 1000
    assert per_call < 1e-3   # 25 Hz polling costs < 2.5 % of a frame's 40 ms


@pytest.mark.parametrize("content", [b"", b"not a database at all", b"SQLite format 3\x00" + b"\x00" * 50])
def test_bad_file_gives_one_line_and_keeps_the_run(qtbot, window, tmp_path, content):
    bad = tmp_path / "bad.vgviz"
    bad.write_bytes(content)
    worker = window.run.worker
    assert not window.runs.open_path(bad)
    message = window.panel.error_label.text()
    status = window.statusBar().currentMessage()
    assert str(bad) in status and "\n" not in status, (status, message)
    assert window.run.worker is worker


def test_save_run_as_copies_the_steps(qtbot, run_file, tmp_path):
    w = open_window(qtbot)
    w.runs.open_path(run_file)
    qtbot.waitUntil(lambda: has_stats(w), timeout=WAIT_MS)
    target = tmp_path / "sub" / "copy.vgviz"
    assert not w.runs.save_as(target)                      # no such folder: a message, no crash
    assert "does not exist" in w.statusBar().currentMessage()
    target = tmp_path / "copy.vgviz"
    assert w.runs.save_as(target)
    with open_run(target) as copy, open_run(run_file) as original:
        np.testing.assert_array_equal(copy.step, original.step)
        np.testing.assert_array_equal(copy.loss, original.loss)
    assert not Path(f"{target}-wal").exists()
    w.close()


def test_save_while_training_copies_what_was_recorded(qtbot, window, tmp_path):
    window.start()
    qtbot.waitUntil(lambda: window.run.step_count >= 30, timeout=WAIT_MS)
    target = tmp_path / "live-copy.vgviz"
    qtbot.waitUntil(lambda: window.runs.save_as(target) and open_run(target).steps > 0, timeout=5000)


def test_recent_runs_survive_reopening_and_corrupt_settings(qtbot, run_file, tmp_path):
    w = open_window(qtbot)
    w.runs.open_path(run_file)
    gone = tmp_path / "gone.vgviz"
    record_file(gone, steps=5)
    w.runs.open_path(gone)
    w.close()
    gone.unlink()
    w2 = open_window(qtbot)
    assert w2.runs.recent() == [str(gone.resolve()), str(run_file.resolve())]
    w2.runs._fill_recent()
    enabled = {a.text(): a.isEnabled() for a in w2.runs.recent_menu.actions()}
    assert enabled == {str(gone.resolve()): False, str(run_file.resolve()): True}
    w2.settings.setValue("recent_runs", 42)
    assert w2.runs.recent() == []
    w2.close()


def test_run_app_opens_the_file(qtbot, run_file, monkeypatch):
    from PySide6 import QtWidgets

    from vgviz.gui import app

    from vgviz.gui.main_window import MainWindow

    opened = []
    monkeypatch.setattr(MainWindow, "show", lambda self: opened.append(self))
    monkeypatch.setattr(QtWidgets.QApplication, "exec", lambda self: 0)
    assert app.run_app(run_path=str(run_file)) == 0
    w = opened[0]
    assert w.run.file is not None and w.run.path == run_file
    w.close()
