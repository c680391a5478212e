"""While a run trains, the views paint less: one repaint per plot update, no antialiasing
of thousands of diagram edges. Paused, they are back to full quality."""
import numpy as np
from PySide6 import QtCore, QtGui, QtWidgets

from vgviz.core.config import RunConfig
from vgviz.core.measure.history import History
from vgviz.core.tasks import make_trainer
from vgviz.core.tasks.trainer import Trainer
from vgviz.gui.network_view import ANTIALIAS_MAX_EDGES, NetworkView
from vgviz.gui.plots import TrainingPlots

from .conftest import WAIT_MS


class PaintCounter(QtCore.QObject):
    def __init__(self):
        super().__init__()
        self.count = 0

    def eventFilter(self, obj, event):  # noqa: N802 - Qt name
        if event.type() == QtCore.QEvent.Type.Paint:
            self.count += 1
        return False


def history_of(steps: int) -> tuple[Trainer, History]:
    trainer = make_trainer(RunConfig(depth=3, width=8, steps=10_000))
    history = History(4)
    for i in range(steps):
        history.append(trainer.step(full=i % 5 == 0))
    return trainer, history


def paint_counters(plots) -> list[PaintCounter]:
    """One counter of paint events per plot's viewport, counting from now."""
    counters = []
    for w in plots.plot_widgets.values():
        c = PaintCounter()
        w.viewport().installEventFilter(c)
        counters.append(c)
    return counters


def paints_per_update(qtbot, plots, trainer, history) -> list[int]:
    counters = paint_counters(plots)
    for _ in range(10):
        history.append(trainer.step(full=False))
    history.append(trainer.step())
    plots.update_from(history)
    qtbot.waitUntil(lambda: all(c.count >= 1 for c in counters), timeout=5000)
    qtbot.wait(300)  # fixed on purpose: the point is that no second paint comes in this time
    return [c.count for c in counters]


def test_live_plots_repaint_once_per_update_and_show_the_new_data(qtbot):
    trainer, history = history_of(40)
    plots = TrainingPlots()
    qtbot.addWidget(plots)
    plots.set_layers(list(history.latest.layer_names), [QtGui.QColor("red")] * 4)
    plots.resize(1000, 260)
    first_paints = paint_counters(plots)
    plots.show()
    plots.update_from(history)
    qtbot.waitUntil(lambda: all(c.count >= 1 for c in first_paints), timeout=5000)  # the first data drawn
    assert max(paints_per_update(qtbot, plots, trainer, history)) >= 2   # pyqtgraph's own rhythm
    plots.set_live(True)
    assert all(w.viewportUpdateMode() == QtWidgets.QGraphicsView.ViewportUpdateMode.NoViewportUpdate
               for w in plots.plot_widgets.values())
    assert paints_per_update(qtbot, plots, trainer, history) == [1, 1, 1, 1]
    # the one paint shows the new data: the loss plot's x range reaches the last step
    x_max = plots.loss_plot.getViewBox().viewRange()[0][1]
    assert x_max >= history.steps[-1]
    plots.set_live(False)
    assert all(w.viewportUpdateMode() == QtWidgets.QGraphicsView.ViewportUpdateMode.MinimalViewportUpdate
               for w in plots.plot_widgets.values())


def antialiased_paints(view: NetworkView) -> list[bool]:
    """Paint the view into an image and report the antialiasing of every drawLines call."""
    seen = []
    original = QtGui.QPainter.drawLines
    image = QtGui.QImage(view.size(), QtGui.QImage.Format.Format_ARGB32_Premultiplied)
    try:
        QtGui.QPainter.drawLines = lambda p, *a: (seen.append(
            bool(p.renderHints() & QtGui.QPainter.RenderHint.Antialiasing)), original(p, *a))[1]
        view.render(image)
    finally:
        QtGui.QPainter.drawLines = original
    return seen


def test_diagram_drops_antialiasing_of_many_edges_only_while_live(shown):
    from vgviz.gui import theme as themes

    trainer = make_trainer(RunConfig(depth=6, width=32, activation="relu", init="he"))
    stats = trainer.step()
    view = NetworkView()
    themes.apply_theme(themes.get_theme("lecture"), network=view)   # antialiases up to 6,000 edges
    shown(view, 700, 500)
    view.show_stats(stats)
    assert view.drawn_edge_count() > ANTIALIAS_MAX_EDGES
    assert all(antialiased_paints(view))
    view.set_live(True)
    assert not any(antialiased_paints(view))
    view.set_live(False)
    assert all(antialiased_paints(view))


def test_window_sets_its_views_live_while_training(window, qtbot):
    w = window
    live = QtWidgets.QGraphicsView.ViewportUpdateMode.NoViewportUpdate
    assert w.plots.loss_plot.viewportUpdateMode() != live and not w.network.live
    w.start()
    qtbot.waitUntil(lambda: w.run.step_count >= 5, timeout=WAIT_MS)
    assert w.plots.loss_plot.viewportUpdateMode() == live and w.network.live
    w.pause()
    qtbot.waitUntil(lambda: not w.network.live, timeout=5000)
    assert w.plots.loss_plot.viewportUpdateMode() != live


def test_smooth_is_a_trailing_mean_per_column_and_strides_exactly():
    from vgviz.gui.plots import smooth

    rng = np.random.default_rng(0)
    values = rng.normal(size=(500, 3))
    values[7, 1] = np.nan                                   # a diverged step is skipped, not spread
    window, every = 20, 7
    got = smooth(values, window, every)
    rows = np.arange(500)[::every]
    assert got.shape == (len(rows), 3)
    for k, r in enumerate(rows):
        expected = np.nanmean(values[max(0, r + 1 - window):r + 1], axis=0)
        np.testing.assert_allclose(got[k], expected, rtol=1e-9)
    np.testing.assert_allclose(smooth(values[:, 2], window, every), got[:, 2], rtol=1e-12)   # 1-D alike


def test_many_test_evaluations_are_drawn_as_an_even_subset_with_the_last(qtbot):
    from vgviz.gui.plots import TEST_POINTS

    trainer = make_trainer(RunConfig(depth=2, width=4, eval_every=1, steps=10_000))
    history = History(3)
    for i in range(3 * TEST_POINTS):
        history.append(trainer.step(full=i == 0))
    plots = TrainingPlots()
    qtbot.addWidget(plots)
    plots.set_layers(list(history.latest.layer_names), [QtGui.QColor("red")] * 3)
    plots.update_from(history)
    x, y = plots._test_curve.getData()
    assert len(x) == TEST_POINTS and x[0] == history.test[0, 0] and x[-1] == history.test[-1, 0]
    assert set(x) <= set(history.test[:, 0])
    assert plots._test_curve.opts["symbol"] is None             # many: a line, not a band of dots


def test_live_diagram_text_changes_at_most_every_text_period(shown, monkeypatch):
    import vgviz.gui.network_view as network_view

    trainer = make_trainer(RunConfig(depth=3, width=8, activation="relu", init="he", lr=0.5))
    stats = [trainer.step() for _ in range(3)]
    view = shown(NetworkView(), 640, 420)

    def label_band(s):
        view.show_stats(s)
        image = view.grab().toImage()
        band = view.label_band().toRect()
        return image.copy(band)

    assert label_band(stats[0]) != label_band(stats[1])       # paused: every frame's numbers
    monkeypatch.setattr(network_view, "TEXT_PERIOD_S", 3600.0)  # (no timing race on a busy machine)
    view.set_live(True)
    first = label_band(stats[0])
    assert label_band(stats[1]) == first                      # live: held for TEXT_PERIOD_S ...
    monkeypatch.setattr(network_view, "TEXT_PERIOD_S", 0.0)
    assert label_band(stats[2]) != first                      # ... then the newest numbers
    view.set_live(False)
    assert label_band(stats[1]) == label_band(stats[1]) != label_band(stats[2])


def test_a_picture_of_a_live_diagram_is_the_paused_picture(shown):
    from vgviz.gui import theme as themes
    from vgviz.gui.export import render_image

    trainer = make_trainer(RunConfig(depth=6, width=32, activation="relu", init="he"))
    first, second = trainer.step(), trainer.step()
    view = NetworkView()
    themes.apply_theme(themes.get_theme("lecture"), network=view)
    shown(view, 700, 500)
    view.show_stats(first)
    view.show_stats(second)
    paused = render_image(view, scale=2)
    view.set_live(True)
    view.show_stats(first)
    view.grab()                      # the live text layer now holds the first frame's numbers
    view.show_stats(second)
    assert render_image(view, scale=2) == paused     # full quality, and this frame's numbers
    assert view.live                                 # and back to live drawing afterwards


def test_a_few_test_evaluations_are_dots(qtbot):
    from vgviz.gui.plots import TEST_MARKERS

    trainer = make_trainer(RunConfig(depth=2, width=4, eval_every=1, steps=10_000))
    history = History(3)
    for i in range(TEST_MARKERS):
        history.append(trainer.step(full=i == 0))
    plots = TrainingPlots()
    qtbot.addWidget(plots)
    plots.set_layers(list(history.latest.layer_names), [QtGui.QColor("red")] * 3)
    plots.update_from(history)
    assert plots._test_curve.opts["symbol"] == "o" and len(plots._test_curve.getData()[0]) == TEST_MARKERS


def test_step_axis_labels_stay_short():
    from vgviz.gui.plots import StepAxis

    axis = StepAxis("bottom")
    assert axis.tickStrings([0, 500, 1000, 1500, 20_000, 1_250_000], 1.0, 500) == \
        ["0", "500", "1k", "1.5k", "20k", "1.25M"]


def test_step_axis_has_no_ticks_between_steps():
    from vgviz.gui.plots import StepAxis

    axis = StepAxis("bottom")
    assert all(spacing >= 1 for spacing, _ in axis.tickSpacing(-0.5, 0.5, 100))
    assert axis.tickSpacing(0, 10_000, 300)[0][0] >= 1000


def test_step_axis_labels_keep_their_distance_in_a_narrow_plot():
    from vgviz.gui.plots import StepAxis

    axis = StepAxis("bottom")
    min_px = QtGui.QFontMetricsF(QtGui.QFont()).horizontalAdvance("0000  ")
    for size in (90, 120, 300):
        ((spacing, _),) = axis.tickSpacing(0, 900, size)
        assert spacing / 900 * size >= min_px


def test_a_live_diagram_draws_fewer_edges_and_all_of_them_when_paused(shown):
    from vgviz.gui.network_view import LIVE_EDGE_BUDGET

    trainer = make_trainer(RunConfig(depth=8, width=32, activation="relu", init="he"))
    stats = trainer.step()
    view = shown(NetworkView(), 800, 500)
    view.show_stats(stats)
    assert view.drawn_edge_count() == 4000 and "4,000" in view.caption()
    view.set_live(True)
    assert view.drawn_edge_count() <= LIVE_EDGE_BUDGET and f"{view.drawn_edge_count():,}" in view.caption()
    for edges, idx in zip(stats.edge_abs, view.scene.selection.indices):   # still the strongest of every pair
        flat = edges.ravel()
        if len(idx) < flat.size:
            assert flat[idx].min() >= np.delete(flat, idx).max()
    view.set_live(False)
    assert view.drawn_edge_count() == 4000


def counting(calls: dict, name: str, method):
    """``method``, counting its calls in ``calls[name]``."""
    def call(*args):
        calls[name] += 1
        return method(*args)
    return call


def test_views_that_cannot_be_seen_are_not_updated_while_training_and_catch_up_when_shown(window, qtbot):
    """Updating a view nobody sees is training time lost: a zero-size splitter pane (the plots),
    and the decision boundary's dock tabbed behind the stepper's, are left alone while training,
    and show the latest numbers as soon as they are shown again."""
    from vgviz.gui.display import PLOT_EVERY_N_TICKS

    w = window
    calls = {"plots": 0, "surface": 0}

    w.plots.update_from = counting(calls, "plots", w.plots.update_from)
    w.decision.show_surface = counting(calls, "surface", w.decision.show_surface)
    sizes = w.centre_splitter.sizes()
    w.centre_splitter.setSizes([sum(sizes), 0])
    w.stepper_dock.show()         # tabbed with the decision boundary's dock, and in front of it
    w.stepper_dock.raise_()
    qtbot.waitUntil(lambda: w.plots.visibleRegion().isEmpty() and w.decision.visibleRegion().isEmpty(), timeout=5000)
    shown_step = w.network.scene.stats.step
    w.start()
    ticks = w.display.ticks
    qtbot.waitUntil(lambda: w.display.ticks >= ticks + 3 * PLOT_EVERY_N_TICKS and w.run.step_count > 50,
                    timeout=WAIT_MS)
    assert calls == {"plots": 0, "surface": 0}
    assert w.network.scene.stats.step > shown_step     # the diagram, in sight, went on drawing

    w.centre_splitter.setSizes(sizes)
    w.decision_dock.raise_()
    qtbot.waitUntil(lambda: calls["plots"] > 0 and calls["surface"] > 0, timeout=5000)
    w.pause()


def test_while_training_the_gui_thread_leaves_choosing_the_drawn_edges_to_the_training_thread(
        window, qtbot, monkeypatch):
    """Choosing the strongest edges of a full capture is ~1.5 ms of numpy, GIL the trainer waits
    for at every frame: the training thread chooses them when it publishes the capture
    (scene.prepare_edges), and the diagram's frames find them chosen."""
    import threading

    from vgviz.core.layout import network_diagram as topo

    in_gui_thread: list[bool] = []
    choose = topo.reduce_edges

    def recording(*args, **kwargs):
        in_gui_thread.append(threading.current_thread() is threading.main_thread())
        return choose(*args, **kwargs)

    monkeypatch.setattr(topo, "reduce_edges", recording)
    w = window
    w.start()
    def draws_new_steps(n: int) -> None:
        drawn = []
        qtbot.waitUntil(lambda: (drawn.append(w.network.scene.stats.step), len(set(drawn)) > n)[1], timeout=WAIT_MS)

    draws_new_steps(2)              # live (going live re-chose the edges shown, in the GUI thread)
    in_gui_thread.clear()
    draws_new_steps(5)
    while_live = list(in_gui_thread)     # (pausing re-chooses, in the GUI thread, for the paused budget)
    w.pause()
    assert while_live.count(False) >= 3      # the new captures drawn were chosen by the worker ...
    assert not any(while_live)               # ... and never again by the GUI thread


def test_while_training_the_status_bar_and_timeline_update_a_few_times_a_second_and_catch_up_on_pause(
        window, qtbot):
    """Relaying out and repainting the status bar and the timeline at every display tick was ~2 %
    of the wall clock in the GUI thread, for a step count too fast to read: while training they
    follow every STATUS_EVERY_N_TICKS ticks; paused, they show the last step at once."""
    from vgviz.core.measure.steps import step_text
    from vgviz.gui.display import STATUS_EVERY_N_TICKS

    w = window
    calls = {"status": 0, "timeline": 0}

    w.status.show_stats = counting(calls, "status", w.status.show_stats)
    w.runs.timeline.set_end = counting(calls, "timeline", w.runs.timeline.set_end)
    w.start()
    qtbot.waitUntil(lambda: w.run.step_count > 20, timeout=WAIT_MS)
    ticks = w.display.ticks
    calls.update(status=0, timeline=0)
    qtbot.waitUntil(lambda: w.display.ticks >= ticks + 4 * STATUS_EVERY_N_TICKS, timeout=WAIT_MS)
    seen, n_ticks = dict(calls), w.display.ticks - ticks
    w.pause()
    assert 1 <= seen["status"] <= n_ticks // STATUS_EVERY_N_TICKS + 1, (seen, n_ticks)
    assert 1 <= seen["timeline"] <= n_ticks // STATUS_EVERY_N_TICKS + 1, (seen, n_ticks)
    qtbot.waitUntil(lambda: w.runs.timeline.slider.maximum() == w.run.step_count - 1
                    and w.status.step_label.text() == step_text(w.run.step_count), timeout=WAIT_MS)
