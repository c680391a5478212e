"""Drawing from torch's global RNG under a seed, one thread at a time.

torch's CPU generator is shared by every thread of the process. A model built under
``manual_seed(seed)`` while another thread draws from it (the compare window builds two
runs in two threads; a finishing run's worker may still be building) would get some other
thread's numbers — and a different model for the same config and seed.
"""
from __future__ import annotations

import contextlib
import threading

import torch

_LOCK = threading.Lock()


@contextlib.contextmanager
def seeded(seed: int):
    """torch's global RNG seeded with ``seed`` for this block alone, no other thread drawing
    from it meanwhile (they wait); the caller's RNG state is put back afterwards."""
    with _LOCK, torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield
