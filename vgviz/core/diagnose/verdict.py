"""The verdict: the six findings combined into a Diagnosis with a headline, causes and fixes."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from ..measure.history import History
from .findings import (Finding, ablation_finding, gradient_finding, performance_finding, plateau_finding,
                       speed_finding, units_finding, with_short_and_rule)
from .fixes import Fix, make_fix
from .measures import AblationResult, ActivationStats, RunSummary
from .numbers import fold_text
from .thresholds import (CONVERGED_ACCURACY, CONVERGED_LOSS, DEAD_LAYER, EXPLODING_GRAD, EXPLODING_RATIO,
                         SATURATED_LAYER, VANISHING_RATIO)

VERDICTS = ("vanishing", "exploding", "healthy", "converged", "degradation")


@dataclass(frozen=True)
class Diagnosis:
    verdict: str                       # one of VERDICTS
    headline: str                      # one sentence with the numbers
    causes: tuple[str, ...]            # likely causes, most likely first
    fixes: tuple[Fix, ...]             # what applies, each with its preset
    findings: tuple[Finding, ...]

    def finding(self, key: str) -> Finding:
        for f in self.findings:
            if f.key == key:
                return f
        raise KeyError(key)

    def to_dict(self) -> dict[str, Any]:
        return {"verdict": self.verdict, "headline": self.headline, "causes": list(self.causes),
                "fixes": [f.to_dict() for f in self.fixes],
                "findings": [f.to_dict() for f in self.findings]}


def diagnose(history: History, *, activations: ActivationStats | None = None,
             baseline: RunSummary | None = None, ablation: AblationResult | None = None,
             n_classes: int | None = None, recurrent: bool = False,
             presets: Sequence[str] | None = None) -> Diagnosis:
    """The findings of a run so far and the verdict they add up to.

    history: the run's History (at least one row). activations: activation_stats() on a
    batch at the current weights. baseline: a shallower counterpart's RunSummary.
    ablation: an ablate() result. presets: names for the fix links (default: installed).
    """
    if len(history) == 0 or history.latest is None:
        raise ValueError("diagnose: the history holds no steps yet")
    names = list(history.latest.layer_names)
    if n_classes is None:
        n_classes = len(history.latest.delta_mean_abs[-1]) if history.latest.delta_mean_abs else 2
    grad = gradient_finding(history, names)
    plateau, converged = plateau_finding(history, n_classes)
    perf, worse = performance_finding(history, baseline)
    units = units_finding(activations)
    reliance = ablation_finding(ablation)
    speed = speed_finding(history, names)
    findings = tuple(with_short_and_rule(f) for f in (grad, plateau, perf, units, reliance, speed))

    g = grad.numbers
    ratio, fold = g.get("ratio_first_to_last_hidden"), g.get("fold_less")
    first, ref = g["compared"]
    causes: list[str] = []
    fix_keys: list[str] = []
    if grad.label == "exploding":
        verdict = "exploding"
        if g["non_finite"]:
            headline = (f"Exploding gradients: the loss or a gradient became NaN/inf at step {g['last_step']}; "
                        "the run cannot continue.")
        elif ratio is not None and ratio >= EXPLODING_RATIO:
            headline = (f"Exploding gradients: {first} gets {ratio:.3g}× the gradient of {ref} "
                        f"(threshold {EXPLODING_RATIO:g}×): it grows toward the input.")
        else:
            headline = (f"Exploding gradients: the median layer's mean |dL/dW| is {g['median_grad_mean_abs']:.3g} "
                        f"(threshold {EXPLODING_GRAD:g}): every update is huge.")
        causes.append("weights too large for the depth: each layer multiplies the backward signal by more than 1")
        causes.append("a learning rate too high for this network")
        fix_keys = ["clipping", "lower_lr", "init", "batchnorm"] + (["gated"] if recurrent else [])
    elif converged:
        verdict = "converged"
        p = plateau.numbers
        headline = (f"Converged, not vanishing: training loss {p['loss_now']:.3g} ≤ {CONVERGED_LOSS:g} and accuracy "
                    f"{p['accuracy_now']:.0%} ≥ {CONVERGED_ACCURACY:.0%}; the gradients are small because there "
                    "is little left to learn.")
        if grad.label == "vanishing":
            causes.append(f"({first} still gets {fold_text(fold)} less gradient than {ref}, but the task is learnt)")
    elif grad.label == "vanishing":
        verdict = "vanishing"
        if ratio == 0:
            headline = f"Vanishing gradients: {first} gets exactly zero gradient — nothing reaches it."
        else:
            headline = (f"Vanishing gradients: {first} gets {fold_text(fold)} less gradient than {ref} "
                        f"(threshold {1 / VANISHING_RATIO:g}×).")
        causes, fix_keys = _vanishing_causes(activations, recurrent)
        if plateau.label == "plateau":
            headline += f" The loss is stuck at {plateau.numbers['loss_now']:.3g}."
    elif worse:
        verdict = "degradation"
        b = perf.numbers
        headline = (f"Degradation, not vanishing: this {b['n_layers']}-layer network trains worse than its "
                    f"{b['baseline_n_layers']}-layer counterpart (training loss {b['train_loss']:.3g} vs "
                    f"{b['baseline_train_loss']:.3g}, accuracy {b['train_accuracy']:.0%} vs "
                    f"{b['baseline_train_accuracy']:.0%}) although its gradients reach the first layer "
                    f"(ratio {ratio:.3g}, healthy between {VANISHING_RATIO:g} and {EXPLODING_RATIO:g}).")
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
            relation = (f"{fold_text(fold)} less gradient than {ref}" if ratio < 1 else
                        f"{ratio:.3g}× the gradient of {ref}")
            headline = (f"Healthy gradients: {first} gets {relation} (ratio {ratio:.2g}; vanishing at or "
                        f"below {VANISHING_RATIO:g}, exploding at or above {EXPLODING_RATIO:g}).")
        if plateau.label == "plateau":
            headline += (f" The loss is flat at {plateau.numbers['loss_now']:.3g} with accuracy "
                         f"{plateau.numbers['accuracy_now']:.0%}, but not because of vanishing gradients: "
                         "look at the learning rate, the width or the data.")
            causes.append("a plateau with healthy gradients: learning rate, capacity or the task, not depth")
            causes += _unit_notes(activations)
    fixes = tuple(make_fix(k, presets) for k in dict.fromkeys(fix_keys))
    return Diagnosis(verdict, headline, tuple(causes), fixes, findings)


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


def _vanishing_causes(acts: ActivationStats | None, recurrent: bool) -> tuple[list[str], list[str]]:
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
    if recurrent:
        fixes.append("gated")
    return causes, fixes
