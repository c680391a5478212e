"""The verdict follows δ and the forward signal (Nielsen; Glorot & Bengio 2010; He et al. 2015):
the cases where the weight-gradient ratio alone was fooled, with δ and the activations' std
computed here independently in plain PyTorch."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from tests.core.test_diagnostics import preset, summarize, synthetic_history, train
from vgviz.core.diagnose.experiments import diagnose_trainer, shallower_comparison, train_summary
from vgviz.core.diagnose.numbers import fold_text, points_text, relation_text
from vgviz.core.diagnose.thresholds import FORWARD_BLOWUP, FORWARD_COLLAPSE, VANISHING_RATIO
from vgviz.core.diagnose.verdict import FINDING_KEYS, diagnose
from vgviz.core.measure.history import History
from vgviz.core.measure.stats import StepStats
from vgviz.core.tasks import make_trainer
from vgviz.core.tasks.trainer import make_loss


def independent_signals(trainer) -> tuple[np.ndarray, np.ndarray]:
    """‖∂L/∂z‖ of every Linear layer and the std of every hidden activation's output on the
    batch of the trainer's next step, by a layer-by-layer forward pass with retain_grad."""
    x = torch.from_numpy(trainer.data.x_train[trainer.batch_indices(trainer.step_count)])
    y = torch.from_numpy(trainer.data.y_train[trainer.batch_indices(trainer.step_count)])
    zs, acts, h = [], [], x
    layers = list(trainer.model)
    for i, layer in enumerate(layers):
        h = layer(h)
        if isinstance(layer, nn.Linear):
            h.retain_grad()
            zs.append(h)
        elif i + 1 == len(layers) or isinstance(layers[i + 1], nn.Linear):
            acts.append(h.detach())
    loss = make_loss(trainer.config.loss, trainer.data.n_classes)(h, y)
    trainer.model.zero_grad()
    loss.backward()
    delta = np.array([float(z.grad.double().norm()) for z in zs])
    std = np.array([float(a.double().std(correction=0)) for a in acts])
    return delta, std


@pytest.fixture(scope="module")
def relu30_xavier():
    """The issue's case: --preset relu30-xavier --steps 300."""
    trainer, history = train(preset("relu30-xavier"), 300)
    history.append(trainer.measure())             # the batch independent_signals() measures
    d, _, _ = diagnose_trainer(trainer, history, ablation_k=15)
    return trainer, history, d


def test_relu30_xavier_is_vanishing_and_names_init(relu30_xavier):
    trainer, history, d = relu30_xavier
    delta, std = independent_signals(trainer)
    error, forward = d.finding("error_signal"), d.finding("forward_signal")
    # the numbers are autograd's
    assert error.numbers["delta_l2"] == pytest.approx(delta.tolist(), rel=1e-4)
    assert error.numbers["ratio_first_to_last_hidden"] == pytest.approx(delta[0] / delta[-2], rel=1e-4)
    assert forward.numbers["activation_std"] == pytest.approx(std.tolist(), rel=1e-4)
    assert forward.numbers["ratio_last_to_first_hidden"] == pytest.approx(std[-1] / std[0], rel=1e-4)
    # δ shrinks ~1e-4 from hidden30 to hidden1
    assert delta[0] / delta[-2] < VANISHING_RATIO
    # the forward signal collapsed at step 0 — Xavier halves the variance through each ReLU, a
    # factor 1/√2 per layer in std — and 300 steps repaired it only partly
    _, std0 = independent_signals(make_trainer(trainer.config))
    assert forward.numbers["initial_ratio"] == pytest.approx(std0[-1] / std0[0], rel=1e-4)
    assert std0[-1] / std0[0] < FORWARD_COLLAPSE
    assert 0.6 < forward.numbers["initial_per_layer_factor"] < 0.8
    assert forward.label in ("collapses", "collapsed at step 0")
    assert forward.numbers["per_layer_factor"] == pytest.approx((std[-1] / std[0]) ** (1 / 29), rel=1e-4)
    # ... while the weight-gradient ratio, a·δ, stays in the healthy band: the old verdict's trap
    g = d.finding("gradient_magnitude")
    assert g.label == "healthy"
    assert d.verdict == "vanishing"
    assert "error signal δ" in d.headline and "hides it" in d.headline
    assert [f.key for f in d.fixes][0] == "init"
    assert "He init" in d.causes[0]


def test_relu30_xavier_with_a_shallower_counterpart_is_still_vanishing(relu30_xavier):
    """The issue: with --shallower 3 the verdict became 'degradation'."""
    trainer, history, _ = relu30_xavier
    baseline = train_summary(trainer.config.replace(depth=3, steps=300))
    d = diagnose(history, baseline=baseline)
    assert d.finding("training_performance").label == "deeper is worse"
    assert d.verdict == "vanishing"
    assert "init" in [f.key for f in d.fixes]


def test_deep_narrow_he_net_on_circles_is_vanishing_not_degradation():
    """The issue's second case: 60 ReLU layers of 16, He init, on circles, against depth 2."""
    config = preset("deep-relu-he", dataset="circles", depth=60, width=16, activation="relu", init="he",
                    lr=0.01, steps=600)
    trainer, history = train(config, 600)
    baseline = train_summary(config.replace(depth=2))
    d, _, _ = diagnose_trainer(trainer, history, baseline=baseline)
    error = d.finding("error_signal")
    assert error.numbers["ratio_first_to_last_hidden"] < 1e-3
    assert d.finding("training_performance").label == "deeper is worse"
    assert d.verdict == "vanishing" and "not vanishing" not in d.headline
    # the signal collapsed at step 0 although He init matches ReLU: depth × narrow width, not the init
    assert d.finding("forward_signal").numbers["initial_ratio"] < FORWARD_COLLAPSE
    assert "he init matches relu" in d.causes[0] and "16 units" in d.causes[0]
    assert d.fixes[0].key == "batchnorm"


def test_exploding_preset_blows_up_forward_and_names_init():
    trainer, history = train(preset("exploding"), 1)
    d = diagnose(history)
    forward = d.finding("forward_signal")
    assert forward.label == "blows up"
    assert forward.numbers["ratio_last_to_first_hidden"] >= FORWARD_BLOWUP
    assert d.verdict == "exploding" and d.fixes[0].key == "init"


# -- the thresholds, on hand-made numbers --------------------------------------------------------
def stats(step, delta, std, grads=None) -> StepStats:
    delta = np.asarray(delta, float)
    n = len(delta)
    grads = np.full(n, 1e-3) if grads is None else np.asarray(grads, float)
    return StepStats(step=step, loss=0.5, accuracy=0.7, diverged=False,
                     layer_names=tuple([f"hidden{i + 1}" for i in range(n - 1)] + ["output"]),
                     grad_mean_abs=grads, grad_l2=grads, delta_l2=delta,
                     delta_mean_abs=tuple(np.ones(2) for _ in range(n)), edge_abs=None,
                     activation_std=np.asarray(std, float))


def history_of(*rows) -> History:
    h = History(len(rows[0].layer_names))
    for s in rows:
        h.append(s)
    return h


@pytest.mark.parametrize("ratio, label", [(0.0099, "vanishing"), (0.0101, "healthy"), (99.0, "healthy"),
                                          (100.0, "exploding")])
def test_delta_ratio_threshold(ratio, label):
    h = history_of(stats(0, [ratio, 1.0, 1.0, 2.0], [1, 1, 1]))
    f = diagnose(h).finding("error_signal")
    assert f.numbers["ratio_first_to_last_hidden"] == pytest.approx(ratio)
    assert f.numbers["per_layer_factor"] == pytest.approx(ratio ** 0.5)
    assert f.label == label


@pytest.mark.parametrize("ratio, label, verdict", [(0.0099, "collapses", "vanishing"), (0.0101, "healthy", "healthy"),
                                                   (100.0, "blows up", "exploding")])
def test_forward_ratio_threshold(ratio, label, verdict):
    h = history_of(stats(0, [1.0, 1.0, 1.0, 2.0], [2.0, 1.0, 2.0 * ratio]))
    d = diagnose(h)
    f = d.finding("forward_signal")
    assert f.numbers["ratio_last_to_first_hidden"] == pytest.approx(ratio)
    assert f.label == label and d.verdict == verdict
    assert ("init" in [x.key for x in d.fixes]) == (label != "healthy")


def test_initial_ratios_come_from_the_first_capture_and_findings_are_in_order():
    h = history_of(stats(0, [1e-4, 1.0, 1.0, 1.0], [1.0, 0.1, 1e-3]), stats(1, [0.5, 1.0, 1.0, 1.0], [1, 1, 1]))
    d = diagnose(h)
    assert [f.key for f in d.findings] == list(FINDING_KEYS)
    assert d.finding("error_signal").numbers["initial_ratio"] == pytest.approx(1e-4)
    assert d.finding("forward_signal").numbers["initial_ratio"] == pytest.approx(1e-3)
    assert d.finding("error_signal").label == "healthy"          # judged now, step 0 told
    assert "at step 0" in d.finding("error_signal").summary


def test_degradation_only_when_delta_and_forward_signal_are_healthy():
    deep = [stats(i, [1.0, 1.0, 1.0, 1.0], [1, 1, 1]) for i in range(60)]
    base = summarize(synthetic_history([[1e-3] * 3] * 60, accuracies=np.full(60, 0.99)))
    assert diagnose(history_of(*deep), baseline=base).verdict == "degradation"
    sick = deep[:-1] + [stats(59, [1e-3, 1.0, 1.0, 1.0], [1, 1, 1])]
    assert diagnose(history_of(*sick), baseline=base).verdict == "vanishing"
    collapsed = deep[:-1] + [stats(59, [1.0, 1.0, 1.0, 1.0], [1, 0.1, 1e-3])]
    assert diagnose(history_of(*collapsed), baseline=base).verdict == "vanishing"


# -- wording -----------------------------------------------------------------------------------
def test_wording_is_plain():
    assert relation_text(0.82, "hidden8") == "about as much gradient as hidden8"
    assert relation_text(0.3, "hidden8") == "3.3× less gradient than hidden8"
    assert relation_text(3.2, "hidden8") == "3.2× the gradient of hidden8"
    assert fold_text(1.22) == "1.2×" and fold_text(7215) == "7,215×"
    assert points_text(0.81) == "81.0 points lower accuracy"
    assert points_text(-0.05) == "5.0 points higher accuracy"


def test_performance_says_points_lower_and_names_the_data():
    deep = synthetic_history([[1e-3] * 4] * 60, accuracies=np.full(60, 0.19))
    base = summarize(synthetic_history([[1e-3] * 3] * 60, accuracies=np.full(60, 1.0)))
    f = diagnose(deep, baseline=base).finding("training_performance")
    assert "81.0 points lower accuracy" in f.summary and "+81" not in f.summary
    assert "training-batch accuracy" in f.summary and f.numbers["measured_on"].startswith("training batches")


# -- several seeds -------------------------------------------------------------------------------
def test_shallower_over_seeds_reports_the_spread():
    config = preset("deep-relu-he", depth=6, width=16, steps=40)
    trainer, history = train(config, 40)
    baseline, spread = shallower_comparison(config, config.replace(depth=2), 3, history)
    assert spread.seeds == (config.seed, config.seed + 1, config.seed + 2)
    assert spread.deeper[0] == summarize(history, f"depth {config.depth}")
    assert spread.deeper[2] == train_summary(config.replace(seed=config.seed + 2))
    assert spread.shallower[1] == train_summary(config.replace(depth=2, seed=config.seed + 1))
    acc = [r.train_accuracy for r in spread.deeper]
    assert spread.accuracy_spread(spread.deeper) == pytest.approx(max(acc) - min(acc))
    assert baseline.train_accuracy == pytest.approx(np.mean([r.train_accuracy for r in spread.shallower]))
    d = diagnose(history, baseline=baseline, seeds=spread)
    f = d.finding("training_performance")
    assert f.numbers["seed_train_accuracy"] == pytest.approx(acc)
    assert f.numbers["accuracy_spread"] == pytest.approx(max(acc) - min(acc))
    assert f.numbers["train_accuracy"] == pytest.approx(np.mean(acc))
    assert "over 3 seeds" in f.summary
    assert d.to_dict()["seeds"]["seeds"] == list(spread.seeds)
    assert math.isfinite(d.to_dict()["baseline"]["train_accuracy"])


# -- the README's table is the code's ------------------------------------------------------------
SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def spellings(value: float) -> set[str]:
    """The ways the README writes a threshold: 0.01, 100, 2 %, 5 points, 10⁻³, 6·10⁻⁸."""
    out = {f"{value:g}", f"{value * 100:g} %", f"{value * 100:g} points"}
    mantissa, exponent = f"{value:e}".split("e")
    m, e = float(mantissa), int(exponent)
    out.add(("" if m == 1 else f"{m:g}·") + "10" + str(e).translate(SUPERSCRIPT))
    return out


README_ROWS = {"error signal δ by layer": "error_signal", "forward signal by layer": "forward_signal",
               "gradient magnitude by layer": "gradient_magnitude", "loss plateau": "loss_plateau",
               "training performance": "training_performance", "unresponsive neurons": "unresponsive_neurons",
               "reliance on upper layers": "reliance_on_upper_layers", "speed of learning": "speed_of_learning"}


def test_readme_table_of_findings_matches_the_thresholds():
    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    table = readme[readme.index("### The eight findings and their thresholds"):readme.index("Why three ratios")]
    rows = {line.split("|")[1].strip(): line for line in table.splitlines()
            if line.startswith("| ") and "---" not in line and not line.startswith("| finding")}
    assert {README_ROWS[name] for name in rows} == set(FINDING_KEYS)
    findings = {f.key: f for f in diagnose(history_of(stats(0, [1.0, 1.0, 1.0, 2.0], [1, 1, 1]))).findings}
    for name, row in rows.items():
        for threshold, value in findings[README_ROWS[name]].thresholds.items():
            assert any(s in row for s in spellings(float(value))), (name, threshold, value)


def test_a_net_healthy_now_whose_signal_collapsed_at_step_0_names_the_init():
    """relu30-xavier trained long enough: δ has recovered, the loss is still at chance, and
    the cause is the init's collapse at step 0 — neither 'look at the learning rate' nor
    degradation."""
    start = stats(0, [1.0, 1.0, 1.0, 1.0], [1.0, 1e-2, 1e-4])
    now = [stats(i, [0.5, 1.0, 1.0, 1.0], [1.0, 0.5, 0.2]) for i in range(1, 300)]
    history = history_of(start, *now)
    base = summarize(synthetic_history([[1e-3] * 3] * 300, accuracies=np.full(300, 0.99)))
    d = diagnose(history, baseline=base)
    assert d.finding("forward_signal").label == "collapsed at step 0"
    assert d.verdict == "healthy" and "at step 0 the forward signal collapsed" in d.headline
    assert d.fixes[0].key == "init" and "learning rate" not in d.headline
