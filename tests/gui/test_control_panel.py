"""The control panel enables only the fields the run uses, and says why the others are off."""
import pytest

from vgviz.core.config import RunConfig
from vgviz.core.presets import list_presets
from vgviz.gui.control_panel import ControlPanel


@pytest.fixture
def panel(qtbot):
    p = ControlPanel(list_presets())
    qtbot.addWidget(p)
    p.show()
    return p


def enabled(panel, name) -> bool:
    return panel.editors[name].isEnabled()


def test_only_the_fields_that_apply_are_enabled(panel):
    panel.set_config(RunConfig())      # mlp, sigmoid, default init, sgd
    assert not enabled(panel, "seq_len") and not enabled(panel, "gate_init")
    assert not enabled(panel, "leaky_slope") and not enabled(panel, "init_std")
    assert enabled(panel, "momentum") and enabled(panel, "activation") and enabled(panel, "lr")
    tip = panel.editors["seq_len"].toolTip()
    assert tip.startswith("Not used: ") and "recurrent" in tip
    assert not panel._form.labelForField(panel.editors["seq_len"]).isEnabled()

    panel.editors["activation"].setCurrentText("leaky_relu")
    panel.editors["init"].setCurrentText("small")
    panel.editors["optimizer"].setCurrentText("adam")
    assert enabled(panel, "leaky_slope") and enabled(panel, "init_std")
    assert not enabled(panel, "momentum") and "sgd" in panel.editors["momentum"].toolTip()
    assert not panel.editors["leaky_slope"].toolTip().startswith("Not used")


def test_recurrent_models_enable_seq_len_and_gates_and_keep_their_own_activation(panel):
    panel.set_config(RunConfig())
    panel.editors["model"].setCurrentText("lstm")
    assert enabled(panel, "seq_len") and enabled(panel, "gate_init")
    assert not enabled(panel, "activation") and not enabled(panel, "norm") and not enabled(panel, "residual")
    panel.editors["model"].setCurrentText("rnn")
    assert enabled(panel, "seq_len") and not enabled(panel, "gate_init")
    assert "lstm and gru" in panel.editors["gate_init"].toolTip()
    panel.config()                     # the fields are still a valid config


def test_loading_a_config_updates_which_fields_apply(panel):
    panel.set_config(RunConfig(model="gru", dataset="recall", depth=1, optimizer="adam"))
    assert enabled(panel, "gate_init") and not enabled(panel, "momentum")
    panel.set_config(RunConfig(init="small"))
    assert not enabled(panel, "gate_init") and enabled(panel, "init_std") and enabled(panel, "momentum")
