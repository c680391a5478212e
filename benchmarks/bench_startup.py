"""Launch to first painted window: `python main.py`, offscreen, against 1 s.

    .venv/bin/python benchmarks/bench_startup.py [--rounds 7]

Each launch is a fresh interpreter (the venv's python) started by this script
with QT_QPA_PLATFORM=offscreen. The launch under test runs the real main.py
(runpy, as `python main.py`: vgviz.cli -> vgviz.gui.app.run_app -> MainWindow)
through a small driver that only
  * points QSettings at a temporary folder (IniFormat and NativeFormat, as
    tests/gui/conftest.py does), so the user's settings are neither read nor
    written, and the window opens on the default preset and theme as on a
    first launch;
  * wraps vgviz.gui.app.make_app to install an event filter that notes the
    first QEvent.Paint reaching the QMainWindow, and the moment the event loop
    is next idle (the first frame done), then exits the process at once.
Times are CLOCK_MONOTONIC, which the parent and the child share: "first paint"
runs from just before the parent spawns the child to the child's first Paint
event, so it includes process creation and interpreter start-up.

Baselines, launched in the same rounds (shuffled order per round):
  python -c pass                        interpreter start and exit
  python -c "import torch"              what the window must not wait for
  python -c "import vgviz.gui.main_window"   the GUI's imports (PySide6, pyqtgraph, vgviz)
Target: first paint <= 1 s. The first round is a warm-up and is not counted.
"""
from __future__ import annotations

import argparse
import atexit
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, machine_line, median, table, verdict  # noqa: E402

TARGET_S = 1.0

DRIVER = r'''
import time
_clock = (lambda: time.clock_gettime(time.CLOCK_MONOTONIC)) if hasattr(time, "clock_gettime") else time.time
T0 = _clock()
import json, os, runpy, sys
from PySide6 import QtCore, QtWidgets

_ini = QtCore.QSettings.Format.IniFormat
QtCore.QSettings.setDefaultFormat(_ini)
for _fmt in (_ini, QtCore.QSettings.Format.NativeFormat):   # the app's store follows the default format
    QtCore.QSettings.setPath(_fmt, QtCore.QSettings.Scope.UserScope, os.environ["VGVIZ_BENCH_SETTINGS"])
T_QT = _clock()

import vgviz.gui.app as _app_mod

marks = {"t0": T0, "qt_imported": T_QT}

class _FirstPaint(QtCore.QObject):
    def eventFilter(self, obj, event):
        if event.type() == QtCore.QEvent.Type.Paint and "paint" not in marks \
                and isinstance(obj, QtWidgets.QMainWindow):
            marks["paint"] = _clock()
            marks["torch_loaded"] = "torch" in sys.modules
            QtCore.QTimer.singleShot(0, _done)
        return False

def _done():
    marks["frame_done"] = _clock()
    marks["torch_loaded_after"] = "torch" in sys.modules
    sys.stdout.write("VGVIZ_STARTUP " + json.dumps(marks) + "\n")
    sys.stdout.flush()
    os._exit(0)

_orig_make_app = _app_mod.make_app
_filter = _FirstPaint()

def _make_app(*a, **k):
    marks["make_app"] = _clock()
    app = _orig_make_app(*a, **k)
    app.installEventFilter(_filter)
    marks["app_ready"] = _clock()
    return app

_app_mod.make_app = _make_app
sys.argv = [MAIN]
runpy.run_path(MAIN, run_name="__main__")
'''


def clock() -> float:
    return time.clock_gettime(time.CLOCK_MONOTONIC) if hasattr(time, "clock_gettime") else time.time()


def run_plain(python: str, code: str, env: dict) -> float:
    t0 = clock()
    subprocess.run([python, "-c", code], env=env, check=True, stdout=subprocess.DEVNULL, cwd=ROOT)
    return clock() - t0


def run_app_launch(python: str, env: dict, timeout: float = 60.0) -> dict:
    code = f"MAIN = {str(ROOT / 'main.py')!r}\n" + DRIVER
    t_spawn = clock()
    proc = subprocess.run([python, "-c", code], env=env, capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    t_exit = clock()
    for line in proc.stdout.splitlines():
        if line.startswith("VGVIZ_STARTUP "):
            marks = json.loads(line.split(" ", 1)[1])
            marks["spawn"] = t_spawn
            marks["exit"] = t_exit
            return marks
    raise RuntimeError(f"no first paint (exit {proc.returncode}):\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")


def import_chain(python: str, env: dict, module: str = "torch") -> tuple[str, float] | None:
    """One more launch of main.py under `python -X importtime`: the chain of imports
    that pulled `module` in before the first paint, and its cumulative import time."""
    code = f"MAIN = {str(ROOT / 'main.py')!r}\n" + DRIVER
    proc = subprocess.run([python, "-X", "importtime", "-c", code], env=env, capture_output=True, text=True,
                          timeout=60, cwd=ROOT)
    rows = []
    for line in proc.stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        parts = line[len("import time:"):].split("|")
        if len(parts) != 3 or not parts[1].strip().isdigit():
            continue
        name = parts[2].rstrip()
        depth = (len(name) - len(name.lstrip())) // 2
        rows.append((int(parts[1]), depth, name.strip()))
    for i, (cum, depth, name) in enumerate(rows):
        if name == module:
            chain, d = [name], depth
            for cum2, depth2, name2 in rows[i + 1:]:   # parents are printed after their children
                if depth2 < d:
                    chain.append(name2)
                    d = depth2
            return " > ".join(reversed(chain)), cum / 1e6
    return None


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=7, help="counted rounds (plus one warm-up)")
    args = ap.parse_args(argv)

    python = sys.executable
    settings = tempfile.mkdtemp(prefix="vgviz-bench-settings-")
    atexit.register(shutil.rmtree, settings, ignore_errors=True)
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", VGVIZ_BENCH_SETTINGS=settings)
    print("bench_startup: launch to first painted window")
    print(machine_line())
    print(f"{python} main.py, offscreen, settings in {settings}; {args.rounds} rounds + 1 warm-up, "
          f"shuffled; PYTHONDONTWRITEBYTECODE={os.environ.get('PYTHONDONTWRITEBYTECODE', '')!r}")

    kinds = ["pass", "torch", "gui imports", "app"]
    results: dict[str, list] = {k: [] for k in kinds}
    rng = random.Random(0)
    for r in range(args.rounds + 1):
        order = kinds[:]
        rng.shuffle(order)
        for k in order:
            if k == "pass":
                v = run_plain(python, "pass", env)
            elif k == "torch":
                v = run_plain(python, "import torch", env)
            elif k == "gui imports":
                v = run_plain(python, "import vgviz.gui.main_window", env)
            else:
                v = run_app_launch(python, env)
            if r:
                results[k].append(v)

    app = results["app"]
    first_paint = [m["paint"] - m["spawn"] for m in app]
    frame_done = [m["frame_done"] - m["spawn"] for m in app]
    interp = [m["t0"] - m["spawn"] for m in app]
    qt = [m["qt_imported"] - m["t0"] for m in app]
    to_app = [m["make_app"] - m["qt_imported"] for m in app]
    qapp = [m["app_ready"] - m["make_app"] for m in app]
    window = [m["paint"] - m["app_ready"] for m in app]
    torch_early = any(m["torch_loaded"] for m in app)

    def ms(xs):
        return f"{median(xs) * 1e3:.0f}"

    def rng_ms(xs):
        return f"{min(xs) * 1e3:.0f}–{max(xs) * 1e3:.0f}"

    rows = [
        ["python -c pass (spawn to exit)", ms(results["pass"]), rng_ms(results["pass"]),
         f"{median(results['pass']) / TARGET_S:.2f}"],
        ["python -c 'import torch'", ms(results["torch"]), rng_ms(results["torch"]),
         f"{median(results['torch']) / TARGET_S:.2f}"],
        ["python -c 'import vgviz.gui.main_window'", ms(results["gui imports"]), rng_ms(results["gui imports"]),
         f"{median(results['gui imports']) / TARGET_S:.2f}"],
        ["main.py: spawn to first Paint of MainWindow", ms(first_paint), rng_ms(first_paint),
         f"{median(first_paint) / TARGET_S:.2f}"],
        ["main.py: spawn to first frame done", ms(frame_done), rng_ms(frame_done),
         f"{median(frame_done) / TARGET_S:.2f}"],
    ]
    print()
    print(table(["launch", "median ms", "min–max ms", "/ 1 s"], rows))
    print("\nfirst paint, by phase (medians, ms): "
          f"spawn+interpreter {ms(interp)} · PySide6 import {ms(qt)} · vgviz.cli + gui.app imports {ms(to_app)} · "
          f"QApplication {ms(qapp)} · MainWindow import+build+show to first Paint {ms(window)}")
    print(f"torch imported before the first paint: {'YES' if torch_early else 'no'}")
    if torch_early:
        found = import_chain(python, env)
        if found:
            print(f"  pulled in by: {found[0]} ({found[1] * 1e3:.0f} ms cumulative, one -X importtime launch)")
    fp = median(first_paint)
    print(verdict("launch to first paint", fp <= TARGET_S,
                  f"{fp * 1e3:.0f} ms = {fp / TARGET_S:.2f} of 1 s (import torch alone: "
                  f"{median(results['torch']) * 1e3:.0f} ms)"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
