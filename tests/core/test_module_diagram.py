"""The module diagram's blocks for models that are not vgviz's MLPs."""
import numpy as np
from torch import nn

from vgviz.core.layout.module_diagram import MAX_UNITS, log_range, module_diagram
from vgviz.core.runfile import describe_model

from tests.model_runs import SmallCNN, TinyTransformer


class SharedTwice(nn.Module):
    """One Linear registered under two names (so called twice), and a frozen one."""

    def __init__(self):
        super().__init__()
        self.first = nn.Linear(4, 4)
        self.again = self.first
        self.frozen = nn.Linear(4, 2).requires_grad_(False)


def test_small_conv_and_linear_layers_are_units_larger_ones_boxes():
    model = describe_model(SmallCNN())
    conv2_edges = np.arange(1, 33, dtype=np.float32).reshape(8, 4)
    blocks = module_diagram(model, {"conv1": 0.5, "conv2": 2.0, "fc": 0.01},
                            {"conv1": np.ones((4, 1)), "conv2": conv2_edges, "fc": np.ones((10, 128))})
    assert [b.name for b in blocks] == ["conv1", "conv2", "fc"]      # registration order
    assert [b.as_units for b in blocks] == [True, True, False]        # fc has 128 > MAX_UNITS inputs
    np.testing.assert_array_equal(blocks[1].edges, conv2_edges)       # out × in channel kernel norms
    ins, outs = blocks[1].unit_positions()
    assert ins.shape == (4, 2) and outs.shape == (8, 2) and ins[:, 0].max() < outs[:, 0].min()
    assert blocks[2].label == "fc · Linear · 128→10" and blocks[2].grad_l2 == 0.01
    assert all(a.rect[2] < b.rect[0] for a, b in zip(blocks, blocks[1:]))   # left to right, no overlap
    assert max(b.rect[2] for b in blocks) <= 1.0 + 1e-9
    lo, hi = log_range(blocks)
    assert (lo, hi) == (np.log10(0.01), np.log10(32.0))
    assert MAX_UNITS >= 8


def test_shared_modules_say_their_uses_and_frozen_ones_are_marked():
    blocks = {b.name: b for b in module_diagram(describe_model(SharedTwice()), {"first": 1.0})}
    assert blocks["first"].uses == 2 and "2 uses" in blocks["first"].label
    assert blocks["frozen"].frozen and "frozen" in blocks["frozen"].label and np.isnan(blocks["frozen"].grad_l2)


def test_a_captures_uses_count_calls_not_names():
    """A capture's layer_uses (how often each module ran) wins over the description's names."""
    model = describe_model(SharedTwice())
    blocks = {b.name: b for b in module_diagram(model, {}, uses={"first": 3, "frozen": 0})}
    assert blocks["first"].label.endswith("· 3 uses") and blocks["frozen"].label.endswith("· not run · frozen")
    no_edges = module_diagram(model, {}, {"first": np.zeros((0, 0))})     # a watched layer too large to draw
    assert not no_edges[0].as_units


def test_a_layer_without_edges_is_a_box_with_its_shape():
    blocks = {b.name: b for b in module_diagram(describe_model(TinyTransformer()), {})}
    attention = blocks["block.self_attn"]
    assert not attention.as_units and attention.kind == "MultiheadAttention" and attention.shape == "32"
    assert blocks["embed"].shape == "12→32"
