"""RunConfig: every knob of a run, validated once, with one clear message per bad value.

Pure Python (no torch, no Qt) so the GUI can build its controls and the CLI can
reject bad input before anything heavy is imported.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, fields
from typing import Any, Mapping

DATASETS = ("spiral", "moons", "circles", "xor", "blobs")
ACTIVATIONS = ("sigmoid", "tanh", "relu")
INITS = ("default", "xavier", "he", "small")
OPTIMIZERS = ("sgd", "adam")

# Integer fields: (low, high) inclusive.
INT_RANGES = {
    "depth": (1, 100),
    "width": (1, 512),
    "batch_size": (1, 4096),
    "steps": (1, 10_000_000),
    "seed": (0, 2**31 - 1),
    "eval_every": (1, 1_000_000),
}
# Float fields: (low, high), low exclusive, high inclusive.
FLOAT_RANGES = {
    "lr": (0.0, 10.0),
}
CHOICES = {
    "dataset": DATASETS,
    "activation": ACTIVATIONS,
    "init": INITS,
    "optimizer": OPTIMIZERS,
}

FIELD_HELP = {
    "dataset": "the 2-D training set",
    "depth": "number of hidden layers",
    "width": "units in each hidden layer",
    "activation": "non-linearity after every hidden layer",
    "init": "weight initialisation (default = PyTorch's)",
    "optimizer": "update rule",
    "lr": "learning rate",
    "batch_size": "examples per training step",
    "steps": "training steps in a run",
    "seed": "seed for data, weights and batches",
    "eval_every": "steps between test-set evaluations",
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
        """One line for captions and window titles."""
        return (f"{self.dataset} · {self.depth}×{self.width} {self.activation} · "
                f"init {self.init} · {self.optimizer} lr {self.lr:g} · batch {self.batch_size} · seed {self.seed}")


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
            lo, hi = FLOAT_RANGES[name]
            raise ConfigError(name, f"must be a number > {lo:g} and ≤ {hi:g}, got {text!r}") from None
    return text


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
        lo, hi = FLOAT_RANGES[name]
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        if not ok or not math.isfinite(value) or not lo < value <= hi:
            raise ConfigError(name, f"must be a finite number > {lo:g} and ≤ {hi:g}; got {value!r}")
        return float(value)
    raise ConfigError(name, "unknown field")  # pragma: no cover - every field is in a table
