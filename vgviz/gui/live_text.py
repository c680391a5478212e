"""LiveText: a line of word-wrapped text that changes every frame without re-laying out its parents."""
from __future__ import annotations

from PySide6 import QtCore, QtGui, QtWidgets

_FLAGS = QtCore.Qt.TextFlag.TextWordWrap | QtCore.Qt.AlignmentFlag.AlignLeft | QtCore.Qt.AlignmentFlag.AlignVCenter


class LiveText(QtWidgets.QWidget):
    """Word-wrapped text for numbers that change at display rate.

    QLabel.setText asks the parent layout to lay out again on every call; inside a
    QSplitter that repaints the whole splitter, every view in it, on every frame. This
    widget repaints itself and asks for a new layout only when the text needs a different
    number of lines."""

    PADDING = QtCore.QMargins(6, 2, 6, 2)

    def __init__(self, parent: QtWidgets.QWidget | None = None):
        super().__init__(parent)
        self._text = ""
        self._lines = 1
        self._color: QtGui.QColor | None = None
        self.setSizePolicy(QtWidgets.QSizePolicy.Policy.Preferred, QtWidgets.QSizePolicy.Policy.Fixed)

    def text(self) -> str:
        return self._text

    def setText(self, text: str) -> None:
        if text != self._text:
            self._text = text
            self._fit()
            self.update()

    def set_color(self, color: QtGui.QColor | str | None) -> None:
        self._color = None if color is None else QtGui.QColor(color)
        self.update()

    def _line_count(self, width: int) -> int:
        metrics = self.fontMetrics()
        inner = max(width - self.PADDING.left() - self.PADDING.right(), 1)
        rect = metrics.boundingRect(QtCore.QRect(0, 0, inner, 100_000), _FLAGS, self._text or " ")
        return max(1, round(rect.height() / metrics.lineSpacing()))

    def _fit(self) -> None:
        lines = self._line_count(self.width())
        if lines != self._lines:
            self._lines = lines
            self.updateGeometry()

    def sizeHint(self) -> QtCore.QSize:
        metrics = self.fontMetrics()
        height = self._lines * metrics.lineSpacing() + self.PADDING.top() + self.PADDING.bottom()
        return QtCore.QSize(min(metrics.horizontalAdvance(self._text), 400) + 12, height)

    def minimumSizeHint(self) -> QtCore.QSize:
        return QtCore.QSize(0, self.sizeHint().height())

    def resizeEvent(self, event: QtGui.QResizeEvent) -> None:
        self._fit()
        super().resizeEvent(event)

    def changeEvent(self, event: QtCore.QEvent) -> None:
        if event.type() == QtCore.QEvent.Type.FontChange:
            self._lines = 0  # re-measure in the new font
            self._fit()
        super().changeEvent(event)

    def paintEvent(self, event: QtGui.QPaintEvent) -> None:
        painter = QtGui.QPainter(self)
        color = self._color if self._color is not None else self.palette().color(QtGui.QPalette.ColorRole.WindowText)
        painter.setPen(color)
        painter.drawText(self.rect().marginsRemoved(self.PADDING), _FLAGS, self._text)
        painter.end()
