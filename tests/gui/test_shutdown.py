"""Closing the window, or pressing Reset, while a training step runs longer than anyone
waits: the app must quit cleanly, never abort ("QThread: Destroyed while thread is still
running" and SIGABRT). Each case runs the real app (run_app) in a subprocess, so an abort
shows as its exit code."""
import os
import subprocess
import sys

import pytest

SLOW_STEP_S = 3  # longer than any wait the window did before destroying the thread (1 s + 1 s)

APP = """
import sys, threading, time
from PySide6 import QtCore, QtWidgets
from vgviz.core.tasks.trainer import Trainer
from vgviz.gui.app import make_app, run_app
from vgviz.gui.main_window import MainWindow

MODE, SLOW = sys.argv[1], float(sys.argv[2])
in_step = threading.Event()
real_step = Trainer.step

def slow_step(self, *args, **kwargs):
    in_step.set()
    time.sleep(SLOW)
    return real_step(self, *args, **kwargs)

Trainer.step = slow_step
state = {"phase": "wait_ready"}

def drive():
    window = next((w for w in QtWidgets.QApplication.topLevelWidgets() if isinstance(w, MainWindow)), None)
    if window is None:
        return
    phase = state["phase"]
    if phase == "wait_ready" and window.run.history is not None:
        window.run.step_once()
        state["phase"] = "wait_step"
    elif phase == "wait_step" and in_step.is_set():
        if MODE == "reset":
            state["old"] = window.run.worker
            window.panel.reset_button.click()
            state["phase"] = "wait_new_run"
        else:
            state["phase"] = "close"
    elif phase == "wait_new_run" and window.run.worker is not state["old"] and window.run.history is not None:
        assert state["old"].isRunning(), "the old step should still be running"
        state["phase"] = "close"
    if state["phase"] == "close":
        start = time.monotonic()
        window.close()
        print(f"closed in {time.monotonic() - start:.2f} s", flush=True)
        state["phase"] = "done"

make_app()  # run_app uses this one; the timer needs it first
timer = QtCore.QTimer()
timer.timeout.connect(drive)
timer.start(20)
code = run_app(preset="shallow-sigmoid")
print("exited", code, flush=True)
sys.exit(code)
"""


@pytest.mark.parametrize("mode", ["close", "reset"])
def test_closing_during_a_long_step_quits_cleanly(mode, tmp_path):
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", HOME=str(tmp_path), XDG_CONFIG_HOME=str(tmp_path))
    result = subprocess.run([sys.executable, "-c", APP, mode, str(SLOW_STEP_S)], capture_output=True,
                            text=True, env=env, timeout=180)
    assert "QThread: Destroyed" not in result.stderr
    assert result.returncode == 0, result.stderr[-2000:]
    lines = result.stdout.splitlines()
    assert lines[-1] == "exited 0"
    closed = [line for line in lines if line.startswith("closed in ")]
    assert len(closed) == 1, result.stdout
    # the window goes at once: close() does not wait for the step
    assert float(closed[0].split()[2]) < 1.0, closed
