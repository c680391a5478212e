"""One step count for every view: "step N" means N training steps completed.

StepStats.step counts the updates applied *before* a measurement (0 = the initial
weights); Trainer.step() then applies that step's update, so its stats stand for
stats.step + 1 completed steps. Stats taken without an update (Trainer.measure(), or a
diverged step, which applies none) stand for stats.step.
"""
from __future__ import annotations

from .stats import StepStats


def steps_done(stats: StepStats) -> int:
    """Training steps completed once ``stats`` was taken (and its update, if any, applied)."""
    return stats.step if stats.measured_only or stats.diverged else stats.step + 1


def step_text(steps: int) -> str:
    """How every caption, title and status bar writes a step count: 'step 5,000'."""
    return f"step {steps:,}"


def step_label(stats: StepStats) -> str:
    """``step_text(steps_done(stats))``: the step a view of ``stats`` names."""
    return step_text(steps_done(stats))
