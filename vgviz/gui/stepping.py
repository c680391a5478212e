"""Backprop stepping: record a pass (or a scalar chain), step through its frames, go back to live.

The trace is data, the stepper panel holds a cursor into it, and the window's diagram (the
layer diagram or the unrolled view, whichever fits the trace) draws the cursor's frame."""
from __future__ import annotations

from PySide6 import QtCore, QtWidgets

from .shortcuts import add_action
from .stepper import StepperPanel

# short enough to show whole beside the status bar's read-outs at 1024 px in the lecture font
STEPPING_STATE = "backprop stepping: ← → Home End · Space plays · Esc leaves"


class BackpropStepping(QtCore.QObject):
    def __init__(self, window):
        super().__init__(window)
        self.window = window
        self.active = False
        self.panel = StepperPanel()
        # one word: tabbed with the boundary in a narrow dock, neither tab's title is cut short
        self.dock = QtWidgets.QDockWidget("Backprop", window)
        self.dock.toggleViewAction().setText("Backprop stepper")
        self.dock.setObjectName("stepper_dock")
        scroll = QtWidgets.QScrollArea()
        scroll.setWidget(self.panel)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QtWidgets.QFrame.Shape.NoFrame)
        # the panel wraps to the dock's width; the dock never gets narrower than the panel can wrap to
        scroll.setHorizontalScrollBarPolicy(QtCore.Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setMinimumWidth(self.panel.minimumWidth() + scroll.verticalScrollBar().sizeHint().width())
        self.dock.setWidget(scroll)
        window.addDockWidget(QtCore.Qt.DockWidgetArea.RightDockWidgetArea, self.dock)
        self.panel.cursor_changed.connect(self.show_frame)
        self.panel.record_requested.connect(self.record)
        self.panel.chain_requested.connect(self.record_chain)
        self.panel.leave_requested.connect(self.leave)
        window.run.trace_ready.connect(lambda trace: self.active and self.show_trace(trace))

    def add_actions(self, menu: QtWidgets.QMenu) -> None:
        w = self.window
        add_action(w, "Step backprop / next frame", self.next_frame, "Right",
                   "Pause and record one forward + backward pass, or go to the next frame", menu)
        add_action(w, "Previous frame", self.prev_frame, "Left", menu=menu)
        add_action(w, "First frame", lambda: self.active and self.panel.home(), "Home", menu=menu)
        add_action(w, "Last frame", lambda: self.active and self.panel.end(), "End", menu=menu)
        add_action(w, "Record a new pass", lambda: self.record(None), "Ctrl+Right",
                   "Record a new pass at the current weights", menu)
        add_action(w, "Back to live view", self.leave, "Escape", menu=menu)

    @property
    def trace(self):
        """The trace being stepped through, or None."""
        return self.panel.trace if self.active else None

    def next_frame(self) -> None:
        """→: the first press pauses training and records a pass; later presses step it."""
        if self.active and self.panel.trace is not None:
            self.panel.next()
        else:
            self.record(None)

    def prev_frame(self) -> None:
        if self.active:
            self.panel.prev()

    def record(self, example: int | None = None) -> None:
        """Pause and record a pass of the next batch (or one example) at the current weights."""
        run = self.window.run
        if run.file is not None:
            if not run.request_trace(example):
                self.window.show_error("Backprop stepping needs the model: this file holds no weights of a "
                                       "built-in model (Reset trains its config).")
                return
            self._enter()
            return
        if not run.has_model:
            return
        run.pause()
        self._enter()
        run.request_trace(example)

    def record_chain(self, layers: int, activation: str, weights_text: str, x_text: str) -> None:
        from ..core.backprop.scalar_chain import ChainError, chain_numbers, record_scalar_chain

        try:
            parts = [float(p) for p in weights_text.replace(";", ",").split(",") if p.strip()]
            weights = parts[0] if len(parts) == 1 else parts
            x = float(x_text)
            trace = record_scalar_chain(layers, activation, weights, x)
        except ValueError as err:  # ChainError is a ValueError; so is float('abc')
            message = str(err) if isinstance(err, ChainError) else f"not a number: {err}"
            self.panel.show_chain_error(message)
            return
        self.window.run.pause()
        self._enter()
        self.panel.show_chain_numbers(chain_numbers(trace))
        self.show_trace(trace)

    def _enter(self) -> None:
        self.active = True
        dock, width = self.dock, self.panel.minimumWidth()
        dock.show()
        dock.raise_()
        if dock.width() < width + 30:
            self.window.resizeDocks([dock], [width + 60], QtCore.Qt.Orientation.Horizontal)

    def show_trace(self, trace, cursor: int = 0) -> None:
        self.active = True
        self.panel.set_trace(trace, cursor)
        self.show_frame(self.panel.cursor)
        run = self.window.run
        at = f" (the weights saved at step {run.trace_step})" if run.file is not None else ""
        self.window.status.set_state(STEPPING_STATE + at)

    def show_frame(self, index: int) -> None:
        """The cursor's frame in the diagram that fits the trace: frames per time step go to
        the unrolled view, the others to the layer diagram."""
        from ..core.backprop.recurrent_frames import RecurrentTrace

        trace = self.trace
        if trace is None:
            return
        w = self.window
        recurrent = isinstance(trace, RecurrentTrace)
        w.show_diagram(recurrent)
        if recurrent:
            w.recurrent.unrolled.show_frame(trace.display(index), trace.token_text)
        else:
            w.network.show_frame(trace.display(index))

    def leave(self) -> None:
        """Back to the live view: the diagram shows the run's latest stats again."""
        if not self.active:
            return
        self.active = False
        self.panel.stop_play()
        self.panel.set_trace(None)
        w, run = self.window, self.window.run
        w.network.show_frame(None)
        w.recurrent.unrolled.show_frame(None)
        recurrent = run.config is not None and run.config.recurrent
        w.show_diagram(recurrent)
        if run.history is not None and run.history.latest is not None:
            (w.recurrent if recurrent else w.network).show_stats(run.history.latest)
        w.status.set_state("paused")
