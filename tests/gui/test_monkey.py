"""A monkey at the keyboard: random UI actions on the real window, several seeds.

Any exception in a slot or any Qt warning fails it (pytest-qt, with qt_log_level_fail in pyproject.toml).
Between actions the monkey waits a random few milliseconds, so actions land while a run
is building, training, recording a pass or paused."""
from __future__ import annotations

import random

import pytest
from PySide6 import QtCore, QtGui, QtWidgets

from vgviz.core.presets import list_presets

ACTIONS_PER_SEED = 250
SEEDS = (1, 2, 3, 4)          # 1,000 actions in all
# Smaller runs than the presets' own keep a thousand actions within seconds; every preset's
# model family (sigmoid/tanh/ReLU MLPs, norms, residual, rnn/lstm/gru) still gets built.
SMALL = {"depth": 4, "width": 8}
KEYS = ("Space", "S", "Right", "Left", "Home", "End", "Ctrl+Right", "Escape", "A", "Ctrl+B", "Ctrl+G", "Ctrl+D",
        "[", "]")


def _shortcuts(window) -> dict[str, QtGui.QAction]:
    found = {}
    for action in window.findChildren(QtGui.QAction):
        text = action.shortcut().toString()
        if text:
            found.setdefault(text, action)
    return found


class Monkey:
    def __init__(self, qtbot, tmp_path, rng: random.Random):
        from vgviz.gui.main_window import MainWindow

        self.MainWindow = MainWindow
        self.qtbot = qtbot
        self.tmp_path = tmp_path
        self.rng = rng
        self.presets = [p for p in list_presets()]
        self.exports = 0
        self.closed: list = []
        self.window = self._open()

    def _open(self):
        window = self.MainWindow()
        self.qtbot.addWidget(window)
        window.show()
        self.keys = _shortcuts(window)
        return window

    def _close_and_reopen(self) -> None:
        self.window.close()
        self.closed.append(self.window)
        self.window = self._open()

    def _preset(self) -> None:
        preset = self.rng.choice(self.presets)
        config = preset.config.replace(**{k: v for k, v in SMALL.items()
                                          if getattr(preset.config, k) > v})
        self.window.preset_name = preset.name
        self.window.panel.set_config(config)
        self.window.start_run(config)

    def _reset(self) -> None:
        self.window.configs.reset_run()

    def _export(self) -> None:
        view = self.rng.choice(("diagram", "loss", "grad-norms", "grad-flow", "forward-signal"))
        path = self.tmp_path / f"export-{self.exports}.{self.rng.choice(('png', 'svg'))}"
        self.exports += 1
        self.window.exports.export(view, str(path), scale=self.rng.choice((1, 2)))
        assert path.stat().st_size > 0

    def _open_run(self) -> None:
        """Open the last recorded run's file, a good one or (sometimes) a broken copy of it."""
        path = self.window.run.path
        if path is None or not path.exists():
            return
        if self.rng.random() < 0.3:
            path = self.tmp_path / "broken.vgviz"
            path.write_bytes(b"SQLite format 3\x00" + bytes(self.rng.randrange(256) for _ in range(64)))
        self.window.runs.open_path(path)

    def _scrub(self) -> None:
        slider = self.window.runs.timeline.slider
        slider.setValue(self.rng.randint(0, slider.maximum()))
        if self.rng.random() < 0.3:
            self.window.runs.timeline.go_live()

    def _key(self) -> None:
        action = self.keys.get(self.rng.choice(KEYS))
        if action is not None and action.isEnabled():
            action.trigger()

    def act(self) -> str:
        roll = self.rng.random()
        if roll < 0.70:
            name, do = "key", self._key
        elif roll < 0.82:
            name, do = "preset", self._preset
        elif roll < 0.87:
            name, do = "reset", self._reset
        elif roll < 0.90:
            name, do = "open run", self._open_run
        elif roll < 0.93:
            name, do = "scrub", self._scrub
        elif roll < 0.97:
            name, do = "export", self._export
        else:
            name, do = "close-reopen", self._close_and_reopen
        do()
        # a random pause: the next action lands mid-build, mid-step or mid-recording
        self.qtbot.wait(self.rng.choice((0, 1, 5, 20)))
        return name

    def finish(self) -> None:
        self.window.close()
        self.closed.append(self.window)
        threads = [t for w in self.closed for t in w.findChildren(QtCore.QThread)]
        self.qtbot.waitUntil(lambda: all(t.isFinished() for t in threads), timeout=30_000)


@pytest.mark.parametrize("seed", SEEDS)
def test_random_ui_actions_raise_nothing_and_warn_nothing(qtbot, tmp_path, seed):
    monkey = Monkey(qtbot, tmp_path, random.Random(seed))
    done = [monkey.act() for _ in range(ACTIONS_PER_SEED)]
    monkey.finish()
    assert len(done) == ACTIONS_PER_SEED
    assert done.count("key") > ACTIONS_PER_SEED // 2          # the mix really was mixed
    assert QtWidgets.QApplication.activeModalWidget() is None  # no dialog left blocking the user
