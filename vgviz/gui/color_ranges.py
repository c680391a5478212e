"""View ▸ Colour range: how the diagrams' log colour range is chosen, and the relative-to-output
view (R). The choices are vgviz.core.layout.color_range's; this module only puts them in a menu,
hands them to the window's scenes (and a compare window's) and remembers them in QSettings."""
from __future__ import annotations

from PySide6 import QtCore, QtGui, QtWidgets

from ..core.layout.color_range import (RANGE_MODE_NAMES, RANGE_MODES, RangeError, SharedRange, format_range,
                                       parse_range)
from ..core.presets import preset_range

DEFAULT_FIXED = (1e-9, 1e-1)


class ColorRangeController(QtCore.QObject):
    """The range mode (``mode``), the typed range (``fixed``), the session's shared range and the
    relative view of a MainWindow's diagram and unrolled view."""

    changed = QtCore.Signal()

    def __init__(self, window, view_menu: QtWidgets.QMenu):
        super().__init__(window)
        self.window = window
        self.shared = SharedRange()      # one per window: every run of the session keeps it
        store = window.settings
        mode = str(store.value("range_mode", "run"))
        try:
            self.fixed = parse_range(str(store.value("range_fixed", format_range(DEFAULT_FIXED))))
        except RangeError:
            self.fixed = DEFAULT_FIXED
        self.mode = mode if mode in RANGE_MODES else "run"
        self.relative = str(store.value("relative", "false")).lower() == "true"
        self.preset_range: tuple[float, float] | None = None

        menu = self.menu = QtWidgets.QMenu("Colour &range", window)
        group = QtGui.QActionGroup(self)
        self.mode_actions: dict[str, QtGui.QAction] = {}
        for m in RANGE_MODES:
            a = QtGui.QAction(RANGE_MODE_NAMES[m] + ("…" if m == "fixed" else ""), window, checkable=True)
            a.triggered.connect(lambda _=False, m=m: self.ask_fixed() if m == "fixed" else self.set_mode(m))
            group.addAction(a)
            menu.addAction(a)
            self.mode_actions[m] = a
        menu.addSeparator()
        self.reset_action = menu.addAction("Reset the shared range", self.reset_shared)
        self.relative_action = QtGui.QAction("Relative to the output layer", window, checkable=True)
        self.relative_action.setShortcut(QtGui.QKeySequence("R"))
        self.relative_action.setToolTip("Colour each layer's |dL/dW| ÷ the output layer's at the same step: "
                                        "vanishing stays visible after convergence (R)")
        self.relative_action.toggled.connect(self.set_relative)
        view_menu.addMenu(menu)
        view_menu.addAction(self.relative_action)
        window.addAction(self.relative_action)
        self.relative_action.setChecked(self.relative)
        window.panel.auto_range_box.toggled.connect(self._on_auto_toggled)   # the box and the A key
        window.run.started.connect(self.use_config)
        self._sync()

    # -- choices -----------------------------------------------------------------------------
    def set_mode(self, mode: str, fixed: tuple[float, float] | None = None) -> None:
        """Choose how the range is chosen (the A key's auto is one of these); applies at once."""
        if mode not in RANGE_MODES:
            raise ValueError(f"unknown colour range mode {mode!r}")
        if fixed is not None:
            self.fixed = fixed
        self.mode = mode
        store = self.window.settings
        store.setValue("range_mode", mode)
        store.setValue("range_fixed", format_range(self.fixed))
        self._sync()

    def _on_auto_toggled(self, on: bool) -> None:
        self.window.auto_range_action.setChecked(on)
        if on:
            self.set_mode("auto")
        elif self.mode == "auto":
            self.set_mode("run")

    def set_fixed_text(self, text: str) -> str | None:
        """The fixed mode with a typed 'LO:HI'; the reason if it cannot be used (nothing changes)."""
        try:
            lo_hi = parse_range(text)
        except RangeError as err:
            return str(err)
        self.set_mode("fixed", lo_hi)
        return None

    def ask_fixed(self) -> None:
        text, ok = QtWidgets.QInputDialog.getText(self.window, "Fixed colour range",
                                                  "Log colour range LO:HI (e.g. 1e-9:1e-1):",
                                                  text=format_range(self.fixed))
        problem = self.set_fixed_text(text) if ok else None
        if problem:
            self.window.show_error(problem)
        self._sync()     # a cancelled or refused dialog leaves the mode as it was

    def reset_shared(self) -> None:
        """Forget the shared range: the next frame shown sets it again."""
        self.shared.reset()
        self._sync()

    def set_relative(self, on: bool) -> None:
        self.relative = bool(on)
        self.window.settings.setValue("relative", self.relative)
        self._sync()

    def use_config(self, config) -> None:
        """A run of ``config`` starts: the range of the preset it is (if that sets one) is the per-run mode's."""
        self.preset_range = preset_range(config)
        self._sync()

    # -- applying ----------------------------------------------------------------------------
    def configure(self, scene) -> None:
        """Give a scene (vgviz.core.layout.scene) the current choices."""
        scene.set_mode(self.mode, self.fixed if self.mode == "fixed" else None)
        scene.shared = self.shared
        scene.preset_range = self.preset_range
        if hasattr(scene, "relative"):
            scene.relative = self.relative

    def _sync(self) -> None:
        w = self.window
        self.mode_actions[self.mode].setChecked(True)
        w.auto_range_action.setChecked(self.mode == "auto")   # the panel's box follows the A key's action
        for view in (w.network, w.recurrent.unrolled):
            self.configure(view.scene)
            view.reapply_range()
        for compare in w.compares.windows:
            compare.use_ranges(self)
        self.changed.emit()
