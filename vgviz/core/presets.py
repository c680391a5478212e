"""Presets (resources/presets/*.toml) and config files."""
from __future__ import annotations

import json
import os
import re
import stat
import sys
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from .config import ConfigError, RunConfig, quote, shorten
from .files import WriteError, atomic_path, write_bytes
from .layout.color_range import RangeError, check_range, parse_range

DEFAULT_PRESET = "deep-sigmoid"
MAX_CONFIG_BYTES = 2 * 2**20  # a config is a few hundred bytes; a report's JSON (one works) up to ~0.8 MB
# tomllib takes time quadratic in the parts of one dotted key ([a.a.a…]: 100,000 parts take
# half a minute); a config is a flat table, so a TOML file may hold only this many dots
MAX_TOML_DOTS = 10_000
_PRESET_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")


class PresetError(ValueError):
    """A preset or config file that cannot be used; the message says why."""


@dataclass(frozen=True)
class Preset:
    name: str
    title: str
    description: str
    config: RunConfig
    order: int = 100
    color_range: tuple[float, float] | None = None   # the diagram's log colour range, if the preset sets one


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
    """A shipped preset by name. A path is not a name: files go through load_config_file (--config)."""
    if not _PRESET_NAME.fullmatch(name):
        raise PresetError(f"{quote(name)} is not a preset name (vgviz presets lists them); "
                          f"to use a file, pass --config FILE")
    entry = _preset_dir(directory).joinpath(f"{name}.toml")
    if not entry.is_file():
        raise PresetError(f"unknown preset {name!r}; known presets: {', '.join(preset_names(directory))}")
    return _parse_preset(name, entry.read_text(encoding="utf-8"))


def preset_range(config: RunConfig | None, directory: str | Path | None = None) -> tuple[float, float] | None:
    """The colour range set by the preset whose network and training ``config`` is (whatever its
    steps, seed and evaluation period), or None (also for no config: a run file without one).
    A run file and a live run of one config agree."""
    if config is None:
        return None
    for preset in list_presets(directory):
        same = replace(config, steps=preset.config.steps, seed=preset.config.seed,
                       eval_every=preset.config.eval_every) == preset.config
        if preset.color_range is not None and same:
            return preset.color_range
    return None


def _parse_preset(name: str, text: str) -> Preset:
    try:
        doc = tomllib.loads(text)
        config = RunConfig.from_dict(doc.get("config", {}))
        color_range = _preset_range(doc.get("color_range"))
    except (tomllib.TOMLDecodeError, ConfigError, RangeError) as err:
        raise PresetError(f"preset {name!r} is invalid: {err}") from None
    return Preset(name, str(doc.get("title", name)), str(doc.get("description", "")), config,
                  int(doc.get("order", 100)), color_range)


def _preset_range(value) -> tuple[float, float] | None:
    """A preset's ``color_range = [LO, HI]`` (or "LO:HI"), checked; None if it sets none."""
    if value is None:
        return None
    if isinstance(value, str):
        return parse_range(value)
    if not isinstance(value, list) or len(value) != 2 or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
        raise RangeError(f"color_range must be [LO, HI], two numbers, not {value!r}")
    return check_range(*value)


def load_config_file(path: str | Path, base: RunConfig | None = None) -> RunConfig:
    """A run config from a TOML file (fields at top level or under [config]) or JSON
    (a report's output works: its "config" object is used). Any file a user may pick
    (a FIFO, /dev/zero, a huge or hostile file) gives a PresetError of one short line."""
    path = Path(path)
    name = _path_text(path)
    text = _read_config_text(path, name)
    is_json = path.suffix.lower() == ".json"
    if not is_json and text.count(".") > MAX_TOML_DOTS:
        raise PresetError(f"config file {name} cannot be parsed: it holds more than {MAX_TOML_DOTS:,} dots "
                          f"(a config file is a short table of fields)")
    try:
        doc = json.loads(text) if is_json else tomllib.loads(text)
    except (ValueError, RecursionError, MemoryError) as err:
        # ValueError covers JSON and TOML syntax errors and ints past Python's digit limit
        reason = "it is nested too deeply" if isinstance(err, RecursionError) else shorten(err, 120) or "out of memory"
        raise PresetError(f"config file {name} cannot be parsed: {reason}") from None
    if not isinstance(doc, dict):
        raise PresetError(f"config file {name} must hold a table of fields")
    values = doc.get("config", doc)
    if not isinstance(values, dict):
        raise PresetError(f"config file {name}: 'config' must be a table of fields")
    try:
        return RunConfig.from_dict(values, base=base)
    except ConfigError as err:
        raise PresetError(f"config file {name}: {err}") from None


def _path_text(path: Path, limit: int = 80) -> str:
    """The path quoted on one line; a long one keeps its end, where the file name is."""
    text = str(path)
    return repr(text if len(text) <= limit else "…" + text[1 - limit:])


def _read_config_text(path: Path, name: str) -> str:
    """The file's text, if it is a regular file of at most MAX_CONFIG_BYTES. stat comes
    first so a FIFO or a device is never opened (opening a FIFO blocks; /dev/zero never ends)."""
    try:
        info = os.stat(path)
        if not stat.S_ISREG(info.st_mode):
            raise PresetError(f"cannot read config file {name}: it is not a regular file")
        if info.st_size > MAX_CONFIG_BYTES:
            raise PresetError(f"config file {name} is too large ({info.st_size:,} bytes; "
                              f"a config file holds at most {MAX_CONFIG_BYTES:,})")
        with open(path, "rb") as fh:
            data = fh.read(MAX_CONFIG_BYTES + 1)  # bounded too: the file may grow after the stat
    except OSError as err:
        raise PresetError(f"cannot read config file {name}: {shorten(err.strerror or err)}") from None
    if len(data) > MAX_CONFIG_BYTES:
        raise PresetError(f"config file {name} is too large (a config file holds at most {MAX_CONFIG_BYTES:,} bytes)")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise PresetError(f"config file {name} is not text (not UTF-8)") from None


def save_config_file(config: RunConfig, path: str | Path) -> None:
    """Write a run config that load_config_file reads back: JSON for a .json path, else TOML
    under [config]. A failed write leaves any existing file as it was (vgviz.core.files)."""
    path = Path(path)
    values = config.to_dict()
    if path.suffix.lower() == ".json":
        text = json.dumps({"config": values}, indent=2) + "\n"
    else:  # a JSON scalar is a TOML value for the bools, numbers and strings a RunConfig holds
        text = "\n".join(["[config]"] + [f"{k} = {json.dumps(v)}" for k, v in values.items()]) + "\n"
    try:
        with atomic_path(path) as temp:
            write_bytes(temp, text.encode("utf-8"))
    except WriteError as err:
        raise PresetError(str(err)) from None
