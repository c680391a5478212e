"""Drawing the diagram's nodes: round-pen drawPoints vs pre-rendered sprites.

    .venv/bin/python benchmarks/bench_nodes.py [--frames 20]

A diagnostic for bench_diagram: at 50x128 most of NetworkView's paint time is
its node circles. This draws the same nodes (vgviz.core.layout.network_diagram.layout_nodes
of a 1280x720 diagram, 64 colour buckets, nodes sorted by bucket) into a
1280x720 QImage three ways:

  round pen   what NetworkView does: one drawPoints with a round-cap pen of
              width 2r+2 for the outlines, then one drawPoints per colour
              bucket with width 2r (no antialiasing above 3,000 nodes)
  sprites     one small QPixmap per bucket (filled circle + outline, drawn
              once), stamped with QPainter.drawPixmapFragments from a numpy
              (n, 10) float64 buffer wrapped with shiboken6.wrapInstance (no
              Python object per node)
  squares     square-cap points, one drawPoints per bucket (no outline)

Prints the median ms per frame and the ratio to "round pen".
"""
from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine_line, median, offscreen, quiet_qt, table  # noqa: E402

offscreen()

import numpy as np  # noqa: E402
import shiboken6  # noqa: E402
from PySide6 import QtCore, QtGui, QtWidgets  # noqa: E402

from vgviz.core.layout import network_diagram  # noqa: E402
from vgviz.gui import network_view  # noqa: E402

# NetworkView antialiases its nodes only up to this many (read from the view, so this stays faithful)
AA_MAX_NODES = getattr(network_view, "ANTIALIAS_MAX_NODES", 600)

K = 64
SIZES = [(6, 8), (20, 64), (50, 128)]
OUTLINE = QtGui.QColor("#6b7180")


def nodes(depth: int, width: int, rng):
    sizes = [2] + [width] * depth + [2]
    lay = network_diagram.layout_nodes(sizes, (6, 40, 1120, 640), max_spacing=36.0)
    r = min(9.0, 0.2 * lay.column_gap, 0.42 * float(min(lay.spacing)))
    r = max(r, 2.0)
    pts = np.concatenate([lay.positions(c) for c in range(len(sizes))])
    buckets = rng.integers(0, K, len(pts))
    order = np.argsort(buckets, kind="stable")
    pts = np.ascontiguousarray(pts[order], dtype=np.float64)
    b = buckets[order]
    cuts = np.flatnonzero(np.diff(b)) + 1
    starts = np.concatenate([[0], cuts])
    ends = np.concatenate([cuts, [len(b)]])
    return pts, [(int(b[s]), int(s), int(e)) for s, e in zip(starts, ends)], r


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=20)
    args = ap.parse_args(argv)
    quiet_qt()
    QtWidgets.QApplication.instance() or QtWidgets.QApplication([])
    lut = [QtGui.QColor.fromHsvF(0.75 * i / (K - 1), 0.8, 0.9) for i in range(K)]
    img = QtGui.QImage(1280, 720, QtGui.QImage.Format.Format_ARGB32_Premultiplied)
    rng = np.random.default_rng(0)
    print("bench_nodes: node circles, round-pen points vs sprites (1280x720 QImage)")
    print(machine_line())
    rows = []
    for depth, width in SIZES:
        pts, slices, r = nodes(depth, width, rng)
        n = len(pts)
        aa = n <= AA_MAX_NODES

        def round_pen(p):
            p.setRenderHint(QtGui.QPainter.RenderHint.Antialiasing, aa)
            pen = QtGui.QPen(OUTLINE)
            pen.setCapStyle(QtCore.Qt.PenCapStyle.RoundCap)
            pen.setWidthF(2 * r + 2)
            p.setPen(pen)
            p.drawPoints(shiboken6.wrapInstance(pts.ctypes.data, QtCore.QPointF), n)
            pen.setWidthF(2 * r)
            for b, s, e in slices:
                pen.setColor(lut[b])
                p.setPen(pen)
                p.drawPoints(shiboken6.wrapInstance(pts.ctypes.data + s * 16, QtCore.QPointF), e - s)

        d = int(math.ceil(2 * r + 3))
        sprites = []
        for c in lut:
            pm = QtGui.QPixmap(d, d)
            pm.fill(QtCore.Qt.GlobalColor.transparent)
            q = QtGui.QPainter(pm)
            q.setRenderHint(QtGui.QPainter.RenderHint.Antialiasing, True)
            q.setPen(QtGui.QPen(OUTLINE, 1.0))
            q.setBrush(c)
            q.drawEllipse(QtCore.QPointF(d / 2, d / 2), r, r)
            q.end()
            sprites.append(pm)
        frags = np.zeros((n, 10))             # QPainter::PixmapFragment: x, y, sx, sy, w, h, scaleX, scaleY, rot, opacity
        frags[:, 0:2] = pts
        frags[:, 4:6] = d
        frags[:, 6:8] = 1.0
        frags[:, 9] = 1.0

        def sprite(p):
            for b, s, e in slices:
                p.drawPixmapFragments(shiboken6.wrapInstance(frags.ctypes.data + s * 80, QtGui.QPainter.PixmapFragment),
                                      e - s, sprites[b])

        def squares(p):
            pen = QtGui.QPen(OUTLINE)
            pen.setCapStyle(QtCore.Qt.PenCapStyle.SquareCap)
            pen.setWidthF(2 * r)
            for b, s, e in slices:
                pen.setColor(lut[b])
                p.setPen(pen)
                p.drawPoints(shiboken6.wrapInstance(pts.ctypes.data + s * 16, QtCore.QPointF), e - s)

        times = {"round pen": [], "sprites": [], "squares": []}
        fns = {"round pen": round_pen, "sprites": sprite, "squares": squares}
        for _ in range(args.frames):
            for name, fn in fns.items():
                img.fill(0)
                p = QtGui.QPainter(img)
                t0 = time.perf_counter()
                fn(p)
                p.end()
                times[name].append((time.perf_counter() - t0) * 1e3)
        base = median(times["round pen"])
        rows.append([f"{depth}x{width}", f"{n:,}", f"{r:.1f}", "on" if aa else "off"]
                    + [f"{median(times[k]):.2f} ({median(times[k]) / base:.2f})" for k in fns])
    print()
    print(table(["depth x width", "nodes", "radius px", "antialias", "round pen ms", "sprites ms (ratio)", "squares ms (ratio)"],
                rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
