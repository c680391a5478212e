"""FlatParameters: parameters and gradients as views of one buffer each, and the
Trainer's numbers taken from them (checked against autograd)."""
from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from torch import nn

from vgviz.core.measure.flat import BLOCK, FlatParameters
from vgviz.core.measure.stats import StepStats
from vgviz.core.presets import load_preset
from vgviz.core.tasks import make_trainer


def small_model(dtype=torch.float32):
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 5), nn.Tanh(), nn.Linear(5, 4), nn.Sigmoid(), nn.Linear(4, 2)).to(dtype)


def backward(model, seed=1):
    g = torch.Generator().manual_seed(seed)
    x, y = torch.randn(8, 3, generator=g, dtype=next(model.parameters()).dtype), torch.randint(0, 2, (8,), generator=g)
    loss = nn.functional.cross_entropy(model(x), y)
    loss.backward()
    return loss


def test_parameters_and_gradients_are_views_of_the_buffers():
    model = small_model()
    before = [p.detach().clone() for p in model.parameters()]
    flat = FlatParameters(list(model.parameters()))
    assert all(torch.equal(p, b) for p, b in zip(model.parameters(), before))  # values kept
    assert flat.data.numel() >= sum(p.numel() for p in model.parameters())
    assert all(s % BLOCK == 0 for s in flat.starts)  # every tensor starts on a block
    with torch.no_grad():
        flat.data.mul_(2)
    assert all(torch.equal(p, 2 * b) for p, b in zip(model.parameters(), before))
    flat.zero_grad()
    backward(model)
    assert flat.grads_attached()
    starts = flat.starts
    covered = torch.zeros(flat.grad.numel(), dtype=torch.bool)
    for i, p in enumerate(model.parameters()):  # autograd accumulated into the buffer
        assert torch.equal(flat.grad[starts[i]:starts[i] + p.numel()].view_as(p), p.grad)
        covered[starts[i]:starts[i] + p.numel()] = True
    assert not flat.grad[~covered].any() and not flat.data[~covered].any()  # the padding stays 0


def test_sums_equal_autograd_norms():
    model = small_model()
    flat = FlatParameters(list(model.parameters()))
    flat.zero_grad()
    backward(model)
    params = list(model.parameters())
    rows = flat.step_sums()
    np.testing.assert_allclose(rows[flat.ABS], [p.grad.double().abs().sum().item() for p in params], rtol=1e-6)
    np.testing.assert_allclose(rows[flat.SQUARE], [p.grad.double().pow(2).sum().item() for p in params], rtol=1e-6)
    np.testing.assert_allclose(rows[flat.WEIGHT_SQUARE], [p.detach().double().pow(2).sum().item() for p in params],
                               rtol=1e-6)
    np.testing.assert_allclose(rows[flat.WEIGHT_DOT], [(p.detach().double() * p.grad.double()).sum().item()
                                                       for p in params], rtol=1e-5, atol=1e-9)
    np.testing.assert_allclose(flat.grad_square_sums(), [p.grad.double().pow(2).sum().item() for p in params],
                               rtol=1e-6)
    np.testing.assert_allclose(flat.data_square_sums(), [p.detach().double().pow(2).sum().item() for p in params],
                               rtol=1e-6)
    assert list(flat.nonzero_counts(flat.grad_abs())) == [int((p.grad != 0).sum()) for p in params]
    before = flat.data.numpy().copy()
    with torch.no_grad():
        params[0].add_(0.5)
    expected = np.zeros(len(params))
    expected[0] = 0.25 * params[0].numel()
    np.testing.assert_allclose(flat.difference_square_sums(before), expected, rtol=1e-6)


@pytest.mark.parametrize("make_optimizer", [
    lambda params: torch.optim.SGD(params, lr=0.1),
    lambda params: torch.optim.SGD(params, lr=0.1, momentum=0.9),
    lambda params: torch.optim.Adam(params, lr=0.01),
], ids=["sgd", "momentum", "adam"])
def test_training_the_one_flat_parameter_is_bit_for_bit_per_tensor_training(make_optimizer):
    plain = small_model()
    flattened = copy.deepcopy(plain)
    flat = FlatParameters(list(flattened.parameters()))
    opt_a = make_optimizer(plain.parameters())
    opt_b = make_optimizer([flat.parameter])  # one tensor: what Trainer does
    for step in range(5):
        opt_a.zero_grad(set_to_none=True)
        flat.zero_grad()
        la, lb = backward(plain, step), backward(flattened, step)
        assert la.item() == lb.item()
        opt_a.step()
        opt_b.step()
    assert all(torch.equal(a, b) for a, b in zip(plain.parameters(), flattened.parameters()))
    padding = torch.ones(flat.data.numel(), dtype=torch.bool)
    for start, size in zip(flat.starts, flat.sizes):
        padding[start:start + size] = False
    assert padding.any() and not flat.data[padding].any()  # the padding never moves


def test_the_flat_parameter_gets_its_gradient_back_after_a_callers_zero_grad():
    model = small_model()
    flat = FlatParameters(list(model.parameters()))
    opt = torch.optim.SGD([flat.parameter], lr=0.1)
    opt.zero_grad(set_to_none=True)
    assert flat.parameter.grad is None
    flat.zero_grad()
    backward(model)
    before = [p.detach().clone() for p in model.parameters()]
    grads = [p.grad.clone() for p in model.parameters()]
    opt.step()
    for p, b, g in zip(model.parameters(), before, grads):
        torch.testing.assert_close(p.detach(), b - 0.1 * g, rtol=0, atol=1e-7)


def test_replaced_gradients_are_reattached_by_zero_grad():
    model = small_model()
    flat = FlatParameters(list(model.parameters()))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    opt.zero_grad(set_to_none=True)  # what a caller's loop would do
    assert not flat.grads_attached()
    flat.zero_grad()
    assert flat.grads_attached()
    backward(model)
    np.testing.assert_allclose(np.sqrt(flat.grad_square_sums()), [p.grad.norm().item() for p in model.parameters()],
                               rtol=1e-6)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_and_mixed_dtypes_are_refused(dtype):
    assert FlatParameters.try_create(list(small_model(dtype).parameters())) is None
    mixed = small_model()
    mixed[0].to(torch.float64)
    assert FlatParameters.try_create(list(mixed.parameters())) is None
    with pytest.raises(ValueError, match="float32 or float64"):
        FlatParameters(list(small_model(dtype).parameters()))


def autograd_numbers(trainer):
    """mean |dL/dW|, ‖dL/dW‖ per Linear weight and the global norm, from p.grad directly."""
    weights = [m.weight.grad.double() for _, m in trainer.probe._linears]
    total = torch.sqrt(sum(p.grad.double().pow(2).sum() for p in trainer.model.parameters()))
    return ([w.abs().mean().item() for w in weights], [w.norm().item() for w in weights], total.item())


@pytest.mark.parametrize("full", [True, False])
def test_trainer_numbers_from_the_buffer_equal_autograd(full):
    trainer = make_trainer(load_preset("deep-sigmoid").config.replace(depth=3, width=6))
    assert trainer.flat is not None and trainer.probe.flat is trainer.flat
    for _ in range(3):
        stats = trainer.measure() if full else StepStats(**trainer._forward_backward(trainer.step_count, full=False))
        mean_abs, l2, total = autograd_numbers(trainer)
        np.testing.assert_allclose(stats.grad_mean_abs, mean_abs, rtol=1e-6)
        np.testing.assert_allclose(stats.grad_l2, l2, rtol=1e-6)
        assert stats.grad_norm_total == pytest.approx(total, rel=1e-6)
        if full:
            for edges, (_, m) in zip(stats.edge_abs, trainer.probe._linears):
                np.testing.assert_array_equal(edges, m.weight.grad.abs().numpy())
            zero = [(m.weight.grad == 0).double().mean().item() for _, m in trainer.probe._linears]
            np.testing.assert_allclose(stats.grad_zero_fraction, zero)
        trainer.step(full=full)


def test_a_trace_between_steps_leaves_the_buffer_attached_and_right():
    config = load_preset("deep-sigmoid").config.replace(depth=3, width=6)
    traced, reference = make_trainer(config), make_trainer(config)
    traced.step()
    reference.step()
    traced.trace()
    assert traced.flat.grads_attached()
    assert traced.step(full=False) == reference.step(full=False)
    assert traced.step() == reference.step()


def test_light_steps_register_no_hooks():
    trainer = make_trainer(load_preset("deep-sigmoid").config.replace(depth=3, width=6, residual=True))
    trainer.step(full=False)
    assert not any(m._forward_hooks for m in trainer.model.modules())
    trainer.step()  # a residual MLP is no plain Sequential: its full steps use the hooks
    assert sum(len(m._forward_hooks) for m in trainer.model.modules()) == 4 + 1  # per Linear, per block
    trainer.step(full=False)
    assert not any(m._forward_hooks for m in trainer.model.modules())
    trainer.step()
    trainer.probe.close()
    assert not any(m._forward_hooks for m in trainer.model.modules())
    trainer.probe.enabled = True  # a closed probe stays closed
    assert not any(m._forward_hooks for m in trainer.model.modules())


def test_a_sequential_mlp_is_recorded_without_hooks_and_gives_the_hooks_numbers():
    config = load_preset("deep-sigmoid").config.replace(depth=3, width=6, norm="batchnorm")
    walked, hooked = make_trainer(config), make_trainer(config)
    assert walked.probe._sequence is not None
    hooked.probe._sequence = None  # the hooks' path, as for any other module
    for step in range(3):
        a, b = walked.step(), hooked.step()
        assert not any(m._forward_hooks for m in walked.model.modules())
        assert a == b and a.is_full
        for i, (_, linear) in enumerate(walked.probe._linears):  # δ = dL/dz, as autograd has it
            assert walked.probe.delta(i).shape == (config.batch_size, linear.out_features)
            torch.testing.assert_close(walked.probe.delta(i), hooked.probe.delta(i), rtol=0, atol=0)
    assert walked.probe.delta(len(walked.probe._linears)) is None


@pytest.mark.parametrize("optimizer,momentum", [("sgd", 0.0), ("sgd", 0.9), ("adam", 0.0)])
def test_update_ratio_from_the_buffer_equals_the_weight_change(optimizer, momentum):
    config = load_preset("deep-sigmoid").config.replace(depth=3, width=6, optimizer=optimizer, momentum=momentum,
                                                       lr=0.5 if optimizer == "sgd" else 0.01)
    trainer = make_trainer(config)
    for _ in range(3):
        before = [m.weight.detach().double().clone() for _, m in trainer.probe._linears]
        stats = trainer.step(full=False)
        after = [m.weight.detach().double() for _, m in trainer.probe._linears]
        expected = [(a - b).norm().item() / a.norm().item() for a, b in zip(after, before)]
        np.testing.assert_allclose(stats.update_ratio, expected, rtol=1e-3)


@pytest.mark.parametrize("optimizer,momentum", [("sgd", 0.0), ("sgd", 0.9), ("adam", 0.0)])
def test_trainer_updates_its_weights_like_a_per_tensor_pytorch_loop(optimizer, momentum):
    from vgviz.core.tasks.mlp.model import build_model
    config = load_preset("deep-sigmoid").config.replace(depth=4, width=8, optimizer=optimizer, momentum=momentum,
                                                       lr=0.5 if optimizer == "sgd" else 0.01, eval_every=10**6)
    trainer = make_trainer(config)
    assert [p for g in trainer.optimizer.param_groups for p in g["params"]] == [trainer.flat.parameter]
    model = build_model(config, trainer.data.n_features, trainer.data.n_classes)
    opt = (torch.optim.Adam(model.parameters(), lr=config.lr) if optimizer == "adam"
           else torch.optim.SGD(model.parameters(), lr=config.lr, momentum=momentum))
    x, y = torch.from_numpy(trainer.data.x_train), torch.from_numpy(trainer.data.y_train)
    for step in range(4):
        idx = torch.from_numpy(trainer.batch_indices(step))
        opt.zero_grad(set_to_none=True)
        loss = nn.functional.cross_entropy(model(x[idx]), y[idx])
        loss.backward()
        opt.step()
        assert trainer.step(full=step % 2 == 0).loss == loss.item()
    for mine, theirs in zip(trainer.model.parameters(), model.parameters()):
        assert torch.equal(mine, theirs)
