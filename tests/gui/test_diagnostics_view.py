"""Diagnostics panel and compare window, driven with qtbot (offscreen)."""
from __future__ import annotations

import threading

import numpy as np
import pytest
from PySide6 import QtGui

from vgviz.core.presets import load_preset
from vgviz.gui.worker import TrainingWorker

from .conftest import WAIT_MS, wait_until_paused


def colour_present(image: QtGui.QImage, rgb: tuple[int, int, int], rect=None, tol=12) -> bool:
    """Is a pixel of about this colour inside rect (x, y, w, h) of the image?"""
    x0, y0, w, h = rect or (0, 0, image.width(), image.height())
    img = image.convertToFormat(QtGui.QImage.Format.Format_RGB32)
    ptr = img.constBits()
    arr = np.frombuffer(ptr, np.uint8).reshape(img.height(), img.bytesPerLine() // 4, 4)[:, : img.width(), :3]
    region = arr[y0:y0 + h, x0:x0 + w].astype(int)[..., ::-1]     # BGRA -> RGB
    return bool((np.abs(region - np.array(rgb)).max(-1) <= tol).any())


@pytest.fixture
def window_size():
    return (1400, 800)


def show_panel(window, qtbot, steps: int):
    window.diagnostics_dock.toggleViewAction().trigger()     # Diagnose ▸ Diagnostics panel (Ctrl+D)
    assert window.diagnostics_dock.isVisible()
    window.start()
    qtbot.waitUntil(lambda: window.run.step_count >= steps, timeout=WAIT_MS)
    window.pause()
    qtbot.waitUntil(lambda: not window.run.worker.is_running, timeout=5000)
    wait_until_paused(qtbot, window)
    panel = window.diagnostics
    qtbot.waitUntil(lambda: panel.activations is not None and panel.diagnosis is not None
                    and panel.diagnosis.finding("speed_of_learning").label != "no updates yet", timeout=WAIT_MS)
    panel.refresh()                 # what the 2 Hz timer does: now, with every step of the paused run
    return panel


def test_worker_runs_submitted_jobs_in_its_thread_and_cancels_after_stop(qtbot):
    worker = TrainingWorker(load_preset("shallow-sigmoid").config)
    worker.start()
    qtbot.waitUntil(lambda: worker.trainer is not None, timeout=WAIT_MS)
    future = worker.submit(lambda trainer: (threading.get_ident(), trainer.step_count))
    qtbot.waitUntil(future.done, timeout=5000)
    ident, steps = future.result()
    assert ident != threading.get_ident() and steps == 0
    failing = worker.submit(lambda trainer: 1 / 0)
    qtbot.waitUntil(failing.done, timeout=5000)
    assert isinstance(failing.exception(), ZeroDivisionError)
    worker.request_stop()
    assert worker.wait(5000)
    assert worker.submit(lambda trainer: 1).cancelled()


def test_panel_shows_verdict_findings_heat_strip_and_update_ratio(window, qtbot, tmp_path):
    panel = show_panel(window, qtbot, 60)
    d = panel.diagnosis
    assert d.verdict == "vanishing"
    html = panel.verdict_label.text()
    assert "VANISHING" in html and "href='preset:deep-relu-he'" in html
    # a fix links to its preset only when that preset exists
    from vgviz.core.presets import preset_names
    assert ("href='preset:deep-residual-relu30'" in html) == ("deep-residual-relu30" in preset_names())
    rows = [[panel.table.item(r, c).text() for c in range(4)] for r in range(panel.table.rowCount())]
    assert len(rows) == len(d.findings) == 8
    assert rows[0][:2] == ["δ by layer", "vanishing"] and rows[0][2].startswith("δ ratio ")
    assert rows[1][0] == "Forward signal" and rows[1][2].startswith("std ratio ")
    assert rows[2][:2] == ["|dL/dW| by layer", "vanishing"] and rows[2][2].startswith("ratio ")
    assert all(row[3] for row in rows)                                  # every finding shows its threshold
    assert panel.table.viewport().height() >= sum(panel.table.rowHeight(r) for r in range(len(rows)))  # none hidden
    assert panel.heat.matrix.shape == (8, 16) and panel.spread_heat.matrix.shape == (8, 16)
    # hover: the cell under the mouse names its layer and neuron, with its numbers
    from PySide6.QtCore import QPointF
    layer = panel.activations.layers[2]
    text = panel.heat.text_at(panel.heat.getPlotItem().vb.mapViewToScene(QPointF(5.5, 2.5)))
    assert text.startswith("hidden3 (Sigmoid) · neuron 5") and f"{layer.spread[5]:.3g}" in text
    assert len(panel.update_plot.curves) == 9
    x, y = panel.update_plot.curves[0].getData()
    assert len(x) >= 50 and np.isfinite(y).sum() >= 50 and np.nanmax(y) < -5   # hidden1 barely moves
    assert set(panel.compare_buttons) == {"shallower", "relu", "he", "residual", "batchnorm"}
    path = tmp_path / "diagnostics.png"
    image = panel.grab()
    assert image.save(str(path))
    assert colour_present(image.toImage(), (0xff, 0x6b, 0x6b), (0, 0, 300, 120))   # the red VANISHING badge
    assert panel.table.grab().save(str(tmp_path / "findings.png"))
    panel.tabs.setCurrentIndex(1)
    assert panel.grab().save(str(tmp_path / "neurons.png"))


def test_panel_refreshes_at_2_hz_not_per_step(window, qtbot, monkeypatch):
    from vgviz.core.diagnose import verdict

    calls = []
    real = verdict.diagnose
    monkeypatch.setattr(verdict, "diagnose", lambda *a, **k: calls.append(1) or real(*a, **k))
    window.diagnostics_dock.show()
    window.start()
    qtbot.waitUntil(lambda: window.run.step_count >= 5, timeout=WAIT_MS)
    calls.clear()
    start = window.run.step_count
    qtbot.wait(2000)  # fixed on purpose: refreshes are counted over a known time
    steps = window.run.step_count - start
    window.pause()
    assert window.diagnostics.timer.interval() == 500
    assert 2 <= len(calls) <= 6, len(calls)        # ~4 in 2 s
    assert steps > 4 * len(calls)                   # training ran much faster than the panel refreshed


def test_ablation_from_the_panel_matches_a_direct_measurement(window, qtbot):
    import torch

    from vgviz.core.diagnose.measures import ablate

    panel = show_panel(window, qtbot, 40)
    panel.ablate_k.setValue(3)
    panel.ablate_button.click()
    qtbot.waitUntil(lambda: panel.ablation is not None, timeout=WAIT_MS)
    trainer = window.run.worker.trainer          # paused: the weights are what the job saw
    x, y = torch.from_numpy(trainer.data.x_train), torch.from_numpy(trainer.data.y_train)
    direct = ablate(trainer.model, 3, x, y, initial_state=trainer.initial_state)
    assert panel.ablation == direct
    assert "accuracy" in panel.ablation_label.text()
    finding = panel.diagnosis.finding("reliance_on_upper_layers")
    assert finding.numbers["k"] == 3 and finding.numbers["drop"] == pytest.approx(direct.drop)


def test_shallower_counterpart_feeds_the_training_performance_finding(window, qtbot):
    panel = show_panel(window, qtbot, 20)
    panel.train_shallower()
    qtbot.waitUntil(lambda: panel.baseline is not None, timeout=WAIT_MS)
    assert panel.baseline.n_layers == 3 and panel.baseline.steps == 199
    perf = panel.diagnosis.finding("training_performance")
    assert perf.numbers["baseline_n_layers"] == 3 and perf.label in ("deeper is worse", "deeper is as good")
    assert panel._counterpart is None          # its thread was stopped


def test_fix_link_loads_the_preset(window, qtbot):
    panel = show_panel(window, qtbot, 5)
    panel.verdict_label.linkActivated.emit("preset:deep-relu-he")
    qtbot.waitUntil(lambda: window.preset_name == "deep-relu-he" and window.run.history is not None
                    and window.run.history.latest is not None, timeout=WAIT_MS)
    assert window.run.config.activation == "relu"
    qtbot.waitUntil(lambda: panel.history is window.run.history, timeout=WAIT_MS)   # re-attached to the new run


def test_compare_window_trains_both_and_closing_stops_both(qtbot, shown, tmp_path):
    from vgviz.gui.compare import LOCKSTEP_LEAD, SIDE_COLORS, CompareWindow

    config = load_preset("deep-sigmoid").config.replace(depth=4)
    w = shown(CompareWindow(config, "relu", title_a="deep-sigmoid (depth 4)"), 1100, 760)
    leads = []

    def sampled():
        a, b = w.a.steps_done, w.b.steps_done
        leads.append(abs(a - b))
        return a >= 40 and b >= 40
    qtbot.waitUntil(sampled, timeout=WAIT_MS)
    # each worker stops at the other's count (as the GUI last saw it, never more than it is
    # now) + LOCKSTEP_LEAD, so neither is ever further ahead, whichever is read first
    assert max(leads) <= LOCKSTEP_LEAD, max(leads)
    assert w.b.config.activation == "relu" and w.b.config.seed == config.seed and w.b.config.depth == 4
    assert "A" in w.a.title.text() and "B" in w.b.title.text() and "ReLU" in w.b.title.text()
    def points(curve):
        x = curve.getData()[0]
        return 0 if x is None else len(x)
    qtbot.waitUntil(lambda: all(points(c) > 10 for pair in w.curves.values() for c in pair), timeout=WAIT_MS)
    assert w.a.network.color_range() == w.b.network.color_range()     # one colour scale for both
    qtbot.waitUntil(lambda: w.a.diagnosis is not None and w.b.diagnosis is not None, timeout=WAIT_MS)
    image = w.grab()
    assert image.save(str(tmp_path / "compare.png"))
    img = image.toImage()
    half = img.width() // 2
    assert colour_present(img, tuple(QtGui.QColor(SIDE_COLORS["A"]).getRgb()[:3]), (0, 0, half, img.height()))
    assert colour_present(img, tuple(QtGui.QColor(SIDE_COLORS["B"]).getRgb()[:3]), (half, 0, half, img.height()))
    workers = w.workers
    assert len(workers) == 2 and all(t.isRunning() for t in workers)
    w.close()   # asks them to stop and never waits: they end after their current step
    qtbot.waitUntil(lambda: all(t.isFinished() for t in workers), timeout=5000)


def test_main_window_opens_compare_and_closes_it_on_exit(window, qtbot):
    compare = window.open_compare("shallower")
    qtbot.waitUntil(lambda: compare.a.steps_done >= 3 and compare.b.steps_done >= 3, timeout=WAIT_MS)
    assert compare.b.config.depth == 2 and compare.a.config == window.run.config
    workers = compare.workers
    window.close()
    qtbot.waitUntil(lambda: all(t.isFinished() for t in workers), timeout=5000)


def test_compare_window_follows_the_main_windows_theme(window, qtbot):
    from vgviz.gui.compare import LIGHT_SIDE_COLORS, SIDE_COLORS
    from vgviz.gui.theme import get_theme

    compare = window.open_compare("relu")
    assert compare.theme is window.themes.theme and compare.a.colors == SIDE_COLORS   # dark by default
    window.themes.set_theme("lecture")                 # Ctrl+L while the comparison is open
    lecture = get_theme("lecture")
    assert compare.theme is lecture and compare.a.colors == LIGHT_SIDE_COLORS
    assert compare.loss_plot.backgroundBrush().color() == QtGui.QColor(lecture.plot_background)
    assert compare.a.network.diagram_style().background == lecture.diagram.background
    assert compare.curves["B"][0].opts["pen"].color() == QtGui.QColor(LIGHT_SIDE_COLORS["B"])
    assert lecture.text in compare.a.box.styleSheet()   # the side's labels readable on white
    compare.close()


def test_diagnostics_plots_take_the_lecture_theme_and_draw_at_most_smooth_points(window, qtbot):
    import dataclasses

    from vgviz.core.measure.history import History
    from vgviz.gui.plots import SMOOTH_POINTS
    from vgviz.gui.theme import get_theme

    window.themes.set_theme("lecture")
    lecture = get_theme("lecture")
    panel = window.diagnostics
    white = QtGui.QColor(lecture.plot_background)
    assert panel.update_plot.backgroundBrush().color() == white
    assert all(strip.backgroundBrush().color() == white for strip in (panel.heat, panel.spread_heat))
    first = window.run.history.latest
    history = History(first.n_layers, capacity=20_000)
    ratio = np.full(first.n_layers, 1e-3)
    for step in range(5_000):
        history.append(dataclasses.replace(first, step=step, update_ratio=ratio))
    panel.update_plot.set_layers(list(first.layer_names))
    panel.update_plot.update_from(history)
    x, y = panel.update_plot.curves[0].getData()
    assert len(x) < 2 * SMOOTH_POINTS and x[-1] >= 4_990            # not 5,000
    np.testing.assert_allclose(y[10:], -3.0)            # log10 of the constant 1e-3 ratio
    assert panel.update_plot.curves[0].opts["pen"].color() == lecture.layer_colors(first.n_layers)[0]
