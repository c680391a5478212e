"""The module-level diagram of a user's model (vgviz.core.layout.module_diagram): blocks left
to right in registration order, small Linear and Conv layers as units and edges, the others as
boxes coloured by their gradient norm, one log colour scale in the window's theme and colour map."""
from __future__ import annotations

import numpy as np
from PySide6 import QtCore, QtGui, QtWidgets

from ..core.layout.module_diagram import ModuleBlock, log_range
from ..core.measure.steps import step_text
from .diagram_base import DiagramStyle, colormap_lut
from .hover import HoverTooltip

MARGIN = 24
LABEL_HEIGHT = 64   # name, kind, shape, uses/frozen: a line each


class ModuleDiagramView(HoverTooltip, QtWidgets.QWidget):
    def __init__(self, parent: QtWidgets.QWidget | None = None, style: DiagramStyle = DiagramStyle()):
        super().__init__(parent)
        self.setMouseTracking(True)
        self.setMinimumSize(320, 200)
        self.blocks: list[ModuleBlock] = []
        self.step: int | None = None
        self.range = (-1.0, 0.0)
        self.set_style(style)

    def set_style(self, style: DiagramStyle) -> None:
        """A theme's colours and colour map (vgviz.gui.theme.Theme.diagram_style)."""
        self.style = style
        self.lut = colormap_lut(style, 256)
        self.background, self.text = QtGui.QColor(style.background), QtGui.QColor(style.text)
        self.dim, self.no_gradient = QtGui.QColor(style.dim_text), QtGui.QColor(style.unlit)
        self.update()

    def show_blocks(self, blocks: list[ModuleBlock], step: int | None) -> None:
        self.blocks, self.step = blocks, step
        self.range = log_range(blocks)
        self.update()

    def colour(self, value: float) -> QtGui.QColor:
        """The colour of a magnitude on the diagram's log scale (grey if none)."""
        if not np.isfinite(value) or value <= 0:
            return QtGui.QColor(self.no_gradient)
        lo, hi = self.range
        t = np.clip((np.log10(value) - lo) / (hi - lo), 0.0, 1.0)
        r, g, b = self.lut[int(round(t * 255))]
        return QtGui.QColor(int(r), int(g), int(b))

    def _area(self) -> QtCore.QRectF:
        return QtCore.QRectF(MARGIN, MARGIN, max(1, self.width() - 2 * MARGIN),
                             max(1, self.height() - 2 * MARGIN - LABEL_HEIGHT - 20))

    def _rect(self, block: ModuleBlock) -> QtCore.QRectF:
        a = self._area()
        x0, y0, x1, y1 = block.rect
        return QtCore.QRectF(a.x() + x0 * a.width(), a.y() + y0 * a.height(), (x1 - x0) * a.width(),
                             (y1 - y0) * a.height())

    def _to_widget(self, xy: np.ndarray) -> np.ndarray:
        a = self._area()
        return np.column_stack([a.x() + xy[:, 0] * a.width(), a.y() + xy[:, 1] * a.height()])

    def paintEvent(self, _event) -> None:
        p = QtGui.QPainter(self)
        p.setRenderHint(QtGui.QPainter.RenderHint.Antialiasing)
        p.fillRect(self.rect(), self.background)
        font = p.font()
        font.setPointSizeF(max(6.0, font.pointSizeF() * 0.85))
        p.setFont(font)
        for block in self.blocks:
            rect = self._rect(block)
            if block.as_units:
                self._paint_units(p, block)
            else:
                p.setPen(QtGui.QPen(self.dim if block.frozen else self.text, 1.5,
                                    QtCore.Qt.PenStyle.DashLine if block.frozen else QtCore.Qt.PenStyle.SolidLine))
                p.setBrush(self.colour(block.grad_l2))
                p.drawRoundedRect(rect, 6, 6)
            p.setPen(self.dim if block.frozen else self.text)
            # one part of the label a line, each elided to the block's width and its gap
            width = rect.width() * 1.2
            metrics = p.fontMetrics()
            lines = [metrics.elidedText(part, QtCore.Qt.TextElideMode.ElideMiddle, int(width))
                     for part in block.label.split(" · ")]
            label = QtCore.QRectF(rect.center().x() - width / 2, rect.bottom() + 4, width, LABEL_HEIGHT)
            p.drawText(label, QtCore.Qt.AlignmentFlag.AlignHCenter | QtCore.Qt.AlignmentFlag.AlignTop, "\n".join(lines))
        p.setPen(self.text)
        lo, hi = self.range
        # the step's update is applied once it is recorded: "step N" = N steps completed
        step = f"{step_text(self.step + 1)} · " if self.step is not None else ""
        p.drawText(QtCore.QRectF(MARGIN, self.height() - 22, self.width() - 2 * MARGIN, 20),
                   QtCore.Qt.AlignmentFlag.AlignLeft,
                   f"{step}colour: log10 ‖g‖ (boxes) and |dL/dW| (edges), {lo:.1f} … {hi:.1f}; grey: no gradient")
        p.end()

    def _paint_units(self, p: QtGui.QPainter, block: ModuleBlock) -> None:
        ins, outs = (self._to_widget(xy) for xy in block.unit_positions())
        edges = block.edges
        for i in np.argsort(edges, axis=None):   # strongest drawn last, on top
            o, j = divmod(int(i), edges.shape[1])
            p.setPen(QtGui.QPen(self.colour(float(edges[o, j])), 1.2))
            p.drawLine(QtCore.QPointF(*ins[j]), QtCore.QPointF(*outs[o]))
        p.setPen(QtGui.QPen(self.text, 1))
        p.setBrush(self.background)
        radius = max(2.0, min(6.0, self._rect(block).height() / max(edges.shape) / 3))
        for x, y in np.vstack([ins, outs]):
            p.drawEllipse(QtCore.QPointF(x, y), radius, radius)

    def block_at(self, pos: QtCore.QPointF) -> int | None:
        for i, block in enumerate(self.blocks):
            if self._rect(block).adjusted(-8, -8, 8, LABEL_HEIGHT).contains(pos):
                return i
        return None

    def _hit(self, pos: QtCore.QPointF):
        return self.block_at(pos)

    def _hit_text(self, hit) -> str:
        if hit is None:
            return ""
        block = self.blocks[hit]
        norm = "no gradient" if not np.isfinite(block.grad_l2) else f"‖g‖ = {block.grad_l2:.3g}"
        text = f"{block.label}\n{norm}"
        if block.as_units:
            text += f"\nedges |dL/dW|: {block.edges.min():.3g} … {block.edges.max():.3g}"
        return text

    def sizeHint(self) -> QtCore.QSize:
        return QtCore.QSize(900, 420)
