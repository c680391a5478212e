"""NetworkView frame time, offscreen, against the 16.7 ms (60 Hz) frame budget.

    .venv/bin/python benchmarks/bench_diagram.py [--frames 30] [--width 1280 --height 720] [--theme dark]

For each network size (depth x width: 6x8, 20x64, 50x128; relu/he like the
deep-relu-he preset, batch 128) a Trainer runs a few steps to get real
StepStats, with per-edge |dL/dW|. One NetworkView per size, shown at 1280x720
on the offscreen platform. A frame is what the main window does per display
tick: `view.show_stats(next_stats)` (a different StepStats each frame, so
nothing is skipped as a repeat) followed by a synchronous `view.repaint()`.
Frames of the three sizes are interleaved (shuffled order per round).

Columns:
  frame       show_stats + repaint(), wall clock (the cost the GUI thread pays,
              and, since a paint holds the GIL, the training thread too)
  show_stats  show_stats alone (edge selection + colour binning, numpy)
  paintEvent  the widget's own paintEvent time (view.last_paint_ms)
  grab        view.grab() of the same frame (a render into a QPixmap; what a
              screenshot costs)
  first       the first frame of a run (layout computed), once per size

Target: frame <= 16.7 ms at 20x64. (docs/performance.md asks for <= ~10 ms so a paint
does not starve the trainer; the table gives the ratio to both.)
"""
from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import BENCH_CONFIG, machine_line, median, offscreen, quantile, quiet_qt, table, verdict  # noqa: E402

offscreen()

import torch  # noqa: E402
from PySide6 import QtWidgets  # noqa: E402

from vgviz.core.config import RunConfig  # noqa: E402
from vgviz.core.tasks import make_trainer  # noqa: E402
from vgviz.gui.network_view import NetworkView  # noqa: E402

BUDGET_MS = 1000.0 / 60.0
GIL_BUDGET_MS = 10.0
SIZES = [(6, 8), (20, 64), (50, 128)]
TARGET_SIZE = (20, 64)


def real_stats(depth: int, width: int, n: int, warm: int) -> list:
    config = RunConfig(**{**BENCH_CONFIG, "depth": depth, "width": width})
    trainer = make_trainer(config)
    for _ in range(warm):
        trainer.step()
    return [trainer.step() for _ in range(n)]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=30, help="timed frames per size")
    ap.add_argument("--width", type=int, default=1280)
    ap.add_argument("--height", type=int, default=720)
    ap.add_argument("--theme", default="dark", help="vgviz.gui.theme name: dark (default) or lecture")
    ap.add_argument("--live", action="store_true",
                    help="draw as while a run trains (NetworkView.set_live: no antialiasing of many edges)")
    args = ap.parse_args(argv)

    torch.set_num_threads(1)
    quiet_qt()
    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication([])
    print("bench_diagram: NetworkView frame time (offscreen)")
    print(machine_line())
    print(f"widget {args.width}x{args.height}, {args.theme} theme{' (live)' if args.live else ''}, "
          f"{args.frames} frames per size, interleaved; "
          "real StepStats (relu/he, batch 128) after 20 training steps")

    stats = {s: real_stats(*s, n=8, warm=20) for s in SIZES}
    views = {}
    first = {}
    for s in SIZES:
        v = NetworkView()
        if args.theme != "dark":
            from vgviz.gui import theme as themes
            themes.apply_theme(themes.get_theme(args.theme), network=v)   # colours, fonts, edge weight
        v.resize(args.width, args.height)
        v.set_live(args.live)
        v.show()
        views[s] = v
    app.processEvents()
    for s in SIZES:                      # the first frame of a run: layout + buffers
        t0 = time.perf_counter()
        views[s].show_stats(stats[s][0])
        views[s].repaint()
        first[s] = (time.perf_counter() - t0) * 1e3
    app.processEvents()
    for s in SIZES:                      # warm-up
        for st in stats[s][1:4]:
            views[s].show_stats(st)
            views[s].repaint()

    frame = {s: [] for s in SIZES}
    show = {s: [] for s in SIZES}
    paint = {s: [] for s in SIZES}
    grab = {s: [] for s in SIZES}
    rng = random.Random(0)
    k = 0
    for _ in range(args.frames):
        order = SIZES[:]
        rng.shuffle(order)
        for s in order:
            v = views[s]
            st = stats[s][k % len(stats[s])]
            t0 = time.perf_counter()
            v.show_stats(st)
            t1 = time.perf_counter()
            v.repaint()
            t2 = time.perf_counter()
            frame[s].append((t2 - t0) * 1e3)
            show[s].append((t1 - t0) * 1e3)
            paint[s].append(v.last_paint_ms)
            t3 = time.perf_counter()
            v.grab()
            grab[s].append((time.perf_counter() - t3) * 1e3)
        k += 1
        app.processEvents()

    rows = []
    for s in SIZES:
        v = views[s]
        f = median(frame[s])
        rows.append([f"{s[0]}x{s[1]}", f"{v.drawn_edge_count():,}", f"{f:.2f}",
                     f"{quantile(frame[s], 0.9):.2f}", f"{median(show[s]):.2f}", f"{median(paint[s]):.2f}",
                     f"{median(grab[s]):.2f}", f"{first[s]:.1f}",
                     f"{f / BUDGET_MS:.2f}", f"{f / GIL_BUDGET_MS:.2f}"])
    print()
    print(table(["depth x width", "edges drawn", "frame ms", "p90", "show_stats", "paintEvent",
                 "grab", "first", "/16.7ms", "/10ms"], rows))
    for s in SIZES:
        print(f"  {s[0]}x{s[1]}: {views[s].caption()}")
    f = median(frame[TARGET_SIZE])
    print(verdict(f"diagram frame at {TARGET_SIZE[0]}x{TARGET_SIZE[1]}", f <= BUDGET_MS,
                  f"{f:.2f} ms = {f / BUDGET_MS:.2f} of the 16.7 ms budget"))
    for v in views.values():
        v.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
