"""GradientProbe numbers checked against autograd and closed-form formulas."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from vgviz import GradientProbe

RTOL = 1e-6


class Mixer(nn.Module):
    """Not a Linear: a free parameter, a Conv1d, a bias-free Linear nested inside,
    a frozen parameter and a parameter the forward never uses."""

    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.tensor([1.5, -0.5, 2.0, 0.7]))
        self.conv = nn.Conv1d(1, 2, kernel_size=3, padding=1)
        self.fc = nn.Linear(8, 5, bias=False)
        self.frozen = nn.Parameter(torch.ones(3), requires_grad=False)
        self.unused = nn.Parameter(torch.ones(2))

    def forward(self, x):                       # (B, 4)
        h = self.conv((x * self.scale).unsqueeze(1)).flatten(1)  # (B, 8)
        return self.fc(torch.tanh(h))           # (B, 5)


def make_model(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(3, 4), nn.Tanh(), Mixer(), nn.Sigmoid(), nn.Linear(5, 3))


def batch(seed: int = 1, n: int = 7):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 3, generator=g), torch.randint(0, 3, (n,), generator=g)


def linears(model):
    return [m for m in model.modules() if isinstance(m, nn.Linear)]


def forward_with_retained_z(model, x):
    """Our own record of every Linear output z, with retain_grad, independent of the probe."""
    zs, handles = [], []

    def keep(module, inputs, output):
        output.retain_grad()
        zs.append(output)

    for m in linears(model):
        handles.append(m.register_forward_hook(keep))
    try:
        out = model(x)
    finally:
        for h in handles:
            h.remove()
    return out, zs


def run(model, probe, seed=1):
    x, y = batch(seed)
    model.zero_grad(set_to_none=True)
    logits, zs = forward_with_retained_z(model, x)
    loss = nn.functional.cross_entropy(logits, y)
    loss.backward()
    return x, y, logits, zs


def test_linear_names_in_module_order():
    model = make_model()
    with GradientProbe(model, linear_only=True) as probe:
        assert probe.linear_names == ["0", "2.fc", "4"]


def test_param_stats_match_every_parameter_gradient():
    model = make_model()
    probe = GradientProbe(model, linear_only=True)
    run(model, probe)
    stats = probe.param_stats()
    expected = [(n, p) for n, p in model.named_parameters() if p.grad is not None]
    # every trainable, used parameter, in named_parameters() order; frozen/unused ones absent
    assert list(stats) == [n for n, _ in expected]
    assert "2.scale" in stats and "2.conv.weight" in stats and "2.conv.bias" in stats
    assert "2.frozen" not in stats and "2.unused" not in stats
    for name, p in expected:
        g = p.grad.double()
        assert set(stats[name]) == {"mean_abs", "l2"}
        assert isinstance(stats[name]["mean_abs"], float)
        np.testing.assert_allclose(stats[name]["mean_abs"], g.abs().mean().item(), rtol=RTOL, err_msg=name)
        np.testing.assert_allclose(stats[name]["l2"], g.norm().item(), rtol=RTOL, err_msg=name)
        assert stats[name]["l2"] > 0
    probe.close()


def test_param_stats_before_backward_is_empty():
    model = make_model()
    with GradientProbe(model, linear_only=True) as probe:
        assert probe.param_stats() == {}


def test_delta_equals_autograd_dL_dz():
    model = make_model()
    probe = GradientProbe(model, linear_only=True)
    _, _, _, zs = run(model, probe)
    assert len(zs) == 3
    for i, z in enumerate(zs):
        d = probe.delta(i)
        assert d is not None and d.shape == z.shape
        torch.testing.assert_close(d, z.grad, rtol=0, atol=0)
    assert probe.delta(3) is None
    probe.close()


def test_output_delta_matches_softmax_formula():
    # For mean cross-entropy, dL/dz_out = (softmax(z) - onehot(y)) / B.
    model = make_model()
    probe = GradientProbe(model, linear_only=True)
    _, y, logits, _ = run(model, probe)
    expected = (torch.softmax(logits.detach().double(), 1) - nn.functional.one_hot(y, 3).double()) / len(y)
    np.testing.assert_allclose(probe.delta(2).double().numpy(), expected.numpy(), rtol=1e-5, atol=1e-9)
    # and for a Linear, dL/dW = δᵀ · input: check the first layer against its input x
    x, _ = batch(1)
    np.testing.assert_allclose(model[0].weight.grad.numpy(), (probe.delta(0).T @ x).numpy(), rtol=1e-5, atol=1e-8)
    probe.close()


def test_capture_matches_formulas():
    model = make_model()
    probe = GradientProbe(model, linear_only=True)
    _, _, _, zs = run(model, probe)
    cap = probe.capture()
    layers = linears(model)
    assert cap.names == ("0", "2.fc", "4")
    for i, (m, z) in enumerate(zip(layers, zs)):
        g = m.weight.grad.double()
        d = z.grad.double()
        np.testing.assert_allclose(cap.grad_mean_abs[i], g.abs().mean().item(), rtol=RTOL)
        np.testing.assert_allclose(cap.grad_l2[i], g.norm().item(), rtol=RTOL)
        np.testing.assert_allclose(cap.delta_l2[i], d.norm().item(), rtol=RTOL)
        assert cap.delta_mean_abs[i].shape == (m.out_features,)
        np.testing.assert_allclose(cap.delta_mean_abs[i], d.abs().mean(0).numpy(), rtol=RTOL)
        assert cap.edge_abs[i].shape == (m.out_features, m.in_features)
        np.testing.assert_allclose(cap.edge_abs[i], g.abs().numpy(), rtol=RTOL)
    assert all(isinstance(a, np.ndarray) for a in (cap.grad_mean_abs, cap.grad_l2, cap.delta_l2))
    assert probe.capture(edges=False).edge_abs is None
    probe.close()


def test_capture_is_a_copy_not_a_view_of_the_gradients():
    model = make_model()
    probe = GradientProbe(model, linear_only=True)
    run(model, probe)
    cap = probe.capture()
    saved = [e.copy() for e in cap.edge_abs], cap.grad_l2.copy(), [d.copy() for d in cap.delta_mean_abs]
    for p in model.parameters():
        if p.grad is not None:
            p.grad.zero_()
    for i in range(3):
        probe.delta(i).zero_()
    assert all(np.array_equal(a, b) for a, b in zip(cap.edge_abs, saved[0]))
    assert np.array_equal(cap.grad_l2, saved[1])
    assert all(np.array_equal(a, b) for a, b in zip(cap.delta_mean_abs, saved[2]))
    probe.close()


def test_second_backward_replaces_deltas():
    model = make_model()
    probe = GradientProbe(model, linear_only=True)
    run(model, probe, seed=1)
    first = probe.capture()
    _, _, _, zs = run(model, probe, seed=2)
    second = probe.capture()
    assert not np.array_equal(first.delta_l2, second.delta_l2)
    for i, z in enumerate(zs):
        np.testing.assert_allclose(second.delta_l2[i], z.grad.double().norm().item(), rtol=RTOL)
    probe.close()


def test_delta_mean_is_over_every_leading_dimension():
    # A Linear on (batch, seq, features): δ_j is averaged over batch and sequence.
    torch.manual_seed(3)
    lin = nn.Linear(4, 2)
    x = torch.randn(5, 6, 4)
    with GradientProbe(lin) as probe:
        z = lin(x)
        z.retain_grad()
        (z ** 3).sum().backward()
        cap = probe.capture()
        expected = z.grad.abs().reshape(-1, 2).double().mean(0).numpy()
        np.testing.assert_allclose(cap.delta_mean_abs[0], expected, rtol=RTOL)
        np.testing.assert_allclose(cap.delta_l2[0], z.grad.double().norm().item(), rtol=RTOL)


def test_context_manager_removes_hooks():
    model = make_model()
    before = [dict(m._forward_hooks) for m in linears(model)]
    assert before == [{}, {}, {}]
    with GradientProbe(model, linear_only=True) as probe:
        assert all(len(m._forward_hooks) == 1 for m in linears(model))
        run(model, probe)
        assert probe.delta(0) is not None
    assert all(len(m._forward_hooks) == 0 for m in linears(model))
    # the closed probe forgets old deltas and records nothing new
    assert probe.delta(0) is None
    run(model, probe)
    assert probe.delta(0) is None


def test_close_is_idempotent_and_leaves_other_hooks():
    model = make_model()
    mine = model[0].register_forward_hook(lambda *a: None)
    probe = GradientProbe(model, linear_only=True)
    probe.close()
    probe.close()
    assert len(model[0]._forward_hooks) == 1
    mine.remove()


def test_capture_before_backward_raises_clear_error():
    model = make_model()
    with GradientProbe(model, linear_only=True) as probe:
        with pytest.raises(RuntimeError, match="backward"):
            probe.capture()
        # a forward pass alone is not enough either
        model(batch()[0])
        with pytest.raises(RuntimeError, match="backward"):
            probe.capture()


def test_no_grad_forward_registers_nothing():
    model = make_model()
    with GradientProbe(model, linear_only=True) as probe:
        with torch.no_grad():
            model(batch()[0])
        assert probe.delta(0) is None


def plain_sequential(seed: int = 0) -> nn.Sequential:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(3, 6), nn.Tanh(), nn.Linear(6, 5), nn.Sigmoid(), nn.Linear(5, 3))


@pytest.mark.parametrize("make", [plain_sequential, make_model], ids=["plain-sequential", "nested-linear"])
def test_probe_forward_records_what_the_hooks_record(make):
    import copy
    walked_model = make()
    hooked_model = copy.deepcopy(walked_model)
    x, y = batch()
    walked, hooked = GradientProbe(walked_model, linear_only=True), GradientProbe(hooked_model, linear_only=True)
    out = walked.forward(x)
    if make is plain_sequential:  # walked, not hooked
        assert not any(m._forward_hooks for m in walked_model.modules())
    nn.functional.cross_entropy(out, y).backward()
    reference_out, zs = forward_with_retained_z(hooked_model, x)
    nn.functional.cross_entropy(reference_out, y).backward()
    torch.testing.assert_close(out, reference_out, rtol=0, atol=0)
    for i, z in enumerate(zs):  # δ = dL/dz as autograd has it
        torch.testing.assert_close(walked.delta(i), z.grad, rtol=0, atol=0)
    a, b = walked.capture(), hooked.capture()
    for field in ("grad_mean_abs", "grad_l2", "delta_l2", "activation_std", "grad_zero_fraction"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
    for u, v in zip(a.delta_mean_abs + a.edge_abs, b.delta_mean_abs + b.edge_abs):
        np.testing.assert_array_equal(u, v)
    walked.close()
    hooked.close()


def test_probe_forward_without_record_registers_and_keeps_nothing():
    model = plain_sequential()
    probe = GradientProbe(model, linear_only=True)
    x, y = batch()
    nn.functional.cross_entropy(probe.forward(x, record=False), y).backward()
    assert not any(m._forward_hooks for m in model.modules())
    assert probe.delta(0) is None
    with pytest.raises(RuntimeError, match="backward"):
        probe.capture()
    stats = probe.param_stats()  # the parameter gradients need no record
    assert stats["0.weight"]["l2"] == pytest.approx(model[0].weight.grad.norm().item(), rel=RTOL)
    probe.close()


class SharedFrozenUnused(nn.Module):
    """A Linear used twice (shared weights), a frozen Linear and a Linear the forward never calls."""

    def __init__(self):
        super().__init__()
        self.first = nn.Linear(3, 4)
        self.frozen = nn.Linear(4, 4).requires_grad_(False)
        self.shared = nn.Linear(4, 4)
        self.unused = nn.Linear(4, 4)
        self.out = nn.Linear(4, 3)

    def forward(self, x):
        h = torch.tanh(self.frozen(torch.tanh(self.first(x))))
        return self.out(torch.tanh(self.shared(torch.tanh(self.shared(h)))))


def test_shared_frozen_and_unused_layers_against_autograd():
    torch.manual_seed(0)
    model = SharedFrozenUnused()
    x, y = batch()
    outputs = {m: [] for m in (model.first, model.frozen, model.shared, model.out)}

    def keep(module, inputs, output):
        output.retain_grad()
        outputs[module].append((inputs[0], output))

    handles = [m.register_forward_hook(keep) for m in outputs]
    with GradientProbe(model) as probe:
        nn.functional.cross_entropy(model(x), y).backward()
        for h in handles:
            h.remove()
        cap = probe.capture()           # no longer refused for the frozen and the unused layer
        light = probe.capture_light()
        # the shared layer: both uses, stacked along the batch axis, and dL/dW = δᵀ · inputs still holds
        uses = outputs[model.shared]
        stacked = torch.cat([z.grad for _, z in uses])
        torch.testing.assert_close(probe.delta(2), stacked, rtol=0, atol=0)
        inputs = torch.cat([a.detach() for a, _ in uses])
        torch.testing.assert_close(model.shared.weight.grad, stacked.T @ inputs, rtol=1e-5, atol=1e-7)
    names = ["first", "frozen", "shared", "unused", "out"]
    assert cap.names == tuple(names)
    expected_delta = [float(torch.cat([z.grad for _, z in outputs[m]]).norm()) if m in outputs else np.nan
                      for m in (getattr(model, n) for n in names)]
    np.testing.assert_allclose(cap.delta_l2, expected_delta, rtol=RTOL)
    assert cap.delta_l2[2] > float(uses[0][1].grad.norm()) * (1 + 1e-3)     # not just the first use
    for field in (cap.grad_l2, light.grad_l2):
        assert np.isnan(field[[1, 3]]).all()                                 # frozen, unused: no gradient
        np.testing.assert_allclose(field[[0, 2, 4]], [float(getattr(model, n).weight.grad.norm())
                                                      for n in ("first", "shared", "out")], rtol=RTOL)
    assert np.isnan(cap.delta_mean_abs[3]).all() and not np.isnan(cap.delta_mean_abs[1]).any()
    assert (cap.edge_abs[1] == 0).all() and cap.edge_abs[2].shape == (4, 4)


def test_a_model_with_conv_or_recurrent_layers_is_refused_with_the_way_out():
    model = nn.Sequential(nn.Conv1d(1, 2, 3), nn.Flatten(), nn.Linear(4, 2))
    with pytest.raises(ValueError, match=r"^GradientProbe measures nn.Linear layers only; 0 \(Conv1d\) would "
                                         r"get no δ .*vgviz.watch.*linear_only=True"):
        GradientProbe(model)
    with pytest.raises(ValueError, match=r"lstm \(LSTM\)"):
        GradientProbe(nn.ModuleDict({"lstm": nn.LSTM(2, 2), "fc": nn.Linear(2, 2)}))
    GradientProbe(model, linear_only=True).close()
