"""File ▸ Export for the main window: pictures of the current view or the window, the
clipboard, and animations (the backprop pass, a time-lapse of training).

The "current view" is the view the user last clicked or focused: the diagram until
then. The export dialog names it and shows a preview of exactly what will be
written. The last folder, scale and caption choice are kept in QSettings.
"""
from __future__ import annotations

import os

from PySide6 import QtCore, QtGui, QtWidgets

from ..core.measure.steps import steps_done
from . import animation_writers as aw
from . import export as ex

SETTING_FOLDER = "export/last_folder"
SETTING_SCALE = "export/scale"
SETTING_CAPTION = "export/caption"
PREVIEW_WIDTH = 360
TEXT_INPUTS = (QtWidgets.QLineEdit, QtWidgets.QTextEdit, QtWidgets.QPlainTextEdit, QtWidgets.QAbstractSpinBox)


class ExportController(QtCore.QObject):
    current_view_changed = QtCore.Signal(str)

    def __init__(self, window, file_menu: QtWidgets.QMenu | None = None):
        super().__init__(window)
        self.window = window
        self.settings = window.settings
        self.current_view = "diagram"
        self.dialog: QtWidgets.QDialog | None = None
        self.error_box: QtWidgets.QMessageBox | None = None

        def action(text, slot, shortcut, tip):
            a = QtGui.QAction(text, window)
            a.setShortcut(QtGui.QKeySequence(shortcut))
            a.setToolTip(f"{tip} ({QtGui.QKeySequence(shortcut).toString()})")
            a.triggered.connect(slot)
            window.addAction(a)
            return a

        self.export_view_action = action("&Export current view…", lambda: self.export_dialog(), "Ctrl+S",
                                         "Save the view you last clicked as PNG or SVG")
        self.export_window_action = action("Export &window…", lambda: self.export_dialog("window"), "Ctrl+Shift+S",
                                           "Save the whole window as PNG")
        self.copy_action = action("&Copy current view", self.copy_current_view, "Ctrl+C",
                                  "Copy the view you last clicked to the clipboard as a picture")
        self.animation_action = action("Export &animation…", self.animation_dialog, "Ctrl+E",
                                       "The backprop pass or a time-lapse of training as GIF, MP4 or PNG frames")
        if file_menu is not None:
            quit_action = next((a for a in file_menu.actions() if a.text().replace("&", "") == "Quit"), None)
            for a in (self.export_view_action, self.export_window_action, self.copy_action, self.animation_action):
                file_menu.insertAction(quit_action, a)
            file_menu.insertSeparator(quit_action)
        for w in self._watched():
            w.installEventFilter(self)

    # -- the current view ------------------------------------------------------------------
    def view_widgets(self) -> dict[str, QtWidgets.QWidget]:
        w = self.window
        # the diagram's place shows the network, or for a recurrent run the unrolled view
        return {"window": w, "diagram": w.diagram_stack.currentWidget(), **w.plots.plot_widgets}

    def view_widget(self, view: str) -> QtWidgets.QWidget:
        return self.view_widgets()[ex.check_view(view)]

    def _watched(self) -> list[QtWidgets.QWidget]:
        out = [self.window.network, self.window.recurrent.unrolled]
        for p in self.window.plots.plot_widgets.values():
            out += [p, p.viewport()]
        return out

    def _view_of(self, obj) -> str | None:
        for name, widget in self.view_widgets().items():
            if name != "window" and (obj is widget or (isinstance(widget, QtWidgets.QAbstractScrollArea)
                                                       and obj is widget.viewport())):
                return name
            if name == "diagram" and isinstance(obj, QtWidgets.QWidget) and widget.isAncestorOf(obj):
                return name   # the unrolled view inside the recurrent panel
        return None

    def eventFilter(self, obj, event) -> bool:
        # a click picks the current view; keyboard focus does not (the diagram holds the focus
        # for the shortcuts, so focusing it must not undo the user's choice of a plot)
        if event.type() == QtCore.QEvent.Type.MouseButtonPress:
            view = self._view_of(obj)
            if view is not None:
                self.set_current_view(view)
        return False

    def set_current_view(self, view: str) -> None:
        ex.check_view(view)
        if view != self.current_view:
            self.current_view = view
            self.window.statusBar().showMessage(
                f"current view: {ex.VIEW_TITLES[view].lower()} — Ctrl+S exports it, Ctrl+C copies it", 4000)
            self.current_view_changed.emit(view)

    # -- what a picture says ------------------------------------------------------------------
    # the settings file is the user's: a value it holds that is not one vgviz wrote (edited
    # by hand, another version) means the default, never a broken Ctrl+S or Ctrl+C
    @property
    def caption_enabled(self) -> bool:
        value = self.settings.value(SETTING_CAPTION, False)
        if isinstance(value, bool):
            return value
        return str(value).strip().lower() in ("true", "1")

    def saved_scale(self, default: int) -> int:
        try:
            return ex.check_scale(self.settings.value(SETTING_SCALE, default))
        except ex.ExportError:
            return default

    def _frame(self) -> tuple[int, int, str] | None:
        """(frame number from 1, frame count, label) while stepping through a pass."""
        w = self.window
        trace = w.stepper.trace if w.backprop.active else None
        if trace is None or w.stepper.cursor < 0:
            return None
        return w.stepper.cursor + 1, len(trace), trace.frames[w.stepper.cursor].label

    def picture_step(self) -> int | None:
        """The step whose numbers the views show: the latest stats' step, or while
        stepping, the step whose pass was recorded (the next one)."""
        w = self.window
        if self._frame() is not None:
            return w.run.step_count
        if w.run.history is not None and w.run.history.latest is not None:
            return steps_done(w.run.history.latest)
        return None

    def caption_for(self, view: str) -> str | None:
        w = self.window
        if w.run.config is None:
            return None
        frame = self._frame() if view in ("diagram", "window") else None
        return ex.caption_text(w.run.config.summary(), self.picture_step(), *(frame or (None, None, None)))

    def suggested_path(self, view: str, fmt: str, scale: int = 1) -> str:
        frame = self._frame() if view in ("diagram", "window") else None
        name = ex.default_file_name(self.window.preset_name, view, self.picture_step(),
                                    frame[0] if frame else None, scale, fmt)
        return os.path.join(self.last_folder(), name)

    def last_folder(self) -> str:
        folder = str(self.settings.value(SETTING_FOLDER, "") or "")
        if folder and os.path.isdir(folder):
            return folder
        pictures = QtCore.QStandardPaths.writableLocation(QtCore.QStandardPaths.StandardLocation.PicturesLocation)
        return pictures if pictures and os.path.isdir(pictures) else os.path.expanduser("~")

    def _remember(self, path: str, scale: int | None = None) -> None:
        folder = os.path.dirname(os.path.abspath(os.path.normpath(path)))
        self.settings.setValue(SETTING_FOLDER, folder)
        if scale is not None:
            self.settings.setValue(SETTING_SCALE, int(scale))

    # -- pictures ----------------------------------------------------------------------------------
    def export(self, view: str, path: str, scale: int = 1, caption: bool | None = None) -> str:
        """Write one picture of ``view`` (PNG at ``scale`` or SVG, by the suffix). Raises ExportError."""
        widget = self.view_widget(view)
        use_caption = self.caption_enabled if caption is None else caption
        text = self.caption_for(view) if use_caption else None
        ex.export_picture(widget, path, view=view, scale=scale, caption=text)
        self._remember(path, scale)
        self.window.statusBar().showMessage(f"saved {path}", 5000)
        return path

    def copy_current_view(self) -> QtGui.QImage | None:
        """Ctrl+C: a text field with the focus copies its text as usual; otherwise the
        current view goes to the clipboard as a picture."""
        focus = QtWidgets.QApplication.focusWidget()
        if isinstance(focus, QtWidgets.QAbstractSpinBox):
            focus = focus.findChild(QtWidgets.QLineEdit)
        if isinstance(focus, (QtWidgets.QLineEdit, QtWidgets.QTextEdit, QtWidgets.QPlainTextEdit)):
            focus.copy()
            return None
        if isinstance(focus, QtWidgets.QLabel) and focus.hasSelectedText():
            QtWidgets.QApplication.clipboard().setText(focus.selectedText())
            return None
        view = self.current_view
        try:
            image = ex.copy_to_clipboard(self.view_widget(view), self.saved_scale(1),
                                         self.caption_for(view) if self.caption_enabled else None)
        except ex.ExportError as err:
            self.show_error(str(err))
            return None
        self.window.statusBar().showMessage(
            f"copied {ex.VIEW_TITLES[view].lower()} ({image.width()}×{image.height()} px)", 4000)
        return image

    def export_dialog(self, view: str | None = None) -> "ExportDialog":
        self.dialog = ExportDialog(self, view or self.current_view)
        self.dialog.open()
        return self.dialog

    def show_error(self, message: str) -> None:
        box = QtWidgets.QMessageBox(QtWidgets.QMessageBox.Icon.Warning, "Export failed", message,
                                    QtWidgets.QMessageBox.StandardButton.Ok, self.window)
        box.setAttribute(QtCore.Qt.WidgetAttribute.WA_DeleteOnClose)
        self.error_box = box
        box.open()

    # -- animations --------------------------------------------------------------------------------
    @property
    def trace(self):
        w = self.window
        return w.stepper.trace if w.backprop.active else None

    def export_trace_animation(self, view: str, path: str, *, scale: int = 1, fps: float = 1.5,
                               caption: bool | None = None) -> int | None:
        """Every frame of the recorded backprop pass, drawn on ``view`` (diagram or window).
        Returns the frame count, or None if cancelled. Raises ExportError."""
        from .animate import trace_frames

        trace = self.trace
        if trace is None:
            raise ex.ExportError("no backprop pass recorded: press → (Backprop ▸ Step) first")
        if view not in ("diagram", "window"):
            raise ex.ExportError("the backprop animation shows the diagram or the window")
        w = self.window
        use_caption = self.caption_enabled if caption is None else caption
        stepper = w.stepper
        stepper.stop_play()
        start = stepper.cursor
        summary, step = w.run.config.summary(), w.run.step_count

        def caption_of(i):
            return ex.caption_text(summary, step, i + 1, len(trace), trace.frames[i].label) if use_caption else None

        widget = self.view_widget(view)
        height = widget.height() + ex.caption_height(widget, caption_of(0))
        self._check_gif_size(path, len(trace), widget.width(), height, scale)
        try:
            frames = trace_frames(len(trace), stepper.set_cursor, widget, scale, caption_of)
            return self._write_with_progress(frames, path, fps, len(trace), "Writing the backprop pass…", scale)
        finally:
            if stepper.trace is trace:
                stepper.set_cursor(start)

    def export_timelapse(self, view: str, path: str, *, steps: int, every: int, scale: int = 1, fps: float = 10.0,
                         caption: bool | None = None) -> int | None:
        """Train the current config from its first step for ``steps`` steps and write a frame
        of ``view`` every ``every`` steps (the live run is paused meanwhile). Returns the
        frame count, or None if cancelled. Raises ExportError."""
        from .animate import OffscreenViews, timelapse_frame_count, timelapse_frames

        if view not in ex.VECTOR_VIEWS:
            raise ex.ExportError("a time-lapse shows the diagram or a plot, not the window")
        w = self.window
        if w.run.config is None:
            raise ex.ExportError("no run configured")
        ex.format_of(path)
        live = self.view_widget(view)
        size = (max(live.width(), 320), max(live.height(), 200))
        self._check_gif_size(path, timelapse_frame_count(steps, every), *size, scale)
        w.pause()
        use_caption = self.caption_enabled if caption is None else caption
        views = OffscreenViews(w.themes.theme, w.themes.colormap, diagram_size=size, plot_size=size)
        summary = w.run.config.summary()
        try:
            frames = timelapse_frames(w.run.config, steps, every, view, views, scale,
                                      (lambda s: ex.caption_text(summary, s)) if use_caption else None)
            return self._write_with_progress(frames, path, fps, timelapse_frame_count(steps, every),
                                             f"Training {steps:,} steps and drawing the time-lapse…", scale)
        finally:
            views.close()

    @staticmethod
    def _check_gif_size(path: str, count: int, width: int, height: int, scale: int) -> None:
        """A GIF too large is refused before anything is trained or drawn."""
        if ex.format_of(path) == "gif":
            aw.check_gif_size(count, width * ex.check_scale(scale), height * ex.check_scale(scale))

    def _write_with_progress(self, frames, path, fps, count, label, scale) -> int | None:
        progress = QtWidgets.QProgressDialog(label, "Cancel", 0, count, self.window)
        progress.setWindowTitle("Export animation")
        progress.setWindowModality(QtCore.Qt.WindowModality.WindowModal)
        progress.setMinimumDuration(300)
        progress.setValue(0)

        def tick(i: int) -> bool:
            progress.setValue(min(i + 1, count))
            if i + 1 >= count:
                progress.setLabelText("Writing the file…")
            QtWidgets.QApplication.processEvents()
            return not progress.wasCanceled()

        try:
            n = aw.write_animation(frames, path, fps=fps, count=count, progress=tick)
        except aw.Cancelled:
            self.window.statusBar().showMessage("export cancelled; nothing written", 5000)
            return None
        finally:
            progress.close()
            progress.deleteLater()
        self._remember(path, scale)
        self.window.statusBar().showMessage(f"saved {path} ({n} frames)", 5000)
        return n

    def animation_dialog(self) -> "AnimationDialog":
        self.dialog = AnimationDialog(self)
        self.dialog.open()
        return self.dialog


def _scaled_preview(image: QtGui.QImage) -> QtGui.QPixmap:
    pix = QtGui.QPixmap.fromImage(image)
    pix.setDevicePixelRatio(1.0)
    if pix.width() > PREVIEW_WIDTH:
        pix = pix.scaledToWidth(PREVIEW_WIDTH, QtCore.Qt.TransformationMode.SmoothTransformation)
    return pix


def _add_error_and_buttons(form: QtWidgets.QFormLayout, save, cancel) -> QtWidgets.QLabel:
    """A dialog's last rows: a red error line (hidden until needed) and Save / Cancel."""
    error = QtWidgets.QLabel()
    error.setWordWrap(True)
    error.setStyleSheet("color: #d0342c; font-weight: bold;")
    error.hide()
    form.addRow(error)
    buttons = QtWidgets.QDialogButtonBox(QtWidgets.QDialogButtonBox.StandardButton.Save
                                         | QtWidgets.QDialogButtonBox.StandardButton.Cancel)
    buttons.accepted.connect(save)
    buttons.rejected.connect(cancel)
    form.addRow(buttons)
    return error


class _SavingDialog(QtWidgets.QDialog):
    """What the export and animation dialogs share: the error line, and closing once saved."""

    error_label: QtWidgets.QLabel

    def _show_error(self, message: str) -> None:
        self.error_label.setText(message)
        self.error_label.show()

    def _saved(self) -> bool:
        self.accept()
        return True


class _PathRow(QtWidgets.QWidget):
    """A file (or folder) path with a Browse… button."""

    def __init__(self, browse, parent=None):
        super().__init__(parent)
        row = QtWidgets.QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        self.edit = QtWidgets.QLineEdit()
        self.edit.setMinimumWidth(420)
        button = QtWidgets.QPushButton("Browse…")
        button.clicked.connect(browse)
        row.addWidget(self.edit, 1)
        row.addWidget(button)


class ExportDialog(_SavingDialog):
    """Which view, PNG at 1×/2×/4× or SVG, caption or not, where: with a preview of the view."""

    def __init__(self, controller: ExportController, view: str):
        super().__init__(controller.window)
        self.controller = controller
        self.setWindowTitle("Export picture")
        form = QtWidgets.QFormLayout(self)
        self.view_box = QtWidgets.QComboBox()
        for name in ex.VIEWS:
            self.view_box.addItem(ex.VIEW_TITLES[name], name)
        self.view_box.setCurrentIndex(ex.VIEWS.index(view))
        form.addRow("View", self.view_box)
        self.view_note = QtWidgets.QLabel()
        self.view_note.setWordWrap(True)
        form.addRow("", self.view_note)
        self.preview = QtWidgets.QLabel()
        self.preview.setFrameShape(QtWidgets.QFrame.Shape.Box)
        self.preview.setAlignment(QtCore.Qt.AlignmentFlag.AlignCenter)
        self.preview.setMinimumHeight(120)
        form.addRow("Preview", self.preview)
        self.format_box = QtWidgets.QComboBox()
        self.format_box.addItem("PNG (picture)", "png")
        self.format_box.addItem("SVG (vector: Inkscape, slides)", "svg")
        form.addRow("Format", self.format_box)
        self.scale_box = QtWidgets.QComboBox()
        for s in ex.SCALES:
            self.scale_box.addItem(f"{s}×", s)
        self.scale_box.setCurrentIndex(ex.SCALES.index(controller.saved_scale(2)))
        self.scale_box.setToolTip("2× or 4× for a projector: the same picture drawn with more pixels")
        form.addRow("Scale", self.scale_box)
        self.caption_box = QtWidgets.QCheckBox("Caption: config, step and frame under the picture")
        self.caption_box.setChecked(controller.caption_enabled)
        form.addRow("", self.caption_box)
        self.path_row = _PathRow(self._browse)
        form.addRow("File", self.path_row)
        self.error_label = _add_error_and_buttons(form, self.save, self.reject)
        self._auto_path = ""
        self.view_box.currentIndexChanged.connect(self._on_changed)
        self.format_box.currentIndexChanged.connect(self._on_changed)
        self.scale_box.currentIndexChanged.connect(self._on_changed)
        self.caption_box.toggled.connect(self._on_changed)
        self._on_changed()

    @property
    def view(self) -> str:
        return self.view_box.currentData()

    @property
    def fmt(self) -> str:
        return self.format_box.currentData()

    @property
    def scale(self) -> int:
        return self.scale_box.currentData()

    @property
    def path(self) -> str:
        return self.path_row.edit.text().strip()

    def _on_changed(self, *_) -> None:
        view = self.view
        svg_item = self.format_box.model().item(1)
        svg_item.setEnabled(view in ex.VECTOR_VIEWS)
        if self.fmt == "svg" and view not in ex.VECTOR_VIEWS:
            self.format_box.setCurrentIndex(0)
            return                               # re-entered through currentIndexChanged
        self.scale_box.setEnabled(self.fmt == "png")
        c = self.controller
        current = "the view you last clicked" if view == c.current_view else "not the view you last clicked"
        widget = c.view_widget(view)
        caption = c.caption_for(view) if self.caption_box.isChecked() else None
        size = widget.width() * (self.scale if self.fmt == "png" else 1), \
            (widget.height() + ex.caption_height(widget, caption)) * (self.scale if self.fmt == "png" else 1)
        self.view_note.setText(f"Exporting <b>{ex.VIEW_TITLES[view].lower()}</b> ({current}), "
                               f"{size[0]}×{size[1]} {'px' if self.fmt == 'png' else 'points, vector'}")
        try:
            self.preview.setPixmap(_scaled_preview(ex.render_image(widget, 1, caption)))
        except ex.ExportError as err:
            self.preview.setText(str(err))
        # follow the default name until the user types their own
        if not self.path or self.path == self._auto_path:
            self._auto_path = c.suggested_path(view, self.fmt, self.scale)
            self.path_row.edit.setText(self._auto_path)

    def _browse(self) -> None:
        filters = "PNG picture (*.png)" if self.fmt == "png" else "SVG vector picture (*.svg)"
        path, _ = QtWidgets.QFileDialog.getSaveFileName(self, "Export picture", self.path, filters)
        if path:
            if not path.lower().endswith("." + self.fmt):
                path += "." + self.fmt
            self.path_row.edit.setText(path)

    def save(self) -> bool:
        """Write the picture; a problem is shown in the dialog, which stays open."""
        path = self.path
        if not path:
            self._show_error("choose a file name")
            return False
        if not path.lower().endswith("." + self.fmt):
            path += "." + self.fmt
        self.controller.settings.setValue(SETTING_CAPTION, self.caption_box.isChecked())
        try:
            self.controller.export(self.view, path, self.scale if self.fmt == "png" else 1,
                                   caption=self.caption_box.isChecked())
        except ex.ExportError as err:
            self._show_error(str(err))
            return False
        return self._saved()



class AnimationDialog(_SavingDialog):
    """The backprop pass or a time-lapse, as GIF, MP4 or a folder of numbered PNG frames."""

    FORMATS = (("GIF (animated picture)", "gif"), ("MP4 (video)", "mp4"), ("PNG frames (a folder)", "frames"))

    def __init__(self, controller: ExportController):
        super().__init__(controller.window)
        self.controller = controller
        w = controller.window
        self.setWindowTitle("Export animation")
        form = QtWidgets.QFormLayout(self)
        trace = controller.trace
        self.pass_radio = QtWidgets.QRadioButton(
            f"Backprop pass: its {len(trace)} frames" if trace is not None
            else "Backprop pass (record one first: press →)")
        self.pass_radio.setEnabled(trace is not None)
        self.timelapse_radio = QtWidgets.QRadioButton("Time-lapse: train this config from step 0")
        (self.pass_radio if trace is not None else self.timelapse_radio).setChecked(True)
        form.addRow("Animate", self.pass_radio)
        form.addRow("", self.timelapse_radio)
        self.steps_spin = QtWidgets.QSpinBox()
        self.steps_spin.setRange(1, 1_000_000)
        self.steps_spin.setValue(max(w.run.step_count, 100))
        self.every_spin = QtWidgets.QSpinBox()
        self.every_spin.setRange(1, 1_000_000)
        self.every_spin.setValue(max(1, self.steps_spin.value() // 60))
        steps_row = QtWidgets.QHBoxLayout()
        steps_row.addWidget(self.steps_spin)
        steps_row.addWidget(QtWidgets.QLabel("steps, a frame every"))
        steps_row.addWidget(self.every_spin)
        steps_row.addWidget(QtWidgets.QLabel("steps"))
        form.addRow("Time-lapse", steps_row)
        self.view_box = QtWidgets.QComboBox()
        form.addRow("View", self.view_box)
        self.format_box = QtWidgets.QComboBox()
        for text, fmt in self.FORMATS:
            self.format_box.addItem(text, fmt)
        if not ex.mp4_available():
            self.format_box.model().item(1).setEnabled(False)
            self.format_box.setItemData(1, ex.MP4_MISSING, QtCore.Qt.ItemDataRole.ToolTipRole)
        form.addRow("Format", self.format_box)
        self.scale_box = QtWidgets.QComboBox()
        for s in ex.SCALES:
            self.scale_box.addItem(f"{s}×", s)
        form.addRow("Scale", self.scale_box)
        self.fps_spin = QtWidgets.QDoubleSpinBox()
        self.fps_spin.setRange(0.25, 60.0)
        self.fps_spin.setSingleStep(0.5)
        self.fps_spin.setSuffix(" frames/s")
        form.addRow("Speed", self.fps_spin)
        self.caption_box = QtWidgets.QCheckBox("Caption: config, step and frame under every frame")
        self.caption_box.setChecked(controller.caption_enabled)
        form.addRow("", self.caption_box)
        self.summary_label = QtWidgets.QLabel()
        self.summary_label.setWordWrap(True)
        form.addRow("", self.summary_label)
        self.path_row = _PathRow(self._browse)
        form.addRow("Save as", self.path_row)
        self.error_label = _add_error_and_buttons(form, self.save, self.reject)
        self._auto_path = ""
        self._kind = None
        for sig in (self.pass_radio.toggled, self.steps_spin.valueChanged, self.every_spin.valueChanged,
                    self.view_box.currentIndexChanged, self.format_box.currentIndexChanged,
                    self.scale_box.currentIndexChanged):
            sig.connect(self._on_changed)
        self._on_changed()

    @property
    def kind(self) -> str:
        return "pass" if self.pass_radio.isChecked() else "timelapse"

    @property
    def path(self) -> str:
        return self.path_row.edit.text().strip()

    def _on_changed(self, *_) -> None:
        c = self.controller
        kind = self.kind
        if kind != self._kind:                       # the views and the speed depend on what is animated
            self._kind = kind
            views = ("diagram", "window") if kind == "pass" else ex.VECTOR_VIEWS
            self.view_box.blockSignals(True)
            self.view_box.clear()
            for v in views:
                self.view_box.addItem(ex.VIEW_TITLES[v], v)
            if c.current_view in views:
                self.view_box.setCurrentIndex(views.index(c.current_view))
            self.view_box.blockSignals(False)
            self.fps_spin.setValue(1.5 if kind == "pass" else 10.0)
        for wdg in (self.steps_spin, self.every_spin):
            wdg.setEnabled(kind == "timelapse")
        from .animate import timelapse_frame_count

        fmt = self.format_box.currentData()
        n = len(c.trace) if kind == "pass" and c.trace is not None else \
            timelapse_frame_count(self.steps_spin.value(), self.every_spin.value())
        view = self.view_box.currentData()
        widget = c.view_widget(view)
        scale = self.scale_box.currentData()
        self.summary_label.setText(f"{n} frames of {ex.VIEW_TITLES[view].lower()}, "
                                   f"{widget.width() * scale}×{widget.height() * scale} px each")
        if not self.path or self.path == self._auto_path:
            name = ex.default_file_name(c.window.preset_name, f"{view}-{'backprop' if kind == 'pass' else 'timelapse'}",
                                        c.window.run.step_count if kind == "pass" else self.steps_spin.value(),
                                        None, scale, fmt)
            self._auto_path = os.path.join(c.last_folder(), name) + (os.sep if fmt == "frames" else "")
            self.path_row.edit.setText(self._auto_path)

    def _browse(self) -> None:
        fmt = self.format_box.currentData()
        if fmt == "frames":
            path = QtWidgets.QFileDialog.getExistingDirectory(self, "Folder for the PNG frames", self.path)
            if path:
                self.path_row.edit.setText(os.path.join(path, "") if not os.listdir(path)
                                           else os.path.join(path, "vgviz-frames", ""))
            return
        path, _ = QtWidgets.QFileDialog.getSaveFileName(self, "Export animation", self.path, f"*.{fmt}")
        if path:
            self.path_row.edit.setText(path if path.lower().endswith("." + fmt) else f"{path}.{fmt}")

    def save(self) -> bool:
        path = self.path
        fmt = self.format_box.currentData()
        if not path:
            self._show_error("choose a file name")
            return False
        if fmt == "frames" and not path.endswith(("/", os.sep)):
            path += os.sep
        elif fmt != "frames" and not path.lower().endswith("." + fmt):
            path += "." + fmt
        c = self.controller
        c.settings.setValue(SETTING_CAPTION, self.caption_box.isChecked())
        kw = dict(scale=self.scale_box.currentData(), fps=self.fps_spin.value(), caption=self.caption_box.isChecked())
        self.hide()
        try:
            if self.kind == "pass":
                n = c.export_trace_animation(self.view_box.currentData(), path, **kw)
            else:
                n = c.export_timelapse(self.view_box.currentData(), path, steps=self.steps_spin.value(),
                                       every=self.every_spin.value(), **kw)
        except ex.ExportError as err:
            self.show()
            self._show_error(str(err))
            return False
        if n is None:                      # cancelled: the dialog comes back for another try
            self.show()
            return False
        return self._saved()

