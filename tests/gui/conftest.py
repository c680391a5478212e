import pytest

WAIT_MS = 30_000  # the first run of a session imports torch in the worker thread


def has_stats(window) -> bool:
    """The window's run has measured its first step (the diagram and plots have data)."""
    return window.run.history is not None and window.run.history.latest is not None


@pytest.fixture
def shown(qtbot):
    """shown(widget, width, height) -> the widget at that size, shown, and closed after the test."""
    def show(widget, width: int, height: int):
        qtbot.addWidget(widget)
        widget.resize(width, height)
        widget.show()
        return widget

    return show


def wait_until_paused(qtbot, window) -> int:
    """After window.pause(): wait until the worker has finished the step it was in (a no-op job
    runs in its thread between two steps) and the window has taken that step's stats; return
    the step count training stopped at."""
    stopped = window.run.submit(lambda trainer: trainer.step_count)
    qtbot.waitUntil(stopped.done, timeout=5000)
    qtbot.waitUntil(lambda: window.run.history.latest.step >= stopped.result() - 1, timeout=5000)
    return stopped.result()


@pytest.fixture
def window_preset():
    """The preset the `window` fixture opens; a test module overrides this fixture to change it."""
    return "deep-sigmoid"


@pytest.fixture
def window_size():
    """(width, height) of the `window` fixture, or None for the first-launch size; a test module
    overrides this fixture where its pictures or docks need a particular size."""
    return None


@pytest.fixture
def window(qtbot, repo_presets, window_preset, window_size):
    """A shown, active MainWindow whose run has its first stats; closed after the test."""
    from vgviz.gui.main_window import MainWindow

    w = MainWindow(preset=window_preset)
    qtbot.addWidget(w)
    if window_size is not None:
        w.resize(*window_size)
    w.show()
    w.activateWindow()  # key presses go to the active window
    qtbot.waitUntil(lambda: has_stats(w), timeout=WAIT_MS)
    yield w
    w.close()



@pytest.fixture(autouse=True)
def isolated_settings(tmp_path, monkeypatch):
    """Keep QSettings of tests out of the user's real settings."""
    from PySide6.QtCore import QSettings

    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(tmp_path / "settings"))
    # the app's store (app_settings) follows the default format; the native one is redirected
    # too, for anything that asks for it by name.
    QSettings.setPath(QSettings.Format.NativeFormat, QSettings.Scope.UserScope, str(tmp_path / "settings"))
    # the runs every window records go to QStandardPaths' cache folder, which follows this on Linux
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "settings" / "cache"))
    yield


@pytest.fixture
def layout_requests():
    """watch(widget) -> a list that gets every LayoutRequest event the widget receives:
    a per-frame update that asks for one lays its parents out again."""
    from PySide6 import QtCore

    class Count(QtCore.QObject):
        def __init__(self):
            super().__init__()
            self.requests = []

        def eventFilter(self, obj, event):
            if event.type() == QtCore.QEvent.Type.LayoutRequest:
                self.requests.append(obj)
            return False

    counters = []  # the filters live as long as the test

    def watch(widget):
        counter = Count()
        widget.installEventFilter(counter)
        counters.append(counter)
        return counter.requests

    yield watch


@pytest.fixture
def captions(monkeypatch):
    """The caption of every picture exported from now on (export_picture is spied on)."""
    from vgviz.gui import export

    seen = []
    real = export.export_picture

    def export_picture(widget, path, **kwargs):
        seen.append(kwargs.get("caption"))
        return real(widget, path, **kwargs)

    monkeypatch.setattr(export, "export_picture", export_picture)
    return seen
