"""What the network diagram shows, as plain numbers (numpy only, never Qt).

The GUI's ``NetworkView`` draws what these functions compute:

* :func:`layer_sizes` - neurons per column (input, hidden..., output) from the
  ``edge_abs`` matrices of a :class:`~vgviz.core.measure.stats.StepStats`;
* :func:`layout_nodes` - where the columns and nodes go inside a rectangle;
* :func:`bin_log` - which of K colour buckets a gradient magnitude falls in,
  on a log scale between ``lo`` and ``hi``;
* :func:`default_color_range` - the (lo, hi) a run's colour scale is locked to;
* :func:`reduce_edges` - which edges to draw when there are too many, and the
  sentence that says so on screen.

Everything here is pure and cheap enough to run at display rate.
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

#: Above this many edges the diagram draws only the strongest edges of each
#: layer pair. Chosen by measuring NetworkView's paint at 1000x600 on a 2-core
#: machine (20x64 ReLU net, medians): 2,000 edges ~6 ms, 4,000 ~8 ms, 8,000
#: ~11 ms, 16,000 ~20 ms, all 78k edges ~55 ms. 4,000 keeps a frame inside the
#: ~10 ms docs/performance.md#paint-cost-is-training-cost allows (a paint holds the GIL and stalls training).
DEFAULT_EDGE_BUDGET = 4000

#: Columns wider than this many neurons are drawn as thin strips, not circles.
STRIP_THRESHOLD = 128

#: The colour range spans between these many decades (see default_color_range).
MIN_DECADES = 4
MAX_DECADES = 8


# -- sizes and layout ----------------------------------------------------------

def layer_sizes(edge_abs: Sequence[np.ndarray]) -> list[int]:
    """Neurons per column: input size, then every Linear layer's out_features.

    ``edge_abs[l]`` has shape (out, in) like ``nn.Linear.weight``.
    """
    if not edge_abs:
        return []
    sizes = [int(edge_abs[0].shape[1])]
    for l, e in enumerate(edge_abs):
        if l and e.shape[1] != sizes[-1]:
            raise ValueError(f"edge matrix {l} has {e.shape[1]} inputs, expected {sizes[-1]}")
        sizes.append(int(e.shape[0]))
    return sizes


@dataclass(frozen=True)
class NodeLayout:
    """Node centres of a layered diagram.

    ``x[c]`` is the centre of column c; ``y[c]`` the (n_c,) node centres, top to
    bottom; ``spacing[c]`` the vertical distance between neighbouring nodes of
    column c; ``column_gap`` the horizontal distance between columns.
    """

    x: np.ndarray
    y: tuple[np.ndarray, ...]
    spacing: np.ndarray
    column_gap: float

    def positions(self, column: int) -> np.ndarray:
        """(n, 2) node centres of one column."""
        ys = self.y[column]
        return np.column_stack([np.full(len(ys), self.x[column]), ys])


def layout_nodes(sizes: Sequence[int], rect: tuple[float, float, float, float],
                 max_spacing: float | None = None) -> NodeLayout:
    """Columns left (input) to right (output) across ``rect`` = (x, y, w, h); the
    nodes of each column spread evenly over its height, centred vertically.

    Column c sits at ``x + w * (c + 0.5) / C``; node k of n at
    ``cy + (k - (n - 1) / 2) * s`` with ``s = min(h / n, max_spacing)``, so every
    node centre lies inside the rectangle (half a slot away from its edges).
    """
    x0, y0, w, h = (float(v) for v in rect)
    w, h = max(w, 1.0), max(h, 1.0)
    c = len(sizes)
    if c == 0:
        return NodeLayout(np.zeros(0), (), np.zeros(0), w)
    gap = w / c
    xs = x0 + gap * (np.arange(c) + 0.5)
    cy = y0 + h / 2.0
    ys, spacing = [], np.zeros(c)
    for i, n in enumerate(sizes):
        n = int(n)
        s = h / max(n, 1)
        if max_spacing is not None:
            s = min(s, float(max_spacing))
        spacing[i] = s
        ys.append(cy + (np.arange(n) - (n - 1) / 2.0) * s)
    return NodeLayout(xs, tuple(ys), spacing, gap)


def node_positions(sizes: Sequence[int], rect: tuple[float, float, float, float],
                   max_spacing: float | None = None) -> list[np.ndarray]:
    """(n_c, 2) node centres of every column; see :func:`layout_nodes`."""
    lay = layout_nodes(sizes, rect, max_spacing)
    return [lay.positions(c) for c in range(len(sizes))]


# -- colour ---------------------------------------------------------------------

def bin_log(values: np.ndarray, lo: float, hi: float, k: int) -> np.ndarray:
    """Colour bucket 0..k-1 of each value on a log10 scale from lo to hi.

    ``bucket = floor(k * (log10 v - log10 lo) / (log10 hi - log10 lo))`` clipped
    to [0, k-1]: values <= lo (zeros, negatives, NaN too) go to bucket 0,
    values >= hi (and +inf) to bucket k-1. Bucket b holds
    ``lo * (hi/lo)**(b/k) <= v < lo * (hi/lo)**((b+1)/k)``.
    """
    if k < 1:
        raise ValueError("k must be >= 1")
    if not (lo > 0 and hi > lo):
        raise ValueError(f"need 0 < lo < hi, got lo={lo!r} hi={hi!r}")
    v = np.asarray(values, dtype=np.float64)
    llo, lhi = math.log10(lo), math.log10(hi)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = (np.log10(v) - llo) * (k / (lhi - llo))
    t = np.nan_to_num(t, nan=0.0, posinf=k - 1, neginf=0.0)
    out = np.floor(np.clip(t, 0, k - 1)).astype(np.intp)
    out[v >= hi] = k - 1   # exact at the top despite rounding in log10
    return out


def bucket_edges(lo: float, hi: float, k: int) -> np.ndarray:
    """(k+1,) value boundaries of the buckets :func:`bin_log` uses."""
    return np.logspace(math.log10(lo), math.log10(hi), k + 1)


def default_color_range(arrays: Sequence[np.ndarray] | None, *,
                        min_decades: int = MIN_DECADES,
                        max_decades: int = MAX_DECADES) -> tuple[float, float]:
    """The (lo, hi) a run's colour scale is locked to, from its first stats.

    ``hi = 10**ceil(log10(max |g|))`` - the strongest gradient anywhere is in the
    top decade. ``lo`` is the decade below the *median* of the weakest layer
    (medians of each array's positive finite values; the weakest layer's
    typical edge then sits just above the bottom of the scale, not off it), but
    the span is kept between ``min_decades`` and ``max_decades`` (4 and 8): a
    deep sigmoid net (8 hidden layers, 1e-9 ... 1e-1) uses the full 8 decades so
    its dark early layers and bright late layers still differ, while a healthy
    net whose layers agree gets a 4-decade scale with visible contrast. Values
    below ``lo`` show in the darkest colour (the colour bar says "<= lo").

    No usable values (None, empty, all zero or non-finite) -> (1e-8, 1e-1).
    """
    if min_decades < 1 or max_decades < min_decades:
        raise ValueError("need 1 <= min_decades <= max_decades")
    medians, top = [], -math.inf
    for a in arrays or ():
        a = np.abs(np.asarray(a).ravel())
        a = a[(a > 0) & np.isfinite(a)]
        if a.size:
            top = max(top, float(a.max()))
            if a.size > 8192:      # a strided sample's median: cheap enough for auto range every frame
                a = a[:: a.size // 4096]
            medians.append(float(np.median(a)))
    if not medians:
        return 1e-8, 1e-1
    hi_exp = math.ceil(math.log10(top))
    lo_exp = math.floor(math.log10(min(medians)))
    decades = min(max(hi_exp - lo_exp, min_decades), max_decades)
    return 10.0 ** (hi_exp - decades), 10.0 ** hi_exp


# -- edge reduction ---------------------------------------------------------------

@dataclass(frozen=True)
class EdgeSelection:
    """Which edges of each layer pair to draw.

    ``indices[l]`` are flat indices (ascending) into ``edge_abs[l].ravel()``,
    i.e. ``out * n_in + in``; None means every edge of every pair is drawn.
    """

    indices: tuple[np.ndarray, ...]
    total: int
    reduced: bool

    @property
    def kept(self) -> int:
        return int(sum(len(i) for i in self.indices))


def fair_quotas(counts: Sequence[int], budget: int) -> np.ndarray:
    """Edges to keep per layer pair: a max-min fair split of ``budget``.

    Each pair gets the same share, pairs smaller than that share keep all their
    edges and the rest is shared among the others ("water filling"). Every
    non-empty pair gets at least one edge; the sum never exceeds ``budget``
    (which must be at least the number of non-empty pairs when it binds).
    """
    counts = np.asarray(counts, dtype=np.int64)
    total = int(counts.sum())
    if total <= budget:
        return counts.copy()
    nonempty = int((counts > 0).sum())
    if budget < nonempty:
        raise ValueError(f"budget {budget} is smaller than the {nonempty} layer pairs")
    quotas = np.zeros_like(counts)
    remaining = budget
    open_ = counts > 0
    while open_.any():
        share = remaining // int(open_.sum())
        small = open_ & (counts <= share)
        if not small.any():
            idx = np.flatnonzero(open_)
            quotas[idx] = share
            extra = remaining - share * len(idx)      # < len(idx): one more to the biggest pairs
            order = idx[np.argsort(-counts[idx], kind="stable")][:extra]
            quotas[order] += 1
            break
        quotas[small] = counts[small]
        remaining -= int(counts[small].sum())
        open_ &= ~small
    return quotas


@functools.lru_cache(maxsize=32)
def _fair_quotas_cached(counts: tuple[int, ...], budget: int) -> np.ndarray:
    """fair_quotas of a network's layer pairs: the same every frame of a run."""
    quotas = fair_quotas(counts, budget)
    quotas.flags.writeable = False
    return quotas


def strongest(values: np.ndarray, k: int) -> np.ndarray:
    """Ascending flat indices of the k largest values (exact; NaN never counts as strong).

    Fast at display rate even for 100k+ values with many ties (ReLU nets have
    most |dL/dW| exactly 0, which makes a plain ``argpartition`` crawl): a
    threshold from a strided sample narrows the candidates, zeros are only
    taken when there are fewer than k positive values, and the exact top-k is
    then chosen among the candidates.
    """
    flat = np.asarray(values).ravel()
    n = flat.size
    if k >= n:
        return np.arange(n)
    if k <= 0:
        return np.zeros(0, dtype=np.intp)
    cand = None
    if n > 4096 and 8 * k < n:
        sample = flat[:: max(1, n // 4096)]
        m = int(4.0 * k / n * len(sample)) + 1            # generous: expect ~4k candidates
        sample = sample[(sample > 0) & np.isfinite(sample)]   # ties (zeros) make partition crawl
        if m < len(sample):
            t = np.partition(sample, len(sample) - 1 - m)[len(sample) - 1 - m]
            c = np.flatnonzero(flat >= t)
            if len(c) >= k:
                cand = c
    if cand is None:
        pos = np.flatnonzero(flat > 0)                   # excludes zeros and NaN
        if len(pos) < k:                                 # every positive value, then the first zeros
            rest = np.flatnonzero(~(flat > 0))[: k - len(pos)]
            return np.sort(np.concatenate([pos, rest]))
        cand = pos
    if len(cand) > k:
        vals = flat[cand]
        cand = cand[np.argpartition(vals, len(vals) - k)[len(vals) - k:]]
    return np.sort(cand)


def reduce_edges(edge_abs: Sequence[np.ndarray], budget: int = DEFAULT_EDGE_BUDGET) -> EdgeSelection:
    """Keep the strongest |dL/dW| edges of EACH layer pair when there are more
    than ``budget`` edges in all, sharing the budget fairly between pairs
    (:func:`fair_quotas`) so every layer pair, weak or strong, stays visible.
    """
    counts = [int(e.size) for e in edge_abs]
    total = sum(counts)
    if total <= budget:
        return EdgeSelection(tuple(np.arange(n) for n in counts), total, False)
    quotas = _fair_quotas_cached(tuple(counts), budget)
    chosen: list[np.ndarray | None] = [None] * len(edge_abs)
    # Layer pairs of the same size and quota (the hidden layers of an MLP) are chosen together:
    # one argpartition over their stacked rows instead of a handful of calls per pair, which
    # matters at display rate (every numpy call there is GIL time the trainer waits for).
    groups: dict[tuple[int, int], list[int]] = {}
    for i, (n, q) in enumerate(zip(counts, quotas)):
        if 0 < q < n:
            groups.setdefault((n, int(q)), []).append(i)
    for (n, q), members in groups.items():
        # bigger pairs: strongest()'s sampled threshold beats a full partition of each row
        if len(members) < 3 or n > 4096:
            continue
        # NaN never counts as strong: fmax makes it -1, below every |dL/dW| (which are >= 0)
        rows = np.fmax(np.stack([np.asarray(edge_abs[i]).ravel() for i in members]), -1.0)
        top = np.argpartition(rows, n - q, axis=1)[:, n - q:]
        top.sort(axis=1)
        for i, idx in zip(members, top):
            chosen[i] = idx
    indices = tuple(c if c is not None else strongest(e, int(q)) for c, e, q in zip(chosen, edge_abs, quotas))
    return EdgeSelection(indices, total, True)


def _n(x: int) -> str:
    return f"{x:,}"


def describe_selection(sel: EdgeSelection, strip_sizes: Sequence[int] = ()) -> str:
    """The sentence under the diagram that says what is drawn.

    ``strip_sizes``: neuron counts of the columns drawn as strips (too tall for circles).
    """
    if sel.reduced:
        text = (f"showing the strongest {_n(sel.kept)} of {_n(sel.total)} edges (per layer pair); "
                "node colour uses every neuron")
    else:
        text = f"all {_n(sel.total)} edge{'s' if sel.total != 1 else ''}"
    if len(strip_sizes):
        text += (f"; columns of {_n(max(strip_sizes))} neurons drawn as strips, one row per neuron"
                 if len(set(strip_sizes)) == 1 else
                 f"; columns of up to {_n(max(strip_sizes))} neurons drawn as strips, one row per neuron")
    return text
