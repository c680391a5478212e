"""The live display loop: at display rate, take the run's new stats and hand them to the views."""
from __future__ import annotations

from PySide6 import QtCore

# Every paint holds the GIL, so drawing is training time lost (benchmarks/README.md): the
# diagram is redrawn at 25 Hz and the trend plots, whose cost grows with the history, at 2.5 Hz.
DISPLAY_HZ = 25
PLOT_EVERY_N_TICKS = 12  # ~2 Hz: each update repaints four plots, time the trainer waits for


class LiveDisplay(QtCore.QObject):
    """Drains the window's Run on a timer and updates the diagram (unless stepping through a
    trace), the decision boundary, the plots and the status bar."""

    def __init__(self, window):
        super().__init__(window)
        self.window = window
        self.ticks = 0
        self.timer = QtCore.QTimer(self)
        self.timer.setInterval(1000 // DISPLAY_HZ)
        self.timer.timeout.connect(self.tick)

    def start(self) -> None:
        self.timer.start()

    def stop(self) -> None:
        self.timer.stop()

    def set_live(self, live: bool) -> None:
        """Training or not: the views that draw differently while training."""
        self.window.plots.set_live(live)
        self.window.network.set_live(live)

    def tick(self) -> None:
        w, run = self.window, self.window.run
        if not run.has_source:
            return
        new = run.drain()
        if run.history is None:
            return
        self.ticks += 1
        w.decision.show_surface(run.surface(wanted=w.decision.isVisible()))
        if new:
            latest = run.history.latest
            w.runs.timeline.set_end(run.step_count)
            if not w.runs.timeline.pinned:   # scrubbed back: the live view waits (the training does not)
                if not w.backprop.active:
                    (w.recurrent if run.config.recurrent else w.network).show_stats(latest)
                if self.ticks % PLOT_EVERY_N_TICKS == 0 or not run.is_running:
                    w.plots.update_from(run.history)
            w.status.show_stats(run.step_count, run.history)
        w.status.show_rate(run.steps_per_s() if run.is_running else None)
