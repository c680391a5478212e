"""Trainer: the vanishing-gradient signal itself, reproducibility, measure(), divergence."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from vgviz.core.presets import load_preset
from vgviz.core.tasks import make_trainer


def preset(name: str, **changes):
    config = load_preset(name).config
    return config.replace(**changes) if changes else config


def weights(trainer):
    return {k: v.detach().clone() for k, v in trainer.model.state_dict().items()}


def same_weights(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_deep_sigmoid_first_layer_gradient_vanishes():
    stats = make_trainer(preset("deep-sigmoid")).measure()
    assert stats.layer_names[-1] == "output"
    first, last_hidden = stats.grad_mean_abs[0], stats.grad_mean_abs[-2]
    assert 0 < first < last_hidden / 100
    # and it shrinks going back through the hidden layers, layer by layer
    hidden = stats.grad_mean_abs[:-1]
    assert np.all(np.diff(hidden) > 0)


def test_deep_relu_he_keeps_gradient_size():
    stats = make_trainer(preset("deep-relu-he")).measure()
    ratio = stats.grad_mean_abs[0] / stats.grad_mean_abs[-2]
    assert 0.1 < ratio < 10


def test_stats_shapes_and_names():
    config = preset("deep-sigmoid", depth=3, width=5)
    stats = make_trainer(config).step()
    assert stats.step == 0
    assert stats.layer_names == ("hidden1", "hidden2", "hidden3", "output")
    assert stats.n_layers == 4
    for arr in (stats.grad_mean_abs, stats.grad_l2, stats.delta_l2):
        assert arr.shape == (4,) and np.all(np.isfinite(arr)) and np.all(arr > 0)
    assert [d.shape for d in stats.delta_mean_abs] == [(5,), (5,), (5,), (2,)]
    assert [e.shape for e in stats.edge_abs] == [(5, 2), (5, 5), (5, 5), (2, 5)]
    assert 0.0 <= stats.accuracy <= 1.0
    assert np.isfinite(stats.loss)
    # eval_every=50: the test set is scored at step 0, not at step 1
    assert stats.test_loss is not None and 0.0 <= stats.test_accuracy <= 1.0


def test_test_set_is_scored_every_eval_every_steps():
    trainer = make_trainer(preset("shallow-sigmoid", eval_every=3))
    scored = [s.step for s in (trainer.step() for _ in range(7)) if s.test_loss is not None]
    assert scored == [0, 3, 6]


def test_same_config_and_seed_give_identical_stats():
    config = preset("deep-sigmoid", depth=4)
    a, b = make_trainer(config), make_trainer(config)
    for _ in range(3):
        sa, sb = a.step(), b.step()
        assert sa == sb
    c = make_trainer(config.replace(seed=1))
    assert make_trainer(config).step() != c.step()


def test_global_rng_is_neither_used_nor_changed():
    config = preset("deep-relu-he", depth=3)
    torch.manual_seed(1234)
    np.random.seed(1234)
    t_state, np_state = torch.get_rng_state(), np.random.get_state()[1].copy()
    a = make_trainer(config)
    a.step()
    assert torch.equal(torch.get_rng_state(), t_state)
    assert np.array_equal(np.random.get_state()[1], np_state)
    torch.manual_seed(1)
    w1 = weights(make_trainer(config))
    torch.manual_seed(99)
    w2 = weights(make_trainer(config))
    assert same_weights(w1, w2)


def test_batch_depends_only_on_seed_and_step():
    config = preset("deep-sigmoid")
    a, b = make_trainer(config), make_trainer(config)
    assert np.array_equal(a.batch_indices(5), b.batch_indices(5))
    assert not np.array_equal(a.batch_indices(5), a.batch_indices(6))
    idx = a.batch_indices(5)
    assert len(idx) == config.batch_size and len(set(idx.tolist())) == len(idx)
    full = make_trainer(config.replace(batch_size=4096))
    assert np.array_equal(full.batch_indices(3), np.arange(len(full.data.x_train)))


def test_measure_changes_no_weights_and_equals_next_step():
    trainer = make_trainer(preset("deep-relu-he", depth=4))
    trainer.step()
    before = weights(trainer)
    measured = trainer.measure()
    assert same_weights(before, weights(trainer))
    assert trainer.step_count == 1
    assert trainer.measure() == measured          # measuring twice changes nothing
    stepped = trainer.step()
    assert stepped.update_ratio is not None and measured.update_ratio is None  # step() also measures its update
    assert np.isnan(measured.param_stats[5]).all() and np.isfinite(stepped.param_stats[5]).all()
    unstepped = stepped.param_stats.copy()
    unstepped[5] = np.nan
    # the same numbers; only the flag differs: no update follows a measurement (steps_done counts on it)
    assert dataclasses.replace(stepped, update_ratio=None, param_stats=unstepped, measured_only=True) == measured
    assert stepped.step == 1 and trainer.step_count == 2
    assert not same_weights(before, weights(trainer))  # step() did update


def test_measure_with_adam_leaves_optimizer_state_alone():
    trainer = make_trainer(preset("deep-relu-he", depth=3, optimizer="adam", lr=0.01))
    trainer.measure()
    assert len(trainer.optimizer.state) == 0
    first = trainer.step()
    assert len(trainer.optimizer.state) > 0
    assert not first.diverged


def test_diverging_lr_is_reported_not_raised():
    trainer = make_trainer(preset("deep-relu-he", lr=10.0))
    seen = [trainer.step() for _ in range(15)]
    flagged = [s for s in seen if s.diverged]
    assert flagged, "lr=10 on an 8-layer ReLU net should diverge within 15 steps"
    assert trainer.diverged
    s = flagged[0]
    assert not (np.isfinite(s.loss) and np.all(np.isfinite(s.grad_l2)))
    assert s.test_loss is None  # not scored once diverged
    # no update is applied by a diverged step
    frozen = weights(trainer)
    again = trainer.step()
    assert again.diverged
    assert same_weights(frozen, weights(trainer))


# (An inf weight in front of a sigmoid merely saturates it: loss and gradients stay
# finite, so that is not a divergence by StepStats' definition. Behind a ReLU the
# inf reaches the next layer as inf - inf = nan.)
@pytest.mark.parametrize("name, poison", [("deep-sigmoid", float("nan")), ("deep-relu-he", float("inf"))])
def test_poisoned_weight_diverges_without_update(name, poison):
    trainer = make_trainer(preset(name, depth=3))
    with torch.no_grad():
        trainer.model[0].weight[0, 0] = poison
    before = weights(trainer)
    stats = trainer.step()
    assert stats.diverged and trainer.diverged
    assert trainer.step_count == 1
    assert same_weights_nan(before, weights(trainer))
    assert stats.grad_l2.shape == (4,)


def same_weights_nan(a, b):
    return all(torch.equal(torch.nan_to_num(a[k], nan=7.0), torch.nan_to_num(b[k], nan=7.0)) for k in a)


def test_healthy_steps_are_not_diverged():
    trainer = make_trainer(preset("shallow-sigmoid"))
    assert not any(trainer.step().diverged for _ in range(5))
    assert not trainer.diverged


def test_stats_arrays_are_read_only_copies():
    trainer = make_trainer(preset("deep-sigmoid", depth=2))
    stats = trainer.step()
    arrays = [stats.grad_mean_abs, stats.grad_l2, stats.delta_l2, *stats.delta_mean_abs, *stats.edge_abs]
    saved = [a.copy() for a in arrays]
    for a in arrays:
        with pytest.raises(ValueError):
            a[0] = 123.0
    with pytest.raises(dataclasses.FrozenInstanceError):
        stats.loss = 0.0
    for _ in range(3):
        trainer.step()
    assert all(np.array_equal(a, b) for a, b in zip(arrays, saved))


def test_stepstats_equality_is_array_aware():
    stats = make_trainer(preset("deep-sigmoid", depth=2)).step()
    same = dataclasses.replace(stats, grad_l2=stats.grad_l2.copy())
    assert same == stats
    bumped = stats.grad_l2.copy()
    bumped[1] *= 1.0001
    assert dataclasses.replace(stats, grad_l2=bumped) != stats
    edges = list(stats.edge_abs)
    edges[0] = edges[0] + 1e-3
    assert dataclasses.replace(stats, edge_abs=tuple(edges)) != stats
    assert dataclasses.replace(stats, edge_abs=None) != stats
    assert dataclasses.replace(stats, step=stats.step + 1) != stats
    nan_a = dataclasses.replace(stats, loss=float("nan"))
    nan_b = dataclasses.replace(stats, loss=float("nan"))
    assert nan_a == nan_b
    assert stats != "not stats"
    with pytest.raises(TypeError):
        hash(stats)


def test_a_few_steps_of_deep_relu_he_lower_the_loss():
    trainer = make_trainer(preset("deep-relu-he"))
    test_before, _ = trainer.evaluate()
    losses = [trainer.step().loss for _ in range(60)]
    test_after, _ = trainer.evaluate()
    assert test_after < test_before - 0.03
    assert np.mean(losses[-10:]) < np.mean(losses[:10])


def test_finished_after_config_steps():
    trainer = make_trainer(preset("shallow-sigmoid", steps=3))
    n = 0
    while not trainer.finished:
        trainer.step()
        n += 1
    assert n == 3



def test_a_light_step_keeps_the_history_numbers_and_skips_the_rest():
    from vgviz.core.measure.history import History

    full = make_trainer(load_preset("deep-sigmoid").config)
    light = make_trainer(load_preset("deep-sigmoid").config)
    a = full.step()
    b = light.step(full=False)
    assert a.is_full and not b.is_full
    assert b.loss == a.loss and b.accuracy == a.accuracy
    np.testing.assert_allclose(b.grad_l2, a.grad_l2, rtol=1e-6)
    np.testing.assert_allclose(b.grad_mean_abs, a.grad_mean_abs, rtol=1e-6)
    assert b.grad_norm_total == pytest.approx(a.grad_norm_total, rel=1e-6)
    assert b.edge_abs is None and b.delta_mean_abs == () and np.isnan(b.delta_l2).all()
    # the same update was applied: the next full steps agree
    assert light.step() == full.step()
    history = History(a.n_layers)
    history.append(a)
    history.append(b.__class__(**{**b.__dict__, "step": 1}))
    assert history.latest is a and list(history.steps) == [0, 1]  # views draw full stats only
