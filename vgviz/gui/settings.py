"""The main window's saved settings (restored, checked, saved), and a private store for runs
that must leave the user's settings alone."""
from __future__ import annotations

import json
import tempfile

from PySide6 import QtCore, QtGui

from ..core.config import RunConfig, shorten
from ..core.presets import DEFAULT_PRESET, load_preset


def app_settings() -> QtCore.QSettings:
    """The app's settings store, in the default format: the native one (the registry on Windows,
    a plist on macOS, ~/.config/vgviz/vgviz.conf on Linux) unless use_private_settings() made
    it INI files in a private folder."""
    return QtCore.QSettings(QtCore.QSettings.defaultFormat(), QtCore.QSettings.Scope.UserScope, "vgviz", "vgviz")


def use_private_settings() -> tempfile.TemporaryDirectory:
    """Keep every QSettings of this process (vgviz render's window) away from the user's theme,
    last config and geometry: INI files in a new temporary folder, which the caller cleans up.
    The default format becomes INI, which app_settings() follows on every platform (a path
    redirects only file formats: macOS and Windows keep the native store outside any folder)."""
    folder = tempfile.TemporaryDirectory(prefix="vgviz-settings-")
    QtCore.QSettings.setDefaultFormat(QtCore.QSettings.Format.IniFormat)
    for fmt in (QtCore.QSettings.Format.IniFormat, QtCore.QSettings.Format.NativeFormat):
        QtCore.QSettings.setPath(fmt, QtCore.QSettings.Scope.UserScope, folder.name)
    return folder


class WindowSettings:
    """Restore the main window as it was left, and save it on close. A saved value that cannot
    be used (a corrupt or hand-edited settings file) is ignored: the window starts on its
    default and says so once."""

    def __init__(self, window):
        self.window = window
        self.store: QtCore.QSettings = window.settings
        self.ignored: list[str] = []

    def restore(self, preset: str | None) -> None:
        w = self.window
        self.ignored = []
        geometry = self.value("geometry", QtCore.QByteArray)
        if geometry is None or not w.restoreGeometry(geometry):
            if geometry is not None:
                self.ignored.append("geometry")
            w.resize(default_size(w.screen()))
        for key, splitter in (("splitter", w.splitter), ("centre_splitter", w.centre_splitter)):
            state = self.value(key, QtCore.QByteArray)
            if state is not None and not splitter.restoreState(state):
                self.ignored.append(key)
        window_state = self.value("window_state", QtCore.QByteArray)
        if window_state is not None:
            if w.restoreState(window_state):
                w.decision_dock.put_away = self.flag("decision_put_away")
            else:
                self.ignored.append("window_state")
        w.panel.auto_range_box.setChecked(self.flag("auto_range"))
        self.restore_speed()
        config, name, problem = self.initial_config(preset)
        w.preset_name = name
        w.panel.set_config(config)
        w.panel.select_preset(name)
        w.run.config = config
        if self.ignored and not problem:
            problem = f"Ignored saved settings that could not be used ({', '.join(self.ignored)}); using the defaults."
        w.show_error(problem)

    def restore_speed(self) -> None:
        """The training speed saved as its text ('25 steps/s'); one that is not offered is ignored."""
        saved = self.store.value("training_speed")
        if saved is None:
            return
        box = self.window.panel.speed_box
        index = box.findText(saved) if isinstance(saved, str) else -1
        if index < 0:
            self.ignored.append("training_speed")
            return
        box.setCurrentIndex(index)

    def value(self, key: str, kind: type):
        """The saved value of `key` if it is a `kind`; None if there is none or it is not (noted in `ignored`)."""
        value = self.store.value(key)
        if value is None or isinstance(value, kind):
            return value
        self.ignored.append(key)
        return None

    def flag(self, key: str) -> bool:
        value = self.store.value(key)  # the INI format keeps a bool as the text true/false
        if value is None:
            return False
        if isinstance(value, bool) or value in ("true", "false"):
            return value in (True, "true")
        self.ignored.append(key)
        return False

    def initial_config(self, preset: str | None) -> tuple[RunConfig, str | None, str | None]:
        """The preset asked for, else the last config used, else the default preset; and a
        message if the saved config could not be used."""
        if preset:
            return load_preset(preset).config, preset, None
        saved = self.value("last_config", str)
        if saved:
            try:
                config = RunConfig.from_dict(json.loads(saved))
            except (ValueError, TypeError, AttributeError, RecursionError, MemoryError) as err:
                # ValueError covers ConfigError and bad JSON; RecursionError a deeply nested one
                reason = shorten(err, 120) if not isinstance(err, RecursionError) else "nested too deeply"
                return (load_preset(DEFAULT_PRESET).config, DEFAULT_PRESET,
                        f"The saved config could not be used ({reason}); opened the default preset.")
            saved_preset = self.value("last_preset", str) or None
            if saved_preset in self.window.panel.presets and load_preset(saved_preset).config == config:
                return config, saved_preset, None
            return config, None, None
        return load_preset(DEFAULT_PRESET).config, DEFAULT_PRESET, None

    def save(self) -> None:
        w, store = self.window, self.store
        store.setValue("geometry", w.saveGeometry())
        store.setValue("window_state", w.saveState())
        store.setValue("splitter", w.splitter.saveState())
        store.setValue("centre_splitter", w.centre_splitter.saveState())
        store.setValue("auto_range", w.panel.auto_range_box.isChecked())
        store.setValue("training_speed", w.panel.speed_box.currentText())
        store.setValue("decision_put_away", w.decision_dock.put_away)
        if w.run.config is not None:
            store.setValue("last_config", json.dumps(w.run.config.to_dict()))
            store.setValue("last_preset", w.preset_name or "")
        store.sync()


def default_size(screen: QtGui.QScreen | None) -> QtCore.QSize:
    """1400×860 on a first launch, or less where the screen is smaller (a 1280×720 projector)."""
    size = QtCore.QSize(1400, 860)
    if screen is not None:
        size = size.boundedTo(screen.availableGeometry().size())
    return size
