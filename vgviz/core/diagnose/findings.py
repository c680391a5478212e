"""The eight findings of a run, each with the numbers behind it and the threshold it was judged by."""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..measure.history import History
from ..measure.steps import step_label, step_text
from .measures import AblationResult, ActivationStats, RunSummary, SeedSpread, summarize
from .numbers import (fold_text, json_ready, nanmean, nanmean_axis0, nanmedian, names_text, order_of_magnitude,
                      points_text, rows_within)
from .thresholds import (ABLATION_ABOVE_CHANCE, ABLATION_SMALL_DROP, CONVERGED_ACCURACY, CONVERGED_LOSS,
                         DEAD_LAYER, EXPLODING_GRAD, EXPLODING_RATIO, FLOAT32_RESOLUTION, FORWARD_BLOWUP,
                         FORWARD_COLLAPSE, GRADIENT_WINDOW,
                         PLATEAU_MIN_STEPS, PLATEAU_REL_CHANGE, PLATEAU_WINDOW, POOR_ACCURACY,
                         SATURATED_LAYER, SIGMOID_HIGH, SIGMOID_LOW, SPREAD_FLOOR, TANH_LIMIT, UPDATE_FAST,
                         UPDATE_RULE_OF_THUMB, UPDATE_SLOW, VANISHING_RATIO, WORSE_ACCURACY, WORSE_LOSS,
                         WORSE_LOSS_REL)


@dataclass(frozen=True)
class Finding:
    key: str               # gradient_magnitude, loss_plateau, training_performance, unresponsive_neurons,
                           # reliance_on_upper_layers, speed_of_learning
    title: str
    status: str            # ok, warn, bad, info, n/a: how a view colours it
    label: str             # one or two words: vanishing, plateau, converged …
    summary: str           # one sentence with the numbers
    numbers: dict = field(default_factory=dict)
    thresholds: dict = field(default_factory=dict)
    short: str = ""        # the key number(s) for a table cell
    rule: str = ""         # the threshold it was judged by, for a table cell

    def to_dict(self) -> dict[str, Any]:
        return json_ready({"key": self.key, "title": self.title, "status": self.status, "label": self.label,
                       "summary": self.summary, "value": self.short, "rule": self.rule,
                       "numbers": self.numbers, "thresholds": self.thresholds})


def gradient_finding(history: History, names: list[str]) -> Finding:
    rows = rows_within(history, GRADIENT_WINDOW)
    g = history.grad_mean_abs[rows]
    latest = history.latest
    non_finite = bool(latest.diverged or not np.isfinite(g).all() or not math.isfinite(latest.loss))
    finite = np.where(np.isfinite(g), g, np.nan)
    per_layer = nanmedian(finite, axis=0)
    n = len(names)
    ref = n - 2 if n >= 3 else n - 1
    numbers: dict[str, Any] = {
        "layers": names, "grad_mean_abs": per_layer.tolist(),
        "order_of_magnitude": [order_of_magnitude(v) for v in per_layer],
        "compared": [names[0], names[ref]], "window_steps": int(history.steps[-1] - history.steps[rows][0] + 1),
        "last_step": int(history.steps[-1]), "non_finite": non_finite,
        "median_grad_mean_abs": float(np.nanmedian(per_layer)) if np.isfinite(per_layer).any() else None,
        "ratio_first_to_last_hidden": None, "fold_less": None,
    }
    thresholds = {"vanishing_ratio": VANISHING_RATIO, "exploding_ratio": EXPLODING_RATIO,
                  "exploding_grad_mean_abs": EXPLODING_GRAD, "window_steps": GRADIENT_WINDOW}
    ratio = None
    if n >= 2:
        a, b = finite[:, 0], finite[:, ref]
        with np.errstate(divide="ignore", invalid="ignore"):
            r = np.where(b > 0, a / b, np.where(a > 0, np.inf, 0.0))
        r = r[~np.isnan(a) & ~np.isnan(b)]
        if len(r):
            ratio = float(np.median(r))
            numbers["ratio_first_to_last_hidden"] = ratio
            numbers["fold_less"] = (1 / ratio) if ratio > 0 else None
    timestep = getattr(latest, "timestep_grad", None)
    if timestep is not None and len(timestep) >= 2 and np.isfinite(timestep).all() and not non_finite:
        # a recurrent net: the depth that matters is time — compare ‖∂L/∂h_1‖ with ‖∂L/∂h_T‖
        first, last = float(timestep[0]), float(timestep[-1])
        ratio = first / last if last > 0 else (math.inf if first > 0 else 0.0)
        numbers.update({"compared": ["h_1", f"h_{len(timestep)}"], "ratio_first_to_last_timestep": ratio,
                        "ratio_first_to_last_hidden": ratio, "fold_less": (1 / ratio) if ratio > 0 else None})
    typical = numbers["median_grad_mean_abs"]
    orders = [o for o in numbers["order_of_magnitude"] if o is not None]
    span = f"; orders of magnitude 1e{min(orders)} … 1e{max(orders)}" if orders else ""
    if non_finite:
        return Finding("gradient_magnitude", "Gradient magnitude by layer", "bad", "exploding",
                       f"non-finite loss or gradient (NaN/inf) by step {numbers['last_step']}{span}",
                       numbers, thresholds)
    if ratio is None:
        return Finding("gradient_magnitude", "Gradient magnitude by layer", "ok", "healthy",
                       f"one layer only: mean |dL/dW| {typical:.2g}", numbers, thresholds)
    if ratio >= EXPLODING_RATIO or (typical is not None and typical >= EXPLODING_GRAD):
        why = (f"{names[0]} gets {ratio:.3g}× the gradient of {names[ref]} (≥ {EXPLODING_RATIO:g}×)"
               if ratio >= EXPLODING_RATIO else
               f"median layer mean |dL/dW| {typical:.3g} ≥ {EXPLODING_GRAD:g}")
        return Finding("gradient_magnitude", "Gradient magnitude by layer", "bad", "exploding",
                       why + span, numbers, thresholds)
    lo_name, hi_name = numbers["compared"]
    if ratio <= VANISHING_RATIO:
        why = (f"{lo_name} gets no gradient at all" if ratio == 0 else
               f"{lo_name} gets {fold_text(1 / ratio)} less gradient than {hi_name} "
               f"(ratio {ratio:.2g} ≤ {VANISHING_RATIO:g})")
        return Finding("gradient_magnitude", "Gradient magnitude by layer", "bad", "vanishing",
                       why + span, numbers, thresholds)
    return Finding("gradient_magnitude", "Gradient magnitude by layer", "ok", "healthy",
                   f"ratio {lo_name}/{hi_name} = {ratio:.3g}, within {VANISHING_RATIO:g} … {EXPLODING_RATIO:g}"
                   + span, numbers, thresholds)


def _first_to_last(values: np.ndarray, last: int) -> tuple[float | None, float | None]:
    """values[0] / values[last] and the factor per layer it compounds from (None if not finite)."""
    a, b = float(values[0]), float(values[last])
    if not (math.isfinite(a) and math.isfinite(b)):
        return None, None
    ratio = a / b if b > 0 else (math.inf if a > 0 else 1.0)
    factor = ratio ** (1 / last) if 0 < ratio < math.inf else None
    return ratio, factor


def _per_layer(factor: float | None) -> str:
    return f"; ×{factor:.2g} per layer" if factor is not None else ""


def error_signal_finding(history: History, names: list[str]) -> Finding:
    """δ = ∂L/∂z, the error signal at each layer's pre-activation (Nielsen's δ; the bias
    gradient is its sum over the batch), first hidden layer against the last one: unlike
    |dL/dW| = |a·δ| it is not propped up by a shrinking forward signal a."""
    title = "Error signal δ by layer"
    thresholds = {"vanishing_ratio": VANISHING_RATIO, "exploding_ratio": EXPLODING_RATIO}
    latest = history.latest
    if latest is None or not latest.is_full:
        return Finding("error_signal", title, "n/a", "not measured", "no full capture (δ per layer) yet",
                       {"layers": names}, thresholds)
    timestep = latest.timestep_grad
    if timestep is not None and len(timestep) >= 2:
        # a recurrent net: δ travels back through time, so compare ‖∂L/∂h_1‖ with ‖∂L/∂h_T‖
        values, compared, last = np.asarray(timestep, float), ["h_1", f"h_{len(timestep)}"], len(timestep) - 1
        first = history.first.timestep_grad if history.first is not None else None
    elif len(names) >= 3:
        values, compared, last = np.asarray(latest.delta_l2, float), [names[0], names[-2]], len(names) - 2
        first = history.first.delta_l2 if history.first is not None else None
    else:
        return Finding("error_signal", title, "n/a", "one layer", "one hidden layer only: δ has no depth to shrink over",
                       {"layers": names}, thresholds)
    ratio, factor = _first_to_last(values, last)
    initial, _ = _first_to_last(np.asarray(first, float), last) if first is not None and len(first) > last else (None, None)
    numbers: dict[str, Any] = {"layers": names, "delta_l2": values.tolist(), "compared": compared,
                               "step": int(latest.step), "ratio_first_to_last_hidden": ratio,
                               "per_layer_factor": factor, "initial_ratio": initial}
    at_start = f"; at step 0 {initial:.2g}" if initial is not None and history.first.step == 0 else ""
    lo, hi = compared
    if ratio is None:
        return Finding("error_signal", title, "bad", "exploding", f"δ is not finite (NaN/inf) at {step_label(latest)}",
                       numbers, thresholds)
    if ratio <= VANISHING_RATIO:
        return Finding("error_signal", title, "bad", "vanishing",
                       f"‖δ‖ at {lo} is {fold_text(1 / ratio) if ratio > 0 else '∞×'} smaller than at {hi} "
                       f"(ratio {ratio:.2g} ≤ {VANISHING_RATIO:g}{_per_layer(factor)}{at_start})", numbers, thresholds)
    if ratio >= EXPLODING_RATIO:
        return Finding("error_signal", title, "bad", "exploding",
                       f"‖δ‖ at {lo} is {ratio:.3g}× that at {hi} (≥ {EXPLODING_RATIO:g}{_per_layer(factor)}"
                       f"{at_start}): it grows toward the input", numbers, thresholds)
    return Finding("error_signal", title, "ok", "healthy",
                   f"‖δ‖ ratio {lo}/{hi} = {ratio:.3g}, within {VANISHING_RATIO:g} … {EXPLODING_RATIO:g}"
                   f"{_per_layer(factor)}{at_start}", numbers, thresholds)


def forward_signal_finding(history: History, names: list[str]) -> Finding:
    """The forward signal: the std of each hidden layer's output, last hidden layer against
    the first. A collapse (or blow-up) across depth is what a bad init does (Glorot & Bengio
    2010; He et al. 2015), and it shrinks |dL/dW| = |a·δ| whatever δ does."""
    title = "Forward signal (activation std) by layer"
    thresholds = {"collapse_ratio": FORWARD_COLLAPSE, "blowup_ratio": FORWARD_BLOWUP}
    latest = history.latest
    stds = latest.activation_std if latest is not None and latest.is_full else None
    hidden = min(len(stds), len(names) - 1) if stds is not None else 0
    if hidden < 2:
        why = ("fewer than two hidden layers: nothing to compare across depth" if stds is not None else
               "no full capture (activation std per layer) yet")
        return Finding("forward_signal", title, "n/a", "not measured", why, {"layers": names}, thresholds)
    values = np.asarray(stds[:hidden], float)
    inverse, factor = _first_to_last(values, hidden - 1)       # first / last
    ratio = (1 / inverse if inverse else math.inf) if inverse is not None else None
    first = history.first.activation_std if history.first is not None else None
    initial = None
    if first is not None and len(first) >= hidden:
        inv0, _ = _first_to_last(np.asarray(first[:hidden], float), hidden - 1)
        initial = (1 / inv0 if inv0 else math.inf) if inv0 is not None else None
    factor = 1 / factor if factor else None
    lo, hi = names[0], names[hidden - 1]
    numbers: dict[str, Any] = {"layers": names[:hidden], "activation_std": values.tolist(), "compared": [hi, lo],
                               "step": int(latest.step), "ratio_last_to_first_hidden": ratio,
                               "per_layer_factor": factor, "initial_ratio": initial}
    at_start = f"; at step 0 {initial:.2g}" if initial is not None and history.first.step == 0 else ""
    if ratio is None:
        return Finding("forward_signal", title, "bad", "blows up",
                       f"the activations are not finite (NaN/inf) at {step_label(latest)}", numbers, thresholds)
    if ratio <= FORWARD_COLLAPSE:
        return Finding("forward_signal", title, "bad", "collapses",
                       f"the output std falls from {values[0]:.2g} at {lo} to {values[-1]:.2g} at {hi} "
                       f"(ratio {ratio:.2g} ≤ {FORWARD_COLLAPSE:g}{_per_layer(factor)}{at_start}): "
                       "the init scales each layer's signal down", numbers, thresholds)
    if ratio >= FORWARD_BLOWUP:
        return Finding("forward_signal", title, "bad", "blows up",
                       f"the output std grows from {values[0]:.2g} at {lo} to {values[-1]:.2g} at {hi} "
                       f"(ratio {ratio:.3g} ≥ {FORWARD_BLOWUP:g}{_per_layer(factor)}{at_start}): "
                       "the init scales each layer's signal up", numbers, thresholds)
    now = (f"output std {values[0]:.2g} at {lo}, {values[-1]:.2g} at {hi} (ratio {ratio:.3g}, within "
           f"{FORWARD_COLLAPSE:g} … {FORWARD_BLOWUP:g}{_per_layer(factor)}")
    if initial is not None and (initial <= FORWARD_COLLAPSE or initial >= FORWARD_BLOWUP):
        # the init's doing, partly repaired by training: δ may still carry the damage
        numbers["initial_per_layer_factor"] = initial ** (1 / (hidden - 1)) if 0 < initial < math.inf else None
        went = "collapsed" if initial <= FORWARD_COLLAPSE else "blew up"
        return Finding("forward_signal", title, "warn", f"{went} at step 0",
                       f"{now}); at step 0 it {went} (ratio {initial:.2g}{_per_layer(numbers['initial_per_layer_factor'])})",
                       numbers, thresholds)
    return Finding("forward_signal", title, "ok", "healthy", f"{now}{at_start})", numbers, thresholds)


def plateau_finding(history: History, n_classes: int) -> tuple[Finding, bool]:
    now = rows_within(history, GRADIENT_WINDOW)
    loss_now, acc_now = nanmean(history.loss[now]), nanmean(history.accuracy[now])
    rows = rows_within(history, PLATEAU_WINDOW)
    steps = history.steps[rows]
    covered = int(steps[-1] - steps[0])
    numbers: dict[str, Any] = {"loss_now": loss_now, "accuracy_now": acc_now, "window_steps": covered,
                               "chance_loss": math.log(max(n_classes, 2)), "relative_change": None}
    thresholds = {"plateau_window": PLATEAU_WINDOW, "plateau_rel_change": PLATEAU_REL_CHANGE,
                  "poor_accuracy": POOR_ACCURACY, "converged_loss": CONVERGED_LOSS,
                  "converged_accuracy": CONVERGED_ACCURACY}
    converged = (math.isfinite(loss_now) and loss_now <= CONVERGED_LOSS and acc_now >= CONVERGED_ACCURACY)
    title = "Loss plateau"
    if converged:
        return Finding("loss_plateau", title, "ok", "converged",
                       f"loss {loss_now:.3g} ≤ {CONVERGED_LOSS:g} and accuracy {acc_now:.0%} ≥ "
                       f"{CONVERGED_ACCURACY:.0%}: small gradients here mean convergence, not vanishing",
                       numbers, thresholds), True
    if covered < PLATEAU_MIN_STEPS:
        return Finding("loss_plateau", title, "n/a", "too early",
                       f"{covered} steps so far; a plateau is judged over {PLATEAU_WINDOW} steps "
                       f"(at least {PLATEAU_MIN_STEPS})", numbers, thresholds), False
    quarter = max(1, covered // 4)
    loss = history.loss[rows]
    early = nanmean(loss[steps <= steps[0] + quarter])
    late = nanmean(loss[steps >= steps[-1] - quarter])
    change = (early - late) / abs(early) if early and math.isfinite(early) and math.isfinite(late) else 0.0
    numbers.update(loss_early=early, loss_late=late, relative_change=change)
    flat = change < PLATEAU_REL_CHANGE
    if flat and acc_now < POOR_ACCURACY:
        return Finding("loss_plateau", title, "bad", "plateau",
                       f"loss {early:.4g} → {late:.4g} over {covered} steps ({change:+.1%} < "
                       f"{PLATEAU_REL_CHANGE:.0%}) while accuracy is {acc_now:.0%} < {POOR_ACCURACY:.0%}"
                       f" (chance loss ln {max(n_classes, 2)} = {numbers['chance_loss']:.3f})",
                       numbers, thresholds), False
    if flat:
        return Finding("loss_plateau", title, "warn", "flat",
                       f"loss {early:.4g} → {late:.4g} over {covered} steps ({change:+.1%}); accuracy "
                       f"{acc_now:.0%} is not poor but not converged", numbers, thresholds), False
    return Finding("loss_plateau", title, "ok", "improving",
                   f"loss {early:.4g} → {late:.4g} over {covered} steps ({change:+.1%} ≥ {PLATEAU_REL_CHANGE:.0%})",
                   numbers, thresholds), False


def performance_finding(history: History, baseline: RunSummary | None,
                        seeds: SeedSpread | None = None) -> tuple[Finding, bool]:
    """This net against a shallower counterpart on training loss and training-batch accuracy
    (means of the last GRADIENT_WINDOW steps); over several seeds when `seeds` is given,
    since a deep plain net's result moves with the last bit of its arithmetic."""
    title = "Training performance vs a shallower net"
    thresholds = {"worse_accuracy": WORSE_ACCURACY, "worse_loss": WORSE_LOSS, "worse_loss_rel": WORSE_LOSS_REL}
    me = summarize(history)
    numbers: dict[str, Any] = {"n_layers": me.n_layers, "steps": me.steps, "train_loss": me.train_loss,
                               "train_accuracy": me.train_accuracy,
                               "measured_on": f"training batches, mean of the last {GRADIENT_WINDOW} steps"}
    if seeds is not None:
        me, baseline = seeds.mean_deeper, seeds.mean_shallower
        numbers.update(seeds=list(seeds.seeds), train_loss=me.train_loss, train_accuracy=me.train_accuracy,
                       seed_train_accuracy=[r.train_accuracy for r in seeds.deeper],
                       seed_train_loss=[r.train_loss for r in seeds.deeper],
                       baseline_seed_train_accuracy=[r.train_accuracy for r in seeds.shallower],
                       baseline_seed_train_loss=[r.train_loss for r in seeds.shallower],
                       accuracy_spread=seeds.accuracy_spread(seeds.deeper),
                       baseline_accuracy_spread=seeds.accuracy_spread(seeds.shallower))
    if baseline is None:
        return Finding("training_performance", title, "n/a", "not run",
                       "no shallower counterpart has been run (diagnostics panel: “Train shallower”, or Compare)",
                       numbers, thresholds), False
    numbers.update(baseline_label=baseline.label, baseline_n_layers=baseline.n_layers,
                   baseline_steps=baseline.steps, baseline_train_loss=baseline.train_loss,
                   baseline_train_accuracy=baseline.train_accuracy,
                   accuracy_gap=baseline.train_accuracy - me.train_accuracy,
                   loss_gap=me.train_loss - baseline.train_loss)
    if baseline.n_layers >= me.n_layers:
        return Finding("training_performance", title, "n/a", "not shallower",
                       f"the counterpart has {baseline.n_layers} layers, this net {me.n_layers}: not a shallower net",
                       numbers, thresholds), False
    acc_gap, loss_gap = numbers["accuracy_gap"], numbers["loss_gap"]
    worse = bool(acc_gap >= WORSE_ACCURACY or
                 (loss_gap >= WORSE_LOSS and loss_gap >= WORSE_LOSS_REL * abs(baseline.train_loss)))
    if seeds is not None:
        n = len(seeds.seeds)
        text = (f"over {n} seeds, {me.n_layers} layers: loss {me.train_loss:.3g}, training-batch accuracy "
                f"{seeds.range_text(seeds.deeper)}; {baseline.n_layers} layers: loss {baseline.train_loss:.3g}, "
                f"accuracy {seeds.range_text(seeds.shallower)} (means at {step_text(me.steps + 1)}, last "
                f"{GRADIENT_WINDOW} steps)")
    else:
        text = (f"{me.n_layers} layers: loss {me.train_loss:.3g}, training-batch accuracy {me.train_accuracy:.0%} at "
                f"{step_text(me.steps + 1)}; {baseline.n_layers} layers: loss {baseline.train_loss:.3g}, accuracy "
                f"{baseline.train_accuracy:.0%} at {step_text(baseline.steps + 1)} (means of the last {GRADIENT_WINDOW} steps)")
    direction = "higher" if loss_gap >= 0 else "lower"
    gaps = f"{points_text(acc_gap)}, loss {abs(loss_gap):.3g} {direction}"
    if worse:
        return Finding("training_performance", title, "bad", "deeper is worse",
                       f"{text}: the deeper net has {gaps}", numbers, thresholds), True
    return Finding("training_performance", title, "ok", "deeper is as good",
                   f"{text}: the deeper net has {gaps}", numbers, thresholds), False


def units_finding(acts: ActivationStats | None) -> Finding:
    title = "Unresponsive neurons"
    thresholds = {"sigmoid_low": SIGMOID_LOW, "sigmoid_high": SIGMOID_HIGH, "tanh_limit": TANH_LIMIT,
                  "saturated_layer": SATURATED_LAYER, "dead_layer": DEAD_LAYER, "spread_floor": SPREAD_FLOOR}
    if acts is None or not acts.layers:
        return Finding("unresponsive_neurons", title, "n/a", "not measured",
                       "no activation statistics (no element-wise activation modules, or not measured yet)",
                       {}, thresholds)
    layers = [layer.to_dict() for layer in acts.layers]
    numbers = {"n_examples": acts.n_examples, "layers": layers}
    parts, status, label = [], "ok", "responsive"
    sat = [layer for layer in acts.layers if layer.saturated_fraction is not None]
    dead = [layer for layer in acts.layers if layer.dead_fraction is not None]
    if sat:
        worst = max(sat, key=lambda layer: layer.saturated_fraction)
        parts.append(f"saturated outputs up to {worst.saturated_fraction:.0%} ({worst.name})")
        if worst.saturated_fraction >= SATURATED_LAYER:
            status, label = "bad", "saturated"
    if dead:
        worst = max(dead, key=lambda layer: layer.dead_fraction)
        parts.append(f"dead units up to {worst.dead_fraction:.0%} ({worst.name})")
        if worst.dead_fraction >= DEAD_LAYER:
            status, label = "bad", "dead units" if label == "responsive" else label + ", dead units"
    flat = max(acts.layers, key=lambda layer: layer.low_spread_fraction)
    parts.append(f"{flat.low_spread_fraction:.0%} of {flat.name}'s units vary < {SPREAD_FLOOR:g} across the batch")
    if status == "ok" and flat.low_spread_fraction >= 0.5:
        status, label = "warn", "flat outputs"
    return Finding("unresponsive_neurons", title, status, label,
                   "; ".join(parts) + f" (batch of {acts.n_examples})", numbers, thresholds)


def ablation_finding(ab: AblationResult | None) -> Finding:
    title = "Reliance on upper layers (ablation)"
    thresholds = {"small_drop": ABLATION_SMALL_DROP, "above_chance": ABLATION_ABOVE_CHANCE}
    if ab is None:
        return Finding("reliance_on_upper_layers", title, "n/a", "not run",
                       "re-initialise the first k layers on a copy to see whether they were learning",
                       {}, thresholds)
    numbers = ab.to_dict()
    what = "step-0 values" if ab.mode == "initial" else "fresh random weights"
    text = (f"first {ab.k} layer{'s' if ab.k > 1 else ''} ({names_text(ab.layers)}) reset to {what}: accuracy on "
            f"the {ab.n_examples:,} training examples {ab.accuracy_before:.1%} → {ab.accuracy_after:.1%} "
            f"(drop {ab.drop * 100:+.1f} points")
    if ab.accuracy_before - ab.chance < ABLATION_ABOVE_CHANCE:
        return Finding("reliance_on_upper_layers", title, "info", "at chance",
                       text + f"); the net is within {ABLATION_ABOVE_CHANCE:.0%} of chance ({ab.chance:.0%}), "
                       "so the drop says little", numbers, thresholds)
    if ab.drop < ABLATION_SMALL_DROP:
        return Finding("reliance_on_upper_layers", title, "bad", "not learning",
                       text + f" < {ABLATION_SMALL_DROP * 100:g}): the upper layers do the work; the early "
                       "layers were not learning", numbers, thresholds)
    return Finding("reliance_on_upper_layers", title, "ok", "early layers matter",
                   text + f" ≥ {ABLATION_SMALL_DROP * 100:g}): the early layers learnt something the net relies on",
                   numbers, thresholds)


def speed_finding(history: History, names: list[str]) -> Finding:
    title = "Speed of learning ‖ΔW‖/‖W‖"
    thresholds = {"rule_of_thumb": UPDATE_RULE_OF_THUMB, "slow": UPDATE_SLOW, "fast": UPDATE_FAST}
    rows = rows_within(history, GRADIENT_WINDOW)
    u = history.update_ratio[rows]
    with np.errstate(divide="ignore", invalid="ignore"):
        logs = np.where((u > 0) & np.isfinite(u), np.log10(np.where(u > 0, u, 1.0)), np.nan)
    have = np.isfinite(logs).any(axis=0)
    zeros = ((u == 0).all(axis=0)) & (len(u) > 0)
    if not have.any() and not zeros.any():
        return Finding("speed_of_learning", title, "n/a", "no updates yet",
                       "no update has been applied yet", {"layers": names}, thresholds)
    per_layer = np.where(have, 10.0 ** nanmean_axis0(logs), np.where(zeros, 0.0, np.nan))
    slow = [n for n, v in zip(names, per_layer) if np.isfinite(v) and v < UPDATE_SLOW]
    fast = [n for n, v in zip(names, per_layer) if np.isfinite(v) and v > UPDATE_FAST]
    numbers = {"layers": names, "update_ratio": per_layer.tolist(), "slow_layers": slow, "fast_layers": fast}
    finite = per_layer[np.isfinite(per_layer)]
    span = f"{finite.min():.1e} … {finite.max():.1e}" if len(finite) else "–"
    if len(finite) and not finite.any():
        return Finding("speed_of_learning", title, "bad", "not moving",
                       "no layer's weights change at all (‖ΔW‖ = 0 in every layer)", numbers, thresholds)
    if fast:
        return Finding("speed_of_learning", title, "bad", "too fast",
                       f"{names_text(fast)} change by > {UPDATE_FAST:g} of their size per step (range {span}; "
                       f"rule of thumb ~{UPDATE_RULE_OF_THUMB:g})", numbers, thresholds)
    if slow:
        frozen = [n for n, v in zip(names, per_layer) if np.isfinite(v) and v < FLOAT32_RESOLUTION]
        note = (f"; {names_text(frozen)} below float32's resolution (~{FLOAT32_RESOLUTION:.0e}): most of "
                "their weights do not change at all" if frozen else "")
        numbers["below_float32_resolution"] = frozen
        return Finding("speed_of_learning", title, "bad" if names[0] in slow else "warn", "slow layers",
                       f"{names_text(slow)} below {UPDATE_SLOW:g} per step (range {span}; rule of thumb "
                       f"~{UPDATE_RULE_OF_THUMB:g}){note}", numbers, thresholds)
    return Finding("speed_of_learning", title, "ok", "learning",
                   f"every layer between {UPDATE_SLOW:g} and {UPDATE_FAST:g} per step (range {span}; rule of thumb "
                   f"~{UPDATE_RULE_OF_THUMB:g})", numbers, thresholds)


def with_short_and_rule(f: Finding) -> Finding:
    n, short, rule = f.numbers, "–", ""
    if f.key == "gradient_magnitude":
        rule = f"vanishing ≤ {VANISHING_RATIO:g}, exploding ≥ {EXPLODING_RATIO:g}"
        r = n.get("ratio_first_to_last_hidden")
        if n.get("non_finite"):
            short = "NaN / inf"
        elif r is not None:
            short = "no gradient" if r == 0 else f"ratio {r:.2g}"
            if f.label == "exploding" and r < EXPLODING_RATIO:
                short = f"median |g| {n['median_grad_mean_abs']:.2g}"
    elif f.key == "error_signal":
        rule = f"vanishing ≤ {VANISHING_RATIO:g}, exploding ≥ {EXPLODING_RATIO:g}"
        r = n.get("ratio_first_to_last_hidden")
        if r is not None:
            short = f"δ ratio {r:.2g}"
    elif f.key == "forward_signal":
        rule = f"collapse ≤ {FORWARD_COLLAPSE:g}, blow-up ≥ {FORWARD_BLOWUP:g}"
        r = n.get("ratio_last_to_first_hidden")
        if r is not None:
            short = f"std ratio {r:.2g}"
    elif f.key == "loss_plateau":
        rule = (f"flat: Δ < {PLATEAU_REL_CHANGE:.0%} in {PLATEAU_WINDOW} steps and acc < {POOR_ACCURACY:.0%}; "
                f"converged: loss ≤ {CONVERGED_LOSS:g}, acc ≥ {CONVERGED_ACCURACY:.0%}")
        if math.isfinite(n.get("loss_now", math.nan)):
            short = f"loss {n['loss_now']:.3g} · acc {n['accuracy_now']:.0%}"
            if n.get("relative_change") is not None and f.label != "converged":
                short += f" · Δ {n['relative_change']:+.1%}"
    elif f.key == "training_performance":
        rule = f"worse: acc −{WORSE_ACCURACY * 100:g} pts or loss +{WORSE_LOSS:g}"
        if "baseline_n_layers" in n:
            short = (f"{n['n_layers']} vs {n['baseline_n_layers']} layers: acc {n['train_accuracy']:.0%} vs "
                     f"{n['baseline_train_accuracy']:.0%}")
    elif f.key == "unresponsive_neurons":
        rule = f"a layer ≥ {SATURATED_LAYER:.0%} saturated or dead"
        layers = n.get("layers", [])
        sat = [x["saturated_fraction"] for x in layers if x.get("saturated_fraction") is not None]
        dead = [x["dead_fraction"] for x in layers if x.get("dead_fraction") is not None]
        flat = [x["low_spread_fraction"] for x in layers]
        parts = ([f"saturated {max(sat):.0%}"] if sat else []) + ([f"dead {max(dead):.0%}"] if dead else [])
        parts += [f"flat {max(flat):.0%}"] if flat else []
        short = " · ".join(parts) or "–"
    elif f.key == "reliance_on_upper_layers":
        rule = f"not learning: drop < {ABLATION_SMALL_DROP * 100:g} pts"
        if "drop" in n:
            short = f"drop {n['drop'] * 100:+.1f} pts (k = {n['k']})"
    elif f.key == "speed_of_learning":
        rule = f"~{UPDATE_RULE_OF_THUMB:g}; slow < {UPDATE_SLOW:g}, fast > {UPDATE_FAST:g}"
        values = [v for v in n.get("update_ratio", []) if v is not None and math.isfinite(v)]
        if values:
            short = f"{n['layers'][0]} {n['update_ratio'][0]:.0e} · max {max(values):.0e}"
    return dataclasses.replace(f, short=short, rule=rule)
