"""The window's run files: File ▸ Open run… / Save run as… / Recent runs, the cache every in-app
run is recorded to, and the timeline scrubber that shows any recorded step of the current run.
vgviz.core.runfile imports torch (its model descriptions): it is imported when first needed,
never at start-up (tests/gui/test_startup.py)."""
from __future__ import annotations

import os
from pathlib import Path

from PySide6 import QtCore, QtWidgets

from ..core.files import WriteError
from ..core.measure.steps import step_label, step_text
from .model_views import ModelViews, is_user_model_run
from .run_cache import new_run_path
from .shortcuts import add_action

MAX_RECENT = 10
NO_TRAINER_TIP = "This run is a file: it has no trainer to start or step (Ctrl+R trains its config afresh)"


class Timeline(QtWidgets.QWidget):
    """A slider over the run's steps. ``pinned`` while it shows a step before the end; at the
    end (released there, or End/]) it follows the run live."""

    scrubbed = QtCore.Signal(int)   # show this step
    went_live = QtCore.Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.slider = QtWidgets.QSlider(QtCore.Qt.Orientation.Horizontal)
        self.slider.setFocusPolicy(QtCore.Qt.FocusPolicy.NoFocus)   # the diagram keeps the keys
        self.slider.setToolTip("Drag to any recorded step; release at the end to follow the run live ([ / ])")
        self.label = QtWidgets.QLabel("step –")
        self.label.setMinimumWidth(self.label.fontMetrics().horizontalAdvance("step 10,000,000 / 10,000,000 · live"))
        layout = QtWidgets.QHBoxLayout(self)
        layout.setContentsMargins(6, 0, 6, 0)
        layout.addWidget(QtWidgets.QLabel("Timeline"))
        layout.addWidget(self.slider, 1)
        layout.addWidget(self.label)
        self.pinned = False
        self.slider.setRange(0, 0)
        self.slider.valueChanged.connect(self._on_value)
        self.slider.sliderReleased.connect(self._on_released)

    def set_end(self, steps: int) -> None:
        """The run holds ``steps`` steps; not pinned, the slider sits on the last one."""
        last = max(0, steps - 1)
        self.slider.blockSignals(True)
        self.slider.setMaximum(last)
        if not self.pinned:
            self.slider.setValue(last)
        self.slider.blockSignals(False)
        self._label()

    def go_to(self, step: int) -> None:
        self.slider.setValue(max(0, min(step, self.slider.maximum())))
        if step >= self.slider.maximum():
            self._on_released()

    def go_live(self) -> None:
        self.pinned = False
        self.slider.blockSignals(True)
        self.slider.setValue(self.slider.maximum())
        self.slider.blockSignals(False)
        self._label()
        self.went_live.emit()

    def _on_value(self, step: int) -> None:
        if step >= self.slider.maximum() and not self.slider.isSliderDown():
            if self.pinned:
                self.go_live()
            return
        self.pinned = True
        self._label()
        self.scrubbed.emit(step)

    def _on_released(self) -> None:
        if self.slider.value() >= self.slider.maximum():
            self.go_live()

    def _label(self) -> None:
        # the slider runs over the file's step indices; step index K completes K + 1 steps
        end = self.slider.maximum() + 1
        self.label.setText(f"{step_text(self.slider.value() + 1)} / {end:,}" + ("" if self.pinned else " · live"))


class RunFiles(QtCore.QObject):
    def __init__(self, window, file_menu: QtWidgets.QMenu):
        super().__init__(window)
        self.window = window
        self._reader = None   # a reader of the current recording, for scrubbing a live run
        self.timeline = Timeline()
        # the timeline sits under the diagram, in the splitter slot the diagram had (the
        # splitter's saved state keeps fitting)
        box = QtWidgets.QWidget()
        layout = QtWidgets.QVBoxLayout(box)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(window.diagram_stack, 1)   # leaves the splitter
        layout.addWidget(self.timeline)
        window.centre_splitter.insertWidget(0, box)
        self.timeline.scrubbed.connect(self.show_step)
        self.timeline.went_live.connect(self.show_live)

        quit_action = next((a for a in file_menu.actions() if a.text().replace("&", "") == "Quit"), None)
        open_action = add_action(window, "Open run…", self.open_dialog, "Ctrl+Shift+R",
                                 "Open a run file (replay it; follow it while it is written)")
        save_action = add_action(window, "Save run as…", self.save_dialog, tip="Save a copy of the current run's file")
        self.recent_menu = QtWidgets.QMenu("Recent runs", window)
        self.recent_menu.aboutToShow.connect(self._fill_recent)
        for a in (open_action, save_action):
            file_menu.insertAction(quit_action, a)
        file_menu.insertMenu(quit_action, self.recent_menu)
        file_menu.insertSeparator(quit_action)
        add_action(window, "Timeline: earlier step", lambda: self.nudge(-1), "[",
                   "Scrub the timeline back to the previous recorded diagram", window.view_menu)
        add_action(window, "Timeline: later step", lambda: self.nudge(+1), "]",
                   "Scrub the timeline forward (at the end: follow the run live)", window.view_menu)
        window.run.started.connect(self._on_started)
        window.run.ready.connect(self._on_ready)
        window.run.record_failed.connect(window.show_error)
        self.model_views = ModelViews(window)   # a user's model's file (vgviz.watch): its own views
        self._on_started(None)

    # -- sources ---------------------------------------------------------------------
    def cache_path(self) -> Path | None:
        """Where the next in-app run is recorded (after making room in the cache)."""
        keep = {Path(self.window.run.path)} if self.window.run.path else set()
        return new_run_path(self.window.preset_name, keep=keep)

    def open_path(self, path) -> bool:
        """Show the run file ``path`` (replayed; followed while written). A bad file: a message."""
        w = self.window
        if is_user_model_run(path):
            self.model_views.open(path)
            self._remember(str(Path(path).resolve()))
            return True
        error = w.run.open_file(path)
        if error:
            w.show_error(error)
            return False
        w._static_run = True   # the window's first run is this file, not a fresh training
        w.preset_name = None
        w.panel.set_config(w.run.config)
        w.panel.select_preset(None)
        w.status.set_state(f"reading {Path(path).name}…")
        w.setWindowTitle(f"vgviz — {Path(path).name} · {w.run.config.summary()}")
        w.display.start()
        self._remember(str(Path(path).resolve()))
        return True

    def _on_started(self, _config) -> None:
        self._close_reader()
        self.timeline.pinned = False
        self.timeline.set_end(0)
        is_file = self.window.run.file is not None
        panel = self.window.panel
        for button, tip in ((panel.start_button, "Start or pause training (Space)"),
                            (panel.step_button, "Run exactly one training step (S)")):
            button.setEnabled(not is_file)
            button.setToolTip(NO_TRAINER_TIP if is_file else tip)

    def _on_ready(self, _stats) -> None:
        run = self.window.run
        self.timeline.set_end(run.step_count)
        if run.file is not None:
            from ..core.runfile.replay import stats_at

            first = stats_at(run.file.file, 0)
            if first is not None and not run.config.recurrent:
                self.window.network.show_stats(first)   # the colour range is fixed at the start, as live
            state = "replaying" if run.is_finished else "following"
            self.window.status.set_state(f"{state} {run.path.name} — a file: no trainer")

    # -- scrubbing ----------------------------------------------------------------------
    def _scrub_file(self):
        from ..core.runfile import RunFileError, open_run

        run = self.window.run
        if run.file is not None:
            return run.file.file
        if run.path is None:
            return None
        if self._reader is None or self._reader.path != Path(run.path):
            self._close_reader()
            try:
                self._reader = open_run(run.path)
            except RunFileError:
                return None   # not written yet (the model is still being built)
        self._reader.refresh()
        return self._reader

    def _close_reader(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None

    def nudge(self, direction: int) -> None:
        """[ / ]: the previous / next recorded diagram (full capture) of the run."""
        file = self._scrub_file()
        if file is None:
            return
        current = self.timeline.slider.value()
        captured = file.capture_steps
        later = captured[captured > current] if direction > 0 else captured[captured < current]
        if direction > 0:
            self.timeline.go_to(int(later[0]) if len(later) else self.timeline.slider.maximum())
        elif len(later):
            self.timeline.go_to(int(later[-1]))

    def show_step(self, step: int) -> None:
        """The diagram and the plots as they were at ``step`` (the nearest capture before it)."""
        from ..core.runfile import RunFileError
        from ..core.runfile.replay import ReplayError, history_from_run, stats_at

        w = self.window
        file = self._scrub_file()
        if file is None or w.run.config is None:
            return
        w.run.view_step = step
        try:
            stats, history = stats_at(file, step), history_from_run(file, step)
        except (RunFileError, ReplayError) as err:
            w.show_error(str(err))
            return
        if stats is not None:
            (w.recurrent if w.run.config.recurrent else w.network).show_stats(stats)
        w.plots.update_from(history)
        drawn = (f" (diagram: {step_label(stats)}, the nearest recorded)"
                 if stats is not None and stats.step != step else "")
        paused = " — live view paused, training goes on" if w.run.is_running else ""
        w.status.set_state(f"{step_text(step + 1)}{drawn}{paused}")   # step index K completes K + 1 steps

    def show_live(self) -> None:
        w, run = self.window, self.window.run
        run.view_step = None
        if run.history is None or run.history.latest is None:
            return
        if not w.backprop.active:
            (w.recurrent if run.config.recurrent else w.network).show_stats(run.history.latest)
        w.plots.update_from(run.history)
        w.status.set_state("training" if run.is_running else "live")

    # -- File menu ------------------------------------------------------------------------
    def open_dialog(self) -> None:
        path, _ = QtWidgets.QFileDialog.getOpenFileName(self.window, "Open run", "", "vgviz runs (*.vgviz);;All files (*)")
        if path:
            self.open_path(path)

    def save_dialog(self) -> None:
        if self.window.run.path is None:
            self.window.show_error("This run has no file to save (it was not recorded).")
            return
        path, _ = QtWidgets.QFileDialog.getSaveFileName(self.window, "Save run as", "run.vgviz",
                                                        "vgviz runs (*.vgviz)")
        if path:
            self.save_as(path)

    def save_as(self, target) -> bool:
        from ..core.runfile import RunFileError
        from ..core.runfile.copy import save_copy

        source = self.window.run.path
        if source is None:
            self.window.show_error("This run has no file to save (it was not recorded).")
            return False
        try:
            save_copy(source, target)
        except (RunFileError, WriteError) as err:
            self.window.show_error(str(err))
            return False
        self._remember(str(Path(target).resolve()))
        self.window.statusBar().showMessage(f"Saved the run as {target}", 5000)
        return True

    # -- Recent runs (settings: a list of paths; anything else is ignored) ---------------------
    def recent(self) -> list[str]:
        value = self.window.settings.value("recent_runs")
        if isinstance(value, str):
            value = [value]   # QSettings' INI format gives a one-item list back as a string
        if not isinstance(value, list):
            return []
        return [p for p in value if isinstance(p, str) and p][:MAX_RECENT]

    def _remember(self, path: str) -> None:
        paths = [path] + [p for p in self.recent() if p != path]
        self.window.settings.setValue("recent_runs", paths[:MAX_RECENT])

    def _fill_recent(self) -> None:
        menu = self.recent_menu
        menu.clear()
        paths = self.recent()
        for path in paths:
            action = menu.addAction(path, lambda p=path: self.open_path(p))
            action.setEnabled(os.path.isfile(path))   # a moved or deleted file is greyed
        if not paths:
            menu.addAction("(none)").setEnabled(False)
