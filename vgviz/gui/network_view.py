"""NetworkView: the network diagram, coloured by gradient magnitude.

Edges are coloured by |dL/dW_ij| and nodes by the batch-mean |δ_j| of their
neuron, on one log colour scale (viridis: perceptually uniform and
colour-blind safe) with a colour bar at the right. The scale is locked at the
first stats of a run so that colours of later steps can be compared with it
(``set_auto_range(True)`` re-fits every frame instead).

Drawing cost (docs/performance.md#paint-cost-is-training-cost: a paint holds the GIL and steals training time):

* geometry (column x, node y) is computed on resize / topology change only;
* ``show_stats`` selects the drawn edges and their colour buckets (numpy);
* ``paintEvent`` gathers the line coordinates of the drawn edges into one
  C-contiguous (n, 4) float64 buffer sorted by bucket and hands each bucket's
  slice to ``QPainter.drawLines`` without creating Python objects; nodes are
  drawn with one ``drawPoints`` per bucket (round pens) or, for tall columns,
  as a one-pixel-per-neuron image strip.
* Above ``edge_budget`` edges (default 4,000) only the strongest edges of each
  layer pair are drawn, and the caption says so (vgviz.core.layout.network_diagram).
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import pyqtgraph as pg
import shiboken6
from PySide6 import QtCore, QtGui, QtWidgets

from vgviz.core.backprop.frames import FrameDisplay
from vgviz.core.layout import network_diagram as topo
from vgviz.core.measure.stats import StepStats
from vgviz.gui.colorbar import draw_log_colorbar
from vgviz.gui.hover import HoverTooltip

N_BUCKETS = 64
BACKGROUND = QtGui.QColor("#14161b")
TEXT = QtGui.QColor("#d8dbe2")
DIM_TEXT = QtGui.QColor("#9aa0ab")
NODE_OUTLINE = QtGui.QColor("#6b7180")
INPUT_NODE = QtGui.QColor("#9aa0a6")
HIGHLIGHT = QtGui.QColor("#ffffff")
UNLIT = QtGui.QColor("#3a3e48")         # backprop frames: layers the signal has not reached yet
NON_FINITE = QtGui.QColor("#ff3b30")   # NaN / inf gradients: a colour viridis never uses
ANTIALIAS_MAX_EDGES = 1000
TEXT_PERIOD_S = 0.25   # while training, the labels' numbers and the caption change at most this often
# While training, at most this many edges (the strongest of each layer pair); paused, and in
# pictures, edge_budget. Line drawing is most of a frame, and every frame holds the GIL.
LIVE_EDGE_BUDGET = 2000
ANTIALIAS_MAX_NODES = 600
MAX_NODE_SPACING = 36.0
MAX_NODE_RADIUS = 9.0
MIN_NODE_RADIUS = 2.0     # below this a column is drawn as a strip
EDGE_HIT_PX = 4.0
SKIP_ARC_ROOM = 26.0      # px below the nodes for residual skip paths
_SIZEOF_LINE = 4 * 8      # QLineF = 4 doubles
_SIZEOF_POINT = 2 * 8


def layer_colors(n: int) -> list[QtGui.QColor]:
    """``n`` distinguishable colours for layers 0..n-1 (first hidden layer ...
    output), readable as text and curves on a dark background: a hue sweep from
    orange through green and blue to magenta at constant, high lightness."""
    if n <= 0:
        return []
    if n == 1:
        return [QtGui.QColor.fromHslF(0.08, 0.85, 0.62)]
    hues = np.linspace(0.08, 0.08 + 0.80, n) % 1.0
    return [QtGui.QColor.fromHslF(float(h), 0.80, 0.64) for h in hues]


def _fmt(v: float) -> str:
    return f"{v:.3e}"


def diagram_fonts(font: QtGui.QFont) -> tuple[QtGui.QFont, QtGui.QFont]:
    """The label and small fonts of the diagram views, from the widget's font (a theme's size)."""
    label = QtGui.QFont(font)
    label.setPointSizeF(max(8.0, label.pointSizeF() * 0.95))
    small = QtGui.QFont(font)
    small.setPointSizeF(max(7.5, small.pointSizeF() * 0.85))
    return label, small


@dataclass(frozen=True)
class DiagramStyle:
    """Colours and line weights of the diagram: the dark default here; vgviz.gui.theme
    makes the light lecture style. Colours are '#rrggbb' strings."""

    background: str = BACKGROUND.name()
    text: str = TEXT.name()
    dim_text: str = DIM_TEXT.name()
    node_outline: str = NODE_OUTLINE.name()
    input_node: str = INPUT_NODE.name()
    highlight: str = HIGHLIGHT.name()
    unlit: str = UNLIT.name()
    colormap: str = "viridis"                   # a pyqtgraph colour map name
    colormap_range: tuple[float, float] = (0.0, 1.0)  # the part of the map used, weakest → strongest
    edge_width: float = 1.0                     # multiplies every edge width
    antialias_max_edges: int = ANTIALIAS_MAX_EDGES


class NetworkView(HoverTooltip, QtWidgets.QWidget):
    """The gradient-coloured network diagram. Views only read: ``show_stats``."""

    def __init__(self, parent: QtWidgets.QWidget | None = None, *,
                 edge_budget: int = topo.DEFAULT_EDGE_BUDGET, n_buckets: int = N_BUCKETS,
                 colormap: str = "viridis"):
        super().__init__(parent)
        self.setMouseTracking(True)
        self.setAttribute(QtCore.Qt.WidgetAttribute.WA_OpaquePaintEvent)
        self.setMinimumSize(320, 200)
        self.setSizePolicy(QtWidgets.QSizePolicy.Policy.Expanding, QtWidgets.QSizePolicy.Policy.Expanding)
        self._budget = int(edge_budget)
        self._k = int(n_buckets)
        self._live = False
        self._text_time = 0.0  # while live: when the text layer's numbers last changed (see _clear)
        self._circle_key = None  # the layout and layers _circle_pos (node centres, concatenated) is for
        self._circle_pos = np.zeros((0, 2))
        self.set_style(DiagramStyle(colormap=colormap))
        self._frame: FrameDisplay | None = None
        self._live_range: tuple[float, float] | None = None
        self._layer_colors: list[QtGui.QColor] = []
        self._auto = False
        self.last_paint_ms = 0.0
        self._clear()

    def set_style(self, style: DiagramStyle) -> None:
        """Colours, colour map and line weights; the numbers drawn are unchanged."""
        self._style = style
        (self._bg, self._text, self._dim, self._outline, self._input, self._highlight, self._unlit) = (
            QtGui.QColor(c) for c in (style.background, style.text, style.dim_text, style.node_outline,
                                      style.input_node, style.highlight, style.unlit))
        lo, hi = style.colormap_range
        cmap = pg.colormap.get(style.colormap)
        lut = cmap.getLookupTable(start=min(lo, hi), stop=max(lo, hi), nPts=self._k, alpha=False)
        self._lut = np.ascontiguousarray(lut if lo <= hi else lut[::-1])
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
        self._wide_pens = [self._pen(c, scale * (0.8 + 2.2 * min(b, self._k - 1) / max(self._k - 1, 1)))
                           for b, c in enumerate(self._qcolors)]
        self._wide_pens[self._k + 1] = self._pen(self._unlit, 0.8 * scale)
        self._colors_dirty = True
        self.update()

    def diagram_style(self) -> DiagramStyle:
        return self._style

    @property
    def live(self) -> bool:
        return self._live

    def set_live(self, on: bool) -> None:
        """True while a run trains: at most LIVE_EDGE_BUDGET edges, drawn without antialiasing
        on screen, and the labels' numbers and the caption change at most every TEXT_PERIOD_S."""
        if bool(on) != self._live:
            self._live = bool(on)
            self._text_stats = self._text_key = self._text_pixmap = None
            if self._stats is not None and self._frame is None:   # re-select the edges for the budget
                stats, self._stats = self._stats, None
                self.show_stats(stats)
            self.update()

    # -- public API ------------------------------------------------------------
    def show_stats(self, stats: StepStats | None) -> None:
        """Show one step's numbers: recolour (and re-select edges). Cheap; call at display rate."""
        if stats is None:
            self._stats = None
            self.update()
            return
        if stats is self._stats and not self._auto:
            return                      # same frame again: nothing to recompute
        has_input = stats.edge_abs is not None and len(stats.edge_abs) > 0
        if has_input:
            sizes = topo.layer_sizes(stats.edge_abs)
        else:
            sizes = [len(d) for d in stats.delta_mean_abs]
        if sizes != self._sizes or has_input != self._has_input:
            if self._sizes:              # a different network: a new run
                self._range = None
            self._sizes, self._has_input = sizes, has_input
            self._layout_dirty = True
        self._stats = stats
        if self._auto or self._range is None:
            source = stats.edge_abs if has_input else stats.delta_mean_abs
            self._range = topo.default_color_range(source)
            self._range_step = stats.step
        # edges: which are drawn, and their buckets, in fixed order (pair-major, flat index)
        if has_input:
            budget = min(self._budget, LIVE_EDGE_BUDGET) if self._live else self._budget
            sel = topo.reduce_edges(stats.edge_abs, max(budget, len(stats.edge_abs)))
            self._sel = sel
            values = [e.ravel()[i] for e, i in zip(stats.edge_abs, sel.indices)]
            self._edge_values = np.concatenate(values).astype(np.float64) if values else np.zeros(0)
            self._edge_pair_start = np.concatenate([[0], np.cumsum([len(i) for i in sel.indices])])
        else:
            self._sel = None
            self._edge_values = np.zeros(0)
            self._edge_pair_start = np.zeros(1, dtype=np.intp)
            self._edge_buckets = np.zeros(0, dtype=np.intp)
        # every bucket in one binning call (edges, then nodes, then skip arcs): at display
        # rate each numpy call costs the training thread time through the GIL
        nodes = stats.delta_mean_abs
        skips = stats.skip_grad if stats.skip_grad is not None else np.zeros(0)
        node_ends = np.cumsum([len(d) for d in nodes], dtype=np.intp)
        buckets = self._bin(np.concatenate([self._edge_values, *nodes, np.asarray(skips, dtype=np.float64)]))
        n_edges = len(self._edge_values)
        self._edge_buckets = buckets[:n_edges]
        node_part = buckets[n_edges:]
        self._node_buckets = np.split(node_part[:node_ends[-1] if len(nodes) else 0], node_ends[:-1])
        self._skip_buckets = node_part[node_ends[-1] if len(nodes) else 0:]
        if bool(stats.skip_connections) != bool(self._skips_drawn):
            self._layout_dirty = True  # make (or give back) room for the arcs
        self._colors_dirty = True
        self._hover = None
        self.update()

    def show_frame(self, display: FrameDisplay | None) -> None:
        """Show one backprop frame (vgviz.core.backprop.frames.BackpropTrace.display) instead of live stats;
        layers the frame has not reached are grey. None returns to the live view: the
        caller then shows the latest stats again, on the run's own colour range."""
        if display is None:
            if self._frame is not None:
                self._frame = None
                self._range = self._live_range
                self._stats = None
                self._colors_dirty = True
                self.update()
            return
        if self._frame is None:
            self._live_range = self._range
        self._frame = display
        sizes = display.layer_sizes
        edges = tuple(e if e is not None else np.zeros((sizes[i + 1], sizes[i]))
                      for i, e in enumerate(display.edge_values))
        nodes = tuple(v if v is not None else np.zeros(sizes[i + 1]) for i, v in enumerate(display.node_values))
        zeros = np.zeros(len(nodes))
        skip_values = np.array([0.0 if v is None else v for v in display.skip_values], dtype=np.float64)
        stats = StepStats(step=0, loss=float("nan"), accuracy=float("nan"), diverged=False,
                          layer_names=tuple(display.layer_names), grad_mean_abs=zeros, grad_l2=zeros.copy(),
                          delta_l2=zeros.copy(), delta_mean_abs=nodes, edge_abs=edges,
                          skip_grad=skip_values, skip_connections=tuple(display.skip_connections))
        auto, self._auto = self._auto, False
        self._range = display.color_range
        self._stats = None
        try:
            self.show_stats(stats)
        finally:
            self._auto = auto
        self._range = display.color_range
        unlit = self._k + 1
        for layer, values in enumerate(display.edge_values):
            if values is None:
                a, b = self._edge_pair_start[layer], self._edge_pair_start[layer + 1]
                self._edge_buckets[a:b] = unlit
        for layer, values in enumerate(display.node_values):
            if values is None:
                self._node_buckets[layer][:] = unlit
        for k, value in enumerate(display.skip_values):
            if value is None:
                self._skip_buckets[k] = unlit
        self._colors_dirty = True
        self.update()

    @property
    def frame_display(self) -> FrameDisplay | None:
        """The backprop frame shown, or None in the live view."""
        return self._frame

    def _bin(self, values: np.ndarray) -> np.ndarray:
        buckets = topo.bin_log(values, *self._range, self._k)
        bad = ~np.isfinite(values)
        if bad.any():
            buckets[bad] = self._k
        return buckets

    def reset(self) -> None:
        """Forget the stats and unlock the colour range: a new run starts."""
        self._frame = None
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
        self._auto = bool(on)
        if self._stats is not None:
            if on:
                self.show_stats(self._stats)
            else:
                self._range_step = self._stats.step
                self.update()

    def set_color_range(self, lo_hi: tuple[float, float]) -> None:
        """Lock the log colour scale to (lo, hi): e.g. one scale shared by two diagrams side
        by side, so equal colours mean equal gradients. Turns auto range off."""
        self._range = (float(lo_hi[0]), float(lo_hi[1]))
        self._auto = False
        if self._stats is not None:
            stats, self._stats = self._stats, None
            self.show_stats(stats)
            self._range_step = stats.step

    def auto_range(self) -> bool:
        return self._auto

    def color_range(self) -> tuple[float, float] | None:
        """(lo, hi) of the log colour scale; None before the first stats of a run."""
        return self._range

    def caption(self) -> str:
        """The sentence under the diagram saying what is drawn."""
        return self._caption_text()

    def drawn_edge_count(self) -> int:
        return int(len(self._edge_buckets))

    def drawn_edge_buckets(self, layer: int | None = None) -> np.ndarray:
        """Colour bucket (0 = weakest ... n_buckets-1 = strongest, n_buckets = NaN/inf) of
        every drawn edge, pair by pair, each pair in flat (out, in) index order;
        ``layer`` selects one layer pair (0 = input → hidden1)."""
        if layer is None:
            return self._edge_buckets.copy()
        a, b = self._edge_pair_start[layer], self._edge_pair_start[layer + 1]
        return self._edge_buckets[a:b].copy()

    def node_buckets(self, layer: int) -> np.ndarray:
        """Colour bucket of every neuron of Linear layer ``layer``."""
        return self._node_buckets[layer].copy()

    def node_position(self, layer: int, index: int) -> QtCore.QPointF:
        """Widget position of a node; ``layer`` -1 is the input column, 0.. the Linear layers."""
        self._ensure_layout()
        col = self._column_of_layer(layer)
        return QtCore.QPointF(float(self._layout.x[col]), float(self._layout.y[col][index]))

    def tooltip_at(self, pos: QtCore.QPointF | QtCore.QPoint) -> str:
        """The hover text for a widget position: the nearest node or drawn edge, or a
        column header's layer summary; '' if nothing is near."""
        hit = self._hit(QtCore.QPointF(pos))
        return self._hit_text(hit)

    # -- state -----------------------------------------------------------------
    def _clear(self) -> None:
        self._stats: StepStats | None = None
        self._text_stats = self._text_key = self._text_pixmap = None
        self._range: tuple[float, float] | None = None
        self._range_step = 0
        self._sizes: list[int] = []
        self._has_input = False
        self._sel: topo.EdgeSelection | None = None
        self._edge_values = np.zeros(0)
        self._edge_pair_start = np.zeros(1, dtype=np.intp)
        self._edge_buckets = np.zeros(0, dtype=np.intp)
        self._node_buckets: list[np.ndarray] = []
        self._skip_buckets = np.zeros(0, np.intp)
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

    def _column_of_layer(self, layer: int) -> int:
        return layer + 1 if self._has_input else layer

    def _layer_of_column(self, col: int) -> int:
        return col - 1 if self._has_input else col

    # -- layout ------------------------------------------------------------------
    @staticmethod
    def _pen(color: QtGui.QColor, width: float) -> QtGui.QPen:
        pen = QtGui.QPen(color)
        pen.setWidthF(width)
        pen.setCapStyle(QtCore.Qt.PenCapStyle.FlatCap)
        return pen

    def _make_colorbar_image(self) -> QtGui.QImage:
        img = QtGui.QImage(1, self._k, QtGui.QImage.Format.Format_RGB32)
        for b in range(self._k):
            img.setPixelColor(0, self._k - 1 - b, self._qcolors[b])   # strongest at the top
        return img

    def resizeEvent(self, event: QtGui.QResizeEvent) -> None:
        self._layout_dirty = True
        super().resizeEvent(event)

    def _fonts(self) -> tuple[QtGui.QFont, QtGui.QFont]:
        return diagram_fonts(self.font())

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
        ncols = max(len(self._sizes), 1)
        avail = max(w - 12 - right, 10.0)
        label_w = max(fm.horizontalAdvance(f"hidden{max(ncols, 10)}"), fm.horizontalAdvance("‖∇W‖ 8.8e-88")) + 10
        # inset the columns so the first and last labels, centred on their columns, fit
        inset = 0.0
        if ncols > 1:
            for _ in range(3):
                inset = max(0.0, label_w / 2 - (avail - 2 * inset) / ncols / 2)
        gap = (avail - 2 * inset) / ncols
        # column labels: thin out (and stagger on two rows) so they never overlap
        stride, rows = 1, 1
        if label_w > gap:
            rows = 2
            stride = max(1, math.ceil(label_w / (2 * gap)))
        self._label_stride, self._label_rows = stride, rows
        top = 6 + rows * 2 * line_h + 8
        caption_h = 2 * sfm.height() + 10
        self._diagram = QtCore.QRectF(6, top, avail, max(h - top - caption_h, 10))
        self._label_band = QtCore.QRectF(6, 4, avail, top - 6)
        self._caption_rect = QtCore.QRectF(8, h - caption_h + 2, w - 16, caption_h - 4)
        bar_top = self._diagram.top() + 2 * sfm.height()
        self._bar_rect = QtCore.QRectF(w - right + 8, bar_top, self._bar_w,
                                       max(self._diagram.bottom() - bar_top - sfm.height() / 2, 10))
        d = self._diagram
        pad = 4.0
        arc_room = SKIP_ARC_ROOM if self._skip_pairs() else 0.0  # skip paths run below the nodes
        self._layout = topo.layout_nodes(self._sizes, (d.left() + inset, d.top() + pad, d.width() - 2 * inset,
                                                        d.height() - 2 * pad - arc_room),
                                         max_spacing=MAX_NODE_SPACING)
        lay = self._layout
        # one radius for all circle columns; a column whose neurons are too close
        # vertically for circles (or wider than STRIP_THRESHOLD) becomes a strip,
        # one pixel row band per neuron. Narrow column gaps only shrink the circles.
        self._strip_cols = np.array([n > topo.STRIP_THRESHOLD or 0.42 * lay.spacing[c] < MIN_NODE_RADIUS
                                     for c, n in enumerate(self._sizes)], dtype=bool)
        radius = min(MAX_NODE_RADIUS, 0.2 * lay.column_gap)
        circle_spacing = [lay.spacing[c] for c in range(len(self._sizes)) if not self._strip_cols[c]]
        if circle_spacing:
            radius = min(radius, 0.42 * min(circle_spacing))
        self._radius = max(radius, 1.0)
        self._strip_w = float(np.clip(0.3 * lay.column_gap, 2.0, 10.0))
        self._input_buf = (np.ascontiguousarray(lay.positions(0), dtype=np.float64)
                           if self._has_input and self._sizes else np.zeros((0, 2)))
        if self._has_input and self._strip_cols[0]:
            self._input_buf = np.zeros((0, 2))

    # -- colour buffers ---------------------------------------------------------
    def _ensure_buffers(self) -> None:
        self._ensure_layout()
        if not self._colors_dirty:
            return
        self._colors_dirty = False
        lay = self._layout
        # edges: gather line coordinates, then sort by bucket (weak first) into one buffer
        if self._sel is not None and len(self._edge_buckets):
            # all layer pairs at once: flat index out * n_in + in → the two end points
            counts = np.diff(self._edge_pair_start)
            pair = np.repeat(np.arange(len(counts)), counts)
            n_in = np.asarray(self._sizes[:-1])[pair]
            flat = np.concatenate(self._sel.indices)
            y_start = np.concatenate([[0], np.cumsum(self._sizes)[:-1]])
            y_all = np.concatenate(lay.y)
            xs = np.asarray(lay.x, dtype=np.float64)
            lines = np.empty((len(flat), 4))
            lines[:, 0] = xs[pair]
            lines[:, 1] = y_all[y_start[pair] + flat % n_in]
            lines[:, 2] = xs[pair + 1]
            lines[:, 3] = y_all[y_start[pair + 1] + flat // n_in]
            order = np.argsort(self._draw_order_key(self._edge_buckets), kind="stable")
            self._line_order = order
            self._line_buf = np.ascontiguousarray(lines[order])
            self._line_slices = self._slices(self._edge_buckets[order])
        else:
            self._line_order = np.zeros(0, dtype=np.intp)
            self._line_buf = np.zeros((0, 4))
            self._line_slices = []
        # nodes of Linear layers: circles (points grouped by bucket) or strips (an image column)
        circle_layers, bks = [], []
        self._strips = []
        for layer, buckets in enumerate(self._node_buckets):
            col = self._column_of_layer(layer)
            if col >= len(self._sizes):
                continue
            if self._strip_cols[col]:
                self._strips.append((self._strip_rect(col), self._strip_image(buckets)))
            else:
                circle_layers.append(layer)
                bks.append(buckets)
        if self._has_input and self._strip_cols[0]:
            img = QtGui.QImage(1, self._sizes[0], QtGui.QImage.Format.Format_RGB32)
            img.fill(self._input)
            self._strips.insert(0, (self._strip_rect(0), img))
        if circle_layers:
            key = (lay, tuple(circle_layers))
            cached = self._circle_key
            if cached is None or cached[0] is not lay or cached[1] != key[1]:  # centres move with the layout
                self._circle_pos = np.concatenate([lay.positions(self._column_of_layer(l)) for l in circle_layers])
                self._circle_key = key
            allb = np.concatenate(bks)
            order = np.argsort(self._draw_order_key(allb), kind="stable")
            self._point_buf = np.ascontiguousarray(self._circle_pos[order], dtype=np.float64)
            self._point_slices = self._slices(allb[order])
        else:
            self._point_buf = np.zeros((0, 2))
            self._point_slices = []

    def _draw_order_key(self, buckets: np.ndarray) -> np.ndarray:
        """Weak first so strong edges sit on top; unlit (grey) below everything."""
        return np.where(buckets == self._k + 1, -1, buckets)

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

    # -- painting -----------------------------------------------------------------
    def paintEvent(self, event: QtGui.QPaintEvent) -> None:
        t0 = time.perf_counter()
        self._ensure_buffers()
        p = QtGui.QPainter(self)
        try:
            p.fillRect(self.rect(), self._bg)
            if self._sizes and self._stats is not None:
                self._paint_diagram(p)
                if self._live and self._frame is None and isinstance(p.device(), QtWidgets.QWidget):
                    self._paint_text_layer(p)
                else:
                    self._paint_labels(p)
                    self._paint_colorbar(p)
                    self._paint_caption(p)
            else:
                p.setPen(self._dim)
                p.drawText(self.rect(), QtCore.Qt.AlignmentFlag.AlignCenter,
                           "No run yet: start training to see the gradients flow")
                self._paint_caption(p)
        finally:
            p.end()
        self.last_paint_ms = (time.perf_counter() - t0) * 1000.0

    def _paint_diagram(self, p: QtGui.QPainter) -> None:
        d = self._diagram
        p.setClipRect(d.adjusted(-2, -2, 2, 2))
        n_edges = len(self._line_buf)
        small = n_edges <= ANTIALIAS_MAX_EDGES
        # While training the diagram repaints at display rate and every paint holds the GIL the
        # trainer needs: thousands of antialiased wide lines (the lecture theme) cost 3x more.
        # Paused, and in exports, the style's full quality.
        aa_limit = self._style.antialias_max_edges
        if self._live and self._on_screen(p):
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

    def _skip_pairs(self) -> tuple[tuple[int, int], ...]:
        stats = self._stats
        return tuple(stats.skip_connections) if stats is not None and self._has_input else ()

    def _skip_arc(self, a: int, b: int) -> QtGui.QPainterPath:
        """The path of the skip from Linear a's output column to Linear b's, below the nodes."""
        lay = self._layout
        ca, cb = self._column_of_layer(a), self._column_of_layer(b)
        y0 = max(float(lay.y[ca][-1]), float(lay.y[cb][-1])) + self._radius + 3
        depth = SKIP_ARC_ROOM - 6
        path = QtGui.QPainterPath(QtCore.QPointF(lay.x[ca], y0))
        path.cubicTo(QtCore.QPointF(lay.x[ca], y0 + depth), QtCore.QPointF(lay.x[cb], y0 + depth),
                     QtCore.QPointF(lay.x[cb], y0))
        return path

    def _paint_skips(self, p: QtGui.QPainter) -> None:
        pairs = self._skip_pairs()
        self._skips_drawn = pairs
        if not pairs:
            return
        p.setRenderHint(QtGui.QPainter.RenderHint.Antialiasing, True)
        p.setBrush(QtCore.Qt.BrushStyle.NoBrush)
        for k, (a, b) in enumerate(pairs):
            bucket = int(self._skip_buckets[k]) if k < len(self._skip_buckets) else self._k + 1
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
            p.drawPath(self._skip_arc(*self._skip_pairs()[hit[1]]))
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

    def _paint_text_layer(self, p: QtGui.QPainter) -> None:
        """While training: the labels, colour bar and caption from a pixmap that is redrawn
        only when their text changes, and their numbers change at most every TEXT_PERIOD_S
        (at display rate they could not be read anyway, and drawing text is ~2 ms a frame
        of GIL the trainer waits for)."""
        now = time.monotonic()
        if self._text_stats is None or now - self._text_time >= TEXT_PERIOD_S:
            self._text_stats, self._text_time = self._stats, now
        # objects by identity (a freed object's id can come back), the rest by value
        key = ((self._text_stats, self._layout, self._style),
               (self._range, self._range_step, self._auto, self.width(), self.height(),
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
                self._paint_colorbar(q)
                self._paint_caption(q, self._text_stats)
            finally:
                q.end()
            self._text_pixmap, self._text_key = pixmap, key
        p.drawPixmap(0, 0, self._text_pixmap)

    def _column_labels(self) -> list[int]:
        n = len(self._sizes)
        return [c for c in range(n) if (n - 1 - c) % self._label_stride == 0]

    def _paint_labels(self, p: QtGui.QPainter, stats: StepStats | None = None) -> None:
        label_font, _ = self._fonts()
        p.setFont(label_font)
        fm = QtGui.QFontMetricsF(label_font)
        line_h = fm.height()
        stats = stats if stats is not None else self._stats
        n_layers = stats.n_layers
        colors = self._layer_colors if len(self._layer_colors) >= n_layers else layer_colors(n_layers)
        band = self._label_band
        labelled = self._column_labels()
        # stagger: the row alternates along the labelled columns (output on the bottom row)
        for k, col in enumerate(reversed(labelled)):
            row = (self._label_rows - 1 - k % self._label_rows) if self._label_rows > 1 else 0
            x = float(self._layout.x[col])
            top = band.top() + row * 2 * line_h
            layer = self._layer_of_column(col)
            if layer < 0:
                p.setPen(self._dim)
                lines = ("input", f"{self._sizes[0]} feature{'s' if self._sizes[0] != 1 else ''}")
            elif self._frame is not None:
                note = self._frame.layer_notes[layer] if layer < len(self._frame.layer_notes) else ""
                p.setPen(colors[layer] if note else self._dim)
                lines = (stats.layer_names[layer], note)
            else:
                p.setPen(colors[layer])
                lines = (stats.layer_names[layer], f"‖∇W‖ {stats.grad_l2[layer]:.1e}")
            for i, text in enumerate(lines):
                wdt = fm.horizontalAdvance(text)
                left = min(max(x - wdt / 2, band.left()), band.right() - wdt)
                p.drawText(QtCore.QPointF(left, top + i * line_h + fm.ascent()), text)

    def _paint_colorbar(self, p: QtGui.QPainter) -> None:
        if self._range is None:
            return
        _, small = self._fonts()
        fm = QtGui.QFontMetricsF(small)
        bar = self._bar_rect
        p.setPen(self._text)
        title_font = QtGui.QFont(small)
        title_font.setBold(True)
        p.setFont(title_font)
        if self._frame is not None:
            title = "|a|, |W|" if self._frame.quantity == "activation" else "|δ|, |dL/dW|"
        else:
            title = "|dL/dW|" if self._sel is not None else "mean |δ|"
        tw = QtGui.QFontMetricsF(title_font).horizontalAdvance(title)
        p.drawText(QtCore.QPointF(min(bar.left() - 4, self.width() - tw - 4), self._diagram.top() + fm.ascent()),
                   title)
        draw_log_colorbar(p, bar, self._colorbar_img, *self._range, small, self._text, self._outline)

    def _caption_text(self, stats: StepStats | None = None) -> str:
        if self._frame is not None:
            return self._frame.caption
        stats = stats if stats is not None else self._stats
        if stats is None:
            return ""
        parts = [f"step {stats.step}"]
        nonfinite = bool((self._edge_buckets == self._k).any()
                         or any((nb == self._k).any() for nb in self._node_buckets))
        if stats.diverged or nonfinite:
            parts.append("DIVERGED: non-finite loss or gradients" + (", red = NaN/inf" if nonfinite else ""))
        if self._sel is not None:
            self._ensure_layout()
            strips = [n for n, strip in zip(self._sizes, self._strip_cols) if strip]
            parts.append(topo.describe_selection(self._sel, strip_sizes=strips))
        else:
            parts.append("nodes only (this run records no per-edge gradients)")
        return " · ".join(parts)

    def _legend_text(self) -> str:
        if self._frame is not None:
            return self._frame.legend
        if self._range is None:
            return ""
        lo, hi = self._range
        how = ("re-fitted every frame" if self._auto
               else f"fixed for this run at step {self._range_step}")
        what = "edges: |dL/dW_ij|, nodes: batch-mean |δ_j|, one" if self._sel is not None else "nodes: batch-mean |δ_j|,"
        if self._skip_pairs():
            what = what.replace("nodes:", "arcs below: skip paths by mean |dL/du|, nodes:")
        text = f"{what} log colour scale {lo:.0e} … {hi:.0e}, {how}"
        if self._label_stride > 1:
            text += f"; labels every {self._label_stride} layers, hover a column header for the rest"
        return text

    def _paint_caption(self, p: QtGui.QPainter, stats: StepStats | None = None) -> None:
        _, small = self._fonts()
        fm = QtGui.QFontMetricsF(small)
        p.setFont(small)
        rect = self._caption_rect
        w = int(rect.width())
        p.setPen(self._text)
        p.drawText(QtCore.QPointF(rect.left(), rect.top() + fm.ascent()),
                   fm.elidedText(self._caption_text(stats), QtCore.Qt.TextElideMode.ElideRight, w))
        p.setPen(self._dim)
        p.drawText(QtCore.QPointF(rect.left(), rect.top() + fm.height() + fm.ascent()),
                   fm.elidedText(self._legend_text(), QtCore.Qt.TextElideMode.ElideRight, w))

    # -- hover ----------------------------------------------------------------------
    def _hit(self, pos: QtCore.QPointF):
        """('node', col, index) | ('edge', sorted_index) | ('layer', col) | None."""
        if self._stats is None or not self._sizes:
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
        for k, (a, b) in enumerate(self._skip_pairs()):
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
        stats = self._stats
        kind = hit[0]
        if kind == "node":
            col, idx = hit[1], hit[2]
            layer = self._layer_of_column(col)
            if layer < 0:
                return f"input · feature {idx} (inputs have no gradient)"
            v = float(stats.delta_mean_abs[layer][idx])
            if self._frame is not None:
                if self._frame.node_values[layer] is None:
                    return f"{stats.layer_names[layer]} · neuron {idx} · not reached yet in this frame"
                what = "mean |a|" if self._frame.quantity == "activation" else "mean |δ|"
                return f"{stats.layer_names[layer]} · neuron {idx} · {what} = {_fmt(v)}"
            return f"{stats.layer_names[layer]} · neuron {idx} · mean |δ| = {_fmt(v)}"
        if kind == "edge":
            k = int(self._line_order[hit[1]])
            layer = int(np.searchsorted(self._edge_pair_start, k, side="right") - 1)
            flat = int(self._sel.indices[layer][k - self._edge_pair_start[layer]])
            n_in = self._sizes[layer]
            j, i = divmod(flat, n_in)
            src = "input" if layer == 0 else stats.layer_names[layer - 1]
            what = "|dL/dW|"
            if self._frame is not None:
                if self._frame.edge_values[layer] is None:
                    return f"{src} → {stats.layer_names[layer]} · w[{j}, {i}] · not reached yet in this frame"
                what = "|W|" if self._frame.quantity == "activation" else "|dL/dW|"
            return (f"{src} → {stats.layer_names[layer]} · w[{j}, {i}] · "
                    f"{what} = {_fmt(float(self._edge_values[k]))}")
        if kind == "skip":
            k = hit[1]
            a, b = stats.skip_connections[k]
            path = f"skip path {stats.layer_names[a]} → {stats.layer_names[b]}"
            frame = self._frame
            if frame is not None and (k >= len(frame.skip_values) or frame.skip_values[k] is None):
                return f"{path} · not reached yet in this frame"
            value = float(stats.skip_grad[k]) if stats.skip_grad is not None else float("nan")
            if frame is not None and frame.quantity == "activation":
                return f"{path} · carries mean |x| = {_fmt(value)} forward to the block's sum, unchanged"
            return f"{path} · carries mean |dL/du| = {_fmt(value)} back past the block unchanged"
        if kind == "layer":
            col = hit[1]
            layer = self._layer_of_column(col)
            if layer < 0:
                return f"input · {self._sizes[0]} features"
            if self._frame is not None:
                return f"{stats.layer_names[layer]} · {self._frame.layer_notes[layer] or 'not reached yet'}"
            n = len(stats.delta_mean_abs[layer])
            text = (f"{stats.layer_names[layer]} · {n} neurons · ‖∇W‖ = {_fmt(float(stats.grad_l2[layer]))} · "
                    f"mean |dL/dW| = {_fmt(float(stats.grad_mean_abs[layer]))} · "
                    f"‖δ‖ = {_fmt(float(stats.delta_l2[layer]))}")
            zeros = stats.grad_zero_fraction
            if zeros is not None and zeros[layer] > 0:
                text += f" · {zeros[layer]:.1%} of dL/dW exactly 0 (dead units or underflow)"
            return text
        return ""


    def sizeHint(self) -> QtCore.QSize:
        return QtCore.QSize(900, 520)
