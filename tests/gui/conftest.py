import pytest


@pytest.fixture(autouse=True)
def isolated_settings(tmp_path, monkeypatch):
    """Keep QSettings of tests out of the user's real settings."""
    from PySide6.QtCore import QSettings

    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(tmp_path / "settings"))
    # QSettings("vgviz", "vgviz") (the app's form) uses the native format, not the default one;
    # on Linux that is an INI file under ~/.config, which setPath redirects too.
    QSettings.setPath(QSettings.Format.NativeFormat, QSettings.Scope.UserScope, str(tmp_path / "settings"))
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
