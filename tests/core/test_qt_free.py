"""The core and the CLI never import Qt; the CLI and config do not import torch either."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap

QT_MODULES = ("PySide6", "pyqtgraph", "shiboken6")


def run_isolated(code: str) -> dict:
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_core_and_cli_load_no_qt():
    result = run_isolated("""
        import importlib, json, pkgutil, sys
        import vgviz.core
        names = []
        for info in pkgutil.walk_packages(vgviz.core.__path__, "vgviz.core."):
            importlib.import_module(info.name)
            names.append(info.name)
        import vgviz.cli
        # exercising a headless command must not pull Qt in either
        import io, contextlib
        with contextlib.redirect_stdout(io.StringIO()):
            assert vgviz.cli.main(["presets"]) == 0
        loaded = sorted(m for m in sys.modules if m.split(".")[0] in %r)
        print(json.dumps({"imported": names, "qt": loaded, "torch": "torch" in sys.modules}))
    """ % (QT_MODULES,))
    assert result["qt"] == []
    assert result["torch"]  # sanity: the walk really imported the torch-using modules
    for expected in ("vgviz.core.config", "vgviz.core.presets", "vgviz.core.layers", "vgviz.core.tasks",
                     "vgviz.core.tasks.trainer", "vgviz.core.tasks.mlp.trainer", "vgviz.core.tasks.recurrent.trainer",
                     "vgviz.core.measure.probe", "vgviz.core.measure.history", "vgviz.core.measure.updates",
                     "vgviz.core.backprop.trace", "vgviz.core.diagnose.experiments", "vgviz.core.diagnose.verdict",
                     "vgviz.core.layout.network_diagram", "vgviz.core.layout.unrolled_columns"):
        assert expected in result["imported"]


def test_cli_config_and_presets_do_not_import_torch():
    result = run_isolated("""
        import json, sys, io, contextlib
        import vgviz, vgviz.cli, vgviz.core.config, vgviz.core.presets
        with contextlib.redirect_stdout(io.StringIO()):
            assert vgviz.cli.main(["presets"]) == 0
        with contextlib.redirect_stderr(io.StringIO()):
            assert vgviz.cli.main(["report", "--set", "depth=0"]) == 2
        print(json.dumps({"torch": "torch" in sys.modules, "numpy": "numpy" in sys.modules}))
    """)
    assert result == {"torch": False, "numpy": False}
