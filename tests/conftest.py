import os

# Qt tests run headless; set before any Qt module is imported.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402


REPO_PRESETS = Path(__file__).resolve().parents[1] / "resources" / "presets"


@pytest.fixture
def repo_presets(monkeypatch):
    """Presets read from this checkout's resources/presets. In a git worktree whose editable
    install maps the package vgviz.resources to another checkout, the shipped presets are that
    checkout's; where resources/ is the package (a clone, main) this changes nothing."""
    import vgviz.core.presets as presets

    shipped = presets._preset_dir
    monkeypatch.setattr(presets, "_preset_dir", lambda directory=None: shipped(directory or REPO_PRESETS))
    return REPO_PRESETS
