"""The layer × step heat map: log10 ‖g‖ of every layer (rows, input side at the top) over the
run's steps (columns: buckets of steps, downsampled in the core), in the window's theme and colour map.
Hovering names the layer, the steps and the value."""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtGui, QtWidgets

from .diagram_base import DiagramStyle

if TYPE_CHECKING:   # the run file package imports torch: not before the window paints
    from ..core.runfile.per_layer import HeatMap


class HeatMapView(QtWidgets.QWidget):
    def __init__(self, parent: QtWidgets.QWidget | None = None, colormap: str = DiagramStyle.colormap):
        super().__init__(parent)
        self.plot = pg.PlotWidget()
        self.plot.setMenuEnabled(False)
        self.plot.setLabel("bottom", "step")
        self.plot.getViewBox().invertY(True)   # the first layer on top, as it is read
        self.image = pg.ImageItem(axisOrder="row-major")
        self.plot.addItem(self.image)
        self.colorbar = pg.ColorBarItem(values=(0, 1), colorMap=pg.colormap.get(colormap), interactive=False,
                                        label="log10 ‖g‖")
        self.colorbar.setImageItem(self.image, insert_in=self.plot.getPlotItem())
        self.hover = QtWidgets.QLabel(" ")
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.plot, 1)
        layout.addWidget(self.hover)
        self.heat: HeatMap | None = None
        self.layer_names: tuple[str, ...] = ()
        self.plot.scene().sigMouseMoved.connect(self._on_mouse)

    def set_theme(self, theme, colormap: str) -> None:
        """A vgviz.gui.theme.Theme's plot colours and its map of the family ``colormap``."""
        from .plots import style_plot

        style_plot(self.plot, theme)
        self.plot.showGrid(x=False, y=False)     # grid lines would stripe the image
        self.colorbar.setColorMap(pg.colormap.get(theme.diagram_style(colormap).colormap))
        fg = QtGui.QColor(theme.plot_foreground)
        self.colorbar.axis.setPen(fg)
        self.colorbar.axis.setTextPen(fg)
        self.colorbar.axis.setLabel(self.colorbar.axis.labelText, color=fg.name())

    def show_heatmap(self, heat: HeatMap, layer_names) -> None:
        self.heat, self.layer_names = heat, tuple(layer_names)
        finite = heat.image[np.isfinite(heat.image)]
        lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (-1.0, 0.0)
        hi = hi if hi > lo else lo + 1.0
        self.image.setImage(np.where(np.isfinite(heat.image), heat.image, lo), autoLevels=False)
        self.colorbar.setLevels((lo, hi))
        first, last = float(heat.first_step[0]), float(heat.last_step[-1]) + 1
        self.image.setRect(QtCore.QRectF(first, 0, last - first, len(self.layer_names)))
        self._name_rows()
        self.plot.getViewBox().autoRange(padding=0)

    def _name_rows(self) -> None:
        """Name every row whose label fits in the plot's height without overlapping the next."""
        n = len(self.layer_names)
        line = QtGui.QFontMetrics(self.plot.getAxis("left").style.get("tickFont") or self.font()).height()
        fits = max(1, int(self.plot.getViewBox().height() // (line * 1.1)))
        every = max(1, -(-n // fits))
        self.plot.getAxis("left").setTicks([[(i + 0.5, name) for i, name in enumerate(self.layer_names) if i % every == 0]])

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._name_rows()

    def text_at(self, step: float, row: float) -> str:
        """What hovering at (step, layer row) says; '' outside the image."""
        heat = self.heat
        if heat is None or not 0 <= row < len(self.layer_names) or not (
                heat.first_step[0] <= step <= heat.last_step[-1] + 1):
            return ""
        column = heat.column_at(step)
        value = heat.image[int(row), column]
        first, last = int(heat.first_step[column]), int(heat.last_step[column])
        steps = f"step {first}" if first == last else f"steps {first}–{last} (max)"
        shown = "no gradient" if not np.isfinite(value) else f"‖g‖ = {10.0 ** value:.3g} (log10 {value:.2f})"
        return f"{self.layer_names[int(row)]} · {steps} · {shown}"

    def _on_mouse(self, pos) -> None:
        point = self.plot.getViewBox().mapSceneToView(pos)
        text = self.text_at(point.x(), point.y())
        self.hover.setText(text or " ")
        self.plot.setToolTip(text)
