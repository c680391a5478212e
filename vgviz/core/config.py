"""RunConfig: every knob of a run, validated once, with one clear message per bad value.

Pure Python (no torch, no Qt) so the GUI can build its controls and the CLI can
reject bad input before anything heavy is imported.
"""
from __future__ import annotations

import dataclasses
import math
import reprlib
from dataclasses import dataclass, fields
from typing import Any, Mapping

DATASETS = ("spiral", "moons", "circles", "xor", "blobs", "digits", "recall")
MODELS = ("mlp", "rnn", "lstm", "gru")
RECURRENT_MODELS = ("rnn", "lstm", "gru")
SEQUENCE_TASKS = ("recall",)          # datasets of sequences, for the recurrent models
RECURRENT_MAX_DEPTH = 4
GATE_INITS = ("pytorch", "forget1", "chrono")
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
    "seq_len": (1, 1000),
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
    "model": MODELS,
    "gate_init": GATE_INITS,
    "activation": ACTIVATIONS,
    "init": INITS,
    "optimizer": OPTIMIZERS,
    "norm": NORMS,
    "loss": LOSSES,
    "dtype": DTYPES,
}

FIELD_HELP = {
    "dataset": "the training set: 2-D toys, or digits (8×8 handwritten digits, 1,797 images); "
               "recall (a sequence task, for rnn/lstm/gru: name the first of seq_len tokens)",
    "model": "mlp (a stack of Linear layers), or a recurrent network unrolled over seq_len steps: "
             "rnn (tanh), lstm, gru",
    "seq_len": "recurrent models: time steps T per sequence (the distance the gradient must travel)",
    "gate_init": "lstm/gru gate biases at init: pytorch (its default, U(±1/√width)); forget1 (+1 on the "
                 "forget gate f / GRU update gate z: Gers et al. 2000); chrono (Tallec & Ollivier 2018: "
                 "b = log U(1, seq_len−1) on f or z, −b on the LSTM input gate)",
    "depth": "number of hidden layers (recurrent models: stacked recurrent layers, 1–4)",
    "width": "units in each hidden layer (recurrent models: hidden-state size)",
    "activation": "non-linearity after every hidden layer (mlp only: rnn uses tanh, lstm/gru their gates)",
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


QUOTE_LIMIT = 60  # characters of a user's value or key quoted in a message

_repr = reprlib.Repr()
_repr.maxlevel, _repr.maxstring, _repr.maxother = 2, QUOTE_LIMIT, QUOTE_LIMIT


def quote(value: Any, limit: int = QUOTE_LIMIT) -> str:
    """A user's value or key as it goes into a message: its repr on one line of at most
    `limit` characters (a 5 MB key or a deeply nested table would otherwise fill the screen)."""
    try:
        text = _repr.repr(value)
    except (ValueError, RecursionError):  # an int past Python's digit limit; nesting repr cannot walk
        text = f"<{type(value).__name__}>"
    return shorten(text, limit)


def shorten(text: str, limit: int = QUOTE_LIMIT) -> str:
    """Text on one line of at most `limit` characters, cut with an ellipsis."""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


class ConfigError(ValueError):
    """A bad config value. `field` names it; str(err) is one line for a person."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{shorten(field)}: {message}")
        self.field = field


@dataclass(frozen=True)
class RunConfig:
    dataset: str = "spiral"
    model: str = "mlp"
    seq_len: int = 50
    gate_init: str = "pytorch"
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
        _check_model_combination(self)

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

    @property
    def recurrent(self) -> bool:
        """True for rnn, lstm and gru: a network unrolled over seq_len time steps."""
        return self.model in RECURRENT_MODELS

    def summary(self) -> str:
        """One line for captions and window titles: every field that differs from the plain default."""
        if self.recurrent:
            return _recurrent_summary(self)
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


def unused_fields(choices: Mapping[str, str]) -> dict[str, str]:
    """The fields a run ignores, given its model, activation, init and optimizer (``choices``),
    each with the reason: the controls disable them and say why."""
    model = choices.get("model", "mlp")
    unused = {}
    if model not in RECURRENT_MODELS:
        unused["seq_len"] = "only the recurrent models (rnn, lstm, gru) read sequences of seq_len steps"
    if model not in ("lstm", "gru"):
        unused["gate_init"] = "only lstm and gru have gates"
    if model in RECURRENT_MODELS:
        for name in ("activation", "leaky_slope"):
            unused[name] = f"model = {model} has its own non-linearities (rnn: tanh; lstm, gru: their gates)"
        unused["norm"] = f"model = {model} has no normalisation layers"
        unused["residual"] = f"model = {model} has no residual blocks"
    elif choices.get("activation") != "leaky_relu":
        unused["leaky_slope"] = "only activation = leaky_relu has a negative slope"
    if choices.get("init") != "small":
        unused["init_std"] = "only init = small draws weights with this standard deviation"
    if choices.get("optimizer") != "sgd":
        unused["momentum"] = "only optimizer = sgd takes this momentum (adam keeps its own moments)"
    return unused


def _check_model_combination(config: "RunConfig") -> None:
    """Fields that only make sense together: a recurrent model reads sequences, an MLP does not."""
    model = config.model
    if config.recurrent:
        if config.dataset not in SEQUENCE_TASKS:
            raise ConfigError("dataset", f"model = {model} reads sequences: dataset must be "
                                         f"{' or '.join(SEQUENCE_TASKS)}; got dataset = {quote(config.dataset)}")
        if config.depth > RECURRENT_MAX_DEPTH:
            raise ConfigError("depth", f"model = {model} stacks 1 to {RECURRENT_MAX_DEPTH} recurrent layers; "
                                       f"got depth = {config.depth}")
        if config.norm != "none":
            raise ConfigError("norm", f"model = {model} has no normalisation layers: norm must be none; "
                                      f"got norm = {quote(config.norm)}")
        if config.residual:
            raise ConfigError("residual", f"model = {model} has no residual blocks: residual must be false")
    elif config.dataset in SEQUENCE_TASKS:
        raise ConfigError("model", f"dataset = {config.dataset} is a sequence task: model must be "
                                   f"{', '.join(RECURRENT_MODELS)}; got model = {quote(model)}")


def _recurrent_summary(config: "RunConfig") -> str:
    extras = []
    if config.model != "rnn" and config.gate_init != "pytorch":
        extras.append(f"gates {config.gate_init}")
    for on, text in ((config.clip_norm, f"clip ‖g‖ {config.clip_norm:g}"),
                     (config.clip_value, f"clip |g| {config.clip_value:g}"),
                     (config.loss != "cross_entropy", config.loss),
                     (config.dtype != "float32", config.dtype)):
        if on:
            extras.append(text)
    optimizer = config.optimizer + (f" momentum {config.momentum:g}"
                                    if config.optimizer == "sgd" and config.momentum else "")
    layers = f"{config.depth}×" if config.depth > 1 else ""
    parts = [f"{config.dataset} T={config.seq_len}", f"{config.model} {layers}{config.width}",
             f"init {config.init}", f"{optimizer} lr {config.lr:g}", f"batch {config.batch_size}",
             *extras, f"seed {config.seed}"]
    return " · ".join(parts)


def _parse_text(name: str, text: str) -> Any:
    text = text.strip()
    if name in INT_RANGES:
        try:
            return int(text)
        except ValueError:
            lo, hi = INT_RANGES[name]
            raise ConfigError(name, f"must be an integer from {lo} to {hi}, got {quote(text)}") from None
    if name in FLOAT_RANGES:
        try:
            return float(text)
        except ValueError:
            raise ConfigError(name, f"{_float_range_text(name)}; got {quote(text)}") from None
    if name in BOOL_FIELDS:
        lowered = text.lower()
        if lowered in ("true", "yes", "on", "1"):
            return True
        if lowered in ("false", "no", "off", "0"):
            return False
        raise ConfigError(name, f"must be true or false; got {quote(text)}")
    return text


def allowed_values(name: str) -> str:
    """What field `name` accepts, from the tables that validate it: for --help and the controls."""
    if name in CHOICES:
        return "one of " + ", ".join(CHOICES[name])
    if name in INT_RANGES:
        lo, hi = INT_RANGES[name]
        return f"an integer from {lo} to {hi}"
    if name in FLOAT_RANGES:
        return _float_range_text(name).removeprefix("must be ")
    return "true or false"


def _float_range_text(name: str) -> str:
    lo, hi, lo_inclusive = FLOAT_RANGES[name]
    return f"must be a finite number {'≥' if lo_inclusive else '>'} {lo:g} and ≤ {hi:g}"


def _check(name: str, value: Any) -> Any:
    if name in CHOICES:
        allowed = CHOICES[name]
        if not isinstance(value, str) or value.strip().lower() not in allowed:
            raise ConfigError(name, f"must be one of {', '.join(allowed)}; got {quote(value)}")
        return value.strip().lower()
    if name in INT_RANGES:
        lo, hi = INT_RANGES[name]
        ok = isinstance(value, int) and not isinstance(value, bool)
        if isinstance(value, float) and value.is_integer():
            value, ok = int(value), True
        if not ok or not lo <= value <= hi:
            raise ConfigError(name, f"must be an integer from {lo} to {hi}; got {quote(value)}")
        return value
    if name in FLOAT_RANGES:
        lo, hi, lo_inclusive = FLOAT_RANGES[name]
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        if ok and math.isfinite(value):
            ok = (lo <= value if lo_inclusive else lo < value) and value <= hi
        else:
            ok = False
        if not ok:
            raise ConfigError(name, f"{_float_range_text(name)}; got {quote(value)}")
        return float(value)
    if name in BOOL_FIELDS:
        if not isinstance(value, bool):
            raise ConfigError(name, f"must be true or false; got {quote(value)}")
        return value
    raise ConfigError(name, "unknown field")  # pragma: no cover - every field is in a table
