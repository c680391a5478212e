"""What every task's data set holds: a seeded train/test split."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

N_SAMPLES = 1000
TEST_FRACTION = 0.2


@dataclass(frozen=True)
class Dataset:
    name: str
    x_train: np.ndarray  # (n, 2) float32
    y_train: np.ndarray  # (n,) int64 class labels
    x_test: np.ndarray
    y_test: np.ndarray
    n_classes: int

    @property
    def n_features(self) -> int:
        return self.x_train.shape[1]
