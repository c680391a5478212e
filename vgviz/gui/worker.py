"""TrainingWorker: runs a Trainer in a QThread; the GUI polls what it published.

The thread has no event loop, so control is by thread-safe flags checked between
steps (pause, step-once, stop). Stats are not sent by a signal per step: a fast
trainer would flood the GUI and, through the GIL, a slow GUI would starve the
trainer (docs/performance.md#handing-stats-to-the-gui). The worker appends each StepStats
to a bounded deque; the GUI drains it at display rate. Signals are used only for rare state
changes.

A QThread destroyed while it runs aborts the process ("QThread: Destroyed while thread is still
running"), and a step can take longer than anyone should wait for it (a 100×512 net, batch
4096). So no caller waits: a started worker is held here, parentless, until its thread has
ended; stopping only asks. run_app and interpreter exit wait for the ones still running.
"""
from __future__ import annotations

import atexit
import collections
import concurrent.futures
import threading
import time
import traceback

from PySide6 import QtCore

from ..core.config import RunConfig
from ..core.layout.scene import prepare_edges
from ..core.memory import memory_error_message

# At 30 Hz draining and thousands of steps/s this is far more than one frame
# needs; it only bounds memory if the GUI stalls.
LOG_LIMIT = 20_000
# The decision boundary is recomputed at most this often while training flat out: its forward
# pass over a 64×64 grid (~10 ms for a 20×64 MLP) is training time, and a boundary moves slowly.
# At a chosen pace (a lecture) the thread waits between steps anyway: then twice a second.
SURFACE_PERIOD_S = 2.0
PACED_SURFACE_PERIOD_S = 0.5
# Full stats (δ, |dL/dW| per edge, the forward signal) are what the diagram draws; they are
# taken at most at the diagram's rate (display.DISPLAY_HZ) while training flat out. Every
# other step is light (loss, accuracy, per-layer norms for the plots), which keeps the probe's
# cost off most steps.
FULL_PERIOD_S = 1 / 12.5
# The training speeds a lecture can choose, in steps per second; None: as fast as possible.
# At a rate no faster than 1 / FULL_PERIOD_S every step is a full capture, so the diagram
# moves with each step.
SPEEDS: tuple[float | None, ...] = (1, 5, 25, 100, None)


class TrainingWorker(QtCore.QThread):
    ready = QtCore.Signal(object)        # StepStats of the initial weights (step 0, no update)
    failed = QtCore.Signal(str)          # the run could not be built or crashed: a message
    diverged = QtCore.Signal(object)     # StepStats with a non-finite loss or gradient
    run_finished = QtCore.Signal(int)    # config.steps reached
    state_changed = QtCore.Signal(bool)  # running?
    trace_ready = QtCore.Signal(object)  # BackpropTrace recorded at the current weights
    trace_failed = QtCore.Signal(str)
    record_failed = QtCore.Signal(str)   # the run file could not be written; training goes on

    def __init__(self, config: RunConfig, full_period_s: float = FULL_PERIOD_S, record_path: str | None = None):
        super().__init__()  # no parent: a parent deleted while the thread runs would delete it too
        self.full_period_s = full_period_s  # 0: full stats on every step
        self.config = config
        self.record_path = record_path   # the run file this thread writes (RunRecorder), or None
        self._recorder = None
        self.trainer = None
        self._log: collections.deque = collections.deque(maxlen=LOG_LIMIT)
        self._running = threading.Event()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._lock = threading.Lock()
        self._pending_steps = 0
        self._trace_request: tuple[int | None] | None = None
        self._full_time = 0.0
        self._last_full = True
        self.surface = None  # latest DecisionSurface (2-D data), replaced as a whole: safe to read
        self.surface_wanted = True  # False while nobody shows it: its forward pass is training time
        self._surface_time = 0.0
        self._jobs: collections.deque = collections.deque()
        self._jobs_closed = False
        self.steps_per_second: float | None = None   # the pace while running; None: flat out
        self.step_limit: int | None = None   # train no further than this step (lockstep); None: no limit
        self._next_step_time = 0.0

    def start(self, *args) -> None:
        _keeper().hold(self)
        super().start(*args)

    # -- control (any thread) ------------------------------------------------
    def start_training(self) -> None:
        self._running.set()
        self._wake.set()
        self.state_changed.emit(True)

    def pause(self) -> None:
        self._running.clear()
        self.state_changed.emit(False)

    def set_speed(self, steps_per_second: float | None) -> None:
        """Train at most this many steps a second while running (None: as fast as possible).
        The thread paces itself by waiting on its wake event, so control stays immediate."""
        self.steps_per_second = steps_per_second
        self._next_step_time = 0.0
        self._wake.set()

    def set_step_limit(self, limit: int | None) -> None:
        """While running, take no step past ``limit`` steps done (the compare window's lockstep
        moves it as the other run goes on). The thread checks it before each step, so the
        bound holds exactly, whatever the GUI's frame rate."""
        self.step_limit = limit
        self._wake.set()

    def step_once(self, n: int = 1) -> None:
        with self._lock:
            self._pending_steps += n
        self._wake.set()

    def request_trace(self, example: int | None = None) -> None:
        """Record a BackpropTrace of the next batch (or one example) in this thread;
        trace_ready delivers it. The weights and the step count do not change."""
        with self._lock:
            self._trace_request = (example,)
        self._wake.set()

    def submit(self, fn) -> concurrent.futures.Future:
        """Run fn(trainer) in the training thread between two steps, where the weights are
        consistent; the Future gets its result or exception (poll .done(), never block
        the GUI on it). Cancelled if the thread ends before it runs."""
        future: concurrent.futures.Future = concurrent.futures.Future()
        with self._lock:
            if self._jobs_closed:
                future.cancel()
                return future
            self._jobs.append((fn, future))
        self._wake.set()
        return future

    def request_stop(self) -> None:
        """End the thread after its current step; never blocks (the keeper holds it till then)."""
        self._stop.set()
        self._running.clear()
        self._wake.set()

    @property
    def is_running(self) -> bool:
        return self._running.is_set()

    def drain(self) -> list:
        """Every StepStats published since the last call, oldest first."""
        out = []
        log = self._log
        while log:
            out.append(log.popleft())
        return out

    # -- the thread ----------------------------------------------------------
    def run(self) -> None:
        try:
            self._run()
        finally:
            self._stop_recording()
            with self._lock:
                self._jobs_closed = True
                pending, self._jobs = list(self._jobs), collections.deque()
            for _, future in pending:
                future.cancel()

    def _run(self) -> None:
        try:
            # torch's first import happens here, off the GUI thread; one training thread
            # (TRAINING_THREADS) also leaves a core for the GUI
            from ..core.tasks import make_trainer
            from ..core.tasks.trainer import use_training_threads

            use_training_threads()

            self.trainer = make_trainer(self.config)
            initial = self.trainer.measure()
        except Exception as err:  # noqa: BLE001 - the GUI must get a message, not a dead thread
            self.trainer = None  # whatever it allocated goes now, not when the worker does
            self.failed.emit(memory_error_message(err, self.config) or f"could not start the run: {err}")
            return
        self._start_recording()
        self._log.append(initial)
        self._update_surface(force=True)
        self.ready.emit(initial)
        try:
            self._loop()
        except Exception as err:  # noqa: BLE001
            self._running.clear()
            self.failed.emit(memory_error_message(err, self.config)
                             or "training stopped by an error:\n" + traceback.format_exc(limit=3))

    def _loop(self) -> None:
        trainer = self.trainer
        while not self._stop.is_set():
            with self._lock:
                take_one = self._pending_steps > 0
                if take_one:
                    self._pending_steps -= 1
                trace_request, self._trace_request = self._trace_request, None
            if trace_request is not None:
                self._record_trace(trace_request[0])
            while self._jobs:
                self._run_job(*self._jobs.popleft())
            if not (take_one or self._running.is_set()):
                self._next_step_time = 0.0   # a resumed run takes its first step at once
                if not self._last_full:
                    # just paused after a light step: draw the weights where training stopped
                    self._log.append(trainer.measure())
                    self._last_full = True
                if self.surface is not None and self.surface.step != trainer.step_count:
                    self._update_surface(force=True)  # just paused: show the final weights' boundary
                self._wake.wait(0.1)
                self._wake.clear()
                continue
            if trainer.finished or trainer.diverged:
                self._stop_running()
                continue
            limit = self.step_limit
            if not take_one and limit is not None and trainer.step_count >= limit:
                self._wake.wait(0.05)   # held at the limit: woken when it moves
                self._wake.clear()
                continue
            now = time.monotonic()
            rate = self.steps_per_second
            if rate is not None and not take_one:
                if now < self._next_step_time:
                    self._wake.wait(self._next_step_time - now)   # woken early by pause, stop or a job
                    self._wake.clear()
                    continue
                # the next step is due one period after this one was due (no drift), or after
                # now where this one came more than a period late (a slow step, a resume)
                period = 1 / rate
                due = self._next_step_time if now - self._next_step_time < period else now
                self._next_step_time = due + period
            full = (take_one or now - self._full_time >= self.full_period_s
                    or (rate is not None and 1 / rate >= self.full_period_s)   # paced: every step drawn
                    or trainer.step_count + 1 >= trainer.config.steps)
            if full:
                self._full_time = now
            stats = trainer.step(full=full)
            self._last_full = stats.is_full
            if stats.is_full:
                prepare_edges(stats)    # here, not in the GUI thread's frame
            self._log.append(stats)
            self._record(stats)
            # while paused (single steps) every new state is shown; while training, once a second
            self._update_surface(force=not self._running.is_set())
            if stats.diverged:
                self._stop_running()
                self.diverged.emit(stats)
            elif trainer.finished:
                self._stop_running()
                self.run_finished.emit(trainer.step_count)

    # -- the run file: written here, in the training thread, never from the GUI's ----------
    def _start_recording(self) -> None:
        if self.record_path is None:
            return
        from ..core.runfile import RunRecorder

        try:
            # the boundaries this thread computes anyway are the ones recorded (surface_period_s=None)
            self._recorder = RunRecorder(self.trainer, self.record_path, capture_hz=1 / FULL_PERIOD_S,
                                         surface_period_s=None)
        except Exception as err:  # noqa: BLE001 - a full disk must not stop the training
            self._recording_failed(err)

    def _record(self, stats) -> None:
        if self._recorder is None:
            return
        try:
            self._recorder.record(stats)
        except Exception as err:  # noqa: BLE001
            self._recording_failed(err)

    def _recording_failed(self, err: Exception) -> None:
        self._stop_recording()
        self.record_failed.emit(f"stopped recording the run to {self.record_path}: {err}".splitlines()[0])

    def _stop_recording(self) -> None:
        recorder, self._recorder = self._recorder, None
        if recorder is not None:
            try:
                recorder.close()
            except Exception:  # noqa: BLE001 - the file keeps what was committed
                pass

    def _update_surface(self, force: bool = False) -> None:
        """The decision boundary, at most every SURFACE_PERIOD_S while shown, and as often as
        the run file records one (recorder.surface_due) whether shown or not."""
        recorder = self._recorder
        record = recorder is not None and recorder.surface_due()
        if not (self.surface_wanted or record) and self.surface is not None:
            return
        now = time.monotonic()
        period = SURFACE_PERIOD_S if self.steps_per_second is None else PACED_SURFACE_PERIOD_S
        if force or record or now - self._surface_time >= period:
            self._surface_time = now
            self.surface = self.trainer.decision_surface()
            if recorder is not None and (record or force):
                try:
                    recorder.record_surface(self.surface)
                except Exception as err:  # noqa: BLE001
                    self._recording_failed(err)

    def _run_job(self, fn, future: concurrent.futures.Future) -> None:
        if not future.set_running_or_notify_cancel():
            return
        try:
            future.set_result(fn(self.trainer))
        except Exception as err:  # noqa: BLE001 - the caller reads it from the Future
            future.set_exception(err)

    def _record_trace(self, example: int | None) -> None:
        try:
            trace = self.trainer.trace(example)
        except Exception as err:  # noqa: BLE001 - a message for the GUI, never a dead thread
            self.trace_failed.emit(f"could not record the backprop trace: {err}")
            return
        self.trace_ready.emit(trace)

    def _stop_running(self) -> None:
        with self._lock:
            self._pending_steps = 0
        if self._running.is_set():
            self._running.clear()
            self.state_changed.emit(False)


class _Keeper(QtCore.QObject):
    """Holds every started worker until its thread has ended, so that no window, Reset or
    garbage collection destroys a running QThread. Lives in the GUI thread: the workers'
    ``finished`` reaches it queued, after the thread's last Python line."""

    def __init__(self):
        super().__init__()
        self.live: set[TrainingWorker] = set()

    def hold(self, worker: TrainingWorker) -> None:
        self.live.add(worker)
        worker.finished.connect(self._release)

    @QtCore.Slot()
    def _release(self) -> None:
        worker = self.sender()
        if worker in self.live:
            worker.wait()  # already past run(): returns at once
            self.live.discard(worker)


_KEEPER: _Keeper | None = None


def _keeper() -> _Keeper:
    global _KEEPER
    if _KEEPER is None:
        _KEEPER = _Keeper()
    return _KEEPER


def live_workers() -> list[TrainingWorker]:
    """Started workers whose thread has not been seen to end."""
    return [] if _KEEPER is None else list(_KEEPER.live)


def wait_for_workers() -> None:
    """Ask every live worker to stop and wait until each has ended (its current step done).
    For the end of the process, when no window is left to keep responsive."""
    for worker in live_workers():
        worker.request_stop()
    for worker in live_workers():
        worker.wait()
        _KEEPER.live.discard(worker)


# Before PySide's own exit clean-up, which destroys every QObject Python still owns.
atexit.register(wait_for_workers)
