"""RunConfig: every knob of a run, validated once, with one clear message per bad value.

Pure Python (no torch, no Qt) so the GUI can build its controls and the CLI can
reject bad input before anything heavy is imported.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, fields
from typing import Any, Mapping

DATASETS = ("spiral", "moons", "circles", "xor", "blobs", "digits")
ACTIVATIONS = ("sigmoid", "tanh", "relu", "leaky_relu", "prelu", "elu", "gelu", "silu", "identity")
INITS = ("default", "xavier", "xavier_uniform", "xavier_normal", "he", "he_uniform", "he_normal",
         "lecun_normal", "orthogonal", "small", "nielsen")
OPTIMIZERS = ("sgd", "adam")
NORMS = ("none", "batchnorm", "layernorm")
LOSSES = ("cross_entropy", "mse")
DTYPES = ("float32", "float64", "bfloat16")

# Integer fields: (low, high) inclusive.
INT_RANGES = {
    "depth": (1, 100),
    "width": (1, 512),
    "batch_size": (1, 4096),
    "steps": (1, 10_000_000),
    "seed": (0, 2**31 - 1),
    "eval_every": (1, 1_000_000),
}
# Float fields: (low, high, low_inclusive); high is inclusive.
FLOAT_RANGES = {
    "lr": (0.0, 10.0, False),
    "momentum": (0.0, 0.999, True),
    "leaky_slope": (0.0, 1.0, False),
    "init_std": (0.0, 100.0, False),
    "clip_norm": (0.0, 1e6, True),
    "clip_value": (0.0, 1e6, True),
}
BOOL_FIELDS = ("residual",)
CHOICES = {
    "dataset": DATASETS,
    "activation": ACTIVATIONS,
    "init": INITS,
    "optimizer": OPTIMIZERS,
    "norm": NORMS,
    "loss": LOSSES,
    "dtype": DTYPES,
}

FIELD_HELP = {
    "dataset": "the training set: 2-D toys, or digits (8×8 handwritten digits, 1,797 images)",
    "depth": "number of hidden layers",
    "width": "units in each hidden layer",
    "activation": "non-linearity after every hidden layer",
    "init": "weight initialisation (default = PyTorch's; xavier = xavier_uniform; he = he_normal, fan-in; "
            "small = N(0, init_std²); nielsen = N(0,1)/√fan_in weights and N(0,1) biases)",
    "optimizer": "update rule",
    "lr": "learning rate",
    "batch_size": "examples per training step",
    "steps": "training steps in a run",
    "seed": "seed for data, weights and batches",
    "eval_every": "steps between test-set evaluations",
    "momentum": "SGD momentum (0 = plain SGD; ignored by adam)",
    "leaky_slope": "negative slope of leaky_relu",
    "init_std": "standard deviation of the 'small' init",
    "norm": "normalisation after every hidden Linear layer (before the activation)",
    "residual": "residual blocks f(W₂·f(W₁x) + x) instead of a plain stack",
    "clip_norm": "clip the global gradient norm to this value (0 = off)",
    "clip_value": "clip every gradient element to ±this value (0 = off)",
    "loss": "cross_entropy on logits, or mse against one-hot targets",
    "dtype": "number format of weights, data and gradients",
}


class ConfigError(ValueError):
    """A bad config value. `field` names it; str(err) is one line for a person."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field


@dataclass(frozen=True)
class RunConfig:
    dataset: str = "spiral"
    depth: int = 8
    width: int = 16
    activation: str = "sigmoid"
    init: str = "default"
    optimizer: str = "sgd"
    lr: float = 0.1
    batch_size: int = 64
    steps: int = 5000
    seed: int = 0
    eval_every: int = 50
    momentum: float = 0.0
    leaky_slope: float = 0.01
    init_std: float = 0.01
    norm: str = "none"
    residual: bool = False
    clip_norm: float = 0.0
    clip_value: float = 0.0
    loss: str = "cross_entropy"
    dtype: str = "float32"

    def __post_init__(self) -> None:
        for f in fields(self):
            object.__setattr__(self, f.name, _check(f.name, getattr(self, f.name)))

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))

    @classmethod
    def from_dict(cls, values: Mapping[str, Any], base: "RunConfig | None" = None) -> "RunConfig":
        """Build from a mapping (preset file, settings, JSON). Unknown keys are errors."""
        known = cls.field_names()
        for key in values:
            if key not in known:
                raise ConfigError(str(key), f"unknown field; known fields: {', '.join(known)}")
        merged = dataclasses.asdict(base or cls())
        merged.update(values)
        return cls(**merged)

    def replace(self, **changes: Any) -> "RunConfig":
        return self.from_dict(changes, base=self)

    def with_text_values(self, pairs: Mapping[str, str]) -> "RunConfig":
        """Apply KEY=VALUE strings (CLI --set, text boxes), parsed by the field's type."""
        parsed = {}
        for key, text in pairs.items():
            if key not in self.field_names():
                raise ConfigError(key, f"unknown field; known fields: {', '.join(self.field_names())}")
            parsed[key] = _parse_text(key, text)
        return self.from_dict(parsed, base=self)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def summary(self) -> str:
        """One line for captions and window titles: every field that differs from the plain default."""
        extras = []
        if self.norm != "none":
            extras.append(self.norm)
        if self.residual:
            extras.append("residual")
        if self.clip_norm:
            extras.append(f"clip ‖g‖ {self.clip_norm:g}")
        if self.clip_value:
            extras.append(f"clip |g| {self.clip_value:g}")
        if self.loss != "cross_entropy":
            extras.append(self.loss)
        if self.dtype != "float32":
            extras.append(self.dtype)
        optimizer = self.optimizer + (f" momentum {self.momentum:g}" if self.optimizer == "sgd" and self.momentum else "")
        init = self.init + (f" σ {self.init_std:g}" if self.init == "small" else "")
        activation = self.activation + (f"({self.leaky_slope:g})" if self.activation == "leaky_relu" else "")
        parts = [self.dataset, f"{self.depth}×{self.width} {activation}", f"init {init}",
                 f"{optimizer} lr {self.lr:g}", f"batch {self.batch_size}", *extras, f"seed {self.seed}"]
        return " · ".join(parts)


def _parse_text(name: str, text: str) -> Any:
    text = text.strip()
    if name in INT_RANGES:
        try:
            return int(text)
        except ValueError:
            lo, hi = INT_RANGES[name]
            raise ConfigError(name, f"must be an integer from {lo} to {hi}, got {text!r}") from None
    if name in FLOAT_RANGES:
        try:
            return float(text)
        except ValueError:
            raise ConfigError(name, f"{_float_range_text(name)}; got {text!r}") from None
    if name in BOOL_FIELDS:
        lowered = text.lower()
        if lowered in ("true", "yes", "on", "1"):
            return True
        if lowered in ("false", "no", "off", "0"):
            return False
        raise ConfigError(name, f"must be true or false; got {text!r}")
    return text


def _float_range_text(name: str) -> str:
    lo, hi, lo_inclusive = FLOAT_RANGES[name]
    return f"must be a finite number {'≥' if lo_inclusive else '>'} {lo:g} and ≤ {hi:g}"


def _check(name: str, value: Any) -> Any:
    if name in CHOICES:
        allowed = CHOICES[name]
        if not isinstance(value, str) or value.strip().lower() not in allowed:
            raise ConfigError(name, f"must be one of {', '.join(allowed)}; got {value!r}")
        return value.strip().lower()
    if name in INT_RANGES:
        lo, hi = INT_RANGES[name]
        ok = isinstance(value, int) and not isinstance(value, bool)
        if isinstance(value, float) and value.is_integer():
            value, ok = int(value), True
        if not ok or not lo <= value <= hi:
            raise ConfigError(name, f"must be an integer from {lo} to {hi}; got {value!r}")
        return value
    if name in FLOAT_RANGES:
        lo, hi, lo_inclusive = FLOAT_RANGES[name]
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        if ok and math.isfinite(value):
            ok = (lo <= value if lo_inclusive else lo < value) and value <= hi
        else:
            ok = False
        if not ok:
            raise ConfigError(name, f"{_float_range_text(name)}; got {value!r}")
        return float(value)
    if name in BOOL_FIELDS:
        if not isinstance(value, bool):
            raise ConfigError(name, f"must be true or false; got {value!r}")
        return value
    raise ConfigError(name, "unknown field")  # pragma: no cover - every field is in a table
