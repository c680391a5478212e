"""NetworkView: the network diagram, coloured by gradient magnitude.

Edges are coloured by |dL/dW_ij| and nodes by the batch-mean |δ_j| of their
neuron, on one log colour scale (a perceptually uniform colorcet map, see
vgviz.gui.theme) with a colour bar at the right. The scale is locked at the
first stats of a run so that colours of later steps can be compared with it
(``set_auto_range(True)`` re-fits every frame instead).

What is drawn is decided by ``view.scene``, a vgviz.core.layout.scene.NetworkScene (no Qt):
the colour range, which edges are drawn (above ``edge_budget``, default 4,000, only
the strongest of each layer pair, and the caption says so), every colour bucket and
every sentence. vgviz.gui.network_paint turns it into pixels cheaply (docs/performance.md#paint-cost-is-training-cost:
a paint holds the GIL and steals training time); this module holds the public API, the
labels, colour bar, caption and hover.
"""
from __future__ import annotations

import time

import numpy as np
from PySide6 import QtCore, QtGui, QtWidgets

from vgviz.core.backprop.frames import FrameDisplay
from vgviz.core.layout import network_diagram as topo
from vgviz.core.layout.labels import input_label, short_label
from vgviz.core.layout.scene import LIVE_EDGE_BUDGET, N_BUCKETS, NetworkScene  # noqa: F401 (LIVE_EDGE_BUDGET: the tests')
from vgviz.core.measure.stats import StepStats
# DiagramStyle, layer_colors, diagram_fonts and the antialiasing limits are imported from here by
# the theme, the plots, the compare window, the tests and benchmarks/bench_nodes.py
from vgviz.gui.diagram_base import (ANTIALIAS_MAX_EDGES, NON_FINITE, DiagramStyle, DiagramView,  # noqa: F401
                                    colormap_lut, diagram_fonts, layer_colors)
from vgviz.gui.network_paint import ANTIALIAS_MAX_NODES, NetworkPainting  # noqa: F401

# while training, the labels' numbers and the caption change at most this often: each change
# redraws the text layer (~4 ms of GIL), and numbers read at 2 Hz as well as at 4
TEXT_PERIOD_S = 0.5
EDGE_HIT_PX = 4.0


class NetworkView(NetworkPainting, DiagramView):
    """The gradient-coloured network diagram. Views only read: ``show_stats``."""

    def __init__(self, parent: QtWidgets.QWidget | None = None, *,
                 edge_budget: int = topo.DEFAULT_EDGE_BUDGET, n_buckets: int = N_BUCKETS,
                 colormap: str = "CET-L4"):
        super().__init__(parent, NetworkScene(n_buckets, edge_budget), (320, 200))
        self.scene: NetworkScene
        self._text_time = 0.0  # while live: when the text layer's numbers last changed (see _clear)
        self._circle_key = None  # the layout and layers _circle_pos (node centres, concatenated) is for
        self._circle_pos = np.zeros((0, 2))
        self._coords_layout = None  # the layout _coords (node coordinates for the edge lines) is for
        self.set_style(DiagramStyle(colormap=colormap))
        self._layer_colors: list[QtGui.QColor] = []
        self._clear()

    def set_style(self, style: DiagramStyle) -> None:
        """Colours, colour map and line weights; the numbers drawn are unchanged."""
        super().set_style(style)
        k = self.scene.n_buckets
        self._lut = colormap_lut(style, k)
        # buckets 0..k-1 follow the colour map; bucket k marks non-finite values (a diverged step);
        # bucket k+1 marks layers a backprop frame has not lit yet
        self._qcolors = [QtGui.QColor(int(r), int(g), int(b)) for r, g, b in self._lut] + [NON_FINITE, self._unlit]
        lut = np.vstack([self._lut, [[c.red(), c.green(), c.blue()] for c in (NON_FINITE, self._unlit)]])
        lut = lut.astype(np.uint32)
        self._argb = 0xFF000000 | (lut[:, 0] << 16) | (lut[:, 1] << 8) | lut[:, 2]
        self._colorbar_img = self._make_colorbar_image()
        # a 1.0-wide (not cosmetic) thin pen scales with the painter: a 4× export keeps the weight
        scale = style.edge_width
        self._thin_pens = [self._pen(c, scale) for c in self._qcolors]
        self._wide_pens = [self._pen(c, scale * (0.8 + 2.2 * min(b, k - 1) / max(k - 1, 1)))
                           for b, c in enumerate(self._qcolors)]
        self._wide_pens[k + 1] = self._pen(self._unlit, 0.8 * scale)
        self._colors_dirty = True
        self.update()

    @property
    def live(self) -> bool:
        return self.scene.live

    def set_live(self, on: bool) -> None:
        """True while a run trains: at most LIVE_EDGE_BUDGET edges, drawn without antialiasing
        on screen, and the labels' numbers and the caption change at most every TEXT_PERIOD_S."""
        scene = self.scene
        if bool(on) != scene.live:
            scene.live = bool(on)
            self._text_stats = self._text_key = self._text_pixmap = None
            self._overflow_memo = None
            if scene.source is not None and scene.frame is None:   # re-select the edges for the budget
                stats, scene.source = scene.source, None
                self.show_stats(stats)
            self.update()

    # -- public API ------------------------------------------------------------
    def show_stats(self, stats: StepStats | None) -> None:
        """Show one step's numbers: recolour (and re-select edges). Cheap; call at display rate."""
        if stats is None:
            self.scene.stats = self.scene.source = None
            self.update()
            return
        if stats is self.scene.source and not self.scene.auto:
            return                      # same frame again: nothing to recompute
        self._scene_changed(self.scene.update(stats))

    def _scene_changed(self, new_columns: bool) -> None:
        if new_columns or bool(self.scene.stats.skip_connections) != bool(self._skips_drawn):
            self._layout_dirty = True   # new columns, or room to make (or give back) for skip arcs
        self._colors_dirty = True
        self._hover = None
        self.update()

    def show_frame(self, display: FrameDisplay | None) -> None:
        """Show one backprop frame (vgviz.core.backprop.frames.BackpropTrace.display) instead of live stats;
        layers the frame has not reached are grey. None returns to the live view: the
        caller then shows the latest stats again, on the run's own colour range."""
        if display is None:
            if self.scene.leave_frame():
                self._colors_dirty = True
                self.update()
            return
        self._scene_changed(self.scene.show_frame(display))

    @property
    def frame_display(self) -> FrameDisplay | None:
        """The backprop frame shown, or None in the live view."""
        return self.scene.frame

    def reset(self) -> None:
        """Forget the stats and unlock the colour range: a new run starts."""
        self._clear()
        self.update()

    def set_layer_colors(self, colors: list[QtGui.QColor]) -> None:
        """One colour per Linear layer (0 = first hidden layer ... last = output),
        used for the layer labels so they match the plot curves."""
        self._layer_colors = [QtGui.QColor(c) for c in colors]
        self.update()

    def set_auto_range(self, on: bool) -> None:
        """On: re-fit the colour range to every frame. Off (default): keep it fixed
        for the run (locked now, at the stats shown)."""
        scene = self.scene
        scene.auto = bool(on)
        if scene.source is not None:
            if on:
                self.show_stats(scene.source)
            else:
                scene.range_step = scene.stats.step
                self.update()

    def reapply_range(self) -> None:
        """Draw the live stats again after the scene's range mode or relative view changed."""
        scene = self.scene
        if scene.frame is None and scene.source is not None:
            stats, scene.source = scene.source, None
            self.show_stats(stats)
        self.update()

    def set_color_range(self, lo_hi: tuple[float, float]) -> None:
        """Lock the log colour scale to (lo, hi): e.g. one scale shared by two diagrams side
        by side, so equal colours mean equal gradients. Turns auto range off."""
        scene = self.scene
        scene.lock_range(lo_hi)
        if scene.source is not None:
            stats, scene.source = scene.source, None
            self.show_stats(stats)
            scene.range_step = stats.step

    def drawn_edge_count(self) -> int:
        return int(len(self.scene.edge_buckets))

    def drawn_edge_buckets(self, layer: int | None = None) -> np.ndarray:
        """Colour bucket (0 = weakest ... n_buckets-1 = strongest, n_buckets = NaN/inf) of
        every drawn edge, pair by pair, each pair in flat (out, in) index order;
        ``layer`` selects one layer pair (0 = input → hidden1)."""
        return self.scene.drawn_edge_buckets(layer)

    def node_buckets(self, layer: int) -> np.ndarray:
        """Colour bucket of every neuron of Linear layer ``layer``."""
        return self.scene.node_buckets[layer].copy()

    def node_position(self, layer: int, index: int) -> QtCore.QPointF:
        """Widget position of a node; ``layer`` -1 is the input column, 0.. the Linear layers."""
        self._ensure_layout()
        col = self.scene.column_of_layer(layer)
        return QtCore.QPointF(float(self._layout.x[col]), float(self._layout.y[col][index]))

    def skip_path(self, k: int) -> QtGui.QPainterPath:
        """Widget path of the k-th skip arc (``scene.skip_pairs()[k]``), below the nodes."""
        self._ensure_layout()
        return self._skip_arc(*self.scene.skip_pairs()[k])

    def label_band(self) -> QtCore.QRectF:
        """Where the column labels are drawn (above the diagram)."""
        self._ensure_layout()
        return QtCore.QRectF(self._label_band)

    # -- state -----------------------------------------------------------------
    def _clear(self) -> None:
        self.scene.reset()
        self._text_stats = self._text_key = self._text_pixmap = None
        self._overflow_memo = None
        self._skips_drawn: tuple = ()
        self._layout = topo.layout_nodes([], (0, 0, 1, 1))
        self._layout_dirty = True
        self._colors_dirty = True
        self._hover = None
        self._hover_text = ""
        # paint buffers (kept alive while Qt reads them)
        self._line_buf = np.zeros((0, 4))
        self._line_slices: list[tuple[int, int, int]] = []
        self._line_order = np.zeros(0, dtype=np.intp)
        self._point_buf = np.zeros((0, 2))
        self._point_slices: list[tuple[int, int, int]] = []
        self._input_buf = np.zeros((0, 2))
        self._strips: list[tuple[QtCore.QRectF, QtGui.QImage]] = []
        self._ensure_layout()

    # -- painting -----------------------------------------------------------------
    def _prepare_paint(self) -> None:
        self._ensure_buffers()

    def _paint_content(self, p: QtGui.QPainter) -> None:
        scene = self.scene
        if scene.sizes and scene.stats is not None:
            self._paint_diagram(p)
            if scene.live and scene.frame is None and isinstance(p.device(), QtWidgets.QWidget):
                self._paint_text_layer(p)
            else:
                self._paint_labels(p)
                self._paint_network_colorbar(p)
                self._paint_caption(p, self._caption_text(), self._legend_text())
        else:
            self._paint_placeholder(p, "No run yet: start training to see the gradients flow")
            self._paint_caption(p, self._caption_text(), self._legend_text())

    def _paint_text_layer(self, p: QtGui.QPainter) -> None:
        """While training: the labels, colour bar and caption from a pixmap that is redrawn
        only when their text changes, and their numbers change at most every TEXT_PERIOD_S
        (at display rate they could not be read anyway, and drawing text is ~2 ms a frame
        of GIL the trainer waits for)."""
        scene = self.scene
        now = time.monotonic()
        if self._text_stats is None or now - self._text_time >= TEXT_PERIOD_S:
            self._text_stats, self._text_time = scene.stats, now
        # objects by identity (a freed object's id can come back), the rest by value
        key = ((self._text_stats, self._layout, self._style),
               (scene.range, scene.range_step, scene.auto, self.width(), self.height(),
                tuple(c.rgba() for c in self._layer_colors), self.devicePixelRatioF()))
        cached = self._text_key
        if not (cached is not None and all(a is b for a, b in zip(cached[0], key[0])) and cached[1] == key[1]):
            dpr = self.devicePixelRatioF()
            pixmap = QtGui.QPixmap(max(1, round(self.width() * dpr)), max(1, round(self.height() * dpr)))
            pixmap.setDevicePixelRatio(dpr)
            pixmap.fill(QtCore.Qt.GlobalColor.transparent)
            q = QtGui.QPainter(pixmap)
            q.setRenderHints(p.renderHints())
            try:
                self._paint_labels(q, self._text_stats)
                self._paint_network_colorbar(q)
                self._paint_caption(q, self._caption_text(self._text_stats), self._legend_text())
            finally:
                q.end()
            self._text_pixmap, self._text_key = pixmap, key
        p.drawPixmap(0, 0, self._text_pixmap)

    def _column_labels(self) -> list[int]:
        n = len(self.scene.sizes)
        return [c for c in range(n) if (n - 1 - c) % self._label_stride == 0]

    def column_label(self, col: int, stats: StepStats) -> tuple[str, str]:
        """The two lines above column ``col``, abbreviated where the columns are too close."""
        layer = self.scene.layer_of_column(col)
        short = self._label_plan.short
        if layer < 0:
            return input_label(self.scene.sizes[0], short)
        lines = self.scene.layer_label(layer, stats)
        return short_label(lines) if short else lines

    def labelled_columns(self) -> list[int]:
        """The columns that get a label (all of them unless the network is too deep for that)."""
        self._ensure_layout()
        return self._column_labels()

    def _paint_labels(self, p: QtGui.QPainter, stats: StepStats | None = None) -> None:
        scene = self.scene
        label_font, _ = self._fonts()
        p.setFont(label_font)
        fm = QtGui.QFontMetricsF(label_font)
        line_h = fm.height()
        stats = stats if stats is not None else scene.stats
        n_layers = stats.n_layers
        colors = self._layer_colors if len(self._layer_colors) >= n_layers else layer_colors(n_layers)
        band = self._label_band
        labelled = self._column_labels()
        # stagger: the row alternates along the labelled columns (output on the bottom row)
        for k, col in enumerate(reversed(labelled)):
            row = (self._label_rows - 1 - k % self._label_rows) if self._label_rows > 1 else 0
            x = float(self._layout.x[col])
            top = band.top() + row * 2 * line_h
            layer = scene.layer_of_column(col)
            lines = self.column_label(col, stats)
            if layer < 0:
                p.setPen(self._dim)
            else:
                p.setPen(self._dim if scene.frame is not None and not lines[1] else colors[layer])
            for i, text in enumerate(lines):
                wdt = fm.horizontalAdvance(text)
                left = min(max(x - wdt / 2, band.left()), band.right() - wdt)
                p.drawText(QtCore.QPointF(left, top + i * line_h + fm.ascent()), text)

    def _paint_network_colorbar(self, p: QtGui.QPainter) -> None:
        if self.scene.range is None:
            return
        _, small = self._fonts()
        self._paint_colorbar(p, self.scene.colorbar_title(), self._bar_rect.left() - 4,
                             self._diagram.top() + QtGui.QFontMetricsF(small).ascent(), self._colorbar_img)

    def _caption_overflows(self) -> bool:
        # while training, the answer changes only with the text layer's stats or the layout:
        # kept between frames (finding it builds and wraps the caption, ~0.5 ms a frame)
        if not (self.scene.live and self.scene.frame is None and self._text_stats is not None):
            return super()._caption_overflows()
        key = (self._text_stats, self._layout, self.scene.selection)
        memo = self._overflow_memo
        if memo is None or any(a is not b for a, b in zip(memo[0], key)):
            self._overflow_memo = memo = (key, super()._caption_overflows())
        return memo[1]

    def _shown_caption(self) -> str:
        # while training, the text layer's caption: its numbers change every TEXT_PERIOD_S, so
        # its wrapped lines come from the cache instead of measuring every word at every frame
        if self.scene.live and self.scene.frame is None and self._text_stats is not None:
            return self._caption_text(self._text_stats)
        return self._caption_text()

    def _caption_text(self, stats: StepStats | None = None) -> str:
        strips: tuple[int, ...] = ()
        if self.scene.frame is None and self.scene.selection is not None:
            self._ensure_layout()
            strips = tuple(n for n, strip in zip(self.scene.sizes, self._strip_cols) if strip)
        return self.scene.caption(stats, strips)

    def _legend_text(self) -> str:
        return self.scene.legend(self._label_stride, short_labels=self._label_plan.short)

    # -- hover ----------------------------------------------------------------------
    def _hit(self, pos: QtCore.QPointF):
        """('node', col, index) | ('edge', sorted_index) | ('skip', k) | ('layer', col) | None."""
        if self.scene.stats is None or not self.scene.sizes:
            return None
        self._ensure_buffers()
        lay = self._layout
        x, y = pos.x(), pos.y()
        if self._label_band.contains(pos):
            col = int(np.argmin(np.abs(lay.x - x)))
            return ("layer", col)
        if not self._diagram.adjusted(-4, -4, 4, 4).contains(pos):
            return None
        # nearest node: nearest column, then nearest row
        col = int(np.argmin(np.abs(lay.x - x)))
        ys = lay.y[col]
        if len(ys):
            s = lay.spacing[col]
            idx = int(np.clip(round((y - ys[0]) / s), 0, len(ys) - 1)) if s > 0 else 0
            if self._strip_cols[col]:
                near = abs(x - lay.x[col]) <= self._strip_w / 2 + 3 and abs(y - ys[idx]) <= s / 2 + 1
            else:
                reach = max(self._radius, 4.0) + 1.5
                near = (x - lay.x[col]) ** 2 + (y - ys[idx]) ** 2 <= reach ** 2
            if near:
                return ("node", col, idx)
        for k, (a, b) in enumerate(self.scene.skip_pairs()):
            stroker = QtGui.QPainterPathStroker()
            stroker.setWidth(8.0)
            if stroker.createStroke(self._skip_arc(a, b)).contains(pos):
                return ("skip", k)
        # nearest drawn edge (vectorised point-to-segment distance)
        buf = self._line_buf
        if len(buf):
            x1, y1, x2, y2 = buf[:, 0], buf[:, 1], buf[:, 2], buf[:, 3]
            dx, dy = x2 - x1, y2 - y1
            ll = dx * dx + dy * dy
            with np.errstate(invalid="ignore", divide="ignore"):
                t = np.clip(((x - x1) * dx + (y - y1) * dy) / ll, 0.0, 1.0)
            t = np.nan_to_num(t)
            dist2 = (x1 + t * dx - x) ** 2 + (y1 + t * dy - y) ** 2
            i = int(np.argmax(np.where(dist2 == dist2.min(), np.arange(len(buf)), -1)))  # topmost = drawn last
            if dist2[i] <= EDGE_HIT_PX ** 2:
                return ("edge", i)
        return None

    def _hit_text(self, hit) -> str:
        if hit is None:
            return ""
        scene = self.scene
        kind = hit[0]
        if kind == "node":
            return scene.describe_node(scene.layer_of_column(hit[1]), hit[2])
        if kind == "edge":
            return scene.describe_edge(int(self._line_order[hit[1]]))
        if kind == "skip":
            return scene.describe_skip(hit[1])
        if kind == "layer":
            return scene.describe_layer(scene.layer_of_column(hit[1]))
        return ""

    def sizeHint(self) -> QtCore.QSize:
        return QtCore.QSize(900, 520)
