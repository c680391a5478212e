"""TimestepPlot: ‖∂L/∂h_t‖ against the time step t, log y: the decay with distance from the loss.

Two curves: the latest step (bright) and the first step of the run (faint, dashed),
so training's effect on the gradient's reach shows. The title states the ratio
‖∂L/∂h_1‖ / ‖∂L/∂h_T‖ and the average factor per step back. A step whose
gradient is exactly 0 (float underflow, or a saturated tanh) cannot sit on a log
axis: it is marked on the plot's floor with a red cross, with a key in the legend.
"""
from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtGui, QtWidgets

from vgviz.core.layout import unrolled_columns
from vgviz.core.measure.stats import StepStats
from vgviz.core.measure.steps import step_label, step_text

from .live_text import LiveText
from .plots import Log10Axis

NOW = QtGui.QColor("#ffff00")      # the dark heat map's top: a strong gradient in the unrolled view (set_theme follows the map)
START = QtGui.QColor(170, 170, 185)


class TimestepPlot(QtWidgets.QWidget):
    """``show_stats(stats)`` draws stats.timestep_grad; the first stats after ``reset`` are kept
    as the run's start."""

    def __init__(self, parent: QtWidgets.QWidget | None = None):
        super().__init__(parent)
        self.plot = pg.PlotWidget(axisItems={"left": Log10Axis("left")})
        self.plot.setLabel("left", "‖∂L/∂h_t‖")
        self.plot.setLabel("bottom", "time step t  (the loss reads h_T, at the right)")
        self.plot.showGrid(x=True, y=True, alpha=0.2)
        self.plot.setMenuEnabled(False)
        self.plot.setMinimumSize(220, 150)
        self.plot.getAxis("bottom").enableAutoSIPrefix(False)
        self.plot.addLegend(offset=(-10, -10), brush=(30, 30, 34, 210))   # bottom right: empty for a decaying and a flat curve
        self._start_curve = self.plot.plot(name="step 0", pen=pg.mkPen(START, width=1.5,
                                                                     style=QtCore.Qt.PenStyle.DashLine))
        self._now_curve = self.plot.plot(name="now", pen=pg.mkPen(NOW, width=2.5))
        self._zeros = pg.ScatterPlotItem(symbol="x", size=9, pen=pg.mkPen("#ff3b30", width=2), brush=None)
        self.plot.addItem(self._zeros)
        self.plot.setToolTip("‖∂L/∂h_t‖: how much gradient of the loss reaches the hidden state at step t\n"
                             "(log scale). Bright: the latest training step; dashed: the run's first step.\n"
                             "A straight falling line is a constant factor lost per step back: the\n"
                             "vanishing gradient through time. Red crosses: exactly 0 (float underflow\n"
                             "or a saturated tanh).")
        # the numbers in words, above the plot (a long plot title would widen the plot beyond its panel)
        self.summary = LiveText()  # changes every frame: a QLabel would re-lay out the panel each time
        self.summary.set_color("#d8dbe2")
        self._title_kw = {"size": "10pt"}
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.summary)
        layout.addWidget(self.plot, 1)
        self.reset()

    def reset(self) -> None:
        self._start: np.ndarray | None = None
        self._start_step = 0
        self._latest: StepStats | None = None
        self._start_curve.setData([], [])
        self._now_curve.setData([], [])
        self._zeros.setData([], [])
        self._set_legend("step 0", "now")
        self._show_zero_key(False)
        self.plot.setTitle("‖∂L/∂h_t‖ over time steps", **self._title_kw)
        self.summary.setText("‖∂L/∂h_t‖: the gradient of the loss with respect to the hidden state at each step t.")

    def show_stats(self, stats: StepStats | None) -> None:
        if stats is None or stats.timestep_grad is None or stats is self._latest:
            return
        values = np.asarray(stats.timestep_grad, dtype=np.float64)
        if self._start is None or len(self._start) != len(values):
            self._start, self._start_step = values.copy(), stats.step  # the weights' step: as the colour range
        self._latest = stats
        t = np.arange(1, len(values) + 1)
        start_log, now_log = _log(self._start), _log(values)
        self._start_curve.setData(t, start_log, connect="finite")
        self._now_curve.setData(t, now_log, connect="finite")
        self._set_legend(step_text(self._start_step), f"now ({step_label(stats)})")
        finite = np.concatenate([start_log[np.isfinite(start_log)], now_log[np.isfinite(now_log)]])
        if len(finite):
            lo, hi = math.floor(finite.min()), math.ceil(finite.max())
            lo = min(lo, hi - unrolled_columns.MIN_DECADES)   # as the unrolled view's colours: runs compare
            self.plot.setYRange(lo - 0.3, hi + 0.3, padding=0)
            zero_t = t[values == 0]
            self._zeros.setData(zero_t, np.full(len(zero_t), lo - 0.1))
            self._show_zero_key(len(zero_t) > 0)
        self.plot.setXRange(0.5, len(values) + 0.5, padding=0.01)
        self.plot.setTitle(f"‖∂L/∂h_t‖ over time steps · {step_label(stats)}", **self._title_kw)
        summary = unrolled_columns.decay_summary(values)
        self.summary.setText(f"{step_label(stats).capitalize()}: {summary}." if summary else f"{step_label(stats).capitalize()}.")

    def set_theme(self, theme, strong: QtGui.QColor) -> None:
        """A vgviz.gui.theme.Theme's background, text and line widths; ``strong`` draws the
        latest curve (the unrolled view's colour for a strong gradient)."""
        from .plots import style_plot

        style_plot(self.plot, theme)
        fg = QtGui.QColor(theme.plot_foreground)
        self._title_kw = {"color": fg.name(), "size": f"{10 * theme.font_scale:.1f}pt"}
        self.summary.set_color(fg)
        width = theme.curve_width                      # 1 (dark) … 3 (lecture)
        self._start_curve.setPen(pg.mkPen(theme.key_text, width=0.5 + width, style=QtCore.Qt.PenStyle.DashLine))
        self._now_curve.setPen(pg.mkPen(strong, width=1.5 + width))

    def _show_zero_key(self, show: bool) -> None:
        legend = self.plot.getPlotItem().legend
        listed = any(sample.item is self._zeros for sample, _ in getattr(legend, "items", []))
        if show and not listed:
            legend.addItem(self._zeros, "exactly 0")
        elif not show and listed:
            legend.removeItem(self._zeros)

    def _set_legend(self, start: str, now: str) -> None:
        legend = self.plot.getPlotItem().legend
        for sample, label in getattr(legend, "items", []):
            text = start if sample.item is self._start_curve else now if sample.item is self._now_curve else None
            if text is not None and label.text != text:
                label.setText(text)

    def curves(self) -> tuple[np.ndarray | None, np.ndarray | None]:
        """(x, log10 y) of the latest curve, for tests and exports."""
        return self._now_curve.getData()


def _log(values: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.log10(values)
    out[~np.isfinite(out)] = np.nan
    return out


class RecurrentPanel(QtWidgets.QSplitter):
    """The unrolled view above its ‖∂L/∂h_t‖ plot: what the app shows in place of the
    network diagram while a recurrent model runs."""

    def __init__(self, parent: QtWidgets.QWidget | None = None):
        super().__init__(QtCore.Qt.Orientation.Vertical, parent)
        from .unrolled_view import UnrolledView

        self.unrolled = UnrolledView()
        self.timesteps = TimestepPlot()
        self.addWidget(self.unrolled)
        self.addWidget(self.timesteps)
        self.setStretchFactor(0, 2)
        self.setStretchFactor(1, 1)
        self.setChildrenCollapsible(False)

    def reset(self, model: str = "", depth: int = 1) -> None:
        self.unrolled.reset(model, depth)
        self.timesteps.reset()

    def show_stats(self, stats: StepStats | None, plot: bool = True) -> None:
        self.unrolled.show_stats(stats)
        if plot:
            self.timesteps.show_stats(stats)

    def set_theme(self, theme, colormap: str) -> None:
        self.unrolled.set_style(theme.diagram_style(colormap))
        self.timesteps.set_theme(theme, self.unrolled.strong_color())
