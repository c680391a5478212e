"""BackpropTrace frames checked against autograd, and the scalar chain against its formulas."""
import math

import numpy as np
import pytest
import torch
from torch import nn

from vgviz.core.backprop.scalar_chain import ChainError, chain_numbers, record_scalar_chain
from vgviz.core.backprop.trace import TraceError, record


def _hand_model():
    torch.manual_seed(3)
    return nn.Sequential(nn.Linear(3, 5), nn.Sigmoid(), nn.Linear(5, 4), nn.Tanh(),
                         nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 2))


def _autograd_reference(model, x, y):
    """dL/dz of every Linear (retain_grad) and p.grad, computed independently of record()."""
    zs = []
    h = x
    for module in model:
        h = module(h)
        if isinstance(module, nn.Linear):
            h.retain_grad()
            zs.append(h)
    loss = nn.functional.cross_entropy(h, y)
    model.zero_grad()
    loss.backward()
    return loss.item(), [z.grad.clone() for z in zs], [m.weight.grad.clone() for m in model if isinstance(m, nn.Linear)]


def test_backward_deltas_and_weight_grads_equal_autograd():
    model = _hand_model()
    x, y = torch.randn(9, 3), torch.randint(0, 2, (9,))
    trace = record(model, x, y, nn.CrossEntropyLoss())
    loss, deltas, grads = _autograd_reference(model, x, y)
    assert trace.loss == pytest.approx(loss, rel=1e-6)
    for i in range(4):
        frame = trace.backward_frame(i)
        np.testing.assert_allclose(frame.delta, deltas[i].numpy(), rtol=1e-5, atol=1e-9)
        np.testing.assert_allclose(frame.grad_w, grads[i].numpy(), rtol=1e-5, atol=1e-9)
        np.testing.assert_allclose(frame.grad_w_abs, np.abs(grads[i].numpy()), rtol=1e-5, atol=1e-9)
        # the chain rule by hand gives the same δ as autograd
        np.testing.assert_allclose(frame.delta_chain, frame.delta, rtol=1e-4, atol=1e-8)


def test_frame_order_and_labels():
    trace = record(_hand_model(), torch.randn(4, 3), torch.randint(0, 2, (4,)), nn.CrossEntropyLoss())
    phases = [f.phase for f in trace.frames]
    assert phases == ["forward"] * 5 + ["backward"] * 4  # 4 linear forward + loss, then 4 backward
    assert [f.layer for f in trace.forward_frames] == [0, 1, 2, 3, None]
    assert trace.frames[4].kind == "loss"
    assert [f.layer for f in trace.backward_frames] == [3, 2, 1, 0]
    assert [f.index for f in trace.frames] == list(range(len(trace)))
    assert trace.frames[2].label.startswith("F3 forward · layer 3")
    assert trace.frames[-1].label.startswith("B4 backward · layer 1")


def test_shrink_cumulative_and_fprime_numbers():
    model = _hand_model()
    x = torch.randn(6, 3)
    trace = record(model, x, torch.randint(0, 2, (6,)), nn.CrossEntropyLoss())
    norms = {f.layer: np.linalg.norm(f.delta) for f in trace.backward_frames}
    top = norms[3]
    for f in trace.backward_frames:
        assert f.delta_norm == pytest.approx(norms[f.layer], rel=1e-5)
        assert f.cumulative == pytest.approx(norms[f.layer] / top, rel=1e-5)
        if f.layer < 3:
            assert f.shrink == pytest.approx(norms[f.layer] / norms[f.layer + 1], rel=1e-5)
        else:
            assert f.shrink is None
    # f′ of the sigmoid layer: σ(z)(1 − σ(z)), at most 0.25
    first = trace.forward_frame(0)
    s = 1 / (1 + np.exp(-first.z.astype(np.float64)))
    np.testing.assert_allclose(first.fprime, s * (1 - s), rtol=1e-5)
    assert first.fprime_mean <= 0.25
    # tanh layer: 1 − tanh²
    second = trace.forward_frame(1)
    np.testing.assert_allclose(second.fprime, 1 - np.tanh(second.z) ** 2, rtol=1e-4, atol=1e-7)


def test_record_leaves_weights_and_grads_untouched():
    model = _hand_model()
    x, y = torch.randn(5, 3), torch.randint(0, 2, (5,))
    nn.functional.cross_entropy(model(x), y).backward()
    grads_before = [p.grad.clone() for p in model.parameters()]
    weights_before = [p.detach().clone() for p in model.parameters()]
    record(model, torch.randn(5, 3), y, nn.CrossEntropyLoss())
    for p, g, w in zip(model.parameters(), grads_before, weights_before):
        assert torch.equal(p.grad, g)
        assert torch.equal(p.detach(), w)


def test_record_rejects_models_it_cannot_explain():
    with pytest.raises(TraceError, match="no Linear layer"):
        record(nn.Sequential(nn.ReLU()), torch.randn(1, 2), None, lambda o, y: o.sum())
    with pytest.raises(TraceError, match="must follow a Linear"):
        record(nn.Sequential(nn.ReLU(), nn.Linear(2, 2)), torch.randn(1, 2), None, lambda o, y: o.sum())
    with pytest.raises(TraceError, match="Conv1d"):
        record(nn.Sequential(nn.Linear(4, 4), nn.Conv1d(1, 1, 1)), torch.randn(1, 4), None, lambda o, y: o.sum())
    single = record(nn.Linear(3, 2), torch.randn(4, 3), None, lambda o, y: o.sum())  # one layer is a chain too
    assert [f.kind for f in single.frames] == ["linear", "loss", "linear"]


def _trainer_trace(**changes):
    from vgviz.core.config import RunConfig
    from vgviz.core.tasks import make_trainer

    trainer = make_trainer(RunConfig(depth=4, width=6, **changes))
    return trainer, trainer.trace()


def test_batchnorm_layers_get_their_own_frames_and_running_stats_are_kept():
    trainer, _ = _trainer_trace(norm="batchnorm")
    bn = trainer.model[1]
    before = (bn.running_mean.clone(), bn.running_var.clone(), bn.num_batches_tracked.clone())
    trace = trainer.trace()
    assert torch.equal(bn.running_mean, before[0]) and torch.equal(bn.running_var, before[1])
    assert torch.equal(bn.num_batches_tracked, before[2])
    kinds = [f.kind for f in trace.frames]
    assert kinds.count("norm") == 8  # 4 hidden layers: a forward and a backward frame each
    # backward frame of a norm output: dL/d(norm output), by autograd
    idx = torch.from_numpy(trainer.batch_indices(0))
    x, y = trainer._x_train[idx], trainer._y_train[idx]
    normed = []

    def keep(module, inputs, output):
        output.retain_grad()
        normed.append(output)

    hook = bn.register_forward_hook(keep)
    trainer.model.zero_grad()
    trainer.loss_fn(trainer.model(x), y).backward()
    hook.remove()
    frame = next(f for f in trace.backward_frames if f.kind == "norm" and f.layer == 0)
    np.testing.assert_allclose(frame.delta, normed[0].grad.numpy(), rtol=1e-5, atol=1e-10)
    # the hand chain rule is only claimed for plain chains
    assert all(f.delta_chain is None for f in trace.backward_frames if f.kind == "linear" and f.layer < 4)


def test_residual_frames_split_the_gradient_into_skip_and_branch():
    trainer, trace = _trainer_trace(residual=True, activation="relu", init="he")
    skips = [f for f in trace.backward_frames if f.kind == "residual"]
    assert len(skips) == 2 and [f.layer for f in skips] == [3, 2]  # blocks of Linear 1-2 and 3
    block = trainer.model.blocks[1]
    idx = torch.from_numpy(trainer.batch_indices(0))
    x, y = trainer._x_train[idx], trainer._y_train[idx]
    captured = {}

    def keep(module, inputs, output):
        inputs[0].retain_grad()
        module.last_sum.retain_grad()
        captured["x"], captured["u"] = inputs[0], module.last_sum

    hook = block.register_forward_hook(keep)
    trainer.model.zero_grad()
    trainer.loss_fn(trainer.model(x), y).backward()
    hook.remove()
    frame = skips[0]
    np.testing.assert_allclose(frame.delta, captured["u"].grad.numpy(), rtol=1e-5, atol=1e-10)   # skip part
    np.testing.assert_allclose(frame.delta + frame.delta_chain, captured["x"].grad.numpy(), rtol=1e-4, atol=1e-9)
    # display and explain handle the new kinds
    for i in range(len(trace)):
        trace.display(i)
        assert trace.explain(i)


def test_trace_of_a_vgviz_trainer_model():
    from vgviz.core.presets import load_preset
    from vgviz.core.tasks import make_trainer

    trainer = make_trainer(load_preset("deep-sigmoid").config)
    trace = trainer.trace()
    assert len(trace.backward_frames) == 9
    stats = trainer.measure()  # same batch, same weights
    for i in range(9):
        assert trace.backward_frame(i).grad_w_mean_abs == pytest.approx(stats.grad_mean_abs[i], rel=1e-4)
    # the error signal fades on its way back: the first layer's δ is far smaller than the output's
    assert trace.backward_frame(0).cumulative < 1e-3


def test_scalar_chain_sigmoid_at_five():
    trace = record_scalar_chain(3, "sigmoid", weights=[1.0, 1.0, 1.0], x=5.0)
    numbers = chain_numbers(trace)
    assert numbers.z[0] == pytest.approx(5.0)
    sig5 = 1 / (1 + math.exp(-5))
    assert numbers.fprime[0] == pytest.approx(sig5 * (1 - sig5), rel=1e-12)
    assert round(numbers.fprime[0], 4) == 0.0066
    assert numbers.input_gradient == pytest.approx(trace.input_grad.item(), rel=1e-12)


def test_scalar_chain_ten_factors_of_point_two():
    trace = record_scalar_chain(10, "identity", weights=0.2, x=1.0)
    numbers = chain_numbers(trace)
    np.testing.assert_allclose(numbers.factors, 0.2, rtol=1e-15)
    assert numbers.input_gradient == pytest.approx(1.024e-7, rel=1e-12)
    assert trace.input_grad.item() == pytest.approx(1.024e-7, rel=1e-12)
    # each backward frame's running product is the gradient reaching that layer's input
    for layer in range(10):
        assert numbers.running_product[layer] == pytest.approx(0.2 ** (10 - layer), rel=1e-12)


@pytest.mark.parametrize("kwargs, field", [
    ({"n_layers": 0}, "layers"), ({"n_layers": 21}, "layers"),
    ({"n_layers": 3, "activation": "relu6"}, "activation"), ({"n_layers": 2, "x": float("nan")}, "x"),
])
def test_scalar_chain_bad_input(kwargs, field):
    with pytest.raises(ChainError, match=field):
        record_scalar_chain(**kwargs)


def test_residual_skip_paths_light_up_in_the_frames_they_are_reached():
    from vgviz.core.config import RunConfig
    from vgviz.core.tasks import make_trainer

    trainer = make_trainer(RunConfig(depth=5, width=8, residual=True, activation="relu", init="he"))
    trace = trainer.trace()
    assert trace.skip_connections == ((0, 2), (2, 4)) == tuple(trainer.model.skip_connections())
    residual = {f.layer: f for f in trace.backward_frames if f.kind == "residual"}
    for index, frame in enumerate(trace.frames):
        display = trace.display(index)
        assert display.skip_connections == trace.skip_connections
        for (a, b), value in zip(display.skip_connections, display.skip_values):
            if frame.phase == "forward":
                reached = frame.layer is None or a <= frame.layer
                expected = np.abs(trace.forward_frame(a).a).mean() if reached else None
            else:
                reached = b >= frame.layer
                expected = np.abs(residual[b].delta).mean() if reached else None
            if expected is None:
                assert value is None
            else:
                assert value == pytest.approx(float(expected), rel=1e-12)
    first_backward = next(i for i, f in enumerate(trace.frames) if f.phase == "backward")
    assert trace.display(first_backward).skip_values == (None, None)   # at the output: none yet
    assert None not in trace.display(len(trace.frames) - 1).skip_values


class FunctionalTanh(nn.Module):
    """Linear layers with torch.tanh between them: no activation module for the trace to find."""

    def __init__(self):
        super().__init__()
        self.layers = nn.ModuleList([nn.Linear(2, 8), nn.Linear(8, 8), nn.Linear(8, 3)])

    def forward(self, x):
        for layer in self.layers[:-1]:
            x = torch.tanh(layer(x))
        return self.layers[-1](x)


def test_functional_activations_are_refused_not_traced_wrong():
    torch.manual_seed(0)
    x, y = torch.randn(16, 2), torch.randint(0, 3, (16,))
    with pytest.raises(TraceError, match=r"after layer 2 \(hidden2\) the model computes something that is not a "
                                         r"module .*torch.tanh.* \d+% off autograd's δ"):
        record(FunctionalTanh(), x, y, nn.functional.cross_entropy)
