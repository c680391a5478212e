"""File ▸ Export, Ctrl+S / Ctrl+Shift+S / Ctrl+C, the current view and the lecture theme in the main window."""
from __future__ import annotations

import os

import numpy as np
import pytest
from PySide6 import QtCore, QtGui, QtWidgets

from vgviz.gui.export_controller import SETTING_FOLDER, AnimationDialog, ExportDialog
from vgviz.gui.main_window import MainWindow
from vgviz.gui.settings import app_settings

from .conftest import WAIT_MS

Key = QtCore.Qt.Key
Mod = QtCore.Qt.KeyboardModifier


@pytest.fixture
def window_preset():
    return "shallow-sigmoid"


@pytest.fixture
def window_size():
    return (1000, 700)


def test_file_menu_has_the_exports_with_shortcuts(window):
    texts = {a.text().replace("&", ""): a.shortcut().toString() for a in window.file_menu.actions()}
    assert texts["Export current view…"] == "Ctrl+S"
    assert texts["Export window…"] == "Ctrl+Shift+S"
    assert texts["Copy current view"] == "Ctrl+C"
    assert texts["Export animation…"] == "Ctrl+E"
    assert window.file_menu.actions()[-1].text().replace("&", "") == "Quit"     # still last
    view_texts = [a.text().replace("&", "") for a in window.view_menu.actions()]
    assert "Lecture theme" in view_texts and "Colour map" in view_texts


def test_clicking_a_view_makes_it_current_and_ctrl_s_exports_it(window, qtbot, tmp_path):
    exports = window.exports
    assert exports.current_view == "diagram"
    loss = window.plots.loss_plot
    qtbot.mouseClick(loss.viewport(), QtCore.Qt.MouseButton.LeftButton, pos=QtCore.QPoint(40, 40))
    assert exports.current_view == "loss"
    window.setFocus()
    qtbot.keyClick(window, Key.Key_S, Mod.ControlModifier)
    dialog = exports.dialog
    assert isinstance(dialog, ExportDialog) and dialog.isVisible()
    assert dialog.view == "loss"
    assert "loss plot" in dialog.view_note.text() and "the view you last clicked" in dialog.view_note.text()
    assert dialog.preview.pixmap() is not None and not dialog.preview.pixmap().isNull()
    name = os.path.basename(dialog.path)
    step = window.run.history.latest.step
    assert name == f"vgviz-shallow-sigmoid-loss-step{step}-{dialog.scale}x.png"
    dialog.path_row.edit.setText(str(tmp_path / "loss.png"))
    dialog.scale_box.setCurrentIndex(1)                      # 2×
    assert dialog.save()
    image = QtGui.QImage(str(tmp_path / "loss.png"))
    assert (image.width(), image.height()) == (2 * loss.width(), 2 * loss.height())
    assert window.settings.value(SETTING_FOLDER) == str(tmp_path)
    # Ctrl+Shift+S: the window, which has no SVG
    qtbot.keyClick(window, Key.Key_S, Mod.ControlModifier | Mod.ShiftModifier)
    dialog = exports.dialog
    assert dialog.view == "window" and "not the view you last clicked" in dialog.view_note.text()
    assert os.path.dirname(dialog.path) == str(tmp_path)     # the last folder is remembered
    assert not dialog.format_box.model().item(1).isEnabled()
    dialog.reject()


def test_dialog_error_is_shown_and_nothing_written(window, tmp_path):
    tmp_path = tmp_path / "out"
    tmp_path.mkdir()
    blocker = tmp_path / "afile"
    blocker.write_text("x")
    dialog = window.exports.export_dialog("diagram")
    dialog.format_box.setCurrentIndex(1)                      # SVG
    dialog.path_row.edit.setText(str(blocker / "d.svg"))
    assert not dialog.save()
    assert dialog.isVisible() and dialog.error_label.isVisibleTo(dialog)
    assert "is a file, not a folder" in dialog.error_label.text()
    dialog.path_row.edit.setText(str(tmp_path / "d"))        # the suffix is added
    assert dialog.save()
    assert sorted(os.listdir(tmp_path)) == ["afile", "d.svg"]
    assert b"<svg" in (tmp_path / "d.svg").read_bytes()[:400]


def test_ctrl_c_copies_text_in_a_field_and_the_view_elsewhere(window, qtbot):
    clipboard = QtWidgets.QApplication.clipboard()
    clipboard.clear()
    field = window.panel.editors["lr"]
    field.setFocus()
    qtbot.waitUntil(field.hasFocus, timeout=2000)
    field.setText("0.125")
    field.selectAll()
    qtbot.keyClick(field, Key.Key_C, Mod.ControlModifier)
    assert clipboard.text() == "0.125"
    assert clipboard.image().isNull()
    # from the diagram: a picture of the diagram
    qtbot.mouseClick(window.network, QtCore.Qt.MouseButton.LeftButton, pos=QtCore.QPoint(5, 5))
    window.setFocus()
    qtbot.keyClick(window, Key.Key_C, Mod.ControlModifier)
    image = clipboard.image()
    assert (image.width(), image.height()) == (window.network.width(), window.network.height())
    assert "copied network diagram" in window.statusBar().currentMessage()


def test_lecture_theme_toggles_every_view_and_is_remembered(window, qtbot):
    themes = window.themes
    assert themes.theme.name == "dark"
    dark_font = window.network.font().pointSizeF()
    qtbot.keyClick(window, Key.Key_L, Mod.ControlModifier)
    assert themes.theme.name == "lecture" and themes.lecture_action.isChecked()
    assert QtGui.QColor(window.network.diagram_style().background).lightnessF() > 0.9
    assert window.network.font().pointSizeF() > dark_font
    assert window.plots.loss_plot.backgroundBrush().color().lightnessF() > 0.9
    assert window.palette().color(QtGui.QPalette.ColorRole.Window).lightnessF() > 0.8
    assert window.stepper.palette().color(QtGui.QPalette.ColorRole.Window).lightnessF() > 0.8
    image = window.exports.copy_current_view()
    assert np.median(np.frombuffer(image.convertToFormat(QtGui.QImage.Format.Format_Grayscale8).constBits(),
                                   dtype=np.uint8)) > 200
    themes.colormap_actions["blue"].trigger()
    assert window.network.diagram_style().colormap == "CET-L12"     # the blue family's map for white
    window.close()
    again = MainWindow(preset="shallow-sigmoid")
    qtbot.addWidget(again)
    assert again.themes.theme.name == "lecture" and again.themes.colormap == "blue"
    assert again.network.diagram_style().colormap == "CET-L12"
    again.close()


def test_backprop_animation_and_caption_from_the_window(window, qtbot, tmp_path):
    from PIL import Image

    window.backprop.record()
    qtbot.waitUntil(lambda: window.stepper.trace is not None, timeout=WAIT_MS)
    trace = window.stepper.trace
    window.stepper.set_cursor(2)
    caption = window.exports.caption_for("diagram")
    assert f"frame 3 of {len(trace)}" in caption and window.run.config.summary() in caption
    assert f"step {window.run.step_count}" in caption
    dialog = window.exports.animation_dialog()
    assert isinstance(dialog, AnimationDialog) and dialog.pass_radio.isEnabled() and dialog.kind == "pass"
    dialog.reject()
    n = window.exports.export_trace_animation("window", str(tmp_path / "pass.gif"), fps=4, caption=True)
    assert n == len(trace)
    with Image.open(tmp_path / "pass.gif") as gif:
        assert gif.n_frames == len(trace)
        assert gif.size[0] == window.width() and gif.size[1] > window.height()      # the caption band
    assert window.stepper.cursor == 2                                              # put back


def test_timelapse_from_the_window(window, tmp_path):
    from PIL import Image

    n = window.exports.export_timelapse("diagram", str(tmp_path / "t.gif"), steps=4, every=2, fps=5)
    assert n == 3
    with Image.open(tmp_path / "t.gif") as gif:
        assert gif.n_frames == 3
        assert gif.size == (window.network.width(), window.network.height())


def test_settings_are_isolated(tmp_path):
    """The app's settings store (native format outside tests) must be redirected, or the tests read
    and write the real user's settings (and leak themes and folders between tests)."""
    settings = app_settings()
    assert settings.fileName().startswith(str(tmp_path))


def test_cancelling_the_progress_dialog_writes_nothing(window, qtbot, tmp_path, monkeypatch):
    monkeypatch.setattr(QtWidgets.QProgressDialog, "wasCanceled", lambda self: True)
    assert window.exports.export_timelapse("loss", str(tmp_path / "t.gif"), steps=6, every=1) is None
    assert os.listdir(tmp_path) == [] or os.listdir(tmp_path) == ["settings"]
    assert "cancelled" in window.statusBar().currentMessage()


@pytest.mark.parametrize("scale, caption", [("abc", "maybe"), ("3", "2"), ("", "")])
def test_corrupt_export_settings_mean_the_defaults(window, qtbot, tmp_path, scale, caption):
    """A hand-edited or foreign settings file must not break Ctrl+S or Ctrl+C."""
    from vgviz.gui.export_controller import SETTING_CAPTION, SETTING_SCALE

    window.settings.setValue(SETTING_SCALE, scale)
    window.settings.setValue(SETTING_CAPTION, caption)
    window.settings.sync()
    qtbot.mouseClick(window.network, QtCore.Qt.MouseButton.LeftButton, pos=QtCore.QPoint(5, 5))
    window.setFocus()
    QtWidgets.QApplication.clipboard().clear()
    qtbot.keyClick(window, Key.Key_C, Mod.ControlModifier)
    image = QtWidgets.QApplication.clipboard().image()
    assert (image.width(), image.height()) == (window.network.width(), window.network.height())   # 1×, no caption
    qtbot.keyClick(window, Key.Key_S, Mod.ControlModifier)
    dialog = window.exports.dialog
    assert isinstance(dialog, ExportDialog) and dialog.isVisible()
    assert dialog.scale == 2 and not dialog.caption_box.isChecked()
    dialog.path_row.edit.setText(str(tmp_path / "d.png"))
    assert dialog.save()
    assert QtGui.QImage(str(tmp_path / "d.png")).width() == 2 * window.network.width()


def test_a_gif_too_large_is_refused_before_drawing(window, qtbot, tmp_path, monkeypatch):
    import vgviz.gui.animate as animate
    from vgviz.gui import animation_writers as aw
    from vgviz.gui import export as ex

    def no_drawing(*args, **kwargs):
        raise AssertionError("drew before checking the GIF's size")

    monkeypatch.setattr(animate, "timelapse_frames", no_drawing)
    monkeypatch.setattr(animate, "trace_frames", no_drawing)
    with pytest.raises(ex.ExportError, match="the GIF would be too large \\(1000001 frames"):
        window.exports.export_timelapse("loss", str(tmp_path / "t.gif"), steps=1_000_000, every=1, scale=4)
    window.backprop.record()
    qtbot.waitUntil(lambda: window.stepper.trace is not None, timeout=WAIT_MS)
    monkeypatch.setattr(aw, "MAX_GIF_PIXELS", 1000)
    n = len(window.stepper.trace)
    with pytest.raises(ex.ExportError, match=f"the GIF would be too large \\({n} frames"):
        window.exports.export_trace_animation("diagram", str(tmp_path / "pass.gif"))
    assert os.listdir(tmp_path) in ([], ["settings"])
