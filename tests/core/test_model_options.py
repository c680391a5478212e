"""Every model option does what it claims: inits by their statistics, norm and residual by
their structure and gradients (against autograd), clipping by its bound, losses by formula."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from vgviz.core.config import RunConfig
from vgviz.core.layers import linear_layers
from vgviz.core.tasks import make_trainer
from vgviz.core.tasks.mlp.model import ResidualBlock, ResidualMLP, build_model

ACTIVATION_MODULES = {"sigmoid": nn.Sigmoid, "tanh": nn.Tanh, "relu": nn.ReLU, "leaky_relu": nn.LeakyReLU,
                      "prelu": nn.PReLU, "elu": nn.ELU, "gelu": nn.GELU, "silu": nn.SiLU, "identity": nn.Identity}


@pytest.mark.parametrize("name, cls", sorted(ACTIVATION_MODULES.items()))
def test_every_activation_is_built_and_trains(name, cls):
    config = RunConfig(depth=2, width=8, activation=name, steps=3)
    model = build_model(config, 2, 2)
    assert sum(isinstance(m, cls) for m in model.modules()) == 2
    trainer = make_trainer(config)
    for _ in range(3):
        assert not trainer.step().diverged


def test_leaky_relu_uses_the_slope_field():
    model = build_model(RunConfig(depth=1, activation="leaky_relu", leaky_slope=0.2), 2, 2)
    act = model[1]
    assert act.negative_slope == 0.2
    assert act(torch.tensor([-1.0])).item() == pytest.approx(-0.2)


def _hidden(init, fan=400, **kw):
    """A square hidden layer (fan_in = fan_out = fan) of a 2-hidden-layer net."""
    model = build_model(RunConfig(depth=2, width=fan, init=init, **kw), 2, 2)
    return linear_layers(model)[1][1]


@pytest.mark.parametrize("init, std", [
    ("xavier_normal", math.sqrt(2 / 800)),
    ("he", math.sqrt(2 / 400)), ("he_normal", math.sqrt(2 / 400)),
    ("lecun_normal", math.sqrt(1 / 400)),
    ("nielsen", math.sqrt(1 / 400)),
])
def test_normal_inits_have_their_std(init, std):
    layer = _hidden(init)
    # 160,000 samples: the sample std is within ~0.4 % of the true one
    assert layer.weight.std().item() == pytest.approx(std, rel=0.02)
    assert abs(layer.weight.mean().item()) < 0.1 * std


@pytest.mark.parametrize("init, bound", [
    ("xavier", math.sqrt(6 / 800)), ("xavier_uniform", math.sqrt(6 / 800)),
    ("he_uniform", math.sqrt(6 / 400)),
])
def test_uniform_inits_fill_their_bound(init, bound):
    w = _hidden(init).weight
    assert w.abs().max().item() <= bound
    assert w.abs().max().item() > 0.99 * bound
    assert w.std().item() == pytest.approx(bound / math.sqrt(3), rel=0.02)  # U(-a, a) has std a/√3


def test_orthogonal_init_is_orthogonal():
    w = _hidden("orthogonal", fan=64).weight.detach()
    assert torch.allclose(w @ w.T, torch.eye(64), atol=1e-5)


def test_small_init_uses_init_std():
    assert _hidden("small", init_std=0.05).weight.std().item() == pytest.approx(0.05, rel=0.02)


def test_nielsen_biases_are_standard_normal_and_others_zero():
    assert _hidden("nielsen").bias.std().item() == pytest.approx(1.0, rel=0.15)
    for init in ("xavier", "he", "lecun_normal", "orthogonal", "small"):
        assert torch.count_nonzero(_hidden(init, fan=16).bias) == 0


@pytest.mark.parametrize("norm, cls", [("batchnorm", nn.BatchNorm1d), ("layernorm", nn.LayerNorm)])
def test_norm_layers_sit_between_linear_and_activation(norm, cls):
    model = build_model(RunConfig(depth=3, width=8, norm=norm), 2, 2)
    kinds = [type(m) for m in model]
    assert kinds == [nn.Linear, cls, nn.Sigmoid] * 3 + [nn.Linear]


def test_batchnorm_uses_running_statistics_for_the_test_set():
    trainer = make_trainer(RunConfig(depth=3, width=8, norm="batchnorm"))
    for _ in range(5):
        trainer.step()
    assert trainer.model.training
    loss, _ = trainer.evaluate()
    assert trainer.model.training  # back in training mode afterwards
    trainer.model.eval()
    with torch.no_grad():
        expected = nn.functional.cross_entropy(trainer.model(trainer._x_test), trainer._y_test).item()
    assert loss == pytest.approx(expected, rel=1e-6)


def test_residual_blocks_and_the_gradient_on_the_skip_path():
    config = RunConfig(depth=6, width=8, activation="tanh", residual=True)
    model = build_model(config, 2, 2)
    assert isinstance(model, ResidualMLP)
    assert [b.fc2 is not None for b in model.blocks] == [True, True, False]  # 5 = 2 + 2 + 1
    assert len(linear_layers(model)) == 7
    assert model.skip_connections() == [(0, 2), (2, 4), (4, 5)]
    # y = f(W2 f(W1 x) + x): dL/dx = (branch contribution) + dL/du, the skip term exactly
    block: ResidualBlock = model.blocks[0]
    x = torch.randn(5, 8, requires_grad=True)
    out = block(x)
    u = block.last_sum
    u.retain_grad()
    out.square().sum().backward()
    skip_part = u.grad
    branch_part = x.grad - skip_part
    with torch.no_grad():
        h_pre = block.fc1(x)
        manual_branch = ((u.grad @ block.fc2.weight) * (1 - torch.tanh(h_pre) ** 2)) @ block.fc1.weight
    assert torch.allclose(branch_part, manual_branch, atol=1e-6)
    assert skip_part.norm() > 0


def test_the_probe_reports_the_skip_gradient():
    trainer = make_trainer(RunConfig(depth=5, width=8, residual=True, activation="relu", init="he"))
    stats = trainer.measure()
    assert stats.skip_connections == ((0, 2), (2, 4))
    block = trainer.model.blocks[1]
    # recompute dL/du of the second block with autograd
    x = trainer._x_train[torch.from_numpy(trainer.batch_indices(0))]
    y = trainer._y_train[torch.from_numpy(trainer.batch_indices(0))]
    trainer.model.zero_grad()
    loss = trainer.loss_fn(trainer.model(x), y)
    u = block.last_sum
    u.retain_grad()
    loss.backward()
    assert stats.skip_grad[1] == pytest.approx(u.grad.abs().mean().item(), rel=1e-5)


def test_clip_norm_bounds_the_global_norm_and_reports_the_norm_before():
    config = RunConfig(depth=6, width=32, activation="relu", init="small", init_std=0.5, clip_norm=0.5)
    trainer = make_trainer(config)
    stats = trainer.step()
    grads = [p.grad for p in trainer.model.parameters()]
    after = torch.linalg.vector_norm(torch.stack([g.norm() for g in grads])).item()
    assert stats.clipped and stats.grad_norm_total > 0.5
    assert after == pytest.approx(0.5, rel=1e-4)
    # the stats hold the gradient as computed (before clipping)
    unclipped = make_trainer(config.replace(clip_norm=0.0)).measure()
    assert stats.grad_norm_total == pytest.approx(unclipped.grad_norm_total, rel=1e-6)
    assert np.allclose(stats.grad_l2, unclipped.grad_l2)


def test_clip_value_bounds_every_element():
    trainer = make_trainer(RunConfig(depth=4, width=16, activation="relu", init="small", init_std=0.5, clip_value=1e-3))
    stats = trainer.step()
    assert stats.clipped
    assert max(p.grad.abs().max().item() for p in trainer.model.parameters()) <= float(np.float32(1e-3))
    calm = make_trainer(RunConfig(depth=2, clip_value=100.0)).step()
    assert not calm.clipped


def test_sgd_momentum_is_applied():
    trainer = make_trainer(RunConfig(depth=2, optimizer="sgd", momentum=0.9))
    assert trainer.optimizer.param_groups[0]["momentum"] == 0.9
    w0 = trainer.model[0].weight.detach().clone()
    g0 = None
    trainer.step()
    g0 = trainer.model[0].weight.grad.detach().clone()
    w1 = trainer.model[0].weight.detach().clone()
    trainer.step()
    g1 = trainer.model[0].weight.grad.detach().clone()
    w2 = trainer.model[0].weight.detach().clone()
    lr = trainer.config.lr
    assert torch.allclose(w1, w0 - lr * g0, atol=1e-7)
    assert torch.allclose(w2, w1 - lr * (0.9 * g0 + g1), atol=1e-6)


def test_mse_loss_against_one_hot_targets():
    trainer = make_trainer(RunConfig(depth=2, loss="mse", dataset="blobs"))
    stats = trainer.measure()
    idx = torch.from_numpy(trainer.batch_indices(0))
    with torch.no_grad():
        out = trainer.model(trainer._x_train[idx])
    target = nn.functional.one_hot(trainer._y_train[idx], 3).float()
    assert stats.loss == pytest.approx(((out - target) ** 2).mean().item(), rel=1e-6)


def test_float64_and_bfloat16_runs():
    f64 = make_trainer(RunConfig(depth=3, dtype="float64"))
    assert all(p.dtype == torch.float64 for p in f64.model.parameters())
    assert f64._x_train.dtype == torch.float64
    assert not f64.step().diverged
    bf16 = make_trainer(RunConfig(depth=3, dtype="bfloat16"))
    stats = bf16.step()
    assert all(p.dtype == torch.bfloat16 for p in bf16.model.parameters())
    assert stats.edge_abs[0].dtype == np.float32 and np.isfinite(stats.loss)


def test_zero_gradient_fraction_shows_underflow():
    # exact zeros (dead ReLUs, underflow in low precision) are counted per layer
    stats = make_trainer(RunConfig(depth=3, width=16, activation="relu", init="small", init_std=1e-3)).measure()
    frac = stats.grad_zero_fraction
    assert frac.shape == (4,)
    expected = [float((e == 0).mean()) for e in stats.edge_abs]
    assert np.allclose(frac, expected)
    assert frac.max() > 0  # dead units give exactly-zero rows
    from vgviz.cli import run_report
    report = run_report(RunConfig(depth=3, width=16, activation="relu", init="small", init_std=1e-3, steps=2))
    zeros = report["zero_gradients"]
    assert [z["name"] for z in zeros] == [layer["name"] for layer in report["layers"]]
    assert zeros[0]["initial"] == pytest.approx(expected[0])
