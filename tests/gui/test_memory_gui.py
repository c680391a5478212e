"""In the window, a run too big for the memory is refused, and a run that dies of memory
says so in one line instead of a traceback."""
import pytest
from PySide6 import QtCore

import vgviz.core.memory as memory
from vgviz.core.tasks.trainer import Trainer
from vgviz.gui.main_window import MainWindow

WAIT_MS = 30_000
OOM = RuntimeError("[enforce fail at alloc_cpu.cpp:117] data. DefaultCPUAllocator: can't allocate memory: "
                   "you tried to allocate 8388608000 bytes. Error code 12 (Cannot allocate memory)")


@pytest.fixture
def window(qtbot):
    w = MainWindow(preset="shallow-sigmoid")
    qtbot.addWidget(w)
    w.show()
    qtbot.waitUntil(lambda: w.run.history is not None, timeout=WAIT_MS)
    return w


def error_text(window) -> str:
    label = window.panel.error_label
    return label.text() if label.isVisibleTo(window.panel) else ""


def test_a_step_that_runs_out_of_memory_says_so(window, qtbot, monkeypatch):
    def step(self, full=True):
        raise OOM

    monkeypatch.setattr(Trainer, "step", step)
    window.run.step_once()
    qtbot.waitUntil(lambda: error_text(window).startswith("ran out of memory"), timeout=WAIT_MS)
    text = error_text(window)
    assert "Traceback" not in text and "\n" not in text
    assert "this run needs about" in text and "lower batch_size, width or depth" in text


def test_a_run_that_cannot_start_for_memory_says_so(qtbot, monkeypatch):
    def build(self, config, **kwargs):
        raise MemoryError()

    monkeypatch.setattr(Trainer, "__init__", build)
    w = MainWindow(preset="shallow-sigmoid")
    qtbot.addWidget(w)
    w.show()
    qtbot.waitUntil(lambda: error_text(w).startswith("ran out of memory"), timeout=WAIT_MS)
    assert "\n" not in error_text(w)


def test_a_config_bigger_than_the_memory_is_refused_and_the_run_goes_on(window, qtbot, monkeypatch):
    monkeypatch.setattr(memory, "available_bytes", lambda: 10_000_000)   # the 2×16 preset fits, 2×512 does not
    running = window.run.worker
    window.panel.editors["width"].setValue(512)
    qtbot.mouseClick(window.panel.reset_button, QtCore.Qt.MouseButton.LeftButton)
    text = error_text(window)
    assert text.startswith("this run needs about ") and "but 10 MB is available" in text
    assert text.endswith("lower batch_size, width or depth")   # no CLI flag in the window
    assert window.run.worker is running and window.run.config.width != 512   # nothing lost


def test_a_comparison_bigger_than_the_memory_is_refused(qtbot, monkeypatch):
    from vgviz.core.presets import load_preset
    from vgviz.gui.compare import CompareWindow

    config = load_preset("shallow-sigmoid").config
    fits_one = memory.estimate(config).total * 3 // 2   # one run fits, the two together do not
    monkeypatch.setattr(memory, "available_bytes", lambda: fits_one)
    window = CompareWindow(config, "shallower")
    qtbot.addWidget(window)
    assert window.workers == []
    for side in (window.a, window.b):
        assert side.error.startswith("these runs need about ") and "is available; lower" in side.error
        assert "these runs need" in side.verdict.text()
