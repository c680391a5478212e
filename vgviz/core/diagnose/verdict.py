"""The verdict: the eight findings combined into a Diagnosis with a headline, causes and fixes."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Sequence

from ..measure.history import History
from . import FINDING_KEYS  # noqa: F401 - re-exported: the order of Diagnosis.findings
from .findings import (Finding, ablation_finding, error_signal_finding, forward_signal_finding, gradient_finding,
                       performance_finding, plateau_finding, speed_finding, units_finding, with_short_and_rule)
from .fixes import Fix, make_fix
from .measures import AblationResult, ActivationStats, RunSummary, SeedSpread
from .numbers import fold_text, layer_label, relation_text
from .thresholds import (CONVERGED_ACCURACY, CONVERGED_LOSS, DEAD_LAYER, EXPLODING_GRAD, EXPLODING_RATIO,
                         FORWARD_COLLAPSE, SATURATED_LAYER, VANISHING_RATIO)

VERDICTS = ("vanishing", "exploding", "healthy", "converged", "degradation")


@dataclass(frozen=True)
class Diagnosis:
    verdict: str                       # one of VERDICTS
    headline: str                      # one sentence with the numbers
    causes: tuple[str, ...]            # likely causes, most likely first
    fixes: tuple[Fix, ...]             # what applies, each with its preset
    findings: tuple[Finding, ...]
    baseline: RunSummary | None = None   # the shallower counterpart it was compared with
    seeds: SeedSpread | None = None      # ... over several seeds

    def finding(self, key: str) -> Finding:
        for f in self.findings:
            if f.key == key:
                return f
        raise KeyError(key)

    def with_note(self, keys: Sequence[str], summary: str) -> "Diagnosis":
        """The same diagnosis with the findings `keys` summarised as `summary` (why they are not measured)."""
        findings = tuple(dataclasses.replace(f, summary=summary) if f.key in keys else f for f in self.findings)
        return dataclasses.replace(self, findings=findings)

    def to_dict(self) -> dict[str, Any]:
        out = {"verdict": self.verdict, "headline": self.headline, "causes": list(self.causes),
               "fixes": [f.to_dict() for f in self.fixes],
               "findings": [f.to_dict() for f in self.findings]}
        if self.baseline is not None:
            out["baseline"] = self.baseline.to_dict()
        if self.seeds is not None:
            out["seeds"] = self.seeds.to_dict()
        return out


def diagnose(history: History, *, activations: ActivationStats | None = None,
             baseline: RunSummary | None = None, ablation: AblationResult | None = None,
             n_classes: int | None = None, recurrent: bool = False,
             presets: Sequence[str] | None = None, seeds: SeedSpread | None = None,
             config: Any = None) -> Diagnosis:
    """The findings of a run so far and the verdict they add up to.

    history: the run's History (at least one row). activations: activation_stats() on a
    batch at the current weights. baseline: a shallower counterpart's RunSummary.
    ablation: an ablate() result. presets: names for the fix links (default: installed).
    seeds: this net and its shallower counterpart trained over several seeds (--seeds N).
    config: the run's RunConfig when known: a signal that collapses under the init already
    matched to its activation is then blamed on depth and width, not on the init.
    """
    if len(history) == 0 or history.latest is None:
        raise ValueError("diagnose: the history holds no steps yet")
    names = [layer_label(name) for name in history.latest.layer_names]
    if n_classes is None:
        n_classes = len(history.latest.delta_mean_abs[-1]) if history.latest.delta_mean_abs else 2
    error = error_signal_finding(history, names)
    forward = forward_signal_finding(history, names)
    grad = gradient_finding(history, names)
    plateau, converged = plateau_finding(history, n_classes)
    perf, worse = performance_finding(history, baseline, seeds)
    units = units_finding(activations)
    reliance = ablation_finding(ablation)
    speed = speed_finding(history, names)
    findings = tuple(with_short_and_rule(f) for f in (error, forward, grad, plateau, perf, units, reliance, speed))

    g = grad.numbers
    ratio = g.get("ratio_first_to_last_hidden")
    first, ref = g["compared"]
    causes: list[str] = []
    fix_keys: list[str] = []
    signal_causes, signal_fixes = _signal_causes(forward, activations, config)
    if grad.label == "exploding" or error.label == "exploding" or forward.label == "blows up":
        verdict = "exploding"
        if g["non_finite"]:
            headline = (f"Exploding gradients: the loss or a gradient became NaN/inf at step {g['last_step']}; "
                        "the run cannot continue.")
        elif error.label == "exploding":
            headline = f"Exploding gradients: {error.summary}."
        elif ratio is not None and ratio >= EXPLODING_RATIO:
            headline = (f"Exploding gradients: {first} gets {ratio:.3g}× the gradient of {ref} "
                        f"(threshold {EXPLODING_RATIO:g}×): it grows toward the input.")
        elif grad.label == "exploding":
            headline = (f"Exploding gradients: the median layer's mean |dL/dW| is {g['median_grad_mean_abs']:.3g} "
                        f"(threshold {EXPLODING_GRAD:g}): every update is huge.")
        else:
            headline = f"Exploding signal: {forward.summary}."
        causes += signal_causes
        causes.append("weights too large for the depth: each layer multiplies the backward signal by more than 1")
        causes.append("a learning rate too high for this network")
        fix_keys = signal_fixes + ["clipping", "lower_lr", "init", "batchnorm"] + (["gated"] if recurrent else [])
    elif converged:
        verdict = "converged"
        p = plateau.numbers
        headline = (f"Converged, not vanishing: training loss {p['loss_now']:.3g} ≤ {CONVERGED_LOSS:g} and "
                    f"training-batch accuracy {p['accuracy_now']:.0%} ≥ {CONVERGED_ACCURACY:.0%}; the gradients "
                    "are small because there is little left to learn.")
        if grad.label == "vanishing" or error.label == "vanishing":
            causes.append(f"(the early layers still get much less gradient — {_vanishing_what(error, grad)} — "
                          "but the task is learnt)")
    elif grad.label == "vanishing" or error.label == "vanishing" or forward.label == "collapses":
        verdict = "vanishing"
        headline = _vanishing_headline(error, forward, grad)
        causes, fix_keys = (_recurrent_causes(error, config) if recurrent else
                            _vanishing_causes(activations))
        causes = signal_causes + causes
        fix_keys = signal_fixes + fix_keys
        if plateau.label == "plateau":
            headline += f" The loss is stuck at {plateau.numbers['loss_now']:.3g}."
    elif worse and not signal_causes:
        verdict = "degradation"
        b = perf.numbers
        e, f = error.numbers.get("ratio_first_to_last_hidden"), forward.numbers.get("ratio_last_to_first_hidden")
        healthy = [f"{name} ratio {value:.2g}" for name, value in
                   (("δ", e), ("forward-signal", f), ("|dL/dW|", ratio)) if value is not None]
        headline = (f"Degradation, not vanishing: this {b['n_layers']}-layer network trains worse than its "
                    f"{b['baseline_n_layers']}-layer counterpart ({perf.summary}) although its error signal and "
                    f"forward signal reach every layer ({', '.join(healthy)}; all healthy).")
        causes.append("an optimisation problem of deep plain networks (He et al., ResNet, 2016: deeper plain nets "
                      "reach a higher training error): more layers make the function harder to fit by SGD, "
                      "not the gradient smaller")
        fix_keys = ["residual", "batchnorm", "shallower"]
        causes += _unit_notes(activations)
    else:
        verdict = "healthy"
        if ratio is None:
            headline = "Healthy: one Linear layer only, nothing can vanish."
        else:
            headline = (f"Healthy gradients: {first} gets {relation_text(ratio, ref)} (ratio {ratio:.2g}; vanishing "
                        f"at or below {VANISHING_RATIO:g}, exploding at or above {EXPLODING_RATIO:g})")
            e = error.numbers.get("ratio_first_to_last_hidden")
            headline += f" and its error signal δ reaches it (ratio {e:.2g})." if e is not None else "."
        if signal_causes:
            # healthy now, but the init collapsed (or blew up) the signal at step 0: a net stuck
            # since then has not recovered from its start, and the init is what to change
            f = forward.numbers
            headline += (f" But at step 0 the forward signal {forward.label.split(' at ')[0]} across depth (ratio "
                         f"{f['initial_ratio']:.2g}); see the likely cause.")
            causes += signal_causes
            fix_keys = signal_fixes
        if plateau.label == "plateau":
            headline += (f" The loss is flat at {plateau.numbers['loss_now']:.3g} with training-batch accuracy "
                         f"{plateau.numbers['accuracy_now']:.0%}"
                         + (", not because of vanishing gradients now." if signal_causes else
                            ", but not because of vanishing gradients: look at the learning rate, the width or "
                            "the data."))
            if not signal_causes:
                causes.append("a plateau with healthy gradients: learning rate, capacity or the task, not depth")
            causes += _unit_notes(activations)
    fixes = tuple(make_fix(k, presets) for k in dict.fromkeys(fix_keys))
    return Diagnosis(verdict, headline, tuple(causes), fixes, findings, baseline, seeds)


def _unit_notes(acts: ActivationStats | None) -> list[str]:
    """Secondary observations about unresponsive units, when the verdict is not vanishing."""
    if acts is None:
        return []
    notes = []
    dead = [layer for layer in acts.layers if (layer.dead_fraction or 0) >= DEAD_LAYER]
    sat = [layer for layer in acts.layers if (layer.saturated_fraction or 0) >= SATURATED_LAYER]
    if dead:
        worst = max(dead, key=lambda layer: layer.dead_fraction)
        notes.append(f"also: {worst.dead_fraction:.0%} of {worst.name}'s units are dead, so fewer units carry the "
                     "signal")
    if sat:
        worst = max(sat, key=lambda layer: layer.saturated_fraction)
        notes.append(f"also: {worst.saturated_fraction:.0%} of {worst.name}'s outputs are saturated")
    return notes


def _vanishing_causes(acts: ActivationStats | None) -> tuple[list[str], list[str]]:
    causes: list[str] = []
    fixes: list[str] = []
    if acts is not None:
        dead = [layer for layer in acts.layers if (layer.dead_fraction or 0) >= DEAD_LAYER]
        sat = [layer for layer in acts.layers if (layer.saturated_fraction or 0) >= SATURATED_LAYER]
        if dead:
            worst = max(dead, key=lambda layer: layer.dead_fraction)
            causes.append(f"dead ReLUs: {worst.dead_fraction:.0%} of {worst.name}'s units output 0 for every "
                          f"example (in {len(dead)} layer{'s' if len(dead) > 1 else ''}): no gradient passes "
                          "through a dead unit to the layers below")
            fixes += ["leaky", "init", "lower_lr", "batchnorm"]
        if sat:
            worst = max(sat, key=lambda layer: layer.saturated_fraction)
            causes.append(f"saturated units: {worst.saturated_fraction:.0%} of {worst.name}'s "
                          f"{worst.activation.lower()} outputs are in the flat ends "
                          f"(in {len(sat)} layer{'s' if len(sat) > 1 else ''}), where the slope is < 0.02")
            fixes += ["relu", "init", "batchnorm", "residual"]
        bounded = [layer for layer in acts.layers if layer.kind in ("sigmoid", "tanh")]
        if bounded and not sat:
            kind = bounded[0].activation.lower()
            slope = "σ′ ≤ 0.25" if bounded[0].kind == "sigmoid" else "tanh′ ≤ 1, < 1 off zero"
            causes.append(f"{len(bounded)} {kind} layers: every one multiplies the backward signal by "
                          f"{slope} (and by weights below 1 with a small init); the factors compound with depth")
            fixes += ["relu", "init", "batchnorm", "residual"]
    if not causes:
        causes.append("the per-layer factors of the backward pass (weight × activation slope) are below 1 "
                      "and compound with depth")
        fixes += ["relu", "init", "batchnorm", "residual"]
    return causes, fixes


def _recurrent_causes(error: Finding, config: Any) -> tuple[list[str], list[str]]:
    """Through time the backward signal is multiplied by the recurrent Jacobian at every step:
    a plain RNN needs gates; an LSTM/GRU whose forget gate starts half closed needs its gate init."""
    e = error.numbers
    steps = len(e.get("delta_l2", ())) or "T"
    model, gates = getattr(config, "model", None), getattr(config, "gate_init", None)
    if model in ("lstm", "gru") and gates == "pytorch":
        return ([f"a {model.upper()} with PyTorch's default gate biases: its forget gate starts near σ(0) = 0.5, so "
                 f"the cell state halves at each of the {steps} steps and the error fades as in a plain RNN"],
                ["gate_init", "shorter"])
    if model in ("lstm", "gru"):
        return ([f"the error still fades over {steps} time steps through the gates' products"],
                ["gate_init", "shorter"])
    return ([f"the backward signal is multiplied by the recurrent Jacobian (W_hh × tanh′) at each of the "
             f"{steps} time steps; with a spectral radius below 1 the product shrinks geometrically"],
            ["gated", "gate_init", "shorter"])


def _vanishing_what(error: Finding, grad: Finding) -> str:
    e, g = error.numbers, grad.numbers
    parts = []
    if error.label == "vanishing":
        parts.append(f"‖δ‖ ratio {e['ratio_first_to_last_hidden']:.2g}")
    if grad.label == "vanishing":
        parts.append(f"|dL/dW| ratio {g['ratio_first_to_last_hidden']:.2g}")
    return ", ".join(parts)


def _vanishing_headline(error: Finding, forward: Finding, grad: Finding) -> str:
    """The quantity that vanished first: δ (the error signal itself), else |dL/dW|, else the forward signal."""
    g = grad.numbers
    first, ref = g["compared"]
    if error.label == "vanishing":
        e = error.numbers
        lo, hi = e["compared"]
        r = e["ratio_first_to_last_hidden"]
        if r == 0:
            return f"Vanishing gradients: the error signal δ at {lo} is exactly zero — nothing reaches it."
        text = (f"Vanishing gradients: the error signal δ at {lo} is {fold_text(1 / r)} smaller than at {hi} "
                f"(threshold {1 / VANISHING_RATIO:g}×)")
        gr = g.get("ratio_first_to_last_hidden")
        if gr is not None and grad.label != "vanishing":
            fr = forward.numbers.get("ratio_last_to_first_hidden")
            text += (f"; |dL/dW| = a·δ hides it (ratio {gr:.2g}) because the forward signal a shrinks too "
                     f"(ratio {fr:.2g})" if fr is not None and fr < 1 else f"; |dL/dW| ratio {gr:.2g}")
        return text + "."
    if grad.label == "vanishing":
        r = g["ratio_first_to_last_hidden"]
        if r == 0:
            return f"Vanishing gradients: {first} gets exactly zero gradient — nothing reaches it."
        return (f"Vanishing gradients: {first} gets {fold_text(g['fold_less'])} less gradient than {ref} "
                f"(threshold {1 / VANISHING_RATIO:g}×).")
    f = forward.numbers
    return (f"Vanishing signal: the forward signal collapses — the output std of {f['compared'][0]} is "
            f"{f['ratio_last_to_first_hidden']:.2g} of {f['compared'][1]}'s (threshold {FORWARD_COLLAPSE:g}).")


# the init whose variance argument fits each activation (He et al. 2015; Glorot & Bengio 2010)
MATCHED_INITS = {"relu": ("he", "he_uniform", "he_normal"), "leaky_relu": ("he", "he_uniform", "he_normal"),
                 "tanh": ("xavier", "xavier_uniform", "xavier_normal"), "sigmoid": ("xavier", "xavier_uniform",
                                                                                  "xavier_normal")}


def _signal_causes(forward: Finding, acts: ActivationStats | None, config: Any = None) -> tuple[list[str], list[str]]:
    """A forward signal that shrinks or grows steadily across depth — now, or at step 0 before
    training partly repaired it — is the init's doing: name it first. One that stops dead at
    a layer is dead units' doing (named by the unit causes)."""
    f = forward.numbers
    if forward.label == "blows up" and f.get("ratio_last_to_first_hidden") is None:
        return ["the activations became NaN/inf"], []
    if forward.label == "collapses":
        stds = f["activation_std"]
        if 0.0 in stds or (acts is not None and any((a.dead_fraction or 0) >= DEAD_LAYER for a in acts.layers)):
            if acts is not None:
                return [], []
            stop = f["layers"][stds.index(0.0)]
            return [f"the forward signal stops at {stop}: its outputs are 0 for every example (dead units)"], []
    hi, lo = f.get("compared", ("", ""))
    if forward.label in ("collapses", "blows up"):
        ratio, factor, when = f["ratio_last_to_first_hidden"], f.get("per_layer_factor"), ""
    elif forward.label in ("collapsed at step 0", "blew up at step 0"):
        ratio, factor = f["initial_ratio"], f.get("initial_per_layer_factor")
        when = f" at step 0 (training has partly repaired it: ratio {f['ratio_last_to_first_hidden']:.2g} now)"
    else:
        return [], []
    per_layer = f", ×{factor:.2g} per layer" if factor is not None else ""
    activation, init = getattr(config, "activation", None), getattr(config, "init", None)
    if init is not None and init in MATCHED_INITS.get(activation, ()):
        # the init is right in expectation; in a narrow deep net the per-layer gains scatter
        # around 1 and their product drifts far from it (Hanin & Rolnick 2018)
        moved = "shrinks" if ratio < 1 else "grows"
        size = fold_text(1 / ratio) if 0 < ratio < 1 else f"{ratio:.3g}×"
        return ([f"the forward signal {moved} {size} across depth{when} (from {lo} to {hi}{per_layer}) although "
                 f"{init} init matches {activation}: the variance is kept only on average, and over "
                 f"{config.depth} layers of {config.width} units the per-layer gains scatter and compound — "
                 "wider layers, batch norm or residual connections keep it"], ["batchnorm", "residual"])
    if ratio < 1:
        return ([f"the forward signal collapses across depth{when}: the activations' std shrinks "
                 f"{fold_text(1 / ratio) if ratio > 0 else '∞×'} from {lo} to {hi}{per_layer}, and δ shrinks "
                 "with it — the weights' scale does not match the activation (He init, N(0, 2/fan_in), for "
                 "ReLU; Xavier for tanh)"], ["init"])
    return ([f"the forward signal blows up across depth{when}: the activations' std grows {ratio:.3g}× from "
             f"{lo} to {hi}{per_layer} — the init's scale is too large for the depth (He / Xavier scale by "
             "fan-in)"], ["init"])
