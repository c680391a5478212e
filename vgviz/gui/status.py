"""The status bar's run read-out: step, loss / accuracy / test accuracy, steps/s."""
from __future__ import annotations

from PySide6 import QtCore, QtWidgets

from ..core.measure.history import History
from ..core.measure.steps import step_text, steps_done


class StatusLabel(QtWidgets.QLabel):
    """A status-bar label of a fixed size that fits its longest text in the current font.

    A label whose text changes size asks its parent to lay out again; in the status bar,
    updated every frame, that relaid out the whole main window, docks included."""

    def __init__(self, widest: str):
        super().__init__()
        self._widest = widest
        self._fit()

    def _fit(self) -> None:
        metrics = self.fontMetrics()
        self.setFixedSize(metrics.horizontalAdvance(self._widest) + 8, metrics.height() + 2)

    def changeEvent(self, event: QtCore.QEvent) -> None:
        if event.type() == QtCore.QEvent.Type.FontChange:  # the lecture theme's larger font
            self._fit()
        super().changeEvent(event)


class RunStatus:
    """The run's state as the status bar's message, and three fixed-size labels at its right;
    the one place their text is built."""

    def __init__(self, bar: QtWidgets.QStatusBar):
        self.bar = bar
        self.state = "starting"
        self.step_label = StatusLabel("step 10,000,000")  # RunConfig's most steps
        self.loss_label = StatusLabel("loss 0.0001234 · acc 100% · test acc 100%")
        self.rate_label = StatusLabel("99,999 steps/s")
        for label in (self.step_label, self.loss_label, self.rate_label):
            bar.addPermanentWidget(label)

    def set_state(self, text: str) -> None:
        """What the run is doing: building, ready, training, paused, finished …"""
        self.state = text
        self.bar.showMessage(text)

    def show_stats(self, steps: int, history: History) -> None:
        latest = history.latest
        self.step_label.setText(step_text(steps))
        text = f"loss {latest.loss:.4g} · acc {latest.accuracy:.0%}"
        if len(history.test):
            text += f" · test acc {history.test[-1, 2]:.0%}"
        self.loss_label.setText(text)

    def show_trained(self, history: History) -> None:
        """A run shown whole (no trainer behind it): its step count and numbers, and 'trained N steps'."""
        steps = steps_done(history.latest)
        self.show_stats(steps, history)
        self.set_state(f"trained {steps:,} steps")

    def show_rate(self, steps_per_s: float | None) -> None:
        """The training speed while training; None (paused) gives its room to messages."""
        self.rate_label.setText("" if steps_per_s is None else f"{steps_per_s:,.0f} steps/s")
        running = steps_per_s is not None
        if self.rate_label.isVisibleTo(self.rate_label.parentWidget()) != running:
            self.rate_label.setVisible(running)
