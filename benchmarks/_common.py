"""Small helpers shared by the benchmark scripts (not part of vgviz).

Every benchmark prints ratios measured within one run, medians over
interleaved repeats: the machines are shared and noisy, so absolute numbers
from different runs do not compare, ratios from the same run do.
"""
from __future__ import annotations

import atexit
import os
import platform
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as `python benchmarks/x.py` from anywhere
    sys.path.insert(0, str(ROOT))

# The 20x64 network of the performance targets: the deep-relu-he preset with
# depth 20, width 64, batch 128 (benchmarks/README.md, docs/performance.md).
BENCH_CONFIG = dict(dataset="spiral", depth=20, width=64, activation="relu", init="he",
                    optimizer="sgd", lr=0.05, batch_size=128, steps=10_000_000, seed=0)


def offscreen() -> None:
    """Qt without a display; must run before PySide6 is imported."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def quiet_qt() -> None:
    """Drop the offscreen plugin's 'does not support propagateSizeHints()' notice;
    every other Qt message still goes to stderr."""
    from PySide6 import QtCore

    def handler(mode, context, message):
        if "propagateSizeHints" not in message:
            sys.stderr.write(message + "\n")

    global _qt_handler
    _qt_handler = handler            # keep it alive
    QtCore.qInstallMessageHandler(handler)


_qt_handler = None


def isolate_settings() -> str:
    """Point QSettings (IniFormat and NativeFormat, user scope) at a throw-away folder
    so a benchmark never reads or writes the user's vgviz settings (the same as
    tests/gui/conftest.py). Returns the folder."""
    from PySide6.QtCore import QSettings

    folder = tempfile.mkdtemp(prefix="vgviz-bench-settings-")
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, folder)
    # The app's store (vgviz.gui.settings.app_settings) follows the default format; the native
    # path is redirected as well, for anything that asks for that format by name.
    QSettings.setPath(QSettings.Format.NativeFormat, QSettings.Scope.UserScope, folder)
    return folder


def median(xs) -> float:
    return float(statistics.median(xs))


def quantile(xs, q: float) -> float:
    xs = sorted(xs)
    if not xs:
        return float("nan")
    pos = q * (len(xs) - 1)
    lo = int(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def spread(xs) -> str:
    """'min–max' of a list of ratios, for the table."""
    return f"{min(xs):.2f}–{max(xs):.2f}"


def table(headers: list[str], rows: list[list], widths: list[int] | None = None) -> str:
    cells = [[str(h) for h in headers]] + [[str(c) for c in r] for r in rows]
    widths = widths or [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = []
    for k, r in enumerate(cells):
        lines.append("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))))
        if k == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def verdict(name: str, ok: bool, detail: str) -> str:
    return f"{'PASS' if ok else 'MISS'}  {name}: {detail}"


def machine_line() -> str:
    import importlib.metadata as md

    def ver(pkg):
        try:
            return md.version(pkg)
        except md.PackageNotFoundError:
            return "-"

    return (f"python {platform.python_version()} · torch {ver('torch')} · PySide6 {ver('PySide6-Essentials')} · "
            f"pyqtgraph {ver('pyqtgraph')} · numpy {ver('numpy')} · {os.cpu_count()} cpus")


def interleaved_rounds(arms: dict, rounds: int, block: int, seed: int = 0) -> dict[str, list[float]]:
    """Seconds per step of each arm (an object with .step()), one number per round: every round
    runs a block of steps of every arm, in a shuffled order, so drift hits all arms alike."""
    rng = random.Random(seed)
    times: dict[str, list[float]] = {name: [] for name in arms}
    for _ in range(rounds):
        order = list(arms)
        rng.shuffle(order)
        for name in order:
            step = arms[name].step
            t0 = time.perf_counter()
            for _ in range(block):
                step()
            times[name].append((time.perf_counter() - t0) / block)
    return times
