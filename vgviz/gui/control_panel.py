"""The control panel: preset, every RunConfig field, Start/Pause, Step, Reset, the training speed."""
from __future__ import annotations

import html

from PySide6 import QtCore, QtGui, QtWidgets

from ..core.config import (BOOL_FIELDS, CHOICES, FIELD_HELP, INT_RANGES, RECURRENT_MAX_DEPTH, RECURRENT_MODELS,
                           SEQUENCE_TASKS, ConfigError, RunConfig, unused_fields)
from ..core.presets import Preset
from .worker import SPEEDS


def speed_text(rate: float | None) -> str:
    """'1 step/s', '25 steps/s', 'as fast as possible'."""
    if rate is None:
        return "as fast as possible"
    return f"{rate:g} step/s" if rate == 1 else f"{rate:g} steps/s"


class ControlPanel(QtWidgets.QWidget):
    preset_chosen = QtCore.Signal(str)
    config_edited = QtCore.Signal()

    def __init__(self, presets: list[Preset], parent: QtWidgets.QWidget | None = None):
        super().__init__(parent)
        self.presets = {p.name: p for p in presets}
        outer = QtWidgets.QVBoxLayout(self)

        # The box shows the preset's short name (as `vgviz --preset NAME` takes it), which fits
        # the panel at lecture size; its list shows each name with its title, and the label
        # under it the whole title and description, wrapped: nothing is cut off.
        self.preset_box = QtWidgets.QComboBox()
        model = QtGui.QStandardItemModel(self.preset_box)
        for p in presets:
            name, title = QtGui.QStandardItem(p.name), QtGui.QStandardItem(p.title)
            name.setData(p.name, QtCore.Qt.ItemDataRole.UserRole)
            for item in (name, title):
                item.setToolTip(p.description)
                item.setEditable(False)
            model.appendRow([name, title])
        popup = QtWidgets.QTreeView()
        popup.setHeaderHidden(True)
        popup.setRootIsDecorated(False)
        popup.setAllColumnsShowFocus(True)
        popup.header().setSectionResizeMode(QtWidgets.QHeaderView.ResizeMode.ResizeToContents)
        self.preset_box.setModel(model)
        self.preset_box.setView(popup)
        self.preset_box.setModelColumn(0)
        self.preset_box.setToolTip("Load a preset: fills every field and starts a fresh run.")
        self.preset_box.setSizeAdjustPolicy(QtWidgets.QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.preset_box.setMinimumContentsLength(16)
        self.preset_box.activated.connect(self._on_preset_activated)
        self.preset_text = QtWidgets.QLabel()
        self.preset_text.setWordWrap(True)
        self.preset_text.setTextFormat(QtCore.Qt.TextFormat.RichText)
        # the theme's Mid colour and font (a style sheet would take the application's instead)
        self.preset_text.setForegroundRole(QtGui.QPalette.ColorRole.Mid)
        outer.addWidget(QtWidgets.QLabel("<b>Preset</b>"))
        outer.addWidget(self.preset_box)
        outer.addWidget(self.preset_text)

        form = QtWidgets.QFormLayout()
        form.setFieldGrowthPolicy(QtWidgets.QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.editors: dict[str, QtWidgets.QWidget] = {}
        for name in RunConfig.field_names():
            editor = self._make_editor(name)
            self.editors[name] = editor
            form.addRow(name.replace("_", " "), editor)
        self.editors["model"].currentTextChanged.connect(self._on_model_changed)
        self._form = form
        self._help = {name: FIELD_HELP.get(name, name) for name in self.editors}
        self._help["model"] += (".\nChoosing a recurrent model also sets dataset = recall and a depth of at most 4; "
                                "choosing mlp sets a 2-D data set.")
        for name in ("model", "activation", "init", "optimizer"):
            self.editors[name].currentTextChanged.connect(self._enable_applicable_fields)
        self._enable_applicable_fields()
        box = QtWidgets.QGroupBox("Run configuration")
        box.setLayout(form)
        # The fields scroll; preset, messages and buttons stay in view at any window height.
        scroll = QtWidgets.QScrollArea()
        scroll.setWidget(box)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QtWidgets.QFrame.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(QtCore.Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setMinimumHeight(120)
        outer.addWidget(scroll, 1)
        self._fields, self._fields_scroll = box, scroll

        self.pending_label = QtWidgets.QLabel("Changed: press Reset to apply.")
        self.pending_label.hide()
        outer.addWidget(self.pending_label)

        self.error_label = QtWidgets.QLabel()
        self.error_label.setWordWrap(True)
        bold = QtGui.QFont()
        bold.setBold(True)   # only the weight: the size follows the theme's font
        self.error_label.setFont(bold)
        self.error_label.setTextInteractionFlags(QtCore.Qt.TextInteractionFlag.TextSelectableByMouse)
        self.error_label.hide()
        outer.addWidget(self.error_label)

        buttons = QtWidgets.QGridLayout()
        self.start_button = QtWidgets.QPushButton("Start")
        self.step_button = QtWidgets.QPushButton("Step")
        self.reset_button = QtWidgets.QPushButton("Reset")
        buttons.addWidget(self.start_button, 0, 0, 1, 2)
        buttons.addWidget(self.step_button, 1, 0)
        buttons.addWidget(self.reset_button, 1, 1)
        outer.addLayout(buttons)
        speed_row = QtWidgets.QHBoxLayout()
        speed_label = QtWidgets.QLabel("Speed")
        self.speed_box = QtWidgets.QComboBox()
        for rate in SPEEDS:
            self.speed_box.addItem(speed_text(rate), rate)
        self.speed_box.setCurrentIndex(len(SPEEDS) - 1)
        self.speed_box.setToolTip("Training speed: slow enough to watch the network learn in class, "
                                  "or as fast as possible (T: the next speed)")
        speed_label.setBuddy(self.speed_box)
        speed_row.addWidget(speed_label)
        speed_row.addWidget(self.speed_box, 1)
        outer.addLayout(speed_row)
        self.auto_range_box = QtWidgets.QCheckBox("Auto colour range")
        self.auto_range_box.setToolTip("Off: the colour scale is fixed at the first step of a run,\n"
                                       "so colours compare across steps. On: re-fit every frame.")
        outer.addWidget(self.auto_range_box)
        self._loading = False
        self._color_messages()
        self._fit_width()

    # The panel never scrolls sideways: it is as wide as its fields need in the current
    # font (the lecture theme's is 1.35× larger), between these bounds at the usual sizes.
    MIN_WIDTH, MAX_WIDTH = 250, 340

    def _fit_width(self) -> None:
        margins = self.layout().contentsMargins()
        needed = (self._fields.sizeHint().width() + self._fields_scroll.verticalScrollBar().sizeHint().width()
                  + margins.left() + margins.right())
        popup = self.preset_box.view()   # the list is as wide as its names and titles
        popup.setMinimumWidth(popup.sizeHintForColumn(0) + popup.sizeHintForColumn(1) + 40)
        self.setMinimumWidth(max(self.MIN_WIDTH, needed))
        self.setMaximumWidth(max(self.MAX_WIDTH, needed))

    def sizeHint(self) -> QtCore.QSize:
        # as narrow as the fields allow: a long preset description wraps instead of taking
        # the views' room
        return QtCore.QSize(self.minimumWidth(), super().sizeHint().height())

    # (dark theme, light theme) colours of the messages: contrast ≥ 4.5:1 on either window
    PENDING_COLORS, ERROR_COLORS = ("#f0b429", "#8a5a00"), ("#ff6b6b", "#b42318")

    def _color_messages(self) -> None:
        light = self.palette().color(QtGui.QPalette.ColorRole.Window).lightnessF() > 0.5
        for label, colors in ((self.pending_label, self.PENDING_COLORS), (self.error_label, self.ERROR_COLORS)):
            palette = QtGui.QPalette()
            palette.setColor(QtGui.QPalette.ColorRole.WindowText, QtGui.QColor(colors[light]))
            label.setPalette(palette)   # only this role: the rest follows the theme

    def changeEvent(self, event: QtCore.QEvent) -> None:
        super().changeEvent(event)
        if event.type() == QtCore.QEvent.Type.PaletteChange:
            self._color_messages()
        if event.type() == QtCore.QEvent.Type.FontChange:
            # after the children have their new font too
            QtCore.QTimer.singleShot(0, self._fit_width)

    def _make_editor(self, name: str) -> QtWidgets.QWidget:
        if name in BOOL_FIELDS:
            w = QtWidgets.QCheckBox()
            w.toggled.connect(self._on_edited)
            return w
        if name in CHOICES:
            w = QtWidgets.QComboBox()
            w.addItems(list(CHOICES[name]))
            w.currentIndexChanged.connect(self._on_edited)
            return w
        if name in INT_RANGES:
            lo, hi = INT_RANGES[name]
            w = QtWidgets.QSpinBox()
            w.setRange(lo, hi)
            w.setKeyboardTracking(False)
            if name == "steps":
                w.setSingleStep(1000)
            w.valueChanged.connect(self._on_edited)
            return w
        w = QtWidgets.QLineEdit()  # lr: free text so 1e-3 can be typed; checked by RunConfig
        w.textEdited.connect(self._on_edited)
        return w

    # -- values --------------------------------------------------------------
    def raw_values(self) -> dict[str, str]:
        out = {}
        for name, w in self.editors.items():
            if isinstance(w, QtWidgets.QCheckBox):
                out[name] = "true" if w.isChecked() else "false"
            elif isinstance(w, QtWidgets.QComboBox):
                out[name] = w.currentText()
            elif isinstance(w, QtWidgets.QSpinBox):
                out[name] = str(w.value())
            else:
                out[name] = w.text()
        return out

    def config(self) -> RunConfig:
        """The config in the fields; raises ConfigError naming the bad field."""
        return RunConfig().with_text_values(self.raw_values())

    def set_config(self, config: RunConfig) -> None:
        self._loading = True
        try:
            for name, value in config.to_dict().items():
                w = self.editors[name]
                if isinstance(w, QtWidgets.QCheckBox):
                    w.setChecked(bool(value))
                elif isinstance(w, QtWidgets.QComboBox):
                    w.setCurrentText(str(value))
                elif isinstance(w, QtWidgets.QSpinBox):
                    w.setValue(int(value))
                else:
                    w.setText(f"{value:g}")
        finally:
            self._loading = False
        self._enable_applicable_fields()
        self.set_pending(False)

    def select_preset(self, name: str | None) -> None:
        index = self.preset_box.findData(name) if name else -1
        self.preset_box.setCurrentIndex(index)
        preset = self.presets.get(name)
        self.preset_text.setText(f"<b>{html.escape(preset.title)}</b><br>{html.escape(preset.description)}"
                                 if preset is not None else "Custom configuration.")

    # -- feedback ------------------------------------------------------------
    def show_error(self, message: str | None) -> None:
        self.error_label.setText(message or "")
        self.error_label.setVisible(bool(message))

    def set_pending(self, pending: bool) -> None:
        self.pending_label.setVisible(pending)
        self.reset_button.setText("Apply && reset" if pending else "Reset")

    @property
    def speed(self) -> float | None:
        """The chosen training speed in steps per second; None: as fast as possible."""
        return self.speed_box.currentData()

    def next_speed(self) -> None:
        self.speed_box.setCurrentIndex((self.speed_box.currentIndex() + 1) % self.speed_box.count())

    def set_running(self, running: bool) -> None:
        self.start_button.setText("Pause" if running else "Start")

    # -- handlers ------------------------------------------------------------
    def _on_preset_activated(self, index: int) -> None:
        name = self.preset_box.itemData(index)
        if name:
            self.preset_chosen.emit(name)

    def _on_model_changed(self, model: str) -> None:
        """Keep the fields a valid combination when the model changes (RunConfig would refuse
        a recurrent model on a 2-D data set, and an MLP on a sequence task)."""
        if self._loading:
            return
        dataset, depth = self.editors["dataset"], self.editors["depth"]
        if model in RECURRENT_MODELS:
            if dataset.currentText() not in SEQUENCE_TASKS:
                dataset.setCurrentText(SEQUENCE_TASKS[0])
            if depth.value() > RECURRENT_MAX_DEPTH:
                depth.setValue(1)
            self.editors["norm"].setCurrentText("none")
            self.editors["residual"].setChecked(False)
        elif dataset.currentText() in SEQUENCE_TASKS:
            dataset.setCurrentText(RunConfig().dataset)

    def _enable_applicable_fields(self, *_args) -> None:
        """Only the fields this run uses are enabled; a disabled one says why in its tooltip."""
        unused = unused_fields({name: self.editors[name].currentText()
                                for name in ("model", "activation", "init", "optimizer")})
        for name, editor in self.editors.items():
            reason = unused.get(name)
            editor.setEnabled(reason is None)
            self._form.labelForField(editor).setEnabled(reason is None)
            editor.setToolTip(self._help[name] if reason is None else f"Not used: {reason}.\n{self._help[name]}")

    def _on_edited(self, *_args) -> None:
        if self._loading:
            return
        self.set_pending(True)
        self.config_edited.emit()


def validate_fields(panel: ControlPanel) -> tuple[RunConfig | None, str | None]:
    try:
        return panel.config(), None
    except ConfigError as err:
        return None, str(err)
