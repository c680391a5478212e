"""Cost of vgviz's instrumentation: Trainer.step() vs a plain PyTorch step.

    .venv/bin/python benchmarks/bench_step.py [--rounds 30] [--block 50] [--full-every 10] [--no-sketch]

Model: the 20x64 MLP of the targets (depth 20, width 64, relu, he init, SGD
lr 0.05, batch 128, spiral data; benchmarks/_common.py BENCH_CONFIG),
torch.set_num_threads(1) for every arm.

Arms, each its own model (same architecture and initial weights, built by
vgviz.core.tasks.mlp.model.build_model, as the MLP trainer builds it, from the same
RunConfig), trained independently:

  plain A   the baseline: zero_grad, forward, CrossEntropyLoss, backward,
            SGD step, loss.item()
  plain B   a second, identical plain loop: plain B / plain A is the noise floor
  flat      the plain loop with the update vgviz's Trainer makes: parameters and
            gradients as views of one buffer each (vgviz.core.measure.flat), zeroed and
            updated in one call each. Not a target arm: it shows how much of a
            Trainer step's time its measurements take (light / flat) apart from
            what the flat update saves (flat / plain A)
  vgviz     make_trainer(config).step(): GradientProbe hooks, per-layer norms,
            per-neuron |delta|, per-edge |dL/dW| copied to numpy, forward
            signal, update ratio, ..., StepStats, a test-set evaluation every
            eval_every=50 steps (the app's default)
  no edges  make_trainer(config, capture_edges=False).step()
  no eval   make_trainer(config with eval_every=10**6).step(): instrumentation alone
  light     Trainer.step(full=False): what the GUI worker runs on most steps
            (only the numbers History keeps), where Trainer has it
  mix       the worker's pattern: Trainer.step(full=True) when
            vgviz.gui.worker.FULL_PERIOD_S (1/12.5 s, the diagram's rate) has
            passed since the last full step, full=False otherwise (or every
            --full-every N steps)
  sketch    NOT vgviz code: the same StepStats computed another way, to show
            what the instrumentation could cost (--no-sketch leaves it out):
            delta = dL/dz from one torch.autograd.grad(loss, params + zs)
            call instead of per-layer forward hooks + Python tensor hooks,
            and every statistic from a few concatenated tensors (all |dL/dp|
            as one flat array, all deltas as one (batch, units) matrix in a
            reused buffer, all activations stacked) with numpy reduceat per
            layer, instead of ~150 small torch ops on fresh tensors.
            Checked equal to Trainer's numbers (rtol 1e-5) at start-up.
  sketch/10 the sketch computing the display-only numbers (per-edge |dW|,
            delta, activation std) only on every 10th step (the frames a
            30 Hz display can show); per-layer |dW| norms every step.

Batches: every arm samples its batch the way Trainer does, the same
numpy Generator permutation of (seed, step) followed by a tensor gather, so
sampling cost is identical on both sides and the ratio is the instrumentation.

One round runs a block of `--block` steps of every arm, in a shuffled order;
each arm's block time is divided by plain A's block time of the same round;
the table shows the median (and min–max) of these ratios over the rounds.
Target: <= 1.15, applied to the worker's mix: the training loop the app runs, which
measures every step's history numbers and, for the frames the display shows, delta,
per-edge |dL/dW| and the forward signal (the first verdict). The second line reports a
full capture on every step against the same number, for information: delta needs a
hook on every Linear's output, which costs 1.1-1.4x on its own (docs/performance.md#instrumentation-cost), so no
design that takes delta on every step can meet 1.15.
"""
from __future__ import annotations

import argparse
import dataclasses
import inspect
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import BENCH_CONFIG, interleaved_rounds, machine_line, median, spread, table, verdict  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

from vgviz.core.config import RunConfig  # noqa: E402
from vgviz.core.layers import ACTIVATION_TYPES  # noqa: E402
from vgviz.core.measure.stats import StepStats  # noqa: E402
from vgviz.core.tasks import make_trainer  # noqa: E402
from vgviz.core.tasks.mlp.data import make_dataset  # noqa: E402
from vgviz.core.tasks.mlp.model import build_model  # noqa: E402
from vgviz.core.tasks.trainer import Trainer  # noqa: E402

TARGET = 1.15


def batch_indices(seed: int, step: int, n: int, batch_size: int) -> np.ndarray:
    """Exactly what Trainer.batch_indices does (same cost)."""
    if batch_size >= n:
        return np.arange(n)
    rng = np.random.default_rng([seed, step])
    return rng.permutation(n)[:batch_size]


class PlainLoop:
    """The same model, data, batches and optimizer, with nothing measured."""

    def __init__(self, config: RunConfig):
        self.config = config
        data = make_dataset(config.dataset, config.seed)
        self.model = build_model(config, data.n_features, data.n_classes)   # what the MLP trainer builds
        self.loss_fn = nn.CrossEntropyLoss()
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=config.lr)
        self.x = torch.from_numpy(data.x_train)
        self.y = torch.from_numpy(data.y_train)
        self.step_count = 0

    def step(self) -> float:
        c = self.config
        idx = torch.from_numpy(batch_indices(c.seed, self.step_count, len(self.x), c.batch_size))
        x, y = self.x[idx], self.y[idx]
        self.optimizer.zero_grad(set_to_none=True)
        loss = self.loss_fn(self.model(x), y)
        loss.backward()
        self.optimizer.step()
        self.step_count += 1
        return loss.item()


class FlatLoop(PlainLoop):
    """PlainLoop with Trainer's update: one zero_grad and one in-place add over flat buffers."""

    def __init__(self, config: RunConfig):
        super().__init__(config)
        from vgviz.core.measure.flat import FlatParameters
        self.flat = FlatParameters(list(self.model.parameters()))

    def step(self) -> float:
        c = self.config
        idx = torch.from_numpy(batch_indices(c.seed, self.step_count, len(self.x), c.batch_size))
        x, y = self.x[idx], self.y[idx]
        self.flat.zero_grad()
        loss = self.loss_fn(self.model(x), y)
        loss.backward()
        with torch.no_grad():
            self.flat.data.add_(self.flat.grad, alpha=-c.lr)
        self.step_count += 1
        return loss.item()


class SketchLoop(PlainLoop):
    """What Trainer.step() computes for this config (a StepStats of the batch:
    loss, accuracy, per-layer |dW|, ||dW|| and zero fraction, per-edge |dW|,
    ||delta|| and per-neuron mean |delta|, activation std, global ||g||, a
    test evaluation every eval_every steps; then the update and its
    ||dW||/||W||), with delta taken by torch.autograd.grad and the statistics
    batched.

    detail_every=k > 1: the display-only numbers (per-edge |dW|, delta,
    activation std) only every k-th step, i.e. only for the frames a GUI can
    show (~30 Hz of a few hundred steps/s); the other steps use a plain
    backward and compute only what History keeps (per-layer ||dW||, mean
    |dW|, zero fraction, update ratio) and the global norm, from the same one
    flat |grad| array; they carry NaN / None for the rest.
    """

    def __init__(self, config: RunConfig, detail_every: int = 1):
        super().__init__(config)
        if not isinstance(self.model, nn.Sequential):
            raise TypeError("the sketch handles a plain nn.Sequential MLP only")
        self.detail_every = detail_every
        self.params = list(self.model.parameters())
        self.linears = [m for m in self.model if isinstance(m, nn.Linear)]
        self.act_index = [i for i, m in enumerate(self.model) if isinstance(m, ACTIVATION_TYPES)
                          and not isinstance(m, nn.Identity)]
        ids = [id(p) for p in self.params]
        self.weight_pos = [ids.index(id(m.weight)) for m in self.linears]
        p_bounds = np.concatenate([[0], np.cumsum([p.numel() for p in self.params])]).astype(np.intp)
        self.p_offsets = p_bounds[:-1]
        units = [m.out_features for m in self.linears]
        self.counts = np.array([m.weight.numel() for m in self.linears], dtype=np.float64)
        self.u_offsets = np.concatenate([[0], np.cumsum(units)[:-1]]).astype(np.intp)
        u_bounds = np.concatenate([[0], np.cumsum(units)]).tolist()
        self.w_slices = [(int(p_bounds[i]), int(p_bounds[i + 1]), tuple(self.params[i].shape))
                         for i in self.weight_pos]
        self.u_slices = list(zip(u_bounds, u_bounds[1:]))
        self.n_units = u_bounds[-1]
        self.nan_delta_l2 = np.full(len(units), np.nan)
        self.nan_delta_mean = tuple(np.full(u, np.nan) for u in units)
        self.nan_act = np.full(len(self.act_index), np.nan)
        self.names = tuple(f"hidden{i + 1}" for i in range(len(self.linears) - 1)) + ("output",)
        data = make_dataset(config.dataset, config.seed)
        self.x_test, self.y_test = torch.from_numpy(data.x_test), torch.from_numpy(data.y_test)
        self._dbuf = self._abuf = None

    def _delta_buffers(self, batch: int) -> tuple[torch.Tensor, torch.Tensor]:
        if self._dbuf is None or self._dbuf.shape[0] != batch:
            self._dbuf, self._abuf = torch.empty(batch, self.n_units), torch.empty(batch, self.n_units)
        return self._dbuf, self._abuf

    def forward_backward(self, step: int) -> StepStats:
        c = self.config
        idx = torch.from_numpy(batch_indices(c.seed, step, len(self.x), c.batch_size))
        x, y = self.x[idx], self.y[idx]
        detail = step % self.detail_every == 0
        n_p = len(self.params)
        if detail:
            zs, acts, h = [], [], x
            act_set = set(self.act_index)
            for i, layer in enumerate(self.model):
                h = layer(h)
                if isinstance(layer, nn.Linear):
                    zs.append(h)
                elif i in act_set:
                    acts.append(h)
            loss = self.loss_fn(h, y)
            grads = torch.autograd.grad(loss, self.params + zs)
            for p, g in zip(self.params, grads[:n_p]):
                p.grad = g
        else:
            self.optimizer.zero_grad(set_to_none=True)
            h = self.model(x)
            loss = self.loss_fn(h, y)
            loss.backward()
            grads = [p.grad for p in self.params]
        with torch.no_grad():
            flat = torch.cat([g.reshape(-1) for g in grads[:n_p]]).abs_().numpy()   # every parameter
            if detail:
                d, a = self._delta_buffers(len(y))
                torch.cat(grads[n_p:], 1, out=d)          # (batch, all units), reused buffer
                torch.abs(d, out=a)
                per_neuron = a.sum(0).div_(len(y)).numpy()
                delta_sq = d.mul_(d).sum(0).numpy()
                if acts:   # two-pass population std in float32 (torch's std along a dim is ~10x slower)
                    st = torch.stack(acts).reshape(len(acts), -1)
                    dev = st - st.mean(1, keepdim=True)
                    act_std = dev.mul_(dev).mean(1).sqrt_().double().numpy()
                else:
                    act_std = self.nan_act[:0]
            accuracy = (h.argmax(1) == y).float().mean().item()
        loss_value = loss.item()
        l1 = np.add.reduceat(flat, self.p_offsets, dtype=np.float64)
        sq = np.add.reduceat(np.square(flat, dtype=np.float64), self.p_offsets)
        nonzero = np.add.reduceat(flat != 0, self.p_offsets, dtype=np.float64)
        if detail:
            delta_l2 = np.sqrt(np.add.reduceat(delta_sq.astype(np.float64), self.u_offsets))
            delta_mean = tuple(per_neuron[a:b] for a, b in self.u_slices)
            edges = tuple(flat[a:b].reshape(shape) for a, b, shape in self.w_slices)
        else:
            delta_l2, delta_mean, act_std, edges = self.nan_delta_l2, self.nan_delta_mean, self.nan_act, None
        grad_l1, grad_l2 = l1[self.weight_pos], np.sqrt(sq[self.weight_pos])
        total = float(np.sqrt(sq.sum()))
        diverged = not (np.isfinite(loss_value) and np.isfinite(grad_l2).all())
        test_loss = test_acc = None
        if step % c.eval_every == 0 and not diverged:
            with torch.no_grad():
                logits = self.model(self.x_test)
                test_loss = self.loss_fn(logits, self.y_test).item()
                test_acc = (logits.argmax(1) == self.y_test).float().mean().item()
        extra = {}
        fields = StepStats.__dataclass_fields__
        if "activation_std" in fields:
            extra.update(activation_std=act_std, grad_norm_total=total)
        if "skip_grad" in fields:
            extra["skip_grad"] = np.zeros(0)          # a plain Sequential has no residual sums
        if "grad_zero_fraction" in fields:
            extra["grad_zero_fraction"] = 1.0 - nonzero[self.weight_pos] / self.counts
        return StepStats(step=step, loss=loss_value, accuracy=accuracy, diverged=diverged,
                         layer_names=self.names, grad_mean_abs=grad_l1 / self.counts, grad_l2=grad_l2,
                         delta_l2=delta_l2, delta_mean_abs=delta_mean,
                         edge_abs=edges, test_loss=test_loss, test_accuracy=test_acc, **extra)

    def step(self) -> StepStats:
        stats = self.forward_backward(self.step_count)
        if not stats.diverged:
            self.optimizer.step()
            if "update_ratio" in StepStats.__dataclass_fields__:   # plain SGD: ||dW|| = lr ||g||
                with torch.no_grad():
                    w = torch.stack(torch._foreach_norm([m.weight for m in self.linears], 2)).double().numpy()
                stats = dataclasses.replace(stats, update_ratio=self.config.lr * stats.grad_l2 / w)
        self.step_count += 1
        return stats


def check_sketch(config: RunConfig) -> str:
    """The sketch's numbers must be Trainer's numbers, or its timing means nothing.
    Compares every StepStats field the sketch fills; names those it leaves out."""
    trainer, sketch = make_trainer(config), SketchLoop(config)
    for _ in range(5):
        a, b = trainer.step(), sketch.step()
    bad, missing = [], []
    for name in StepStats.__dataclass_fields__:
        va, vb = getattr(a, name), getattr(b, name)
        if name in ("step", "layer_names") or (va is None and vb is None):
            continue
        if vb is None:
            missing.append(name)
            continue
        if va is None:
            bad.append(name)
            continue
        pairs = list(zip(va, vb)) if isinstance(va, tuple) else [(va, vb)]
        try:
            same = len(pairs) == (len(vb) if isinstance(vb, tuple) else 1) and all(
                np.allclose(np.asarray(x, dtype=float), np.asarray(y, dtype=float), rtol=1e-5, atol=1e-12,
                            equal_nan=True) for x, y in pairs)
        except (TypeError, ValueError):
            same = va == vb
        if not same:
            bad.append(name)
    text = "equal to Trainer's (rtol 1e-5) after 5 steps" if not bad else f"MISMATCH in {', '.join(bad)}"
    if missing:
        text += f"; not computed by the sketch: {', '.join(missing)}"
    return text


class LightArm:
    """Trainer.step(full=...) as the GUI worker calls it: full stats (delta, edges,
    forward signal) every `every`-th step, light steps otherwise (every=0: always light);
    or, with `period` (seconds), by the worker's own rule: a full step when `period` has
    passed since the last one."""

    def __init__(self, trainer: Trainer, every: int = 0, period: float | None = None):
        self.trainer, self.every, self.period = trainer, every, period
        self._last_full = -1e9
        self.full_steps = self.steps = 0

    @property
    def diverged(self) -> bool:
        return self.trainer.diverged

    def step(self):
        t = self.trainer
        if self.period is not None:
            now = time.perf_counter()
            full = now - self._last_full >= self.period
            if full:
                self._last_full = now
        else:
            full = bool(self.every) and t.step_count % self.every == 0
        self.steps += 1
        self.full_steps += full
        return t.step(full=full)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=30)
    ap.add_argument("--block", type=int, default=50, help="steps per arm per round")
    ap.add_argument("--warmup", type=int, default=100, help="steps per arm before timing")
    ap.add_argument("--no-sketch", action="store_true", help="leave out the sketch arms")
    ap.add_argument("--full-every", type=int, default=0,
                    help="the mix arm takes a full step every N steps; 0 (default): by the worker's rule, "
                         "full stats at most every vgviz.gui.worker.FULL_PERIOD_S")
    args = ap.parse_args(argv)

    torch.set_num_threads(1)
    config = RunConfig(**BENCH_CONFIG)  # eval_every = 50, as in the app
    arms = {
        "plain A": PlainLoop(config),
        "plain B": PlainLoop(config),
        "flat": FlatLoop(config),
        "vgviz": make_trainer(config),
        "no edges": make_trainer(config, capture_edges=False),
        "no eval": make_trainer(config.replace(eval_every=1_000_000)),
    }
    has_light = "full" in inspect.signature(Trainer.step).parameters
    if has_light:                       # the GUI worker's light steps (d81167a and later)
        arms["light"] = LightArm(make_trainer(config), every=0)
        if args.full_every:
            arms["mix"] = LightArm(make_trainer(config), every=args.full_every)
        else:
            from vgviz.gui.worker import FULL_PERIOD_S
            arms["mix"] = LightArm(make_trainer(config), period=FULL_PERIOD_S)
    if not args.no_sketch:
        arms["sketch"] = SketchLoop(config)
        arms["sketch/10"] = SketchLoop(config, detail_every=10)
    labels = {
        "plain A": "plain PyTorch step (baseline)",
        "plain B": "plain PyTorch step again (noise floor)",
        "flat": "plain step, flat-buffer update (reference)",
        "vgviz": "Trainer.step(), full capture, eval every 50",
        "no edges": "Trainer.step(), capture_edges=False",
        "no eval": "Trainer.step(), full capture, no eval",
        "light": "Trainer.step(full=False): history numbers only",
        "mix": (f"worker's mix: full every {args.full_every}th step, else light" if args.full_every else
                "worker's mix: full at most every FULL_PERIOD_S, else light"),
        "sketch": "sketch, not vgviz: autograd.grad + batched stats",
        "sketch/10": "sketch, display-only stats every 10th step",
    }
    print("bench_step: instrumented vs plain training step")
    print(machine_line())
    print(f"model {config.depth}x{config.width} {config.activation}/{config.init}, batch {config.batch_size}, "
          f"{config.optimizer} lr {config.lr:g}, torch threads {torch.get_num_threads()}; "
          f"{args.rounds} rounds x {args.block} steps per arm, shuffled order; "
          "every arm samples its batches like Trainer (numpy permutation + gather)")

    if not args.no_sketch:
        print(f"sketch numbers: {check_sketch(config)}")
    for arm in arms.values():
        for _ in range(args.warmup):
            arm.step()

    names = list(arms)
    t_start = time.perf_counter()
    times = interleaved_rounds(arms, args.rounds, args.block)
    elapsed = time.perf_counter() - t_start

    base = times["plain A"]
    ratios = {n: [t / b for t, b in zip(times[n], base)] for n in names}
    rows = []
    for n in names:
        rows.append([labels[n], f"{median(times[n]) * 1e3:.2f}",
                     f"{median(ratios[n]):.3f}", spread(ratios[n])])
    print()
    print(table(["arm", "ms/step (median)", "ratio to plain A", "min–max"], rows))
    print(f"\n({elapsed:.0f} s of timed steps; ratios are per round, then the median over rounds)")
    r = median(ratios["vgviz"])
    floor = median(ratios["plain B"])
    diverged = [n for n in ("vgviz", "no edges", "no eval", "light", "mix") if n in arms and arms[n].diverged]
    if "sketch" in ratios:
        print(f"sketch of a cheaper capture (same StepStats): {median(ratios['sketch']):.3f} x plain; "
              f"with the display-only stats every 10th step: {median(ratios['sketch/10']):.3f} x plain")
    if diverged:
        print(f"note: {', '.join(diverged)} diverged (no optimizer updates after that)")
    if "mix" in ratios:
        m = median(ratios["mix"])
        mix = arms["mix"]
        rule = (f"full every {args.full_every}th step" if args.full_every else
                f"full at most every {mix.period * 1e3:.0f} ms (1 step in {mix.steps / max(mix.full_steps, 1):.0f} here)")
        print(verdict("the app's training loop (the worker's mix)", m <= TARGET,
                      f"{rule}, light otherwise / plain = {m:.3f} (target <= {TARGET}); "
                      f"light alone {median(ratios['light']):.3f}; noise floor plain/plain = {floor:.3f}"))
        print(f"the measurements alone: light / flat-update plain = "
              f"{median([a / b for a, b in zip(times['light'], times['flat'])]):.3f}, "
              f"mix / flat-update plain = {median([a / b for a, b in zip(times['mix'], times['flat'])]):.3f}")
    print(f"INFO  a full capture (delta, edges, forward signal) on every step: Trainer.step() / plain = {r:.3f} "
          f"({'within' if r <= TARGET else 'above'} {TARGET}; delta's per-layer hooks alone cost 1.1-1.4x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
