"""The live window while training runs flat out: GUI responsiveness, training
throughput with the window live vs headless, and the diagram's redraw rate.

    .venv/bin/python benchmarks/bench_gui.py [--live 4] [--headless 2] [--cycles 6] [--size 1400x860] [--theme dark]

Set-up: vgviz.gui.main_window.MainWindow on the offscreen platform at
--size (default 1400x860, the first-launch size), settings in a temporary
folder (theme: --theme, default dark),
the deep-relu-he preset changed to depth 20, width 64, batch 128
(benchmarks/_common.py BENCH_CONFIG), loaded with window.configs.open_config(<temp
TOML>) exactly as File > Open config does.
torch.set_num_threads(1) in this process (the worker sets the same).

Phases, interleaved: headless, live, headless, live, ..., headless.

  headless  the window's run is paused; a separate Trainer of the same config
            steps in the main thread (no Qt event processing) for --headless s,
            choosing full or light steps the way the worker does (full stats
            at most every FULL_PERIOD_S, where vgviz has light steps) and
            recording every step to a run file as the worker does — what
            `vgviz train --out` does, so the ratio is the window's cost alone
            (--headless-unrecorded leaves the recording out, as before run files)
  live      window.start(): the worker thread trains flat out while the main
            window runs its normal event loop (diagram at its 12.5 Hz display
            tick, plots every 25th, status bar and timeline every 5th) for --live s

Measured in live phases:
  (a) lateness of a 10 ms PreciseTimer in the GUI thread: every interval
      minus 10 ms; p95 and max. Target p95 <= 30 ms.
  (b) training steps/s (window.run.step_count) divided by the mean steps/s of the
      headless phases before and after it. Target >= 0.90.
  (c) NetworkView redraw rate: QEvent.Paint events reaching window.network
      (an event filter counts them) per second. Target >= 10 fps (smooth; the display ticks at 12.5 Hz).
Also printed: the diagram's median paintEvent time (view.last_paint_ms) and
the repaint rate of the window's pyqtgraph views (plots, decision boundary),
per view.
"""
from __future__ import annotations

import argparse
import cProfile
import inspect
import pstats
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (BENCH_CONFIG, isolate_settings, machine_line, median, offscreen,  # noqa: E402
                     quantile, quiet_qt, table, verdict)

offscreen()

import pyqtgraph as pg  # noqa: E402
import torch  # noqa: E402
from PySide6 import QtCore  # noqa: E402

from vgviz.core.config import RunConfig  # noqa: E402
from vgviz.core.tasks import make_trainer  # noqa: E402
from vgviz.core.tasks.trainer import Trainer  # noqa: E402

LATENESS_TARGET_MS = 30.0
RATIO_TARGET = 0.90
FPS_TARGET = 10.0
PROBE_MS = 10


class PaintCounter(QtCore.QObject):
    """Counts QEvent.Paint reaching a widget; samples the view's last paint time."""

    def __init__(self, view=None):
        super().__init__()
        self.view = view
        self.count = 0
        self.paint_ms: list[float] = []

    def eventFilter(self, obj, event):  # noqa: N802 - Qt name
        if event.type() == QtCore.QEvent.Type.Paint:
            self.count += 1
            if self.view is not None and getattr(self.view, "last_paint_ms", 0.0):
                self.paint_ms.append(self.view.last_paint_ms)  # the previous paint's time
        return False


class LatenessProbe(QtCore.QObject):
    """A 10 ms timer in the GUI thread; records how late each timeout comes."""

    def __init__(self, interval_ms: int = PROBE_MS):
        super().__init__()
        self.interval = interval_ms / 1000.0
        self.timer = QtCore.QTimer(self)
        self.timer.setTimerType(QtCore.Qt.TimerType.PreciseTimer)
        self.timer.setInterval(interval_ms)
        self.timer.timeout.connect(self._tick)
        self.late_ms: list[float] = []
        self._last = None

    def start(self) -> None:
        self._last = time.perf_counter()
        self.timer.start()

    def stop(self) -> None:
        self.timer.stop()

    def _tick(self) -> None:
        now = time.perf_counter()
        self.late_ms.append(max(0.0, (now - self._last - self.interval) * 1000.0))
        self._last = now


def run_loop(seconds: float) -> None:
    loop = QtCore.QEventLoop()
    QtCore.QTimer.singleShot(int(seconds * 1000), loop.quit)
    loop.exec()


def wait_until(app, predicate, timeout: float) -> bool:
    end = time.perf_counter() + timeout
    while time.perf_counter() < end:
        app.processEvents(QtCore.QEventLoop.ProcessEventsFlag.AllEvents, 50)
        if predicate():
            return True
        time.sleep(0.01)
    return False


def worker_full_period() -> float | None:
    """The worker's period between full-stats steps (light steps in between), or None
    when this version of vgviz has no light steps (then every step is full)."""
    from vgviz.gui import worker

    period = getattr(worker, "FULL_PERIOD_S", None)
    return period if period is not None and "full" in inspect.signature(Trainer.step).parameters else None


def headless_rate(trainer: Trainer, seconds: float, recorder=None) -> float:
    """Steps/s of the same work the worker does, without the window: full stats at most
    every FULL_PERIOD_S and light steps in between, as TrainingWorker._loop decides, each
    step recorded when a RunRecorder is given."""
    period = worker_full_period()
    n, t0 = 0, time.perf_counter()
    end, last_full = t0 + seconds, -1e9
    while True:
        if period is None:
            trainer.step()
        else:
            now = time.perf_counter()
            full = now - last_full >= period
            if full:
                last_full = now
            stats = trainer.step(full=full)
            if recorder is not None:
                recorder.record(stats)
        n += 1
        if n % 10 == 0 and time.perf_counter() >= end:
            break
    return n / (time.perf_counter() - t0)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    # short phases, many of them: this machine's speed drifts by ±20 % within a minute, and each
    # live phase is compared with the headless phases right before and after it
    ap.add_argument("--live", type=float, default=4.0, help="seconds per live phase")
    ap.add_argument("--headless", type=float, default=2.0, help="seconds per headless phase")
    ap.add_argument("--cycles", type=int, default=6, help="live phases (each between two headless ones)")
    ap.add_argument("--headless-unrecorded", action="store_true",
                    help="headless phases do not record a run file (the live run always records, as the app does)")
    ap.add_argument("--theme", default="dark", help="the window's theme (vgviz.gui.theme: dark, lecture)")
    ap.add_argument("--size", default="1400x860",
                    help="window size WxH (default: the app's first-launch size, 1400x860)")
    ap.add_argument("--profile", type=int, default=0, metavar="N",
                    help="also print the GUI thread's N most costly functions during the live phases (cProfile)")
    ap.add_argument("--profile-sort", default="tottime", choices=("tottime", "cumulative"),
                    help="--profile's order: time in the function itself, or with what it calls")
    args = ap.parse_args(argv)

    torch.set_num_threads(1)
    quiet_qt()
    settings_dir = isolate_settings()
    from vgviz.gui.app import make_app
    from vgviz.gui.main_window import MainWindow
    from vgviz.gui.settings import app_settings

    app = make_app(["bench_gui"])
    app_settings().setValue("theme", args.theme)   # in the temporary settings
    config = RunConfig(**BENCH_CONFIG)
    print("bench_gui: live window vs headless training")
    print(machine_line())
    width, height = (int(v) for v in args.size.lower().split("x"))
    print(f"window {width}x{height} offscreen, {args.theme} theme; run {config.summary()}; settings in {settings_dir}")
    period = worker_full_period()
    print(f"phases: headless {args.headless:g} s / live {args.live:g} s, {args.cycles} live phases, interleaved; "
          + ("every step full" if period is None else
             f"both sides: full stats at most every {period * 1e3:.0f} ms, light steps in between")
          + ("; live records its run, headless does not" if args.headless_unrecorded else
             "; both sides record every step to a run file"))

    window = MainWindow()
    window.resize(width, height)
    window.show()
    with tempfile.NamedTemporaryFile("w", suffix=".toml", delete=False) as fh:
        # written the way File > Save config writes it (TOML values via json.dumps)
        fh.write("[config]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in config.to_dict().items()))
        toml_path = fh.name
    if not window.configs.open_config(toml_path):
        print("could not load the benchmark config into the window: "
              + window.panel.error_label.text())
        return 2
    if not wait_until(app, lambda: window.run.history is not None, 60):
        print("the run did not become ready within 60 s")
        return 2
    if window.run.config != config:
        print(f"warning: the window runs {window.run.config}, not the benchmark config")

    view_paints = PaintCounter(window.network)
    window.network.installEventFilter(view_paints)
    plot_paints = PaintCounter()
    plot_widgets = window.findChildren(pg.PlotWidget)     # the training plots and any other pyqtgraph view
    for w in plot_widgets:
        w.viewport().installEventFilter(plot_paints)
    probe = LatenessProbe()

    headless = make_trainer(config)
    for _ in range(50):
        headless.step()
    recorder = None
    if not args.headless_unrecorded:
        from vgviz.core.runfile import RunRecorder
        from vgviz.gui.worker import FULL_PERIOD_S

        recorder = RunRecorder(headless, Path(tempfile.mkdtemp()) / "headless.vgviz", capture_hz=1 / FULL_PERIOD_S,
                               surface_period_s=None)

    # warm the live path (first frames compute the layout, plots create items)
    window.start()
    run_loop(1.5)

    h_rates: list[float] = []
    live: list[dict] = []
    profile = cProfile.Profile() if args.profile else None   # profiles the GUI (this) thread only
    gui_cpu_s = live_s = 0.0
    window.pause()
    wait_until(app, lambda: not window.run.worker.is_running, 5)
    run_loop(0.2)   # let the worker finish its step
    h_rates.append(headless_rate(headless, args.headless, recorder))
    for _ in range(args.cycles):
        window.start()
        run_loop(0.3)                          # the worker is up to speed
        s0, t0 = window.run.step_count, time.perf_counter()
        paints0, plots0, n_paint_ms = view_paints.count, plot_paints.count, len(view_paints.paint_ms)
        n_late = len(probe.late_ms)
        probe.start()
        cpu0 = time.thread_time()
        if profile is not None:
            profile.enable()
        run_loop(args.live)
        if profile is not None:
            profile.disable()
        gui_cpu_s += time.thread_time() - cpu0
        probe.stop()
        s1, t1 = window.run.step_count, time.perf_counter()
        live_s += t1 - t0
        dt = t1 - t0
        live.append(dict(rate=(s1 - s0) / dt, fps=(view_paints.count - paints0) / dt,
                         plot_fps=(plot_paints.count - plots0) / dt,
                         late=probe.late_ms[n_late:], paint_ms=view_paints.paint_ms[n_paint_ms:]))
        window.pause()
        wait_until(app, lambda: not window.run.worker.is_running, 5)
        run_loop(0.2)
        h_rates.append(headless_rate(headless, args.headless, recorder))

    rows = []
    ratios = []
    for i, ph in enumerate(live):
        base = (h_rates[i] + h_rates[i + 1]) / 2
        ratios.append(ph["rate"] / base)
        rows.append([f"live {i + 1}", f"{ph['rate']:.0f}", f"{base:.0f}", f"{ph['rate'] / base:.2f}",
                     f"{ph['fps']:.1f}", f"{median(ph['paint_ms']) if ph['paint_ms'] else float('nan'):.1f}",
                     f"{ph['plot_fps'] / max(len(plot_widgets), 1):.1f}",
                     f"{quantile(ph['late'], 0.5):.1f}", f"{quantile(ph['late'], 0.95):.1f}",
                     f"{max(ph['late']) if ph['late'] else float('nan'):.0f}"])
    print()
    print("headless steps/s: " + ", ".join(f"{r:.0f}" for r in h_rates))
    print(table(["phase", "live steps/s", "headless steps/s", "ratio", "diagram fps", "paint ms",
                 "plot fps (each)", "late p50 ms", "late p95 ms", "late max ms"], rows))
    all_late = [x for ph in live for x in ph["late"]]
    p95 = quantile(all_late, 0.95)
    live_rate = sum(ph["rate"] for ph in live) / len(live)
    ratio = live_rate / (sum(h_rates) / len(h_rates))
    fps = sum(ph["fps"] for ph in live) / len(live)
    print(f"\n{len(all_late)} timer intervals; {len(plot_widgets)} pyqtgraph views in the window; "
          f"window title: {window.windowTitle()}")
    print(f"GUI thread CPU time while live: {gui_cpu_s / live_s:.1%} of the wall clock")
    if profile is not None:
        pstats.Stats(profile, stream=sys.stdout).sort_stats(args.profile_sort).print_stats(args.profile)
    print(verdict("GUI responsiveness", p95 <= LATENESS_TARGET_MS,
                  f"p95 lateness of a 10 ms timer = {p95:.1f} ms (target <= {LATENESS_TARGET_MS:g})"))
    print(verdict("training with the window live", ratio >= RATIO_TARGET,
                  f"live / headless steps/s = {ratio:.2f} (target >= {RATIO_TARGET}; per phase "
                  + ", ".join(f"{r:.2f}" for r in ratios) + ")"))
    print(verdict("diagram redraw rate", fps >= FPS_TARGET, f"{fps:.1f} fps (target >= {FPS_TARGET:g})"))
    if recorder is not None:
        recorder.close()
    window.close()
    Path(toml_path).unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
