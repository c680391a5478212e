"""A user's model's run file (no built-in config) in the window: the module diagram takes the
diagram's place, the heat map and the gradient-flow bars show the file's numbers, and a built-in
run brings the layer diagram back."""
import numpy as np
import pytest

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
    assert "step 7" in views.flow.title.text()
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
