"""The shape of the code: no import loop in vgviz.core, no module or class too big to read."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE_ROOT = Path(__file__).resolve().parents[2] / "vgviz"
MAX_MODULE_LINES = 700
MAX_CLASS_LINES = 450
# Another engineer is slimming these GUI modules; the size check fails on them for now.
# Remove a file from this list once it fits: its xfail is strict, so the test says so.
TOO_BIG_FOR_NOW: tuple[str, ...] = ()
# The main window is wiring only: the run, stepping, settings, status and docks live beside it.
MAX_MAIN_WINDOW_LINES = 300


def module_name(path: Path, root: Path) -> str:
    parts = path.relative_to(root.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def is_package(path: Path) -> bool:
    return path.name == "__init__.py"


def imported_modules(path: Path, root: Path, modules: set[str]) -> set[str]:
    """The modules of `modules` that importing `path` runs: every Import and ImportFrom
    anywhere in it (inside functions too), plus the packages above each target that do
    not already contain the importer (Python runs a package's __init__ first)."""
    name = module_name(path, root)
    package = name if is_package(path) else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            # `from package import submodule` imports the submodule
            targets = [source] + [f"{source}.{alias.name}" for alias in node.names]
        else:
            continue
        for target in targets:
            if target not in modules:
                continue
            parts = target.split(".")
            for i in range(1, len(parts) + 1):
                above = ".".join(parts[:i])
                if above in modules and above != name and not (name + ".").startswith(above + "."):
                    found.add(above)
    return found


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of the graph as [a, b, …, a], or None."""
    state: dict[str, int] = {}   # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state:
                cycle = visit(nxt)
                if cycle:
                    return cycle
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state:
            cycle = visit(start)
            if cycle:
                return cycle
    return None


def core_graph(root: Path = PACKAGE_ROOT) -> dict[str, set[str]]:
    """vgviz.core's modules, each with the vgviz.core modules importing it runs."""
    files = sorted((root / "core").rglob("*.py"))
    modules = {module_name(p, root) for p in files}
    return {module_name(p, root): imported_modules(p, root, modules) for p in files}


def test_the_core_import_graph_has_no_cycle():
    graph = core_graph()
    assert "vgviz.core.tasks" in graph and "vgviz.core.diagnose.experiments" in graph  # the walk saw the packages
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle in vgviz.core: " + " -> ".join(cycle)


def test_the_cycle_finder_sees_a_loop_through_a_function_level_import(tmp_path):
    """The check above must be able to fail: a loop made only by an import inside a function."""
    (tmp_path / "vgviz" / "core" / "pkg").mkdir(parents=True)
    (tmp_path / "vgviz" / "core" / "pkg" / "__init__.py").write_text("")
    (tmp_path / "vgviz" / "core" / "pkg" / "a.py").write_text("from . import b\n")
    (tmp_path / "vgviz" / "core" / "pkg" / "b.py").write_text("def f():\n    from .a import x\n")
    (tmp_path / "vgviz" / "core" / "c.py").write_text("from .pkg.a import y\n")
    graph = core_graph(tmp_path / "vgviz")
    assert find_cycle(graph) == ["vgviz.core.pkg.a", "vgviz.core.pkg.b", "vgviz.core.pkg.a"]
    assert graph["vgviz.core.c"] == {"vgviz.core.pkg", "vgviz.core.pkg.a"}   # the package's __init__ runs too


def sizes(path: Path) -> list[str]:
    """What is too big in a file: the module over MAX_MODULE_LINES, any class over MAX_CLASS_LINES."""
    text = path.read_text(encoding="utf-8")
    rel = path.relative_to(PACKAGE_ROOT.parent).as_posix()
    problems = []
    lines = len(text.splitlines())
    if lines > MAX_MODULE_LINES:
        problems.append(f"{rel}: {lines} lines (at most {MAX_MODULE_LINES})")
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.ClassDef):
            length = node.end_lineno - node.lineno + 1
            if length > MAX_CLASS_LINES:
                problems.append(f"{rel}: class {node.name} {length} lines (at most {MAX_CLASS_LINES})")
    return problems


SOURCES = sorted(PACKAGE_ROOT.rglob("*.py"))


@pytest.mark.parametrize("path", [
    pytest.param(p, id=p.relative_to(PACKAGE_ROOT.parent).as_posix(),
                 marks=[pytest.mark.xfail(strict=True, reason="being slimmed on another branch")]
                 if p.relative_to(PACKAGE_ROOT.parent).as_posix() in TOO_BIG_FOR_NOW else [])
    for p in SOURCES])
def test_no_module_or_class_is_too_big(path):
    assert sizes(path) == []


def test_the_files_excused_from_the_size_check_exist():
    for rel in TOO_BIG_FOR_NOW:
        assert (PACKAGE_ROOT.parent / rel).is_file(), rel


def test_the_main_window_is_wiring_only():
    path = PACKAGE_ROOT / "gui" / "main_window.py"
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines < MAX_MAIN_WINDOW_LINES, f"vgviz/gui/main_window.py has {lines} lines (under {MAX_MAIN_WINDOW_LINES})"
