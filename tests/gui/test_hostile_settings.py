"""Corrupt saved settings, hostile files through Ctrl+O, and render/report leaving the user's
settings byte-for-byte alone."""
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PySide6 import QtCore, QtWidgets

from vgviz.core.presets import DEFAULT_PRESET, load_preset
from vgviz.gui.main_window import MainWindow
from vgviz.gui.theme import DEFAULT_COLORMAP, DEFAULT_THEME
from vgviz.gui.settings import app_settings

DEEP = "[" * 100_000 + "]" * 100_000


@pytest.mark.parametrize("key, value", [
    ("last_config", '{"depth":' * 100_000 + "3" + "}" * 100_000),
    ("last_config", DEEP),
    ("last_config", ["not", "text"]),
    ("last_config", '{"depth": ' + "9" * 5000 + "}"),
    ("last_config", '{"' + "k" * 1_000_000 + '": 1}'),
    ("geometry", "not bytes"),
    ("geometry", QtCore.QByteArray(b"garbage")),
    ("window_state", 12),
    ("splitter", ["a"]),
    ("centre_splitter", QtCore.QByteArray(b"\x00\xff")),
    ("auto_range", "maybe"),
    ("last_preset", ["deep-sigmoid"]),
    ("theme", ["lecture"]),
    ("colormap", 5),
])
def test_a_corrupt_saved_setting_starts_on_the_defaults(qtbot, key, value):
    settings = app_settings()
    if key == "last_preset":  # read only next to a usable last_config
        settings.setValue("last_config", '{"depth": 2}')
    settings.setValue(key, value)
    settings.sync()
    w = MainWindow()
    qtbot.addWidget(w)
    if key == "last_config":
        assert w.preset_name == DEFAULT_PRESET and w.run.config == load_preset(DEFAULT_PRESET).config
    assert not w.panel.auto_range_box.isChecked()
    assert w.themes.theme.name == DEFAULT_THEME and w.themes.colormap == DEFAULT_COLORMAP
    message = w.panel.error_label.text()
    if key not in ("theme", "colormap"):  # the theme falls back silently (its names are a menu's)
        assert key in message or "saved config could not be used" in message
        assert w.statusBar().currentMessage() == message
    assert "\n" not in message and len(message) < 300
    w.close()


def hostile_paths(tmp_path):
    paths = {}
    for name, text in {"nested.json": '{"a":' * 100_000 + "1" + "}" * 100_000,
                       "nested.toml": "[" + ".".join(["a"] * 100_000) + "]\n",
                       "digits.toml": "depth = " + "9" * 5000 + "\n",
                       "huge-key.toml": "k" * 5_000_000 + " = 1\n"}.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
        paths[name] = str(tmp_path / name)
    if hasattr(os, "mkfifo"):
        os.mkfifo(tmp_path / "fifo.toml")
        paths["fifo.toml"] = str(tmp_path / "fifo.toml")
    if sys.platform.startswith("linux"):
        paths["zero"] = "/dev/zero"
    return paths


def test_ctrl_o_on_hostile_files_shows_one_line(qtbot, tmp_path, monkeypatch):
    w = MainWindow(preset="shallow-sigmoid")
    qtbot.addWidget(w)
    w.show()
    for name, path in hostile_paths(tmp_path).items():
        monkeypatch.setattr(QtWidgets.QFileDialog, "getOpenFileName", lambda *a, path=path, **k: (path, ""))
        w.configs.open_config_dialog()  # runs on the GUI thread: a FIFO read would freeze the test here
        message = w.panel.error_label.text()
        assert message and "\n" not in message and len(message) < 300, (name, message[:300])
        assert w.run.config == load_preset("shallow-sigmoid").config
    w.close()


def _snapshot(home: Path) -> dict:
    return {p.relative_to(home): (p.read_bytes() if p.is_file() else None) for p in home.rglob("*")}


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the native settings store is a file on Linux")
def test_render_and_report_leave_the_users_settings_alone(tmp_path):
    home = tmp_path / "home"
    conf = home / ".config" / "vgviz"
    conf.mkdir(parents=True)
    (conf / "vgviz.conf").write_text("[General]\ntheme=dark\nlast_preset=deep-relu\n"
                                     "last_config=\"{\\\"depth\\\": 3}\"\ngeometry=@ByteArray(x)\n", encoding="utf-8")
    (home / ".cache").mkdir()
    before = _snapshot(home)
    env = {k: v for k, v in os.environ.items() if not k.startswith("XDG_")}
    env.update(HOME=str(home), XDG_CACHE_HOME=str(home / ".cache"),
               XDG_DATA_HOME=str(home / ".local" / "share"), QT_QPA_PLATFORM="offscreen")
    out = tmp_path / "out"
    out.mkdir()
    for args in (["render", "--view", "window", "--steps", "2", "--preset", "shallow-sigmoid",
                  "--theme", "lecture", "--out", str(out / "w.png")],
                 ["report", "--steps", "2", "--preset", "shallow-sigmoid"]):
        proc = subprocess.run([sys.executable, "-m", "vgviz.cli", *args], capture_output=True, text=True,
                              timeout=180, env=env, cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
    assert (out / "w.png").stat().st_size > 0
    assert _snapshot(home) == before


def test_the_private_store_holds_the_windows_settings_on_every_platform(qtbot):
    """A path redirects only file formats; on macOS and Windows the native store is a plist or
    the registry. The window's store must follow the private INI store wherever it runs."""
    from PySide6 import QtCore

    from vgviz.gui.main_window import MainWindow
    from vgviz.gui.settings import use_private_settings

    QtCore.QSettings.setDefaultFormat(QtCore.QSettings.Format.NativeFormat)   # as outside the tests
    folder = use_private_settings()
    try:
        window = MainWindow()
        qtbot.addWidget(window)
        assert window.settings.format() == QtCore.QSettings.Format.IniFormat
        assert window.settings.fileName().startswith(folder.name)
        window.close()
    finally:
        folder.cleanup()
