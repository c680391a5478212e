"""Gradient-flow bars, the familiar plot_grad_flow picture: per layer, in the order the model
registers them (input side first), a wide bar of max |g| and a narrow one of mean |g| at the
current step, on a log scale, so a vanishing early layer stands out at a glance."""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6 import QtWidgets

from ..core.measure.steps import step_text

MAX_COLOUR = (90, 160, 220)
MEAN_COLOUR = (240, 170, 60)


class GradFlowView(QtWidgets.QWidget):
    def __init__(self, parent: QtWidgets.QWidget | None = None):
        super().__init__(parent)
        self.plot = pg.PlotWidget()
        self.plot.setMenuEnabled(False)
        self.plot.setLabel("left", "|g| (log10)")
        self.plot.addLegend(offset=(-10, 10))
        self.max_bars = pg.BarGraphItem(x=[], height=[], width=0.8, brush=pg.mkBrush(*MAX_COLOUR), name="max |g|")
        self.mean_bars = pg.BarGraphItem(x=[], height=[], width=0.4, brush=pg.mkBrush(*MEAN_COLOUR), name="mean |g|")
        self.plot.addItem(self.max_bars)
        self.plot.addItem(self.mean_bars)
        self.title = QtWidgets.QLabel(" ")
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.title)
        layout.addWidget(self.plot, 1)
        self.floor = 0.0

    def set_theme(self, theme) -> None:
        """A vgviz.gui.theme.Theme's plot background, text and grid."""
        from .plots import style_plot

        style_plot(self.plot, theme)

    def show_flow(self, step: int, layer_names, mean_abs: np.ndarray, max_abs: np.ndarray) -> None:
        """Bars of log10 mean and max |g| per layer, rising from one floor below the smallest."""
        logs = [np.log10(np.where(v > 0, v, np.nan)) for v in (mean_abs, max_abs)]
        finite = np.concatenate([l[np.isfinite(l)] for l in logs])
        self.floor = float(np.floor(finite.min())) - 1 if finite.size else -1.0
        heights = [np.where(np.isfinite(l), l - self.floor, 0.0) for l in logs]
        x = np.arange(len(layer_names))
        self.mean_bars.setOpts(x=x, height=heights[0], y0=self.floor)
        self.max_bars.setOpts(x=x, height=heights[1], y0=self.floor)
        self.plot.getAxis("bottom").setTicks([[(i, n) for i, n in enumerate(layer_names)]])
        self.plot.setYRange(self.floor, float(finite.max()) + 0.5 if finite.size else 0.0, padding=0)
        weakest = int(np.nanargmin(logs[0])) if np.isfinite(logs[0]).any() else None
        note = f" — weakest mean |g|: {layer_names[weakest]}" if weakest is not None else ""
        self.title.setText(f"gradient flow at {step_text(step + 1)}{note}")   # N steps completed
