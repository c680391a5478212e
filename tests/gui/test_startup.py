"""The window paints before torch is imported: the GUI's import chain must not pull it in."""
import os
import subprocess
import sys


def test_gui_modules_do_not_import_torch():
    code = ("import sys; import vgviz.gui.app, vgviz.gui.main_window; "
            "print('torch' in sys.modules)")
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False", "torch is imported at GUI start-up; import it in the worker instead"
