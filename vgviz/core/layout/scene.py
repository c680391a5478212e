"""What the two diagram views draw, as plain numbers (numpy only, never Qt).

``NetworkScene`` is the state behind ``vgviz.gui.network_view.NetworkView``: the colour
range (locked at the first stats of a run, or re-fitted every frame), which edges are
drawn when there are too many (the strongest of each layer pair), the colour bucket of
every drawn edge, node and skip path, and the sentences of the caption and the tooltips.
``TimelineScene`` is the same for ``vgviz.gui.unrolled_view.UnrolledView``: one value per
time step of a recurrent network. The views only turn these numbers into pixels, and
tests read them here.
"""
from __future__ import annotations

import math
import weakref
from dataclasses import dataclass

import numpy as np

from ..backprop.frames import FrameDisplay
from ..backprop.recurrent_frames import TimeDisplay
from ..diagnose.thresholds import CONVERGED_ACCURACY, CONVERGED_LOSS
from ..measure.stats import StepStats
from ..measure.steps import step_label
from . import network_diagram as topo
from . import unrolled_columns as timeline
from .color_range import RANGE_MODES, SharedRange, check_range, choose_range, describe_mode, relative_to_output

N_BUCKETS = 64
#: While training, the network diagram draws at most this many edges (the strongest of each layer
#: pair); paused, and in pictures, its edge budget. Line drawing is most of a frame, and every
#: frame holds the GIL the trainer needs: bench_gui's live ÷ headless was 0.81-0.91 (mean 0.86)
#: at 2,000 edges and 0.88-0.92 (mean 0.90) at 1,200 (docs/performance.md).
LIVE_EDGE_BUDGET = 1200


@dataclass(frozen=True)
class DrawnEdges:
    """The edges a diagram draws of one step, at one edge budget: the selection, and per drawn
    edge (pair by pair, flat index order) its value, its layer pair and its flat index."""

    budget: int
    selection: topo.EdgeSelection
    values: np.ndarray
    pair: np.ndarray
    flat: np.ndarray


# One DrawnEdges per StepStats (by id; StepStats is not hashable), for as long as the stats live.
# The training thread fills it when it publishes a full capture (prepare_edges), so the GUI
# thread's frame finds its edges chosen: choosing them (argpartition) is milliseconds of numpy a
# frame, and every millisecond the GUI thread holds the GIL is training time lost
# (docs/performance.md#paint-cost-is-training-cost).
_DRAWN: dict[int, tuple[weakref.ref, DrawnEdges]] = {}


def drawn_edges(stats: StepStats, budget: int) -> DrawnEdges:
    """The strongest edges of each layer pair of ``stats`` within ``budget``
    (vgviz.core.layout.network_diagram.reduce_edges), computed once per stats and budget."""
    key = id(stats)
    entry = _DRAWN.get(key)
    if entry is not None and entry[0]() is stats and entry[1].budget == budget:
        return entry[1]
    sel = topo.reduce_edges(stats.edge_abs, budget)
    values = [e.ravel()[i] for e, i in zip(stats.edge_abs, sel.indices)]
    counts = [len(i) for i in sel.indices]
    done = DrawnEdges(budget, sel,
                      np.concatenate(values).astype(np.float64) if values else np.zeros(0),
                      np.repeat(np.arange(len(counts)), counts),
                      np.concatenate(sel.indices) if counts else np.zeros(0, dtype=np.intp))
    for arr in (done.values, done.pair, done.flat):
        arr.flags.writeable = False     # shared by every view that draws these stats
    if entry is None or entry[0]() is not stats:
        weakref.finalize(stats, _DRAWN.pop, key, None)   # gone with the stats, before its id is reused
    _DRAWN[key] = (weakref.ref(stats), done)
    return done


def prepare_edges(stats: StepStats) -> None:
    """Choose the edges a live diagram draws of ``stats`` now, in the thread that publishes it,
    so that the GUI thread does not (see _DRAWN)."""
    if stats.edge_abs:
        drawn_edges(stats, max(LIVE_EDGE_BUDGET, len(stats.edge_abs)))


def _fmt(v: float) -> str:
    return f"{v:.3e}"


class ColorScale:
    """A log colour range shared by the two scenes: ``range`` (lo, hi) is None until the first
    values of a run; how it is chosen is ``mode`` (vgviz.core.layout.color_range.RANGE_MODES),
    with ``fixed_range`` for the typed mode, ``shared`` (a SharedRange) for the shared one and
    ``preset_range`` (a preset's) for the per-run one. It is fitted at ``range_step``: the weights'
    step (StepStats.step), so a live run's initial measurement and a run file's first step, the
    same gradients, both say step 0."""

    def __init__(self, n_buckets: int = N_BUCKETS):
        self.n_buckets = int(n_buckets)
        self.mode = "run"
        self.fixed_range: tuple[float, float] | None = None
        self.preset_range: tuple[float, float] | None = None
        self.shared = SharedRange()
        self.range: tuple[float, float] | None = None
        self.range_step = 0

    @property
    def auto(self) -> bool:
        return self.mode == "auto"

    @auto.setter
    def auto(self, on: bool) -> None:
        if on:
            self.mode = "auto"
        elif self.mode == "auto":
            self.mode = "run"

    def set_mode(self, mode: str, fixed: tuple[float, float] | None = None) -> None:
        """Choose how the range is chosen; the next frame applies it ("fixed" needs ``fixed``)."""
        if mode not in RANGE_MODES:
            raise ValueError(f"unknown colour range mode {mode!r} (choose {', '.join(RANGE_MODES)})")
        if fixed is not None:
            self.fixed_range = check_range(*fixed)
        if mode == "fixed" and self.fixed_range is None:
            raise ValueError("the fixed colour range mode needs a range LO … HI")
        self.mode = mode

    def choose(self, fit, step: int) -> None:
        """Set ``range`` for a frame at ``step``; ``fit`` () → (lo, hi) fits the frame's values."""
        preset = None if getattr(self, "relative", False) else self.preset_range   # a preset's is absolute
        self.range, chosen = choose_range(self.mode, self.range, fit, fixed=self.fixed_range,
                                          shared=self.shared, preset=preset)
        if chosen:
            self.range_step = step

    def how_fixed(self) -> str:
        return describe_mode(self.mode, self.range_step, preset=self.preset_range is not None)

    def range_tag(self) -> str:
        """The range mode in a word or two, for the colour bar's title."""
        if self.mode == "run":
            return "preset" if self.preset_range is not None else f"step {self.range_step}"
        return self.mode


class NetworkScene(ColorScale):
    """The network diagram's numbers. Buckets 0..n_buckets-1 follow the colour map (weakest
    first), ``n_buckets`` marks NaN/inf and ``n_buckets + 1`` what a backprop frame has not
    reached yet."""

    def __init__(self, n_buckets: int = N_BUCKETS, edge_budget: int = topo.DEFAULT_EDGE_BUDGET):
        super().__init__(n_buckets)
        self.edge_budget = int(edge_budget)
        self.live = False
        self.relative = False   # every layer's gradients ÷ the output layer's (relative_to_output)
        self._relative_shown = False
        self.reset()

    @property
    def unlit_bucket(self) -> int:
        return self.n_buckets + 1

    def reset(self) -> None:
        """Forget the stats and unlock the colour range: a new run starts."""
        self.stats: StepStats | None = None
        self.source: StepStats | None = None    # the stats as measured (stats: as drawn, maybe relative)
        self.frame: FrameDisplay | None = None
        self.range = None
        self.range_step = 0
        self.live_range: tuple[float, float] | None = None   # the run's range while a frame is shown
        self.sizes: list[int] = []              # neurons per column (input first when has_input)
        self.has_input = False                  # False: no per-edge gradients, nodes only
        self.selection: topo.EdgeSelection | None = None
        self.drawn: DrawnEdges | None = None     # the selection with each drawn edge's pair and flat index
        self.edge_values = np.zeros(0)          # the drawn edges' values, pair by pair, flat index order
        self.edge_pair_start = np.zeros(1, dtype=np.intp)
        self.edge_buckets = np.zeros(0, dtype=np.intp)
        self.node_buckets: list[np.ndarray] = []
        self.skip_buckets = np.zeros(0, np.intp)

    @property
    def drawn_budget(self) -> int:
        return min(self.edge_budget, LIVE_EDGE_BUDGET) if self.live else self.edge_budget

    # -- updates ---------------------------------------------------------------------
    def update(self, stats: StepStats) -> bool:
        """Take one step's numbers: the range (if not locked), the drawn edges and every bucket.
        True if the columns changed (a different network), so the layout must be redone."""
        self.source = stats
        if self.frame is None:
            if self.relative != self._relative_shown:    # other numbers: the run's range is fitted again
                self._relative_shown = self.relative
                self.range = None
            if self.relative:
                stats = relative_to_output(stats)
        has_input = stats.edge_abs is not None and len(stats.edge_abs) > 0
        sizes = topo.layer_sizes(stats.edge_abs) if has_input else [len(d) for d in stats.delta_mean_abs]
        new_columns = sizes != self.sizes or has_input != self.has_input
        if new_columns:
            if self.sizes and self.frame is None:   # a different network: a new run
                self.range = None
            self.sizes, self.has_input = sizes, has_input
        self.stats = stats
        if self.frame is None:
            self.choose(lambda: topo.default_color_range(stats.edge_abs if has_input else stats.delta_mean_abs),
                        stats.step)
        # edges: which are drawn, and their buckets, in fixed order (pair-major, flat index)
        if has_input:
            drawn = drawn_edges(stats, max(self.drawn_budget, len(stats.edge_abs)))
            self.drawn = drawn
            self.selection = drawn.selection
            self.edge_values = drawn.values
            self.edge_pair_start = np.concatenate([[0], np.cumsum([len(i) for i in drawn.selection.indices])])
        else:
            self.drawn = None
            self.selection = None
            self.edge_values = np.zeros(0)
            self.edge_pair_start = np.zeros(1, dtype=np.intp)
        # every bucket in one binning call (edges, then nodes, then skip paths): at display
        # rate each numpy call costs the training thread time through the GIL
        nodes = stats.delta_mean_abs
        skips = stats.skip_grad if stats.skip_grad is not None else np.zeros(0)
        node_ends = np.cumsum([len(d) for d in nodes], dtype=np.intp)
        buckets = self.bin(np.concatenate([self.edge_values, *nodes, np.asarray(skips, dtype=np.float64)]))
        n_edges = len(self.edge_values)
        self.edge_buckets = buckets[:n_edges]
        node_part = buckets[n_edges:]
        n_nodes = node_ends[-1] if len(nodes) else 0
        self.node_buckets = np.split(node_part[:n_nodes], node_ends[:-1])
        self.skip_buckets = node_part[n_nodes:]
        return new_columns

    def bin(self, values: np.ndarray) -> np.ndarray:
        """Colour bucket of each value on the scene's log range; NaN/inf get ``n_buckets``."""
        buckets = topo.bin_log(values, *self.range, self.n_buckets)
        bad = ~np.isfinite(values)
        if bad.any():
            buckets[bad] = self.n_buckets
        return buckets

    def show_frame(self, display: FrameDisplay) -> bool:
        """One backprop frame (Trace.display(i) in vgviz.core.backprop) on its own colour range; what the
        frame has not reached is unlit. True if the columns changed."""
        if self.frame is None:
            self.live_range = self.range
        self.frame = display
        sizes = display.layer_sizes
        edges = tuple(e if e is not None else np.zeros((sizes[i + 1], sizes[i]))
                      for i, e in enumerate(display.edge_values))
        nodes = tuple(v if v is not None else np.zeros(sizes[i + 1]) for i, v in enumerate(display.node_values))
        zeros = np.zeros(len(nodes))
        skip_values = np.array([0.0 if v is None else v for v in display.skip_values], dtype=np.float64)
        stats = StepStats(step=0, loss=float("nan"), accuracy=float("nan"), diverged=False,
                          layer_names=tuple(display.layer_names), grad_mean_abs=zeros, grad_l2=zeros.copy(),
                          delta_l2=zeros.copy(), delta_mean_abs=nodes, edge_abs=edges,
                          skip_grad=skip_values, skip_connections=tuple(display.skip_connections))
        self.range = display.color_range
        new_columns = self.update(stats)     # a frame keeps its own range: update chooses none
        unlit = self.unlit_bucket
        for layer, values in enumerate(display.edge_values):
            if values is None:
                self.edge_buckets[self.edge_pair_start[layer]:self.edge_pair_start[layer + 1]] = unlit
        for layer, values in enumerate(display.node_values):
            if values is None:
                self.node_buckets[layer][:] = unlit
        for k, value in enumerate(display.skip_values):
            if value is None:
                self.skip_buckets[k] = unlit
        return new_columns

    def leave_frame(self) -> bool:
        """Back to the live view on the run's own range (the caller shows the latest stats
        again). False if no frame was shown."""
        if self.frame is None:
            return False
        self.frame = None
        self.range = self.live_range
        self.stats = self.source = None
        return True

    def lock_range(self, lo_hi: tuple[float, float]) -> None:
        """Keep (lo, hi) for the run: a range of gradients, so the relative view fits its own."""
        if self.relative:
            return
        self.range = (float(lo_hi[0]), float(lo_hi[1]))
        self.auto = False

    # -- what the scene holds ------------------------------------------------------------
    def drawn_edge_buckets(self, layer: int | None = None) -> np.ndarray:
        if layer is None:
            return self.edge_buckets.copy()
        return self.edge_buckets[self.edge_pair_start[layer]:self.edge_pair_start[layer + 1]].copy()

    def skip_pairs(self) -> tuple[tuple[int, int], ...]:
        """The (from, to) Linear layers of every residual skip path drawn."""
        stats = self.stats
        return tuple(stats.skip_connections) if stats is not None and self.has_input else ()

    def column_of_layer(self, layer: int) -> int:
        return layer + 1 if self.has_input else layer

    def layer_of_column(self, col: int) -> int:
        return col - 1 if self.has_input else col

    def colorbar_title(self) -> str:
        if self.frame is not None:
            return "|a|, |W|" if self.frame.quantity == "activation" else "|δ|, |dL/dW|"
        title = "|dL/dW|" if self.selection is not None else "mean |δ|"
        return f"{title}{' ÷ output' if self.relative else ''} · {self.range_tag()}"

    def caption(self, stats: StepStats | None = None, strip_sizes: tuple[int, ...] = ()) -> str:
        """The sentence under the diagram saying what is drawn (``stats``: the ones whose step it
        names, by default the latest; ``strip_sizes``: the columns drawn as strips)."""
        if self.frame is not None:
            return self.frame.caption
        stats = stats if stats is not None else self.stats
        if stats is None:
            return ""
        parts = [step_label(stats)]
        k = self.n_buckets
        nonfinite = bool((self.edge_buckets == k).any() or any((nb == k).any() for nb in self.node_buckets))
        if stats.diverged or nonfinite:
            parts.append("DIVERGED: non-finite loss or gradients" + (", magenta = NaN/inf" if nonfinite else ""))
        if self.selection is not None:
            parts.append(topo.describe_selection(self.selection, strip_sizes=strip_sizes))
        else:
            parts.append("nodes only (this run records no per-edge gradients)")
        if is_converged(stats):
            parts.append("converged: small gradients everywhere mean convergence, not vanishing"
                         + ("" if self.relative else " (R: relative to the output layer)"))
        return " · ".join(parts)

    def legend(self, label_stride: int = 1, short_labels: bool = False) -> str:
        """The second caption line: what the colours mean, and how the range was chosen."""
        if self.frame is not None:
            return self.frame.legend
        if self.range is None:
            return ""
        lo, hi = self.range
        what = ("edges: |dL/dW_ij|, nodes: batch-mean |δ_j|, one" if self.selection is not None
                else "nodes: batch-mean |δ_j|,")
        if self.skip_pairs():
            what = what.replace("nodes:", "arcs below: skip paths by mean |dL/du|, nodes:")
        text = f"{what} log colour scale {lo:.0e} … {hi:.0e}, {self.how_fixed()}"
        if self.relative:
            text = f"each layer ÷ the output layer's at this step · {text}"
        if short_labels:
            text += "; h3 = hidden3"
        if label_stride > 1:
            text += f"; labels every {label_stride} layers, hover a column header for the rest"
        return text

    def layer_label(self, layer: int, stats: StepStats) -> tuple[str, str]:
        """The two lines above a Linear layer's column."""
        if self.frame is not None:
            notes = self.frame.layer_notes
            return stats.layer_names[layer], (notes[layer] if layer < len(notes) else "")
        if self.relative:
            return stats.layer_names[layer], f"‖∇W‖ {stats.grad_l2[layer]:.1e}× out"
        return stats.layer_names[layer], f"‖∇W‖ {stats.grad_l2[layer]:.1e}"

    # -- tooltips ------------------------------------------------------------------------
    def describe_node(self, layer: int, idx: int) -> str:
        if layer < 0:
            return f"input · feature {idx} (inputs have no gradient)"
        stats, frame = self.stats, self.frame
        v = float(stats.delta_mean_abs[layer][idx])
        if frame is not None:
            if frame.node_values[layer] is None:
                return f"{stats.layer_names[layer]} · neuron {idx} · not reached yet in this frame"
            what = "mean |a|" if frame.quantity == "activation" else "mean |δ|"
            return f"{stats.layer_names[layer]} · neuron {idx} · {what} = {_fmt(v)}"
        what = "mean |δ| ÷ output's" if self.relative else "mean |δ|"
        return f"{stats.layer_names[layer]} · neuron {idx} · {what} = {_fmt(v)}"

    def describe_edge(self, k: int) -> str:
        """Drawn edge k (in the order of ``edge_values``)."""
        stats = self.stats
        layer = int(np.searchsorted(self.edge_pair_start, k, side="right") - 1)
        flat = int(self.selection.indices[layer][k - self.edge_pair_start[layer]])
        j, i = divmod(flat, self.sizes[layer])
        src = "input" if layer == 0 else stats.layer_names[layer - 1]
        what = "|dL/dW| ÷ output's" if self.relative else "|dL/dW|"
        if self.frame is not None:
            if self.frame.edge_values[layer] is None:
                return f"{src} → {stats.layer_names[layer]} · w[{j}, {i}] · not reached yet in this frame"
            what = "|W|" if self.frame.quantity == "activation" else "|dL/dW|"
        return f"{src} → {stats.layer_names[layer]} · w[{j}, {i}] · {what} = {_fmt(float(self.edge_values[k]))}"

    def describe_skip(self, k: int) -> str:
        stats, frame = self.stats, self.frame
        a, b = stats.skip_connections[k]
        path = f"skip path {stats.layer_names[a]} → {stats.layer_names[b]}"
        if frame is not None and (k >= len(frame.skip_values) or frame.skip_values[k] is None):
            return f"{path} · not reached yet in this frame"
        value = float(stats.skip_grad[k]) if stats.skip_grad is not None else float("nan")
        if frame is not None and frame.quantity == "activation":
            return f"{path} · carries mean |x| = {_fmt(value)} forward to the block's sum, unchanged"
        return f"{path} · carries mean |dL/du| = {_fmt(value)} back past the block unchanged"

    def describe_layer(self, layer: int) -> str:
        if layer < 0:
            return f"input · {self.sizes[0]} features"
        stats = self.stats
        if self.frame is not None:
            return f"{stats.layer_names[layer]} · {self.frame.layer_notes[layer] or 'not reached yet'}"
        n = len(stats.delta_mean_abs[layer])
        if self.relative:
            stats = self.source
        text = (f"{stats.layer_names[layer]} · {n} neurons · ‖∇W‖ = {_fmt(float(stats.grad_l2[layer]))} · "
                f"mean |dL/dW| = {_fmt(float(stats.grad_mean_abs[layer]))} · "
                f"‖δ‖ = {_fmt(float(stats.delta_l2[layer]))}")
        zeros = stats.grad_zero_fraction
        if zeros is not None and zeros[layer] > 0:
            text += f" · {zeros[layer]:.1%} of dL/dW exactly 0 (dead units or underflow)"
        return text


def relative_to_last(values: np.ndarray) -> np.ndarray:
    """Every time step's ‖∂L/∂h_t‖ ÷ the last one's (NaN where that is 0 or not finite): how far
    the gradient has shrunk going back in time, however small the loss has made them all."""
    last = float(values[-1]) if len(values) else float("nan")
    if not (last > 0 and math.isfinite(last)):
        return np.full(len(values), np.nan)
    return values / last


def is_converged(stats: StepStats) -> bool:
    """The step's loss and accuracy meet the diagnosis' 'converged' thresholds (the gradients are
    small because little is left to learn)."""
    return (math.isfinite(stats.loss) and stats.loss <= CONVERGED_LOSS
            and math.isfinite(stats.accuracy) and stats.accuracy >= CONVERGED_ACCURACY)


def _fmt_time(v: float) -> str:
    return "exactly 0" if v == 0 else f"{v:.3e}"


class TimelineScene(ColorScale):
    """The unrolled recurrent view's numbers: one value per time step (‖∂L/∂h_t‖ live, or a
    stepper frame's), their range and buckets. Buckets 0..n_buckets-1 follow the colour map,
    ``n_buckets`` is exactly 0, ``n_buckets + 1`` NaN/inf, ``n_buckets + 2`` not reached yet."""

    def __init__(self, n_buckets: int = N_BUCKETS):
        super().__init__(n_buckets)
        self.kind = ""
        self.depth = 1
        self.relative = False   # every step's ‖∂L/∂h_t‖ ÷ the last step's (R, as the layers ÷ the output's)
        self._relative_shown = False
        self.reset()

    @property
    def zero_bucket(self) -> int:
        return self.n_buckets

    @property
    def unlit_bucket(self) -> int:
        return self.n_buckets + 2

    def reset(self, kind: str | None = None, depth: int | None = None) -> None:
        """A new run: forget the values and unlock the colour range."""
        if kind is not None:
            self.kind = kind
        if depth is not None:
            self.depth = int(depth)
        self.stats: StepStats | None = None
        self.frame: TimeDisplay | None = None
        self.values: np.ndarray | None = None
        self.range = None
        self.live_range: tuple[float, float] | None = None
        self.range_step = 0
        self.tokens = ""

    @property
    def n_steps(self) -> int:
        return 0 if self.values is None else len(self.values)

    def update(self, stats: StepStats) -> None:
        """The live values of one training step (``stats.timestep_grad``)."""
        self.stats = stats
        values = np.asarray(stats.timestep_grad, dtype=np.float64)
        if len(values) != self.n_steps or self.relative != self._relative_shown:   # a new run, or other numbers
            self.live_range = None
            self._relative_shown = self.relative
        if self.relative:
            values = relative_to_last(values)
        self.range = self.live_range
        self.choose(lambda: timeline.color_range(values), stats.step)
        self.values, self.live_range = values, self.range

    def show_frame(self, display: TimeDisplay, tokens: str) -> None:
        self.frame, self.tokens = display, tokens
        self.values, self.range = np.asarray(display.values, dtype=np.float64), display.color_range

    def bin(self, values: np.ndarray) -> np.ndarray:
        """Colour bucket of each value: floor of its place on the log range, and the special
        buckets (NaN is unlit while a frame is shown: not reached yet)."""
        lo, hi = self.range
        k = self.n_buckets
        v = np.asarray(values, dtype=np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            t = (np.log10(v) - math.log10(lo)) / (math.log10(hi) - math.log10(lo)) * k
        out = np.clip(np.floor(np.nan_to_num(t, nan=0.0, posinf=k - 1, neginf=0.0)), 0, k - 1).astype(np.intp)
        out[v == 0] = self.zero_bucket
        out[~np.isfinite(v)] = k + 1
        out[np.isnan(v)] = self.unlit_bucket if self.frame is not None else k + 1
        return out

    def loss(self) -> float | None:
        """The live step's loss, shown beside the loss box."""
        if self.frame is None and self.stats is not None and math.isfinite(self.stats.loss):
            return self.stats.loss
        return None

    def colorbar_title(self) -> str:
        if self.frame is not None:
            return "mean |h_t|" if self.frame.quantity == "activation" else "‖∂L/∂h_t‖"
        return f"‖∂L/∂h_t‖{' ÷ last' if self.relative else ''} · {self.range_tag()}"

    def summary(self) -> str:
        """The line above the row: the network, T, and how fast the gradient decays."""
        kind = self.kind.upper() if self.kind else "recurrent network"
        layers = f", {self.depth} layers (h_t = all of them)" if self.depth > 1 else ""
        if self.frame is not None:
            return f"{kind}{layers} unrolled over {self.n_steps} steps · backprop stepper"
        if self.stats is None:
            return ""
        text = f"{kind}{layers} unrolled over {self.n_steps} steps · {step_label(self.stats)}"
        decay = timeline.decay_summary(self.values)
        return f"{text} · {decay}" if decay else text

    def caption(self, per_column: int) -> str:
        if self.values is None:
            return ""
        columns = timeline.describe_columns(self.n_steps, per_column)
        if self.frame is not None:
            return f"{self.frame.caption} · {columns}"
        if self.stats is not None and is_converged(self.stats):
            columns += (" · converged: small gradients everywhere mean convergence, not vanishing"
                        + ("" if self.relative else " (R: relative to the last time step)"))
        return columns

    def legend(self, any_zero: bool, zero_name: str = "green") -> str:
        """The second caption line; ``zero_name``: the colour exactly 0 is drawn in."""
        if self.frame is not None:
            return self.frame.legend
        if self.range is None:
            return ""
        lo, hi = self.range
        text = f"colour: ‖∂L/∂h_t‖ over the batch, log scale {lo:.0e} … {hi:.0e}, {self.how_fixed()}"
        if self.relative:
            text = f"each time step ÷ the last one's (‖∂L/∂h_T‖) · {text}"
        if any_zero:
            text += f"; {zero_name} = exactly 0 (float underflow, or a saturated tanh)"
        return text

    def describe_step(self, t: int, bins: timeline.StepBins | None) -> str:
        """The tooltip of time step t (1-based); ``bins``: the columns drawn."""
        n = self.n_steps
        v = float(self.values[t - 1])
        back = n - t
        where = f"t = {t} of {n} ({back} step{'s' if back != 1 else ''} before the loss)"
        if self.frame is not None and math.isnan(v):
            return f"{where} · not reached yet in this frame"
        what = "mean |h_t|" if self.frame is not None and self.frame.quantity == "activation" else "‖∂L/∂h_t‖"
        if self.frame is None and self.relative:
            return f"{where} · ‖∂L/∂h_t‖ ÷ ‖∂L/∂h_T‖ = {_fmt_time(v)}"
        text = f"{where} · {what} = {_fmt_time(v)}"
        last = float(self.values[-1])
        if what == "‖∂L/∂h_t‖" and last > 0 and math.isfinite(last) and t < n and v > 0:
            text += f" · ×{v / last:.2e} of ‖∂L/∂h_T‖"
        if bins is not None and bins.per_column > 1:
            c = (t - 1) // bins.per_column
            a, b = int(bins.starts[c]), int(bins.ends[c])
            text += f" · column t = {a}…{b}: geometric mean {_fmt_time(float(bins.values[c]))}"
        return text

    def describe_token(self, t: int) -> str:
        if self.tokens:
            role = "the token to recall" if t == 1 else "noise"
            return f"x_{t} = {self.tokens[t - 1]} · {role}"
        return "x_1 · the token to recall (A–D)" if t == 1 else f"x_{t} · a random token (noise)"
