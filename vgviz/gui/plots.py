"""pyqtgraph panels: loss, per-layer gradient norm over steps, gradient-flow bars."""
from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtGui, QtWidgets

from ..core.measure.history import History
from ..core.measure.stats import StepStats

pg.setConfigOptions(background=(30, 30, 34), foreground=(215, 215, 220), antialias=False)

TINY = 1e-30         # log axes cannot show 0; an exactly-zero gradient is drawn at the floor
SMOOTH_POINTS = 600
TEST_POINTS = 100    # at most this many test-set evaluations are drawn (evenly spread, the last included)
TEST_MARKERS = 20    # up to this many, each is marked with a dot


class Log10Axis(pg.AxisItem):
    """Left axis for data already in log10: ticks read 1e-6, 1e-4 …"""

    def tickStrings(self, values, scale, spacing):
        return [f"1e{int(round(v))}" if abs(v - round(v)) < 1e-6 else "" for v in values]

    def tickValues(self, minVal, maxVal, size):
        lo, hi = math.floor(minVal), math.ceil(maxVal)
        step = max(1, math.ceil((hi - lo) / 8))
        return [(step, list(range(lo, hi + 1, step)))]


class StepAxis(pg.AxisItem):
    """Bottom axis of whole numbers (training steps, layer numbers): ticks only at whole
    values, and 1k, 20k, 1.5M keep the labels short in a narrow plot."""

    def __init__(self, orientation: str, widest: str = "0000", **kw):
        super().__init__(orientation, **kw)
        self._widest = widest + "  "  # the widest label expected, and room between labels

    def tickStrings(self, values, scale, spacing):
        return [_short_count(v * scale) for v in values]

    def tickSpacing(self, minVal, maxVal, size):
        # steps are whole: no ticks between them, even when a run has taken only one; and a
        # labelled tick every ~4 characters at least, or "0 200400600800" runs together
        levels = [(s, o) for s, o in super().tickSpacing(minVal, maxVal, size) if s >= 1]
        if not levels:
            return [(1.0, 0.0)]
        span = abs(maxVal - minVal)
        major = levels[0][0]
        if span > 0 and size > 0:
            font = self.style.get("tickFont") or QtGui.QFont()
            min_px = QtGui.QFontMetricsF(font).horizontalAdvance(self._widest)
            px_per_step = size / span
            major = next((major * m for m in (1, 2, 5, 10, 20, 50, 100) if major * m * px_per_step >= min_px),
                         major * 100)
        return [(major, 0.0)]


def short_layer_name(name: str) -> str:
    """hidden3 → h3, output → out: layer names for axes and legends."""
    return name.replace("hidden", "h").replace("output", "out")


def _short_count(v: float) -> str:
    for unit, suffix in ((1e6, "M"), (1e3, "k")):
        if abs(v) >= unit:
            return f"{v / unit:.3g}{suffix}"
    return f"{v:.4g}"


def smooth(values: np.ndarray, window: int, every: int = 1) -> np.ndarray:
    """Trailing moving average (NaN-tolerant) so a noisy per-batch curve shows its trend;
    along axis 0, so the columns of an (n, L) array are smoothed in one pass. Only rows
    0, every, 2·every, … are returned (and computed: the plots draw ~SMOOTH_POINTS)."""
    if window <= 1 or len(values) < 2:
        return values[::every]
    ok = np.isfinite(values)
    zero = np.zeros((1, *values.shape[1:]))
    csum = np.concatenate([zero, np.cumsum(np.where(ok, values, 0.0), axis=0)])
    ccount = np.concatenate([zero, np.cumsum(ok, axis=0)])
    idx = np.arange(1, len(values) + 1)[::every]
    start = np.maximum(idx - window, 0)
    count = ccount[idx] - ccount[start]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, (csum[idx] - csum[start]) / count, np.nan)


def _fit_title(titles: tuple[str, ...], metrics: QtGui.QFontMetricsF, width: float, elide: bool = True) -> str:
    """The first of the titles (longest first) that fits the width, else the last with an
    ellipsis (or, with ``elide`` False, nothing: a plot's tooltip names an axis no title fits)."""
    for text in titles:
        if metrics.horizontalAdvance(text) <= width:
            return text
    return metrics.elidedText(titles[-1], QtCore.Qt.TextElideMode.ElideRight, width) if elide else ""


PLOT_MIN_HEIGHT = 125


def _plot(title: str, left: str, bottom: str, shorter: tuple[str, ...] = (), shorter_left: tuple[str, ...] = (),
          shorter_bottom: tuple[str, ...] = (), **kw) -> pg.PlotWidget:
    """A side plot; `shorter`, `shorter_left`, `shorter_bottom`: titles and axis titles for a plot
    too small for them (lecture fonts, small screens), longest first."""
    w = pg.PlotWidget(**kw)
    w.setTitle(title, size="10pt")
    # the title spans the axes' columns too, not only the plot area's: a narrow plot keeps
    # its whole title (pyqtgraph puts it over the plot area alone)
    layout = w.plotItem.layout
    layout.removeItem(w.plotItem.titleLabel)
    layout.addItem(w.plotItem.titleLabel, 0, 0, 1, 3)
    w.setLabel("left", left)
    w.setLabel("bottom", bottom)
    # re-set with a theme's colours and sizes
    w.texts = {"title": title, "shorter": (title, *shorter), "left": left, "bottom": bottom,
               "left_shorter": (left, *shorter_left), "bottom_shorter": (bottom, *shorter_bottom)}
    w.showGrid(x=True, y=True, alpha=0.2)
    w.setMenuEnabled(False)
    w.setMinimumSize(100, 120)   # four side by side, the panel and a dock fit a 1024-wide projector
    w.getAxis("left").enableAutoSIPrefix(False)
    w.getAxis("bottom").enableAutoSIPrefix(False)
    return w


class TrainingPlots(QtWidgets.QWidget):
    """Three plots side by side; `update_from(history)` redraws them from the history."""

    def __init__(self, parent: QtWidgets.QWidget | None = None):
        super().__init__(parent)
        self.loss_plot = _plot("Loss", "cross-entropy", "step", shorter_left=("loss",), axisItems={"bottom": StepAxis("bottom")})
        self.legend = self.loss_plot.addLegend(offset=(-10, 10))
        self._raw_curve = self.loss_plot.plot(name="batch", pen=pg.mkPen((200, 200, 210, 70), width=1))
        self._train_curve = self.loss_plot.plot(name="smoothed", pen=pg.mkPen("#e0e0e0", width=2))
        self._test_curve = self.loss_plot.plot(name="test", pen=pg.mkPen("#ff9f43", width=1), symbol="o",
                                               symbolSize=5, symbolBrush="#ff9f43", symbolPen=None)
        self.loss_plot.setToolTip("Faint: training loss of every step's batch; bright: its moving average\n"
                                  "over 1/100 of the steps shown; orange: test-set loss (dots while there are few).")

        self.norm_plot = _plot("Gradient norms", "‖dL/dW‖", "step", shorter=("Grad. norms", "Norms"),
                               shorter_left=("‖∇W‖",),
                               axisItems={"left": Log10Axis("left"), "bottom": StepAxis("bottom")})
        self.norm_plot.setToolTip("‖dL/dW‖ of every Linear layer over training (log scale), as a moving\n"
                                  "average over 1/100 of the steps shown (in log space).\n"
                                  "Curve colours match the layer labels in the diagram. With clipping on:\n"
                                  "dashed = global norm before clipping, red marks = steps where it fired.\n"
                                  "Click a layer's line in the legend to show it alone; click again for all.")
        self.norm_legend = self.norm_plot.addLegend(offset=(-10, 10), colCount=3)
        self.norm_legend.sigSampleClicked.connect(self._on_layer_clicked)
        self._norm_curves: list[pg.PlotDataItem] = []
        self.singled_out: int | None = None     # the one layer shown, or None for all
        # the global norm before clipping, and red ticks where clipping fired
        self._total_curve = self.norm_plot.plot(pen=pg.mkPen((235, 235, 235, 160), width=1.2,
                                                             style=QtCore.Qt.PenStyle.DashLine))
        self._clip_marks = self.norm_plot.plot(pen=None, symbol="t", symbolSize=5,
                                               symbolBrush="#ff5c5c", symbolPen=None)

        self.flow_plot = _plot("Gradient flow", "mean |dL/dW|", "layer", shorter=("Grad. flow", "Flow"),
                               shorter_left=("|dL/dW|", "|∇W|"),
                               axisItems={"left": Log10Axis("left")})
        self.flow_plot.setToolTip("Mean |dL/dW| of each layer at the latest step (log scale).\n"
                                  "Short bars on the left are the vanishing gradient.")
        self._bars: pg.BarGraphItem | None = None

        self.signal_plot = _plot("Forward signal", "std of activations", "hidden layer",
                                 shorter=("Fwd. signal", "Signal"), shorter_left=("std of act.", "std"),
                                 shorter_bottom=("layer",),
                                 axisItems={"left": Log10Axis("left"), "bottom": StepAxis("bottom", widest="00")})
        self.signal_plot.setToolTip("Standard deviation of each hidden layer's activations at the latest step\n"
                                    "(log scale). Xavier and He init are designed to keep it flat across depth.")
        self._signal_curve = self.signal_plot.plot(pen=pg.mkPen("#8fd3ff", width=2), symbol="o", symbolSize=6,
                                                   symbolBrush="#8fd3ff", symbolPen=None)

        self._title_style: tuple[str | None, float] = (None, 10.0)    # colour, point size
        self._flow_pad = 0.4                     # x room right of the last bar's centre
        for p in (self.loss_plot, self.norm_plot, self.flow_plot, self.signal_plot):
            p.getViewBox().sigResized.connect(self._fit_to_size)
            p.installEventFilter(self)          # a narrower widget: the title may need shortening
        for p in (self.loss_plot, self.norm_plot):
            p.setClipToView(True)
            p.setDownsampling(auto=True, mode="peak")

        layout = QtWidgets.QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        for p in (self.loss_plot, self.norm_plot, self.flow_plot, self.signal_plot):
            layout.addWidget(p)
            # a pan or zoom by the user repaints at once, also while live (set_live)
            p.getViewBox().sigRangeChangedManually.connect(p.viewport().update)
        self._live = False
        self._names: list[str] = []
        self._colors: list[QtGui.QColor] = []
        self._curve_width = 1.0  # one curve per layer: 1 px pens paint ~3x faster than 1.5 px

    def eventFilter(self, obj, event) -> bool:
        if event.type() == QtCore.QEvent.Type.Resize:
            self._fit_to_size()
        return False

    def _fit_to_size(self, *_) -> None:
        """Narrow plots and large fonts: shorten a title that is wider than its plot (a
        wide title pushes the plot out of its widget), label every k-th layer so the names
        never run together, and hide the legend when it would cover most of the loss plot."""
        color, size = self._title_style
        font = QtGui.QFont(self.font())
        font.setPointSizeF(size)
        fm = QtGui.QFontMetricsF(font)
        label_size = size / 1.1
        label_font = QtGui.QFont(font)
        label_font.setPointSizeF(label_size)
        label_fm = QtGui.QFontMetricsF(label_font)
        for w in self.plot_widgets.values():
            # the title spans the plot's width (see _plot)
            avail = max(w.width() - 10, 40)
            text = _fit_title(w.texts["shorter"], fm, avail)
            if text != w.plotItem.titleLabel.text:
                w.setTitle(text, color=color, size=f"{size:.1f}pt")
            # axis titles likewise: the left one along the plot area's height; the bottom one is
            # centred under the plot area and may reach as far to the left as the widget's edge on the right
            box = w.getViewBox()
            right_margin = max(0.0, w.width() - box.mapRectToScene(box.boundingRect()).right())
            for side, length in (("left", box.height()), ("bottom", box.width() + 2 * right_margin)):
                if length <= 0:
                    continue
                text = _fit_title(w.texts[f"{side}_shorter"], label_fm, length - 8, elide=False)   # its padding
                if text != w.getAxis(side).labelText:
                    w.setLabel(side, text, color=color, **{"font-size": f"{label_size:.1f}pt"})
        names = self._names
        if names:
            axis = self.flow_plot.getAxis("bottom")
            labels = [short_layer_name(n) for n in names]
            fm = QtGui.QFontMetricsF(axis.style["tickFont"] or self.flow_plot.font())
            need = max(fm.horizontalAdvance(t) for t in labels) + fm.horizontalAdvance("  ")
            width = self.flow_plot.getViewBox().width()
            fit = max(1, int(width // need)) if width > 0 else 12
            step = max(1, math.ceil(len(labels) / min(fit, 12)))
            ticks = [(i, t) for i, t in enumerate(labels)]
            # count from the output so the last layer is always named
            axis.setTicks([ticks[::-1][::step][::-1]])
            # room right of the last bar for half its name (pyqtgraph hides a label crossing the edge)
            n = len(labels)
            unit = width / (n + 0.2) if width > 0 else 50.0
            pad = max(0.4, (fm.horizontalAdvance(labels[-1]) / 2 + 3) / max(unit, 1e-6))
            if abs(pad - self._flow_pad) > 0.02:
                self._flow_pad = min(pad, 2.0)
                self.flow_plot.setXRange(-0.6, n - 1 + self._flow_pad, padding=0)
        for legend, plot, share in ((self.legend, self.loss_plot, 0.6), (self.norm_legend, self.norm_plot, 0.9)):
            box = plot.getViewBox()
            rect = legend.boundingRect()
            legend.setVisible(rect.width() < share * box.width() and rect.height() < 0.7 * box.height())

    @property
    def plot_widgets(self) -> dict[str, pg.PlotWidget]:
        """The plots by view name (the names `vgviz render --view` uses)."""
        return {"loss": self.loss_plot, "grad-norms": self.norm_plot, "grad-flow": self.flow_plot,
                "forward-signal": self.signal_plot}

    def set_theme(self, theme, font: QtGui.QFont | None = None) -> None:
        """Colours, font sizes and line widths of a vgviz.gui.theme.Theme."""
        font = QtGui.QFont(font if font is not None else self.font())
        size = font.pointSizeF() if font.pointSizeF() > 0 else font.pixelSize() * 0.75
        fg = QtGui.QColor(theme.plot_foreground)
        tick_font = QtGui.QFont(font)
        for w in self.plot_widgets.values():
            w.setBackground(QtGui.QColor(theme.plot_background))
            # tall enough for the left axis title in the theme's font (the lecture theme's is larger)
            w.setMinimumHeight(round(PLOT_MIN_HEIGHT * theme.font_scale))
            w.setTitle(w.texts["title"], color=fg.name(), size=f"{size * 1.1:.1f}pt")
        self._title_style = (fg.name(), size * 1.1)
        for w in self.plot_widgets.values():
            for side in ("left", "bottom"):
                axis = w.getAxis(side)
                axis.setPen(fg)
                axis.setTextPen(fg)
                # large fonts in a narrow plot: drop a tick label rather than print two over each other
                # (the layer names are thinned to the width by _fit_to_size instead)
                axis.setStyle(tickFont=tick_font, hideOverlappingLabels=30 if (w is self.flow_plot and side == "bottom")
                              else True)
                w.setLabel(side, w.texts[side], color=fg.name(), **{"font-size": f"{size:.1f}pt"})
            w.showGrid(x=True, y=True, alpha=theme.grid_alpha)
        self._raw_curve.setPen(pg.mkPen(theme.raw_loss, width=max(1.0, theme.curve_width / 2)))
        self._train_curve.setPen(pg.mkPen(theme.smooth_loss, width=theme.curve_width + 0.5))
        self._test_curve.setSymbolBrush(theme.test_loss)
        self._signal_curve.setPen(pg.mkPen(theme.signal, width=theme.curve_width + 1))
        self._signal_curve.setSymbolBrush(theme.signal)
        self._test_curve.setSymbolSize(round(3 + 1.5 * theme.curve_width))
        self._test_curve.setPen(pg.mkPen(theme.test_loss, width=theme.curve_width))
        legend_bg = QtGui.QColor(theme.plot_background)
        legend_bg.setAlpha(215)
        for legend in (self.legend, self.norm_legend):
            legend.setBrush(legend_bg)                  # curves pass under the legend: keep it readable
            legend.setLabelTextColor(fg)
            legend.setLabelTextSize(f"{size:.1f}pt")
            for _, label in legend.items:               # labels drawn before keep their colour until re-set
                label.setText(label.text)
        self._fit_to_size()
        self._curve_width = theme.curve_width
        self.set_layer_colors(self._colors)

    def set_layer_colors(self, colors: list[QtGui.QColor]) -> None:
        """Re-colour the per-layer curves and bars, keeping their data."""
        self._colors = list(colors)
        for curve, col in zip(self._norm_curves, self._colors):
            curve.setPen(pg.mkPen(col, width=self._curve_width))
        if self._bars is not None and self._colors:
            self._bars.setOpts(brushes=self._colors)

    def set_layers(self, names: list[str], colors: list[QtGui.QColor]) -> None:
        """One gradient-norm curve and bar per Linear layer, in the diagram's colours."""
        self._names, self._colors = list(names), list(colors)
        for c in self._norm_curves:
            self.norm_plot.removeItem(c)
        # short names (h1 … out) keep the legend small enough to leave the curves visible
        self._norm_curves = [self.norm_plot.plot(pen=pg.mkPen(col, width=self._curve_width), name=short_layer_name(name))
                             for name, col in zip(names, colors)]
        self.singled_out = None
        if self._bars is not None:
            self.flow_plot.removeItem(self._bars)
            self._bars = None
        self._fit_to_size()
        self.clear()

    def single_out_layer(self, layer: int | None) -> None:
        """Show only layer ``layer``'s gradient-norm curve (None: every layer's)."""
        self.singled_out = layer
        for i, curve in enumerate(self._norm_curves):
            curve.setVisible(layer is None or i == layer)
        for sample, _ in self.norm_legend.items:
            sample.update()

    def _on_layer_clicked(self, curve) -> None:
        # the legend has just toggled the curve's visibility; a click singles a layer out instead
        layer = self._norm_curves.index(curve)
        self.single_out_layer(None if self.singled_out == layer else layer)

    def clear(self) -> None:
        self._raw_curve.setData([], [])
        self._train_curve.setData([], [])
        self._test_curve.setData([], [])
        for c in self._norm_curves:
            c.setData([], [])
        for c in (self._total_curve, self._clip_marks, self._signal_curve):
            c.setData([], [])
        if self._bars is not None:
            self.flow_plot.removeItem(self._bars)
            self._bars = None

    def set_live(self, on: bool) -> None:
        """While training: one repaint per update_from. pyqtgraph repaints each plot twice
        per new data — the first paint fits the auto range, which changes the clipped and
        downsampled curves, which asks for a second paint of the same picture — and every
        paint holds the GIL the trainer needs. The data never changes between updates while
        live, so the plots repaint only when update_from asks (and on a pan or zoom)."""
        self._live = bool(on)
        mode = (QtWidgets.QGraphicsView.ViewportUpdateMode.NoViewportUpdate if on
                else QtWidgets.QGraphicsView.ViewportUpdateMode.MinimalViewportUpdate)
        for w in self.plot_widgets.values():
            w.setViewportUpdateMode(mode)
            w.viewport().update()

    def update_from(self, history: History) -> None:
        if self._live:
            for w in self.plot_widgets.values():
                w.viewport().update()
        steps = history.steps
        if len(steps) == 0:
            return
        window = len(steps) // 100
        # the smoothed curves average ~1/100 of the run per point: ~SMOOTH_POINTS points show all
        # of it, and drawing fewer points is painting time the trainer gets back (the GIL)
        every = max(1, len(steps) // SMOOTH_POINTS)
        loss = _finite(history.loss)
        self._raw_curve.setData(steps, loss)
        self._train_curve.setData(steps[::every], smooth(loss, window, every))
        test = history.test
        if len(test) > TEST_POINTS:  # markers cost ~15 µs each to set: a subset of the evaluations
            test = test[np.linspace(0, len(test) - 1, TEST_POINTS).round().astype(np.intp)]
        # a few evaluations are dots on a line; many would be a band of dots hiding the training curve
        marked = len(test) <= TEST_MARKERS
        if marked != (self._test_curve.opts["symbol"] is not None):
            self._test_curve.setSymbol("o" if marked else None)
        self._test_curve.setData(test[:, 0], _finite(test[:, 1]))
        log_norms = smooth(np.log10(np.maximum(_finite(history.grad_l2), TINY)), window, every)
        for i, curve in enumerate(self._norm_curves):
            curve.setData(steps[::every], log_norms[:, i])
        clipped = history.clipped
        if clipped.any():
            log_total = np.log10(np.maximum(_finite(history.grad_norm_total), TINY))
            self._total_curve.setData(steps, log_total)
            self._clip_marks.setData(steps[clipped], log_total[clipped])
        if history.latest is not None:
            self.show_flow(history.latest)
            self.show_signal(history.latest)

    def show_flow(self, stats: StepStats) -> None:
        values = np.log10(np.maximum(_finite(stats.grad_mean_abs), TINY))
        if not np.isfinite(values).any():
            return
        floor = math.floor(np.nanmin(values)) - 1
        heights = np.nan_to_num(values - floor, nan=0.0)
        x = np.arange(len(values))
        brushes = self._colors or None
        if self._bars is None:
            self._bars = pg.BarGraphItem(x=x, height=heights, y0=floor, width=0.8, brushes=brushes, pen=None)
            self.flow_plot.addItem(self._bars)
        else:
            self._bars.setOpts(x=x, height=heights, y0=floor, brushes=brushes)
        self.flow_plot.setYRange(floor, max(floor + 1, math.ceil(np.nanmax(values))), padding=0.02)
        self.flow_plot.setXRange(-0.6, len(values) - 1 + self._flow_pad, padding=0)


    def show_signal(self, stats: StepStats) -> None:
        std = stats.activation_std
        if std is None or not len(std):
            self._signal_curve.setData([], [])
            return
        values = np.log10(np.maximum(_finite(std), TINY))
        self._signal_curve.setData(np.arange(1, len(values) + 1), values)
        self.signal_plot.setXRange(0.5, len(values) + 0.5, padding=0)  # one layer sits in the middle
        finite = values[np.isfinite(values)]
        if len(finite):
            self.signal_plot.setYRange(math.floor(finite.min()) - 0.2, math.ceil(finite.max()) + 0.2, padding=0)


def style_plot(w: pg.PlotWidget, theme, font: QtGui.QFont | None = None) -> None:
    """A vgviz.gui.theme.Theme's background, text colour and sizes, and grid on any plot
    of the app's side views (decision boundary, time steps, comparison, diagnostics)."""
    bg, fg = QtGui.QColor(theme.plot_background), QtGui.QColor(theme.plot_foreground)
    size = 10.0 * theme.font_scale
    w.setBackground(bg)
    item = w.getPlotItem()
    if item.titleLabel.text:
        w.setTitle(item.titleLabel.text, color=fg.name(), size=f"{size:.1f}pt")
    for side in ("left", "bottom"):
        axis = w.getAxis(side)
        axis.setPen(fg)
        axis.setTextPen(fg)
        if font is not None:
            axis.setStyle(tickFont=font)
        if axis.labelText:
            w.setLabel(side, axis.labelText, color=fg.name(), **{"font-size": f"{0.9 * size:.1f}pt"})
    w.showGrid(x=True, y=True, alpha=theme.grid_alpha)
    legend = item.legend
    if legend is not None:
        legend_bg = QtGui.QColor(bg)
        legend_bg.setAlpha(215)
        legend.setBrush(legend_bg)
        legend.setLabelTextColor(fg)
        for _, label in legend.items:      # a label drawn before keeps its colour until re-set
            label.setText(label.text)


def _finite(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    return np.where(np.isfinite(a), a, np.nan)
