"""Presets and config files."""
from __future__ import annotations

import json
import sys
from importlib import resources

import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from vgviz.core.config import RunConfig
from vgviz.core.presets import (DEFAULT_PRESET, PresetError, list_presets, load_config_file,
                                load_preset, preset_names, save_config_file)

NAMES = ["deep-sigmoid", "deep-relu-he", "shallow-sigmoid", "nielsen-shallow", "nielsen-deep", "deep-relu",
         "relu30-xavier", "relu30-he", "tanh-tiny-init", "tanh-large-init", "deep-sigmoid-batchnorm",
         "deep-plain-relu30", "deep-residual-relu30", "exploding", "exploding-clipped"]


def one_line(err: Exception) -> str:
    text = str(err)
    assert "\n" not in text and text
    return text


def test_every_preset_listed_in_order():
    presets = list_presets()
    names = [p.name for p in presets]
    assert names == preset_names() and names[:len(NAMES)] == NAMES     # the first story, then the others
    assert [(p.order, p.name) for p in presets] == sorted((p.order, p.name) for p in presets)
    assert DEFAULT_PRESET in NAMES
    for p in presets:
        assert p.title.strip() and p.title != p.name
        assert len(p.description.strip()) > 20
        assert isinstance(p.config, RunConfig)


@pytest.mark.parametrize("name", NAMES)
def test_preset_config_is_the_files_config_table(name):
    p = load_preset(name)
    assert p == next(q for q in list_presets() if q.name == name)
    text = resources.files("vgviz.resources").joinpath("presets", f"{name}.toml").read_text(encoding="utf-8")
    doc = tomllib.loads(text)
    assert p.title == doc["title"] and p.description == doc["description"]
    assert p.config == RunConfig.from_dict(doc["config"])


def test_presets_tell_the_vanishing_gradient_story():
    sig, relu, shallow = (load_preset(n).config for n in NAMES[:3])
    assert (sig.activation, sig.init, sig.depth) == ("sigmoid", "default", 8)
    assert (relu.activation, relu.init, relu.depth) == ("relu", "he", 8)
    assert (shallow.activation, shallow.depth) == ("sigmoid", 2)
    # the fix changes activation/init (and lr), not the task
    assert (sig.dataset, sig.width, sig.seed) == (relu.dataset, relu.width, relu.seed)


def test_unknown_preset():
    with pytest.raises(PresetError) as info:
        load_preset("deep-tanh")
    text = one_line(info.value)
    assert "deep-tanh" in text
    for name in NAMES:
        assert name in text


def test_toml_top_level_fields(tmp_path):
    f = tmp_path / "run.toml"
    f.write_text('depth = 3\nactivation = "tanh"\nlr = 0.2\n', encoding="utf-8")
    c = load_config_file(f)
    assert c == RunConfig(depth=3, activation="tanh", lr=0.2)
    base = RunConfig(width=7, seed=9)
    assert load_config_file(str(f), base=base) == RunConfig(width=7, seed=9, depth=3, activation="tanh", lr=0.2)


def test_toml_config_table_and_preset_files(tmp_path):
    f = tmp_path / "run.toml"
    f.write_text('title = "mine"\n\n[config]\ndepth = 4\ninit = "xavier"\n', encoding="utf-8")
    assert load_config_file(f) == RunConfig(depth=4, init="xavier")
    # a shipped preset file is a valid config file
    preset_file = tmp_path / "preset.toml"
    preset_file.write_text(resources.files("vgviz.resources").joinpath("presets", "deep-relu-he.toml")
                           .read_text(encoding="utf-8"), encoding="utf-8")
    assert load_config_file(preset_file) == load_preset("deep-relu-he").config


def test_json_plain_and_report_output(tmp_path):
    f = tmp_path / "plain.json"
    f.write_text(json.dumps({"depth": 2, "width": 4}), encoding="utf-8")
    assert load_config_file(f) == RunConfig(depth=2, width=4)

    from vgviz.cli import run_report
    config = RunConfig(depth=2, width=4, activation="relu", init="he", steps=2, seed=3)
    report = tmp_path / "report.json"
    report.write_text(json.dumps(run_report(config)), encoding="utf-8")
    assert load_config_file(report) == config


def test_uppercase_json_suffix(tmp_path):
    f = tmp_path / "RUN.JSON"
    f.write_text('{"config": {"depth": 5}}', encoding="utf-8")
    assert load_config_file(f).depth == 5


@pytest.mark.parametrize("filename, content, expect", [
    ("bad.toml", "depth = = 3\n", "cannot be parsed"),
    ("bad.json", '{"depth": 3', "cannot be parsed"),
    ("list.json", "[1, 2]", "table of fields"),
    ("cfg.json", '{"config": 3}', "'config' must be a table"),
    ("unknown.toml", "dpth = 3\n", "dpth: unknown field"),
    ("unknown.json", '{"config": {"colour": "red"}}', "colour: unknown field"),
    ("range.toml", "[config]\ndepth = 0\n", "depth: must be an integer from 1 to 100"),
    ("nan.json", '{"lr": NaN}', "lr: must be a finite number"),
    ("type.toml", 'width = "wide"\n', "width: must be an integer"),
])
def test_bad_files_raise_preset_error(tmp_path, filename, content, expect):
    f = tmp_path / filename
    f.write_text(content, encoding="utf-8")
    with pytest.raises(PresetError) as info:
        load_config_file(f)
    text = one_line(info.value)
    assert expect in text
    assert filename in text  # says which file


def test_missing_file(tmp_path):
    with pytest.raises(PresetError) as info:
        load_config_file(tmp_path / "nowhere.toml")
    text = one_line(info.value)
    assert "nowhere.toml" in text and "cannot read" in text


def test_binary_file(tmp_path):
    f = tmp_path / "blob.toml"
    f.write_bytes(b"\xff\xfe\x00garbage\x80")
    with pytest.raises(PresetError, match="not text"):
        load_config_file(f)


def test_directory(tmp_path):
    with pytest.raises(PresetError, match="cannot read"):
        load_config_file(tmp_path)


@pytest.mark.parametrize("suffix", [".toml", ".json", ".JSON"])
def test_a_saved_config_reads_back_the_same(tmp_path, suffix):
    for preset in list_presets():
        path = tmp_path / f"{preset.name}{suffix}"
        save_config_file(preset.config, path)
        assert load_config_file(path) == preset.config, preset.name
    config = RunConfig(lr=1e-05, init_std=0.25, model="gru", dataset="recall", depth=2)   # exponents, strings
    save_config_file(config, tmp_path / f"odd{suffix}")
    assert load_config_file(tmp_path / f"odd{suffix}") == config


def test_saving_over_a_file_replaces_it_whole_or_not_at_all(tmp_path, monkeypatch):
    path = tmp_path / "run.toml"
    save_config_file(RunConfig(depth=3), path)
    before = path.read_bytes()

    def fail(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("vgviz.core.files.os.replace", fail)
    with pytest.raises(PresetError) as err:
        save_config_file(RunConfig(depth=9), path)
    assert "no space left on the device" in one_line(err.value) and "run.toml" in str(err.value)
    assert path.read_bytes() == before                     # the old file is intact
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.toml"]   # and no temporary file is left


def test_saving_into_a_missing_folder_is_one_clear_error(tmp_path):
    with pytest.raises(PresetError, match="cannot write"):
        save_config_file(RunConfig(), tmp_path / "no-such-folder" / "run.toml")
