"""QApplication set-up and main(). torch is imported by the worker, after the window shows."""
from __future__ import annotations

import sys

from PySide6 import QtCore, QtGui, QtWidgets


def apply_dark_palette(app: QtWidgets.QApplication) -> None:
    app.setStyle("Fusion")
    p = QtGui.QPalette()
    role = QtGui.QPalette.ColorRole
    base, window, text = QtGui.QColor(30, 30, 34), QtGui.QColor(40, 40, 46), QtGui.QColor(225, 225, 230)
    for r, c in ((role.Window, window), (role.WindowText, text), (role.Base, base),
                 (role.AlternateBase, window), (role.Text, text), (role.Button, window),
                 (role.ButtonText, text), (role.ToolTipBase, QtGui.QColor(250, 250, 235)),
                 (role.ToolTipText, QtGui.QColor(20, 20, 20)), (role.Highlight, QtGui.QColor(70, 110, 200)),
                 (role.HighlightedText, QtGui.QColor(255, 255, 255)), (role.Mid, QtGui.QColor(150, 150, 160))):
        p.setColor(r, c)
    for r in (role.ButtonText, role.WindowText, role.Text):   # a disabled button must look it (Start on a file)
        p.setColor(QtGui.QPalette.ColorGroup.Disabled, r, QtGui.QColor(120, 120, 128))
    app.setPalette(p)


def use_first_config(window, config, preset: str | None) -> None:
    """Make ``config`` the run the window starts with, instead of the preset's or the saved one;
    the preset stays selected only while the config is still the preset's."""
    from ..core.presets import load_preset

    name = preset if preset and load_preset(preset).config == config else None
    window.preset_name = name
    window.panel.set_config(config)
    window.panel.select_preset(name)
    window.run.config = config


def make_app(argv: list[str] | None = None) -> QtWidgets.QApplication:
    app = QtWidgets.QApplication.instance()
    if app is None:
        QtCore.QCoreApplication.setOrganizationName("vgviz")
        QtCore.QCoreApplication.setApplicationName("vgviz")
        app = QtWidgets.QApplication(argv if argv is not None else sys.argv[:1])
        apply_dark_palette(app)
    return app


def run_app(preset: str | None = None, run_path: str | None = None, config=None) -> int:
    """The window on ``preset`` (training), on ``config`` (a RunConfig: `vgviz gui --config/--set`),
    or on the run file ``run_path`` (replayed, and followed while another process writes it)."""
    app = make_app()
    from .main_window import MainWindow

    from .worker import wait_for_workers

    window = MainWindow(preset=preset)
    if config is not None:
        use_first_config(window, config, preset)
    if run_path is not None:
        window.runs.open_path(run_path)   # a bad file: the window says so and offers a fresh run
    window.show()
    code = app.exec()
    # A closed window leaves its last step running (it may take long): end it before the
    # process, or Qt aborts destroying a running thread.
    wait_for_workers()
    return code
