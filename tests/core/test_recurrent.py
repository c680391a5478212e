"""Recurrent models: config combinations, the recall task, the unrolled model against PyTorch's
fused modules, ‖∂L/∂h_t‖ against autograd, the trainer's stats, the trace and the report."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from torch import nn

from vgviz.cli import main, run_report
from vgviz.core.backprop.frames import BackpropTrace
from vgviz.core.backprop.recurrent_frames import SYMBOLS
from vgviz.core.config import ConfigError, RunConfig
from vgviz.core.tasks import make_trainer
from vgviz.core.tasks.mlp.trainer import MLPTrainer
from vgviz.core.tasks.recurrent.data import N_INPUTS, SequenceDataset, encode, make_sequence_dataset
from vgviz.core.tasks.recurrent.model import RecurrentNet, build_recurrent_model
from vgviz.core.tasks.recurrent.trace import record_recurrent
from vgviz.core.tasks.recurrent.trainer import RecurrentTrainer
from vgviz.core.tasks.trainer import Trainer

KINDS = ("rnn", "lstm", "gru")


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def rec(model="rnn", **changes) -> RunConfig:
    values = dict(model=model, dataset="recall", seq_len=12, depth=1, width=8, activation="tanh",
                  gate_init="chrono", batch_size=16, optimizer="adam", lr=0.01, dtype="float64")
    values.update(changes)
    return RunConfig(**values)


# -- config ------------------------------------------------------------------------

def test_defaults_are_the_mlp_and_recurrent_fields_validate():
    c = RunConfig()
    assert (c.model, c.seq_len, c.gate_init) == ("mlp", 50, "pytorch") and not c.recurrent
    r = rec("lstm", seq_len=500, depth=4)
    assert r.recurrent and r.seq_len == 500 and r.depth == 4
    assert RunConfig(model="GRU ", dataset="recall", depth=1).model == "gru"
    assert "recall T=500" in r.summary() and "lstm 4×8" in r.summary() and "gates chrono" in r.summary()
    assert "gates" not in rec("rnn").summary()   # the vanilla RNN has no gates


@pytest.mark.parametrize("values, field, needles", [
    (dict(model="rnn", depth=1), "dataset", ("model = rnn", "recall", "spiral")),
    (dict(model="lstm", dataset="digits", depth=1), "dataset", ("model = lstm", "recall", "digits")),
    (dict(dataset="recall"), "model", ("dataset = recall", "rnn, lstm, gru", "mlp")),
    (dict(model="gru", dataset="recall", depth=5), "depth", ("model = gru", "1 to 4", "depth = 5")),
    (dict(model="gru", dataset="recall"), "depth", ("1 to 4", "depth = 8")),   # the MLP default depth
    (dict(model="rnn", dataset="recall", depth=1, norm="layernorm"), "norm", ("model = rnn", "none")),
    (dict(model="rnn", dataset="recall", depth=1, residual=True), "residual", ("model = rnn",)),
    (dict(model="rnn", dataset="recall", depth=1, seq_len=0), "seq_len", ("1 to 1000",)),
    (dict(model="rnn", dataset="recall", depth=1, seq_len=1001), "seq_len", ("1 to 1000",)),
    (dict(model="transformer"), "model", ("mlp, rnn, lstm, gru",)),
    (dict(model="lstm", dataset="recall", depth=1, gate_init="ones"), "gate_init", ("pytorch, forget1, chrono",)),
])
def test_bad_combinations_name_the_fields(values, field, needles):
    with pytest.raises(ConfigError) as info:
        RunConfig(**values)
    assert info.value.field == field
    text = str(info.value)
    assert text.startswith(f"{field}: ") and "\n" not in text
    for needle in needles:
        assert needle in text, text


def test_cli_switches_model_with_set_and_rejects_a_half_switch(capsys):
    assert main(["report", "--set", "model=rnn", "--steps", "1"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("vgviz: error: dataset: model = rnn reads sequences") and "\n" not in err
    code = main(["report", "--set", "model=rnn", "--set", "dataset=recall", "--set", "depth=1",
                 "--set", "seq_len=4", "--set", "width=3", "--steps", "2"])
    out = capsys.readouterr().out
    assert code == 0 and json.loads(out)["config"]["model"] == "rnn"


# -- data --------------------------------------------------------------------------

def test_recall_sequences():
    d = make_sequence_dataset("recall", seed=3, seq_len=7)
    assert isinstance(d, SequenceDataset) and d.n_classes == 4 and d.n_features == N_INPUTS == 4
    assert d.x_train.shape == (800, 7, 4) and d.x_test.shape == (200, 7, 4) and d.x_train.dtype == np.float32
    for x, tokens, y in ((d.x_train, d.tokens_train, d.y_train), (d.x_test, d.tokens_test, d.y_test)):
        assert np.array_equal(x.argmax(-1), tokens) and np.all(x.sum(-1) == 1)      # one-hot, nothing else
        assert np.array_equal(y, tokens[:, 0])
    counts = np.bincount(d.tokens_train.ravel(), minlength=4) / d.tokens_train.size
    assert np.all(np.abs(counts - 0.25) < 0.03)
    assert np.array_equal(make_sequence_dataset("recall", 3, 7).x_test, d.x_test)
    assert not np.array_equal(make_sequence_dataset("recall", 4, 7).tokens_test, d.tokens_test)
    x0, y0, t0 = d.batch(0, 32)
    x0b, _, _ = d.batch(0, 32)
    _, _, t1 = d.batch(1, 32)
    assert np.array_equal(x0, x0b) and not np.array_equal(t0, t1)   # fresh sequences, from (seed, step)
    assert np.array_equal(y0, t0[:, 0]) and np.array_equal(x0, encode(t0))
    with pytest.raises(ValueError, match="recall"):
        make_sequence_dataset("spiral", 0, 5)


# -- the model ------------------------------------------------------------------------

@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("depth", [1, 2])
def test_unrolled_cells_are_the_fused_module(kind, depth):
    """The step-by-step pass computes what nn.RNN / nn.LSTM / nn.GRU compute, values and gradients."""
    model = build_recurrent_model(rec(kind, depth=depth, width=6), N_INPUTS, 4)
    x = torch.from_numpy(encode(np.random.default_rng(0).integers(0, 4, (5, 9)))).double()
    y = torch.tensor([0, 1, 2, 3, 0])
    fused = model(x)
    loss = nn.functional.cross_entropy(fused, y)
    fused_grads = torch.autograd.grad(loss, list(model.parameters()))
    run = model.unroll(x)
    assert torch.allclose(run.logits, fused, rtol=1e-12, atol=1e-14)
    loss = nn.functional.cross_entropy(run.logits, y)
    grads = torch.autograd.grad(loss, list(model.parameters()))
    for a, b in zip(grads, fused_grads):
        assert torch.allclose(a, b, rtol=1e-10, atol=1e-15)


def test_weight_matrices_are_the_layers():
    model = build_recurrent_model(rec("lstm", depth=2), N_INPUTS, 4)
    names = [n for n, _ in model.weight_matrices()]
    assert names == ["rnn.weight_ih_l0", "rnn.weight_hh_l0", "rnn.weight_ih_l1", "rnn.weight_hh_l1", "output"]
    params = dict(model.named_parameters())
    assert all(params[n] is p for n, p in model.weight_matrices()[:-1]) and params["head.weight"].shape == (4, 8)
    assert params["rnn.weight_hh_l0"].shape == (4 * 8, 8)
    assert make_trainer(rec("gru", depth=2)).layer_names == tuple(names)


def test_gate_init():
    width, T = 8, 40
    plain = build_recurrent_model(rec("lstm", gate_init="pytorch", width=width, seq_len=T), N_INPUTS, 4)
    one = build_recurrent_model(rec("lstm", gate_init="forget1", width=width, seq_len=T), N_INPUTS, 4)
    chrono = build_recurrent_model(rec("lstm", gate_init="chrono", width=width, seq_len=T), N_INPUTS, 4)
    f = slice(width, 2 * width)
    torch.manual_seed(rec().seed)
    reference = nn.LSTM(N_INPUTS, width, batch_first=True).double()    # PyTorch's own init, same seed
    assert torch.equal(plain.rnn.bias_ih_l0, reference.bias_ih_l0)
    assert torch.allclose(one.rnn.bias_ih_l0[f], plain.rnn.bias_ih_l0[f] + 1, atol=1e-6)  # +1 in float32
    assert torch.equal(one.rnn.weight_hh_l0, plain.rnn.weight_hh_l0)
    b = chrono.rnn.bias_ih_l0[f]
    assert torch.all(b >= 0) and torch.all(b <= math.log(T - 1)) and b.std() > 0.3
    assert torch.equal(chrono.rnn.bias_ih_l0[:width], -b) and torch.all(chrono.rnn.bias_hh_l0[:2 * width] == 0)
    gru = build_recurrent_model(rec("gru", gate_init="chrono", width=width, seq_len=T), N_INPUTS, 4)
    z = gru.rnn.bias_ih_l0[f]                                                # GRU (r z n): z keeps the state
    assert torch.all(z >= 0) and torch.all(gru.rnn.bias_hh_l0[f] == 0)
    rnn = build_recurrent_model(rec("rnn", gate_init="forget1"), N_INPUTS, 4)
    assert torch.equal(rnn.rnn.bias_ih_l0, build_recurrent_model(rec("rnn", gate_init="pytorch"), N_INPUTS, 4)
                       .rnn.bias_ih_l0)                                      # no gates: ignored
    xavier = build_recurrent_model(rec("rnn", init="orthogonal", width=width), N_INPUTS, 4)
    w = xavier.rnn.weight_hh_l0.detach()
    assert torch.allclose(w @ w.T, torch.eye(width, dtype=w.dtype), atol=1e-6)   # made in float32


# -- ‖∂L/∂h_t‖ against autograd ------------------------------------------------------------

def _reference_state_grads(model: RecurrentNet, x, y, by_hand: bool):
    """∂L/∂h_t by retain_grad on every h_t of a loop written here: PyTorch's cell functions
    (by_hand=False) or the equations with plain tensor ops (by_hand=True)."""
    width = model.hidden_size
    inputs = x.unbind(1)
    per_layer = []
    for layer in range(model.depth):
        w_ih, w_hh, b_ih, b_hh = model.cell_weights(layer)
        h = c = x.new_zeros(x.shape[0], width)
        hs = []
        for x_t in inputs:
            if not by_hand:
                if model.kind == "lstm":
                    h, c = torch.lstm_cell(x_t, (h, c), w_ih, w_hh, b_ih, b_hh)
                else:
                    h = {"rnn": torch.rnn_tanh_cell, "gru": torch.gru_cell}[model.kind](x_t, h, w_ih, w_hh, b_ih, b_hh)
            elif model.kind == "rnn":
                h = torch.tanh(x_t @ w_ih.T + b_ih + h @ w_hh.T + b_hh)
            elif model.kind == "lstm":
                i, f, g, o = (x_t @ w_ih.T + b_ih + h @ w_hh.T + b_hh).chunk(4, 1)
                c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
                h = torch.sigmoid(o) * torch.tanh(c)
            else:
                ir, iz, i_n = (x_t @ w_ih.T + b_ih).chunk(3, 1)
                hr, hz, h_n = (h @ w_hh.T + b_hh).chunk(3, 1)
                r, z = torch.sigmoid(ir + hr), torch.sigmoid(iz + hz)
                h = (1 - z) * torch.tanh(i_n + r * h_n) + z * h
            h.retain_grad()
            hs.append(h)
        per_layer.append(hs)
        inputs = hs
    loss = nn.functional.cross_entropy(model.head(inputs[-1]), y)
    loss.backward()
    return [torch.stack([h.grad for h in hs]) for hs in per_layer]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("depth", [1, 2])
def test_timestep_gradient_is_autograds(kind, depth):
    trainer = make_trainer(rec(kind, depth=depth, seq_len=15, batch_size=6))
    model = trainer.model
    x, y, _ = trainer.batch(0)
    stats = trainer.measure()
    run = model.unroll(x)
    nn.functional.cross_entropy(run.logits, y).backward()
    probed = run.state_grads()
    model.zero_grad(set_to_none=True)
    same_ops = _reference_state_grads(model, x, y, by_hand=False)
    model.zero_grad(set_to_none=True)
    by_hand = _reference_state_grads(model, x, y, by_hand=True)
    for p, a, b in zip(probed, same_ops, by_hand):
        assert torch.equal(p, a)                                 # exactly retain_grad's numbers
        assert torch.allclose(p, b, rtol=1e-9, atol=1e-300)      # and the equations', to rounding
    expected = torch.sqrt(sum(g.square().sum(dim=(1, 2)) for g in same_ops)).numpy()
    assert stats.timestep_grad.shape == (15,)
    np.testing.assert_allclose(stats.timestep_grad, expected, rtol=1e-12)
    assert stats.timestep_grad.dtype == np.float64 and not stats.timestep_grad.flags.writeable


def test_last_step_gradient_comes_straight_from_the_output_layer():
    trainer = make_trainer(rec("rnn", seq_len=5, batch_size=4))
    x, y, _ = trainer.batch(0)
    run = trainer.model.unroll(x)
    run.logits.retain_grad()
    nn.functional.cross_entropy(run.logits, y).backward()
    expected = run.logits.grad @ trainer.model.head.weight
    assert torch.allclose(run.state_grads()[-1][-1], expected, rtol=1e-12)


def test_float32_norms_do_not_underflow():
    """‖∂L/∂h_1‖ of a vanilla RNN 200 steps back is far below √(float32's smallest number)."""
    trainer = make_trainer(rec("rnn", seq_len=200, width=16, dtype="float32", batch_size=8))
    g = trainer.measure().timestep_grad
    assert g.dtype == np.float64 and np.all(np.isfinite(g)) and g[-1] > 1e-4
    positive = g[g > 0]
    assert positive.min() < 1e-20          # float32 squares of these would be 0
    assert np.all(np.diff(np.log(positive)) > 0) or positive.min() < 1e-30   # decays with distance


# -- the trainer ----------------------------------------------------------------------

def test_trainer_stats():
    config = rec("lstm", depth=2, seq_len=10, eval_every=2)
    trainer = make_trainer(config)
    assert isinstance(trainer, RecurrentTrainer) and isinstance(trainer, Trainer)
    s0 = trainer.step()
    assert s0.step == 0 and not s0.diverged and s0.edge_abs is None and s0.test_loss is not None
    assert s0.layer_names == trainer.layer_names and s0.grad_l2.shape == (5,) and s0.delta_l2.shape == (5,)
    assert [len(d) for d in s0.delta_mean_abs] == [8, 8, 8, 8, 4]
    assert s0.delta_l2[0] == s0.delta_l2[1] and s0.activation_std.shape == (2,)
    assert 1.0 < s0.loss < 2.0 and s0.grad_norm_total > 0 and s0.timestep_grad.shape == (10,)
    expected_zero = [float((p.grad == 0).double().mean()) for _, p in trainer.model.weight_matrices()]
    np.testing.assert_allclose(s0.grad_zero_fraction, expected_zero)
    params = {n: p.detach().clone() for n, p in trainer.model.named_parameters()}
    s1 = trainer.step()
    assert s1.step == 1 and s1.test_loss is None
    assert any(not torch.equal(params[n], p) for n, p in trainer.model.named_parameters())
    again = make_trainer(config)
    assert again.step() == s0 and again.step() == s1      # same config and seed: identical numbers
    w = trainer.model.rnn.weight_hh_l0.detach().clone()
    trainer.measure()
    assert torch.equal(w, trainer.model.rnn.weight_hh_l0) and trainer.step_count == 2


def test_mlp_trainer_unchanged():
    trainer = make_trainer(RunConfig(depth=2, width=4))
    assert type(trainer) is MLPTrainer and trainer.measure().timestep_grad is None


def test_the_shared_loop_is_no_trainer_by_itself():
    """make_trainer is the one way to pick a task: the shared loop alone cannot be built."""
    with pytest.raises(TypeError, match="abstract"):
        Trainer(RunConfig(depth=2, width=4))


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_dtypes(dtype):
    s = make_trainer(rec("gru", dtype=dtype, seq_len=6)).step()
    assert np.isfinite(s.loss) and np.all(np.isfinite(s.timestep_grad)) and s.timestep_grad.dtype == np.float64


def test_clipping_and_sgd():
    config = rec("rnn", optimizer="sgd", momentum=0.9, lr=0.5, clip_norm=1e-3)
    s = make_trainer(config).step()
    assert s.clipped and s.grad_norm_total > 1e-3


# -- the trace ------------------------------------------------------------------------

@pytest.mark.parametrize("kind", KINDS)
def test_trace_frames_are_the_measured_gradients(kind):
    trainer = make_trainer(rec(kind, seq_len=7, batch_size=5))
    model = trainer.model
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    trainer.measure()
    grads = {n: p.grad.clone() for n, p in model.named_parameters()}
    trace = trainer.trace()
    assert isinstance(trace, BackpropTrace) and len(trace) == 2 * 7 + 1
    phases = [(f.phase, f.kind, f.t) for f in trace.frames]
    assert phases[:7] == [("forward", "timestep", t) for t in range(1, 8)]
    assert phases[7] == ("forward", "loss", 0)
    assert phases[8:] == [("backward", "timestep", t) for t in range(7, 0, -1)]
    np.testing.assert_array_equal(trace.timestep_grad, trainer.measure().timestep_grad)
    back = [trace.time_frame("backward", t) for t in range(1, 8)]
    assert [f.delta_norm for f in back] == list(trace.timestep_grad)
    assert back[-1].shrink is None and back[-1].cumulative == 1.0
    for t in range(1, 7):
        assert back[t - 1].shrink == pytest.approx(trace.timestep_grad[t - 1] / trace.timestep_grad[t], rel=1e-12)
    assert back[-1].chain_error < 1e-12          # ∂L/∂h_T = W_outᵀ ∂L/∂logits, by hand
    if kind == "rnn":
        assert max(f.chain_error for f in back) < 1e-12
        assert all(0 < f.fprime_mean <= 1 for f in back[:-1])
    if kind == "lstm":
        assert all(f.cell_grad_norm > 0 for f in back)
        np.testing.assert_allclose([f.cell_grad_norm for f in back], _reference_cell_grad_norms(model, *trainer.batch(0)[:2]),
                                   rtol=1e-9)
    assert trace.frames[7].loss == pytest.approx(trainer.measure().loss, rel=1e-12)
    assert trace.frames[0].token in SYMBOLS and trace.tokens.shape == (5, 7)
    for name, p in model.named_parameters():     # the weights and their gradients are as they were
        assert torch.equal(p, before[name]) and torch.equal(p.grad, grads[name])
    for i in range(len(trace)):
        rows = trace.explain(i)
        assert rows[0][0] == "frame" and all(isinstance(v, str) and v for _, v in rows)
    text = dict(trace.explain(8 + 6))           # the backward frame at t = 1
    assert "shrink ‖∂L/∂h_t‖ / ‖∂L/∂h_(t+1)‖" in text and "6 steps back" in text[
        "since the loss ‖∂L/∂h_t‖ / ‖∂L/∂h_T‖"]
    shown = trace.display(8 + 3)                 # backward at t = 4: t = 4..7 lit
    assert shown.quantity == "gradient" and shown.focus == 4
    assert np.all(np.isnan(shown.values[:3])) and np.array_equal(shown.values[3:], trace.timestep_grad[3:])
    fwd = trace.display(2)
    assert fwd.quantity == "activation" and np.isnan(fwd.values[3:]).all() and np.isfinite(fwd.values[:3]).all()


def _reference_cell_grad_norms(model, x, y):
    """‖∂L/∂c_t‖ by retain_grad on every c_t of the LSTM equations (one layer)."""
    w_ih, w_hh, b_ih, b_hh = model.cell_weights(0)
    h = c = x.new_zeros(x.shape[0], model.hidden_size)
    cs = []
    for x_t in x.unbind(1):
        i, f, g, o = (x_t @ w_ih.T + b_ih + h @ w_hh.T + b_hh).chunk(4, 1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        c.retain_grad()
        cs.append(c)
        h = torch.sigmoid(o) * torch.tanh(c)
    nn.functional.cross_entropy(model.head(h), y).backward()
    model.zero_grad(set_to_none=True)
    return [float(c.grad.norm()) for c in cs]


def test_trace_of_one_example():
    trainer = make_trainer(rec("lstm", seq_len=4))
    trace = trainer.trace(example=5)
    assert trace.x.shape == (1, 4, 4) and "".join(f.token for f in trace.forward_frames[:4]) == "".join(
        SYMBOLS[t] for t in trainer.data.tokens_train[5])
    with pytest.raises(ValueError, match="example"):
        trainer.trace(example=800)
    with pytest.raises(TypeError):
        record_recurrent(nn.Sequential(nn.Linear(2, 2)), torch.zeros(1, 2), torch.zeros(1), None)


# -- the report ------------------------------------------------------------------------

def test_report_timesteps_section():
    config = rec("rnn", seq_len=20, width=8, steps=3, dtype="float32")
    report = json.loads(json.dumps(run_report(config)))
    assert [layer["name"] for layer in report["layers"]] == ["rnn.weight_ih_l0", "rnn.weight_hh_l0", "output"]
    ts = report["timesteps"]
    assert set(ts) == {"t", "initial", "final", "first_over_last"}
    assert ts["t"] == list(range(1, 21)) and len(ts["initial"]) == len(ts["final"]) == 20
    assert all(v > 0 for v in ts["initial"])
    initial = np.array(ts["initial"])
    assert initial[0] < 1e-3 * initial[-1]                          # decays with distance from the loss
    assert ts["first_over_last"]["initial"] == pytest.approx(initial[0] / initial[-1])
    first = make_trainer(config).measure()
    np.testing.assert_allclose(initial, first.timestep_grad, rtol=1e-12)
    assert report["steps"] == 3 and report["config"]["model"] == "rnn"
    assert [z["name"] for z in report["zero_gradients"]] == [layer["name"] for layer in report["layers"]]
    assert "timesteps" not in run_report(RunConfig(depth=1, width=2, steps=1))


# -- what the unrolled view shows (vgviz.core.layout.unrolled_columns) ---------------------------------

def test_timeline_grouping_range_and_words():
    from vgviz.core.layout import unrolled_columns

    assert unrolled_columns.steps_per_column(100, 800) == 1 and unrolled_columns.steps_per_column(1000, 500) == 4
    v = np.array([1e-8, 1e-6, 1e-4, 1e-2, 0.0, 1.0, np.nan, np.nan])
    bins = unrolled_columns.bin_steps(v, 2)
    assert list(bins.starts) == [1, 3, 5, 7] and list(bins.ends) == [2, 4, 6, 8] and bins.per_column == 2
    np.testing.assert_allclose(bins.values[:2], [1e-7, 1e-3])            # geometric means
    assert bins.values[2] == 0.0 and np.isnan(bins.values[3])            # an underflowed step; not reached
    one = unrolled_columns.bin_steps(v, 1)
    assert one.n_columns == 8 and np.array_equal(one.values, v, equal_nan=True)
    assert unrolled_columns.color_range(np.array([3e-14, 0.05])) == (1e-14, 1e-1)
    assert unrolled_columns.color_range(np.array([2e-3, 0.05])) == (1e-13, 1e-1)  # at least 12 decades: runs compare
    assert unrolled_columns.color_range(np.array([1e-60, 1.0]), max_decades=40) == (1e-40, 1.0)
    assert unrolled_columns.describe_columns(50, 1) == "T = 50 time steps, one column each"
    assert "250 columns of 4" in unrolled_columns.describe_columns(1000, 4)
    text = unrolled_columns.decay_summary(np.array([1e-6, 1e-4, 1e-2]))
    assert "1.0e-04" in text and "2 steps back" in text and "×0.01 per step" in text
    summary = unrolled_columns.decay_summary(np.array([0.0, 0.0, 1.0]))
    assert "exactly 0 (underflow or saturation) at 2 of 3 steps" in summary
    assert "1 step back" in unrolled_columns.decay_summary(np.array([0.5, 1.0]))
