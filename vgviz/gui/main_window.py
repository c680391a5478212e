"""The main window: wiring only. Views draw what the run's StepStats say."""
from __future__ import annotations

from PySide6 import QtCore, QtGui, QtWidgets

from ..core.config import RunConfig
from ..core.measure.steps import step_label
from ..core.measure.history import History
from ..core.presets import list_presets
from .config_chooser import ConfigChooser
from .control_panel import ControlPanel
from .color_ranges import ColorRangeController
from .compare import CompareWindows
from .decision_view import DecisionDock
from .diagnostics_view import DiagnosticsDock
from .display import LiveDisplay
from .export_controller import ExportController
from .network_view import NetworkView
from .plots import TrainingPlots
from .run import Run
from .run_files import RunFiles
from .settings import WindowSettings, app_settings
from .shortcuts import add_action, add_dock_toggle, add_speed_control, show_about, show_shortcuts
from .status import RunStatus
from .stepping import BackpropStepping
from .theme import ThemeController
from .timestep_plot import RecurrentPanel


class MainWindow(QtWidgets.QMainWindow):
    def __init__(self, preset: str | None = None):
        super().__init__()
        self.setWindowTitle("vgviz — vanishing gradients, visible")
        self.settings = app_settings()
        self.run = Run(self)
        self.preset_name: str | None = None
        self._closed = False
        self._static_run = False   # show_run(): a run trained elsewhere, no worker

        self.panel = ControlPanel(list_presets())
        self.configs = ConfigChooser(self)   # presets, Reset, config files
        self.network = NetworkView()
        self.plots = TrainingPlots()
        # recurrent models (rnn/lstm/gru) are shown unrolled in time instead of as a layer diagram
        self.recurrent = RecurrentPanel()
        self.diagram_stack = QtWidgets.QStackedWidget()
        self.diagram_stack.addWidget(self.network)
        self.diagram_stack.addWidget(self.recurrent)

        centre = QtWidgets.QSplitter(QtCore.Qt.Orientation.Vertical)
        centre.addWidget(self.diagram_stack)
        centre.addWidget(self.plots)
        centre.setStretchFactor(0, 3)
        centre.setStretchFactor(1, 2)
        self.splitter = QtWidgets.QSplitter(QtCore.Qt.Orientation.Horizontal)
        self.splitter.addWidget(self.panel)
        self.splitter.addWidget(centre)
        self.splitter.setStretchFactor(1, 1)
        self.centre_splitter = centre
        self.setCentralWidget(self.splitter)

        self.backprop = BackpropStepping(self)
        self.stepper, self.stepper_dock = self.backprop.panel, self.backprop.dock
        self.decision_dock = DecisionDock(self)
        self.decision = self.decision_dock.view
        self.addDockWidget(QtCore.Qt.DockWidgetArea.RightDockWidgetArea, self.decision_dock)
        self.tabifyDockWidget(self.decision_dock, self.stepper_dock)
        self.decision_dock.raise_()
        self.stepper_dock.hide()
        self.diagnostics_dock = DiagnosticsDock(self)
        self.diagnostics = self.diagnostics_dock.panel
        self.diagnostics.preset_requested.connect(self.configs.load_preset)
        self.diagnostics.compare_requested.connect(self.open_compare)
        self.compares = CompareWindows(self)

        self.status = RunStatus(self.statusBar())
        run = self.run
        for signal, slot in ((run.started, self._on_started), (run.ready, self._on_ready), (run.failed, self._on_failed),
                             (run.diverged, self._on_diverged), (run.history_replaced, self.diagnostics.follow),
                             (run.finished, lambda steps: self.status.set_state(f"finished {steps:,} steps")),
                             (run.running_changed, self._on_running_changed), (run.trace_failed, self.show_error)):
            signal.connect(slot)

        self._build_actions()
        self.themes = ThemeController(self, self.view_menu)      # View ▸ Lecture theme, Colour map
        self.ranges = ColorRangeController(self, self.view_menu)  # View ▸ Colour range, Relative (R)
        self.exports = ExportController(self, self.file_menu)    # File ▸ Export …, Ctrl+S/C
        self.runs = RunFiles(self, self.file_menu)                # File ▸ Open run …, the timeline
        self.panel.start_button.clicked.connect(self.toggle_running)
        self.panel.step_button.clicked.connect(self.run.step_once)
        self.panel.reset_button.clicked.connect(self.configs.reset_run)
        self.panel.preset_chosen.connect(self.configs.load_preset)

        self.display = LiveDisplay(self)

        # The diagram holds the keyboard focus, so Space/arrows reach the window's shortcuts
        # instead of opening a combo box or pressing a button.
        self.network.setFocusPolicy(QtCore.Qt.FocusPolicy.StrongFocus)
        self.setFocusProxy(self.network)
        self.network.setFocus()
        self.saved_settings = WindowSettings(self)
        self.saved_settings.restore(preset)
        # Start the run (whose thread imports torch) once the window has painted.
        QtCore.QTimer.singleShot(50, self._start_first_run)

    # -- actions -------------------------------------------------------------
    def _build_actions(self) -> None:
        bar = self.menuBar()
        file_menu = self.file_menu = bar.addMenu("&File")
        self.configs.add_actions(file_menu)
        file_menu.addSeparator()
        add_action(self, "&Quit", self.close, "Ctrl+Q", menu=file_menu)

        run_menu = bar.addMenu("&Run")
        add_action(self, "Start / Pause", self.space_pressed, "Space",
                   "Start or pause training (while stepping: play or pause the frames)", run_menu)
        add_action(self, "Step one training step", self.run.step_once, "S", "Run exactly one training step", run_menu)
        add_action(self, "Reset", self.configs.reset_run, "Ctrl+R", "Apply the fields and start a fresh run", run_menu)
        add_speed_control(self, run_menu)

        self.backprop.add_actions(bar.addMenu("&Backprop"))

        view_menu = self.view_menu = bar.addMenu("&View")
        self.auto_range_action = QtGui.QAction("Auto colour range", self, checkable=True)
        self.auto_range_action.setShortcut(QtGui.QKeySequence("A"))
        self.auto_range_action.toggled.connect(self.panel.auto_range_box.setChecked)
        view_menu.addAction(self.auto_range_action)
        self.addAction(self.auto_range_action)
        add_dock_toggle(self.stepper_dock, "Ctrl+B", view_menu)
        add_dock_toggle(self.decision_dock, "Ctrl+G", view_menu)
        self.diagnostics_dock.add_menu(self, self.open_compare)

        help_menu = bar.addMenu("&Help")
        add_action(self, "Keyboard shortcuts", lambda: show_shortcuts(self), "F1", menu=help_menu)
        add_action(self, "About vgviz", lambda: show_about(self), menu=help_menu)

        self.panel.reset_button.setToolTip("Apply the fields and start a fresh run (Ctrl+R)")

    # -- runs ----------------------------------------------------------------
    def start_run(self, config: RunConfig) -> None:
        """Stop the current run (if any) and build a fresh one in a new worker thread. A config
        that needs more memory than the machine has is refused; the current run goes on."""
        error = self.run.start(config, record_to=self.runs.cache_path())
        if error:
            self.show_error(error)
            return
        self.display.start()
        self.setWindowTitle(f"vgviz — {self.preset_name or 'custom'} · {config.summary()}")

    def _clear_views(self) -> None:
        """Another run replaced the last: no stepping, no message, an empty diagram."""
        self.display.set_live(False)
        self.backprop.leave()
        self.show_error(None)
        self.panel.set_pending(False)
        self.network.reset()

    def _on_started(self, config: RunConfig) -> None:
        self._clear_views()
        self.diagnostics.detach()
        self.recurrent.reset(config.model, config.depth)
        self.show_diagram(config.recurrent)
        self.plots.clear()
        self.status.set_state("building model…")

    def show_diagram(self, recurrent: bool) -> None:
        """The layer diagram or the unrolled-in-time view; the shown one takes over the keyboard focus."""
        page = self.recurrent if recurrent else self.network
        if self.diagram_stack.currentWidget() is page:
            return
        proxy = self.focusProxy()
        had_focus = proxy is not None and proxy.hasFocus()
        self.diagram_stack.setCurrentWidget(page)
        target = self.recurrent.unrolled if recurrent else self.network
        self.setFocusProxy(target)
        if had_focus:
            target.setFocus()

    def toggle_running(self) -> None:
        run = self.run
        if not run.has_model:
            return
        if run.is_running:
            run.pause()
        elif run.is_finished:
            self.status.set_state(f"finished {run.step_count:,} steps — raise 'steps' or Reset")
        elif run.is_diverged:
            self.status.set_state("diverged — Reset to start again")
        else:
            self.backprop.leave()
            run.resume()

    def space_pressed(self) -> None:
        if self.backprop.active:
            self.stepper.toggle_play()
        else:
            self.toggle_running()

    def start(self) -> None:
        if self.run.worker is not None and not self.run.is_running:
            self.toggle_running()

    def pause(self) -> None:
        self.run.pause()

    # -- the run's signals --------------------------------------------------------
    def _set_layers(self, stats) -> None:
        """The layers' colours and names in the diagram and the plots, for a run's first stats."""
        colors = self.themes.layer_colors(stats.n_layers)
        self.network.set_layer_colors(colors)
        names = list(stats.layer_names)
        if stats.timestep_grad is not None:   # rnn.weight_ih_l0 -> W_ih0: short enough for the bar labels
            names = [n.replace("rnn.weight_", "W_").replace("_l", "") for n in names]
        self.plots.set_layers(names, colors)

    def _on_ready(self, stats) -> None:
        self._set_layers(stats)
        # sequences have no input plane to draw a boundary in
        data = self.run.data if stats.timestep_grad is None else None
        self.decision.set_data(None if data is None else data.x_train, None if data is None else data.y_train)
        self.decision_dock.fit()
        self.diagnostics.attach(self.run.model_jobs, self.run.history, self.run.config)
        self.status.set_state("ready — press Space to train")
        self.display.tick()

    def _on_failed(self, message: str) -> None:
        self.display.set_live(False)
        self.show_error(message)
        self.status.set_state("error")

    def _on_diverged(self, stats) -> None:
        self.show_error(f"Training diverged after {step_label(stats)}: the loss or a gradient is not finite "
                        f"(loss = {stats.loss}). Lower the learning rate and press Reset.")
        self.status.set_state("diverged")

    def _on_running_changed(self, running: bool) -> None:
        self.panel.set_running(running)
        self.display.set_live(running)
        if running:
            self.status.set_state("training")
        elif self.status.state == "training":
            self.status.set_state("paused")

    def show_error(self, message: str | None) -> None:
        self.panel.show_error(message)
        if message:
            self.statusBar().showMessage(message.splitlines()[0], 10_000)

    # -- a run trained elsewhere (vgviz render) ----------------------------------------
    def show_run(self, config: RunConfig, history: History, *, preset_name: str | None = None, first=None,
                 trace=None, cursor: int = 0) -> None:
        """Show a run trained outside the window, with no worker thread: the fields, the
        views and the status bar show ``history`` (``first``, the run's first stats, locks
        the diagram's colour range as a live run does). With a ``trace`` the stepper shows
        frame ``cursor`` of it."""
        self._static_run = True
        self.run.show(config, history)
        self.display.stop()
        self._clear_views()
        self.preset_name = preset_name
        self.ranges.use_config(config)
        self.panel.set_config(config)
        self.panel.select_preset(preset_name)
        latest = history.latest
        self._set_layers(latest)
        if first is not None:
            self.network.show_stats(first)
        self.network.show_stats(latest)
        self.plots.update_from(history)
        self.status.show_trained(history)
        self.runs.timeline.hide()   # nothing recorded to scrub through
        self.setWindowTitle(f"vgviz — {preset_name or 'custom'} · {config.summary()}")
        if trace is not None:
            self.stepper_dock.show()
            self.backprop.show_trace(trace, cursor)

    def _start_first_run(self) -> None:
        if self.run.worker is None and not self._closed and not self._static_run:
            self.start_run(self.run.config)

    def closeEvent(self, event: QtGui.QCloseEvent) -> None:
        self._closed = True
        self.diagnostics.detach()
        self.compares.close_all()
        self.display.stop()
        self.saved_settings.save()
        # The window goes at once; a step still running ends on its own and run_app waits for it.
        self.run.stop()
        self.display.set_live(False)
        super().closeEvent(event)

    # -- compare (issue #6) ------------------------------------------------------------
    def open_compare(self, variant: str | None = None):
        """A window training the current config (A) and a one-change variant (B) side by side."""
        if self.run.config is None:
            return None
        return self.compares.open(self.run.config, variant, self.preset_name or "current config", self.themes,
                                  self.ranges)
