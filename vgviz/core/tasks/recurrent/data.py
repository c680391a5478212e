"""The recall task: remember the first of T tokens (see vgviz.core.tasks.recurrent.model)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...backprop.recurrent_frames import SYMBOLS
from ...config import SEQUENCE_TASKS
from ..dataset import N_SAMPLES, TEST_FRACTION, Dataset

N_SYMBOLS = len(SYMBOLS)
N_INPUTS = N_SYMBOLS          # one-hot tokens

_TRAIN, _TEST, _EXAMPLES = 0, 1, 2   # independent random streams per purpose, all from the seed


def recall_tokens(seed: int, stream: int, index: int, n: int, seq_len: int) -> np.ndarray:
    """(n, seq_len) symbols 0..3, from (seed, stream, index) alone."""
    rng = np.random.default_rng([seed, stream, index])
    return rng.integers(0, N_SYMBOLS, (n, seq_len))


def encode(tokens: np.ndarray) -> np.ndarray:
    """One-hot symbols: (n, T) -> (n, T, 4) float32."""
    n, t = tokens.shape
    x = np.zeros((n, t, N_INPUTS), np.float32)
    x[np.arange(n)[:, None], np.arange(t)[None, :], tokens] = 1.0
    return x


@dataclass(frozen=True)
class SequenceDataset(Dataset):
    """Sequences (n, T, 4) with their tokens (n, T). x_train holds 800 example sequences
    (the stepper's 'one example'); training batches are fresh each step: `batch(step, size)`."""

    seq_len: int = 1
    seed: int = 0
    tokens_train: np.ndarray | None = None
    tokens_test: np.ndarray | None = None

    @property
    def n_features(self) -> int:
        return self.x_train.shape[-1]

    def batch_tokens(self, step: int, size: int) -> np.ndarray:
        return recall_tokens(self.seed, _TRAIN, step, size, self.seq_len)

    def batch(self, step: int, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """x (size, T, 4), y (size,), tokens (size, T) of a training step: depends on (seed, step) only."""
        tokens = self.batch_tokens(step, size)
        return encode(tokens), tokens[:, 0].astype(np.int64), tokens


def make_sequence_dataset(name: str, seed: int, seq_len: int, n: int = N_SAMPLES) -> SequenceDataset:
    if name not in SEQUENCE_TASKS:
        raise ValueError(f"unknown sequence task {name!r}; known: {', '.join(SEQUENCE_TASKS)}")
    if seq_len < 1:
        raise ValueError(f"seq_len must be at least 1; got {seq_len}")
    n_test = int(round(n * TEST_FRACTION))
    train = recall_tokens(seed, _EXAMPLES, 0, n - n_test, seq_len)
    test = recall_tokens(seed, _TEST, 0, n_test, seq_len)
    for arr in (train, test):
        arr.flags.writeable = False
    return SequenceDataset(name, encode(train), train[:, 0].astype(np.int64), encode(test),
                           test[:, 0].astype(np.int64), N_SYMBOLS, seq_len=seq_len, seed=seed,
                           tokens_train=train, tokens_test=test)
