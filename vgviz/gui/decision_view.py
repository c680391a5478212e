"""The decision boundary of a 2-D data set: the predicted class over the input plane, the data on top."""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtGui, QtWidgets

from ..core.measure.steps import step_text

# One colour per class (colour-blind-safe Okabe–Ito hues).
CLASS_COLORS = np.array([(230, 159, 0), (86, 180, 233), (0, 158, 115), (240, 228, 66), (204, 121, 167),
                         (213, 94, 0), (0, 114, 178), (160, 160, 160), (255, 255, 255), (120, 80, 200)])
MARGIN = 0.05   # the plot shows the data's extent and this fraction of it on each side


class DecisionView(QtWidgets.QWidget):
    def __init__(self, parent: QtWidgets.QWidget | None = None):
        super().__init__(parent)
        self.plot = pg.PlotWidget()
        self.plot.setAspectLocked(True)
        self.plot.setMenuEnabled(False)
        self.plot.setTitle("Decision boundary", size="10pt")
        self._fix_axis_width()
        self.plot.setToolTip("Background: the class the network predicts at each point of the input plane,\n"
                             "brighter where it is more confident. Dots: the training data, by class.")
        self.image = pg.ImageItem()
        self.plot.addItem(self.image)
        self.points = pg.ScatterPlotItem(size=4, pen=pg.mkPen((20, 20, 20, 200), width=0.6))
        self.plot.addItem(self.points)
        # the classes' colours, in a row under the x axis: inside the plot it would hide data
        self.legend = pg.LegendItem(colCount=4)
        self.plot.getPlotItem().layout.addItem(self.legend, 5, 1)
        self.plot.getViewBox().sigResized.connect(self._fit_plot)   # the legend or a font took room
        self.data_range: tuple[float, float, float, float] | None = None   # x0, x1, y0, y1 shown
        self.message = QtWidgets.QLabel()
        self.message.setWordWrap(True)
        self.message.hide()
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        # the plot keeps the data's shape (_fit_plot): what it leaves over is shared by the stretches
        row = QtWidgets.QHBoxLayout()
        row.addStretch(1)
        row.addWidget(self.plot, 100)
        row.addStretch(1)
        layout.addStretch(1)
        layout.addLayout(row, 100)
        layout.addWidget(self.message)
        layout.addStretch(1)
        self.surface = None
        self._data_key = None
        self._background = np.array([30, 30, 34], dtype=np.float64)  # what uncertain regions fade to
        self._title_style = {"size": "10pt"}

    def set_theme(self, theme) -> None:
        """Background, axes, title and the boundary's fade colour of a vgviz.gui.theme.Theme."""
        from .plots import style_plot

        style_plot(self.plot, theme)
        bg, fg = QtGui.QColor(theme.plot_background), QtGui.QColor(theme.plot_foreground)
        self._title_style = {"color": fg.name(), "size": f"{10 * theme.font_scale:.1f}pt"}
        self._background = np.array([bg.red(), bg.green(), bg.blue()], dtype=np.float64)
        self._fix_axis_width()
        surface, self.surface = self.surface, None
        self.show_surface(surface)  # redrawn on the new background

    def _fix_axis_width(self) -> None:
        """Reserve room for the widest tick label the y axis can get ("−10.5").

        With the aspect locked, a y axis that sizes itself to its labels feeds back: new
        labels change its width, the width changes the plot's shape, the shape changes the
        locked range and with it the labels. At some window sizes that loop never settled
        and redrew the whole plot on every frame (~16 ms each, 30–45 times a second),
        which starved training of the GIL (50 instead of 900 steps/s)."""
        axis = self.plot.getAxis("left")
        font = axis.style.get("tickFont") or self.plot.font()
        text = QtGui.QFontMetrics(font).horizontalAdvance("−10.5")
        axis.setWidth(text + axis.style["tickTextOffset"][0] + max(0, axis.style["tickLength"]) + 2)

    def sizeHint(self):
        return QtCore.QSize(300, 300)

    def set_data(self, x: np.ndarray | None, y: np.ndarray | None) -> None:
        """The training points (2-D); None (or other dimensions) hides the view with a message."""
        if x is None or x.shape[1] != 2:
            self.points.setData([])
            self.image.clear()
            self.legend.clear()
            self.surface = self.data_range = None
            self.message.setText("This run's inputs are sequences, not points in a plane: there is no boundary to draw."
                                 if x is None else
                                 f"This data set has {x.shape[1]}-D inputs: there is no plane to draw a boundary in.")
            self.message.show()
            self.plot.hide()
            return
        self.message.hide()
        self.plot.show()
        brushes = [pg.mkBrush(*CLASS_COLORS[c % len(CLASS_COLORS)]) for c in y]
        self.points.setData(x=x[:, 0], y=x[:, 1], brush=brushes)
        self._show_classes(int(y.max()) + 1 if len(y) else 0)
        lo, hi = x.min(0), x.max(0)
        pad = MARGIN * (hi - lo)
        self.data_range = (float(lo[0] - pad[0]), float(hi[0] + pad[0]), float(lo[1] - pad[1]), float(hi[1] + pad[1]))
        self._fit_plot()

    def _show_classes(self, n: int) -> None:
        """One legend entry per class, in the colour of its dots."""
        self.legend.clear()
        for c in range(n):
            sample = pg.ScatterPlotItem(size=8, pen=pg.mkPen((20, 20, 20, 200), width=0.6),
                                        brush=pg.mkBrush(*CLASS_COLORS[c % len(CLASS_COLORS)]))
            self.legend.addItem(sample, f"class {c}")

    def resizeEvent(self, event: QtGui.QResizeEvent) -> None:
        super().resizeEvent(event)
        self._fit_plot()

    def _fit_plot(self) -> None:
        """Show the data's extent with a small margin: the plot keeps the data's aspect ratio
        (a spiral stays round) by taking the size that fits the view, not by widening its range."""
        if self.data_range is None:
            return
        x0, x1, y0, y1 = self.data_range
        box = self.plot.getViewBox()
        # axes and title around the data area (before the first layout the box is not yet inside)
        extra_w = max(0.0, self.plot.width() - box.width())
        extra_h = max(0.0, self.plot.height() - box.height())
        margins = self.layout().contentsMargins()
        avail_w = self.width() - margins.left() - margins.right() - extra_w
        avail_h = self.height() - margins.top() - margins.bottom() - extra_h
        aspect = (y1 - y0) / max(x1 - x0, 1e-12)
        w = max(40.0, min(avail_w, avail_h / aspect))
        least = self.plot.minimumSizeHint()
        self.plot.setMaximumSize(max(round(w + extra_w), least.width()), max(round(w * aspect + extra_h), least.height()))
        self.plot.setRange(xRange=(x0, x1), yRange=(y0, y1), padding=0)

    def show_surface(self, surface) -> None:
        """Draw a vgviz.core.tasks.trainer.DecisionSurface (or nothing if it is unchanged)."""
        if surface is None or surface is self.surface:
            return
        self.surface = surface
        colors = CLASS_COLORS[surface.predicted % len(CLASS_COLORS)].astype(np.float64)
        # confident regions in the class colour, uncertain ones fade toward the background
        n_classes = max(int(surface.predicted.max()) + 1, 2)
        confidence = np.nan_to_num(surface.confidence, nan=0.0)  # a diverged net predicts nothing
        certainty = np.clip((confidence - 1 / n_classes) / (1 - 1 / n_classes), 0, 1)
        alpha = 0.25 + 0.6 * certainty[..., None]
        background = self._background
        rgb = (background + alpha * (colors - background)).astype(np.uint8)
        # ImageItem indexes [x, y]: transpose the (row = y, col = x) grid
        self.image.setImage(np.transpose(rgb, (1, 0, 2)), autoLevels=False, levels=(0, 255))
        x0, x1, y0, y1 = surface.extent
        self.image.setRect(x0, y0, x1 - x0, y1 - y0)
        self.plot.setTitle(step_text(surface.step), **self._title_style)  # the dock's title names the view


class DecisionDock(QtWidgets.QDockWidget):
    """The decision boundary's dock. A run without an input plane (sequences, 64-D digits) puts
    it away instead of leaving a message in a third of the window; the next run with a plane
    brings it back, unless the user toggled it in between."""

    def __init__(self, parent: QtWidgets.QWidget):
        # one word: tabbed with the stepper in a narrow dock, neither tab's title is cut short
        super().__init__("Boundary", parent)
        self.toggleViewAction().setText("Decision boundary")
        self.setObjectName("decision_dock")
        self.view = DecisionView()
        self.view.setMinimumWidth(200)
        self.setWidget(self.view)
        self.put_away = False   # hidden by fit(), not by the user; saved with the window
        # the user's own choice wins over fit()'s
        self.toggleViewAction().triggered.connect(lambda: setattr(self, "put_away", False))

    def fit(self) -> None:
        has_plane = self.view.plot.isVisibleTo(self.view)
        if not has_plane and self.isVisible():
            self.hide()
            self.put_away = True
        elif has_plane and self.put_away:
            self.show()
            self.raise_()
            self.put_away = False
