"""Diagnosing a recorded run: `vgviz.diagnose(run)` on a run file, any model's.

Everything a file holds is judged: δ and the forward signal from its full captures,
|dL/dW| and the update ratio from its per-step sums. The findings that need the model
itself (activation statistics, the ablation) run on the model rebuilt at the last saved
weights when the file holds a built-in config and weights; otherwise they say so.
"""
from __future__ import annotations

import os
from typing import Sequence

from ..runfile import Run, open_run
from ..runfile.format import RunFileError
from ..runfile.replay import history_from_run
from ..runfile.restore import checkpoint_step, run_config, trainer_at
from .experiments import default_ablation_k, diagnose_trainer, hidden_count, shallower_comparison
from .verdict import Diagnosis, diagnose

NEEDS_WEIGHTS = "not measured: it needs the model's final weights and config, which this run file does not hold"
RECURRENT_KINDS = ("RNN", "LSTM", "GRU", "RNNCell", "LSTMCell", "GRUCell")


def diagnose_run(run: Run | str | os.PathLike, *, shallower_depth: int | None = None, seeds: int = 1,
                 presets: Sequence[str] | None = None, history=None) -> Diagnosis:
    """The Diagnosis of a run file (a path or an open `Run`) at its last recorded step.

    shallower_depth: also train the run's config with that many hidden layers (a file with
    a built-in config only) for the training-performance finding, over `seeds` seeds.
    history: the run's History if the caller has it already (history_from_run(run)).
    """
    if not isinstance(run, Run):
        with open_run(run) as opened:
            return diagnose_run(opened, shallower_depth=shallower_depth, seeds=seeds, presets=presets)
    if run.steps == 0:
        raise RunFileError(f"{run.path}: holds no training steps yet")
    if seeds < 1:
        raise ValueError(f"seeds: must be at least 1; got {seeds}")
    config = run_config(run)
    if shallower_depth is not None and config is None:
        raise RunFileError(f"{run.path}: --shallower needs the run's config, which this file does not hold")
    history = history if history is not None else history_from_run(run)
    if history.latest is None:
        raise RunFileError(f"{run.path}: holds no full capture, so no per-layer numbers")
    baseline = spread = None
    if shallower_depth is not None:
        baseline, spread = shallower_comparison(config, config.replace(depth=shallower_depth), seeds, history)
    weights_at = checkpoint_step(run) if config is not None else None
    if weights_at is not None:
        trainer = trainer_at(run, weights_at, capture_edges=False)
        diagnosis, _, _ = diagnose_trainer(trainer, history, baseline=baseline, seeds=spread, presets=presets,
                                           ablation_k=default_ablation_k(hidden_count(trainer.model)))
        return diagnosis
    recurrent = run.model is not None and any(layer.kind in RECURRENT_KINDS for layer in run.model.layers)
    diagnosis = diagnose(history, baseline=baseline, seeds=spread, recurrent=recurrent, presets=presets,
                         config=config)
    return diagnosis.with_note(("unresponsive_neurons", "reliance_on_upper_layers"), NEEDS_WEIGHTS)
