"""Backprop stepping driven with qtbot: keys move the cursor, the panel shows the numbers."""
import math

import numpy as np
import pytest
from PySide6 import QtCore

from .conftest import WAIT_MS, wait_until_paused

Key = QtCore.Qt.Key


def _press(qtbot, window, key, modifier=QtCore.Qt.KeyboardModifier.NoModifier):
    window.setFocus()
    qtbot.keyClick(window, key, modifier)


def test_keys_move_the_cursor_and_the_panel_explains_the_frame(window, qtbot):
    _press(qtbot, window, Key.Key_Right)           # pause + record a pass
    qtbot.waitUntil(lambda: window.stepper.trace is not None, timeout=WAIT_MS)
    trace = window.stepper.trace
    assert window.backprop.active and window.stepper.cursor == 0
    assert len(trace) == 9 + 1 + 9                  # 9 Linear forward, the loss, 9 backward
    assert window.stepper_dock.isVisible()
    _press(qtbot, window, Key.Key_Right)
    assert window.stepper.cursor == 1
    assert window.stepper.slider.value() == 1
    _press(qtbot, window, Key.Key_Left)
    assert window.stepper.cursor == 0
    _press(qtbot, window, Key.Key_End)
    assert window.stepper.cursor == len(trace) - 1
    last = trace.frames[-1]
    assert last.phase == "backward" and last.layer == 0
    # the panel shows this frame's shrink factor and cumulative factor, from the trace
    text = window.stepper.explanation.text()
    assert f"×{last.shrink:.4g}" in text
    assert f"×{last.cumulative:.4g}" in text
    # the chain rule wraps between its parts, never inside the formula 
    # the formula breaks, if at all, only before an operator: its terms are held whole
    assert "δˡ =\u00a0(Wˡ⁺¹)ᵀ\u00a0δˡ⁺¹ ⊙\u00a0f′(zˡ)" in text
    assert last.label in window.stepper.frame_label.text()
    _press(qtbot, window, Key.Key_Home)
    assert window.stepper.cursor == 0
    # the diagram shows the frame, not live stats
    assert window.network.frame_display is not None
    assert window.network.frame_display.focus_layer == 0


def test_diagram_shows_the_signal_fade_backwards(window, qtbot):
    window.backprop.record()
    qtbot.waitUntil(lambda: window.stepper.trace is not None, timeout=WAIT_MS)
    trace = window.stepper.trace
    first_backward = trace.backward_frames[0].index
    window.stepper.set_cursor(first_backward)
    shown = window.network.frame_display
    assert shown.quantity == "gradient" and shown.focus_layer == 8
    assert all(v is None for v in shown.node_values[:8])       # only the output is lit yet
    window.stepper.end()
    shown = window.network.frame_display
    assert all(v is not None for v in shown.node_values)
    # mean |δ| of the first hidden layer is far below the output's: the signal faded
    assert shown.node_values[0].mean() < 1e-3 * shown.node_values[-1].mean()
    image = window.network.grab().toImage()
    assert image.width() > 0


def test_stepping_then_resuming_continues_the_step_count(window, qtbot):
    window.start()
    qtbot.waitUntil(lambda: window.run.step_count >= 10, timeout=WAIT_MS)
    window.backprop.next_frame()                              # pauses and records
    qtbot.waitUntil(lambda: window.stepper.trace is not None, timeout=WAIT_MS)
    wait_until_paused(qtbot, window)
    paused_at = window.run.step_count
    weights = [p.detach().clone() for p in window.run.worker.trainer.model.parameters()]
    for _ in range(5):
        window.backprop.next_frame()
    qtbot.wait(200)  # fixed on purpose: the point is that stepping trains no step in this time
    assert window.run.step_count == paused_at             # stepping does not train
    for p, w in zip(window.run.worker.trainer.model.parameters(), weights):
        assert np.array_equal(p.detach().numpy(), w.numpy())
    window.toggle_running()                           # resume: stepping ends, training continues
    assert not window.backprop.active
    qtbot.waitUntil(lambda: window.run.step_count >= paused_at + 5, timeout=WAIT_MS)
    window.pause()


def test_space_plays_the_frames_while_stepping(window, qtbot):
    window.backprop.record()
    qtbot.waitUntil(lambda: window.stepper.trace is not None, timeout=WAIT_MS)
    window.stepper.speed_spin.setValue(20.0)
    steps_before = window.run.step_count
    _press(qtbot, window, Key.Key_Space)
    assert window.stepper.play_timer.isActive()
    qtbot.waitUntil(lambda: window.stepper.at_end, timeout=5000)
    assert window.run.step_count == steps_before          # Space played frames, it did not train
    _press(qtbot, window, Key.Key_Escape)
    assert not window.backprop.active and window.network.frame_display is None


def test_scalar_chain_shows_the_textbook_numbers(window, qtbot):
    panel = window.stepper
    panel.chain_layers.setValue(10)
    panel.chain_activation.setCurrentText("identity")
    panel.chain_weights.setText("0.2")
    panel.chain_x.setText("1")
    qtbot.mouseClick(panel.chain_button, QtCore.Qt.MouseButton.LeftButton)
    assert panel.trace is not None and len(panel.trace.backward_frames) == 10
    assert panel.chain_table.item(0, 4).text() == "1.024e-07"
    assert float(panel.chain_table.item(0, 4).toolTip()) == pytest.approx(0.2 ** 10, rel=1e-12)
    assert panel.chain_table.item(3, 3).text() == "0.2"

    panel.chain_layers.setValue(3)
    panel.chain_activation.setCurrentText("sigmoid")
    panel.chain_weights.setText("1")
    panel.chain_x.setText("5")
    qtbot.mouseClick(panel.chain_button, QtCore.Qt.MouseButton.LeftButton)
    sig5 = 1 / (1 + math.exp(-5))
    assert panel.chain_table.item(0, 0).text() == "5"
    assert panel.chain_table.item(0, 1).text() == f"{sig5 * (1 - sig5):.4g}" == "0.006648"


def test_scalar_chain_bad_input_shows_a_message(window, qtbot):
    panel = window.stepper
    panel.chain_weights.setText("heavy")
    qtbot.mouseClick(panel.chain_button, QtCore.Qt.MouseButton.LeftButton)
    assert panel.chain_error.isVisibleTo(panel)
    assert "not a number" in panel.chain_error.text()
    panel.chain_weights.setText("1, 2")
    panel.chain_layers.setValue(3)
    qtbot.mouseClick(panel.chain_button, QtCore.Qt.MouseButton.LeftButton)
    assert "weights: need 3 values" in panel.chain_error.text()


def test_a_recurrent_rule_breaks_only_before_an_operator():
    """'∂L/∂h_(t+1)' is held whole (Qt would break after its slash); the formula may break
    only before =, ⊙, +, · or −, as typeset equations do."""
    from vgviz.core.backprop.recurrent_frames import BACK_RULES
    from vgviz.gui.stepper import _hold_terms

    held = _hold_terms(BACK_RULES["rnn"].split(":")[0])
    assert "∂L/\u2060∂h_(t+1)" in held
    breaks = [i for i, c in enumerate(held) if c == " "]
    assert breaks and all(held[i + 1] in "=⊙+·−" for i in breaks)
