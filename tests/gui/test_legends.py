"""Legends of the loss and gradient-norm plots and the decision boundary; the boundary cropped to the data."""
from __future__ import annotations

import numpy as np
import pytest
from PySide6 import QtCore

from vgviz.core.presets import load_preset
from vgviz.core.tasks import make_trainer
from vgviz.gui.decision_view import MARGIN, DecisionView
from vgviz.gui.network_view import layer_colors
from vgviz.gui.plots import TrainingPlots


def legend_names(legend) -> list[str]:
    return [label.text for _, label in legend.items]


def click_sample(qtbot, plot, legend, index: int) -> None:
    """A real left click on the legend's line sample ``index``."""
    sample = legend.items[index][0]
    at = plot.mapFromScene(sample.mapToScene(sample.boundingRect().center()))
    qtbot.mouseClick(plot.viewport(), QtCore.Qt.MouseButton.LeftButton, pos=at)


def test_the_loss_plot_names_batch_smoothed_and_test(qtbot):
    plots = TrainingPlots()
    qtbot.addWidget(plots)
    assert legend_names(plots.legend) == ["batch", "smoothed", "test"]


def test_clicking_a_layer_in_the_norms_legend_shows_it_alone_and_again_shows_all(qtbot):
    plots = TrainingPlots()
    qtbot.addWidget(plots)
    names = ["hidden1", "hidden2", "output"]
    plots.set_layers(names, layer_colors(3))
    plots.resize(1600, 320)
    plots.show()
    qtbot.waitUntil(lambda: plots.norm_legend.isVisible() and plots.norm_plot.width() > 300, timeout=5000)
    assert legend_names(plots.norm_legend) == ["h1", "h2", "out"]
    curves = plots._norm_curves
    click_sample(qtbot, plots.norm_plot, plots.norm_legend, 1)
    assert [c.isVisible() for c in curves] == [False, True, False] and plots.singled_out == 1
    click_sample(qtbot, plots.norm_plot, plots.norm_legend, 2)         # another layer: that one alone
    assert [c.isVisible() for c in curves] == [False, False, True]
    click_sample(qtbot, plots.norm_plot, plots.norm_legend, 2)         # the same again: every layer
    assert all(c.isVisible() for c in curves) and plots.singled_out is None
    plots.set_layers(names, layer_colors(3))                           # a new run shows every layer
    assert plots.singled_out is None and all(c.isVisible() for c in plots._norm_curves)


@pytest.mark.parametrize("size", [(300, 800), (800, 300), (420, 420)])
def test_the_decision_boundary_is_cropped_to_the_data_and_names_its_classes(qtbot, size):
    view = DecisionView()
    qtbot.addWidget(view)
    view.resize(*size)
    view.show()
    trainer = make_trainer(load_preset("deep-sigmoid").config)
    x, y = trainer.data.x_train, trainer.data.y_train
    view.set_data(x, y)
    view.show_surface(trainer.decision_surface())
    assert legend_names(view.legend) == [f"class {c}" for c in range(int(y.max()) + 1)]
    lo, hi = x.min(0), x.max(0)
    span = hi - lo

    def cropped() -> bool:
        (x0, x1), (y0, y1) = view.plot.getViewBox().viewRange()
        shown_lo, shown_hi = np.array([x0, y0]), np.array([x1, y1])
        # every point is in view, with no more than twice the margin (the axes' rounding) around it
        return bool(np.all(shown_lo <= lo) and np.all(shown_hi >= hi)
                    and np.all(shown_lo >= lo - 2 * MARGIN * span) and np.all(shown_hi <= hi + 2 * MARGIN * span))

    qtbot.waitUntil(cropped, timeout=5000)
