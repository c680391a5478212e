"""The panels that show the model options: forward signal, clipping marks, skip arcs, decision boundary."""
import numpy as np
import pytest
from PySide6 import QtCore

from vgviz.core.config import RunConfig
from vgviz.core.measure.history import History
from vgviz.core.presets import load_preset
from vgviz.core.tasks import make_trainer
from vgviz.gui.decision_view import DecisionView
from vgviz.gui.network_view import NetworkView, layer_colors
from vgviz.gui.plots import TrainingPlots
from vgviz.gui.settings import app_settings


def _history(config, steps):
    trainer = make_trainer(config)
    history = None
    for _ in range(steps):
        stats = trainer.step()
        history = history or History(stats.n_layers)
        history.append(stats)
    return trainer, history


def test_forward_signal_plot_draws_each_hidden_layers_std(qtbot):
    plots = TrainingPlots()
    qtbot.addWidget(plots)
    _, history = _history(load_preset("relu30-xavier").config, 2)
    plots.set_layers(list(history.latest.layer_names), layer_colors(history.latest.n_layers))
    plots.update_from(history)
    x, y = plots._signal_curve.getData()
    assert list(x) == list(range(1, 31))
    np.testing.assert_allclose(10 ** y, history.latest.activation_std, rtol=1e-9)
    assert y[-1] < y[0] - 2.5  # Xavier in a ReLU net: the signal falls by ~3 decades over 30 layers


def test_clipping_marks_sit_on_the_clipped_steps(qtbot):
    plots = TrainingPlots()
    qtbot.addWidget(plots)
    config = load_preset("exploding-clipped").config
    _, history = _history(config.replace(clip_norm=300.0), 12)  # clips most steps, not all
    assert 0 < history.clipped.sum() < len(history)
    plots.set_layers(list(history.latest.layer_names), layer_colors(history.latest.n_layers))
    plots.update_from(history)
    marks_x, marks_y = plots._clip_marks.getData()
    assert list(marks_x) == list(history.steps[history.clipped])
    np.testing.assert_allclose(10 ** marks_y, history.grad_norm_total[history.clipped], rtol=1e-9)
    assert (10 ** marks_y > 300.0).all()  # marked steps had a norm above the threshold, before clipping
    plots.clear()
    assert plots._clip_marks.getData()[0] is None or len(plots._clip_marks.getData()[0]) == 0


def test_skip_arcs_are_drawn_and_explain_themselves(qtbot, shown):
    view = shown(NetworkView(), 900, 500)
    trainer = make_trainer(RunConfig(depth=5, width=8, residual=True, activation="relu", init="he"))
    stats = trainer.measure()
    view.show_stats(stats)
    qtbot.waitExposed(view)
    image = view.grab().toImage()
    assert image.width() > 0
    assert view.scene.skip_pairs() == ((0, 2), (2, 4))
    arc = view.skip_path(0)
    text = view.tooltip_at(arc.pointAtPercent(0.5))
    assert "skip path hidden1 → hidden3" in text
    assert f"{stats.skip_grad[0]:.3e}" in text
    assert "skip paths" in view.legend()


def test_decision_boundary_for_2d_data_and_a_message_otherwise(shown):
    view = shown(DecisionView(), 300, 300)
    trainer, _ = _history(load_preset("deep-relu-he").config, 100)
    view.set_data(trainer.data.x_train, trainer.data.y_train)
    surface = trainer.decision_surface()
    view.show_surface(surface)
    assert view.image.image.shape == (64, 64, 3)
    # the colour under a training point matches the class the model predicts there
    assert len(np.unique(surface.predicted)) == 2
    assert not view.message.isVisibleTo(view)
    digits = make_trainer(RunConfig(dataset="digits", depth=1, width=8))
    assert digits.decision_surface() is None
    view.set_data(digits.data.x_train, digits.data.y_train)
    assert view.message.isVisibleTo(view) and "64-D" in view.message.text()


def test_decision_surface_matches_the_model():
    import torch

    trainer, _ = _history(load_preset("deep-relu-he").config, 50)
    s = trainer.decision_surface(resolution=16)
    x0, x1, y0, y1 = s.extent
    px, py = np.linspace(x0, x1, 16)[5], np.linspace(y0, y1, 16)[9]
    with torch.no_grad():
        probs = torch.softmax(trainer.model(torch.tensor([[px, py]], dtype=torch.float32)), 1)[0]
    assert s.predicted[9, 5] == int(probs.argmax())
    assert s.confidence[9, 5] == pytest.approx(float(probs.max()), rel=1e-5)


@pytest.mark.parametrize("window_preset", ["deep-relu-he"])
def test_main_window_shows_the_decision_boundary(window, qtbot):
    w = window
    qtbot.waitUntil(lambda: w.decision.surface is not None, timeout=5_000)
    assert w.decision.surface.step == 0
    w.run.step_once()
    qtbot.waitUntil(lambda: w.decision.surface is not None and w.decision.surface.step == 1, timeout=5_000)
    w.close()
    assert app_settings().value("window_state") is not None


def test_decision_view_takes_the_lecture_theme_and_fades_to_its_background(qtbot):
    from PySide6 import QtGui

    from vgviz.core.tasks.trainer import DecisionSurface
    from vgviz.gui import theme as themes

    view = DecisionView()
    qtbot.addWidget(view)
    predicted = np.zeros((4, 4), dtype=np.int64)
    confidence = np.full((4, 4), 0.5)          # two classes, no confidence: the background itself
    surface = DecisionSurface((0.0, 1.0, 0.0, 1.0), predicted, confidence, step=7)
    view.show_surface(surface)
    dark = view.image.image[0, 0].copy()
    view.set_theme(themes.get_theme("lecture"))
    white = QtGui.QColor(themes.get_theme("lecture").plot_background)
    assert view.plot.backgroundBrush().color() == white
    assert view.surface is surface and "step 7" in view.plot.plotItem.titleLabel.text
    light = view.image.image[0, 0]
    expected = np.array([white.red(), white.green(), white.blue()]) + 0.25 * (
        np.array([230, 159, 0]) - np.array([white.red(), white.green(), white.blue()]))
    np.testing.assert_allclose(light, expected.astype(np.uint8), atol=1)
    assert light.sum() > dark.sum()           # uncertain regions now fade toward white, not near-black


def test_skip_arcs_are_drawn_in_backprop_frames_grey_until_reached(shown):
    view = shown(NetworkView(), 900, 500)
    trainer = make_trainer(RunConfig(depth=5, width=8, residual=True, activation="relu", init="he"))
    view.show_stats(trainer.measure())
    trace = trainer.trace()
    backward = [i for i, f in enumerate(trace.frames) if f.phase == "backward"]
    unlit = view.scene.unlit_bucket
    view.show_frame(trace.display(backward[0]))
    middle = view.skip_path(0).pointAtPercent(0.5)
    drawn = view.grab().toImage().pixelColor(middle.toPoint())
    assert view.scene.skip_pairs() == ((0, 2), (2, 4))
    assert list(view.scene.skip_buckets) == [unlit, unlit]
    assert drawn == view.bucket_color(unlit)                       # the arc is drawn, grey
    assert "not reached yet" in view.tooltip_at(middle)
    view.show_frame(trace.display(backward[-1]))
    assert unlit not in list(view.scene.skip_buckets)
    drawn = view.grab().toImage().pixelColor(middle.toPoint())
    assert drawn == view.bucket_color(int(view.scene.skip_buckets[0]))
    text = view.tooltip_at(middle)
    assert "mean |dL/du|" in text


@pytest.mark.parametrize("height", [660, 700, 760, 823])
def test_the_decision_plot_settles_instead_of_relaying_itself_out_forever(qtbot, shown, height):
    # A tall, narrow dock (the default window's) once made the aspect-locked plot and its
    # self-sizing y axis chase each other: ~40 full redraws a second with nothing changed.
    view = shown(DecisionView(), 300, height)
    trainer = make_trainer(load_preset("deep-sigmoid").config)
    view.set_data(trainer.data.x_train, trainer.data.y_train)
    view.show_surface(trainer.decision_surface())
    # Both waits are fixed on purpose: the first layout takes pyqtgraph a few event-loop passes
    # with no signal that it is done, and the point is that nothing changes afterwards.
    qtbot.wait(300)
    changes = []
    view.plot.scene().changed.connect(changes.append)
    qtbot.wait(400)
    assert changes == []


def test_narrow_plots_take_a_shorter_title_that_fits_instead_of_a_cut_one(qtbot):
    from PySide6 import QtGui
    from vgviz.gui.theme import LECTURE, scaled_font

    plots = TrainingPlots()
    qtbot.addWidget(plots)
    plots.set_theme(LECTURE, scaled_font(LECTURE.font_scale))
    titles = {}
    for width in (1400, 480):  # four plots side by side: ~340 px each, then ~120
        plots.resize(width, 220)
        plots.show()
        # the layout has given the four plots their share of the new width (titles refit then)
        qtbot.waitUntil(lambda: plots.layout().geometry().width() == width, timeout=2000)
        titles[width] = [w.plotItem.titleLabel.text for w in (plots.norm_plot, plots.flow_plot, plots.signal_plot)]
    assert titles[1400] == ["Gradient norms", "Gradient flow", "Forward signal"]
    assert all("…" not in t for t in titles[480]) and titles[480] != titles[1400]
    for w in (plots.norm_plot, plots.flow_plot, plots.signal_plot):  # and what is shown fits across its plot
        font = QtGui.QFont(plots.font())
        font.setPointSizeF(plots._title_style[1])
        text_width = QtGui.QFontMetricsF(font).horizontalAdvance(w.plotItem.titleLabel.text)
        assert text_width <= w.width() - 10


def test_the_control_panel_is_as_wide_as_its_fields_in_the_lecture_font(qtbot):
    from PySide6 import QtWidgets
    from vgviz.core.presets import list_presets
    from vgviz.gui.control_panel import ControlPanel
    from vgviz.gui.theme import scaled_font

    panel = ControlPanel(list_presets())
    qtbot.addWidget(panel)
    panel.show()
    fields = panel.findChild(QtWidgets.QScrollArea).widget()
    normal = panel.minimumWidth()
    assert normal >= fields.sizeHint().width()
    panel.setFont(scaled_font(1.35))
    qtbot.waitUntil(lambda: panel.minimumWidth() > normal, timeout=2000)
    assert panel.minimumWidth() >= fields.sizeHint().width()


def test_live_text_changes_without_laying_out_its_parent_unless_it_needs_more_lines(qtbot, layout_requests):
    from PySide6 import QtWidgets
    from vgviz.gui.live_text import LiveText

    parent = QtWidgets.QWidget()
    qtbot.addWidget(parent)
    layout = QtWidgets.QVBoxLayout(parent)
    text = LiveText()
    layout.addWidget(text)
    layout.addWidget(QtWidgets.QWidget(), 1)
    parent.resize(400, 200)
    parent.show()
    qtbot.waitExposed(parent)
    text.setText("Step 1: 1.0e-03 over 49 steps back.")
    QtCore.QCoreApplication.sendPostedEvents()  # the one-line text laid out
    one_line = text.height()
    requests = layout_requests(parent)
    for step in range(2, 40):  # what a run does at display rate
        text.setText(f"Step {step}: {step}.0e-03 over 49 steps back.")
        QtCore.QCoreApplication.sendPostedEvents()  # delivers a layout request if the text posted one
    assert requests == [] and text.height() == one_line
    text.setText("Step 40: " + "a long explanation " * 12)  # wraps: the widget grows
    qtbot.waitUntil(lambda: text.height() > one_line, timeout=2000)
    assert text.text().startswith("Step 40")
