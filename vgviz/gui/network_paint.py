"""The pixels of NetworkView: geometry, paint buffers and the drawing of edges, nodes and skips.

A mixin of vgviz.gui.network_view.NetworkView (which holds the scene, the text and the
public API). Drawing cost (docs/performance.md#paint-cost-is-training-cost: a paint
holds the GIL and steals training time):

* geometry (column x, node y) is computed on resize / topology change only;
* ``_ensure_buffers`` gathers the line coordinates of the drawn edges into one
  C-contiguous (n, 4) float64 buffer sorted by bucket, and ``_paint_diagram`` hands each
  bucket's slice to ``QPainter.drawLines`` without creating Python objects; nodes are
  drawn with one ``drawPoints`` per bucket (round pens) or sprites on screen, or, for
  tall columns, as a one-pixel-per-neuron image strip.
"""
from __future__ import annotations

import math

import numpy as np
import shiboken6
from PySide6 import QtCore, QtGui

from vgviz.core.layout import network_diagram as topo
from vgviz.core.layout.labels import plan_labels, plan_short_labels, short_layer_name
from vgviz.gui.diagram_base import ANTIALIAS_MAX_EDGES, HIGHLIGHT

ANTIALIAS_MAX_NODES = 600
MAX_NODE_SPACING = 36.0
MAX_NODE_RADIUS = 9.0
MIN_NODE_RADIUS = 2.0     # below this a column is drawn as a strip
SKIP_ARC_ROOM = 26.0      # px below the nodes for residual skip paths
_SIZEOF_LINE = 4 * 8      # QLineF = 4 doubles
_SIZEOF_POINT = 2 * 8


class NetworkPainting:
    """Geometry and drawing of the diagram from ``self.scene`` (a NetworkScene) and the
    style's pens and colours; see the module docstring."""

    @staticmethod
    def _pen(color: QtGui.QColor, width: float) -> QtGui.QPen:
        pen = QtGui.QPen(color)
        pen.setWidthF(width)
        pen.setCapStyle(QtCore.Qt.PenCapStyle.FlatCap)
        return pen

    def _make_colorbar_image(self) -> QtGui.QImage:
        img = QtGui.QImage(1, self.scene.n_buckets, QtGui.QImage.Format.Format_RGB32)
        for b in range(self.scene.n_buckets):
            img.setPixelColor(0, self.scene.n_buckets - 1 - b, self._qcolors[b])   # strongest at the top
        return img

    def _ensure_layout(self) -> None:
        if not self._layout_dirty:
            return
        self._layout_dirty = False
        self._colors_dirty = True
        label_font, small_font = self._fonts()
        fm = QtGui.QFontMetricsF(label_font)
        sfm = QtGui.QFontMetricsF(small_font)
        w, h = float(self.width()), float(self.height())
        line_h = fm.height()
        bar_label_w = sfm.horizontalAdvance("≤1e-88") + 6
        self._bar_w = 14.0
        right = self._bar_w + bar_label_w + 14
        ncols = max(len(self.scene.sizes), 1)
        avail = max(w - 12 - right, 10.0)
        widest = (lambda texts: max(fm.horizontalAdvance(t) for t in texts) + 10)
        names = list(self.scene.stats.layer_names) if self.scene.stats is not None else [f"hidden{max(ncols, 10)}"]
        full_w = widest((*names, "‖∇W‖ 8.8e-88", "mean |a| 0.88", "88 features"))
        short_w = widest((*map(short_layer_name, names), "8.8e-88", "88 feat."))

        def column_gap(label_w: float) -> tuple[float, float]:
            """(inset, gap): the columns inset so the first and last labels, centred on them, fit."""
            inset = 0.0
            if ncols > 1:
                for _ in range(3):
                    inset = max(0.0, label_w / 2 - (avail - 2 * inset) / ncols / 2)
            return inset, (avail - 2 * inset) / ncols

        # column labels never overlap: staggered on two rows, abbreviated, thinned out last
        inset, gap = column_gap(full_w)
        plan = plan_labels(gap, full_w, short_w)
        if plan.short:
            inset, gap = column_gap(short_w)   # short labels need less inset: the columns spread out
            plan = plan_short_labels(gap, short_w)
        self._label_plan = plan
        self._label_stride, self._label_rows = plan.stride, plan.rows
        top = 6 + plan.rows * 2 * line_h + 8
        caption_h = self.caption_rows(w - 16, 3) * sfm.height() + 10   # the caption, then the legend, wrapped
        self._diagram = QtCore.QRectF(6, top, avail, max(h - top - caption_h, 10))
        self._label_band = QtCore.QRectF(6, 4, avail, top - 6)
        self._caption_rect = QtCore.QRectF(8, h - caption_h + 2, w - 16, caption_h - 4)
        bar_top = self._diagram.top() + 2 * sfm.height()
        self._bar_rect = QtCore.QRectF(w - right + 8, bar_top, self._bar_w,
                                       max(self._diagram.bottom() - bar_top - sfm.height() / 2, 10))
        d = self._diagram
        pad = 4.0
        arc_room = SKIP_ARC_ROOM if self.scene.skip_pairs() else 0.0  # skip paths run below the nodes
        self._layout = topo.layout_nodes(self.scene.sizes, (d.left() + inset, d.top() + pad, d.width() - 2 * inset,
                                                        d.height() - 2 * pad - arc_room),
                                         max_spacing=MAX_NODE_SPACING)
        lay = self._layout
        # one radius for all circle columns; a column whose neurons are too close
        # vertically for circles (or wider than STRIP_THRESHOLD) becomes a strip,
        # one pixel row band per neuron. Narrow column gaps only shrink the circles.
        self._strip_cols = np.array([n > topo.STRIP_THRESHOLD or 0.42 * lay.spacing[c] < MIN_NODE_RADIUS
                                     for c, n in enumerate(self.scene.sizes)], dtype=bool)
        radius = min(MAX_NODE_RADIUS, 0.2 * lay.column_gap)
        circle_spacing = [lay.spacing[c] for c in range(len(self.scene.sizes)) if not self._strip_cols[c]]
        if circle_spacing:
            radius = min(radius, 0.42 * min(circle_spacing))
        self._radius = max(radius, 1.0)
        self._strip_w = float(np.clip(0.3 * lay.column_gap, 2.0, 10.0))
        self._input_buf = (np.ascontiguousarray(lay.positions(0), dtype=np.float64)
                           if self.scene.has_input and self.scene.sizes else np.zeros((0, 2)))
        if self.scene.has_input and self._strip_cols[0]:
            self._input_buf = np.zeros((0, 2))

    # -- colour buffers ---------------------------------------------------------
    def _ensure_buffers(self) -> None:
        self._ensure_layout()
        if not self._colors_dirty:
            return
        self._colors_dirty = False
        lay = self._layout
        # edges: gather line coordinates, then sort by bucket (weak first) into one buffer
        if self.scene.selection is not None and len(self.scene.edge_buckets):
            # all layer pairs at once: flat index out * n_in + in → the two end points
            pair, flat = self.scene.drawn.pair, self.scene.drawn.flat
            xs, y_all, y_start, n_in_of_pair = self._node_coords()
            n_in = n_in_of_pair[pair]
            lines = np.empty((len(flat), 4))
            lines[:, 0] = xs[pair]
            lines[:, 1] = y_all[y_start[pair] + flat % n_in]
            lines[:, 2] = xs[pair + 1]
            lines[:, 3] = y_all[y_start[pair + 1] + flat // n_in]
            order = np.argsort(self._draw_order_key(self.scene.edge_buckets), kind="stable")
            self._line_order = order
            self._line_buf = np.ascontiguousarray(lines[order])
            self._line_slices = self._slices(self.scene.edge_buckets[order])
        else:
            self._line_order = np.zeros(0, dtype=np.intp)
            self._line_buf = np.zeros((0, 4))
            self._line_slices = []
        # nodes of Linear layers: circles (points grouped by bucket) or strips (an image column)
        circle_layers, bks = [], []
        self._strips = []
        for layer, buckets in enumerate(self.scene.node_buckets):
            col = self.scene.column_of_layer(layer)
            if col >= len(self.scene.sizes):
                continue
            if self._strip_cols[col]:
                self._strips.append((self._strip_rect(col), self._strip_image(buckets)))
            else:
                circle_layers.append(layer)
                bks.append(buckets)
        if self.scene.has_input and self._strip_cols[0]:
            img = QtGui.QImage(1, self.scene.sizes[0], QtGui.QImage.Format.Format_RGB32)
            img.fill(self._input)
            self._strips.insert(0, (self._strip_rect(0), img))
        if circle_layers:
            key = (lay, tuple(circle_layers))
            cached = self._circle_key
            if cached is None or cached[0] is not lay or cached[1] != key[1]:  # centres move with the layout
                self._circle_pos = np.concatenate([lay.positions(self.scene.column_of_layer(l)) for l in circle_layers])
                self._circle_key = key
            allb = np.concatenate(bks)
            order = np.argsort(self._draw_order_key(allb), kind="stable")
            self._point_buf = np.ascontiguousarray(self._circle_pos[order], dtype=np.float64)
            self._point_slices = self._slices(allb[order])
        else:
            self._point_buf = np.zeros((0, 2))
            self._point_slices = []

    def _node_coords(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(column x, every node's y, where each column starts in it, inputs per layer pair),
        kept with the layout they were computed for."""
        lay = self._layout
        if self._coords_layout is not lay:
            sizes = np.asarray(self.scene.sizes)
            self._coords = (np.asarray(lay.x, dtype=np.float64), np.concatenate(lay.y),
                            np.concatenate([[0], np.cumsum(sizes)[:-1]]), sizes[:-1])
            self._coords_layout = lay
        return self._coords

    def _draw_order_key(self, buckets: np.ndarray) -> np.ndarray:
        """Weak first so strong edges sit on top; unlit (grey) below everything."""
        return np.where(buckets == self.scene.n_buckets + 1, -1, buckets)

    @staticmethod
    def _slices(sorted_buckets: np.ndarray) -> list[tuple[int, int, int]]:
        """(bucket, start, end) runs of a sorted bucket array."""
        if not len(sorted_buckets):
            return []
        cuts = np.flatnonzero(np.diff(sorted_buckets)) + 1
        starts = np.concatenate([[0], cuts])
        ends = np.concatenate([cuts, [len(sorted_buckets)]])
        return [(int(sorted_buckets[s]), int(s), int(e)) for s, e in zip(starts, ends)]

    def _strip_rect(self, col: int) -> QtCore.QRectF:
        lay = self._layout
        ys, s = lay.y[col], lay.spacing[col]
        return QtCore.QRectF(lay.x[col] - self._strip_w / 2, ys[0] - s / 2, self._strip_w, s * len(ys))

    def _strip_image(self, buckets: np.ndarray) -> QtGui.QImage:
        px = np.ascontiguousarray(self._argb[buckets])
        img = QtGui.QImage(px.data, 1, len(px), 4, QtGui.QImage.Format.Format_RGB32)
        return img.copy()   # own the pixels


    def _paint_diagram(self, p: QtGui.QPainter) -> None:
        d = self._diagram
        p.setClipRect(d.adjusted(-2, -2, 2, 2))
        n_edges = len(self._line_buf)
        small = n_edges <= ANTIALIAS_MAX_EDGES
        # While training the diagram repaints at display rate and every paint holds the GIL the
        # trainer needs: thousands of antialiased wide lines (the lecture theme) cost 3x more.
        # Paused, and in exports, the style's full quality.
        aa_limit = self._style.antialias_max_edges
        if self.scene.live and self._on_screen(p):
            aa_limit = min(aa_limit, ANTIALIAS_MAX_EDGES)
        p.setRenderHint(QtGui.QPainter.RenderHint.Antialiasing, n_edges <= aa_limit)
        pens = self._wide_pens if small else self._thin_pens
        base = self._line_buf.ctypes.data
        for b, s, e in self._line_slices:
            p.setPen(pens[b])
            p.drawLines(shiboken6.wrapInstance(base + s * _SIZEOF_LINE, QtCore.QLineF), e - s)
        # nodes
        n_points = len(self._point_buf) + len(self._input_buf)
        p.setRenderHint(QtGui.QPainter.RenderHint.Antialiasing, n_points <= ANTIALIAS_MAX_NODES)
        r = self._radius
        round_pen = QtGui.QPen(self._outline)
        round_pen.setCapStyle(QtCore.Qt.PenCapStyle.RoundCap)
        if len(self._point_buf) and self._on_screen(p):
            # On screen: stamp pre-drawn circles (one pixmap per colour) from a numpy buffer of
            # QPainter::PixmapFragment — ~7x cheaper than round-pen points (benchmarks/bench_nodes.py).
            # Exports (scaled PNG, SVG) keep the vector circles below.
            self._paint_node_sprites(p)
            if len(self._input_buf):
                round_pen.setWidthF(2 * r + 2)
                p.setPen(round_pen)
                p.drawPoints(shiboken6.wrapInstance(self._input_buf.ctypes.data, QtCore.QPointF), len(self._input_buf))
                round_pen.setWidthF(2 * r)
                round_pen.setColor(self._input)
                p.setPen(round_pen)
                p.drawPoints(shiboken6.wrapInstance(self._input_buf.ctypes.data, QtCore.QPointF), len(self._input_buf))
        elif n_points:
            round_pen.setWidthF(2 * r + 2)
            p.setPen(round_pen)
            for buf in (self._input_buf, self._point_buf):
                if len(buf):
                    p.drawPoints(shiboken6.wrapInstance(buf.ctypes.data, QtCore.QPointF), len(buf))
            round_pen.setWidthF(2 * r)
            if len(self._input_buf):
                round_pen.setColor(self._input)
                p.setPen(round_pen)
                p.drawPoints(shiboken6.wrapInstance(self._input_buf.ctypes.data, QtCore.QPointF),
                             len(self._input_buf))
            base = self._point_buf.ctypes.data
            for b, s, e in self._point_slices:
                round_pen.setColor(self._qcolors[b])
                p.setPen(round_pen)
                p.drawPoints(shiboken6.wrapInstance(base + s * _SIZEOF_POINT, QtCore.QPointF), e - s)
        if self._strips:
            p.setPen(QtGui.QPen(self._outline, 1.0))
            p.setRenderHint(QtGui.QPainter.RenderHint.SmoothPixmapTransform, False)
            for rect, img in self._strips:
                p.drawImage(rect, img)
                p.drawRect(rect.adjusted(-0.5, -0.5, 0.5, 0.5))
        self._paint_skips(p)
        self._paint_hover(p)
        p.setClipping(False)
        p.setRenderHint(QtGui.QPainter.RenderHint.Antialiasing, True)

    @staticmethod
    def _on_screen(p: QtGui.QPainter) -> bool:
        """A plain raster paint at 1:1 (the window), not an export at a scale or to SVG."""
        engine = p.paintEngine()
        t = p.deviceTransform()
        return (engine is not None and engine.type() == QtGui.QPaintEngine.Type.Raster
                and abs(t.m11() - 1.0) < 1e-9 and abs(t.m22() - 1.0) < 1e-9 and p.device().devicePixelRatioF() == 1.0)

    def _paint_node_sprites(self, p: QtGui.QPainter) -> None:
        r = self._radius
        key = (round(r, 3), self._outline.rgba(), tuple(c.rgba() for c in self._qcolors))
        if getattr(self, "_sprite_key", None) != key:
            size = int(math.ceil(2 * r + 3))
            sprites = []
            for color in self._qcolors:
                pm = QtGui.QPixmap(size, size)
                pm.fill(QtCore.Qt.GlobalColor.transparent)
                q = QtGui.QPainter(pm)
                q.setRenderHint(QtGui.QPainter.RenderHint.Antialiasing, True)
                q.setPen(QtGui.QPen(self._outline, 1.0))
                q.setBrush(color)
                q.drawEllipse(QtCore.QPointF(size / 2, size / 2), r + 0.5, r + 0.5)
                q.end()
                sprites.append(pm)
            self._sprites, self._sprite_size, self._sprite_key = sprites, size, key
            self._frag_key = None
        if getattr(self, "_frag_key", None) is not self._point_buf:
            frags = np.zeros((len(self._point_buf), 10))  # x, y, sx, sy, w, h, scaleX, scaleY, rotation, opacity
            frags[:, 0:2] = self._point_buf
            frags[:, 4:6] = self._sprite_size
            frags[:, 6:8] = 1.0
            frags[:, 9] = 1.0
            self._frags, self._frag_key = frags, self._point_buf
        base = self._frags.ctypes.data
        for b, s, e in self._point_slices:
            p.drawPixmapFragments(shiboken6.wrapInstance(base + s * 80, QtGui.QPainter.PixmapFragment), e - s,
                                  self._sprites[b])

    def _skip_arc(self, a: int, b: int) -> QtGui.QPainterPath:
        """The path of the skip from Linear a's output column to Linear b's, below the nodes."""
        lay = self._layout
        ca, cb = self.scene.column_of_layer(a), self.scene.column_of_layer(b)
        y0 = max(float(lay.y[ca][-1]), float(lay.y[cb][-1])) + self._radius + 3
        depth = SKIP_ARC_ROOM - 6
        path = QtGui.QPainterPath(QtCore.QPointF(lay.x[ca], y0))
        path.cubicTo(QtCore.QPointF(lay.x[ca], y0 + depth), QtCore.QPointF(lay.x[cb], y0 + depth),
                     QtCore.QPointF(lay.x[cb], y0))
        return path

    def _paint_skips(self, p: QtGui.QPainter) -> None:
        pairs = self.scene.skip_pairs()
        self._skips_drawn = pairs
        if not pairs:
            return
        p.setRenderHint(QtGui.QPainter.RenderHint.Antialiasing, True)
        p.setBrush(QtCore.Qt.BrushStyle.NoBrush)
        for k, (a, b) in enumerate(pairs):
            bucket = int(self.scene.skip_buckets[k]) if k < len(self.scene.skip_buckets) else self.scene.n_buckets + 1
            pen = QtGui.QPen(self._qcolors[bucket], 3.0)
            pen.setCapStyle(QtCore.Qt.PenCapStyle.RoundCap)
            p.setPen(pen)
            p.drawPath(self._skip_arc(a, b))

    def _paint_hover(self, p: QtGui.QPainter) -> None:
        hit = self._hover
        if hit is None:
            return
        p.setRenderHint(QtGui.QPainter.RenderHint.Antialiasing, True)
        if hit[0] == "skip":
            p.setPen(QtGui.QPen(HIGHLIGHT, 1.5))
            p.setBrush(QtCore.Qt.BrushStyle.NoBrush)
            p.drawPath(self._skip_arc(*self.scene.skip_pairs()[hit[1]]))
        elif hit[0] == "edge":
            seg = self._line_buf[hit[1]]
            p.setPen(QtGui.QPen(self._highlight, 2.0))
            p.drawLine(QtCore.QLineF(*seg))
        elif hit[0] == "node":
            col, idx = hit[1], hit[2]
            x, y = self._layout.x[col], self._layout.y[col][idx]
            p.setPen(QtGui.QPen(self._highlight, 1.5))
            p.setBrush(QtCore.Qt.BrushStyle.NoBrush)
            if self._strip_cols[col]:
                s = self._layout.spacing[col]
                p.drawRect(QtCore.QRectF(x - self._strip_w / 2 - 2, y - s / 2 - 1, self._strip_w + 4, s + 2))
            else:
                rr = self._radius + 2.5
                p.drawEllipse(QtCore.QPointF(x, y), rr, rr)
