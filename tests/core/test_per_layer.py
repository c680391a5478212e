"""Per-layer numbers of any model's run file: the heat map's downsampling and the
gradient-flow bars, checked against numpy on the per-parameter numbers written."""
import numpy as np
import pytest

from vgviz.core.runfile import open_run
from vgviz.core.runfile.per_layer import LOG_FLOOR, downsample_log, grad_flow, grad_norm_heatmap, layer_columns

from tests.model_runs import SmallCNN, TinyTransformer, record_model_run


def test_downsample_max_and_mean_of_log_values_per_bucket():
    rng = np.random.default_rng(0)
    values = 10.0 ** rng.uniform(-9, 1, size=(10_007, 3))
    values[:100, 1] = 0.0         # dead steps: LOG_FLOOR, never -inf
    values[20:40, 2] = np.nan     # an unused parameter: left out of its bucket
    steps = np.arange(10_007) * 3
    heat = downsample_log(values, steps, max_columns=100)
    edges = np.linspace(0, 10_007, 101).round().astype(int)
    logs = np.maximum(np.log10(np.where(values > 0, values, 1e-300)), LOG_FLOOR)
    logs[np.isnan(values)] = np.nan
    assert heat.image.shape == (3, 100)
    for c in (0, 1, 57, 99):
        bucket = logs[edges[c]:edges[c + 1]]
        np.testing.assert_allclose(heat.image[:, c], np.nanmax(bucket, axis=0), rtol=1e-5)
        assert heat.first_step[c] == steps[edges[c]] and heat.last_step[c] == steps[edges[c + 1] - 1]
    mean = downsample_log(values, steps, max_columns=100, reduce="mean")
    np.testing.assert_allclose(mean.image[:, 0], np.nanmean(logs[edges[0]:edges[1]], axis=0), rtol=1e-5)
    assert heat.image[1, 0] == LOG_FLOOR
    assert heat.column_at(steps[edges[57]]) == 57 and heat.column_at(steps[edges[58]] - 0.5) == 57


def test_downsample_keeps_every_row_when_few_and_spans_blocks_exactly():
    values = np.arange(1, 13, dtype=np.float32).reshape(6, 2)
    heat = downsample_log(values, np.arange(6), max_columns=2000)
    np.testing.assert_allclose(heat.image, np.log10(values).T, rtol=1e-6)
    # more rows than one block: the blocks' buckets meet without a gap or overlap
    big = np.full((300_001, 1), 10.0, dtype=np.float32)
    big[-1] = 1e5
    heat = downsample_log(big, np.arange(300_001), max_columns=7)
    np.testing.assert_allclose(heat.image[0], [1, 1, 1, 1, 1, 1, 5])
    assert heat.last_step[-1] == 300_000
    with pytest.raises(ValueError, match="reduce"):
        downsample_log(values, np.arange(6), reduce="median")


@pytest.mark.parametrize("model", [SmallCNN, TinyTransformer])
def test_layer_numbers_combine_each_layers_parameters(tmp_path, model):
    path = tmp_path / "run.vgrun"
    measured = np.array(record_model_run(path, model(), steps=4))
    with open_run(path) as run:
        layers = layer_columns(run)
        names = list(run.param_names)
        heat = grad_norm_heatmap(run)
        step, mean_abs, max_abs = grad_flow(run, 2)
        described = {layer.name: layer for layer in run.model.layers}
    assert step == 2 and heat.image.shape == (len(layers.names), 4)
    bf16 = 0.01   # the file keeps 8 significant bits
    for l, name in enumerate(layers.names):
        own = [names.index(p) for p in described[name].params if p in names]
        norm = np.sqrt((measured[:, 0, own] ** 2).sum(axis=1))
        np.testing.assert_allclose(heat.image[l], np.log10(norm), atol=bf16)
        sizes = np.array([np.prod(run.model.param_shapes[run.model.param_names.index(names[p])]) for p in own])
        np.testing.assert_allclose(mean_abs[l], (measured[2, 1, own] * sizes).sum() / sizes.sum(), rtol=bf16)
        np.testing.assert_allclose(max_abs[l], measured[2, 2, own].max(), rtol=bf16)
    if model is TinyTransformer:   # the attention layer counts its in- and out-projection
        assert layers.owns[:, layers.names.index("block.self_attn")].sum() == 4
        assert "norm" not in layers.names   # frozen: no trainable parameter, no row
