"""FileSource: a run file as the window's source of steps, replayed or followed while another
process (or this one's training thread) writes it. No trainer: it cannot start or step.

Polled on the GUI thread at display rate: ``Run.refresh()`` is one ``PRAGMA data_version``
(measured 7.5 µs), so following costs nothing while the file does
not change. Rebuilding the plots' History from the file is the costly part (1–4 ms for 3,000
steps), so it happens at most every REBUILD_PERIOD_S while the file grows.
"""
from __future__ import annotations

import time

from ..core.config import ConfigError, RunConfig
from ..core.measure.history import History
from ..core.runfile import RunFileError, open_run
from ..core.runfile.replay import ReplayError, history_from_run

REBUILD_PERIOD_S = 0.5


def run_config(file) -> RunConfig:
    """The RunConfig a run file was trained with; RunFileError (one line) if it has none usable."""
    try:
        if not isinstance(file.config, dict):
            raise ConfigError("no config")
        return RunConfig.from_dict(file.config)
    except (ConfigError, ValueError, TypeError) as err:
        raise RunFileError(f"{file.path}: no usable training config in the file ({err})".splitlines()[0]) from None


class FileSource:
    def __init__(self, path):
        self.file = open_run(path)
        try:
            self.config = run_config(self.file)
        except RunFileError:
            self.file.close()
            raise
        self._dirty = True
        self._built_at = 0.0

    @property
    def step_count(self) -> int:
        steps = self.file.step
        return int(steps[-1]) + 1 if len(steps) else 0

    @property
    def finished(self) -> bool:
        return any(event.kind == "finished" for event in self.file.events)

    def poll(self) -> History | None:
        """A new History if the file changed since the last one (and the last is old enough);
        None otherwise, or while the file has no step the diagram can draw yet. RunFileError,
        ReplayError: the file went bad while followed."""
        if self.file.refresh():
            self._dirty = True
        now = time.monotonic()
        if not self._dirty or now - self._built_at < REBUILD_PERIOD_S:
            return None
        if self.file.steps == 0 or len(self.file.capture_steps) == 0:
            return None
        self._dirty, self._built_at = False, now
        history = history_from_run(self.file)
        return history if history.latest is not None else None

    def close(self) -> None:
        self.file.close()


__all__ = ["FileSource", "ReplayError", "RunFileError", "run_config"]
