"""What a training step measures: the gradient probe, the flat parameter buffer, StepStats,
the History of a run, and ‖ΔW‖/‖W‖ per update."""
