"""The shortcut list (F1) and README's table come from, and agree with, the registered actions."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from PySide6 import QtWidgets

from vgviz.gui.shortcuts import key_text, shortcut_actions

README = Path(__file__).resolve().parents[2] / "README.md"
# README writes some keys as symbols or long names; Qt's portable names are the reference.
KEY_ALIASES = {"→": "Right", "←": "Left", "↑": "Up", "↓": "Down", "Escape": "Esc", "Return": "Enter"}


def normalise(key: str) -> str:
    """'Ctrl+→' and 'ctrl+right' -> 'ctrl+right'; 'Escape' -> 'esc'."""
    return "+".join(KEY_ALIASES.get(part.strip(), part.strip()) for part in key.split("+")).lower()


def readme_keys(text: str) -> list[str]:
    """The keys in README's "Keyboard shortcuts" table (a cell may list several: 'A / B')."""
    section = text.split("### Keyboard shortcuts", 1)[1]
    keys = []
    for line in section.splitlines()[1:]:
        if line.startswith("#"):
            break
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if not line.startswith("|") or cells[0] in ("key", "") or set(cells[0]) <= set("-: "):
            continue
        keys += [normalise(k) for k in cells[0].split(" / ")]
    return keys


@pytest.fixture
def main_window(qtbot, repo_presets):
    from vgviz.gui.main_window import MainWindow

    w = MainWindow(preset="deep-sigmoid")
    qtbot.addWidget(w)
    yield w
    w.close()


def test_f1_lists_every_registered_shortcut(main_window, monkeypatch):
    shown = []
    monkeypatch.setattr(QtWidgets.QMessageBox, "information", lambda parent, title, text: shown.append(text))
    f1 = next(a for a in shortcut_actions(main_window) if key_text(a) == "F1")
    f1.trigger()
    assert len(shown) == 1
    rows = re.findall(r"<tr><td><b>(.*?)</b></td><td>(.*?)</td></tr>", shown[0])
    actions = shortcut_actions(main_window)
    assert [normalise(key) for key, _ in rows] == [normalise(key_text(a)) for a in actions]
    keys = {normalise(key) for key, _ in rows}
    # the menus', the controllers' and the docks' shortcuts are all found
    assert {"space", "right", "ctrl+right", "esc", "ctrl+s", "ctrl+l", "ctrl+b", "ctrl+d", "ctrl+k", "f1"} <= keys
    assert "→" in shown[0] and "Start or pause training" in shown[0]


def test_readme_table_matches_the_registered_shortcuts(main_window):
    registered = {normalise(key_text(a)) for a in shortcut_actions(main_window)}
    documented = readme_keys(README.read_text(encoding="utf-8"))
    assert len(documented) == len(set(documented)), "a key is listed twice in README"
    assert sorted(registered - set(documented)) == [], "shortcuts missing from README's table"
    assert sorted(set(documented) - registered) == [], "README lists shortcuts the window does not have"


def test_the_readme_parser_reads_cells_and_aliases():
    text = "### Keyboard shortcuts\n\n| key | action |\n|---|---|\n| Ctrl+→ / Esc | x |\n| F1 | y |\n\n## Next\n| Q | z |\n"
    assert readme_keys(text) == ["ctrl+right", "esc", "f1"]
