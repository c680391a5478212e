"""The recurrent views: the unrolled view renders and hovers, the ‖∂L/∂h_t‖ plot, and the main
window switching between MLP and recurrent presets (live and stepping) without freezing."""
import time

import numpy as np
import pytest
import torch
from PySide6 import QtCore, QtGui

from vgviz.core.config import RunConfig
from vgviz.core.tasks import make_trainer
from vgviz.gui.timestep_plot import RecurrentPanel, TimestepPlot
from vgviz.gui.unrolled_view import N_BUCKETS, UnrolledView

from .conftest import WAIT_MS, has_stats


def stats_for(model="rnn", seq_len=30, **changes):
    torch.set_num_threads(1)
    config = RunConfig(model=model, dataset="recall", seq_len=seq_len, depth=1, width=16, gate_init="chrono",
                       batch_size=16, **changes)
    return make_trainer(config).measure()


@pytest.fixture
def view(shown):
    return shown(UnrolledView(), 900, 320)


def _luma(c: QtGui.QColor) -> float:
    return 0.299 * c.redF() + 0.587 * c.greenF() + 0.114 * c.blueF()


def _pixel(img: QtGui.QImage, p: QtCore.QPointF) -> QtGui.QColor:
    return img.pixelColor(int(p.x()), int(p.y()))


def test_unrolled_view_renders_the_decay(view, qtbot):
    stats = stats_for("rnn")
    view.reset("rnn", 1)
    view.show_stats(stats)
    img = view.grab().toImage()
    assert not img.isNull() and img.width() >= 900
    colors = {img.pixel(x, y) for x in range(0, img.width(), 7) for y in range(0, img.height(), 7)}
    assert len(colors) > 30                                          # not blank
    first, last = _pixel(img, view.column_center(1)), _pixel(img, view.column_center(30))
    assert _luma(first) + 0.3 < _luma(last)                          # dark far from the loss, bright near it
    buckets = [view.column_bucket(t) for t in range(1, 31)]
    assert buckets == sorted(buckets) and buckets[-1] - buckets[0] > 25 and buckets[-1] > N_BUCKETS - 10
    lo, hi = view.color_range()
    assert lo <= stats.timestep_grad.min() and stats.timestep_grad.max() <= hi
    assert view.caption() == "T = 30 time steps, one column each"
    assert "fixed for this run at step 0" in view.legend()
    assert view.last_paint_ms < 50


def test_gated_runs_stay_bright(view):
    stats = stats_for("gru")
    view.reset("gru", 1)
    view.show_stats(stats)
    assert view.column_bucket(1) > N_BUCKETS // 2                 # on the same ≥12-decade scale: bright


def test_hover_gives_exact_values(view, qtbot):
    stats = stats_for("rnn", seq_len=20)
    view.reset("rnn", 1)
    view.show_stats(stats)
    pos = view.column_center(5)
    text = view.tooltip_at(pos)
    assert text.startswith("t = 5 of 20 (15 steps before the loss)")
    assert f"{stats.timestep_grad[4]:.3e}" in text and "of ‖∂L/∂h_T‖" in text
    qtbot.mouseMove(view, pos.toPoint())
    qtbot.waitUntil(lambda: view.hover_text() != "", timeout=2000)
    assert view.hover_text().startswith("t = 5 of 20")
    assert "loss" in view.tooltip_at(view.loss_center())
    assert view.tooltip_at(QtCore.QPointF(2, 2)) == ""


def test_large_T_is_grouped_and_says_so(shown):
    view = shown(UnrolledView(), 500, 300)
    values = np.logspace(-60, -1, 1000)
    values[:100] = 0.0                                             # underflowed steps
    stats = stats_for("rnn", seq_len=4)
    stats = type(stats)(**{**stats.__dict__, "timestep_grad": values})
    view.reset("rnn", 1)
    view.show_stats(stats)
    k = view.per_column
    assert k > 1 and f"columns of {k}" in view.caption() and "geometric mean" in view.caption()
    assert "green = exactly 0" in view.legend()
    assert view.column_bucket(1) == N_BUCKETS                        # the zero colour
    text = view.tooltip_at(view.column_center(700))
    assert "t = 700 of 1000" in text and f"{values[699]:.3e}" in text and "column t = " in text
    assert view.tooltip_at(view.column_center(50)).count("exactly 0") == 2
    view.grab()


def test_timestep_plot(qtbot):
    plot = TimestepPlot()
    qtbot.addWidget(plot)
    first = stats_for("rnn", seq_len=12)
    plot.show_stats(first)
    x, y = plot.curves()
    assert list(x) == list(range(1, 13))
    np.testing.assert_allclose(y, np.log10(first.timestep_grad))
    assert "Step 0:" in plot.summary.text() and "11 steps back" in plot.summary.text()
    lo, hi = plot.plot.getPlotItem().viewRange()[1]
    assert hi - lo >= 12                                              # the same ≥12 decades as the colours
    plot.reset()
    assert plot.curves()[0] is None or len(plot.curves()[0]) == 0


def test_stepper_frames_in_the_unrolled_view(view):
    trainer = make_trainer(RunConfig(model="lstm", dataset="recall", seq_len=8, depth=1, width=6, batch_size=4))
    trace = trainer.trace()
    view.reset("lstm", 1)
    view.show_frame(trace.display(2), trace.token_text)             # forward, t = 3
    assert view.column_bucket(4) == N_BUCKETS + 2                    # not computed yet: grey
    assert "not reached yet" in view.tooltip_at(view.column_center(6))
    assert trace.token_text[1] in view.tooltip_at(view.token_center(2))
    view.show_frame(trace.display(len(trace) - 1), trace.token_text)   # backward at t = 1: all lit
    assert all(view.column_bucket(t) < N_BUCKETS for t in range(1, 9))
    assert view.caption().startswith("B8 backward · t = 1")
    view.grab()
    view.show_frame(None)
    assert view.caption() == ""                                      # no live stats were shown


# -- the main window ----------------------------------------------------------------------

@pytest.fixture
def window_size():
    return (1200, 800)


class Responsiveness(QtCore.QObject):
    """The longest gap between 20 ms timer ticks: the GUI thread's worst stall."""

    def __init__(self):
        super().__init__()
        self.worst = 0.0
        self._last = time.monotonic()
        self.timer = QtCore.QTimer(self)
        self.timer.setInterval(20)
        self.timer.timeout.connect(self._tick)
        self.timer.start()

    def _tick(self):
        now = time.monotonic()
        self.worst = max(self.worst, now - self._last)
        self._last = now


def test_switching_mlp_rnn_mlp_never_freezes(window, qtbot):
    assert window.diagram_stack.currentWidget() is window.network
    watch = Responsiveness()
    for name, recurrent in (("rnn-T50", True), ("deep-sigmoid", False), ("lstm-T50", True), ("gru-T50", True),
                            ("shallow-sigmoid", False)):
        window.configs.load_preset(name)
        qtbot.waitUntil(lambda: has_stats(window), timeout=WAIT_MS)
        assert window.run.config.recurrent is recurrent
        shown = window.recurrent if recurrent else window.network
        assert window.diagram_stack.currentWidget() is shown
        start = window.run.step_count
        window.start()
        qtbot.waitUntil(lambda: window.run.step_count >= start + 3, timeout=WAIT_MS)
        window.pause()
        qtbot.waitUntil(lambda: window.run.history.latest.step >= start + 2, timeout=WAIT_MS)
        if recurrent:
            assert window.recurrent.unrolled.n_steps == 50
            assert window.recurrent.timesteps.curves()[0] is not None
            assert window.run.history.n_layers == 3                  # W_ih, W_hh, output
        else:
            assert window.network.drawn_edge_count() > 0
    assert watch.worst < 2.0, f"the GUI stalled for {watch.worst:.2f} s"


def test_recurrent_run_with_the_keys_and_the_stepper(window, qtbot):
    window.activateWindow()
    window.setFocus()
    window.configs.load_preset("gru-T50")
    qtbot.waitUntil(lambda: has_stats(window), timeout=WAIT_MS)
    assert window.recurrent.unrolled.hasFocus()                  # the shown view took the keyboard focus
    qtbot.keyClick(window.recurrent.unrolled, QtCore.Qt.Key.Key_Space)
    qtbot.waitUntil(lambda: window.run.step_count >= 2, timeout=WAIT_MS)
    qtbot.keyClick(window.recurrent.unrolled, QtCore.Qt.Key.Key_Space)
    qtbot.waitUntil(lambda: not window.run.worker.is_running, timeout=5000)
    window.backprop.record(None)
    qtbot.waitUntil(lambda: window.stepper.trace is not None, timeout=WAIT_MS)
    trace = window.stepper.trace
    assert len(trace) == 101 and window.backprop.active
    window.stepper.end()                                         # backward at t = 1
    assert window.stepper.frame_label.text() == "B50 backward · t = 1"
    assert "‖∂L/∂h_t‖" in window.stepper.explanation.text()
    assert window.recurrent.unrolled.caption().startswith("B50 backward · t = 1")
    window.stepper.home()
    assert window.stepper.frame_label.text().startswith("F1 forward · t = 1")
    window.backprop.leave()
    assert window.recurrent.unrolled.caption().startswith("T = 50")   # the live view again
    window.configs.load_preset("deep-sigmoid")                           # and an MLP trace afterwards still works
    qtbot.waitUntil(lambda: has_stats(window), timeout=WAIT_MS)
    window.backprop.record(None)
    qtbot.waitUntil(lambda: window.stepper.trace is not None, timeout=WAIT_MS)
    assert window.diagram_stack.currentWidget() is window.network and len(window.stepper.trace) == 19


def test_choosing_a_recurrent_model_in_the_panel_fixes_the_other_fields(window, qtbot):
    panel = window.panel
    panel.editors["model"].setCurrentText("lstm")
    assert panel.editors["dataset"].currentText() == "recall" and panel.editors["depth"].value() == 1
    window.configs.reset_run()
    qtbot.waitUntil(lambda: has_stats(window), timeout=WAIT_MS)
    assert window.run.config.model == "lstm" and not panel.error_label.isVisibleTo(panel)
    assert window.diagram_stack.currentWidget() is window.recurrent
    panel.editors["model"].setCurrentText("mlp")
    assert panel.editors["dataset"].currentText() == "spiral"
    panel.editors["dataset"].setCurrentText("recall")              # a bad combination is named, run goes on
    window.configs.reset_run()
    assert panel.error_label.text().startswith("model: dataset = recall is a sequence task")


def test_lecture_theme_and_colour_map_reach_the_unrolled_view_and_its_plot(shown):
    from vgviz.gui import theme as themes

    panel = shown(RecurrentPanel(), 900, 600)
    panel.show_stats(stats_for())
    dark_strong = panel.unrolled.strong_color()
    lecture = themes.get_theme("lecture")
    panel.set_theme(lecture, "blue")
    image = panel.unrolled.grab().toImage()
    assert image.pixelColor(3, 3) == QtGui.QColor(lecture.diagram.background)     # white page
    strong = panel.unrolled.strong_color()
    assert strong != dark_strong and strong.lightness() < 130   # on white the scale runs to a saturated colour
    assert panel.timesteps.plot.backgroundBrush().color() == QtGui.QColor(lecture.plot_background)
    assert panel.timesteps._now_curve.opts["pen"].color() == strong


@pytest.mark.parametrize("window_preset", ["lstm-T50"])
def test_the_diagram_picture_of_a_recurrent_run_is_the_unrolled_view(window, qtbot, tmp_path):
    from vgviz.gui.animate import OffscreenViews
    from vgviz.gui import theme as themes

    config = RunConfig(model="lstm", dataset="recall", depth=1, width=16, seq_len=20, steps=3, batch_size=16)
    trainer = make_trainer(config)
    views = OffscreenViews(themes.get_theme("dark"))
    views.start(trainer.measure(), config)
    assert views.widget("diagram") is views.recurrent
    views.add(trainer.step())
    trace = trainer.trace()
    views.show_frame(trace, 3)
    assert views.recurrent.unrolled.scene.frame is not None
    views.close()

    w = window
    assert w.exports.view_widget("diagram") is w.recurrent          # what the diagram's place shows
    qtbot.mouseClick(w.recurrent.unrolled, QtCore.Qt.MouseButton.LeftButton)
    assert w.exports.current_view == "diagram"
