"""Run: the current run of the window, one source of steps and the latest state the views read.

The views never talk to a worker: they subscribe to Run's signals and read its accessors. The
source is a TrainingWorker thread (which also records the run to ``path``), a run file replayed
or followed while it is written (FileSource, ``open_file``: no trainer), or none (``show``: a run
trained elsewhere, as vgviz render shows it).
"""
from __future__ import annotations

import concurrent.futures
import time

from PySide6 import QtCore

from ..core.config import RunConfig
from ..core.measure.history import History
from ..core.memory import MemoryCheckError, check_fits
from .worker import FULL_PERIOD_S, TrainingWorker

RATE_WINDOW_S = 2.0  # steps/s is measured over about the last two seconds


class Run(QtCore.QObject):
    started = QtCore.Signal(object)      # RunConfig of the run that replaced the last one
    ready = QtCore.Signal(object)        # StepStats of the initial weights; history exists from now
    failed = QtCore.Signal(str)          # could not be built, or crashed: a message
    diverged = QtCore.Signal(object)     # StepStats with a non-finite loss or gradient
    finished = QtCore.Signal(int)        # config.steps reached
    running_changed = QtCore.Signal(bool)
    trace_ready = QtCore.Signal(object)  # BackpropTrace at the current weights
    trace_failed = QtCore.Signal(str)
    record_failed = QtCore.Signal(str)   # the training goes on, unrecorded
    history_replaced = QtCore.Signal(object)   # a followed file's History, rebuilt as the file grew
    _file_trace_done = QtCore.Signal(object)   # a Future of a file's trace, finished in a helper thread

    def __init__(self, parent: QtCore.QObject | None = None):
        super().__init__(parent)
        self.worker: TrainingWorker | None = None   # the source of steps; None: no live run
        self.config: RunConfig | None = None
        self.history: History | None = None
        self.file = None   # the source when the run is a file: a FileSource
        self.path = None                       # the current run's file (recorded or opened), or None
        self._rate_samples: list[tuple[float, int]] = []
        self.view_step: int | None = None       # the step the timeline shows; None: the latest
        self._model_jobs = None                 # a file's FileModelJobs, made when first asked for
        self.trace_step: int | None = None      # a file's trace: the step of the weights it was recorded at
        self.speed: float | None = None         # steps per second a worker trains at (None: flat out)
        self.step_limit: int | None = None      # no training past this step (lockstep); None: no limit
        self._file_trace_done.connect(self._on_file_trace)

    # -- lifecycle -------------------------------------------------------------
    def start(self, config: RunConfig, record_to=None, *, full_period_s: float = FULL_PERIOD_S,
              train: bool = False) -> str | None:
        """Replace the current run by a fresh one of ``config`` in a new worker thread, recorded
        to the file ``record_to`` if given; ``train``: it trains as soon as it is built (else it
        waits for resume()); ``full_period_s``: the worker's period between full stats. A config
        that needs more memory than the machine has is refused (the message is returned) and the
        current run goes on."""
        try:
            check_fits(config, override_hint=None)
        except MemoryCheckError as err:
            return str(err)
        self.stop()
        self.config, self.history, self.path = config, None, record_to
        self._rate_samples.clear()
        self.started.emit(config)
        worker = TrainingWorker(config, full_period_s=full_period_s,
                                record_path=None if record_to is None else str(record_to))
        for signal, slot in ((worker.ready, self._on_ready), (worker.failed, self.failed.emit),
                             (worker.record_failed, self.record_failed.emit),
                             (worker.diverged, self.diverged.emit), (worker.run_finished, self.finished.emit),
                             (worker.state_changed, self.running_changed.emit),
                             (worker.trace_ready, self.trace_ready.emit),
                             (worker.trace_failed, self.trace_failed.emit)):
            signal.connect(self._from_current(worker, slot))
        worker.set_speed(self.speed)
        worker.set_step_limit(self.step_limit)
        self.worker = worker
        worker.start()
        if train:
            worker.start_training()
        return None

    def open_file(self, path) -> str | None:
        """Replace the current run by the run file ``path``, replayed (and followed while some
        process writes it); its steps arrive through drain() like a worker's. A file that cannot
        be opened is refused (the one-line message is returned) and the current run goes on."""
        from .file_source import FileSource, RunFileError   # imports torch: not at start-up

        try:
            source = FileSource(path)
        except RunFileError as err:
            return str(err)
        self.stop()
        self.file, self.config, self.history, self.path = source, source.config, None, source.file.path
        self._rate_samples.clear()
        self.started.emit(source.config)
        return None

    def show(self, config: RunConfig, history: History) -> None:
        """A run trained elsewhere, with no source of further steps."""
        self.stop()
        self.config, self.history = config, history

    def stop(self) -> None:
        """Let go of the worker. Never waits (a step can take minutes) and never destroys a
        running thread: worker.py holds it until it has ended."""
        if self.file is not None:
            self.file.close()
            self.file = None
        if self._model_jobs is not None:
            self._model_jobs.close()
            self._model_jobs = None
        w, self.worker = self.worker, None
        if w is None:
            return
        for sig in (w.ready, w.failed, w.record_failed, w.diverged, w.run_finished, w.state_changed, w.trace_ready,
                    w.trace_failed):
            sig.disconnect()
        w.request_stop()

    def _from_current(self, worker: TrainingWorker, slot):
        """``slot``, called only while ``worker`` is the current run's: a signal queued just
        before Reset replaced the worker is still delivered after the disconnect, and a
        replaced run's step-0 stats would set up the new run's history with the old layers."""
        return lambda *args: slot(*args) if worker is self.worker else None

    def _on_ready(self, stats) -> None:
        self.history = History(stats.n_layers)
        self.ready.emit(stats)

    # -- control -----------------------------------------------------------------
    @property
    def has_source(self) -> bool:
        """A source of further steps: a worker or a run file."""
        return self.worker is not None or self.file is not None

    @property
    def has_model(self) -> bool:
        """A live run whose model is built: it can step, pause and record traces."""
        return self.worker is not None and self.worker.trainer is not None

    @property
    def is_running(self) -> bool:
        return self.worker is not None and self.worker.is_running

    @property
    def is_finished(self) -> bool:
        if self.file is not None:
            return self.file.finished
        return self.has_model and self.worker.trainer.finished

    @property
    def is_diverged(self) -> bool:
        return self.has_model and self.worker.trainer.diverged

    @property
    def step_count(self) -> int:
        """Training steps applied so far in the current run (a file: the steps it holds)."""
        if self.file is not None:
            return self.file.step_count
        return self.worker.trainer.step_count if self.has_model else 0

    @property
    def data(self):
        """The run's data set (x_train, y_train …), or None before the model is built (a file:
        made again from its config)."""
        if self.file is not None:
            return self.file.data
        return self.worker.trainer.data if self.has_model else None

    def resume(self) -> None:
        if self.has_model:
            self.worker.start_training()

    def pause(self) -> None:
        if self.is_running:
            self.worker.pause()

    def set_speed(self, steps_per_second: float | None) -> None:
        """The training speed of this run and of the next ones (None: as fast as possible)."""
        self.speed = steps_per_second
        if self.worker is not None:
            self.worker.set_speed(steps_per_second)

    def set_step_limit(self, limit: int | None) -> None:
        """Train no further than ``limit`` steps done, in this run and the next ones (None: no limit)."""
        self.step_limit = limit
        if self.worker is not None:
            self.worker.set_step_limit(limit)

    def step_once(self) -> None:
        if self.has_model and not self.worker.is_running:
            self.worker.step_once()

    def request_trace(self, example: int | None = None) -> bool:
        """Ask for a BackpropTrace at the current weights (trace_ready delivers it); a file: at
        the weights saved at or before the step shown. False if there is no model to record."""
        if self.file is not None:
            return self._trace_from_file(example)
        if not self.has_model:
            return False
        self.worker.request_trace(example)
        return True

    def _trace_from_file(self, example: int | None) -> bool:
        """Rebuild the file's model at its checkpoint in a helper thread (never the GUI's: it
        imports torch and builds a model) with its own reader, and record the trace there."""
        from ..core.runfile.restore import run_config

        file = self.file.file
        if run_config(file) is None or len(file.weight_steps) == 0:
            return False
        shown = self.view_step if self.view_step is not None else self.file.step_count
        saved = file.weight_steps
        at = int(saved[saved <= shown][-1]) if (saved <= shown).any() else int(saved[0])
        path = file.path

        def record():
            from ..core.runfile import open_run
            from ..core.runfile.restore import trainer_at

            with open_run(path) as run:
                return trainer_at(run, at).trace(example), at

        future = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="vgviz-file-trace")
        job = future.submit(record)
        future.shutdown(wait=False)
        job.add_done_callback(self._file_trace_done.emit)   # queued to the GUI thread
        return True

    def _on_file_trace(self, job: concurrent.futures.Future) -> None:
        if self.file is None:
            return   # the file was closed meanwhile
        try:
            trace, at = job.result()
        except Exception as err:  # noqa: BLE001 - one line for the window, never a dead view
            self.trace_failed.emit(f"could not record the backprop pass from the file: {str(err).splitlines()[0]}")
            return
        self.trace_step = at
        self.trace_ready.emit(trace)

    def submit(self, fn):
        """fn(trainer) in the training thread between two steps: a Future (worker.submit)."""
        return self.worker.submit(fn)

    @property
    def model_jobs(self):
        """Where jobs on the model run (``submit(fn)`` → Future): the training worker, a file's
        rebuilt model (FileModelJobs) where it saved weights of a built-in model, else None."""
        if self.file is None:
            return self.worker
        if self._model_jobs is None and len(self.file.file.weight_steps):
            from .file_source import FileModelJobs

            self._model_jobs = FileModelJobs(self.file.file.path)
        return self._model_jobs

    # -- the latest state, read at display rate ----------------------------------
    def drain(self) -> list:
        """Append every StepStats published since the last call to the history; return them.
        A file: its History is rebuilt when it changed, and the latest step is the new one."""
        if self.file is not None:
            new = self._drain_file()
        elif self.worker is None or self.history is None:
            return []
        else:
            new = self.worker.drain()
            for stats in new:
                self.history.append(stats)
        now, steps = time.monotonic(), self.step_count
        samples = self._rate_samples
        samples.append((now, steps))
        while len(samples) > 2 and now - samples[0][0] > RATE_WINDOW_S:
            samples.pop(0)
        return new

    def _drain_file(self) -> list:
        from .file_source import ReplayError, RunFileError

        try:
            history = self.file.poll()
        except (RunFileError, ReplayError) as err:
            self.stop()   # a file deleted or damaged while followed: say so once, keep the views
            self.failed.emit(str(err))
            return []
        if history is None:
            return []
        first, self.history = self.history is None, history
        if first:
            self.ready.emit(history.latest)
        else:
            self.history_replaced.emit(history)
        return [history.latest]

    def steps_per_s(self) -> float:
        """Training speed over the last couple of seconds of drain() calls."""
        if len(self._rate_samples) < 2:
            return 0.0
        (t0, s0), (t1, s1) = self._rate_samples[0], self._rate_samples[-1]
        return (s1 - s0) / (t1 - t0) if t1 > t0 else 0.0

    def surface(self, wanted: bool):
        """The latest decision surface (a file: the one recorded at or before the step shown);
        ``wanted`` False spares the trainer computing more."""
        if self.file is not None:
            return self.file.surface(self.view_step) if wanted else None
        if self.worker is None:
            return None
        self.worker.surface_wanted = wanted
        return self.worker.surface
