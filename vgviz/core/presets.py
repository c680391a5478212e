"""Presets (resources/presets/*.toml) and config files."""
from __future__ import annotations

import json
import os
import sys
import tempfile
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from .config import ConfigError, RunConfig

DEFAULT_PRESET = "deep-sigmoid"


class PresetError(ValueError):
    """A preset or config file that cannot be used; the message says why."""


@dataclass(frozen=True)
class Preset:
    name: str
    title: str
    description: str
    config: RunConfig
    order: int = 100


def _preset_dir(directory: str | Path | None = None):
    """The shipped presets (the package vgviz.resources.presets), or `directory` if given."""
    if directory is not None:
        return Path(directory)
    return resources.files("vgviz.resources").joinpath("presets")


def preset_names(directory: str | Path | None = None) -> list[str]:
    return [p.name for p in list_presets(directory)]


def list_presets(directory: str | Path | None = None) -> list[Preset]:
    """Every preset, in (order, name) order; from the shipped presets or a directory of TOML files."""
    found = []
    for entry in _preset_dir(directory).iterdir():
        if entry.name.endswith(".toml"):
            found.append(_parse_preset(entry.name[:-5], entry.read_text(encoding="utf-8")))
    return sorted(found, key=lambda p: (p.order, p.name))


def load_preset(name: str, directory: str | Path | None = None) -> Preset:
    entry = _preset_dir(directory).joinpath(f"{name}.toml")
    if not entry.is_file():
        raise PresetError(f"unknown preset {name!r}; known presets: {', '.join(preset_names(directory))}")
    return _parse_preset(name, entry.read_text(encoding="utf-8"))


def _parse_preset(name: str, text: str) -> Preset:
    try:
        doc = tomllib.loads(text)
        config = RunConfig.from_dict(doc.get("config", {}))
    except (tomllib.TOMLDecodeError, ConfigError) as err:
        raise PresetError(f"preset {name!r} is invalid: {err}") from None
    return Preset(name, str(doc.get("title", name)), str(doc.get("description", "")), config,
                  int(doc.get("order", 100)))


def load_config_file(path: str | Path, base: RunConfig | None = None) -> RunConfig:
    """A run config from a TOML file (fields at top level or under [config]) or JSON
    (a report's output works: its "config" object is used)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise PresetError(f"cannot read config file {str(path)!r}: {err.strerror or err}") from None
    except UnicodeDecodeError:
        raise PresetError(f"config file {str(path)!r} is not text") from None
    try:
        if path.suffix.lower() == ".json":
            doc = json.loads(text)
        else:
            doc = tomllib.loads(text)
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as err:
        raise PresetError(f"config file {str(path)!r} cannot be parsed: {err}") from None
    if not isinstance(doc, dict):
        raise PresetError(f"config file {str(path)!r} must hold a table of fields")
    values = doc.get("config", doc)
    if not isinstance(values, dict):
        raise PresetError(f"config file {str(path)!r}: 'config' must be a table of fields")
    try:
        return RunConfig.from_dict(values, base=base)
    except ConfigError as err:
        raise PresetError(f"config file {str(path)!r}: {err}") from None


def save_config_file(config: RunConfig, path: str | Path) -> None:
    """Write a run config that load_config_file reads back: JSON for a .json path, else TOML
    under [config]. Written to a temporary file beside it and renamed over it, so a failed
    write leaves any existing file as it was."""
    path = Path(path)
    values = config.to_dict()
    if path.suffix.lower() == ".json":
        text = json.dumps({"config": values}, indent=2) + "\n"
    else:  # a JSON scalar is a TOML value for the bools, numbers and strings a RunConfig holds
        text = "\n".join(["[config]"] + [f"{k} = {json.dumps(v)}" for k, v in values.items()]) + "\n"
    try:
        fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
            os.replace(temp, path)
        except BaseException:
            os.unlink(temp)
            raise
    except OSError as err:
        raise PresetError(f"cannot write {path}: {err.strerror or err}") from None
