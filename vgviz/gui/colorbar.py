"""The vertical log colour bar beside the diagram and the unrolled view."""
from __future__ import annotations

import math

from PySide6 import QtCore, QtGui


def draw_log_colorbar(p: QtGui.QPainter, bar: QtCore.QRectF, image: QtGui.QImage, lo: float, hi: float,
                      font: QtGui.QFont, text: QtGui.QColor, outline: QtGui.QColor) -> None:
    """The bar's image (weakest at the bottom), its frame and a tick per decade from lo to hi.
    Decades are labelled "1e-3"; the ends "≤" lo and "≥" hi (what lies beyond shows in the
    end colours). Labels are thinned from the bottom so they never overlap, and the top
    decade is always labelled."""
    fm = QtGui.QFontMetricsF(font)
    p.setRenderHint(QtGui.QPainter.RenderHint.SmoothPixmapTransform, False)
    p.drawImage(bar, image)
    p.setPen(QtGui.QPen(outline, 1.0))
    p.setBrush(QtCore.Qt.BrushStyle.NoBrush)
    p.drawRect(bar)
    p.setFont(font)
    llo, lhi = math.log10(lo), math.log10(hi)
    exps = list(range(math.ceil(llo - 1e-9), math.floor(lhi + 1e-9) + 1))
    if not exps:
        return
    per = max(1, math.ceil(fm.height() * 1.1 / max(bar.height() / max(lhi - llo, 1e-9), 1e-9)))
    keep = exps[::per]
    if keep[-1] != exps[-1]:
        if len(keep) > 1:
            keep[-1] = exps[-1]
        else:
            keep.append(exps[-1])
    tick_pen = QtGui.QPen(text, 1.0)
    for e in exps:
        y = bar.bottom() - (e - llo) / (lhi - llo) * bar.height()
        p.setPen(tick_pen)
        p.drawLine(QtCore.QLineF(bar.right(), y, bar.right() + 4, y))
        if e not in keep:
            continue
        label = f"1e{e}"
        if abs(e - llo) < 1e-9:
            label = "≤" + label
        elif abs(e - lhi) < 1e-9:
            label = "≥" + label
        p.drawText(QtCore.QPointF(bar.right() + 6, y + fm.ascent() / 2 - 1), label)
