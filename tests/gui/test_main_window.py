"""The main window driven with qtbot: start, pause, step, reset, bad input, close, settings."""
import numpy as np
import pytest
from PySide6 import QtCore

from vgviz.gui.main_window import MainWindow
from vgviz.gui.worker import live_workers
from vgviz.gui.settings import app_settings

from .conftest import WAIT_MS, has_stats, wait_until_paused


def test_start_pause_and_the_diagram_changes(window, qtbot):
    buckets_at_0 = window.network.drawn_edge_buckets().copy()
    assert window.run.history.latest.step == 0
    window.start()
    qtbot.waitUntil(lambda: window.run.step_count >= 20, timeout=WAIT_MS)
    window.pause()
    wait_until_paused(qtbot, window)  # a step in flight lands after pause
    stopped_at = window.run.step_count
    qtbot.wait(400)  # fixed on purpose: the point is that no step comes in this time
    assert window.run.step_count == stopped_at, "training went on after pause"
    assert stopped_at >= 20
    qtbot.waitUntil(lambda: window.run.history.latest.step >= 19, timeout=5000)
    buckets_later = window.network.drawn_edge_buckets()
    assert buckets_later.shape == buckets_at_0.shape
    assert not np.array_equal(buckets_later, buckets_at_0), "edge colours did not change after 20 steps"
    assert f"step {stopped_at:,}" in window.status.step_label.text()


def test_space_toggles_training_and_step_button_steps_once(window, qtbot):
    window.activateWindow()
    window.setFocus()
    qtbot.keyClick(window, QtCore.Qt.Key.Key_Space)
    qtbot.waitUntil(lambda: window.run.step_count >= 3, timeout=WAIT_MS)
    assert window.panel.start_button.text() == "Pause"
    qtbot.keyClick(window, QtCore.Qt.Key.Key_Space)
    qtbot.waitUntil(lambda: not window.run.worker.is_running, timeout=2000)
    wait_until_paused(qtbot, window)
    before = window.run.step_count
    qtbot.mouseClick(window.panel.step_button, QtCore.Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.run.step_count == before + 1, timeout=5000)
    qtbot.wait(200)  # fixed on purpose: the point is that no second step comes
    assert window.run.step_count == before + 1


def test_closing_while_training_finishes_the_thread(qtbot):
    w = MainWindow(preset="deep-relu-he")
    qtbot.addWidget(w)
    w.show()
    qtbot.waitUntil(lambda: w.run.history is not None, timeout=WAIT_MS)
    w.start()
    qtbot.waitUntil(lambda: w.run.step_count >= 5, timeout=WAIT_MS)
    worker = w.run.worker
    assert worker.isRunning()
    w.close()   # never waits for the thread: it ends after its step, held until then
    assert not w.isVisible()
    qtbot.waitUntil(lambda: worker.isFinished() and worker not in live_workers(), timeout=5000)


def test_reset_applies_edited_fields(window, qtbot):
    window.panel.editors["activation"].setCurrentText("relu")
    window.panel.editors["init"].setCurrentText("he")
    assert window.panel.pending_label.isVisibleTo(window.panel)
    qtbot.mouseClick(window.panel.reset_button, QtCore.Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: has_stats(window), timeout=WAIT_MS)
    assert window.run.config.activation == "relu" and window.run.config.init == "he"
    assert window.preset_name is None  # no longer the preset's config
    g = window.run.history.latest.grad_mean_abs
    assert 0.1 < g[0] / g[-2] < 10  # ReLU + He: the first layer gets a comparable gradient


@pytest.mark.parametrize("text, field", [("nan", "lr"), ("-1", "lr"), ("fast", "lr")])
def test_bad_field_shows_a_message_and_keeps_running(window, qtbot, text, field):
    running_worker = window.run.worker
    window.panel.editors["lr"].setText(text)
    window.configs.reset_run()
    assert window.panel.error_label.isVisibleTo(window.panel)
    assert window.panel.error_label.text().startswith(f"{field}:")
    assert window.run.worker is running_worker  # the old run is untouched
    window.start()
    qtbot.waitUntil(lambda: window.run.step_count >= 2, timeout=WAIT_MS)


@pytest.mark.parametrize("body, field", [
    ("depth = 0", "depth"), ("width = -3", "width"), ('activation = "swish"', "activation"),
    ("lr = nan", "lr"), ("[[[", "cannot be parsed"),
])
def test_bad_config_file_shows_a_message(window, tmp_path, body, field):
    path = tmp_path / "bad.toml"
    path.write_text(body + "\n")
    assert window.configs.open_config(str(path)) is False
    message = window.panel.error_label.text()
    assert field in message and "bad.toml" in message
    assert "\n" not in message
    assert window.run.worker is not None and window.run.worker.isRunning()


def test_save_config_writes_a_file_open_config_reads_back(window, tmp_path, monkeypatch):
    from PySide6 import QtWidgets

    from vgviz.core.presets import load_config_file

    path = tmp_path / "saved.toml"
    monkeypatch.setattr(QtWidgets.QFileDialog, "getSaveFileName", lambda *a, **k: (str(path), "TOML (*.toml)"))
    window.configs.save_config_dialog()
    assert load_config_file(path) == window.panel.config()
    monkeypatch.setattr(QtWidgets.QFileDialog, "getSaveFileName",
                        lambda *a, **k: (str(tmp_path / "missing" / "x.toml"), "TOML (*.toml)"))
    errors = []
    monkeypatch.setattr(window, "show_error", errors.append)
    window.configs.save_config_dialog()
    assert len(errors) == 1 and "cannot write" in errors[0] and "\n" not in errors[0]


def test_divergence_is_reported_not_raised(qtbot, tmp_path):
    path = tmp_path / "boom.toml"
    path.write_text('activation = "relu"\ninit = "he"\ndepth = 12\nwidth = 64\nlr = 10.0\n')
    w = MainWindow(preset="deep-relu-he")
    qtbot.addWidget(w)
    w.show()
    assert w.configs.open_config(str(path))
    qtbot.waitUntil(lambda: w.run.history is not None, timeout=WAIT_MS)
    w.start()
    qtbot.waitUntil(lambda: "diverged" in w.panel.error_label.text(), timeout=WAIT_MS)
    assert not w.run.worker.is_running
    assert w.run.worker.isRunning()  # the thread is alive, waiting for Reset
    w.close()


def test_settings_remember_config_and_geometry(qtbot):
    w = MainWindow(preset="shallow-sigmoid")
    qtbot.addWidget(w)
    w.resize(800, 650)  # inside the offscreen screen, which restoreGeometry clamps to
    w.show()
    qtbot.waitUntil(lambda: w.run.history is not None, timeout=WAIT_MS)
    w.close()
    again = MainWindow()
    qtbot.addWidget(again)
    assert again.run.config == w.run.config and again.run.config.depth == 2
    assert again.preset_name == "shallow-sigmoid"
    # The offscreen screen is 800×800 and restoreGeometry keeps the frame inside it.
    assert again.height() == 650 and abs(again.width() - 800) <= 4
    again.close()


def test_the_training_speed_is_chosen_by_key_and_remembered(qtbot, repo_presets):
    w = MainWindow(preset="deep-sigmoid")
    qtbot.addWidget(w)
    w.show()
    w.activateWindow()
    qtbot.waitUntil(lambda: has_stats(w), timeout=WAIT_MS)
    assert w.panel.speed_box.currentText() == "as fast as possible" and w.run.worker.steps_per_second is None
    qtbot.keyClick(w, QtCore.Qt.Key.Key_T)      # cycles round: the first speed
    assert w.panel.speed_box.currentText() == "1 step/s" and w.run.worker.steps_per_second == 1
    w.panel.speed_box.setCurrentIndex(w.panel.speed_box.findText("25 steps/s"))
    assert w.run.worker.steps_per_second == 25
    w.close()
    again = MainWindow(preset="deep-sigmoid")
    qtbot.addWidget(again)
    assert again.panel.speed_box.currentText() == "25 steps/s"
    qtbot.waitUntil(lambda: has_stats(again), timeout=WAIT_MS)
    assert again.run.worker.steps_per_second == 25            # the new run trains at it
    again.close()


def test_corrupt_saved_settings_fall_back_to_default(qtbot):
    settings = app_settings()
    settings.setValue("last_config", "{not json")
    settings.sync()
    w = MainWindow()
    qtbot.addWidget(w)
    assert w.preset_name == "deep-sigmoid"
    assert "saved config could not be used" in w.panel.error_label.text()
    w.close()


def test_first_launch_size_fits_a_small_screen():
    from PySide6 import QtGui

    from vgviz.gui.settings import default_size

    assert default_size(None) == QtCore.QSize(1400, 860)
    screen = QtGui.QGuiApplication.primaryScreen()
    fitted = default_size(screen)
    available = screen.availableGeometry().size()
    assert fitted.width() <= available.width() and fitted.height() <= available.height()


def test_status_bar_numbers_do_not_lay_the_window_out_again(window, qtbot, layout_requests):
    # Every frame sets the step, loss and rate; a label that changed size made the status
    # bar, and with it the whole main window, lay itself out again each time.
    requests = layout_requests(window.statusBar())
    for text in ("step 1", "step 12,345,678", "step 7"):
        window.status.step_label.setText(text)
        window.status.loss_label.setText(f"loss {len(text)} · acc 5%")
        QtCore.QCoreApplication.sendPostedEvents()  # delivers any layout request the texts posted
    assert requests == []
    loss = window.status.loss_label
    widest = "loss 0.0001234 · acc 100% · test acc 100%"
    assert loss.width() >= loss.fontMetrics().horizontalAdvance(widest)
    small = loss.width()
    window.themes.set_theme("lecture")  # a larger font: the labels grow with it
    qtbot.waitUntil(lambda: loss.width() > small, timeout=2000)
    assert loss.width() >= loss.fontMetrics().horizontalAdvance(widest)
    window.themes.set_theme("dark")


def test_the_decision_dock_steps_aside_for_runs_without_an_input_plane(window, qtbot):
    assert window.decision_dock.isVisible()

    def run(preset):
        first = window.run.history
        window.configs.load_preset(preset)
        qtbot.waitUntil(lambda: window.run.history is not first and has_stats(window), timeout=WAIT_MS)

    run("rnn-T50")            # sequences: nothing to draw, the dock makes room
    assert not window.decision_dock.isVisible()
    run("deep-sigmoid")       # a plane again: the dock is back
    assert window.decision_dock.isVisible()
    run("nielsen-shallow")    # 64-D digits
    assert not window.decision_dock.isVisible()
    window.decision_dock.toggleViewAction().trigger()   # the user wants it anyway: it says why it is empty
    assert window.decision_dock.isVisible()
    assert "64-D" in window.decision.message.text()
    window.decision_dock.toggleViewAction().trigger()   # ... and puts it away: it stays away
    run("deep-sigmoid")
    assert not window.decision_dock.isVisible()


def test_a_finished_run_names_one_step_count_everywhere(qtbot, repo_presets):
    """After a 120-step run the status bar, the diagram's caption and the decision boundary's
    title all say step 120 (the last stats were measured before update 120: step index 119)."""
    w = MainWindow(preset="deep-sigmoid")
    qtbot.addWidget(w)
    w.show()
    qtbot.waitUntil(lambda: has_stats(w), timeout=WAIT_MS)
    w.start_run(w.run.config.replace(depth=3, width=8, steps=120))
    qtbot.waitUntil(lambda: has_stats(w), timeout=WAIT_MS)
    w.start()
    qtbot.waitUntil(lambda: w.run.step_count == 120 and not w.run.is_running, timeout=WAIT_MS)
    qtbot.waitUntil(lambda: "step 120" in w.status.step_label.text(), timeout=5000)
    qtbot.waitUntil(lambda: w.network.caption().startswith("step 120 "), timeout=5000)
    qtbot.waitUntil(lambda: w.decision.plot.getPlotItem().titleLabel.text == "step 120", timeout=5000)
    w.close()


def test_gui_config_and_set_are_the_first_run(qtbot, repo_presets):
    """`vgviz gui --preset P --set ...`: the window's first run trains the config the command
    line made, its fields show it, and the preset is no longer selected (the fields differ)."""
    from vgviz.core.presets import load_preset
    from vgviz.gui.app import use_first_config

    config = load_preset("deep-relu-he").config.replace(depth=3, width=7)
    w = MainWindow(preset="deep-relu-he")
    qtbot.addWidget(w)
    use_first_config(w, config, "deep-relu-he")
    w.show()
    qtbot.waitUntil(lambda: has_stats(w), timeout=WAIT_MS)
    assert w.run.config == config and w.panel.config() == config
    assert w.run.history.latest.n_layers == 4 and w.preset_name is None
    assert w.panel.preset_box.currentIndex() == -1
    w.close()
