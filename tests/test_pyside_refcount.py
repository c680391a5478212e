"""Regression guard for the PySide6 6.12.0 / Python 3.11 refcount bug.

That build drops a reference to None on every Qt call returning void, and to
True/False on calls returning bool; after enough calls the refcount reaches zero
and the interpreter aborts ("Fatal Python error: none_dealloc"). The calls run in
a subprocess, so an abort fails this test instead of killing pytest.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

CALLS = 200_000
TOLERANCE = 10

SCRIPT = textwrap.dedent("""
    import json, sys
    from PySide6 import __version__ as pyside_version
    from PySide6.QtCore import QObject, Signal
    from PySide6.QtWidgets import QApplication, QWidget

    class Emitter(QObject):
        fired = Signal()

    app = QApplication([])
    w = QWidget()
    w.setEnabled(True)
    emitter = Emitter()
    count = [0]
    def on_fired():
        count[0] += 1
    emitter.fired.connect(on_fired)

    # warm up once so first-call caches do not count
    w.update(); w.isVisible(); w.isEnabled(); emitter.fired.emit()
    count[0] = 0

    def refs():
        return [sys.getrefcount(None), sys.getrefcount(True), sys.getrefcount(False)]

    visible = enabled = None
    before = refs()
    for _ in range(%(calls)d):
        w.update()               # void
        visible = w.isVisible()  # bool: False
        enabled = w.isEnabled()  # bool: True
        emitter.fired.emit()     # void signal emission
    after = refs()
    del visible, enabled
    print(json.dumps({"before": before, "after": after, "emitted": count[0],
                      "visible": w.isVisible(), "enabled": w.isEnabled(),
                      "version": pyside_version}))
""") % {"calls": CALLS}


def test_qt_calls_do_not_leak_refs_of_none_true_false():
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    proc = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, (
        f"Qt subprocess exited with {proc.returncode} (an abort here is the PySide6 refcount bug)\n"
        f"{proc.stderr[-2000:]}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    # both bool results were really exercised, and every emission was delivered
    assert result["visible"] is False and result["enabled"] is True
    assert result["emitted"] == CALLS
    for name, b, a in zip(("None", "True", "False"), result["before"], result["after"]):
        assert abs(a - b) <= TOLERANCE, (
            f"sys.getrefcount({name}) went from {b} to {a} over {CALLS} Qt calls "
            f"(PySide6 {result['version']}): reference leak/drop")
