"""CompareWindow: train two configurations side by side, A and B, on the same data and seed.

A is the current config; B is A with one change (shallower, ReLU, He init, residual, batch
norm — whatever this RunConfig supports, vgviz.core.diagnose.experiments.compare_variants). Each
side is a Run (the model the main window observes): it trains in its own worker thread and is
recorded to the run cache like any in-app run; a 10 Hz timer drains both, draws the two
labelled diagrams on one shared colour scale and overlays their loss and first-layer
gradient curves; each side's verdict is refreshed at 2 Hz (with the other side as the
shallower counterpart when it has fewer layers). Closing the window stops both threads.
"""
from __future__ import annotations

import html

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtGui, QtWidgets

from ..core.config import RunConfig
from ..core.layout import network_diagram
from ..core.layout.color_range import relative_to_output, union_range
from ..core.measure.history import History
from ..core.memory import MemoryCheckError, check_fits
from .diagnostics_view import ACTIVATION_BATCH, VERDICT_COLORS
from .network_view import NetworkView, layer_colors
from .plots import TINY, Log10Axis, smooth
from .run import Run
from .run_cache import new_run_path
from .worker import TrainingWorker

DISPLAY_HZ = 10
DIAGNOSE_EVERY_N_TICKS = 5        # verdicts at 2 Hz
SIDE_COLORS = {"A": "#ff9f43", "B": "#48dbfb"}
LIGHT_SIDE_COLORS = {"A": "#d35400", "B": "#0b7bbf"}   # the same hues, dark enough for a white page
LOCKSTEP_LEAD = 20                # the faster run waits when it is this many steps ahead


class _Side:
    """One run of the comparison: its config, its Run (worker, history, run file) and widgets."""

    def __init__(self, name: str, parent: QtWidgets.QWidget):
        self.name = name
        self.config: RunConfig | None = None
        self.label = ""
        self.run = Run(parent)
        self.activations = None
        self.acts_future = None
        self.acts_step = -1
        self.diagnosis = None
        self.error = ""
        self.record_error = ""   # the run file could not be written: the run goes on unrecorded
        self.colors = SIDE_COLORS
        color = self.colors[name]
        self.title = QtWidgets.QLabel()
        self.title.setWordWrap(True)
        self.title.setTextFormat(QtCore.Qt.TextFormat.RichText)
        self.network = NetworkView(parent)
        self.network.setMinimumSize(300, 220)
        self.verdict = QtWidgets.QLabel()
        self.verdict.setWordWrap(True)
        self.verdict.setTextFormat(QtCore.Qt.TextFormat.RichText)
        self.verdict.setMinimumHeight(48)
        self.verdict.setAlignment(QtCore.Qt.AlignmentFlag.AlignTop | QtCore.Qt.AlignmentFlag.AlignLeft)
        self.box = QtWidgets.QFrame()
        self.box.setObjectName(f"side{name}")
        self.box.setStyleSheet(f"QFrame#side{name} {{ border: 2px solid {color}; border-radius: 4px; }}")
        layout = QtWidgets.QVBoxLayout(self.box)
        layout.setContentsMargins(6, 4, 6, 4)
        layout.addWidget(self.title)
        layout.addWidget(self.network, 1)
        layout.addWidget(self.verdict)

    def set_colors(self, colors: dict[str, str], text: str | None = None, point_size: float | None = None) -> None:
        """The side's colour (its frame and letter), and the text colour and size of its labels
        (a frame with a style sheet no longer passes its window's palette and font on to them)."""
        self.colors = colors
        sheet = f"QFrame#side{self.name} {{ border: 2px solid {colors[self.name]}; border-radius: 4px; }}"
        if text:
            size = f" font-size: {point_size:.1f}pt;" if point_size else ""
            sheet += f" QFrame#side{self.name} QLabel {{ color: {text};{size} }}"
        self.box.setStyleSheet(sheet)
        if self.config is not None:
            self.set_config(self.config, self.label)

    def set_config(self, config: RunConfig, label: str) -> None:
        self.config, self.label = config, label
        color = self.colors[self.name]
        self.title.setText(f"<span style='color:{color}; font-size:16px; font-weight:bold'>{self.name}</span>"
                           f"&nbsp; <b>{html.escape(label)}</b><br><span style='color:#9aa0ab'>"
                           f"{html.escape(config.summary())}</span>")

    @property
    def worker(self) -> TrainingWorker | None:
        return self.run.worker

    @property
    def history(self) -> History | None:
        return self.run.history

    @property
    def can_train(self) -> bool:
        """Its thread is up and the run has steps left and has not diverged."""
        run = self.run
        return run.has_model and not (run.is_finished or run.is_diverged)

    @property
    def going(self) -> bool:
        """Training or about to (its model may still be building): lockstep waits for it."""
        run = self.run
        return run.worker is not None and not self.error and not (run.is_finished or run.is_diverged)

    @property
    def steps_done(self) -> int:
        return self.run.step_count


class CompareWindow(QtWidgets.QWidget):
    """Two runs side by side. `start(variant)` (re)starts both; closing stops both threads."""

    def __init__(self, config: RunConfig, variant: str | None = None, *, title_a: str = "current config",
                 parent: QtWidgets.QWidget | None = None):
        super().__init__(parent, QtCore.Qt.WindowType.Window)
        from ..core.diagnose.experiments import compare_variants

        self.setAttribute(QtCore.Qt.WidgetAttribute.WA_DeleteOnClose, False)
        self.setWindowTitle("vgviz — compare A / B")
        self.config_a = config
        self.title_a = title_a
        self.theme = None                 # set_theme: the main window's; None: the dark default
        self.variants = compare_variants(config)
        self.variant: str | None = None
        self.a, self.b = _Side("A", self), _Side("B", self)
        for side in (self.a, self.b):
            side.run.failed.connect(lambda msg, s=side: self._on_failed(s, msg))
            side.run.record_failed.connect(lambda msg, s=side: self._on_record_failed(s, msg))
            side.run.ready.connect(lambda stats, s=side: s.network.set_layer_colors(self._layer_colors(stats.n_layers)))
        self._tick = 0
        self._shared_range = False
        self._paused = False              # by the user (Pause button)
        self.closed = False

        self.variant_box = QtWidgets.QComboBox()
        for key, (label, _cfg) in self.variants.items():
            self.variant_box.addItem(label, key)
        self.variant_box.setToolTip("B is A with this one change; both train on the same data and seed")
        self.run_button = QtWidgets.QPushButton("Restart both")
        self.run_button.setToolTip("Start A and B again from step 0 with the chosen B")
        self.run_button.clicked.connect(lambda: self.start(self.variant_box.currentData()))
        self.pause_button = QtWidgets.QPushButton("Pause")
        self.pause_button.clicked.connect(self.toggle_pause)
        self.lockstep_box = QtWidgets.QCheckBox("Lockstep")
        self.lockstep_box.setChecked(True)
        self.lockstep_box.setToolTip(f"The faster run waits when it is {LOCKSTEP_LEAD} steps ahead, so both are\n"
                                     "compared after the same number of updates")
        self.status = QtWidgets.QLabel()
        top = QtWidgets.QHBoxLayout()
        top.addWidget(QtWidgets.QLabel("B = A with:"))
        top.addWidget(self.variant_box)
        top.addWidget(self.run_button)
        top.addWidget(self.pause_button)
        top.addWidget(self.lockstep_box)
        top.addSpacing(12)
        top.addWidget(self.status, 1)

        sides = QtWidgets.QHBoxLayout()
        sides.addWidget(self.a.box, 1)
        sides.addWidget(self.b.box, 1)

        self.loss_plot = self._plot("Training loss", "cross-entropy")
        self.grad_plot = self._plot("First-layer gradient", "‖dL/dW‖ of hidden1", log=True)
        self.curves = {}
        for side in (self.a, self.b):
            pen = pg.mkPen(SIDE_COLORS[side.name], width=2)
            self.curves[side.name] = (self.loss_plot.plot(pen=pen, name=side.name),
                                      self.grad_plot.plot(pen=pen, name=side.name))
        plots = QtWidgets.QHBoxLayout()
        plots.addWidget(self.loss_plot)
        plots.addWidget(self.grad_plot)
        plot_box = QtWidgets.QWidget()
        plot_box.setLayout(plots)
        plots.setContentsMargins(0, 0, 0, 0)

        splitter = QtWidgets.QSplitter(QtCore.Qt.Orientation.Vertical)
        side_box = QtWidgets.QWidget()
        side_box.setLayout(sides)
        sides.setContentsMargins(0, 0, 0, 0)
        splitter.addWidget(side_box)
        splitter.addWidget(plot_box)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 2)
        splitter.setChildrenCollapsible(False)
        layout = QtWidgets.QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(splitter, 1)
        self.resize(1200, 800)

        self.timer = QtCore.QTimer(self)
        self.timer.setInterval(1000 // DISPLAY_HZ)
        self.timer.timeout.connect(self._on_tick)
        if not self.variants:
            self.status.setText("This config has no one-change variant to compare with.")
            self.run_button.setEnabled(False)
        else:
            self.start(variant if variant in self.variants else next(iter(self.variants)))

    def _layer_colors(self, n: int) -> list:
        return self.theme.layer_colors(n) if self.theme is not None else layer_colors(n)

    def use_ranges(self, ranges) -> None:
        """The main window's colour range mode, shared range and relative view
        (vgviz.gui.color_ranges.ColorRangeController) for both sides."""
        for side in (self.a, self.b):
            ranges.configure(side.network.scene)
            side.network.reapply_range()
        self._shared_range = False     # the next frame fits one range over both sides again

    def set_theme(self, theme, colormap: str) -> None:
        """A vgviz.gui.theme.Theme (the main window's): palette, fonts, diagrams, plots, side colours."""
        from .plots import style_plot
        from .theme import apply_theme, scaled_font

        self.theme = theme
        self.setPalette(theme.palette())
        font = scaled_font(theme.font_scale)
        self.setFont(font)
        size = font.pointSizeF() if font.pointSizeF() > 0 else 10.0
        colors = LIGHT_SIDE_COLORS if theme.light else SIDE_COLORS
        for side in (self.a, self.b):
            apply_theme(theme, colormap, network=side.network)
            side.set_colors(colors, theme.text, size)
            if side.history is not None:
                side.network.set_layer_colors(self._layer_colors(side.history.n_layers))
        for w in (self.loss_plot, self.grad_plot):
            style_plot(w, theme, font)
        for name, (loss, grad) in self.curves.items():
            pen = pg.mkPen(colors[name], width=1 + theme.curve_width)
            loss.setPen(pen)
            grad.setPen(pen)

    @staticmethod
    def _plot(title: str, left: str, log: bool = False) -> pg.PlotWidget:
        w = pg.PlotWidget(axisItems={"left": Log10Axis("left")} if log else None)
        w.setTitle(title, size="10pt")
        w.setLabel("left", left)
        w.setLabel("bottom", "step")
        w.showGrid(x=True, y=True, alpha=0.2)
        w.setMenuEnabled(False)
        w.setMinimumSize(240, 150)
        w.getAxis("bottom").enableAutoSIPrefix(False)
        w.getAxis("left").enableAutoSIPrefix(False)
        w.addLegend(offset=(-10, 10), brush=(30, 30, 34, 210))
        return w

    # -- runs --------------------------------------------------------------------------------
    def start(self, variant: str) -> None:
        """Stop both runs and start A (the config) and B (its variant) from step 0."""
        if variant not in self.variants or self.closed:
            return
        self._stop_runs()
        self.variant = variant
        self.variant_box.setCurrentIndex(self.variant_box.findData(variant))
        label_b, config_b = self.variants[variant]
        self.a.set_config(self.config_a, self.title_a)
        self.b.set_config(config_b, f"A with {label_b}")
        self._shared_range = False
        try:
            check_fits(self.config_a, alongside=(config_b,), override_hint=None)
        except MemoryCheckError as err:
            for side in (self.a, self.b):
                self._on_failed(side, str(err))
            return
        recorded: set = set()
        for side in (self.a, self.b):
            # both start held LOCKSTEP_LEAD steps in: no side can run ahead before the first frame
            side.run.set_step_limit(LOCKSTEP_LEAD if self.lockstep_box.isChecked() else None)
            side.activations = side.acts_future = side.diagnosis = None
            side.acts_step = -1
            side.error = side.record_error = ""
            side.network.reset()
            side.verdict.setText("<span style='color:#9aa0ab'>starting …</span>")
            for curve in self.curves[side.name]:
                curve.setData([], [])
            # recorded to the run cache like the main window's runs (the other side's file is kept)
            path = new_run_path(f"compare-{side.name}", keep=recorded)
            if path is not None:
                recorded.add(path)
            # lockstep compares whole steps: full stats on every step
            error = side.run.start(side.config, record_to=path, full_period_s=0.0, train=True)
            if error:
                self._on_failed(side, error)
        self.pause_button.setText("Pause")
        self._paused = False
        self.timer.start()

    def toggle_pause(self) -> None:
        if not self._paused:
            self._paused = True
            for side in (self.a, self.b):
                side.run.pause()
            self.pause_button.setText("Resume")
        else:
            self._paused = False
            for s in (self.a, self.b):
                if s.can_train:
                    s.run.resume()
            self.pause_button.setText("Pause")

    def _keep_in_step(self) -> None:
        """Lockstep: each run may train at most LOCKSTEP_LEAD steps past the other's count. The
        worker checks its limit before each step, so the lead never exceeds it, however
        late a frame comes; a finished, diverged or failed run no longer holds the other back."""
        for side, other in ((self.a, self.b), (self.b, self.a)):
            keep = self.lockstep_box.isChecked() and other.going
            side.run.set_step_limit(other.steps_done + LOCKSTEP_LEAD if keep else None)

    def _on_failed(self, side: _Side, message: str) -> None:
        side.error = message
        side.verdict.setText(f"<span style='color:#ff6b6b'>{html.escape(message)}</span>")

    def _on_record_failed(self, side: _Side, message: str) -> None:
        side.record_error = message   # the run trains on, unrecorded: said in the status line

    def _stop_runs(self) -> None:
        for side in (self.a, self.b):
            side.run.stop()   # never waits: worker.py holds the thread until it has ended

    @property
    def workers(self) -> list[TrainingWorker]:
        return [s.worker for s in (self.a, self.b) if s.worker is not None]

    # -- display -----------------------------------------------------------------------------
    def _on_tick(self) -> None:
        self._tick += 1
        changed = False
        for side in (self.a, self.b):
            changed = bool(side.run.drain()) or changed
        self._keep_in_step()
        sides = (self.a, self.b)
        ready = all(s.history is not None and s.history.latest is not None for s in sides)
        both = self._fit_both() if ready and not self._shared_range else None
        if both is not None:
            self._take_shared(both)
        for side in sides:
            scene = side.network.scene
            waiting = scene.mode == "shared" and scene.shared.range is None   # for both sides' first stats
            if side.history is not None and side.history.latest is not None and not waiting:
                side.network.show_stats(side.history.latest)
        if both is not None:
            self._keep_both(both)
        if changed:
            self._update_plots()
        if self._tick % DIAGNOSE_EVERY_N_TICKS == 0 or not any(s.run.is_running for s in (self.a, self.b)):
            self.refresh_verdicts()
        self.status.setText(" · ".join(
            f"{s.name}: step {s.steps_done:,}"
            + (" (diverged)" if s.history is not None and s.history.latest.diverged else "")
            + (" (not recorded)" if s.record_error else "") for s in (self.a, self.b)))
        self.status.setToolTip("\n".join(s.record_error for s in (self.a, self.b) if s.record_error))

    def _fit_both(self) -> tuple[float, float]:
        """One log colour range over both runs' first stats as drawn (÷ the output layer's in
        the relative view), as the per-run mode fits one run's at its first step."""
        fits = []
        for side in (self.a, self.b):
            stats = side.history.first
            if side.network.scene.relative:
                stats = relative_to_output(stats)
            fits.append(network_diagram.default_color_range(
                stats.edge_abs if stats.edge_abs is not None else stats.delta_mean_abs))
        return union_range(fits)

    def _take_shared(self, both: tuple[float, float]) -> None:
        """The shared mode: the session's range, if none is set yet, is both sides' (before either draws)."""
        for side in (self.a, self.b):
            scene = side.network.scene
            if scene.mode == "shared" and scene.shared.range is None:
                scene.shared.take(both)

    def _keep_both(self, both: tuple[float, float]) -> None:
        """The per-run mode (relative too, where a preset's range does not apply): both sides keep
        both sides' range, once each has drawn its first frame (which fits its own). A typed or
        auto range is the mode's own."""
        for side in (self.a, self.b):
            scene = side.network.scene
            if scene.mode == "run" and (scene.relative or scene.preset_range is None):
                scene.range, scene.range_step = both, side.history.first.step
                side.network.reapply_range()
        self._shared_range = True

    def _update_plots(self) -> None:
        for side in (self.a, self.b):
            h = side.history
            if h is None or not len(h):
                continue
            window = max(1, len(h) // 100)
            loss_curve, grad_curve = self.curves[side.name]
            loss = np.where(np.isfinite(h.loss), h.loss, np.nan)
            loss_curve.setData(h.steps, smooth(loss, window), connect="finite")
            g = h.grad_l2[:, 0]
            logs = np.log10(np.maximum(np.where(np.isfinite(g), g, np.nan), TINY))
            grad_curve.setData(h.steps, smooth(logs, window), connect="finite")

    def refresh_verdicts(self) -> None:
        from ..core.diagnose.experiments import is_recurrent
        from ..core.diagnose.measures import summarize
        from ..core.diagnose.verdict import diagnose

        for side, other in ((self.a, self.b), (self.b, self.a)):
            if side.history is None or not len(side.history) or side.error:
                continue
            self._collect_activations(side)
            baseline = None
            if other.history is not None and len(other.history) and other.history.n_layers < side.history.n_layers:
                # at the same step as this side, so the two are compared after equal training
                baseline = summarize(other.history, f"{other.name}: {other.label}",
                                     at_step=int(side.history.steps[-1]))
            trainer = side.worker.trainer if side.run.has_model else None
            side.diagnosis = diagnose(side.history, activations=side.activations, baseline=baseline,
                                      recurrent=trainer is not None and is_recurrent(trainer.model))
            color = VERDICT_COLORS.get(side.diagnosis.verdict, "#d8dbe2")
            side.verdict.setText(f"<span style='background:{color}; color:#111; font-weight:bold'>&nbsp;"
                                 f"{side.diagnosis.verdict.upper()}&nbsp;</span> "
                                 f"{html.escape(side.diagnosis.headline)}")

    def _collect_activations(self, side: _Side) -> None:
        from ..core.diagnose.experiments import activation_batch
        from ..core.diagnose.measures import activation_stats

        f = side.acts_future
        if f is not None and f.done():
            side.acts_future = None
            if not f.cancelled() and f.exception() is None:
                side.activations = f.result()
        step = int(side.history.latest.step)
        if side.run.has_model and side.acts_future is None and step != side.acts_step:
            side.acts_step = step
            side.acts_future = side.run.submit(
                lambda trainer: activation_stats(trainer.model, activation_batch(trainer, ACTIVATION_BATCH)))

    def closeEvent(self, event: QtGui.QCloseEvent) -> None:
        self.closed = True
        self.timer.stop()
        self._stop_runs()
        super().closeEvent(event)


class CompareWindows(QtCore.QObject):
    """The compare windows a main window opened; each deletes itself when closed."""

    def __init__(self, parent: QtCore.QObject | None = None):
        super().__init__(parent)
        self.windows: list[CompareWindow] = []

    def open(self, config: RunConfig, variant: str | None, title_a: str, themes, ranges=None) -> CompareWindow:
        """A window training ``config`` (A) and a one-change variant (B) side by side, in the
        ThemeController ``themes``' theme and colour map and the ColorRangeController ``ranges``' range."""
        window = CompareWindow(config, variant, title_a=title_a)
        window.set_theme(themes.theme, themes.colormap)
        if ranges is not None:
            window.use_ranges(ranges)
        window.setAttribute(QtCore.Qt.WidgetAttribute.WA_DeleteOnClose, True)
        self.windows.append(window)
        window.destroyed.connect(lambda *_a, w=window: self.windows.remove(w) if w in self.windows else None)
        window.show()
        return window

    def close_all(self) -> None:
        for window in list(self.windows):
            window.close()
