"""Each preset's claim from the literature, checked numerically and headless."""
import numpy as np
import pytest
import torch
from torch import nn

from vgviz.core.presets import load_preset, preset_names
from vgviz.core.tasks import make_trainer


def _at_init(name, **changes):
    config = load_preset(name).config
    if changes:
        config = config.replace(**changes)
    return make_trainer(config).measure()


def _first_over_last_hidden(values):
    return values[0] / values[-2]  # the output layer is last


def test_each_extra_sigmoid_layer_divides_the_first_layers_gradient_by_about_4_to_5():
    """Nielsen, ch. 5: with his init, the first hidden layer learns ~4-5x slower per extra layer."""
    base = load_preset("nielsen-deep").config
    norms = []
    for depth in range(1, 6):
        # a geometric mean over seeds, as the chapter averages over networks
        values = [make_trainer(base.replace(depth=depth, seed=s)).measure().grad_l2[0] for s in range(3)]
        norms.append(np.exp(np.mean(np.log(values))))
    ratios = np.array(norms[:-1]) / np.array(norms[1:])
    assert np.all((ratios > 3.0) & (ratios < 8.0)), ratios
    assert 3.5 < np.exp(np.mean(np.log(ratios))) < 6.0, ratios
    shallow = _at_init("nielsen-shallow").grad_l2[0]
    deep = _at_init("nielsen-deep").grad_l2[0]
    assert deep < shallow / 50


def test_relu_instead_of_sigmoid_lifts_the_first_layers_gradient_by_orders_of_magnitude():
    sigmoid = _first_over_last_hidden(_at_init("deep-sigmoid").grad_mean_abs)
    relu = _first_over_last_hidden(_at_init("deep-relu").grad_mean_abs)
    assert load_preset("deep-relu").config.init == load_preset("deep-sigmoid").config.init
    assert sigmoid < 1e-4
    assert relu > 1e3 * sigmoid


def test_xavier_shrinks_a_30_layer_relu_net_and_he_keeps_it():
    """He et al. 2015: with Xavier, ReLU halves the variance per layer, forward and backward."""
    xavier = _at_init("relu30-xavier")
    he = _at_init("relu30-he")
    # forward signal: std of the last hidden activation over the first's
    assert xavier.activation_std[-1] / xavier.activation_std[0] < 1e-3
    assert 0.1 < he.activation_std[-1] / he.activation_std[0] < 10
    # backward signal: ‖δ‖ at the first hidden layer over the last hidden layer's
    assert _first_over_last_hidden(xavier.delta_l2) < 1e-3
    assert 0.1 < _first_over_last_hidden(he.delta_l2) < 10
    # each Xavier layer shrinks the forward signal by roughly 1/sqrt(2)
    per_layer = (xavier.activation_std[-1] / xavier.activation_std[0]) ** (1 / 29)
    assert 0.6 < per_layer < 0.8


def test_he_init_weight_std_is_sqrt_2_over_fan_in():
    trainer = make_trainer(load_preset("relu30-he").config)
    hidden = [m for m in trainer.model if isinstance(m, nn.Linear)][5]
    expected = np.sqrt(2 / hidden.in_features)
    assert hidden.weight.std().item() == pytest.approx(expected, rel=0.05)


def _saturation(trainer, threshold=0.99):
    """Fraction of |tanh| > threshold over every hidden unit and example of one batch."""
    outputs = []
    hooks = [m.register_forward_hook(lambda mod, i, o: outputs.append(o.detach()))
             for m in trainer.model if isinstance(m, nn.Tanh)]
    with torch.no_grad():
        trainer.model(trainer._x_train[:256])
    for h in hooks:
        h.remove()
    return float(torch.cat([o.flatten() for o in outputs]).abs().gt(threshold).float().mean())


def test_tiny_init_vanishes_and_large_init_saturates_and_explodes():
    tiny = _at_init("tanh-tiny-init")
    assert tiny.activation_std[-1] / tiny.activation_std[0] < 1e-6   # the forward signal dies
    assert _first_over_last_hidden(tiny.delta_l2) < 1e-6              # so does the error signal
    large_trainer = make_trainer(load_preset("tanh-large-init").config)
    large = large_trainer.measure()
    assert _saturation(large_trainer) > 0.5                           # most units saturated
    assert _saturation(make_trainer(load_preset("tanh-tiny-init").config)) == 0.0
    assert _first_over_last_hidden(large.delta_l2) > 100              # it grows toward the input


def test_batchnorm_keeps_a_deep_sigmoid_nets_gradients_alive():
    plain = _first_over_last_hidden(_at_init("deep-sigmoid").grad_mean_abs)
    normed = _first_over_last_hidden(_at_init("deep-sigmoid-batchnorm").grad_mean_abs)
    assert plain < 1e-4
    assert 0.1 < normed < 10


def test_residual_blocks_carry_the_gradient_to_the_first_layer():
    plain = _at_init("deep-plain-relu30")
    residual = _at_init("deep-residual-relu30")
    assert _first_over_last_hidden(plain.grad_mean_abs) < 1e-5
    assert 0.1 < _first_over_last_hidden(residual.grad_mean_abs) < 10
    assert len(residual.skip_connections) == 15 and residual.skip_grad.min() > 0


def test_clipping_tames_exploding_gradients():
    exploding = make_trainer(load_preset("exploding").config)
    first = exploding.step()
    assert first.grad_norm_total > 100
    for _ in range(20):
        if exploding.step().diverged:
            break
    assert exploding.diverged, "the unclipped run should blow up to NaN/inf"

    clipped = make_trainer(load_preset("exploding-clipped").config)
    limit = clipped.config.clip_norm
    fired = 0
    for _ in range(60):
        stats = clipped.step()
        assert not stats.diverged
        fired += stats.clipped
        post = torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in clipped.model.parameters()]))
        assert post.item() <= limit * (1 + 1e-5)   # the update used a gradient within the bound
    assert fired > 30
    assert np.isfinite(stats.loss) and stats.loss < first.loss


def test_every_preset_loads_and_reports():
    from vgviz.cli import run_report
    for name in preset_names():
        config = load_preset(name).config.replace(steps=2)
        report = run_report(config)
        assert report["steps"] <= 2 and report["layers"][-1]["name"] == "output"
