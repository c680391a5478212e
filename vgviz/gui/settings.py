"""A private settings store for runs that must leave the user's settings alone."""
from __future__ import annotations

import tempfile

from PySide6 import QtCore


def use_private_settings() -> tempfile.TemporaryDirectory:
    """Keep every QSettings of this process (vgviz render's window) away from the user's theme,
    last config and geometry: INI files in a new temporary folder, which the caller cleans up.
    Both formats are redirected: the window's QSettings("vgviz", "vgviz") is the native format,
    which on Linux is an INI file under ~/.config (macOS and Windows keep it outside any folder)."""
    folder = tempfile.TemporaryDirectory(prefix="vgviz-settings-")
    QtCore.QSettings.setDefaultFormat(QtCore.QSettings.Format.IniFormat)
    for fmt in (QtCore.QSettings.Format.IniFormat, QtCore.QSettings.Format.NativeFormat):
        QtCore.QSettings.setPath(fmt, QtCore.QSettings.Scope.UserScope, folder.name)
    return folder
