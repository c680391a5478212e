"""DiagnosticsPanel: the verdict, the findings table, the neuron heat strip, the update-ratio
plot and the ablation / shallower-counterpart / compare actions.

The panel reads the main window's History and asks the training thread for what needs
the model (activation statistics, ablations) through TrainingWorker.submit(), so the
weights are never read while an update is half applied and the GUI never waits: it
polls the Futures. It refreshes at REFRESH_HZ (2 Hz), only while it is visible.

vgviz.core.diagnose imports torch; it is imported here lazily (torch is loaded by the
worker thread before the first run is ready), so opening the window stays fast.
"""
from __future__ import annotations

import html
import math

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtGui, QtWidgets

from ..core.config import RunConfig
from ..core.diagnose import FINDING_KEYS
from ..core.measure.history import History
from ..core.measure.steps import step_label
from .network_view import layer_colors
from .plots import SMOOTH_POINTS, TINY, Log10Axis, smooth, style_plot

WAITING = "Diagnostics appear after the first training step."
REFRESH_HZ = 2
TAB_FONT_SCALE = 0.85
MIN_WIDTH = 256               # the right dock beside the panel and the plots at 1024×768, lecture fonts
POLL_MS = 100                 # while an ablation / counterpart runs
ACTIVATION_BATCH = 256        # examples the live activation statistics are measured on
VERDICT_COLORS = {"vanishing": "#ff6b6b", "exploding": "#ff9f43", "healthy": "#2ecc71",
                  "converged": "#54a0ff", "degradation": "#f0b429"}
STATUS_COLORS = {"bad": "#ff6b6b", "warn": "#f0b429", "ok": "#2ecc71", "info": "#9aa0ab", "n/a": "#7f8590"}
SHORT_TITLES = {"error_signal": "δ by layer", "forward_signal": "Forward signal",
                "gradient_magnitude": "|dL/dW| by layer", "loss_plateau": "Loss plateau",
                "training_performance": "vs shallower net", "unresponsive_neurons": "Unresponsive units",
                "reliance_on_upper_layers": "Ablation", "speed_of_learning": "Update ratio"}


def verdict_html(diagnosis, available: set[str] | None = None) -> str:
    """Rich text of a Diagnosis: the verdict, the headline, the causes and the fixes; a fix's
    preset is a link (href 'preset:NAME') only when that preset is installed."""
    color = VERDICT_COLORS.get(diagnosis.verdict, "#d8dbe2")
    parts = [f"<div><span style='background:{color}; color:#111; font-weight:bold; padding:2px 6px;'>"
             f"&nbsp;{diagnosis.verdict.upper()}&nbsp;</span></div>",
             f"<p style='margin-top:6px'>{html.escape(diagnosis.headline)}</p>"]
    if diagnosis.causes:
        parts.append("<b>Likely cause</b><ul style='margin-top:2px; margin-bottom:4px'>" +
                     "".join(f"<li>{html.escape(c)}</li>" for c in diagnosis.causes) + "</ul>")
    if diagnosis.fixes:
        items = []
        for fix in diagnosis.fixes:
            ok = fix.available if available is None else fix.preset in available
            # a line may break only after a hyphen (non-breaking hyphen + zero-width space): the
            # longest name wraps in the narrow dock rather than being cut at its edge
            shown = html.escape(fix.preset).replace("-", "\u2011\u200b")
            if fix.preset and ok:
                link = f" — preset <a href='preset:{fix.preset}' style='color:#7fb3ff'>{shown}</a>"
            elif fix.preset:
                link = f" — <span style='color:#7f8590'>preset {shown} (not in this version)</span>"
            else:
                link = ""
            items.append(f"<li><b>{html.escape(fix.title)}</b>: {html.escape(fix.why)}{link}</li>")
        parts.append("<b>Fixes that apply</b><ul style='margin-top:2px; margin-bottom:0px'>" + "".join(items) + "</ul>")
    return "".join(parts)


class HeatStrip(pg.PlotWidget):
    """Layer × neuron image of one activation statistic with a colour bar; hover for numbers.

    mode "share": the fraction of the batch on which each unit is saturated or off;
    mode "spread": log10 of each unit's output standard deviation across the batch."""

    # short: the dock may be narrow, and the lecture theme's fonts large (the tooltip says more)
    MODES = {"share": "Saturated or off: share of batch",
             "spread": "Output spread (log10 std)"}

    def __init__(self, mode: str = "share", parent: QtWidgets.QWidget | None = None):
        super().__init__(parent)
        self.setMenuEnabled(False)
        self.setMouseEnabled(x=False, y=False)
        self.hideButtons()
        self.getPlotItem().invertY(True)
        self.setLabel("bottom", "neuron")
        self.getAxis("left").setWidth(58)
        self.image = pg.ImageItem(axisOrder="row-major")
        self.addItem(self.image)
        self.colorbar = pg.ColorBarItem(values=(0, 1), colorMap=pg.colormap.get("inferno"), interactive=False,
                                        width=12, colorMapMenu=False)
        self.colorbar.setImageItem(self.image, insert_in=self.getPlotItem())
        self.setMinimumHeight(110)
        self.mode = mode
        self.setTitle(self.MODES[mode], size="9pt")
        self.stats = None
        self.matrix = np.zeros((0, 0))
        self.setMouseTracking(True)
        self.setToolTip("Rows: activation layers (input side on top); columns: neurons.\n"
                        "Saturated / off share: fraction of the batch on which the unit is saturated\n"
                        "(sigmoid < 0.01 or > 0.99, |tanh| > 0.99) or off (ReLU output 0);\n"
                        "1 = always: a dead or pinned unit.\n"
                        "Output spread: log10 of the unit's standard deviation across the batch.")

    def show_stats(self, stats) -> None:
        self.stats = stats
        if stats is None or not stats.layers:
            self.image.clear()
            self.matrix = np.zeros((0, 0))
            return
        if self.mode == "spread":
            m = np.log10(np.maximum(stats.matrix("spread"), 1e-6))
            m[np.isnan(stats.matrix("spread"))] = np.nan
            lo, hi = -4.0, max(0.0, math.ceil(np.nanmax(m))) if np.isfinite(m).any() else 0.0
            cmap = pg.colormap.get("viridis")
        else:
            m = stats.matrix("share")
            lo, hi, cmap = 0.0, 1.0, pg.colormap.get("inferno")
        self.matrix = m
        self.colorbar.setColorMap(cmap)
        self.colorbar.setLevels((lo, hi))
        self.image.setImage(m, levels=(lo, hi), autoLevels=False)
        self.image.setRect(QtCore.QRectF(0, 0, m.shape[1], m.shape[0]))
        names = [layer.name for layer in stats.layers]
        step = max(1, math.ceil(len(names) / 10))
        self.getAxis("left").setTicks([[(i + 0.5, n.replace("hidden", "h")) for i, n in enumerate(names)][::step]])
        width = m.shape[1]
        step = max(1, math.ceil(width / 16))
        self.getAxis("bottom").setTicks([[(j + 0.5, str(j)) for j in range(0, width, step)]])
        self.setXRange(0, m.shape[1], padding=0)
        self.setYRange(0, m.shape[0], padding=0)

    def text_at(self, scene_pos: QtCore.QPointF) -> str:
        if self.stats is None or not self.matrix.size:
            return ""
        p = self.getPlotItem().vb.mapSceneToView(scene_pos)
        row, col = int(math.floor(p.y())), int(math.floor(p.x()))
        if not (0 <= row < len(self.stats.layers)):
            return ""
        layer = self.stats.layers[row]
        if not 0 <= col < layer.units:
            return ""
        share = layer.share[col]
        what = {"sigmoid": "saturated", "tanh": "saturated", "relu": "output 0", "relu-like": "below 0"}.get(layer.kind)
        text = f"{layer.name} ({layer.activation}) · neuron {col}\n"
        if what and np.isfinite(share):
            text += f"{what} on {share:.0%} of the batch\n"
        return text + f"output std across the batch {layer.spread[col]:.3g}"

    def mouseMoveEvent(self, event: QtGui.QMouseEvent) -> None:
        super().mouseMoveEvent(event)
        text = self.text_at(self.mapToScene(event.position().toPoint()))
        if text:
            QtWidgets.QToolTip.showText(event.globalPosition().toPoint(), text, self)


class UpdateRatioPlot(pg.PlotWidget):
    """‖ΔW‖/‖W‖ per layer over steps (log scale), the rule of thumb 1e-3 dashed."""

    def __init__(self, parent: QtWidgets.QWidget | None = None):
        super().__init__(parent, axisItems={"left": Log10Axis("left")})
        self.setMenuEnabled(False)
        self.setLabel("left", "‖ΔW‖/‖W‖")
        self.setLabel("bottom", "step")
        self.showGrid(x=True, y=True, alpha=0.2)
        self.getAxis("bottom").enableAutoSIPrefix(False)
        self.setMinimumHeight(150)
        self.reference = pg.InfiniteLine(pos=-3, angle=0, pen=pg.mkPen("#d8dbe2", width=1,
                                                                         style=QtCore.Qt.PenStyle.DashLine),
                                         label="rule of thumb 1e-3",
                                         labelOpts={"position": 0.08, "color": "#d8dbe2", "fill": (30, 30, 34, 220),
                                                    "anchors": [(0, 1), (0, 1)]})
        self.legend = self.addLegend(offset=(-4, 4), colCount=3, labelTextSize="8pt", brush=(30, 30, 34, 220))
        self.colors = layer_colors     # n -> one colour per layer (a theme's, after set_theme)
        self.reference.setZValue(20)   # above the curves, so its label stays readable
        self.addItem(self.reference)
        self.curves: list[pg.PlotDataItem] = []
        self.setToolTip("How much each layer's weights change per step, relative to their size (log scale),\n"
                        "as a moving average. ~1e-3 is the usual rule of thumb; a layer far below it\n"
                        "barely learns (the vanishing gradient), far above it is rewritten every step.")

    def set_layers(self, names: list[str]) -> None:
        for c in self.curves:
            self.removeItem(c)
        self.legend.clear()
        self.curves = [self.plot(pen=pg.mkPen(col, width=1.5), name=name)
                       for name, col in zip(names, self.colors(len(names)))]

    def set_theme(self, theme) -> None:
        style_plot(self, theme)
        fg = QtGui.QColor(theme.plot_foreground)
        self.reference.setPen(pg.mkPen(fg, width=1, style=QtCore.Qt.PenStyle.DashLine))
        bg = QtGui.QColor(theme.plot_background)
        bg.setAlpha(220)
        self.reference.label.setColor(fg)
        self.reference.label.fill = pg.mkBrush(bg)
        self.colors = theme.layer_colors
        for curve, col in zip(self.curves, self.colors(len(self.curves))):
            curve.setPen(pg.mkPen(col, width=1.5))

    def update_from(self, history: History) -> None:
        steps = history.steps
        if not len(steps) or not self.curves:
            return
        ratios = history.update_ratio
        with np.errstate(divide="ignore", invalid="ignore"):
            logs = np.log10(np.maximum(ratios, TINY))
        logs[~np.isfinite(ratios)] = np.nan
        window = max(1, len(steps) // 50)
        every = max(1, len(steps) // SMOOTH_POINTS)   # a moving average: ~600 points show it all
        smoothed = smooth(logs, window, every)
        for i, curve in enumerate(self.curves):
            curve.setData(steps[::every], smoothed[:, i], connect="finite")
        finite = logs[np.isfinite(logs)]
        if len(finite):
            lo = min(math.floor(finite.min()), -4)
            hi = max(math.ceil(finite.max()), -2)
            self.setYRange(lo, hi, padding=0.02)


class DiagnosticsPanel(QtWidgets.QWidget):
    """The diagnostics dock's contents. attach() to a run, detach() before the next."""

    preset_requested = QtCore.Signal(str)   # a fix's preset link was clicked
    compare_requested = QtCore.Signal(str)  # a compare variant key (vgviz.core.diagnose.experiments.compare_variants)

    def __init__(self, parent: QtWidgets.QWidget | None = None):
        super().__init__(parent)
        self.worker = None
        self.history: History | None = None
        self.config: RunConfig | None = None
        self.diagnosis = None
        self.activations = None
        self.ablation = None
        self.baseline = None
        self._acts_future = None
        self._acts_step = -1
        self._ablation_future = None
        self._counterpart = None            # (worker, history, label)
        self._available_presets: set[str] = set()

        self.verdict_label = QtWidgets.QLabel(WAITING)
        self.verdict_label.setWordWrap(True)
        self.verdict_label.setTextFormat(QtCore.Qt.TextFormat.RichText)
        self.verdict_label.setAlignment(QtCore.Qt.AlignmentFlag.AlignTop | QtCore.Qt.AlignmentFlag.AlignLeft)
        self.verdict_label.setTextInteractionFlags(QtCore.Qt.TextInteractionFlag.TextBrowserInteraction)
        self.verdict_label.setOpenExternalLinks(False)
        self.verdict_label.linkActivated.connect(self._on_link)
        self.verdict_label.setMargin(4)

        self.table = QtWidgets.QTableWidget(len(FINDING_KEYS), 4)
        self.table.setHorizontalHeaderLabels(["Finding", "Result", "Value", "Threshold"])
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QtWidgets.QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QtWidgets.QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QtWidgets.QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setWordWrap(True)
        font = self.table.font()
        font.setPointSizeF(max(7.0, font.pointSizeF() - 1))
        self.table.setFont(font)
        self.table.setTextElideMode(QtCore.Qt.TextElideMode.ElideNone)
        self.table.setVerticalScrollBarPolicy(QtCore.Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.table.setHorizontalScrollBarPolicy(QtCore.Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.table.setSizeAdjustPolicy(QtWidgets.QAbstractScrollArea.SizeAdjustPolicy.AdjustToContents)
        # as wide as the dock, never wider: the columns share its width and a long cell wraps
        # onto a taller row (the verdict above it wraps to the same width)
        policy = self.table.sizePolicy()
        policy.setHorizontalPolicy(QtWidgets.QSizePolicy.Policy.Ignored)
        self.table.setSizePolicy(policy)
        self.table.horizontalHeader().setSectionResizeMode(QtWidgets.QHeaderView.ResizeMode.Stretch)
        self.table.verticalHeader().setSectionResizeMode(QtWidgets.QHeaderView.ResizeMode.ResizeToContents)
        self.table.itemSelectionChanged.connect(self._show_selected_detail)
        self.detail_label = QtWidgets.QLabel()
        self.detail_label.setWordWrap(True)
        self.detail_label.setForegroundRole(QtGui.QPalette.ColorRole.Mid)   # the theme's, not the application's
        self.detail_label.setTextInteractionFlags(QtCore.Qt.TextInteractionFlag.TextSelectableByMouse)
        self.detail_label.setAlignment(QtCore.Qt.AlignmentFlag.AlignTop | QtCore.Qt.AlignmentFlag.AlignLeft)

        verdict_page = QtWidgets.QWidget()
        vp = QtWidgets.QVBoxLayout(verdict_page)
        vp.setContentsMargins(2, 2, 2, 2)
        vp.addWidget(self.verdict_label)
        vp.addWidget(self.table)
        vp.addWidget(self.detail_label)
        vp.addStretch(1)
        verdict_scroll = QtWidgets.QScrollArea()
        verdict_scroll.setWidget(verdict_page)
        verdict_scroll.setWidgetResizable(True)
        verdict_scroll.setFrameShape(QtWidgets.QFrame.Shape.NoFrame)
        verdict_scroll.setHorizontalScrollBarPolicy(QtCore.Qt.ScrollBarPolicy.ScrollBarAlwaysOff)

        self.heat = HeatStrip("share")
        self.spread_heat = HeatStrip("spread")
        self.heat_caption = QtWidgets.QLabel()
        self.heat_caption.setWordWrap(True)
        self.heat_caption.setForegroundRole(QtGui.QPalette.ColorRole.Mid)   # the theme's, not the application's
        heat_box = QtWidgets.QWidget()
        hb = QtWidgets.QVBoxLayout(heat_box)
        hb.setContentsMargins(0, 0, 0, 0)
        hb.addWidget(self.heat, 1)
        hb.addWidget(self.spread_heat, 1)
        hb.addWidget(self.heat_caption)
        self.update_plot = UpdateRatioPlot()
        # one word a tab, never elided: three fit the narrow dock beside the stepper at 1024×768
        self.tabs = QtWidgets.QTabWidget()
        self.tabs.tabBar().setElideMode(QtCore.Qt.TextElideMode.ElideNone)
        for page, name, tip in ((verdict_scroll, "Verdict", "Verdict and findings"),
                                (heat_box, "Neurons", "Dead and saturated neurons by layer"),
                                (self.update_plot, "Speed", "Speed of learning: update size ÷ weight size")):
            self.tabs.setTabToolTip(self.tabs.addTab(page, name), tip)

        actions = QtWidgets.QGroupBox("Experiments")
        form = QtWidgets.QGridLayout(actions)
        self.ablate_k = QtWidgets.QSpinBox()
        self.ablate_k.setRange(1, 1)
        self.ablate_k.setPrefix("k = ")
        self.ablate_k.setToolTip("Re-initialise the first k layers on a copy of the model")
        self.ablate_mode = QtWidgets.QComboBox()
        self.ablate_mode.addItem("to step-0 weights", "initial")
        self.ablate_mode.addItem("to fresh random weights", "random")
        self.ablate_mode.setToolTip("step-0: put the layers back to where they started; if they did not learn,\n"
                                    "nothing changes. fresh random: also destroys the random features the\n"
                                    "upper layers adapted to.")
        self.ablate_button = QtWidgets.QPushButton("Ablate")
        self.ablate_button.setToolTip("Re-initialise the first k layers of a copy and measure the training-set "
                                      "accuracy before and after")
        self.ablate_button.clicked.connect(self.run_ablation)
        # a row for each ablation control, and the comparisons in rows of two: a narrow dock with
        # the lecture theme's fonts must not clip a label or a button
        form.addWidget(QtWidgets.QLabel("Re-initialise first"), 0, 0)
        form.addWidget(self.ablate_k, 0, 1)
        form.addWidget(self.ablate_mode, 1, 0, 1, 4)
        form.addWidget(self.ablate_button, 2, 0, 1, 4)
        self.ablation_label = QtWidgets.QLabel()
        self.ablation_label.setWordWrap(True)
        form.addWidget(self.ablation_label, 3, 0, 1, 4)
        self.shallower_button = QtWidgets.QPushButton("Train shallower counterpart")
        self.shallower_button.setToolTip("Train the same config with fewer hidden layers, as many steps as this run, "
                                         "in a background thread; the training-performance finding compares them")
        self.shallower_button.clicked.connect(self.train_shallower)
        self.shallower_label = QtWidgets.QLabel()
        self.shallower_label.setWordWrap(True)
        form.addWidget(self.shallower_button, 4, 0, 1, 4)
        form.addWidget(self.shallower_label, 5, 0, 1, 4)
        form.addWidget(QtWidgets.QLabel("Compare with:"), 6, 0, 1, 4)
        self.compare_row = QtWidgets.QGridLayout()
        self.compare_buttons: dict[str, QtWidgets.QPushButton] = {}
        form.addLayout(self.compare_row, 7, 0, 1, 4)

        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.tabs, 1)
        layout.addWidget(actions)
        self.setMinimumWidth(MIN_WIDTH)
        self._fit_tab_font()
        self._set_actions_enabled(False)

        self.timer = QtCore.QTimer(self)
        self.timer.setInterval(1000 // REFRESH_HZ)
        self.timer.timeout.connect(self.refresh)
        self.poll_timer = QtCore.QTimer(self)
        self.poll_timer.setInterval(POLL_MS)
        self.poll_timer.timeout.connect(self._poll_jobs)

    def _fit_tab_font(self) -> None:
        """The tab titles a little smaller than the panel's text: all three fit the narrow dock
        whole in the lecture theme's large font."""
        font = QtGui.QFont(self.font())
        font.setPointSizeF(max(8.0, font.pointSizeF() * TAB_FONT_SCALE))
        self.tabs.tabBar().setFont(font)

    def changeEvent(self, event: QtCore.QEvent) -> None:
        if event.type() == QtCore.QEvent.Type.FontChange:   # a theme's font
            self._fit_tab_font()
        super().changeEvent(event)

    def sizeHint(self) -> QtCore.QSize:
        return QtCore.QSize(470, 760)

    # -- a run -----------------------------------------------------------------------------
    def set_theme(self, theme) -> None:
        """The plots and heat strips on a vgviz.gui.theme.Theme's background."""
        self.update_plot.set_theme(theme)
        for strip in (self.heat, self.spread_heat):
            style_plot(strip, theme)

    def attach(self, worker, history: History, config: RunConfig) -> None:
        """Follow a run: where its model jobs run (a TrainingWorker, or a run file's rebuilt model:
        anything with submit(fn) → Future), its History (appended by the window)."""
        from ..core.diagnose.experiments import compare_variants, default_ablation_k, shallower_depth
        from ..core.presets import preset_names

        self.detach()
        self.worker, self.history, self.config = worker, history, config
        self._available_presets = set(preset_names())
        self.update_plot.set_layers([])
        n_hidden = max(1, history.n_layers - 1)
        self.ablate_k.setRange(1, n_hidden)
        self.ablate_k.setValue(default_ablation_k(n_hidden))
        depth = getattr(config, "depth", 1)
        self.shallower_button.setText(f"Train shallower (depth {shallower_depth(depth)})")
        self.shallower_button.setEnabled(depth > 1)
        self._build_compare_buttons(compare_variants(config))
        self._set_actions_enabled(True)
        self.timer.start()
        self.refresh()

    def follow(self, history: History) -> None:
        """The attached run's History was replaced (a followed file rebuilds it as it grows):
        diagnose that one from now on, as the plots do."""
        if self.history is not None:
            self.history = history

    def detach(self) -> None:
        self.timer.stop()
        self.poll_timer.stop()
        self._stop_counterpart()
        self.worker = self.history = None
        self.diagnosis = self.activations = self.ablation = self.baseline = None
        self._acts_future = self._ablation_future = None
        self._acts_step = -1
        self.heat.show_stats(None)
        self.spread_heat.show_stats(None)
        self.heat_caption.clear()
        self.update_plot.set_layers([])
        self.table.clearContents()
        self.detail_label.clear()
        self.ablation_label.clear()
        self.shallower_label.clear()
        self.verdict_label.setText(WAITING)
        self._set_actions_enabled(False)

    def _set_actions_enabled(self, on: bool) -> None:
        for w in (self.ablate_button, self.ablate_k, self.ablate_mode, self.shallower_button,
                  *self.compare_buttons.values()):
            w.setEnabled(on)

    def _build_compare_buttons(self, variants: dict) -> None:
        for b in self.compare_buttons.values():
            self.compare_row.removeWidget(b)
            b.deleteLater()
        self.compare_buttons = {}
        for i, (key, (label, variant)) in enumerate(variants.items()):
            b = QtWidgets.QPushButton(label.split(" (")[0])
            b.setToolTip(f"Open a side-by-side comparison: this run (A) against B = {label}\n{variant.summary()}")
            b.clicked.connect(lambda _=False, k=key: self.compare_requested.emit(k))
            self.compare_row.addWidget(b, i // COMPARE_COLUMNS, i % COMPARE_COLUMNS)
            self.compare_buttons[key] = b

    # -- refresh (2 Hz) --------------------------------------------------------------------
    def refresh(self, force: bool = False) -> None:
        """Recompute the diagnosis from the history and the latest model measurements."""
        if self.history is None or self.history.latest is None or len(self.history) == 0:
            return
        if not (force or self.isVisible()):
            return
        from ..core.diagnose.experiments import activation_batch
        from ..core.diagnose.measures import activation_stats
        from ..core.diagnose.verdict import diagnose

        self._collect_activations()
        step = int(self.history.latest.step)
        if self.worker is not None and step != self._acts_step and self._acts_future is None:
            self._acts_step = step
            self._acts_future = self.worker.submit(
                lambda trainer: activation_stats(trainer.model, activation_batch(trainer, ACTIVATION_BATCH)))
        self.diagnosis = diagnose(self.history, activations=self.activations, baseline=self.baseline,
                                  ablation=self.ablation, recurrent=self._recurrent(),
                                  presets=sorted(self._available_presets))
        self._show_diagnosis(self.diagnosis)
        if len(self.update_plot.curves) != self.history.n_layers:
            self.update_plot.set_layers(list(self.history.latest.layer_names))
        self.update_plot.update_from(self.history)

    def _recurrent(self) -> bool:
        return self.config is not None and self.config.recurrent

    def _collect_activations(self) -> None:
        f = self._acts_future
        if f is None or not f.done():
            return
        self._acts_future = None
        if f.cancelled() or f.exception() is not None:
            return
        self.activations = f.result()
        self.heat.show_stats(self.activations)
        self.spread_heat.show_stats(self.activations)
        from ..core.diagnose.thresholds import SIGMOID_HIGH, SIGMOID_LOW, TANH_LIMIT

        a = self.activations
        if a is not None:
            kinds = sorted({layer.activation for layer in a.layers})
            self.heat_caption.setText(
                f"{len(a.layers)} activation layers ({', '.join(kinds)}), {a.n_examples} training examples, step "
                f"{self._acts_step}. Saturated: σ < {SIGMOID_LOW:g} or > {SIGMOID_HIGH:g}, |tanh| > {TANH_LIMIT:g}; "
                "off: ReLU output 0. Hover a cell for its numbers.")

    def _show_diagnosis(self, d) -> None:
        self.verdict_label.setText(verdict_html(d, self._available_presets))
        for row, f in enumerate(d.findings):
            color = QtGui.QColor(STATUS_COLORS.get(f.status, "#d8dbe2"))
            cells = [SHORT_TITLES.get(f.key, f.title), f.label, f.short, f.rule]
            for col, text in enumerate(cells):
                item = self.table.item(row, col)
                if item is None:
                    item = QtWidgets.QTableWidgetItem()
                    self.table.setItem(row, col, item)
                item.setText(text)
                item.setToolTip(f"{f.title}: {f.label}\n{f.summary}\nthreshold: {f.rule}")
                if col == 1:
                    item.setForeground(color)
                    font = item.font()
                    font.setBold(f.status == "bad")
                    item.setFont(font)
        self.table.resizeRowsToContents()
        rows = range(self.table.rowCount())
        height = self.table.horizontalHeader().height() + sum(self.table.rowHeight(r) for r in rows) + 4
        self.table.setFixedHeight(height)
        self._show_selected_detail()

    def _show_selected_detail(self) -> None:
        d = self.diagnosis
        if d is None:
            return
        rows = {i.row() for i in self.table.selectedIndexes()}
        row = min(rows) if rows else 0
        f = d.findings[row]
        self.detail_label.setText(f"<b>{html.escape(f.title)}</b>: {html.escape(f.summary)}")

    def _on_link(self, href: str) -> None:
        if href.startswith("preset:"):
            self.preset_requested.emit(href.split(":", 1)[1])

    # -- ablation ----------------------------------------------------------------------------
    def run_ablation(self) -> None:
        """Re-initialise the first k layers of a copy, in the training thread (between steps)."""
        if self.worker is None and self.history is not None:
            self.ablation_label.setText("the ablation needs the model: this file holds no weights of a built-in "
                                        "model (Reset trains its config)")
        if self.worker is None or self._ablation_future is not None:
            return
        from ..core.diagnose.experiments import activation_batch
        from ..core.diagnose.measures import ablate

        k, mode = self.ablate_k.value(), self.ablate_mode.currentData()

        def job(trainer):
            import torch

            x, y = activation_batch(trainer), torch.from_numpy(trainer.data.y_train)
            return ablate(trainer.model, k, x, y, initial_state=trainer.initial_state, mode=mode,
                          seed=trainer.config.seed + 1)  # not the build seed: a new draw

        self._ablation_future = self.worker.submit(job)
        self.ablation_label.setText(f"measuring: first {k} layer{'s' if k > 1 else ''} re-initialised on a copy …")
        self.ablate_button.setEnabled(False)
        self.poll_timer.start()

    # -- shallower counterpart -------------------------------------------------------------------
    def train_shallower(self) -> None:
        if self.config is None or self.history is None or self._counterpart is not None:
            return
        from ..core.diagnose.experiments import shallower_depth
        from .worker import TrainingWorker

        depth = shallower_depth(self.config.depth)
        steps = max(int(self.history.latest.step) + 1, 200)
        config = self.config.replace(depth=depth, steps=steps)
        worker = TrainingWorker(config, full_period_s=0.0)
        self._counterpart = (worker, None, f"depth {depth}", steps)
        worker.start()
        worker.start_training()
        self.shallower_button.setEnabled(False)
        self.shallower_label.setText(f"training depth {depth} for {steps:,} steps …")
        self.poll_timer.start()

    def _stop_counterpart(self) -> None:
        if self._counterpart is None:
            return
        worker = self._counterpart[0]
        self._counterpart = None
        worker.request_stop()  # never waits: worker.py holds the thread until it has ended

    def _poll_jobs(self) -> None:
        busy = False
        f = self._ablation_future
        if f is not None:
            if f.done():
                self._ablation_future = None
                self.ablate_button.setEnabled(self.worker is not None)
                if f.cancelled():
                    self.ablation_label.setText("the run ended before the ablation could be measured")
                elif f.exception() is not None:
                    self.ablation_label.setText(f"ablation failed: {f.exception()}")
                else:
                    self.ablation = f.result()
                    a = self.ablation
                    self.ablation_label.setText(
                        f"first {a.k}: accuracy on the {a.n_examples:,} training examples {a.accuracy_before:.1%} "
                        f"→ {a.accuracy_after:.1%} (drop {a.drop * 100:+.1f} points)")
                    self.refresh(force=True)
            else:
                busy = True
        if self._counterpart is not None:
            worker, history, label, steps = self._counterpart
            for stats in worker.drain():
                history = history or History(stats.n_layers)
                history.append(stats)
            self._counterpart = (worker, history, label, steps)
            latest = history.latest if history is not None else None
            done = latest is not None and (latest.step >= steps - 1 or latest.diverged)
            if latest is not None:
                self.shallower_label.setText(f"{label}: {step_label(latest)} of {steps:,}")
            if done:
                from ..core.diagnose.measures import summarize

                self.baseline = summarize(history, label)
                self.shallower_label.setText(f"{label}: training loss {self.baseline.train_loss:.3g}, "
                                             f"training-batch accuracy {self.baseline.train_accuracy:.0%} "
                                             f"after {steps:,} steps")
                self._stop_counterpart()
                self.shallower_button.setEnabled(True)
                self.refresh(force=True)
            elif worker.isFinished():
                self.shallower_label.setText("the shallower run could not finish")
                self._stop_counterpart()
                self.shallower_button.setEnabled(True)
            else:
                busy = True
        if not busy:
            self.poll_timer.stop()

    def closeEvent(self, event: QtGui.QCloseEvent) -> None:
        self.detach()
        super().closeEvent(event)


COMPARE_COLUMNS = 2


class DiagnosticsDock(QtWidgets.QDockWidget):
    """The diagnostics panel's dock (hidden until asked for) and the Diagnose menu."""

    def __init__(self, parent: QtWidgets.QMainWindow):
        super().__init__("Diagnostics", parent)
        self.setObjectName("diagnostics_dock")
        self.panel = DiagnosticsPanel()
        # scrolls rather than grows: with the decision boundary beside it, the window still
        # fits a 1280×720 projector in the lecture theme's large fonts
        scroll = QtWidgets.QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QtWidgets.QFrame.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(QtCore.Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setWidget(self.panel)
        scroll.setMinimumWidth(MIN_WIDTH + scroll.verticalScrollBar().sizeHint().width())   # never cut sideways
        self.setWidget(scroll)
        parent.addDockWidget(QtCore.Qt.DockWidgetArea.RightDockWidgetArea, self)
        self.hide()
        self.visibilityChanged.connect(lambda visible: visible and self.panel.refresh())

    def add_menu(self, window: QtWidgets.QMainWindow, open_compare) -> QtWidgets.QMenu:
        """Diagnose ▸ Diagnostics panel (Ctrl+D), Compare with a variant… (Ctrl+K: ``open_compare(None)``)."""
        menu = window.menuBar().addMenu("&Diagnose")
        toggle = self.toggleViewAction()
        toggle.setText("Diagnostics panel")
        toggle.setShortcut(QtGui.QKeySequence("Ctrl+D"))
        menu.addAction(toggle)
        window.addAction(toggle)
        compare = QtGui.QAction("Compare with a variant…", window)
        compare.setShortcut(QtGui.QKeySequence("Ctrl+K"))
        compare.triggered.connect(lambda: open_compare(None))
        menu.addAction(compare)
        window.addAction(compare)
        return menu
