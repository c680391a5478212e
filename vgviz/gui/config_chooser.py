"""Which config the window runs: a preset, the fields (Reset), or a config file (File ▸ Open/Save config)."""
from __future__ import annotations

from PySide6 import QtCore, QtWidgets

from ..core.presets import PresetError, load_config_file, load_preset, save_config_file
from .control_panel import validate_fields
from .shortcuts import add_action


class ConfigChooser(QtCore.QObject):
    """Loads a config into the control panel's fields and starts it in the window; every bad
    preset, field or file is a message in the window, never an exception."""

    def __init__(self, window):
        super().__init__(window)
        self.window = window
        self.panel = window.panel
        self.settings: QtCore.QSettings = window.settings

    def add_actions(self, file_menu: QtWidgets.QMenu) -> None:
        add_action(self.window, "&Open config…", self.open_config_dialog, "Ctrl+O", "Load a TOML/JSON config file",
                   file_menu)
        add_action(self.window, "&Save config…", self.save_config_dialog, "Ctrl+Shift+O",
                   "Save the current config as TOML", file_menu)

    def load_preset(self, name: str) -> None:
        try:
            preset = load_preset(name)
        except PresetError as err:
            self.window.show_error(str(err))
            return
        self.window.preset_name = name
        self.panel.set_config(preset.config)
        self.panel.select_preset(name)
        self.window.start_run(preset.config)

    def reset_run(self) -> None:
        """Start a fresh run of the fields; the preset stays selected only if they still match it."""
        w = self.window
        config, error = validate_fields(self.panel)
        if error:
            w.show_error(error)
            return
        if w.preset_name and config != load_preset(w.preset_name).config:
            w.preset_name = None
            self.panel.select_preset(None)
        w.start_run(config)

    def open_config(self, path: str) -> bool:
        """Load a config file into the fields and start it; a bad file shows a message."""
        try:
            config = load_config_file(path)
        except PresetError as err:
            self.window.show_error(str(err))
            return False
        self.window.preset_name = None
        self.panel.select_preset(None)
        self.panel.set_config(config)
        self.window.start_run(config)
        return True

    def _last_folder(self) -> str:
        folder = self.settings.value("last_folder", "")
        return folder if isinstance(folder, str) else ""

    def _remember_folder(self, path: str) -> None:
        self.settings.setValue("last_folder", str(QtCore.QFileInfo(path).absolutePath()))

    def open_config_dialog(self) -> None:
        path, _ = QtWidgets.QFileDialog.getOpenFileName(self.window, "Open config", self._last_folder(),
                                                        "Config (*.toml *.json)")
        if path:
            self._remember_folder(path)
            self.open_config(path)

    def save_config_dialog(self) -> None:
        w = self.window
        config, error = validate_fields(self.panel)
        if error:
            w.show_error(error)
            return
        folder = w.settings.value("last_folder", "")
        path, _ = QtWidgets.QFileDialog.getSaveFileName(w, "Save config", f"{folder}/vgviz-config.toml",
                                                        "TOML (*.toml)")
        if not path:
            return
        try:
            save_config_file(config, path)
        except PresetError as err:
            w.show_error(str(err))
            return
        self._remember_folder(path)
        w.statusBar().showMessage(f"saved {path}", 5000)
