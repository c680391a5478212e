"""The backprop stepper panel: a cursor over a trace's frames, the chain rule's numbers.

The only stepping state is the cursor index; the trace itself is data from
vgviz.core.backprop.trace, and the diagram draws `trace.display(cursor)`.
"""
from __future__ import annotations

import html
import re

from PySide6 import QtCore, QtWidgets

from ..core.backprop.frames import Trace
from ..core.layout.labels import rule_parts

CHAIN_ACTIVATIONS = ("identity", "sigmoid", "tanh")
MIN_WIDTH = 240


class StepperPanel(QtWidgets.QWidget):
    cursor_changed = QtCore.Signal(int)
    record_requested = QtCore.Signal(object)   # None = the next batch, int = one training example
    chain_requested = QtCore.Signal(int, str, str, str)  # layers, activation, weights text, x text
    leave_requested = QtCore.Signal()

    def __init__(self, parent: QtWidgets.QWidget | None = None):
        super().__init__(parent)
        self.trace: Trace | None = None
        self.cursor = 0
        # narrow enough for the right dock beside the panel and the plots at 1024×768 (lecture
        # fonts): rows wrap instead of scrolling sideways
        self.setMinimumWidth(MIN_WIDTH)
        layout = QtWidgets.QVBoxLayout(self)

        source = QtWidgets.QHBoxLayout()
        self.source_box = QtWidgets.QComboBox()
        self.source_box.addItems(["next mini-batch", "one example"])
        self.source_box.setToolTip("Record the pass on the batch the next training step would use,\n"
                                   "or on one training example (its index on the right).")
        self.example_spin = QtWidgets.QSpinBox()
        self.example_spin.setRange(0, 799)
        self.example_spin.setEnabled(False)
        self.example_spin.setToolTip("Index of the training example")
        self.source_box.currentIndexChanged.connect(lambda i: self.example_spin.setEnabled(i == 1))
        self.record_button = QtWidgets.QPushButton("Record pass")
        self.record_button.setToolTip("Record one forward + backward pass at the current weights (→)")
        self.record_button.clicked.connect(self._on_record)
        source.addWidget(self.source_box, 1)
        source.addWidget(self.example_spin)
        layout.addLayout(source)
        layout.addWidget(self.record_button)

        self.frame_label = QtWidgets.QLabel("No pass recorded: pause and press → (or Record pass).")
        self.frame_label.setWordWrap(True)
        label_font = self.frame_label.font()
        label_font.setBold(True)
        self.frame_label.setFont(label_font)
        self._key_color = "#9aa0ab"
        layout.addWidget(self.frame_label)

        self.slider = QtWidgets.QSlider(QtCore.Qt.Orientation.Horizontal)
        self.slider.setRange(0, 0)
        self.slider.setTickPosition(QtWidgets.QSlider.TickPosition.TicksBelow)
        self.slider.setToolTip("Timeline: forward frames, the loss, then backward frames")
        self.slider.valueChanged.connect(self.set_cursor)
        layout.addWidget(self.slider)

        nav = QtWidgets.QHBoxLayout()
        icon = self.style().standardIcon
        sp = QtWidgets.QStyle.StandardPixmap
        self.home_button = QtWidgets.QPushButton(icon(sp.SP_MediaSkipBackward), "")
        self.prev_button = QtWidgets.QPushButton(icon(sp.SP_MediaSeekBackward), "")
        self.play_button = QtWidgets.QPushButton(icon(sp.SP_MediaPlay), "Play")
        self.next_button = QtWidgets.QPushButton(icon(sp.SP_MediaSeekForward), "")
        self.end_button = QtWidgets.QPushButton(icon(sp.SP_MediaSkipForward), "")
        for b, tip, slot in ((self.home_button, "First frame (Home)", self.home),
                             (self.prev_button, "Previous frame (←)", self.prev),
                             (self.play_button, "Play / pause the frames (Space)", self.toggle_play),
                             (self.next_button, "Next frame (→)", self.next),
                             (self.end_button, "Last frame (End)", self.end)):
            b.setToolTip(tip)
            b.clicked.connect(slot)
            nav.addWidget(b)
        layout.addLayout(nav)

        speed = QtWidgets.QHBoxLayout()
        speed.addWidget(QtWidgets.QLabel("speed"))
        self.speed_spin = QtWidgets.QDoubleSpinBox()
        self.speed_spin.setRange(0.25, 20.0)
        self.speed_spin.setSingleStep(0.25)
        self.speed_spin.setValue(1.5)
        self.speed_spin.setSuffix(" frames/s")
        self.speed_spin.valueChanged.connect(self._on_speed)
        speed.addWidget(self.speed_spin, 1)
        layout.addLayout(speed)
        self.leave_button = QtWidgets.QPushButton("Back to live view")
        self.leave_button.setToolTip("Leave stepping; the diagram shows training again (Esc)")
        self.leave_button.clicked.connect(self.leave_requested)
        layout.addWidget(self.leave_button)

        self.explanation = QtWidgets.QLabel()
        self.explanation.setWordWrap(True)
        self.explanation.setTextFormat(QtCore.Qt.TextFormat.RichText)
        self.explanation.setAlignment(QtCore.Qt.AlignmentFlag.AlignTop)
        self.explanation.setTextInteractionFlags(QtCore.Qt.TextInteractionFlag.TextSelectableByMouse)
        self.explanation.setMinimumHeight(170)
        layout.addWidget(self.explanation)

        layout.addWidget(self._build_chain_box())
        layout.addStretch(1)

        self.play_timer = QtCore.QTimer(self)
        self.play_timer.timeout.connect(self._on_play_tick)
        self._on_speed(self.speed_spin.value())
        self._update_buttons()

    def _build_chain_box(self) -> QtWidgets.QGroupBox:
        # a group box's title cannot wrap: the short title, and the rest as a wrapped line
        box = QtWidgets.QGroupBox("Scalar chain")
        form = QtWidgets.QFormLayout(box)
        about = QtWidgets.QLabel("One neuron per layer, L = y.")
        about.setWordWrap(True)
        form.addRow(about)
        self.chain_layers = QtWidgets.QSpinBox()
        self.chain_layers.setRange(1, 20)
        self.chain_layers.setValue(10)
        self.chain_activation = QtWidgets.QComboBox()
        self.chain_activation.addItems(CHAIN_ACTIVATIONS)
        self.chain_weights = QtWidgets.QLineEdit("0.2")
        self.chain_weights.setToolTip("One weight for every layer, or one per layer separated by commas")
        self.chain_x = QtWidgets.QLineEdit("1")
        self.chain_x.setToolTip("The input x (z₁ = w₁·x: x = 5, w = 1 puts the first sigmoid at z = 5)")
        form.addRow("layers", self.chain_layers)
        form.addRow("activation f", self.chain_activation)
        form.addRow("weights w", self.chain_weights)
        form.addRow("input x", self.chain_x)
        self.chain_button = QtWidgets.QPushButton("Record chain")
        self.chain_button.setToolTip("y = f(wₙ·f(… f(w₁·x))): step its backward pass factor by factor")
        self.chain_button.clicked.connect(
            lambda: self.chain_requested.emit(self.chain_layers.value(), self.chain_activation.currentText(),
                                              self.chain_weights.text(), self.chain_x.text()))
        form.addRow(self.chain_button)
        self.chain_table = QtWidgets.QTableWidget(0, 5)
        self.chain_table.setHorizontalHeaderLabels(["z", "f′(z)", "w", "w·f′(z)", "running product"])
        self.chain_table.verticalHeader().setDefaultSectionSize(18)
        header = self.chain_table.horizontalHeader()
        header.setSectionResizeMode(QtWidgets.QHeaderView.ResizeMode.Stretch)   # the dock's width, no sideways scroll
        header.setMinimumSectionSize(30)
        self.chain_table.setHorizontalHeaderLabels(["z", "f′(z)", "w", "w·f′(z)", "product"])
        self.chain_table.horizontalHeaderItem(4).setToolTip(
            "running product of the factors from the output down to this layer = dL/da of the layer's input")
        self.chain_table.setEditTriggers(QtWidgets.QAbstractItemView.EditTrigger.NoEditTriggers)
        self.chain_table.setMinimumHeight(120)
        form.addRow(self.chain_table)
        self.chain_error = QtWidgets.QLabel()
        self.chain_error.setStyleSheet("color: #ff6b6b; font-weight: bold;")
        self.chain_error.setWordWrap(True)
        self.chain_error.hide()
        form.addRow(self.chain_error)
        return box

    # -- trace and cursor ----------------------------------------------------------
    def set_trace(self, trace: Trace | None, cursor: int = 0) -> None:
        self.trace = trace
        self.slider.blockSignals(True)
        self.slider.setRange(0, max(0, len(trace) - 1) if trace else 0)
        self.slider.blockSignals(False)
        self.cursor = -1
        if trace is None:
            self.stop_play()
            self.frame_label.setText("No pass recorded: pause and press → (or Record pass).")
            self.explanation.setText("")
            self._update_buttons()
            return
        self.set_cursor(cursor)

    def set_cursor(self, index: int) -> None:
        if self.trace is None:
            return
        index = max(0, min(int(index), len(self.trace) - 1))
        if index == self.cursor:
            return
        self.cursor = index
        self.slider.blockSignals(True)
        self.slider.setValue(index)
        self.slider.blockSignals(False)
        self.frame_label.setText(self.trace.frames[index].label)
        self.explanation.setText(_rows_html(self.trace.explain(index), self._key_color))
        self._update_buttons()
        self.cursor_changed.emit(index)

    def next(self) -> None:
        if self.trace is not None:
            self.set_cursor(self.cursor + 1)

    def prev(self) -> None:
        if self.trace is not None:
            self.set_cursor(self.cursor - 1)

    def home(self) -> None:
        self.set_cursor(0)

    def end(self) -> None:
        if self.trace is not None:
            self.set_cursor(len(self.trace) - 1)

    @property
    def at_end(self) -> bool:
        return self.trace is not None and self.cursor >= len(self.trace) - 1

    def set_theme(self, theme) -> None:
        """The colours of a vgviz.gui.theme.Theme (the palette and font come from the window)."""
        self._key_color = theme.key_text
        if self.trace is not None and self.cursor >= 0:
            self.explanation.setText(_rows_html(self.trace.explain(self.cursor), self._key_color))

    # -- play ----------------------------------------------------------------------
    def toggle_play(self) -> None:
        if self.play_timer.isActive():
            self.stop_play()
        elif self.trace is not None:
            if self.at_end:
                self.home()
            self.play_timer.start()
            self.play_button.setText("Pause")
            self.play_button.setIcon(self.style().standardIcon(QtWidgets.QStyle.StandardPixmap.SP_MediaPause))

    def stop_play(self) -> None:
        self.play_timer.stop()
        self.play_button.setText("Play")
        self.play_button.setIcon(self.style().standardIcon(QtWidgets.QStyle.StandardPixmap.SP_MediaPlay))

    def _on_play_tick(self) -> None:
        if self.at_end:
            self.stop_play()
        else:
            self.next()

    def _on_speed(self, frames_per_second: float) -> None:
        self.play_timer.setInterval(int(1000 / frames_per_second))

    def _on_record(self) -> None:
        self.record_requested.emit(self.example_spin.value() if self.source_box.currentIndex() == 1 else None)

    def _update_buttons(self) -> None:
        has = self.trace is not None
        for b in (self.home_button, self.prev_button, self.play_button, self.next_button, self.end_button,
                  self.slider):
            b.setEnabled(has)

    # -- scalar chain ------------------------------------------------------------------
    def show_chain_numbers(self, numbers) -> None:
        n = len(numbers.z)
        self.chain_table.setRowCount(n)
        self.chain_table.setVerticalHeaderLabels([str(i + 1) for i in range(n)])
        for i in range(n):
            for j, v in enumerate((numbers.z[i], numbers.fprime[i], numbers.weights[i], numbers.factors[i],
                                   numbers.running_product[i])):
                item = QtWidgets.QTableWidgetItem(f"{v:.4g}")
                item.setToolTip(repr(float(v)))
                self.chain_table.setItem(i, j, item)
        self.chain_error.hide()

    def show_chain_error(self, message: str) -> None:
        self.chain_error.setText(message)
        self.chain_error.show()


# Inside a formula a line may break only before a binary operator (=, ⊙, +, ·, −), as typeset
# equations do; every other space is a no-break space, and a word joiner after each '/' holds
# ∂L/∂h whole (Unicode's line-break rules allow a break after a slash)
_TERM_SPACE = re.compile(r" (?![=⊙+·−] )")


def _hold_terms(formula: str) -> str:
    return _TERM_SPACE.sub("\u00a0", formula).replace("/", "/\u2060")


def _rule_html(rule: str) -> str:
    """A narrow panel wraps the chain rule between its parts, and inside a formula only before
    an operator: never inside a term."""
    return "".join(html.escape(_hold_terms(part)) if formula else html.escape(part)
                   for part, formula in rule_parts(rule))


def _rows_html(rows: list[tuple[str, str]], key_color: str = "#9aa0ab") -> str:
    """A key/value table; the rule gets a row of its own under its key, the panel's whole width,
    so that its formula fits the narrow dock on one line."""
    def row(k: str, v: str) -> str:
        key = f"<td style='color:{key_color}; padding-right:10px'>{html.escape(k)}</td>"
        if k == "rule":
            return f"<tr>{key}<td></td></tr><tr><td colspan='2'><b>{_rule_html(v)}</b></td></tr>"
        return f"<tr>{key}<td><b>{html.escape(v)}</b></td></tr>"

    return f"<table cellspacing='3'>{''.join(row(k, v) for k, v in rows)}</table>"
