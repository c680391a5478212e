"""The frames of a backprop pass, counted from the config before anything is built or trained."""
from __future__ import annotations

import pytest

from vgviz.core.config import RunConfig
from vgviz.core.backprop.frames import frame_count
from vgviz.core.presets import load_preset, preset_names
from vgviz.core.tasks import make_trainer

SHAPES = [dict(depth=1), dict(depth=3, norm="layernorm"), dict(depth=4, norm="batchnorm"),
          dict(depth=1, residual=True), dict(depth=2, residual=True, norm="layernorm"),
          dict(depth=5, residual=True, norm="batchnorm"), dict(model="rnn", dataset="recall", seq_len=7, depth=1),
          dict(model="gru", dataset="recall", seq_len=3, depth=2)]


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "-".join(f"{k}={v}" for k, v in s.items()))
def test_frame_count_is_the_length_of_the_trace(shape):
    config = RunConfig(width=4, **shape)
    assert frame_count(config) == len(make_trainer(config).trace())


def test_frame_count_of_every_preset(repo_presets):
    for name in preset_names():
        config = load_preset(name).config
        assert frame_count(config) == len(make_trainer(config).trace()), name
