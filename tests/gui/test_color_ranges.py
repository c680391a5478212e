"""One colour meaning in both themes, the range modes' menu and the relative view (R)."""
from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
from PySide6 import QtCore, QtGui

from vgviz.core.layout.color_range import relative_to_output, union_range
from vgviz.core.layout.network_diagram import default_color_range
from vgviz.gui.network_view import NetworkView
from vgviz.gui.theme import COLORMAPS, DARK, LECTURE
from vgviz.gui.unrolled_view import UnrolledView

from .conftest import WAIT_MS, has_stats


def luminance(c: QtGui.QColor) -> float:
    """WCAG relative luminance."""
    def lin(v: float) -> float:
        return v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4
    return 0.2126 * lin(c.redF()) + 0.7152 * lin(c.greenF()) + 0.0722 * lin(c.blueF())


def contrast(a: QtGui.QColor, b: QtGui.QColor) -> float:
    la, lb = sorted((luminance(a), luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


@pytest.mark.parametrize("theme", [DARK, LECTURE], ids=["dark", "lecture"])
@pytest.mark.parametrize("family", COLORMAPS)
@pytest.mark.parametrize("view_class", [NetworkView, UnrolledView])
def test_small_gradients_fade_into_the_background_and_large_ones_are_saturated(qtbot, theme, family, view_class):
    view = view_class()
    qtbot.addWidget(view)
    view.set_style(theme.diagram_style(family))
    background = QtGui.QColor(theme.diagram.background)
    weakest, strongest = view.bucket_color(0), view.bucket_color(view.scene.n_buckets - 1)
    # the weakest colour's luminance is the background's (within 1.25:1, where text needs 4.5:1)
    assert contrast(weakest, background) < 1.25, (weakest.name(), background.name())
    assert strongest.hsvSaturationF() > 0.6 and contrast(strongest, background) > 3.0, strongest.name()


@pytest.fixture
def window_preset():
    return "shallow-sigmoid"


def test_key_r_shows_gradients_relative_to_the_output_layer_and_is_remembered(qtbot, window):
    from vgviz.gui.main_window import MainWindow

    scene = window.network.scene
    assert not scene.relative and "÷ output" not in scene.colorbar_title()
    qtbot.keyClick(window, QtCore.Qt.Key.Key_R)
    assert window.ranges.relative_action.isChecked() and scene.relative
    qtbot.waitUntil(lambda: scene.source is not None and scene.stats is not scene.source, timeout=WAIT_MS)
    out = scene.stats.grad_mean_abs[-1]
    assert out == pytest.approx(1.0)                  # the output layer ÷ itself
    assert "÷ output" in scene.colorbar_title() and "each layer ÷ the output layer's" in window.network.legend()
    window.close()
    again = MainWindow(preset="shallow-sigmoid")
    qtbot.addWidget(again)
    assert again.ranges.relative_action.isChecked() and again.network.scene.relative
    again.show()
    again.activateWindow()
    qtbot.waitUntil(again.isActiveWindow)
    qtbot.keyClick(again, QtCore.Qt.Key.Key_R)
    assert not again.network.scene.relative
    again.close()


def test_range_modes_from_the_menu_are_shown_on_the_colour_bar_and_remembered(qtbot, window):
    from vgviz.gui.main_window import MainWindow

    ranges, scene, unrolled = window.ranges, window.network.scene, window.recurrent.unrolled.scene
    assert scene.mode == "run" and scene.colorbar_title().endswith("· step 0")
    qtbot.keyClick(window, QtCore.Qt.Key.Key_A)                       # the A key is the auto mode
    assert ranges.mode_actions["auto"].isChecked() and scene.mode == unrolled.mode == "auto"
    assert window.panel.auto_range_box.isChecked() and scene.colorbar_title().endswith("· auto")
    ranges.mode_actions["shared"].trigger()
    assert scene.mode == "shared" and scene.range == ranges.shared.range is not None
    assert not window.panel.auto_range_box.isChecked()
    problem = ranges.set_fixed_text("0.1:1e-9")
    assert problem and "0 < LO < HI" in problem and scene.mode == "shared"   # refused: nothing changes
    assert ranges.set_fixed_text("1e-9:1e-1") is None
    assert ranges.mode_actions["fixed"].isChecked() and scene.range == (1e-9, 1e-1)
    assert "1e-09 … 1e-01, fixed (typed)" in window.network.legend()
    window.close()
    again = MainWindow(preset="shallow-sigmoid")
    qtbot.addWidget(again)
    assert again.ranges.mode == "fixed" and again.ranges.mode_actions["fixed"].isChecked()
    assert again.network.scene.fixed_range == (1e-9, 1e-1)
    again.show()
    qtbot.waitUntil(lambda: has_stats(again), timeout=WAIT_MS)
    qtbot.waitUntil(lambda: again.network.scene.range is not None, timeout=WAIT_MS)
    assert again.network.scene.range == (1e-9, 1e-1)
    again.close()


def test_a_compare_window_keeps_the_sessions_shared_range(qtbot, window):
    window.ranges.mode_actions["shared"].trigger()
    shared = window.ranges.shared.range
    compare = window.open_compare("activation=relu")
    qtbot.addWidget(compare)
    qtbot.waitUntil(lambda: all(s.network.scene.range is not None for s in (compare.a, compare.b)), timeout=WAIT_MS)
    assert compare.a.network.scene.range == compare.b.network.scene.range == shared
    compare.close()


def test_render_refuses_a_bad_range_in_one_line():
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    proc = subprocess.run([sys.executable, "-m", "vgviz.cli", "render", "--range", "1e-1:1e-9", "--out", "x.png"],
                          capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 2 and proc.stdout == ""
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("vgviz: error: argument --range:") and "0 < LO < HI" in lines[0]


def first_fit(side, relative: bool = False) -> tuple[float, float]:
    stats = side.history.first
    return default_color_range((relative_to_output(stats) if relative else stats).edge_abs)


@pytest.mark.parametrize("window_preset", ["deep-sigmoid"])   # its He variant's range reaches higher
def test_a_compare_window_with_no_shared_range_yet_takes_both_sides_fit(qtbot, window):
    window.ranges.mode_actions["shared"].trigger()
    window.ranges.shared.reset()                   # no range shared yet when the window opens
    compare = window.open_compare("he")
    qtbot.addWidget(compare)
    qtbot.waitUntil(lambda: all(s.network.scene.range is not None for s in (compare.a, compare.b)), timeout=WAIT_MS)
    both = union_range([first_fit(compare.a), first_fit(compare.b)])   # (A's alone reaches lower, B's higher)
    assert compare.a.network.scene.range == compare.b.network.scene.range == window.ranges.shared.range == both
    compare.close()


@pytest.mark.parametrize("window_preset", ["deep-sigmoid"])
def test_a_compare_window_in_the_relative_view_has_one_range_over_both_sides(qtbot, window):
    window.ranges.relative_action.setChecked(True)
    compare = window.open_compare("relu")
    qtbot.addWidget(compare)
    sides = (compare.a, compare.b)
    qtbot.waitUntil(lambda: all(s.network.scene.stats is not None for s in sides), timeout=WAIT_MS)
    both = union_range([first_fit(side, relative=True) for side in sides])
    assert first_fit(compare.a, True) != first_fit(compare.b, True)
    qtbot.waitUntil(lambda: all(s.network.scene.range == both for s in sides), timeout=WAIT_MS)
    assert compare.a.network.scene.relative and compare.b.network.scene.relative
    compare.close()


@pytest.mark.parametrize("window_preset", ["rnn-T50"])
def test_r_applies_to_the_unrolled_view_and_zero_has_its_own_colour(qtbot, window):
    view = window.recurrent.unrolled
    qtbot.waitUntil(lambda: view.scene.values is not None, timeout=WAIT_MS)
    raw = window.run.history.latest.timestep_grad
    window.ranges.relative_action.setChecked(True)
    qtbot.waitUntil(lambda: view.scene.relative and abs(view.scene.values[-1] - 1.0) < 1e-12, timeout=5000)
    np.testing.assert_allclose(view.scene.values, raw / raw[-1])
    assert "÷ the last one's" in view.legend()
    for theme in ("dark", "lecture"):            # exactly 0: not black, nor any colour of the map
        window.themes.set_theme(theme)
        zero = view.bucket_color(view.scene.zero_bucket).getRgb()[:3]
        ramp = {view.bucket_color(b).getRgb()[:3] for b in range(view.scene.n_buckets)}
        assert zero != (0, 0, 0) and min(sum(abs(a - b) for a, b in zip(zero, c)) for c in ramp) > 60, theme
