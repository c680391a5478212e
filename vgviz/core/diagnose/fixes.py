"""The fixes a diagnosis proposes, each linked to the preset that demonstrates it."""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, Mapping, Sequence


@dataclass(frozen=True)
class Fix:
    key: str
    title: str
    why: str
    preset: str            # the preset that demonstrates it (by name)
    available: bool        # that preset exists in this installation: only then is it a link

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "title": self.title, "why": self.why, "preset": self.preset,
                "preset_available": self.available}


# key: (title, why, preset names to try in order)
FIXES: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "relu": ("ReLU family (ReLU, leaky ReLU, ELU, GELU)",
             "slope 1 for positive inputs instead of σ′ ≤ 0.25, so depth does not shrink the gradient",
             ("deep-relu", "deep-relu-he")),
    "leaky": ("leaky ReLU / ELU, zero biases",
              "a negative side with a slope, so a unit pushed below zero still passes a gradient and can recover",
              ("deep-leaky-relu", "deep-elu", "deep-relu-he")),
    "init": ("He / Xavier initialisation",
             "weights scaled by fan-in so each layer keeps the signal's variance, forward and backward",
             ("deep-relu-he", "deep-sigmoid-xavier")),
    "batchnorm": ("batch normalisation",
                  "re-centres and re-scales each layer's inputs, keeping units in their steep range",
                  ("deep-sigmoid-batchnorm", "deep-batchnorm", "batchnorm")),
    "residual": ("residual connections",
                 "an identity path around every block: the gradient reaches early layers undiminished",
                 ("deep-residual-relu30", "deep-residual", "residual")),
    "clipping": ("gradient clipping",
                 "caps the gradient norm of a step, so one huge gradient cannot throw the weights away",
                 ("exploding-clipped", "deep-relu-clipped", "clipping")),
    "lower_lr": ("a lower learning rate",
                 "smaller steps keep the weights from growing until the gradients blow up",
                 ()),
    "gated": ("LSTM / GRU cells",
              "gated cells carry the error along an additive path through time instead of a product",
              ("lstm-T50", "gru-T50", "lstm", "gru")),
    "gate_init": ("forget-gate bias 1 or chrono init",
                  "a forget gate that starts open (Gers et al. 2000; chrono: Tallec & Ollivier 2018) lets the cell "
                  "state carry the error back over many steps",
                  ("lstm-T50", "gru-T50")),
    "shorter": ("shorter sequences (truncated backprop through time)",
                "fewer time steps, fewer factors in the chain rule through time",
                ()),
    "shallower": ("a shallower network",
                  "fewer layers, fewer factors in the chain rule",
                  ("shallow-sigmoid",)),
}


def _config_demonstrates(key: str, config: Mapping[str, Any]) -> bool:
    """Does a preset's config show this fix? (for presets that other versions add)"""
    values = {k: v for k, v in config.items()}
    strings = {k: str(v).lower() for k, v in values.items()}
    if key == "batchnorm":
        return any("norm" in k and "batch" in v for k, v in strings.items()) or \
            any(k in ("batchnorm", "batch_norm") and v is True for k, v in values.items())
    if key == "residual":
        return any("residual" in k and v is True for k, v in values.items()) or \
            any(v in ("residual", "resnet") for v in strings.values())
    if key == "clipping":
        return any("clip" in k and isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0
                   for k, v in values.items())
    if key == "gated":
        return any(v in ("lstm", "gru") for v in strings.values())
    if key == "gate_init":
        return strings.get("gate_init") in ("forget1", "chrono") and strings.get("model") in ("lstm", "gru")
    if key == "leaky":
        return strings.get("activation") in ("leaky_relu", "elu", "gelu", "selu")
    return False


@functools.lru_cache(maxsize=8)
def _fix_links(names: tuple[str, ...]) -> dict[str, tuple[str, bool]]:
    configs: dict[str, dict] = {}
    try:
        from ..presets import list_presets
        configs = {p.name: p.config.to_dict() for p in list_presets() if p.name in names}
    except Exception:  # noqa: BLE001 - a broken preset must not break a diagnosis
        pass
    links = {}
    for key, (_, _, candidates) in FIXES.items():
        found = next((c for c in candidates if c in names), None)
        if found is None:
            found = next((n for n in names if _config_demonstrates(key, configs.get(n, {}))), None)
        if found is not None:
            links[key] = (found, True)
        else:
            links[key] = (candidates[0] if candidates else "", False)
    return links


def make_fix(key: str, presets: Sequence[str] | None = None) -> Fix:
    if presets is None:
        from ..presets import preset_names
        presets = preset_names()
    title, why, _ = FIXES[key]
    preset, available = _fix_links(tuple(presets))[key]
    return Fix(key, title, why, preset, available)
