"""The live display loop: at display rate, take the run's new stats and hand them to the views."""
from __future__ import annotations

from PySide6 import QtCore, QtWidgets

# Every paint holds the GIL, so drawing is training time lost (docs/performance.md#paint-cost-is-training-cost):
# the diagram (two thirds of the GUI thread's time while training at 25 Hz) is redrawn at 12.5 Hz,
# still smooth, and the trend plots, whose cost grows with the history, every 2 s (a trend
# needs no more; they catch up at once when training pauses or ends).
DISPLAY_HZ = 12.5
# every 2 s: each update repaints four plots, ~8 ms each; at ~1 Hz they were a quarter of the GUI
# thread's CPU time while training flat out (docs/performance.md#the-live-windows-gui-thread)
PLOT_EVERY_N_TICKS = 25
# ~2.5 Hz while training: the status bar's step, loss and speed and the timeline's end (a step count
# that changes at every tick cannot be read anyway); each update relays out and repaints them, ~2 %
# of the wall clock in the GUI thread at 12.5 Hz
STATUS_EVERY_N_TICKS = 5


def on_screen(widget: QtWidgets.QWidget) -> bool:
    """Whether any of the widget can be seen: not hidden, not a dock tab behind another, not a
    splitter pane dragged to nothing. Views that cannot be seen are not updated while training."""
    return widget.isVisible() and not widget.visibleRegion().isEmpty()


class LiveDisplay(QtCore.QObject):
    """Drains the window's Run on a timer and updates the views that can be seen: the diagram
    (unless stepping through a trace), the decision boundary, the plots; and the status bar.
    A view that was hidden catches up with the latest stats when it is shown again."""

    def __init__(self, window):
        super().__init__(window)
        self.window = window
        self.ticks = 0
        self._diagram_behind = self._plots_behind = self._status_behind = False  # new steps these views have not shown yet
        self.timer = QtCore.QTimer(self)
        self.timer.setInterval(round(1000 / DISPLAY_HZ))
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
        decision_shown = on_screen(w.decision)
        surface = run.surface(wanted=decision_shown)
        if decision_shown:
            w.decision.show_surface(surface)
        self._diagram_behind = self._diagram_behind or bool(new)
        self._plots_behind = self._plots_behind or bool(new)
        self._status_behind = self._status_behind or bool(new)
        status_now = self.ticks % STATUS_EVERY_N_TICKS == 0 or not run.is_running
        if self._status_behind and status_now:
            w.runs.timeline.set_end(run.step_count)
        # scrubbed back: the live views wait (the training does not) and catch up on release
        live = not w.runs.timeline.pinned
        diagram = w.recurrent if run.config.recurrent else w.network
        if live and self._diagram_behind and not w.backprop.active and on_screen(diagram):
            diagram.show_stats(run.history.latest)
            self._diagram_behind = False
        if (live and self._plots_behind and on_screen(w.plots)
                and (self.ticks % PLOT_EVERY_N_TICKS == 0 or not run.is_running)):
            w.plots.update_from(run.history)
            self._plots_behind = False
        if self._status_behind and status_now:
            w.status.show_stats(run.step_count, run.history)
            self._status_behind = False
        if status_now:
            w.status.show_rate(run.steps_per_s() if run.is_running else None)
