"""A trainer rebuilt from a run file: the built-in model of the file's config with the
weights of one of its checkpoints, for what needs the model itself (the report's
activation statistics and ablation, the backprop pass `vgviz render --run` draws).
"""
from __future__ import annotations

import numpy as np

from ..config import ConfigError, RunConfig
from .format import RunFileError
from .reader import Run


def run_config(run: Run) -> RunConfig | None:
    """The file's RunConfig, or None for a run of a model that is not built in."""
    if run.config is None:
        return None
    try:
        return RunConfig.from_dict(run.config)
    except (ConfigError, TypeError, ValueError) as e:
        raise RunFileError(f"{run.path}: its config is not one this vgviz can build ({e})") from None


def checkpoint_step(run: Run, step: int | None = None) -> int | None:
    """The checkpoint saved at exactly ``step`` (the last one when None), or None."""
    saved = run.weight_steps
    if len(saved) == 0:
        return None
    if step is None:
        return int(saved[-1])
    return step if step in saved else None


def trainer_at(run: Run, step: int, *, capture_edges: bool = True):
    """A trainer of the file's config holding the weights saved after ``step`` updates,
    with its step count there (so trace() uses that step's batch). The optimizer's
    state is not in the file: train it no further. RunFileError when the file has no
    config or no weights at ``step``."""
    import torch

    from ..tasks import make_trainer

    config = run_config(run)
    if config is None:
        raise RunFileError(f"{run.path}: holds no config of a built-in model, so its model cannot be rebuilt")
    if checkpoint_step(run, step) != step:
        raise RunFileError(f"{run.path}: no weights saved at step {step} (saved at steps "
                           f"{describe_steps(run.weight_steps)})")
    trainer = make_trainer(config, capture_edges=capture_edges)
    state = {name: torch.from_numpy(values) for name, values in run.weights(step).items()}
    try:
        trainer.model.load_state_dict(state)   # copies into the model's own tensors and dtypes
    except (RuntimeError, KeyError) as e:
        raise RunFileError(f"{run.path}: its weights do not fit the model of its config "
                           f"({str(e).splitlines()[0]})") from None
    trainer.step_count = step
    return trainer


def describe_steps(steps: np.ndarray, most: int = 8) -> str:
    """'0, 1, 4, 16, …, 5000': a list of steps short enough for one line."""
    values = [str(int(s)) for s in steps]
    if len(values) > most:
        values = values[: most - 1] + ["…", values[-1]]
    return ", ".join(values) or "none"
