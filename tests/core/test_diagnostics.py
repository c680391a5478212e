"""Diagnostics: every verdict built from a real network, numbers checked against formulas
computed here independently (saturation, dead units, ratios, ablation, ‖ΔW‖/‖W‖)."""
from __future__ import annotations

import copy
import json
import math

import numpy as np
import pytest
import torch
from torch import nn

from vgviz.core.config import RunConfig
from vgviz.core.diagnose.experiments import activation_batch, compare_variants, diagnose_trainer
from vgviz.core.diagnose.fixes import _config_demonstrates, make_fix
from vgviz.core.diagnose.measures import ablate, activation_stats, summarize
from vgviz.core.diagnose.thresholds import (ABLATION_ABOVE_CHANCE, ABLATION_SMALL_DROP, CONVERGED_ACCURACY,
                                            CONVERGED_LOSS, EXPLODING_GRAD, EXPLODING_RATIO, GRADIENT_WINDOW,
                                            PLATEAU_WINDOW, SATURATED_LAYER, VANISHING_RATIO, WORSE_ACCURACY)
from vgviz.core.diagnose.verdict import diagnose
from vgviz.core.measure.history import History
from vgviz.core.measure.stats import StepStats
from vgviz.core.presets import load_preset
from vgviz.core.tasks import make_trainer


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    """Small nets train fastest on one thread (and far faster on a loaded machine)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def preset(name: str, **changes) -> RunConfig:
    config = load_preset(name).config
    return config.replace(**changes) if changes else config


def train(config: RunConfig, steps: int, prepare=None, after_step=None):
    """A trainer (prepared, e.g. with poisoned weights) and the History of `steps` steps."""
    trainer = make_trainer(config, capture_edges=False)
    if prepare is not None:
        with torch.no_grad():
            prepare(trainer.model)
        trainer.initial_state = {k: v.detach().clone() for k, v in trainer.model.state_dict().items()}
    history = None
    for _ in range(steps):
        stats = trainer.step()
        if after_step is not None:
            after_step(trainer)
        history = history or History(stats.n_layers)
        history.append(stats)
        if stats.diverged:
            break
    return trainer, history


def linears(model):
    return [m for m in model.modules() if isinstance(m, nn.Linear)]


def hidden_outputs(model, x):
    """(z, a) of every hidden layer of an MLP, computed layer by layer here, without hooks."""
    out, h = [], x
    layers = list(model)
    with torch.no_grad():
        for i, layer in enumerate(layers):
            h = layer(h)
            if i + 1 < len(layers) and not isinstance(layers[i + 1], nn.Linear) and isinstance(layer, nn.Linear):
                z = h
            elif not isinstance(layer, nn.Linear):
                out.append((z, h))
    return out


def window_ratio(history, window=GRADIENT_WINDOW):
    """The gradient finding's ratio by its definition: the median over the last `window`
    steps of mean|dL/dW| of hidden1 over that of the last hidden layer."""
    g = history.grad_mean_abs
    rows = history.steps > history.steps[-1] - window
    return float(np.median(g[rows, 0] / g[rows, -2]))


def json_strict(doc) -> str:
    return json.dumps(doc, allow_nan=False)


# -- the cases ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def saturated():
    """deep-sigmoid with weights ×4 and biases +4: most sigmoid outputs pinned near 1."""
    def prepare(model):
        for m in linears(model)[:-1]:
            m.weight.mul_(4.0)
            m.bias.fill_(4.0)
    trainer, history = train(preset("deep-sigmoid"), 30, prepare)
    d, acts, ab = diagnose_trainer(trainer, history, ablation_k=4)
    return trainer, history, d, acts, ab


def test_saturated_deep_sigmoid_is_vanishing(saturated):
    trainer, history, d, acts, _ = saturated
    assert d.verdict == "vanishing"
    grad = d.finding("gradient_magnitude")
    ratio = grad.numbers["ratio_first_to_last_hidden"]
    assert ratio == pytest.approx(window_ratio(history), rel=1e-12)
    assert ratio <= VANISHING_RATIO
    assert grad.label == "vanishing" and grad.thresholds["vanishing_ratio"] == 1e-2
    assert "saturated" in d.causes[0]
    # saturation fraction per layer, computed independently on the same examples
    x = torch.from_numpy(trainer.data.x_train)
    expected = [((a < 0.01) | (a > 0.99)).double().mean().item() for _, a in hidden_outputs(trainer.model, x)]
    measured = [layer.saturated_fraction for layer in acts.layers]
    assert measured == pytest.approx(expected, abs=1e-12)
    assert max(expected) >= SATURATED_LAYER
    units = d.finding("unresponsive_neurons")
    assert units.label.startswith("saturated") and units.status == "bad"
    assert [layer["saturated_fraction"] for layer in units.numbers["layers"]] == pytest.approx(expected)
    # the fixes name the presets that demonstrate them; only installed presets are links
    fixes = {f.key: f for f in d.fixes}
    assert {"relu", "init", "batchnorm", "residual"} <= set(fixes)
    assert fixes["relu"].preset in ("deep-relu", "deep-relu-he") and fixes["relu"].available
    from vgviz.core.presets import preset_names
    for f in d.fixes:
        assert f.available == (f.preset in preset_names())
    json_strict(d.to_dict())


def test_dead_relu_net_is_vanishing_with_dead_units_named():
    # hidden3 gets a bias of -10: every unit is below zero for every example
    def prepare(model):
        linears(model)[2].bias.fill_(-10.0)
    trainer, history = train(preset("deep-relu-he"), 20, prepare)
    d, acts, _ = diagnose_trainer(trainer, history)
    assert d.verdict == "vanishing"
    assert d.finding("gradient_magnitude").numbers["ratio_first_to_last_hidden"] == 0.0
    assert np.all(history.grad_mean_abs[:, 0] == 0)   # nothing reaches hidden1
    x = torch.from_numpy(trainer.data.x_train)
    outs = hidden_outputs(trainer.model, x)
    expected_dead = [(a == 0).all(0).double().mean().item() for _, a in outs]
    assert [layer.dead_fraction for layer in acts.layers] == pytest.approx(expected_dead, abs=0)
    assert expected_dead[2] == 1.0 and expected_dead[0] < 0.5
    assert "dead ReLUs" in d.causes[0] and "hidden3" in d.causes[0]
    assert "leaky" in {f.key for f in d.fixes}
    # per-unit share: the fraction of examples with output 0
    share = [(a == 0).double().mean(0).numpy() for _, a in outs]
    for layer, s in zip(acts.layers, share):
        np.testing.assert_allclose(layer.share, s)
    json_strict(d.to_dict())


@pytest.fixture(scope="module")
def converged():
    config = preset("deep-relu-he", depth=2, dataset="moons", optimizer="adam", lr=0.01, batch_size=4096)
    return train(config, 300)


def test_converged_net_is_converged_not_vanishing(converged):
    trainer, history = converged
    d, _, _ = diagnose_trainer(trainer, history)
    assert d.verdict == "converged"
    plateau = d.finding("loss_plateau")
    assert plateau.label == "converged"
    rows = history.steps > history.steps[-1] - GRADIENT_WINDOW
    assert plateau.numbers["loss_now"] == pytest.approx(history.loss[rows].mean())
    assert plateau.numbers["loss_now"] <= CONVERGED_LOSS
    assert plateau.numbers["accuracy_now"] >= CONVERGED_ACCURACY
    # small gradients: the first layer's gradient fell by orders of magnitude since step 0
    g = history.grad_mean_abs[:, 0]
    assert np.median(g[rows]) < g[0] / 50        # measured: ~85× smaller
    assert "not vanishing" in d.headline and not d.fixes


def test_healthy_he_relu_net_is_healthy():
    trainer, history = train(preset("deep-relu-he"), 30)
    d, _, _ = diagnose_trainer(trainer, history)
    assert d.verdict == "healthy"
    ratio = d.finding("gradient_magnitude").numbers["ratio_first_to_last_hidden"]
    assert ratio == pytest.approx(window_ratio(history), rel=1e-12)
    assert VANISHING_RATIO < ratio < EXPLODING_RATIO
    orders = d.finding("gradient_magnitude").numbers["order_of_magnitude"]
    values = d.finding("gradient_magnitude").numbers["grad_mean_abs"]
    assert orders == [math.floor(math.log10(v)) for v in values]


def test_exploding_net_is_exploding_before_and_after_it_diverges():
    # He-init ReLU net with every weight doubled: gradients far above 1 from the first batch
    trainer = make_trainer(preset("deep-relu-he"), capture_edges=False)
    with torch.no_grad():
        for m in linears(trainer.model):
            m.weight.mul_(2.0)
    history = History(9)
    history.append(trainer.measure())
    d = diagnose(history)
    grad = d.finding("gradient_magnitude")
    assert d.verdict == "exploding" and grad.label == "exploding"
    assert grad.numbers["median_grad_mean_abs"] == pytest.approx(float(np.median(history.grad_mean_abs[0])))
    assert grad.numbers["median_grad_mean_abs"] >= EXPLODING_GRAD
    assert {"clipping", "lower_lr"} <= {f.key for f in d.fixes}
    # the same net trained on: NaN/inf within a few steps
    _, diverged = train(preset("deep-relu-he", lr=10.0), 15)
    d2 = diagnose(diverged)
    assert d2.verdict == "exploding" and d2.finding("gradient_magnitude").numbers["non_finite"] is True
    assert "NaN/inf" in d2.headline
    json_strict(d2.to_dict())   # JSON-safe although the run's numbers are not finite


def test_exploding_when_gradients_grow_toward_the_input():
    history = synthetic_history([[1e2, 1e1, 1e0, 1e-1, 1e-1]] * 3)
    d = diagnose(history)
    assert d.verdict == "exploding"
    assert d.finding("gradient_magnitude").numbers["ratio_first_to_last_hidden"] == pytest.approx(1e3)


@pytest.fixture(scope="module")
def degradation_runs():
    deep = train(preset("deep-relu-he", depth=30, dataset="moons"), 300)
    shallow = train(preset("deep-relu-he", depth=3, dataset="moons"), 300)
    return deep, shallow


def test_degradation_deeper_plain_net_with_healthy_gradients_trains_worse(degradation_runs):
    (trainer, history), (_, shallow_history) = degradation_runs
    baseline = summarize(shallow_history, "depth 3")
    d, _, _ = diagnose_trainer(trainer, history, baseline=baseline)
    assert d.verdict == "degradation"
    ratio = d.finding("gradient_magnitude").numbers["ratio_first_to_last_hidden"]
    assert VANISHING_RATIO < ratio < EXPLODING_RATIO       # gradients are not the problem
    perf = d.finding("training_performance")
    assert perf.label == "deeper is worse"
    n = perf.numbers
    assert n["n_layers"] == 31 and n["baseline_n_layers"] == 4
    assert n["baseline_train_accuracy"] - n["train_accuracy"] >= WORSE_ACCURACY
    assert n["accuracy_gap"] == pytest.approx(n["baseline_train_accuracy"] - n["train_accuracy"])
    assert "not vanishing" in d.headline and "ResNet" in d.causes[0]
    assert d.fixes[0].key == "residual"
    # without the counterpart the same run is not called degradation
    assert diagnose(history).verdict != "degradation"
    # a counterpart that is not shallower is not a comparison
    assert diagnose(history, baseline=summarize(history)).finding("training_performance").label == "not shallower"


def test_deeper_sigmoid_net_that_trains_worse_is_blamed_on_vanishing_not_degradation():
    _, deep = train(preset("deep-sigmoid"), 250)
    _, shallow = train(preset("shallow-sigmoid"), 250)
    d = diagnose(deep, baseline=summarize(shallow))
    assert d.verdict == "vanishing"


# -- the findings' formulas --------------------------------------------------------------------
def synthetic_stats(step, grads, loss=0.7, accuracy=0.5, update=None, diverged=False) -> StepStats:
    grads = np.asarray(grads, dtype=np.float64)
    n = len(grads)
    return StepStats(step=step, loss=loss, accuracy=accuracy, diverged=diverged,
                     layer_names=tuple([f"hidden{i + 1}" for i in range(n - 1)] + ["output"]),
                     grad_mean_abs=grads, grad_l2=grads * 10, delta_l2=grads,
                     delta_mean_abs=tuple(np.ones(2) for _ in range(n)), edge_abs=None,
                     update_ratio=None if update is None else np.asarray(update, dtype=np.float64))


def synthetic_history(rows, losses=None, accuracies=None, updates=None) -> History:
    h = History(len(rows[0]))
    for i, g in enumerate(rows):
        h.append(synthetic_stats(i, g, loss=losses[i] if losses is not None else 0.7,
                                 accuracy=accuracies[i] if accuracies is not None else 0.5,
                                 update=None if updates is None else updates[i]))
    return h


@pytest.mark.parametrize("first, verdict", [(1e-3, "vanishing"), (1e-2, "vanishing"), (1.1e-2, "healthy"),
                                            (1.0, "healthy"), (99.0, "healthy"), (100.0, "exploding")])
def test_gradient_ratio_threshold(first, verdict):
    history = synthetic_history([[first * 1e-3, 1e-3, 1e-3, 1e-3, 1e-2]] * 5)
    d = diagnose(history)
    assert d.finding("gradient_magnitude").numbers["ratio_first_to_last_hidden"] == pytest.approx(first)
    assert d.verdict == verdict


def test_plateau_numbers_follow_the_formula():
    steps = 300
    losses = np.full(steps, 0.70) + 0.001 * np.sin(np.arange(steps))
    history = synthetic_history([[1e-3] * 4] * steps, losses=losses, accuracies=np.full(steps, 0.52))
    f = diagnose(history).finding("loss_plateau")
    last = steps - 1
    window = np.arange(steps)[np.arange(steps) > last - PLATEAU_WINDOW]
    covered = window[-1] - window[0]
    quarter = covered // 4
    early = losses[window[window <= window[0] + quarter]].mean()
    late = losses[window[window >= window[-1] - quarter]].mean()
    assert f.numbers["relative_change"] == pytest.approx((early - late) / early)
    assert f.label == "plateau" and f.status == "bad"
    # a falling loss is not a plateau
    falling = synthetic_history([[1e-3] * 4] * steps, losses=np.linspace(0.7, 0.4, steps))
    assert diagnose(falling).finding("loss_plateau").label == "improving"
    # too few steps to say
    short = synthetic_history([[1e-3] * 4] * 50)
    assert diagnose(short).finding("loss_plateau").label == "too early"


def test_update_ratio_is_the_weight_change_over_the_weight(tmp_path):
    for config in (preset("deep-sigmoid", depth=3), preset("deep-relu-he", depth=3, optimizer="adam", lr=0.01)):
        trainer = make_trainer(config)
        trainer.step()
        before = [m.weight.detach().clone() for m in linears(trainer.model)]
        stats = trainer.step()
        after = [m.weight.detach() for m in linears(trainer.model)]
        difference = [torch.linalg.vector_norm(a - b).item() / torch.linalg.vector_norm(a).item()
                      for a, b in zip(after, before)]
        if config.optimizer == "sgd":
            # plain SGD: ‖ΔW‖ = lr·‖g‖ exactly (CS231n's update = -lr·dW), the weights' difference agrees
            # up to float32 rounding
            grads = [m.weight.grad for m in linears(trainer.model)]
            exact = [config.lr * torch.linalg.vector_norm(g).item() / torch.linalg.vector_norm(a).item()
                     for g, a in zip(grads, after)]
            np.testing.assert_allclose(stats.update_ratio, exact, rtol=1e-6)
            np.testing.assert_allclose(stats.update_ratio, difference, rtol=1e-3)
        else:
            np.testing.assert_allclose(stats.update_ratio, difference, rtol=1e-5)
        assert not stats.update_ratio.flags.writeable
        assert trainer.measure().update_ratio is None          # no update, no ratio
    # History keeps it per step (NaN where no update was applied)
    trainer = make_trainer(preset("deep-sigmoid", depth=2))
    history = History(3)
    history.append(trainer.measure())
    kept = [trainer.step() for _ in range(3)]
    for s in kept:
        history.append(s)
    assert np.isnan(history.update_ratio[0]).all()              # step 0 measured without an update
    np.testing.assert_array_equal(history.update_ratio[1:], np.stack([s.update_ratio for s in kept[1:]]))


def test_speed_of_learning_is_the_geometric_mean_over_the_window():
    updates = [[1e-7 * (i + 1), 1e-3, 2e-3, 1e-2] for i in range(10)]
    history = synthetic_history([[1e-3] * 4] * 10, updates=updates)
    f = diagnose(history).finding("speed_of_learning")
    expected = 10 ** np.log10(np.array(updates)).mean(0)
    np.testing.assert_allclose(f.numbers["update_ratio"], expected)
    assert f.numbers["slow_layers"] == ["hidden1"] and f.label == "slow layers" and f.status == "bad"


def test_ablation_is_measured_on_the_model(converged):
    trainer, _ = converged
    x, y = torch.from_numpy(trainer.data.x_train), torch.from_numpy(trainer.data.y_train)
    state = copy.deepcopy(trainer.model.state_dict())
    result = ablate(trainer.model, 1, x, y, initial_state=trainer.initial_state)
    # the model itself is untouched
    assert all(torch.equal(state[k], v) for k, v in trainer.model.state_dict().items())
    # before / after computed here: accuracy of the model, and of a copy with hidden1 back at step 0
    with torch.no_grad():
        before = (trainer.model(x).argmax(1) == y).double().mean().item()
        copy_model = copy.deepcopy(trainer.model)
        copy_model[0].weight.copy_(trainer.initial_state["0.weight"])
        copy_model[0].bias.copy_(trainer.initial_state["0.bias"])
        after = (copy_model(x).argmax(1) == y).double().mean().item()
    assert result.accuracy_before == before and result.accuracy_after == after
    assert result.drop == pytest.approx(before - after)
    assert result.drop >= ABLATION_SMALL_DROP        # this net's first layer learnt something
    f = diagnose(converged[1], ablation=result).finding("reliance_on_upper_layers")
    assert f.label == "early layers matter" and f.numbers["drop"] == pytest.approx(before - after)
    # a fresh random draw is a different measurement
    rand = ablate(trainer.model, 1, x, y, mode="random", seed=12345)
    assert rand.accuracy_before == before and rand.mode == "random"
    with pytest.raises(ValueError):
        ablate(trainer.model, 3, x, y, initial_state=trainer.initial_state)   # the output layer stays


def test_ablation_small_drop_when_early_layers_did_not_learn():
    # a tanh net whose first 4 layers are put back to step 0 after every update: they never learn,
    # the upper layers do. Re-initialising them costs nothing.
    config = preset("deep-relu-he", depth=8, dataset="blobs", activation="tanh", init="default", lr=0.1)
    frozen = [f"{i}.{p}" for i in (0, 2, 4, 6) for p in ("weight", "bias")]

    def freeze(trainer):
        with torch.no_grad():
            for key in frozen:
                trainer.model.state_dict()[key].copy_(trainer.initial_state[key])

    trainer, history = train(config, 300, after_step=freeze)
    d, _, ab = diagnose_trainer(trainer, history, ablation_k=4)
    assert ab.accuracy_before - ab.chance >= ABLATION_ABOVE_CHANCE
    assert ab.drop == 0.0
    assert d.finding("reliance_on_upper_layers").label == "not learning"


def test_activation_stats_find_any_elementwise_activation_by_type():
    torch.manual_seed(0)
    shared = nn.ReLU()
    model = nn.Sequential(nn.Linear(2, 6), nn.LeakyReLU(0.1), nn.Linear(6, 5), nn.GELU(), nn.Linear(5, 4),
                          nn.Tanh(), nn.Linear(4, 4), shared, nn.Linear(4, 4), shared, nn.Linear(4, 3),
                          nn.Softmax(dim=1))
    with torch.no_grad():
        model[4].bias.fill_(4.0)                     # drive the tanh into saturation
    x = torch.randn(64, 2)
    stats = activation_stats(model, x)
    assert [(layer.name, layer.activation, layer.kind) for layer in stats.layers] == [
        ("hidden1", "LeakyReLU", "relu-like"), ("hidden2", "GELU", "relu-like"), ("hidden3", "Tanh", "tanh"),
        ("hidden4", "ReLU", "relu"), ("hidden5", "ReLU", "relu")]    # Softmax is not element-wise
    with torch.no_grad():
        z = model[4](model[3](model[2](model[1](model[0](x)))))
        t = torch.tanh(z)
    assert stats.layers[2].saturated_fraction == pytest.approx((t.abs() > 0.99).double().mean().item())
    assert stats.layers[2].saturated_fraction > 0.3
    np.testing.assert_allclose(stats.layers[2].spread, t.double().std(0, unbiased=False).numpy())
    assert stats.layers[0].saturated_fraction is None and stats.layers[0].dead_fraction is not None
    assert stats.matrix("share").shape == (5, 6)
    assert np.isnan(stats.matrix("spread")[4, 4:]).all()       # narrower layers are padded
    # the model is left without hooks
    assert not any(m._forward_hooks for m in model.modules())


def test_compare_variants_only_offer_supported_changes():
    fields = RunConfig.field_names()
    v = compare_variants(preset("deep-sigmoid"))
    assert {"shallower", "relu", "he"} <= set(v)
    assert v["shallower"][1].depth == 2 and v["relu"][1].activation == "relu" and v["he"][1].init == "he"
    for _, config in v.values():
        changed = {k for k in fields if getattr(config, k) != getattr(preset("deep-sigmoid"), k)}
        assert len(changed) == 1 and config.seed == 0 and config.dataset == "spiral"
    assert ("residual" in v) == ("residual" in fields)
    assert ("batchnorm" in v) == any(f in fields for f in ("norm", "batchnorm", "batch_norm"))
    assert set(compare_variants(preset("deep-relu-he"))) >= {"shallower"}
    assert "relu" not in compare_variants(preset("deep-relu-he"))
    assert "shallower" not in compare_variants(preset("deep-relu-he", depth=1))


def test_fix_links_are_presets_by_name_and_only_available_ones_link():
    assert make_fix("relu", presets=["deep-relu-he"]) .available
    residual = make_fix("residual", presets=["deep-relu-he"])
    assert residual.preset == "deep-residual-relu30" and not residual.available
    assert make_fix("residual", presets=["deep-residual-relu30"]).available
    # presets other versions add are recognised by what their config does
    assert _config_demonstrates("batchnorm", {"norm": "batchnorm"})
    assert _config_demonstrates("residual", {"residual": True})
    assert _config_demonstrates("clipping", {"clip_norm": 1.0})
    assert not _config_demonstrates("clipping", {"clip_norm": 0.0})
    assert _config_demonstrates("gated", {"model": "lstm"})


def test_measuring_changes_neither_the_rng_nor_batchnorm_buffers():
    model = nn.Sequential(nn.Linear(2, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Dropout(0.5), nn.Linear(8, 2))
    model.train()
    x = torch.randn(32, 2)
    y = torch.randint(0, 2, (32,))
    buffers = {k: v.clone() for k, v in model.state_dict().items()}
    rng = torch.get_rng_state()
    activation_stats(model, x)
    ablate(model, 1, x, y, mode="random", seed=3)
    assert torch.equal(torch.get_rng_state(), rng)
    assert all(torch.equal(v, buffers[k]) for k, v in model.state_dict().items())


def test_a_recurrent_net_is_judged_by_its_gradient_through_time():
    """The vanilla RNN's ‖∂L/∂h_1‖/‖∂L/∂h_T‖ is ~1e-12 at T = 50: vanishing; the GRU's is ~0.2: healthy."""
    from vgviz.core.diagnose.verdict import diagnose
    from vgviz.core.measure.history import History
    from vgviz.core.presets import load_preset
    from vgviz.core.tasks import make_trainer

    verdicts, fixes = {}, {}
    for name in ("rnn-T50", "gru-T50", "lstm-T50-pytorch-gates"):
        config = load_preset(name).config
        trainer = make_trainer(config)
        stats = trainer.step()
        history = History(stats.n_layers)
        history.append(stats)
        d = diagnose(history, recurrent=True, config=config)
        g = d.finding("gradient_magnitude").numbers
        assert g["compared"] == ["h_1", "h_50"]
        assert g["ratio_first_to_last_timestep"] == pytest.approx(stats.timestep_grad[0] / stats.timestep_grad[-1])
        # δ through time is the same ratio
        assert d.finding("error_signal").numbers["ratio_first_to_last_hidden"] == pytest.approx(
            g["ratio_first_to_last_timestep"])
        verdicts[name], fixes[name] = d.verdict, [f.key for f in d.fixes]
    assert verdicts == {"rnn-T50": "vanishing", "gru-T50": "healthy", "lstm-T50-pytorch-gates": "vanishing"}
    # the fixes of a recurrent net are about time: gates for a plain RNN, the gate init for an LSTM
    # whose forget gate starts half closed — not ReLU or residual connections
    assert fixes["rnn-T50"][0] == "gated" and fixes["lstm-T50-pytorch-gates"][0] == "gate_init"
    assert not {"relu", "residual"} & set(fixes["rnn-T50"] + fixes["lstm-T50-pytorch-gates"])
    assert "σ(0) = 0.5" in diagnose(history, recurrent=True, config=config).causes[0]


def test_a_bfloat16_run_is_diagnosed_on_inputs_of_its_own_dtype():
    # the data set is float32; a bfloat16 model refused it ("mat1 and mat2 must have the same dtype")
    trainer = make_trainer(load_preset("deep-sigmoid").config.replace(depth=3, width=8, dtype="bfloat16"))
    history = History(4)
    for _ in range(3):
        history.append(trainer.step())
    assert activation_batch(trainer, 5).dtype == torch.bfloat16
    diagnosis, acts, ablation = diagnose_trainer(trainer, history, ablation_k=1)
    assert len(acts.layers) == 3 and ablation is not None
