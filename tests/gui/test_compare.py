"""The compare window on two Run models: both sides recorded to the run cache like any in-app run."""
from __future__ import annotations

import numpy as np

from tests.gui.conftest import WAIT_MS
from vgviz.core.presets import load_preset
from vgviz.core.runfile import open_run
from vgviz.core.runfile.restore import run_config
from vgviz.gui import run_cache
from vgviz.gui.run import Run


def test_both_sides_are_runs_recorded_to_the_run_cache(qtbot, shown):
    from vgviz.gui.compare import CompareWindow

    config = load_preset("deep-sigmoid").config.replace(depth=4, width=8, steps=60)
    w = shown(CompareWindow(config, "relu"), 900, 600)
    assert isinstance(w.a.run, Run) and isinstance(w.b.run, Run)
    qtbot.waitUntil(lambda: w.a.run.is_finished and w.b.run.is_finished, timeout=WAIT_MS)
    qtbot.waitUntil(lambda: all(s.history is not None and s.history.latest.step == 59 for s in (w.a, w.b)),
                    timeout=WAIT_MS)
    paths = {side.name: side.run.path for side in (w.a, w.b)}
    workers = w.workers
    w.close()   # the workers close their files as their threads end
    qtbot.waitUntil(lambda: all(t.isFinished() for t in workers), timeout=5000)
    assert {p.parent for p in paths.values()} == {run_cache.cache_folder()}
    for side in (w.a, w.b):
        assert f"compare-{side.name}" in paths[side.name].name
        with open_run(paths[side.name]) as recorded:
            assert run_config(recorded) == side.config
            assert recorded.steps == 60
            # the file holds the numbers the window drew
            at = np.searchsorted(side.history.steps, recorded.step)
            np.testing.assert_array_equal(side.history.steps[at], recorded.step)
            np.testing.assert_allclose(recorded.loss, side.history.loss[at], rtol=1e-6)
