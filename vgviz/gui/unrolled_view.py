"""UnrolledView: a recurrent network unrolled in time, coloured by ‖∂L/∂h_t‖.

One column per time step t = 1 … T, left to right, holds the hidden state h_t,
coloured by the gradient of the loss with respect to it on a log scale
(the theme's colour map, with a colour bar and its numbers). The input tokens run below the
columns; the output layer and the loss sit at the right end, after h_T, so the
gradient visibly starts there and fades towards t = 1. When T is larger than the
pixels allow, consecutive steps share a column (vgviz.core.layout.unrolled_columns) and the
caption says so; hovering gives every step's exact value either way.

In the backprop stepper the view shows one frame of a RecurrentTrace instead:
forward frames light mean |h_t| up to the frame's step, backward frames light
‖∂L/∂h_t‖ from T down to it; grey columns have not been reached yet.

The values, their range, buckets and sentences are ``view.scene``, a
vgviz.core.layout.scene.TimelineScene (no Qt). Drawing is cheap at any T: the columns are
one QImage (one pixel per column) scaled into place, the tokens another.
"""
from __future__ import annotations

import math

import numpy as np
from PySide6 import QtCore, QtGui, QtWidgets

from vgviz.core.backprop.recurrent_frames import TimeDisplay
from vgviz.core.layout import unrolled_columns as timeline
from vgviz.core.measure.stats import StepStats
from vgviz.core.layout.scene import N_BUCKETS, TimelineScene
from vgviz.core.layout.contrast import readable
from vgviz.gui.diagram_base import NON_FINITE, DiagramStyle, DiagramView, colormap_lut

ARROW_TEXTS = ("the gradient ∂L/∂h_t flows back from the loss, one factor per step",
               "∂L/∂h_t flows back, one factor per step", "backprop through time")

CUE = QtGui.QColor("#f0b429")           # the token to recall
TOKEN_COLORS = [QtGui.QColor(c) for c in ("#e07a5f", "#81b29a", "#7aa6e0", "#c9a0dc")]   # A B C D
NOISE = QtGui.QColor("#4a4f5c")
MAX_COLUMN_PX = 40.0


class UnrolledView(DiagramView):
    """Views only read: ``show_stats(stats)`` (live) or ``show_frame(display, tokens)`` (stepping)."""

    def __init__(self, parent: QtWidgets.QWidget | None = None, colormap: str = "CET-L4"):
        super().__init__(parent, TimelineScene(N_BUCKETS), (360, 260))   # the row, tokens and a 4-line caption
        self.scene: TimelineScene
        self.setFocusPolicy(QtCore.Qt.FocusPolicy.StrongFocus)   # Space and the arrows reach the window
        self._clear()
        self.set_style(DiagramStyle(colormap=colormap))   # the dark default; a theme sets its own

    def set_style(self, style: DiagramStyle) -> None:
        """The diagram's colours and colour map (a theme's DiagramStyle); the numbers are unchanged."""
        super().set_style(style)
        # the output and loss boxes: a little of the text colour in the background
        bg, fg = self._bg, self._text
        self._box_fill = QtGui.QColor(*(round(0.88 * a + 0.12 * b) for a, b in
                                        ((bg.red(), fg.red()), (bg.green(), fg.green()), (bg.blue(), fg.blue()))))
        # exactly 0 (the gradient underflowed, or met a saturated tanh): the theme's own colour, not
        # the map's weakest, so that it is not read as "small"
        self._zero = QtGui.QColor(style.zero)
        extra = np.array([[c.red(), c.green(), c.blue()] for c in (self._zero, NON_FINITE, self._unlit)],
                         dtype=np.uint32)
        lut = np.vstack([colormap_lut(style, N_BUCKETS).astype(np.uint32), extra])
        self._argb = (0xFF000000 | (lut[:, 0] << 16) | (lut[:, 1] << 8) | lut[:, 2]).astype(np.uint32)
        self._colorbar = self._image(np.arange(N_BUCKETS)[::-1], vertical=True)
        # the cue and token colours as text: darkened on white (or lightened on black) to AA contrast
        background = self._bg.getRgb()[:3]
        self._cue_text = QtGui.QColor(*readable(CUE.getRgb()[:3], background))
        self._token_text = [QtGui.QColor(*readable(c.getRgb()[:3], background)) for c in TOKEN_COLORS]
        self._layout_dirty = True   # the row's cells are re-coloured
        self.update()

    def strong_color(self) -> QtGui.QColor:
        """The colour of the strongest gradient on this view's scale."""
        return self.bucket_color(N_BUCKETS - 1)

    # -- public API --------------------------------------------------------------
    def reset(self, model: str = "", depth: int = 1) -> None:
        """A new run: forget the values and unlock the colour range."""
        self.scene.reset(model, depth)
        self._clear()
        self.update()

    def show_stats(self, stats: StepStats | None) -> None:
        """The live view: ‖∂L/∂h_t‖ of one training step."""
        scene = self.scene
        if stats is None or stats.timestep_grad is None:
            scene.values = None
            scene.stats = None
            self._values_changed()
            return
        if stats is scene.stats and not scene.auto:
            return
        scene.update(stats)
        self._values_changed()

    def show_frame(self, display: TimeDisplay | None, tokens: str = "") -> None:
        """A backprop-stepper frame (RecurrentTrace.display(i)); None returns to the live view."""
        scene = self.scene
        if display is None:
            if scene.frame is not None:
                scene.frame = None
                scene.tokens = ""
                stats, scene.stats = scene.stats, None
                if stats is not None:
                    self.show_stats(stats)
                else:
                    scene.values = None
                    self._values_changed()
            return
        scene.show_frame(display, tokens)
        self._values_changed()

    def reapply_range(self) -> None:
        """Draw the live values again after the scene's range mode changed."""
        scene = self.scene
        if scene.stats is not None and scene.frame is None:
            stats, scene.stats = scene.stats, None
            self.show_stats(stats)

    @property
    def n_steps(self) -> int:
        return self.scene.n_steps

    @property
    def per_column(self) -> int:
        self._ensure_layout()
        return self._bins.per_column if self._bins is not None else 1

    def column_center(self, t: int) -> QtCore.QPointF:
        """Widget position of the middle of time step t's column (1-based)."""
        self._ensure_layout()
        r = self._row
        x = r.left() + (t - 0.5) / self.n_steps * r.width()
        return QtCore.QPointF(x, r.center().y())

    def token_center(self, t: int) -> QtCore.QPointF:
        """Widget position of the middle of input token t (1-based), below its column."""
        self._ensure_layout()
        return QtCore.QPointF(self.column_center(t).x(), self._token_row.center().y())

    def loss_center(self) -> QtCore.QPointF:
        self._ensure_layout()
        return self._loss_rect.center()

    def column_bucket(self, t: int) -> int:
        """Colour bucket of the column that holds step t: 0..63 the colour map (weak … strong),
        64 = exactly 0, 65 = NaN/inf, 66 = not reached (stepper)."""
        self._ensure_layout()
        return int(self._buckets[(t - 1) // self._bins.per_column])

    # -- state ---------------------------------------------------------------------
    def _clear(self) -> None:
        self._bins: timeline.StepBins | None = None
        self._buckets = np.zeros(0, dtype=np.intp)
        self._strip: QtGui.QImage | None = None
        self._token_strip: QtGui.QImage | None = None
        self._layout_dirty = True
        self._hover = None
        self._hover_text = ""

    def _values_changed(self) -> None:
        self._layout_dirty = True
        self._hover = None
        self.update()

    def _image(self, buckets: np.ndarray, vertical: bool = False) -> QtGui.QImage:
        px = np.ascontiguousarray(self._argb[np.asarray(buckets, dtype=np.intp)])
        w, h = (1, len(px)) if vertical else (len(px), 1)
        return QtGui.QImage(px.data, w, h, 4 * w, QtGui.QImage.Format.Format_RGB32).copy()

    # -- layout ----------------------------------------------------------------------
    def _ensure_layout(self) -> None:
        if not self._layout_dirty:
            return
        self._layout_dirty = False
        label_font, small = self._fonts()
        fm, sfm = QtGui.QFontMetricsF(label_font), QtGui.QFontMetricsF(small)
        w, h = float(self.width()), float(self.height())
        line = fm.height()
        bar_label_w = sfm.horizontalAdvance("≤1e-888") + 6
        right = 14 + bar_label_w + 14
        box_w = max(fm.horizontalAdvance("output"), fm.horizontalAdvance("loss")) + 16
        left = 10.0 + fm.horizontalAdvance("h_t") + 8
        n = max(self.n_steps, 1)
        avail = max(w - left - right - 2 * box_w - 40, 40.0)
        row_w = min(avail, n * MAX_COLUMN_PX)
        caption_h = self.caption_rows(w - 16, 2) * sfm.height() + 10
        top = 8 + 2 * line + 10                   # the summary line, then the arrow
        ticks_h = sfm.height() + 2                # the t = 1 … T labels, between the arrow and the row
        body_h = max(h - top - ticks_h - caption_h - 3 * line - 8, 30.0)
        row_h = float(np.clip(body_h * 0.6, 24.0, 140.0))
        y = top + ticks_h + max((body_h - row_h - 2.2 * line) / 2, 0.0)
        self._row = QtCore.QRectF(left, y, row_w, row_h)
        self._token_row = QtCore.QRectF(left, y + row_h + 0.9 * line, row_w, 1.1 * line)
        self._axis_y = self._token_row.bottom() + 4
        gap = 20.0
        self._out_rect = QtCore.QRectF(self._row.right() + gap, y + row_h * 0.15, box_w, row_h * 0.7)
        self._loss_rect = QtCore.QRectF(self._out_rect.right() + gap, y + row_h * 0.15, box_w, row_h * 0.7)
        self._arrow_y = top - line * 0.6
        self._summary_rect = QtCore.QRectF(10, 6, w - 20 - right, line)
        self._caption_rect = QtCore.QRectF(8, h - caption_h + 2, w - 16, caption_h - 4)
        self._bar_rect = QtCore.QRectF(w - right + 10, top, 14, max(h - top - caption_h - 10, 20))
        self._bar_title_y = top - sfm.height() * 0.9
        # columns
        if self.scene.values is not None and self.scene.range is not None:
            per = timeline.steps_per_column(self.n_steps, row_w)
            self._bins = timeline.bin_steps(self.scene.values, per)
            self._buckets = self.scene.bin(self._bins.values)
            self._strip = self._image(self._buckets)
            self._token_strip = self._make_token_strip(per)
        else:
            self._bins, self._strip, self._token_strip = None, None, None
            self._buckets = np.zeros(0, dtype=np.intp)

    def _make_token_strip(self, per: int) -> QtGui.QImage:
        n = self.n_steps
        cols = math.ceil(n / per)
        colors = np.full(cols, NOISE.rgb() & 0xFFFFFFFF, dtype=np.uint32)
        if self.scene.tokens:
            symbols = "ABCD"
            for c in range(cols):
                ch = self.scene.tokens[c * per]
                colors[c] = TOKEN_COLORS[symbols.index(ch)].rgb() & 0xFFFFFFFF if ch in symbols else colors[c]
        colors[0] = CUE.rgb() & 0xFFFFFFFF
        return QtGui.QImage(np.ascontiguousarray(colors).data, cols, 1, 4 * cols,
                            QtGui.QImage.Format.Format_RGB32).copy()

    # -- painting ----------------------------------------------------------------------
    def _paint_content(self, p: QtGui.QPainter) -> None:
        if self._bins is None:
            self._paint_placeholder(p, "No recurrent run yet: its hidden states appear here, one column per time step")
        else:
            self._paint_row(p)
            self._paint_tokens(p)
            self._paint_axis(p)
            self._paint_boxes(p)
            self._paint_summary(p)
            self._paint_timeline_colorbar(p)
            self._paint_hover(p)
        self._paint_caption(p, self._caption_text(), self._legend_text())

    def _col_x(self, c: int) -> float:
        """Left edge of column c."""
        r = self._row
        per, n = self._bins.per_column, self.n_steps
        return r.left() + r.width() * min(c * per, n) / n

    def _paint_row(self, p: QtGui.QPainter) -> None:
        r = self._row
        p.setRenderHint(QtGui.QPainter.RenderHint.SmoothPixmapTransform, False)
        p.drawImage(r, self._strip)
        cols = self._bins.n_columns
        col_w = r.width() / cols
        if col_w >= 6:                               # separate the cells
            p.setPen(QtGui.QPen(self._bg, 1.0 if col_w < 14 else 2.0))
            for c in range(1, cols):
                x = self._col_x(c)
                p.drawLine(QtCore.QLineF(x, r.top(), x, r.bottom()))
        p.setPen(QtGui.QPen(self._outline, 1.0))
        p.setBrush(QtCore.Qt.BrushStyle.NoBrush)
        p.drawRect(r)
        focus = self.scene.frame.focus if self.scene.frame is not None else None
        if focus is not None:
            c = (focus - 1) // self._bins.per_column
            x0, x1 = self._col_x(c), self._col_x(c + 1)
            p.setPen(QtGui.QPen(self._highlight, 2.0))
            p.drawRect(QtCore.QRectF(x0 - 1, r.top() - 3, max(x1 - x0, 1.0) + 2, r.height() + 6))
        label_font, _ = self._fonts()
        p.setFont(label_font)
        fm = QtGui.QFontMetricsF(label_font)
        p.setPen(self._text)
        p.drawText(QtCore.QPointF(10, r.center().y() + fm.ascent() / 2 - 1), "h_t")

    def _paint_tokens(self, p: QtGui.QPainter) -> None:
        r = self._token_row
        _, small = self._fonts()
        fm = QtGui.QFontMetricsF(small)
        p.setFont(small)
        p.setPen(self._dim)
        p.drawText(QtCore.QPointF(10, r.center().y() + fm.ascent() / 2 - 1), "x_t")
        cols = self._bins.n_columns
        col_w = r.width() / cols
        if self.scene.tokens and col_w >= fm.horizontalAdvance("W") + 2 and self._bins.per_column == 1:
            for c in range(cols):
                x0, x1 = self._col_x(c), self._col_x(c + 1)
                ch = self.scene.tokens[c]
                p.setPen(self._cue_text if c == 0 else self._token_text["ABCD".index(ch)] if ch in "ABCD"
                         else self._dim)
                p.drawText(QtCore.QRectF(x0, r.top(), x1 - x0, r.height()), QtCore.Qt.AlignmentFlag.AlignCenter, ch)
        else:
            band = QtCore.QRectF(r.left(), r.top() + r.height() * 0.3, r.width(), r.height() * 0.4)
            p.drawImage(band, self._token_strip)
        # what the inputs are: the cue at t = 1, noise after it
        p.setPen(self._cue_text)
        cue = "↑ x_1: the token to recall" if not self.scene.tokens else f"↑ x_1 = {self.scene.tokens[0]}: the token to recall"
        y = r.bottom() + fm.ascent() + 1
        p.drawText(QtCore.QPointF(r.left(), y), cue)
        p.setPen(self._dim)
        rest = "x_2 … x_T: noise (random tokens)"
        if self.scene.tokens:                 # the colours of the letters, as a key
            rest += "  "
        key = [(s, self._token_text[i]) for i, s in enumerate("ABCD")] if self.scene.tokens else []
        key_w = sum(fm.horizontalAdvance(f"■{s} ") for s, _ in key)
        tw = fm.horizontalAdvance(rest) + key_w
        cue_w = fm.horizontalAdvance(cue)
        if r.width() - cue_w > tw + 20:
            x = r.right() - tw
            p.drawText(QtCore.QPointF(x, y), rest)
            x += fm.horizontalAdvance(rest)
            for s, color in key:
                p.setPen(color)
                p.drawText(QtCore.QPointF(x, y), f"■{s}")
                x += fm.horizontalAdvance(f"■{s} ")

    def _paint_axis(self, p: QtGui.QPainter) -> None:
        """t labels above the row: 1, a few round steps, T."""
        r = self._row
        _, small = self._fonts()
        fm = QtGui.QFontMetricsF(small)
        p.setFont(small)
        p.setPen(self._dim)
        n = self.n_steps
        room = max(int(r.width() // (fm.horizontalAdvance("t=1000") + 16)), 2)
        step = _nice_step(n / room)
        ticks = sorted({1, n} | set(range(step, n, step)))
        y = r.top() - 4
        last_right = -1e9
        for t in ticks:
            x = r.left() + (t - 0.5) / n * r.width()
            text = f"t={t}" if t in (1, n) else str(t)
            tw = fm.horizontalAdvance(text)
            left = min(max(x - tw / 2, r.left()), r.right() - tw)
            if left < last_right + 6 and t != n:
                continue
            if t == n and left < last_right + 6:
                continue
            p.drawText(QtCore.QPointF(left, y), text)
            last_right = left + tw

    def _paint_boxes(self, p: QtGui.QPainter) -> None:
        """h_T → output → loss at the right end, and the gradient's direction."""
        label_font, small = self._fonts()
        fm = QtGui.QFontMetricsF(label_font)
        p.setRenderHint(QtGui.QPainter.RenderHint.Antialiasing, True)
        lit = self.scene.frame is None or self.scene.frame.loss_lit
        y = self._row.center().y()
        p.setPen(QtGui.QPen(self._text if lit else self._unlit, 1.5))
        for a, b in ((self._row.right() + 2, self._out_rect.left()), (self._out_rect.right(), self._loss_rect.left())):
            p.drawLine(QtCore.QLineF(a, y, b - 2, y))
            p.drawLine(QtCore.QLineF(b - 7, y - 4, b - 2, y))
            p.drawLine(QtCore.QLineF(b - 7, y + 4, b - 2, y))
        p.setFont(label_font)
        for rect, text in ((self._out_rect, "output"), (self._loss_rect, "loss")):
            p.setBrush(self._box_fill)
            p.setPen(QtGui.QPen(self._highlight if (lit and text == "loss") else self._outline, 1.5))
            p.drawRoundedRect(rect, 4, 4)
            p.setPen(self._text if lit else self._dim)
            p.drawText(rect, QtCore.Qt.AlignmentFlag.AlignCenter, text)
        loss = self.scene.loss()
        if loss is not None:
            p.setFont(small)
            sfm = QtGui.QFontMetricsF(small)
            text = f"L = {loss:.3g}"
            p.setPen(self._dim)
            p.drawText(QtCore.QPointF(self._loss_rect.center().x() - sfm.horizontalAdvance(text) / 2,
                                      self._loss_rect.bottom() + sfm.ascent() + 3), text)
        # the direction of backpropagation through time
        if self.scene.frame is None or self.scene.frame.quantity == "gradient":
            ay = self._arrow_y
            x1, x0 = self._loss_rect.center().x(), self._row.left() + 4
            p.setPen(QtGui.QPen(self._dim, 1.2))
            p.drawLine(QtCore.QLineF(x1, ay, x0, ay))
            p.drawLine(QtCore.QLineF(x0, ay, x0 + 7, ay - 4))
            p.drawLine(QtCore.QLineF(x0, ay, x0 + 7, ay + 4))
            p.setFont(small)
            sfm = QtGui.QFontMetricsF(small)
            # the longest wording that fits between the arrow's ends (a narrow view takes a shorter one)
            text = next((f"  {t}  " for t in ARROW_TEXTS if sfm.horizontalAdvance(f"  {t}  ") <= x1 - x0 - 16), "")
            tw = sfm.horizontalAdvance(text)
            mid = (x0 + x1) / 2
            box = QtCore.QRectF(mid - tw / 2, ay - fm.height() / 2, tw, fm.height())
            p.fillRect(box, self._bg)
            p.drawText(box, QtCore.Qt.AlignmentFlag.AlignCenter, text)
        p.setRenderHint(QtGui.QPainter.RenderHint.Antialiasing, False)

    def _paint_summary(self, p: QtGui.QPainter) -> None:
        label_font, _ = self._fonts()
        fm = QtGui.QFontMetricsF(label_font)
        p.setFont(label_font)
        p.setPen(self._text)
        r = self._summary_rect
        # whole parts only: a narrow view drops the last (the decay, which the plot below states too)
        parts = self.scene.summary().split(" · ")
        while len(parts) > 1 and fm.horizontalAdvance(" · ".join(parts)) > r.width():
            parts.pop()
        p.drawText(QtCore.QPointF(r.left(), r.top() + fm.ascent()), " · ".join(parts))

    def _paint_timeline_colorbar(self, p: QtGui.QPainter) -> None:
        if self.scene.range is None:
            return
        bar = self._bar_rect
        self._paint_colorbar(p, self.scene.colorbar_title(), bar.left() - 2, self._bar_title_y, self._colorbar)
        # the special colours, below the bar
        y = bar.bottom() + 6
        if self._any_zero():
            p.fillRect(QtCore.QRectF(bar.left(), y, bar.width(), 8), self._zero)
            p.setPen(QtGui.QPen(self._outline, 1.0))
            p.drawRect(QtCore.QRectF(bar.left(), y, bar.width(), 8))
            p.setPen(self._text)
            p.drawText(QtCore.QPointF(bar.right() + 6, y + 8), "0")

    def _any_zero(self) -> bool:
        return bool((self._buckets == self.scene.zero_bucket).any())

    def _paint_hover(self, p: QtGui.QPainter) -> None:
        if self._hover is None or self._hover[0] != "step":
            return
        c = (self._hover[1] - 1) // self._bins.per_column
        x0, x1 = self._col_x(c), self._col_x(c + 1)
        r = self._row
        p.setPen(QtGui.QPen(self._highlight, 1.0))
        p.setBrush(QtCore.Qt.BrushStyle.NoBrush)
        p.drawRect(QtCore.QRectF(x0, r.top(), max(x1 - x0, 1.0), r.height()))

    def _caption_text(self) -> str:
        if self.scene.values is None:
            return ""
        self._ensure_layout()
        return self.scene.caption(self._bins.per_column if self._bins else 1)

    def _legend_text(self) -> str:
        return self.scene.legend(self._any_zero(), "green")   # both themes' zero colour (DiagramStyle.zero)

    # -- hover ---------------------------------------------------------------------------
    def _hit(self, pos: QtCore.QPointF):
        """('step', t) | ('token', t) | ('loss',) | ('output',) | None."""
        if self.scene.values is None:
            return None
        self._ensure_layout()
        n = self.n_steps
        for rect, kind in ((self._row, "step"), (self._token_row, "token")):
            band = rect.adjusted(0, -2, 0, 2)
            if band.contains(pos):
                t = int((pos.x() - rect.left()) / rect.width() * n) + 1
                return (kind, min(max(t, 1), n))
        if self._loss_rect.contains(pos):
            return ("loss",)
        if self._out_rect.contains(pos):
            return ("output",)
        return None

    def _hit_text(self, hit) -> str:
        if hit is None:
            return ""
        if hit[0] == "loss":
            loss = self.scene.loss()
            return "the loss: cross-entropy of the output against the first token's class" + (
                f" · L = {loss:.6g}" if loss is not None else "")
        if hit[0] == "output":
            return "the output layer reads h_T only: logits = W_out·h_T + b"
        if hit[0] == "token":
            return self.scene.describe_token(hit[1])
        return self.scene.describe_step(hit[1], self._bins)

    def sizeHint(self) -> QtCore.QSize:
        return QtCore.QSize(900, 300)


def _nice_step(x: float) -> int:
    """The smallest of 1, 2, 5, 10, 20, 50 … that is ≥ x."""
    x = max(x, 1.0)
    e = 10 ** math.floor(math.log10(x))
    for m in (1, 2, 5, 10):
        if m * e >= x:
            return int(m * e)
    return int(10 * e)
