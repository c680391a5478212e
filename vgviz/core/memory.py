"""How much memory a run needs, from its RunConfig alone, before anything is allocated.

Every field is range-checked, yet the ranges combine into runs no machine holds: lstm,
depth 4, width 512, seq_len 1000, batch 4096 keeps gigabytes of gate values per layer for
backward. check_fits() refuses such a run with one line naming both numbers, instead of a
MemoryError (or the kernel's OOM killer) minutes later. Pure Python: no torch, no Qt.

The estimate counts what a training step holds at its peak (vgviz.core.tasks,
measure.probe): the data set; the weights with their gradients, optimizer state and the copies the
trainer keeps (initial state, update-ratio snapshot); the tensors autograd saves for backward,
with the probe's captures; the evaluation batch. The per-element counts below were measured
(tests/core/test_memory.py checks the estimate against a real run's peak). It leaves out the
interpreter and torch themselves (a few hundred MB, there before any run).
"""
from __future__ import annotations

from dataclasses import dataclass

from .config import ConfigError, RunConfig, SEQUENCE_TASKS

DTYPE_BYTES = {"float32": 4, "float64": 8, "bfloat16": 2}
# The data sets (vgviz.core.tasks): 1,000 generated examples or the 1,797 digits, a fifth held out.
N_EXAMPLES = {"digits": 1797}
N_DEFAULT_EXAMPLES = 1000
TEST_FRACTION = 0.2
N_FEATURES = {"digits": 64, "recall": 4}
N_CLASSES = {"digits": 10, "blobs": 3, "recall": 4}
# Copies of the parameters a run holds: weights, gradients, initial state, update-ratio
# snapshot and |dL/dW| per edge for the diagram; adam adds two moments, momentum one buffer.
PARAMETER_COPIES = 5
OPTIMIZER_COPIES = {"adam": 2, "sgd_momentum": 1, "sgd": 0}
# (batch, width) tensors a hidden layer holds in a step: Linear output, activation output,
# their gradients, the probe's retained δ and forward signal.
MLP_COPIES_PER_LAYER = 6
NORM_EXTRA_COPIES = 3
RESIDUAL_EXTRA_COPIES = 2     # each block's sum and its gradient
# (batch, width) tensors a recurrent layer holds per time step: the cell's saved gate values,
# h (and c) with the probe's added zero, their gradients, and the float64 copies _capture takes.
RECURRENT_COPIES_PER_STEP = {"rnn": 8, "gru": 16, "lstm": 20}
GB = 1e9


@dataclass(frozen=True)
class MemoryEstimate:
    """Bytes a run holds at its peak, by what holds them."""

    data: int
    parameters: int
    activations: int

    @property
    def total(self) -> int:
        return self.data + self.parameters + self.activations


class MemoryCheckError(ConfigError):
    """A valid config that needs more memory than the machine has; str() is one line."""

    def __init__(self, message: str, needed: int, available: int):
        ValueError.__init__(self, message)  # no "field: " prefix: the line names the fields to lower
        self.field = "batch_size"
        self.needed = needed
        self.available = available


def count_parameters(config: RunConfig) -> int:
    n_in, n_out, w, depth = _features(config), _classes(config), config.width, config.depth
    if config.recurrent:
        from_gates = {"rnn": 1, "lstm": 4, "gru": 3}[config.model]
        first = from_gates * w * (n_in + w + 2)
        return first + (depth - 1) * from_gates * w * (2 * w + 2) + w * n_out + n_out
    norm = 2 * w * depth if config.norm != "none" else 0
    return (n_in + 1) * w + (depth - 1) * (w + 1) * w + (w + 1) * n_out + norm


def estimate(config: RunConfig) -> MemoryEstimate:
    """The peak memory of a run of this config (bytes, by kind); allocates nothing."""
    item = DTYPE_BYTES[config.dtype]
    n_examples = N_EXAMPLES.get(config.dataset, N_DEFAULT_EXAMPLES)
    n_train = n_examples - round(n_examples * TEST_FRACTION)
    n_params = count_parameters(config)
    optimizer = config.optimizer if config.optimizer == "adam" else (
        "sgd_momentum" if config.momentum else "sgd")
    parameters = n_params * item * (PARAMETER_COPIES + OPTIMIZER_COPIES[optimizer])
    w, depth = config.width, config.depth
    if config.dataset in SEQUENCE_TASKS:
        steps = config.seq_len
        # one-hot sequences: the examples (float32 and dtype), a fresh batch each step
        data = n_examples * steps * N_FEATURES[config.dataset] * (4 + item)
        batch = config.batch_size
        data += batch * steps * N_FEATURES[config.dataset] * (4 + item) + batch * steps * 8
        per_step = RECURRENT_COPIES_PER_STEP[config.model] * batch * w * item
        activations = depth * steps * per_step
        # evaluation: the test set through the fused module, no graph kept
        evaluation = (n_examples - n_train) * steps * w * item * 4
    else:
        data = n_examples * (_features(config) * (4 + item) + 16)
        batch = min(config.batch_size, n_train)   # a batch is at most the whole training set
        copies = (MLP_COPIES_PER_LAYER + (NORM_EXTRA_COPIES if config.norm != "none" else 0)
                  + (RESIDUAL_EXTRA_COPIES if config.residual else 0))
        activations = depth * copies * batch * w * item
        evaluation = 2 * max(n_examples - n_train, 64 * 64) * w * item  # test set or decision grid
    return MemoryEstimate(data=int(data), parameters=int(parameters),
                          activations=int(activations + evaluation))


def available_bytes() -> int:
    """Memory the system can give this process now without swapping (psutil: the same
    figure on Linux, macOS and Windows)."""
    import psutil

    return int(psutil.virtual_memory().available)


def format_bytes(n: float) -> str:
    if n >= 0.95 * GB:
        return f"{n / GB:.1f} GB"
    return f"{max(n / 1e6, 1):.0f} MB"


def knobs(config: RunConfig) -> str:
    """The fields that make a run smaller, as a phrase."""
    return "batch_size, seq_len, width or depth" if config.recurrent else "batch_size, width or depth"


def check_fits(config: RunConfig, *, available: int | None = None, alongside: tuple[RunConfig, ...] = (),
               override_hint: str | None = "pass --ignore-memory-check") -> MemoryEstimate:
    """Raise MemoryCheckError (a ConfigError) if a run of `config` (with the runs of
    `alongside`, trained at the same time) needs more memory than is available; else return
    the estimate of `config`. `override_hint` ends the message, in parentheses."""
    needed = estimate(config)
    total = needed.total + sum(estimate(other).total for other in alongside)
    free = available_bytes() if available is None else available
    if total > free:
        hint = f" (or {override_hint})" if override_hint else ""
        raise MemoryCheckError(
            f"{'these runs need' if alongside else 'this run needs'} about {format_bytes(total)} of memory "
            f"but {format_bytes(free)} is available; lower {knobs(config)}{hint}", total, free)
    return needed


def is_out_of_memory(err: BaseException) -> bool:
    """MemoryError, or torch's RuntimeError for a failed allocation (CPU or GPU)."""
    if isinstance(err, MemoryError):
        return True
    text = str(err).lower()
    return isinstance(err, RuntimeError) and ("out of memory" in text or "can't allocate memory" in text
                                              or "failed to allocate" in text)


def memory_error_message(err: BaseException, config: RunConfig) -> str | None:
    """One line for a run that died of memory, or None if `err` is something else."""
    if not is_out_of_memory(err):
        return None
    return (f"ran out of memory: this run needs about {format_bytes(estimate(config).total)}; "
            f"lower {knobs(config)} and press Reset")


def _features(config: RunConfig) -> int:
    return N_FEATURES.get(config.dataset, 2)


def _classes(config: RunConfig) -> int:
    return N_CLASSES.get(config.dataset, 2)
