"""vgviz.watch: the numbers it records (read back from the run file) against p.grad and autograd."""
from __future__ import annotations

import copy
import os
import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn

import vgviz
from vgviz.core.watch import watcher

RTOL = 1e-5     # captures are float32 in the file


class ConvLstmAttention(nn.Module):
    """Conv2d → functional tanh → 2-layer LSTM over the rows → MultiheadAttention → LayerNorm → Linear.
    manual=True runs the LSTM with LSTMCells sharing its weights, keeping every h_t (the reference)."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 3, 3, padding=1)
        self.lstm = nn.LSTM(12, 5, num_layers=2, batch_first=True)
        self.attn = nn.MultiheadAttention(5, 1, batch_first=True)
        self.norm = nn.LayerNorm(5)
        self.fc = nn.Linear(5, 3)

    def forward(self, x, manual: bool = False):
        h = torch.tanh(self.conv(x))
        seq = h.permute(0, 2, 1, 3).flatten(2)                 # (B, T=4, 12)
        out = self._manual_lstm(seq) if manual else self.lstm(seq)[0]
        a, _ = self.attn(out, out, out)
        z = self.norm(a + out)
        return self.fc(torch.sigmoid(z[:, -1]))

    def _manual_lstm(self, seq):
        self.hidden = []                                       # (t, h_t) of every layer
        x = seq
        for layer in range(self.lstm.num_layers):
            cell = nn.LSTMCell(x.shape[-1], 5)
            for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                setattr(cell, name, getattr(self.lstm, f"{name}_l{layer}"))
            h = c = torch.zeros(x.shape[0], 5)
            outs = []
            for t in range(x.shape[1]):
                h, c = cell(x[:, t], (h, c))
                h.retain_grad()
                self.hidden.append((t, h))
                outs.append(h)
            x = torch.stack(outs, 1)
        return x


def data(seed=1, n=6):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 1, 4, 4, generator=g), torch.randint(0, 3, (n,), generator=g)


def retained_outputs(modules):
    """Our own record of each module's (first) output per call, with retain_grad."""
    outputs = {m: [] for m in modules}

    def keep(module, inputs, output):
        out = output[0] if isinstance(output, tuple) else output
        out.retain_grad()
        outputs[module].append(out)

    handles = [m.register_forward_hook(keep) for m in modules]
    return outputs, handles


def std_of(tensors):
    return float(torch.cat([t.detach().double().reshape(-1) for t in tensors]).std(correction=0))


def norm_of(tensors):
    return float(torch.sqrt(sum(t.grad.double().square().sum() for t in tensors)))


def test_conv_lstm_attention_and_functional_activations_match_autograd(tmp_path):
    torch.manual_seed(0)
    model = ConvLstmAttention()
    reference = copy.deepcopy(model)
    x, y = data()
    path = tmp_path / "run.vgrun"
    with vgviz.watch(model, out=path) as w:
        outputs, handles = retained_outputs([model.conv, model.attn, model.norm, model.fc, model.lstm])
        loss = nn.functional.cross_entropy(model(x), y)
        loss.backward()
        for h in handles:
            h.remove()
        w.step(loss)
        grads = {n: p.grad.clone() for n, p in model.named_parameters()}

    ref_loss = nn.functional.cross_entropy(reference(x, manual=True), y)
    ref_loss.backward()
    with vgviz.open_run(path) as run:
        assert run.param_names == tuple(n for n, _ in model.named_parameters())
        assert run.layer_names == ("conv", "lstm", "attn", "norm", "fc")
        snap = run.snapshot(0)
        assert snap.loss == pytest.approx(float(ref_loss.detach()), rel=RTOL)   # the unrolled LSTM changes nothing
        np.testing.assert_allclose(snap.param_stats[0], [float(g.norm()) for g in grads.values()], rtol=RTOL)
        np.testing.assert_allclose(snap.param_stats[1], [float(g.abs().mean()) for g in grads.values()], rtol=RTOL)
        order = [model.conv, model.lstm, model.attn, model.norm, model.fc]
        np.testing.assert_allclose(snap.delta_l2, [norm_of(outputs[m]) for m in order], rtol=1e-4)
        np.testing.assert_allclose(snap.activation_std, [std_of(outputs[m]) for m in order], rtol=1e-4)
        np.testing.assert_array_equal(snap.layer_uses, [1, 1, 1, 1, 1])
        # conv's δ per channel (dimension 1), the Linear's per unit
        conv_delta = outputs[model.conv][0].grad
        np.testing.assert_allclose(snap.delta_mean_abs[0], conv_delta.abs().mean((0, 2, 3)), rtol=1e-4)
        np.testing.assert_allclose(snap.grad_l2[0], float(grads["conv.weight"].norm()), rtol=RTOL)
        # ‖∂L/∂h_t‖ over batch, units and both LSTM layers, through the output and the recurrence
        expected = np.zeros(4)
        for t, h in reference.hidden:
            expected[t] += float(h.grad.double().square().sum())
        np.testing.assert_allclose(snap.timestep_grad, np.sqrt(expected), rtol=1e-4)
        assert expected[0] > 0 and snap.timestep_grad[0] < snap.timestep_grad[-1]
        # the module diagram's edges: conv's out × in channel kernel-gradient norms, the Linear's
        # |dL/dW|; the other kinds have none
        conv_edges, *others, fc_edges = snap.edge_abs
        np.testing.assert_allclose(conv_edges, grads["conv.weight"].flatten(2).norm(dim=2), rtol=RTOL)
        np.testing.assert_allclose(fc_edges, grads["fc.weight"].abs(), rtol=RTOL)
        assert conv_edges.shape == (3, 1) and [e.shape for e in others] == [(0, 0)] * 3


def test_a_module_used_twice_sums_delta_over_its_uses(tmp_path):
    torch.manual_seed(0)
    shared = nn.Linear(4, 4)
    model = nn.ModuleDict({"shared": shared, "head": nn.Linear(4, 2)})
    x = torch.randn(5, 4)
    with vgviz.watch(model, out=tmp_path / "r.vgrun") as w:
        outputs, handles = retained_outputs([shared])
        loss = model["head"](torch.tanh(shared(torch.tanh(shared(x))))).square().mean()
        loss.backward()
        w.step(loss)
        for h in handles:
            h.remove()
    uses = outputs[shared]
    assert len(uses) == 2 and norm_of(uses[:1]) > 0
    with vgviz.open_run(tmp_path / "r.vgrun") as run:
        snap = run.snapshot(0)
        assert run.layer_names == ("shared", "head")
        np.testing.assert_array_equal(snap.layer_uses, [2, 1])
        assert snap.delta_l2[0] == pytest.approx(norm_of(uses), rel=RTOL)
        assert snap.delta_l2[0] > norm_of(uses[1:]) * (1 + 1e-3)      # not just the one use
        assert snap.activation_std[0] == pytest.approx(std_of(uses), rel=RTOL)
        np.testing.assert_allclose(snap.delta_mean_abs[0], torch.cat([u.grad for u in uses]).abs().mean(0), rtol=RTOL)
        np.testing.assert_allclose(snap.edge_abs[0], shared.weight.grad.abs(), rtol=RTOL)   # both uses


def test_layers_too_large_to_draw_record_no_edges(tmp_path):
    """Edges only for Linear/Conv layers of at most MAX_UNITS inputs and outputs, ungrouped."""
    model = nn.Sequential(nn.Conv1d(4, 4, 3, groups=2), nn.Flatten(), nn.Linear(8, 33), nn.Linear(33, 2))
    with vgviz.watch(model, out=tmp_path / "big.vgrun") as w:
        model(torch.randn(3, 4, 4)).sum().backward()
        w.step(0.0)
    with vgviz.open_run(tmp_path / "big.vgrun") as run:
        assert [e.shape for e in run.snapshot(0).edge_abs] == [(0, 0), (0, 0), (0, 0)]


def test_nested_containers_name_each_layer_by_its_path(tmp_path):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Sequential(nn.Linear(3, 5), nn.ModuleList([nn.BatchNorm1d(5), nn.Linear(5, 4)])),
                          nn.Embedding(4, 2))
    inner = model[0]
    outputs, handles = retained_outputs([inner[0], inner[1][0], inner[1][1]])
    with vgviz.watch(model, out=tmp_path / "n.vgrun") as w:
        h = inner[1][1](torch.relu(inner[1][0](inner[0](torch.randn(6, 3)))))
        loss = h.square().mean() + model[1](torch.tensor([0, 3])).sum()
        loss.backward()
        w.step(loss)
    for handle in handles:
        handle.remove()
    with vgviz.open_run(tmp_path / "n.vgrun") as run:
        assert run.layer_names == ("0.0", "0.1.0", "0.1.1", "1")
        snap = run.snapshot(0)
        np.testing.assert_allclose(snap.delta_l2[:3], [norm_of(outputs[m]) for m in (inner[0], inner[1][0], inner[1][1])],
                                   rtol=RTOL)
        assert snap.delta_l2[3] == pytest.approx(2.0)      # d(sum)/d(embedding output) = 1 at 2×2 values
        np.testing.assert_allclose(snap.grad_l2, [float(m.weight.grad.norm()) for m in
                                                  (inner[0], inner[1][0], inner[1][1], model[1])], rtol=RTOL)


class FrozenAndUnused(nn.Module):
    def __init__(self):
        super().__init__()
        self.frozen = nn.Linear(3, 4).requires_grad_(False)
        self.fc = nn.Linear(4, 2)
        self.unused = nn.Parameter(torch.ones(2))

    def forward(self, x):
        return self.fc(torch.relu(self.frozen(x)))


def test_frozen_parameters_are_described_not_listed_and_unused_ones_read_nan(tmp_path):
    torch.manual_seed(0)
    model = FrozenAndUnused()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with vgviz.watch(model, out=tmp_path / "r.vgrun", capture_hz=0) as w:
        for _ in range(3):
            opt.zero_grad()
            loss = model(torch.randn(4, 3)).square().mean()
            loss.backward()
            w.step(loss)
            # capture_hz=0: only step 0 is captured; no hook is left for the other steps
            assert not model.fc._forward_hooks
            opt.step()
    with vgviz.open_run(tmp_path / "r.vgrun") as run:
        assert run.param_names == ("unused", "fc.weight", "fc.bias")   # registration order
        frozen = dict(zip(run.model.param_names, run.model.frozen))
        assert frozen["frozen.weight"] and frozen["frozen.bias"] and not frozen["fc.weight"]
        assert run.layer_names == ("FrozenAndUnused", "fc")   # the model owns `unused` itself
        grad_l2 = run.series("grad_l2")
        assert grad_l2.shape == (3, 3)
        assert np.isnan(grad_l2[:, 0]).all() and np.isfinite(grad_l2[:, 1:]).all()
        # max |g|, the zero fraction and the update ratio come with captures (here step 0 only)
        ratio = run.series("update_ratio")
        assert (ratio[0, 1:] > 0).all() and np.isnan(ratio[1:]).all()
        assert np.isnan(run.series("grad_max_abs")[1:]).all()
        assert run.snapshot(2).step == 0          # the only capture


def test_every_step_has_gradient_norms_and_captures_add_weight_norms_and_update_ratios(tmp_path):
    """‖g‖ and mean |g| every step; ‖W‖ only at a capture step (here step 0) and the step after it,
    whose weights give the capture's ‖ΔW‖/‖W‖ (‖W‖ after the update, as the built-in trainer)."""
    torch.manual_seed(0)
    model = nn.Linear(3, 2)
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    grads, weights = [], []
    with vgviz.watch(model, out=tmp_path / "w.vgrun", capture_hz=0) as w:
        for _ in range(4):
            opt.zero_grad()
            loss = model(torch.randn(5, 3)).square().mean()
            loss.backward()
            w.step(loss)
            grads.append([p.grad.clone() for p in model.parameters()])
            weights.append([p.detach().clone() for p in model.parameters()])
            opt.step()
    tol = dict(rtol=1e-2)    # the per-step numbers are bfloat16 in the file
    with vgviz.open_run(tmp_path / "w.vgrun") as run:
        np.testing.assert_allclose(run.series("grad_l2"), [[float(g.norm()) for g in gs] for gs in grads], **tol)
        np.testing.assert_allclose(run.series("grad_mean_abs"), [[float(g.abs().mean()) for g in gs] for gs in grads], **tol)
        weight_l2 = run.series("weight_l2")
        np.testing.assert_allclose(weight_l2[:2], [[float(p.norm()) for p in ws] for ws in weights[:2]], **tol)
        assert np.isnan(weight_l2[2:]).all()
        ratio = run.series("update_ratio")
        expected = [float((after - before).norm() / after.norm()) for before, after in zip(weights[0], weights[1])]
        np.testing.assert_allclose(ratio[0], expected, **tol)
        assert np.isnan(ratio[1:]).all()


def test_an_exception_in_the_loop_keeps_the_steps_and_says_interrupted(tmp_path):
    model = nn.Linear(2, 1)
    with pytest.raises(KeyError):
        with vgviz.watch(model, out=tmp_path / "i.vgrun") as w:
            for _ in range(3):
                loss = model(torch.ones(1, 2)).sum()
                loss.backward()
                w.step(loss)
            raise KeyError("the user's bug")
    with vgviz.open_run(tmp_path / "i.vgrun") as run:
        assert list(run.step) == [0, 1, 2]
        assert [e.kind for e in run.events] == ["interrupted"]


def test_bad_arguments_are_one_clear_error(tmp_path):
    with pytest.raises(ValueError, match="capture_hz must be a number >= 0"):
        vgviz.watch(nn.Linear(2, 2), out=tmp_path / "a.vgrun", capture_hz=-1)
    with pytest.raises(TypeError, match="must be a torch.nn.Module"):
        vgviz.watch("model", out=tmp_path / "a.vgrun")
    w = vgviz.watch(nn.Linear(2, 2), out=tmp_path / "b.vgrun")
    w.close()
    with pytest.raises(ValueError, match="step\\(\\) belongs inside the `with` block"):
        w.step(1.0)


def test_window_starts_vgviz_open_in_another_process(tmp_path, monkeypatch):
    started = []

    class FakePopen:
        def __init__(self, argv, **kwargs):
            started.append(argv)
            with vgviz.open_run(argv[-1]) as run:          # the file is there, readable, when it starts
                assert run.param_names == ("weight", "bias")

    monkeypatch.setattr(watcher, "subprocess", SimpleNamespace(Popen=FakePopen, DEVNULL=subprocess.DEVNULL))
    with vgviz.watch(nn.Linear(2, 2), out=tmp_path / "w.vgrun", window=True):
        pass
    assert started == [[sys.executable, "-m", "vgviz", "open", str(tmp_path / "w.vgrun")]]
    # and `python -m vgviz open` is a real command line: a missing file is one line, exit 2
    done = subprocess.run([sys.executable, "-m", "vgviz", "open", str(tmp_path / "missing.vgrun")],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and done.stderr.startswith("vgviz: error:") and done.stderr.count("\n") == 1


def _free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _exit_without_teardown() -> None:
    """End a spawned rank that finished its work: even after a barrier and
    destroy_process_group, gloo's threads sometimes abort the interpreter's teardown
    ("terminate called without an active exception", SIGABRT: 3 runs in 8 here), which
    mp.spawn reports as a failure. Everything the test reads is written and closed by now."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def _ddp_worker(rank: int, folder: str, port: int) -> None:
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=2)
    try:
        torch.manual_seed(0)
        model = nn.parallel.DistributedDataParallel(nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2)))
        x, y = torch.randn(8, 3, generator=torch.Generator().manual_seed(1)), torch.arange(8) % 2
        part = slice(4 * rank, 4 * rank + 4)
        with vgviz.watch(model, out=f"{folder}/rank{rank}.vgrun") as w:
            loss = nn.functional.cross_entropy(model(x[part]), y[part])
            loss.backward()
            w.step(loss)
            assert w.active == (rank == 0)
        dist.barrier()        # gloo may abort at exit without one (docs/performance.md#run-files-and-watch)
    finally:
        dist.destroy_process_group()
    _exit_without_teardown()


def test_ddp_records_on_rank_0_the_gradients_of_the_whole_batch(tmp_path):
    port = _free_port()
    mp.spawn(_ddp_worker, args=(str(tmp_path), port), nprocs=2, join=True)
    assert not (tmp_path / "rank1.vgrun").exists()
    torch.manual_seed(0)
    single = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))
    x, y = torch.randn(8, 3, generator=torch.Generator().manual_seed(1)), torch.arange(8) % 2
    nn.functional.cross_entropy(single(x), y).backward()
    with vgviz.open_run(tmp_path / "rank0.vgrun") as run:
        assert run.param_names == ("0.weight", "0.bias", "2.weight", "2.bias")  # no "module." prefix
        np.testing.assert_allclose(run.snapshot(0).param_stats[0], [float(p.grad.norm()) for p in single.parameters()],
                                   rtol=1e-5)


def _fsdp_worker(rank: int, folder: str, port: int) -> None:
    from torch.distributed.fsdp import FullyShardedDataParallel

    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=2)
    try:
        torch.manual_seed(0)
        inner = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))
        model = FullyShardedDataParallel(inner, device_id=torch.device("cpu"), use_orig_params=True)
        x, y = torch.randn(8, 3, generator=torch.Generator().manual_seed(1)), torch.arange(8) % 2
        part = slice(4 * rank, 4 * rank + 4)
        with vgviz.watch(model, out=f"{folder}/rank{rank}.vgrun") as w:
            loss = nn.functional.cross_entropy(model(x[part]), y[part])
            loss.backward()
            w.step(loss)
            if rank == 0:     # the shard of each gradient this rank holds (None: none of it)
                torch.save([None if p.grad is None else p.grad.clone() for p in inner.parameters()],
                           f"{folder}/shards.pt")
        dist.barrier()
    finally:
        dist.destroy_process_group()
    _exit_without_teardown()


def test_fsdp_names_lose_the_wrapper_and_rank_0_records_the_shards_it_holds(tmp_path):
    """Sharded FSDP keeps a flat piece of each parameter per rank: rank 0 records the norms
    of its pieces (NaN where it holds none) under the model's own names, and draws no edges
    for a weight it holds no (out, in) layout of (docs/watch.md)."""
    port = _free_port()
    mp.spawn(_fsdp_worker, args=(str(tmp_path), port), nprocs=2, join=True)
    shards = torch.load(tmp_path / "shards.pt")
    with vgviz.open_run(tmp_path / "rank0.vgrun") as run:
        assert run.param_names == ("0.weight", "0.bias", "2.weight", "2.bias")
        snap = run.snapshot(0)
        expected = [np.nan if g is None else float(g.norm()) for g in shards]
        np.testing.assert_allclose(snap.param_stats[0], expected, rtol=1e-5)
        assert all(e.size == 0 for e in snap.edge_abs)


def test_cpu_gradient_sums_match_torch_with_empty_and_half_precision_tensors():
    """The CPU path's numpy sums (one concatenated copy, reduced per tensor) against torch's
    norms, with an empty tensor between two others and at the end, and a bfloat16 one."""
    g = torch.Generator().manual_seed(3)
    grads = [torch.randn(30_000, generator=g) * 1e-3, torch.zeros(0), torch.randn(7, 5, generator=g),
             torch.randn(64, generator=g).bfloat16(), torch.zeros(0, 3)]
    sums = watcher._CpuSums()
    l2, l1 = sums(grads)
    np.testing.assert_allclose(l2, [float(t.float().norm()) for t in grads], rtol=1e-6)
    np.testing.assert_allclose(l1, [float(t.float().abs().sum()) for t in grads], rtol=1e-6)
    assert l2[1] == l1[1] == l2[4] == 0.0
    grads[1] = torch.ones(4)                   # new shapes: new offsets
    l2, l1 = sums(grads)
    assert l2[1] == 2.0 and l1[1] == 4.0 and l1[2] == pytest.approx(float(grads[2].abs().sum()), rel=1e-6)


def test_a_model_with_nothing_to_train_records_the_loss_alone(tmp_path):
    model = nn.Linear(2, 2).requires_grad_(False)
    with vgviz.watch(model, out=tmp_path / "frozen.vgrun") as w:
        for i in range(3):
            w.step(torch.tensor(float(i)))
    with vgviz.open_run(tmp_path / "frozen.vgrun") as run:
        assert run.steps == 3 and run.param_names == ()
        np.testing.assert_allclose(run.loss, [0.0, 1.0, 2.0])


class GruThenRnn(nn.Module):
    """GRU(3→4) → RNN(4→5) → Linear on the last step. manual=True runs both with cells sharing
    their weights, keeping every h_t of each (the reference)."""

    def __init__(self):
        super().__init__()
        self.gru, self.rnn, self.fc = nn.GRU(3, 4, batch_first=True), nn.RNN(4, 5, batch_first=True), nn.Linear(5, 2)
        self.hidden: dict[str, list] = {}

    def forward(self, x, manual=False):
        if not manual:
            return self.fc(self.rnn(self.gru(x)[0])[0][:, -1])
        gru_cell, rnn_cell = nn.GRUCell(3, 4), nn.RNNCell(4, 5)
        for cell, module in ((gru_cell, self.gru), (rnn_cell, self.rnn)):
            for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                setattr(cell, name, getattr(module, f"{name}_l0"))
        self.hidden = {"gru": [], "rnn": []}
        h1, h2 = torch.zeros(x.shape[0], 4), torch.zeros(x.shape[0], 5)
        for t in range(x.shape[1]):
            h1 = gru_cell(x[:, t], h1)
            h2 = rnn_cell(h1, h2)
            for name, h in (("gru", h1), ("rnn", h2)):
                h.retain_grad()
                self.hidden[name].append(h)
        return self.fc(h2)


def test_every_recurrent_module_gets_its_own_timestep_gradients(tmp_path, capsys):
    """Two recurrent modules in a row: each layer's ‖∂L/∂h_t‖ (through the output and the
    recurrence) against cells sharing the weights; timestep_grad stays the first module's."""
    torch.manual_seed(0)
    model = GruThenRnn()
    reference = copy.deepcopy(model)
    x = torch.randn(3, 5, 3, generator=torch.Generator().manual_seed(2))
    y = torch.tensor([0, 1, 1])
    with vgviz.watch(model, out=tmp_path / "r.vgrun") as w:
        loss = nn.functional.cross_entropy(model(x), y)
        loss.backward()
        w.step(loss)
    nn.functional.cross_entropy(reference(x, manual=True), y).backward()
    with vgviz.open_run(tmp_path / "r.vgrun") as run:
        assert run.layer_names == ("gru", "rnn", "fc")
        snap = run.snapshot(0)
        gru, rnn, fc = snap.layer_timestep_grad
        np.testing.assert_allclose(gru, [float(h.grad.norm()) for h in reference.hidden["gru"]], rtol=1e-4)
        np.testing.assert_allclose(rnn, [float(h.grad.norm()) for h in reference.hidden["rnn"]], rtol=1e-4)
        assert fc.shape == (0,) and len(gru) == len(rnn) == 5
        np.testing.assert_allclose(snap.timestep_grad, gru)
    # report --run names each recurrent module's; one step: initial and final are that step's
    import json

    from vgviz.cli import main
    assert main(["report", "--run", str(tmp_path / "r.vgrun")]) == 0
    report = json.loads(capsys.readouterr().out)
    assert sorted(report["timesteps_by_layer"]) == ["gru", "rnn"]
    np.testing.assert_allclose(report["timesteps_by_layer"]["rnn"]["initial"], rnn, rtol=1e-6)
    assert report["timesteps"]["initial"] == report["timesteps_by_layer"]["gru"]["initial"]
