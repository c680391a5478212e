"""Themes: the dark screen theme and a light "lecture" theme for slides and projectors.

A theme is data (``Theme``); ``apply_theme`` hands each view what it needs
(``NetworkView.set_style``, ``TrainingPlots.set_theme``, ``StepperPanel.set_theme``,
a palette and a font for the window). ``ThemeController`` puts the choices in the
View menu and remembers them in QSettings.

Colour maps mean one thing in every theme: a small gradient fades into the background
(near-black on the dark theme, near-white on the lecture theme) and a large one is saturated.
Each choice is a family of two of colorcet's perceptually uniform linear maps (shipped with
pyqtgraph), one starting at black and one at white, with the same hues.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from PySide6 import QtCore, QtGui, QtWidgets

from ..core.layout.contrast import AA_TEXT, contrast_ratio
from .network_view import DiagramStyle

THEMES = ("dark", "lecture")
DEFAULT_THEME = "dark"
# a family's (dark theme, lecture theme) maps: from the background's colour to a saturated one
COLORMAP_FAMILIES = {
    "heat": ("CET-L4", "CET-L18"),    # black → red → yellow; white → yellow → orange → red
    "blue": ("CET-L15", "CET-L12"),   # black → blue; white → blue
}
COLORMAPS = tuple(COLORMAP_FAMILIES)
DEFAULT_COLORMAP = "heat"

class ThemeError(ValueError):
    """An unknown theme or colour map name."""


@dataclass(frozen=True)
class Theme:
    name: str
    light: bool                   # the lecture theme: light background
    font_scale: float             # window and view fonts, × the application font
    # window palette
    window: str
    base: str
    text: str
    button: str
    mid: str
    # diagram
    diagram: DiagramStyle
    # plots
    plot_background: str
    plot_foreground: str
    raw_loss: tuple[int, int, int, int]
    smooth_loss: str
    test_loss: str
    signal: str                   # the forward-signal curve
    curve_width: float
    grid_alpha: float
    # stepper panel: the names in its explanation table
    key_text: str
    layer_lightness: float        # layer colours (labels, curves, bars) as HSL lightness

    def diagram_style(self, colormap: str = DEFAULT_COLORMAP) -> DiagramStyle:
        """The diagram's style with the map of family ``colormap`` that starts at this background."""
        check_colormap(colormap)
        return replace(self.diagram, colormap=COLORMAP_FAMILIES[colormap][self.light])

    def layer_colors(self, n: int) -> list[QtGui.QColor]:
        """``n`` distinguishable layer colours readable on this theme's background: the
        hue sweep of network_view.layer_colors, darker on the light theme."""
        if n <= 0:
            return []
        hues = [0.08] if n == 1 else list(np.linspace(0.08, 0.88, n) % 1.0)
        sat = 0.85 if self.light else 0.80
        return [self._readable(float(h), sat) for h in hues]

    def _readable(self, hue: float, sat: float) -> QtGui.QColor:
        """The layer colour of ``hue``, made darker (light theme) or lighter (dark theme) than
        layer_lightness where needed for text contrast ≥ 4.5:1 on the diagram and plots:
        yellow and green at one lightness are far brighter than blue."""
        backgrounds = [QtGui.QColor(c).getRgb()[:3] for c in (self.diagram.background, self.plot_background)]
        lightness, step = self.layer_lightness, (-0.01 if self.light else 0.01)
        color = QtGui.QColor.fromHslF(hue, sat, lightness)
        while (min(contrast_ratio(color.getRgb()[:3], bg) for bg in backgrounds) < AA_TEXT
               and 0.0 < lightness + step < 1.0):
            lightness += step
            color = QtGui.QColor.fromHslF(hue, sat, lightness)
        return color

    def palette(self) -> QtGui.QPalette:
        p = QtGui.QPalette()
        role = QtGui.QPalette.ColorRole
        c = QtGui.QColor
        for r, col in ((role.Window, self.window), (role.WindowText, self.text), (role.Base, self.base),
                       (role.AlternateBase, self.window), (role.Text, self.text), (role.Button, self.button),
                       (role.ButtonText, self.text), (role.ToolTipBase, "#fafaeb"),
                       (role.ToolTipText, "#141414"), (role.Highlight, "#4670c8"),
                       (role.HighlightedText, "#ffffff"), (role.Mid, self.mid),
                       (role.PlaceholderText, self.mid)):
            p.setColor(r, c(col))
        return p


DARK = Theme(
    name="dark", light=False, font_scale=1.0,
    window="#28282e", base="#1e1e22", text="#e1e1e6", button="#28282e", mid="#9696a0",
    diagram=DiagramStyle(),
    plot_background="#1e1e22", plot_foreground="#d7d7dc",
    raw_loss=(200, 200, 210, 70), smooth_loss="#e0e0e0", test_loss="#ff9f43", signal="#8fd3ff",
    curve_width=1.0, grid_alpha=0.2, key_text="#9aa0ab", layer_lightness=0.64,
)

LECTURE = Theme(
    name="lecture", light=True, font_scale=1.35,
    window="#f2f2f4", base="#ffffff", text="#151518", button="#e6e6ea", mid="#6e6e78",
    diagram=DiagramStyle(background="#ffffff", text="#151518", dim_text="#5a5f6a", node_outline="#3c4048",
                         input_node="#8c9099", highlight="#e0245e", unlit="#dcdee3", zero="#2e8b57", edge_width=1.6,
                         antialias_max_edges=6000),
    plot_background="#ffffff", plot_foreground="#151518",
    raw_loss=(60, 60, 70, 60), smooth_loss="#151518", test_loss="#d35400", signal="#0b6aa8",
    curve_width=3.0, grid_alpha=0.25, key_text="#5a5f6a", layer_lightness=0.40,
)

_BY_NAME = {t.name: t for t in (DARK, LECTURE)}


def get_theme(name: str) -> Theme:
    try:
        return _BY_NAME[name]
    except KeyError:
        raise ThemeError(f"unknown theme {name!r} (choose {', '.join(THEMES)})") from None


def check_colormap(name: str) -> str:
    if name not in COLORMAPS:
        raise ThemeError(f"unknown colour map {name!r} (choose {', '.join(COLORMAPS)})")
    return name


def scaled_font(scale: float, base: QtGui.QFont | None = None) -> QtGui.QFont:
    """The application font (or ``base``) scaled by ``scale``."""
    font = QtGui.QFont(base if base is not None else QtWidgets.QApplication.font())
    size = font.pointSizeF()
    if size > 0:
        font.setPointSizeF(size * scale)
    else:
        font.setPixelSize(max(1, round(font.pixelSize() * scale)))
    return font


def apply_theme(theme: Theme, colormap: str = DEFAULT_COLORMAP, *, window: QtWidgets.QWidget | None = None,
                network=None, plots=None, stepper=None, decision=None, recurrent=None,
                diagnostics=None, n_layers: int | None = None) -> None:
    """Apply a theme to whichever of the window and views are given. ``window`` gets
    the palette and font (its children inherit them); ``n_layers`` re-colours the
    layer labels and curves when a run is showing."""
    font = scaled_font(theme.font_scale)
    if window is not None:
        window.setPalette(theme.palette())
        window.setFont(font)
    else:
        for w in (network, plots, stepper):
            if w is not None:
                w.setPalette(theme.palette())
                w.setFont(font)
    if network is not None:
        network.set_style(theme.diagram_style(colormap))
        if n_layers:
            network.set_layer_colors(theme.layer_colors(n_layers))
    if plots is not None:
        plots.set_theme(theme, font)
        if n_layers:
            plots.set_layer_colors(theme.layer_colors(n_layers))
    if stepper is not None:
        stepper.set_theme(theme)
    if decision is not None:
        decision.set_theme(theme)
    if recurrent is not None:
        recurrent.set_theme(theme, colormap)
    if diagnostics is not None:
        diagnostics.set_theme(theme)


class ThemeController(QtCore.QObject):
    """The View menu's theme and colour map choices for a MainWindow, kept in QSettings."""

    changed = QtCore.Signal()

    def __init__(self, window, view_menu: QtWidgets.QMenu | None = None):
        super().__init__(window)
        self.window = window
        settings = window.settings
        name = str(settings.value("theme", DEFAULT_THEME))
        self.theme = _BY_NAME.get(name, DARK)
        cmap = str(settings.value("colormap", DEFAULT_COLORMAP))
        self.colormap = cmap if cmap in COLORMAPS else DEFAULT_COLORMAP

        self.lecture_action = QtGui.QAction("&Lecture theme", window, checkable=True)
        self.lecture_action.setShortcut(QtGui.QKeySequence("Ctrl+L"))
        self.lecture_action.setToolTip("Light background, large fonts, thick edges: for slides and projectors (Ctrl+L)")
        self.lecture_action.setChecked(self.theme.light)
        self.lecture_action.toggled.connect(lambda on: self.set_theme("lecture" if on else "dark"))
        window.addAction(self.lecture_action)
        self.colormap_menu = QtWidgets.QMenu("&Colour map", window)
        group = QtGui.QActionGroup(self)
        self.colormap_actions: dict[str, QtGui.QAction] = {}
        for cm in COLORMAPS:
            a = QtGui.QAction(cm, window, checkable=True)
            a.setChecked(cm == self.colormap)
            a.triggered.connect(lambda _=False, cm=cm: self.set_colormap(cm))
            group.addAction(a)
            self.colormap_menu.addAction(a)
            self.colormap_actions[cm] = a
        if view_menu is not None:
            view_menu.addSeparator()
            view_menu.addAction(self.lecture_action)
            view_menu.addMenu(self.colormap_menu)
        self.apply()

    def layer_colors(self, n: int) -> list[QtGui.QColor]:
        return self.theme.layer_colors(n)

    def set_theme(self, name: str) -> None:
        theme = get_theme(name)
        if theme is self.theme:
            return
        self.theme = theme
        self.lecture_action.setChecked(theme.light)
        self.window.settings.setValue("theme", theme.name)
        self.apply()

    def set_colormap(self, name: str) -> None:
        check_colormap(name)
        self.colormap = name
        self.colormap_actions[name].setChecked(True)
        self.window.settings.setValue("colormap", name)
        self.apply()

    def apply(self) -> None:
        w = self.window
        latest = w.run.history.latest if w.run.history is not None else None
        apply_theme(self.theme, self.colormap, window=w, network=w.network, plots=w.plots, stepper=w.stepper,
                    decision=w.decision, recurrent=w.recurrent, diagnostics=w.diagnostics,
                    n_layers=latest.n_layers if latest is not None else None)
        if latest is not None:
            w.plots.update_from(w.run.history)
        for compare in w.compares.windows:
            compare.set_theme(self.theme, self.colormap)
        self.changed.emit()
