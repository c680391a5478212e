"""RunConfig validation: one clear, one-line message per bad value."""
from __future__ import annotations

import dataclasses
import json
import math

import pytest

from vgviz.core.config import ACTIVATIONS, ConfigError, RunConfig


# (field, bad value, text every message must contain: the allowed values or range)
BAD = [
    ("depth", 0, "1 to 100"),
    ("depth", 101, "1 to 100"),
    ("width", -3, "1 to 512"),
    ("lr", float("nan"), "> 0"),
    ("lr", float("inf"), "> 0"),
    ("lr", 0, "> 0"),
    ("lr", 0.0, "≤ 10"),
    ("lr", -0.1, "> 0"),
    ("lr", 10.5, "≤ 10"),
    ("activation", "swish", "sigmoid, tanh, relu"),
    ("activation", 3, "sigmoid, tanh, relu"),
    ("dataset", "mnist", "spiral, moons, circles, xor, blobs"),
    ("init", "glorot", "default, xavier, xavier_uniform, xavier_normal, he, he_uniform, he_normal, lecun_normal, orthogonal, small, nielsen"),
    ("optimizer", "rmsprop", "sgd, adam"),
    ("depth", True, "integer from 1 to 100"),
    ("batch_size", False, "integer from 1 to 4096"),
    ("lr", True, "> 0"),
    ("width", 2.5, "integer from 1 to 512"),
    ("width", "16", "integer from 1 to 512"),
    ("seed", -1, "0 to 2147483647"),
    ("steps", 0, "1 to 10000000"),
    ("eval_every", 0, "1 to 1000000"),
]


def check_message(err: ConfigError, field: str, allowed: str) -> None:
    text = str(err)
    assert err.field == field
    assert text.startswith(f"{field}: ")
    assert allowed in text
    assert "\n" not in text


@pytest.mark.parametrize("field, value, allowed", BAD, ids=[f"{f}={v!r}" for f, v, _ in BAD])
def test_bad_value_raises_config_error_naming_field_and_range(field, value, allowed):
    with pytest.raises(ConfigError) as info:
        RunConfig(**{field: value})
    check_message(info.value, field, allowed)
    assert isinstance(info.value, ValueError)
    # every way in validates the same
    with pytest.raises(ConfigError) as info:
        RunConfig.from_dict({field: value})
    check_message(info.value, field, allowed)
    with pytest.raises(ConfigError) as info:
        RunConfig().replace(**{field: value})
    check_message(info.value, field, allowed)


def test_unknown_field_lists_known_fields():
    with pytest.raises(ConfigError) as info:
        RunConfig.from_dict({"dpth": 3})
    check_message(info.value, "dpth", "unknown field")
    for name in RunConfig.field_names():
        assert name in str(info.value)
    with pytest.raises(ConfigError) as info:
        RunConfig().with_text_values({"colour": "red"})
    check_message(info.value, "colour", "depth")


def test_defaults_are_valid_and_frozen():
    c = RunConfig()
    assert c.to_dict()["activation"] in ACTIVATIONS
    with pytest.raises(dataclasses.FrozenInstanceError):
        c.depth = 3


def test_values_are_normalised():
    c = RunConfig(activation=" ReLU ", dataset="XOR", depth=8.0, lr=1)
    assert c.activation == "relu" and c.dataset == "xor"
    assert c.depth == 8 and type(c.depth) is int
    assert c.lr == 1.0 and type(c.lr) is float
    assert RunConfig(lr=10).lr == 10.0  # the upper bound is inclusive


def test_with_text_values_parses_by_field_type():
    base = RunConfig()
    c = base.with_text_values({"depth": " 4", "lr": "0.25", "activation": "Tanh", "seed": "7", "init": "he "})
    assert (c.depth, c.lr, c.activation, c.seed, c.init) == (4, 0.25, "tanh", 7, "he")
    assert type(c.depth) is int and type(c.lr) is float
    assert c.width == base.width  # untouched fields stay
    assert base.depth == 8  # the original is unchanged


@pytest.mark.parametrize("field, text, allowed", [
    ("depth", "four", "integer from 1 to 100"),
    ("depth", "2.5", "integer from 1 to 100"),
    ("depth", "", "integer from 1 to 100"),
    ("depth", "0", "integer from 1 to 100"),
    ("width", "-3", "1 to 512"),
    ("lr", "fast", "> 0"),
    ("lr", "nan", "> 0"),
    ("lr", "0", "> 0"),
    ("activation", "swish", "sigmoid, tanh, relu"),
])
def test_with_text_values_rejects_bad_text(field, text, allowed):
    with pytest.raises(ConfigError) as info:
        RunConfig().with_text_values({field: text})
    check_message(info.value, field, allowed)


def test_from_dict_merges_over_base():
    base = RunConfig(depth=3, width=7, activation="tanh")
    c = RunConfig.from_dict({"lr": 0.2, "width": 9}, base=base)
    assert (c.depth, c.width, c.activation, c.lr) == (3, 9, "tanh", 0.2)
    assert base.width == 7
    # without a base, the defaults
    d = RunConfig.from_dict({"lr": 0.2})
    assert d == RunConfig(lr=0.2)


def test_to_dict_round_trips():
    c = RunConfig(dataset="blobs", depth=5, width=12, activation="relu", init="he",
                  optimizer="adam", lr=0.003, batch_size=32, steps=77, seed=42, eval_every=5)
    d = c.to_dict()
    assert list(d) == list(RunConfig.field_names())
    assert RunConfig.from_dict(d) == c
    assert RunConfig.from_dict(json.loads(json.dumps(d))) == c
    assert RunConfig(**d) == c


def test_summary_is_one_line_with_the_key_values():
    s = RunConfig(depth=5, width=12, activation="relu", lr=0.003, seed=42).summary()
    assert "\n" not in s
    for part in ("5×12", "relu", "0.003", "seed 42", "spiral"):
        assert part in s


def test_nan_is_never_accepted_for_any_numeric_field():
    for name in RunConfig.field_names():
        if isinstance(getattr(RunConfig(), name), (int, float)):
            with pytest.raises(ConfigError):
                RunConfig(**{name: math.nan})
