"""Both themes at projector sizes (1280×720, 1024×768): every layer is labelled, no text is cut
off, and every text has WCAG AA contrast (≥ 4.5:1) with its background."""
from __future__ import annotations

import pytest
from PySide6 import QtCore, QtGui, QtWidgets

from vgviz.core.layout.contrast import AA_TEXT, contrast_ratio, readable
from vgviz.core.layout.labels import LabelPlan, plan_labels, rule_parts, short_layer_name, wrap_text


SIZES = [(1280, 720), (1024, 768)]


def rgb(color) -> tuple[int, int, int]:
    return QtGui.QColor(color).getRgb()[:3]


def fits(widget: QtWidgets.QWidget, text: str, width: float) -> bool:
    """The text is drawn whole at ``width``: Qt's elided form of it is itself."""
    fm = QtGui.QFontMetricsF(widget.font())
    return fm.elidedText(text, QtCore.Qt.TextElideMode.ElideRight, width) == text


@pytest.mark.parametrize("theme", ["lecture", "dark"])
def test_every_label_shows_whole_with_aa_contrast(qtbot, window, theme):
    for size in SIZES:
        check_at(qtbot, window, theme, size)


def check_at(qtbot, w, theme: str, size: tuple[int, int]) -> None:
    w.themes.set_theme(theme)
    w.resize(*size)
    qtbot.waitUntil(lambda: w.width() == size[0] and w.height() == size[1], timeout=5000)
    QtWidgets.QApplication.processEvents()
    t = w.themes.theme

    # the diagram: a label over every column, naming its layer (in full or as h3), none overlapping
    view = w.network
    stats = view.scene.stats
    columns = list(range(len(view.scene.sizes)))
    assert view.labelled_columns() == columns
    names = [view.column_label(c, stats)[0] for c in columns]
    expected = ["input", *stats.layer_names]
    assert names in (expected, [short_layer_name(n) for n in expected]), names
    fm = QtGui.QFontMetricsF(view._fonts()[0])
    rows = view._label_rows
    for row in range(rows):   # labels of one row sit `rows` columns apart: no two may overlap
        xs = [(float(view._layout.x[c]), max(fm.horizontalAdvance(t) for t in view.column_label(c, stats)))
              for c in columns[::-1][row::rows]]
        for (x1, w1), (x2, w2) in zip(xs, xs[1:]):
            assert x1 - x2 >= (w1 + w2) / 2, (theme, size, names)
    # its caption and legend, wrapped, not cut off
    caption, legend = view._caption_text(), view._legend_text()
    lines = view.caption_lines(caption, legend)
    assert " ".join(line for line, _ in lines) == f"{caption} {legend}", lines

    # plot titles: one of each plot's titles, whole
    for plot in w.plots.plot_widgets.values():
        assert plot.plotItem.titleLabel.text in plot.texts["shorter"], plot.plotItem.titleLabel.text

    # the control panel: the preset's name whole in its box, its title and description wrapped
    box = w.panel.preset_box
    option = QtWidgets.QStyleOptionComboBox()
    box.initStyleOption(option)
    field = box.style().subControlRect(QtWidgets.QStyle.ComplexControl.CC_ComboBox, option,
                                       QtWidgets.QStyle.SubControl.SC_ComboBoxEditField, box)
    assert fits(box, box.currentText(), field.width()), box.currentText()
    assert w.panel.preset_text.wordWrap() and w.panel.preset_text.isVisible()
    for button in (w.panel.start_button, w.panel.step_button, w.panel.reset_button, w.stepper.chain_button):
        assert button.sizeHint().width() <= max(button.width(), button.minimumSizeHint().width()), button.text()

    # contrast: layer colours on the diagram and plots, the dim texts, the panel's messages
    backgrounds = [rgb(t.diagram.background), rgb(t.plot_background)]
    for color in view._layer_colors:
        for bg in backgrounds:
            assert contrast_ratio(color.getRgb()[:3], bg) >= AA_TEXT, (theme, color.name())
    style = view.diagram_style()
    for fg in (style.text, style.dim_text):
        assert contrast_ratio(rgb(fg), rgb(style.background)) >= AA_TEXT, (theme, fg)
    assert contrast_ratio(rgb(t.key_text), rgb(t.plot_background)) >= AA_TEXT
    assert contrast_ratio(rgb(t.plot_foreground), rgb(t.plot_background)) >= AA_TEXT
    panel = w.panel
    window_bg = panel.palette().color(QtGui.QPalette.ColorRole.Window).getRgb()[:3]
    for label in (panel.preset_text, panel.pending_label, panel.error_label):
        fg = label.palette().color(label.foregroundRole()).getRgb()[:3]
        assert contrast_ratio(fg, window_bg) >= AA_TEXT, (theme, label.text())
    assert panel.preset_text.font().pointSizeF() >= panel.font().pointSizeF()   # projection size


@pytest.mark.parametrize("theme", ["lecture", "dark"])
def test_docks_open_on_a_backprop_frame_nothing_is_cut(qtbot, window, theme):
    """The stepper and the diagnostics docks open beside the diagram, which shows a backward
    frame (the longest caption): at both sizes every dock fits its panel, every tab title,
    button, caption line and axis title shows whole."""
    w = window
    w.diagnostics_dock.show()
    w.backprop.record(None)
    qtbot.waitUntil(lambda: w.backprop.panel.trace is not None, timeout=10_000)
    stepper = w.stepper
    stepper.set_cursor(len(stepper.trace) - 3)
    for size in SIZES:
        w.themes.set_theme(theme)
        w.resize(*size)
        qtbot.waitUntil(lambda: w.width() == size[0] and w.height() == size[1], timeout=5000)
        QtWidgets.QApplication.processEvents()
        where = (theme, size)

        # each dock's panel is as wide as the dock shows: nothing scrolls or is cut sideways
        for panel in (stepper, w.diagnostics):
            viewport = panel.parentWidget()
            assert panel.width() <= viewport.width(), where
        for button in (stepper.record_button, stepper.leave_button, stepper.chain_button):
            assert button.isVisible() and button.sizeHint().width() <= button.width(), (where, button.text())
            right = button.mapTo(stepper, QtCore.QPoint(button.width(), 0)).x()
            assert right <= stepper.parentWidget().width(), (where, button.text())
        # group box titles cannot wrap: each whole within its box
        for box in stepper.findChildren(QtWidgets.QGroupBox):
            assert fits(box, box.title(), box.width() - 16), (where, box.title())
        # the diagnostics tabs: every title whole, all of them in the bar's width
        bar = w.diagnostics.tabs.tabBar()
        assert bar.elideMode() == QtCore.Qt.TextElideMode.ElideNone
        assert max(bar.tabRect(i).right() for i in range(bar.count())) < w.diagnostics.tabs.width(), where
        # dock tab titles (the stepper tabbed with the decision boundary) whole
        for dock in (w.stepper_dock, w.decision_dock):
            for dock_bar in w.findChildren(QtWidgets.QTabBar):
                for i in range(dock_bar.count()):
                    if dock_bar.tabText(i) == dock.windowTitle():
                        assert fits(dock_bar, dock_bar.tabText(i), dock_bar.tabRect(i).width() - 8), where

        # the frame's caption and legend, wrapped, not cut off
        view = w.network
        caption, legend = view._caption_text(), view._legend_text()
        assert caption.startswith("B"), caption            # a backward frame's caption
        lines = view.caption_lines(caption, legend)
        assert " ".join(line for line, _ in lines) == f"{caption} {legend}", (where, lines)
        # axis titles: one of each axis' titles, never an elided one (or none, where none fits)
        for plot in w.plots.plot_widgets.values():
            for side in ("left", "bottom"):
                text = plot.getAxis(side).labelText
                assert text in (*plot.texts[f"{side}_shorter"], ""), (where, text)
            assert plot.getAxis("left").labelText, (where, plot.texts["left"])   # the quantity is named
        # the status bar's state shows whole beside its read-outs
        status = w.statusBar()
        room = status.width() - sum(label.width() for label in (w.status.step_label, w.status.loss_label)
                                    if label.isVisible()) - 30
        assert fits(status, status.currentMessage(), room), (where, status.currentMessage())


@pytest.mark.parametrize("window_preset", ["rnn-T50"])
def test_the_unrolled_view_texts_have_aa_contrast_in_both_themes(qtbot, window):
    """The recurrent view's coloured texts (the amber 'x_1' cue, the token letters and their
    key) and its plain ones are readable on its background in both themes."""
    view = window.recurrent.unrolled
    for theme in ("lecture", "dark"):
        window.themes.set_theme(theme)
        style = view.diagram_style()
        background = rgb(style.background)
        for fg in (view._cue_text, *view._token_text, QtGui.QColor(style.text), QtGui.QColor(style.dim_text)):
            assert contrast_ratio(rgb(fg), background) >= AA_TEXT, (theme, fg.name())


def test_a_colour_is_made_readable_keeping_its_hue():
    amber, white, black = (240, 180, 41), (255, 255, 255), (0, 0, 0)
    assert contrast_ratio(amber, white) < AA_TEXT
    on_white = readable(amber, white)
    assert contrast_ratio(on_white, white) >= AA_TEXT and on_white[0] > on_white[1] > on_white[2]
    assert readable(amber, black) == amber          # already readable: unchanged


def test_labels_are_abbreviated_then_staggered_before_any_is_dropped():
    assert plan_labels(gap=120, full_width=100, short_width=60) == LabelPlan(False, 1, 1)
    assert plan_labels(gap=60, full_width=100, short_width=60).rows == 2
    plan = plan_labels(gap=40, full_width=100, short_width=60)
    assert plan.short and plan.rows == 2 and plan.stride == 1
    assert plan_labels(gap=25, full_width=100, short_width=60) == LabelPlan(True, 3, 1)   # beside a dock
    assert plan_labels(gap=10, full_width=100, short_width=60).stride == 3
    assert [short_layer_name(n) for n in ("input", "hidden12", "output", "neuron3", "lstm")] == \
        ["in", "h12", "out", "n3", "lstm"]


def test_wrapped_text_keeps_every_word_within_the_width():
    text = "edges: |dL/dW_ij|, nodes: batch-mean |δ_j|, one log colour scale 1e-09 … 1e-01"
    lines = wrap_text(text, 20, len)
    assert " ".join(lines) == text and all(len(line) <= 20 for line in lines)
    assert wrap_text("a-very-long-word x", 5, len) == ["a-very-long-word", "x"]


def test_a_rule_breaks_only_between_its_parts():
    parts = rule_parts("δˡ = (Wˡ⁺¹)ᵀ δˡ⁺¹ ⊙ f′(zˡ)   (l = hidden3, f = sigmoid)")
    assert parts == [("δˡ = (Wˡ⁺¹)ᵀ δˡ⁺¹ ⊙ f′(zˡ)", True), ("   ", False), ("(l = hidden3", True), (", ", False),
                     ("f = sigmoid)", True)]
    assert [p for p, formula in rule_parts("u = a + x, so dL/dx = b") if formula] == ["u = a + x", "so dL/dx = b"]
    assert rule_parts("∂L/∂h_t = W_hhᵀ ∂L/∂h_(t+1): one factor W_hh·tanh′ per step")[-1] == \
        ("one factor W_hh·tanh′ per step", False)   # words, not a formula: they may wrap
