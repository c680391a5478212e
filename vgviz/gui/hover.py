"""Hover tooltips for custom-painted views: the exact value of whatever is under the mouse."""
from __future__ import annotations

from PySide6 import QtCore, QtGui, QtWidgets


class HoverTooltip:
    """Mixin for a QWidget with `_hit(pos) -> hit | None` and `_hit_text(hit) -> str`:
    shows the hit's text as a tooltip, keeps it in `_hover` for painting a highlight,
    and repaints only when the thing under the mouse changes."""

    _hover = None
    _hover_text = ""

    def mouseMoveEvent(self, event: QtGui.QMouseEvent) -> None:
        hit = self._hit(event.position())
        text = self._hit_text(hit)
        if hit != self._hover:
            self._hover = hit
            self.update()
        if text != self._hover_text:
            self._hover_text = text
            if text:
                QtWidgets.QToolTip.showText(event.globalPosition().toPoint(), text, self)
            else:
                QtWidgets.QToolTip.hideText()
        super().mouseMoveEvent(event)

    def leaveEvent(self, event: QtCore.QEvent) -> None:
        if self._hover is not None:
            self._hover = None
            self.update()
        self._hover_text = ""
        QtWidgets.QToolTip.hideText()
        super().leaveEvent(event)

    def hover_text(self) -> str:
        """The tooltip text of the last mouse position ('' if nothing was under it)."""
        return self._hover_text
