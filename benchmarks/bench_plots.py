"""The training plots' cost per update, against the history's length.

    .venv/bin/python benchmarks/bench_plots.py [--repeats 15]

A diagnostic for bench_gui: vgviz.gui.plots.TrainingPlots (1000x300,
offscreen) for a 20x64 network (21 Linear layers: 21 gradient-norm curves),
fed a History of synthetic StepStats (random loss, norms and activation
std, a test point every 50 steps). For each history length: `update_from(history)` and a
synchronous repaint of each plot's viewport (every pg.PlotWidget the panel
holds), medians of --repeats updates.
The main window runs this at ~10 Hz (every 3rd tick of its 30 Hz timer), so
"GUI ms per s" = 10 x (update + all repaints): the share of the GUI thread,
and, through the GIL, of the training thread's time.

Last row: the same at the longest history with every curve's pen made 1 px
wide (cosmetic), colours unchanged, to show what the wide pens cost.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine_line, median, offscreen, quiet_qt, table  # noqa: E402

offscreen()

import numpy as np  # noqa: E402
import pyqtgraph as pg  # noqa: E402
from PySide6 import QtWidgets  # noqa: E402

from vgviz.core.measure.history import History  # noqa: E402
from vgviz.core.measure.stats import StepStats  # noqa: E402
from vgviz.gui.network_view import layer_colors  # noqa: E402
from vgviz.gui.plots import TrainingPlots  # noqa: E402

N_LAYERS = 21
PLOT_HZ = 10
LENGTHS = [1_000, 5_000, 20_000, 60_000]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=15)
    args = ap.parse_args(argv)
    quiet_qt()
    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication([])
    names = tuple(f"hidden{i + 1}" for i in range(N_LAYERS - 1)) + ("output",)
    rng = np.random.default_rng(0)

    fields = StepStats.__dataclass_fields__

    def stats(step: int) -> StepStats:
        test = step % 50 == 0
        extra = {}
        if "activation_std" in fields:
            extra["activation_std"] = rng.random(N_LAYERS - 1)
        if "grad_norm_total" in fields:
            extra["grad_norm_total"] = float(rng.random())
        return StepStats(step=step, loss=float(rng.random()), accuracy=0.5, diverged=False, layer_names=names,
                         grad_mean_abs=rng.random(N_LAYERS) * 1e-3, grad_l2=rng.random(N_LAYERS),
                         delta_l2=rng.random(N_LAYERS), delta_mean_abs=(), edge_abs=None,
                         test_loss=0.5 if test else None, test_accuracy=0.5 if test else None, **extra)

    plots = TrainingPlots()
    plots.resize(1000, 300)
    plots.show()
    plots.set_layers(list(names), layer_colors(N_LAYERS))
    app.processEvents()
    # every plot the panel has (loss, norm, flow, and whatever is added later), by attribute name
    widgets = {name[:-5] if name.endswith("_plot") else name: w
               for name, w in vars(plots).items() if isinstance(w, pg.PlotWidget)}
    history = History(N_LAYERS)
    step = 0

    def measure(label: str) -> list:
        nonlocal step
        for _ in range(3):
            plots.update_from(history)
            for w in widgets.values():
                w.viewport().repaint()
        upd, rep = [], {k: [] for k in widgets}
        for _ in range(args.repeats):
            history.append(stats(step))
            step += 1
            t0 = time.perf_counter()
            plots.update_from(history)
            upd.append((time.perf_counter() - t0) * 1e3)
            for k, w in widgets.items():
                t0 = time.perf_counter()
                w.viewport().repaint()
                rep[k].append((time.perf_counter() - t0) * 1e3)
        u = median(upd)
        r = {k: median(v) for k, v in rep.items()}
        total = u + sum(r.values())
        return ([label, f"{len(history):,}", f"{u:.1f}"] + [f"{r[k]:.1f}" for k in widgets]
                + [f"{total:.1f}", f"{total * PLOT_HZ:.0f}"])

    print("bench_plots: TrainingPlots update + repaint vs history length (1000x300, 21 layers)")
    print(machine_line())
    rows = []
    for n in LENGTHS:
        while step < n:
            history.append(stats(step))
            step += 1
        rows.append(measure(f"{n:,} steps"))
    for w in widgets.values():
        for item in w.listDataItems():
            pen = item.opts.get("pen")
            if pen is not None:
                p = pg.mkPen(pen)
                if p.widthF() > 1:
                    p.setWidthF(1)
                    p.setCosmetic(True)
                    item.setPen(p)
    rows.append(measure(f"{step:,} steps, 1 px pens"))
    print()
    print(table(["history", "rows kept", "update_from ms"] + [f"{k} repaint" for k in widgets]
                + ["total ms", f"GUI ms per s at {PLOT_HZ} Hz"], rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
