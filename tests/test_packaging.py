"""Packaging: the PySide6 pin, resources found by importlib.resources, the wheel's contents."""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
import zipfile
from importlib import metadata, resources
from pathlib import Path

import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
PYSIDE = {"pyside6", "pyside6-essentials", "pyside6-addons"}
# every preset file in the repository; the installed package must serve the same set
PRESETS = {p.name for p in (Path(__file__).resolve().parents[1] / "resources" / "presets").glob("*.toml")}

try:
    from packaging.requirements import Requirement
    from packaging.specifiers import SpecifierSet
    from packaging.utils import canonicalize_name
except ImportError:  # pragma: no cover - packaging is almost always present
    Requirement = None


def pyside_spec_for(python: str):
    """The combined PySide6 specifier pip would apply on this Python version, or None."""
    env = {"python_version": python, "python_full_version": python + ".0",
           "sys_platform": sys.platform, "platform_system": "Linux", "os_name": "posix",
           "implementation_name": "cpython", "platform_python_implementation": "CPython"}
    combined, found = SpecifierSet(), False
    for line in PYPROJECT["project"]["dependencies"]:
        req = Requirement(line)
        if canonicalize_name(req.name) in PYSIDE and (req.marker is None or req.marker.evaluate(env)):
            combined &= req.specifier
            found = True
    return combined if found else None


@pytest.mark.skipif(Requirement is None, reason="packaging not installed")
@pytest.mark.parametrize("python", ["3.10", "3.11"])
def test_pyside_6_12_0_excluded_before_python_3_12(python):
    spec = pyside_spec_for(python)
    assert spec is not None, f"no PySide6 requirement applies on Python {python}"
    assert not spec.contains("6.12.0", prereleases=True)
    assert spec.contains("6.11.3")  # but a working version is allowed


@pytest.mark.skipif(Requirement is None, reason="packaging not installed")
@pytest.mark.parametrize("python", ["3.12", "3.13"])
def test_pyside_6_12_0_allowed_from_python_3_12(python):
    spec = pyside_spec_for(python)
    assert spec is not None and spec.contains("6.12.0")


def test_pyside_pin_simple_check():
    # Without `packaging`: every PySide6 line either caps below 6.12 or is limited to 3.12+.
    lines = [d for d in PYPROJECT["project"]["dependencies"] if d.lower().startswith("pyside6")]
    assert lines
    for line in lines:
        spec, _, marker = line.partition(";")
        if "<6.12" in spec.replace(" ", ""):
            continue
        assert re.search(r"python_version\s*>=\s*['\"]3\.12['\"]", marker), line


def test_installed_pyside_is_not_the_broken_one():
    try:
        version = metadata.version("PySide6-Essentials")
    except metadata.PackageNotFoundError:
        pytest.skip("PySide6-Essentials not installed")
    if sys.version_info < (3, 12):
        assert version != "6.12.0"


def test_presets_found_via_importlib_resources():
    presets = resources.files("vgviz.resources").joinpath("presets")
    names = {e.name for e in presets.iterdir() if e.name.endswith(".toml")}
    import vgviz
    if (Path(vgviz.__file__).resolve().parent == ROOT / "vgviz"
            and Path(str(resources.files("vgviz.resources"))).resolve() != ROOT / "resources"):
        pytest.skip("vgviz.resources is another checkout's (a git worktree sharing an editable install)")
    assert names == PRESETS
    for name in names:
        doc = tomllib.loads(presets.joinpath(name).read_text(encoding="utf-8"))
        assert doc["title"] and doc["description"] and isinstance(doc["config"], dict)
    # the module form works too
    assert resources.files("vgviz.resources.presets").joinpath("deep-sigmoid.toml").is_file()


def test_console_script_declared():
    assert PYPROJECT["project"]["scripts"]["vgviz"] == "vgviz.cli:main"
    entry = [e for e in metadata.entry_points(group="console_scripts") if e.name == "vgviz"]
    if entry:  # installed (editable or not): the metadata agrees
        assert entry[0].value == "vgviz.cli:main"


def test_wheel_ships_presets_and_entry_point(tmp_path):
    pytest.importorskip("setuptools")
    src = tmp_path / "src"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    src.mkdir()
    shutil.copy(ROOT / "pyproject.toml", src)
    readme = ROOT / "README.md"
    if readme.exists():
        shutil.copy(readme, src)
    else:  # pragma: no cover
        (src / "README.md").write_text("vgviz\n")
    shutil.copytree(ROOT / "vgviz", src / "vgviz", ignore=ignore)
    shutil.copytree(ROOT / "resources", src / "resources", ignore=ignore)
    dist = tmp_path / "dist"
    proc = subprocess.run(
        [sys.executable, "-c", f"from setuptools import build_meta; print(build_meta.build_wheel({str(dist)!r}))"],
        cwd=src, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-3000:]
    wheel = dist / proc.stdout.strip().splitlines()[-1]
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
        ep_text = zf.read(entry_points).decode()
        meta = zf.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    for preset in PRESETS:
        assert f"vgviz/resources/presets/{preset}" in names
    # every module, subpackages included (pyproject.toml lists the packages one by one)
    modules = {p.relative_to(ROOT).as_posix() for p in (ROOT / "vgviz").rglob("*.py")}
    assert "vgviz/core/tasks/mlp/trainer.py" in modules
    assert modules - names == set()
    assert "vgviz/resources/__init__.py" in names
    assert re.search(r"^vgviz\s*=\s*vgviz\.cli:main$", ep_text, re.M)
    # the pin survives into the built metadata
    requires = [line for line in meta.splitlines() if line.lower().startswith("requires-dist: pyside6")]
    assert any("<6.12" in line and "3.12" in line for line in requires), requires
