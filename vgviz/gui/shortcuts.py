"""The window's actions, and Help: the list of their shortcuts (generated from what is registered), About."""
from __future__ import annotations

import html

from PySide6 import QtGui, QtWidgets

# The arrows are shown as arrows; Qt names them.
KEY_GLYPHS = {"Right": "→", "Left": "←", "Up": "↑", "Down": "↓"}


def add_action(window: QtWidgets.QWidget, text: str, slot, shortcut: str | None = None, tip: str | None = None,
               menu: QtWidgets.QMenu | None = None) -> QtGui.QAction:
    """A QAction of the window (its shortcut works wherever the focus is), in ``menu`` if given."""
    a = QtGui.QAction(text, window)
    if shortcut:
        a.setShortcut(QtGui.QKeySequence(shortcut))
    a.setToolTip(f"{tip or text} ({QtGui.QKeySequence(shortcut).toString()})" if shortcut else tip or text)
    a.triggered.connect(slot)
    if menu is not None:
        menu.addAction(a)
    window.addAction(a)
    return a


def add_dock_toggle(dock: QtWidgets.QDockWidget, shortcut: str, menu: QtWidgets.QMenu) -> QtGui.QAction:
    """The dock's show/hide action, with a shortcut, in ``menu``."""
    a = dock.toggleViewAction()
    a.setShortcut(QtGui.QKeySequence(shortcut))
    menu.addAction(a)
    return a


def add_speed_control(window: QtWidgets.QMainWindow, menu: QtWidgets.QMenu) -> QtGui.QAction:
    """T: the next training speed of the panel's speed box, which the window's run follows."""
    panel = window.panel
    panel.speed_box.currentIndexChanged.connect(lambda _index: window.run.set_speed(panel.speed))
    return add_action(window, "Training speed", panel.next_speed, "T",
                      "The next training speed: 1, 5, 25, 100 steps/s, as fast as possible", menu)


def shortcut_actions(window: QtWidgets.QMainWindow) -> list[QtGui.QAction]:
    """Every action with a shortcut that the window answers to: the menus' (in menu order) and
    the window's own."""
    found: list[QtGui.QAction] = []

    def walk(actions) -> None:
        for a in actions:
            if a.menu() is not None:
                walk(a.menu().actions())
            elif not a.shortcut().isEmpty() and a not in found:
                found.append(a)

    walk(window.menuBar().actions())
    walk(window.actions())
    return found


def key_text(action: QtGui.QAction) -> str:
    """The shortcut as Qt names it on every platform: Ctrl+Right, Esc, F1."""
    return action.shortcut().toString(QtGui.QKeySequence.SequenceFormat.PortableText)


def shortcuts_html(window: QtWidgets.QMainWindow) -> str:
    rows = []
    for a in shortcut_actions(window):
        key = "+".join(KEY_GLYPHS.get(part, part) for part in key_text(a).split("+"))
        text = a.text().replace("&", "").rstrip("…")
        tip = a.toolTip().removesuffix(f" ({a.shortcut().toString()})")
        what = text if tip.replace("&", "").rstrip("…") == text else f"{text}: {tip}"
        if a.isCheckable():
            what += " (on / off)"
        rows.append(f"<tr><td><b>{html.escape(key)}</b></td><td>{html.escape(what)}</td></tr>")
    return "<table>" + "".join(rows) + "</table>"


def show_shortcuts(window: QtWidgets.QMainWindow) -> None:
    QtWidgets.QMessageBox.information(window, "Keyboard shortcuts", shortcuts_html(window))


def show_about(window: QtWidgets.QWidget) -> None:
    from .. import __version__
    QtWidgets.QMessageBox.about(window, "About vgviz",
                                f"<b>vgviz {__version__}</b><p>See, measure and fix the vanishing "
                                "gradient problem.</p>")
