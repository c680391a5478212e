"""A user's model's run file (no built-in config) in the window: the module diagram takes the
diagram's place, the heat map and the gradient-flow bars show the file's numbers, and a built-in
run brings the layer diagram back."""
import numpy as np
import pytest
import torch

from tests.gui.conftest import has_stats
from tests.model_runs import SmallCNN, record_model_run
from vgviz.core.runfile import open_run
from vgviz.core.runfile.per_layer import grad_flow, grad_norm_heatmap


@pytest.fixture
def cnn_file(tmp_path):
    path = tmp_path / "cnn.vgrun"
    record_model_run(path, SmallCNN(), steps=8)
    return path


def test_a_user_models_file_opens_in_the_module_views(qtbot, cnn_file, repo_presets):
    from vgviz.gui.main_window import MainWindow

    w = MainWindow(preset="deep-sigmoid")
    qtbot.addWidget(w)
    w.resize(1400, 900)
    w.show()
    assert w.runs.open_path(cnn_file)
    views = w.runs.model_views
    qtbot.waitUntil(lambda: len(views.diagram.blocks) == 3, timeout=20_000)
    assert w.diagram_stack.currentWidget() is views.diagram and views.dock.isVisible()
    assert w.run.worker is None                        # no training was started behind it
    # nothing of the built-in preset it replaced is left to mislead
    assert not w.decision_dock.isVisible() and w.panel.preset_box.currentIndex() == -1
    assert "Your model" in w.panel.preset_text.text() and "Deep sigmoid" not in w.panel.preset_text.text()
    # the training plots draw the file's loss, step for step
    with open_run(cnn_file) as run:
        loss = run.loss.astype(float)
    raw = w.plots._raw_curve
    qtbot.waitUntil(lambda: raw.getData()[1] is not None and len(raw.getData()[1]) == len(loss), timeout=20_000)
    np.testing.assert_allclose(raw.getData()[1], loss, rtol=1e-6)
    assert len(w.plots._norm_curves) == 3              # one gradient-norm curve per layer of the file
    assert [b.as_units for b in views.diagram.blocks] == [True, True, False]
    with open_run(cnn_file) as run:
        heat, (_, mean_abs, max_abs) = grad_norm_heatmap(run), grad_flow(run)
        edges = run.snapshot(7).edge_abs
    np.testing.assert_array_equal(views.heatmap.heat.image, heat.image)
    np.testing.assert_array_equal(views.diagram.blocks[1].edges, edges[1])
    text = views.heatmap.text_at(3.5, 1.5)
    assert text.startswith("conv2 · step 3 · ‖g‖ = ") and f"{heat.image[1, 3]:.2f}" in text
    assert views.heatmap.text_at(3.5, 7) == ""
    heights = views.flow.max_bars.opts["height"]
    np.testing.assert_allclose(heights + views.flow.floor, np.log10(max_abs))
    np.testing.assert_allclose(views.flow.mean_bars.opts["height"] + views.flow.floor, np.log10(mean_abs))
    assert "step 8" in views.flow.title.text()           # the 8th recorded step (0 … 7): 8 steps completed
    # hovering a box names it
    fc = views.diagram._rect(views.diagram.blocks[2]).center()
    assert views.diagram._hit_text(views.diagram.block_at(fc)).startswith("fc · Linear · 128→10")
    w.grab()   # paints without an error
    w.configs.load_preset("deep-sigmoid")   # a built-in run takes the diagram back
    qtbot.waitUntil(lambda: has_stats(w), timeout=30_000)
    assert w.diagram_stack.currentWidget() is w.network and views.path is None
    w.close()


def test_a_damaged_file_is_one_message_not_a_dead_window(qtbot, tmp_path, repo_presets):
    from vgviz.gui.main_window import MainWindow

    bad = tmp_path / "bad.vgrun"
    bad.write_bytes(b"not a run file at all")
    w = MainWindow(preset="deep-sigmoid")
    qtbot.addWidget(w)
    w.show()
    assert not w.runs.open_path(bad)
    assert "not a vgviz run file" in w.panel.error_label.text()
    assert w.runs.model_views.path is None
    w.close()


class ConvThenSharedLinear(torch.nn.Module):
    """A conv layer, then one Linear called twice (registered once)."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(2, 3, 3, padding=1)
        self.mix = torch.nn.Linear(12, 12)
        self.head = torch.nn.Linear(12, 2)

    def forward(self, x):
        h = torch.tanh(self.conv(x)).mean((2, 3)).repeat(1, 4)
        return self.head(torch.tanh(self.mix(torch.tanh(self.mix(h)))))


def test_a_watched_models_diagram_draws_its_edges_and_uses_and_follows_the_theme(qtbot, tmp_path, repo_presets):
    """vgviz.watch's captures give the diagram its conv/Linear edges and "k uses"; the three
    views take the window's theme and colour map, and change with them."""
    import vgviz
    from vgviz.gui.main_window import MainWindow

    torch.manual_seed(0)
    model, path = ConvThenSharedLinear(), tmp_path / "watched.vgrun"
    with vgviz.watch(model, out=path) as w:
        model(torch.randn(4, 2, 5, 5)).square().mean().backward()
        w.step(0.0)
        conv_edges = model.conv.weight.grad.flatten(2).norm(dim=2).numpy()
    win = MainWindow(preset="deep-sigmoid")
    qtbot.addWidget(win)
    win.themes.set_theme("dark")
    win.themes.set_colormap("heat")
    win.resize(1200, 800)
    win.show()
    assert win.runs.open_path(path)
    views = win.runs.model_views
    qtbot.waitUntil(lambda: len(views.diagram.blocks) == 3, timeout=20_000)
    conv, mix, head = views.diagram.blocks
    assert conv.as_units and mix.as_units and head.as_units
    np.testing.assert_allclose(conv.edges, conv_edges, rtol=1e-5)
    assert mix.label == "mix · Linear · 12 · 2 uses" and "uses" not in head.label

    def looks():
        return (views.diagram.grab().toImage().pixelColor(3, 3).name(), views.heatmap.image.lut.copy(),
                views.heatmap.plot.backgroundBrush().color().name(), views.flow.plot.backgroundBrush().color().name())

    dark = looks()
    assert dark[0] == win.themes.theme.diagram.background and dark[2] == dark[3] == win.themes.theme.plot_background
    win.themes.set_theme("lecture")
    light = looks()
    assert light[0] == "#ffffff" and light[2] == light[3] == "#ffffff"
    assert not np.array_equal(light[1], dark[1])     # the lecture theme's map starts at white
    win.themes.set_colormap("blue")
    assert not np.array_equal(looks()[1], light[1])
    win.close()


def test_the_heat_map_names_only_the_rows_that_fit(qtbot):
    """62 layers in a short plot: every k-th row named, no two names overlapping; all when tall."""
    from PySide6 import QtGui

    from vgviz.core.runfile.per_layer import downsample_log
    from vgviz.gui.heatmap_view import HeatMapView

    names = [f"encoder.layers.{i}.linear" for i in range(62)]
    view = HeatMapView()
    qtbot.addWidget(view)
    view.resize(800, 260)
    view.show()
    qtbot.waitExposed(view)
    view.show_heatmap(downsample_log(np.random.default_rng(0).random((50, 62)) + 0.1, np.arange(50)), names)

    def named():
        return [label for _, label in view.plot.getAxis("left")._tickLevels[0]]

    line = QtGui.QFontMetrics(view.font()).height()
    assert 1 < len(named()) <= view.plot.getViewBox().height() / line < len(names)
    view.resize(800, 62 * line * 1.3 + 120)
    qtbot.waitUntil(lambda: len(named()) == len(names))
