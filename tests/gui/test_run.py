"""Run, the window's model of its current run, on its own: no window, no views."""
from __future__ import annotations

import threading
import time

from PySide6 import QtCore

import vgviz.core.memory as memory
from vgviz.core.config import RunConfig
from vgviz.gui.run import Run

from .conftest import WAIT_MS

SMALL = RunConfig(depth=2, width=4, batch_size=16, steps=1000)


def test_a_run_builds_steps_and_counts(qtbot):
    run = Run()
    with qtbot.waitSignal(run.ready, timeout=WAIT_MS) as ready:
        assert run.start(SMALL) is None
    assert run.history is not None and run.config == SMALL and run.has_model
    assert ready.args[0].step == 0 and not run.is_running
    run.step_once()
    qtbot.waitUntil(lambda: run.step_count == 1, timeout=WAIT_MS)
    # drain() takes the step's stats into the history
    qtbot.waitUntil(lambda: run.drain() is not None and run.history.latest is not ready.args[0], timeout=WAIT_MS)
    with qtbot.waitSignal(run.running_changed, timeout=WAIT_MS, check_params_cb=lambda on: on):
        run.resume()
    qtbot.waitUntil(lambda: run.step_count > 5, timeout=WAIT_MS)
    run.drain()
    qtbot.waitUntil(lambda: run.drain() is not None and run.steps_per_s() > 0, timeout=WAIT_MS)
    run.stop()
    assert run.worker is None and not run.is_running and run.step_count == 0


def test_a_replaced_runs_queued_signals_are_dropped(qtbot):
    """A signal the old worker sent just before Reset replaced it is still delivered after the
    disconnect (it was queued); it must not reach the new run's subscribers."""
    run = Run()
    with qtbot.waitSignal(run.ready, timeout=WAIT_MS):
        run.start(SMALL)
    old = run.worker
    failures: list[str] = []
    run.failed.connect(failures.append)
    # emitted from another thread, as the worker's thread does: queued for the GUI thread
    sender = threading.Thread(target=lambda: old.failed.emit("from the replaced run"))
    sender.start()
    sender.join()
    with qtbot.waitSignal(run.started, timeout=WAIT_MS):
        run.start(SMALL.replace(depth=3))
    QtCore.QCoreApplication.sendPostedEvents()   # delivers the queued call
    QtCore.QCoreApplication.processEvents()
    assert failures == []
    # the current worker's signals still arrive
    current = threading.Thread(target=lambda: run.worker.failed.emit("from the current run"))
    current.start()
    current.join()
    qtbot.waitUntil(lambda: failures == ["from the current run"], timeout=WAIT_MS)
    run.stop()


def test_a_config_too_big_for_the_memory_is_refused_and_the_run_goes_on(qtbot, monkeypatch):
    run = Run()
    with qtbot.waitSignal(run.ready, timeout=WAIT_MS):
        run.start(SMALL)
    running = run.worker
    monkeypatch.setattr(memory, "available_bytes", lambda: 10_000_000)   # 2×4 fits, 2×512 does not
    with qtbot.assertNotEmitted(run.started):
        message = run.start(SMALL.replace(width=512, batch_size=4096))
    assert message.startswith("this run needs about ") and "but 10 MB is available" in message
    assert run.worker is running and run.config == SMALL
    run.stop()


def test_the_window_trains_the_numbers_report_gives(qtbot):
    """One answer per config and seed: the window's worker (light steps, full captures at
    display rate, one training thread) gives report's losses step for step."""
    from vgviz.cli import run_report
    from vgviz.core.presets import load_preset

    config = load_preset("deep-sigmoid-batchnorm").config.replace(steps=100)
    run = Run()
    with qtbot.waitSignal(run.ready, timeout=WAIT_MS):
        run.start(config)
    with qtbot.waitSignal(run.finished, timeout=60_000):
        run.resume()
    qtbot.waitUntil(lambda: (run.drain(), len(run.history))[1] == config.steps, timeout=WAIT_MS)
    assert run.history.loss.tolist() == run_report(config)["loss"]
    run.stop()


def test_a_paced_run_trains_at_its_speed_and_draws_every_step(qtbot):
    """At 10 steps/s (slower than the diagram's rate) the worker waits between steps, in its
    own thread, and every step is a full capture; set back to flat out, it races on."""
    run = Run()
    run.set_speed(10)
    with qtbot.waitSignal(run.ready, timeout=WAIT_MS):
        run.start(SMALL.replace(steps=100_000))
    collected = []
    run.resume()
    started = time.monotonic()

    def steps():
        collected.extend(run.worker.drain())
        return [s for s in collected if not s.measured_only]

    qtbot.waitUntil(lambda: len(steps()) >= 8, timeout=WAIT_MS)
    elapsed = time.monotonic() - started
    steps = steps()
    assert len(steps) >= 8 and all(s.is_full for s in steps)
    assert elapsed >= (len(steps) - 1) / 10 * 0.9, (len(steps), elapsed)   # ~0.1 s a step, never faster
    run.set_speed(None)
    at = run.step_count
    qtbot.waitUntil(lambda: run.step_count > at + 200, timeout=WAIT_MS)   # 20 s at the old pace
    run.stop()


def test_a_step_limit_holds_a_running_run_exactly_there_until_it_moves(qtbot):
    """The compare window's lockstep: the worker checks the limit before every step, so a
    fast run stops exactly at it however late the GUI's frames are, and goes on when it moves."""
    run = Run()
    run.set_step_limit(7)
    with qtbot.waitSignal(run.ready, timeout=WAIT_MS):
        run.start(SMALL)
    run.resume()
    qtbot.waitUntil(lambda: run.step_count == 7, timeout=WAIT_MS)
    time.sleep(0.3)                       # hundreds of steps' time at this size
    assert run.step_count == 7 and run.is_running
    run.set_step_limit(30)
    qtbot.waitUntil(lambda: run.step_count == 30, timeout=WAIT_MS)
    time.sleep(0.2)
    assert run.step_count == 30
    run.set_step_limit(None)
    qtbot.waitUntil(lambda: run.step_count > 60, timeout=WAIT_MS)
    run.stop()
