"""Every parameter and its gradient as views of two flat buffers.

The per-step history needs |dL/dW| and ‖dL/dW‖ per layer, the global gradient norm
and ‖ΔW‖/‖W‖. Taken tensor by tensor (`torch._foreach_norm`, a C++ loop on CPU) that
is ~0.1 ms per call over a 20×64 MLP's 42 tensors, and a light step needed four of
them. With the parameters and their gradients living in one contiguous buffer each,
`.numpy()` is a zero-copy view and two small matrix products give every tensor's sum
of a statistic.

The gradients stay views because autograd accumulates into an existing `.grad` in
place; `zero_grad()` zeroes the buffer (one call instead of a Python loop over the
parameters) and re-attaches the gradients if something replaced them (a caller's
`optimizer.zero_grad()` sets them all to None). Read the sums between a backward that
followed `zero_grad()` and the next replacement.

`parameter` is the whole buffer as one nn.Parameter whose gradient is the gradient
buffer: an optimizer given it alone updates every weight in one kernel per operation.
torch.optim spends ~2.5 µs of Python per tensor per step (SGD over a 20×64 MLP's 42
tensors: 104 µs, over the one buffer: 27 µs; momentum 330 → 55; Adam 1270 → 330).
Every update rule vgviz offers is element-wise, and the zero padding between tensors
stays zero under each of them (a zero gradient moves no zero weight, Adam's included).
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

# numpy can view these without a copy (bfloat16/half have no numpy type)
_NUMPY_DTYPES = (torch.float32, torch.float64)


# Every tensor starts on a multiple of BLOCK elements (zero padding between tensors), so
# per-tensor sums take two steps: a (blocks, BLOCK) view times ones gives block sums (BLAS),
# and np.add.reduceat over the few block sums gives tensor sums. np.add.reduceat straight
# over the elements runs ~3x slower than the matrix product (17 µs per 100k-element row).
BLOCK = 64


class FlatParameters:
    def __init__(self, params: list[nn.Parameter]):
        if not params:
            raise ValueError("FlatParameters: no parameters")
        dtypes = {p.dtype for p in params}
        devices = {p.device for p in params}
        if len(dtypes) != 1 or dtypes.pop() not in _NUMPY_DTYPES or devices != {torch.device("cpu")}:
            raise ValueError("FlatParameters: needs float32 or float64 parameters on the CPU, all alike")
        self.params = list(params)
        self.sizes = np.array([p.numel() for p in self.params], dtype=np.int64)
        self._inverse_sizes = 1.0 / self.sizes
        blocks = -(-self.sizes // BLOCK)
        self.starts = np.concatenate([[0], np.cumsum(blocks)[:-1]]).astype(np.int64) * BLOCK
        n_blocks = int(blocks.sum())
        dtype = self.params[0].dtype
        with torch.no_grad():
            self.data = torch.zeros(n_blocks * BLOCK, dtype=dtype)
            self.grad = torch.zeros_like(self.data)
            for p, start, size in zip(self.params, self.starts, self.sizes):
                self.data[start:start + size] = p.detach().reshape(-1)
        self.parameter = nn.Parameter(self.data)  # shares the buffer's memory
        self.parameter.grad = self.grad
        self._data_np = self.data.numpy()
        self._grad_np = self.grad.numpy()
        self._ones = np.ones(BLOCK, dtype=self._data_np.dtype)
        self._first_blocks = self.starts // BLOCK
        # reused scratch: a fresh 100k-element temporary per statistic costs about as much
        # as the statistic
        self._scratch = np.empty_like(self._data_np)
        self._nonzero = np.empty_like(self._data_np)
        self._block_sums = np.empty((5, n_blocks), dtype=self._data_np.dtype)
        self._block_max = np.empty(n_blocks, dtype=self._data_np.dtype)
        self._abs_blocks = torch.from_numpy(self._scratch).view(n_blocks, BLOCK)   # shares memory
        self._block_max_view = torch.from_numpy(self._block_max)
        self._grad_blocks = self._grad_np.reshape(n_blocks, BLOCK)
        self._data_blocks = self._data_np.reshape(n_blocks, BLOCK)
        self._grad_views = []
        for p, start, size in zip(self.params, self.starts, self.sizes):
            p.data = self.data[start:start + size].view_as(p)
            view = self.grad[start:start + size].view_as(p)
            p.grad = view
            self._grad_views.append(view)

    @classmethod
    def try_create(cls, params: list[nn.Parameter]) -> "FlatParameters | None":
        """None where the parameters can't share a numpy-viewable buffer (mixed or half dtypes)."""
        try:
            return cls(params)
        except ValueError:
            return None

    def zero_grad(self) -> None:
        self.grad.zero_()
        if self.parameter.grad is not self.grad:
            self.parameter.grad = self.grad
        # Whatever replaces gradients (optimizer.zero_grad(), a restore) replaces all of
        # them: checking the ends is enough, and cheaper than 2·n attribute reads a step.
        if not self.grads_attached():
            for p, view in zip(self.params, self._grad_views):
                p.grad = view

    def grads_attached(self) -> bool:
        """True while the parameters' gradients are still their views of the buffer."""
        views = self._grad_views
        return self.params[0].grad is views[0] and self.params[-1].grad is views[-1]

    # -- per-tensor sums over zero-copy views ------------------------------------------------
    # rows of step_sums()
    ABS, SQUARE, WEIGHT_SQUARE, WEIGHT_DOT, NONZERO, ABS_MAX = range(6)

    def step_sums(self) -> np.ndarray:
        """(6, n_tensors) float64: Σ|g|, Σg², Σw², Σw·g, the count of g ≠ 0 and max |g|
        of every tensor, in one pass.

        All a step's history numbers at once, because here each numpy call costs ~10 µs
        (a step's torch kernels evict the interpreter from the caches), more than its work."""
        g, w, out = self._grad_blocks, self._data_blocks, self._block_sums
        sums = np.empty((6, len(self.params)))
        with np.errstate(over="ignore", invalid="ignore"):  # a diverged net: inf is the answer
            abs_g = np.abs(g, out=self._scratch.reshape(g.shape))
            np.matmul(abs_g, self._ones, out=out[0])
            # block-wise dot products read the buffers once and write nothing large
            np.einsum("ij,ij->i", g, g, out=out[1])
            np.einsum("ij,ij->i", w, w, out=out[2])
            np.einsum("ij,ij->i", w, g, out=out[3])
            # 1 where g ≠ 0 (NaN included): its block sums count the non-zeros
            nonzero = np.not_equal(abs_g, 0, out=self._nonzero.reshape(g.shape), casting="unsafe")
            np.matmul(nonzero, self._ones, out=out[4])
            np.add.reduceat(out, self._first_blocks, axis=1, dtype=np.float64, out=sums[:5])
            # block maxima: torch's row reduction over the same memory takes ~9 µs, numpy's
            # np.max(axis=1) ~75 µs; the padding between tensors is 0, never above a max |g|
            torch.amax(self._abs_blocks, dim=1, out=self._block_max_view)
            np.maximum.reduceat(self._block_max, self._first_blocks, out=sums[5], dtype=np.float64)
        return sums

    def param_stats(self, sums: np.ndarray) -> np.ndarray:
        """(6, n_tensors) PARAM_STATS (vgviz.core.measure.stats) from step_sums(); the
        update_ratio row is NaN, for the caller to fill in after the update."""
        stats = np.empty((6, len(self.params)))
        with np.errstate(over="ignore", invalid="ignore"):
            np.sqrt(sums[self.SQUARE], out=stats[0])
            np.multiply(sums[[self.ABS, self.NONZERO]], self._inverse_sizes, out=stats[1:4:2])
            np.subtract(1.0, stats[3], out=stats[3])
            stats[2] = sums[self.ABS_MAX]
            np.sqrt(sums[self.WEIGHT_SQUARE], out=stats[4])
        stats[5] = np.nan
        return stats

    def grad_square_sums(self) -> np.ndarray:
        with np.errstate(over="ignore", invalid="ignore"):
            return self._sums(np.multiply(self._grad_np, self._grad_np, out=self._scratch))

    def grad_abs(self) -> np.ndarray:
        """|g| of the whole buffer as a new array (tensor i at starts[i]:starts[i] + sizes[i])."""
        return np.abs(self._grad_np)

    def nonzero_counts(self, values: np.ndarray) -> np.ndarray:
        """Non-zero entries (NaN counts as non-zero) per tensor of a buffer-shaped array."""
        indicator = np.not_equal(values, 0, out=self._scratch, casting="unsafe")
        return np.rint(self._sums(indicator)).astype(np.int64)

    def data_square_sums(self) -> np.ndarray:
        with np.errstate(over="ignore", invalid="ignore"):
            return self._sums(np.multiply(self._data_np, self._data_np, out=self._scratch))

    def difference_square_sums(self, before: np.ndarray) -> np.ndarray:
        """Σ (before − data)² per tensor: the size of the step since `before` was copied."""
        with np.errstate(over="ignore", invalid="ignore"):
            step = np.subtract(before, self._data_np, out=self._scratch)
            return self._sums(np.multiply(step, step, out=step))

    def _sums(self, values: np.ndarray) -> np.ndarray:
        """Per-tensor sums of (…, n_elements) values: (…, n_tensors) float64."""
        with np.errstate(over="ignore", invalid="ignore"):  # a diverged net: inf is the answer
            blocks = (values.reshape(-1, BLOCK) @ self._ones).reshape(*values.shape[:-1], -1)
            return np.add.reduceat(blocks, self._first_blocks, axis=-1, dtype=np.float64)
