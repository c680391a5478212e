"""Cost of measuring ‖∂L/∂h_t‖ for every time step: RecurrentTrainer.step() vs a plain PyTorch step.

    .venv/bin/python benchmarks/bench_recurrent.py [--rounds 8] [--block 10] [--seq-lens 50 100]

Model: the rnn-T50 / lstm-T50 / gru-T50 presets (width 32, one layer, batch 64,
Adam lr 0.01) at each seq_len, torch.set_num_threads(1) for every arm.

Arms, each its own model (same weights from the same config), trained independently
on the same fresh batches (RecurrentTrainer.batch, from (seed, step)):

  plain A   the baseline: the fused nn.RNN / nn.LSTM / nn.GRU module, cross-entropy,
            backward, Adam step, loss.item()
  plain B   a second identical plain loop: plain B / plain A is the noise floor
  unrolled  the same step through RecurrentNet.unroll(probe=False): PyTorch's cell
            functions one time step at a time, no probe (the loop's own cost)
  vgviz     RecurrentTrainer(config).step() with no test-set evaluation: unrolled with
            the zero probe, ‖∂L/∂h_t‖ for every t, per-matrix norms, StepStats

One round runs a block of `--block` steps of every arm in a shuffled order; each
arm's block time is divided by plain A's block time of the same round; the table
shows the median (and min–max) of these ratios over the rounds.
"""
from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine_line, median, spread  # noqa: E402

import torch  # noqa: E402
from torch import nn  # noqa: E402

from vgviz.core.config import RunConfig  # noqa: E402
from vgviz.core.tasks.recurrent.trainer import RecurrentTrainer  # noqa: E402

BASE = dict(dataset="recall", depth=1, width=32, activation="tanh", gate_init="chrono", optimizer="adam",
            lr=0.01, batch_size=64, steps=10_000_000, seed=0, eval_every=1_000_000)


class Plain:
    def __init__(self, config: RunConfig, unrolled: bool = False):
        self.source = RecurrentTrainer(config)       # for its model and batches only
        self.model = self.source.model
        self.unrolled = unrolled
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=config.lr)
        self.loss_fn = nn.CrossEntropyLoss()
        self.step_count = 0

    def step(self) -> float:
        x, y, _ = self.source.batch(self.step_count)
        self.optimizer.zero_grad(set_to_none=True)
        logits = self.model.unroll(x, probe=False).logits if self.unrolled else self.model(x)
        loss = self.loss_fn(logits, y)
        loss.backward()
        self.optimizer.step()
        self.step_count += 1
        return loss.item()


def run(model: str, seq_len: int, rounds: int, block: int) -> dict[str, list[float]]:
    config = RunConfig(model=model, seq_len=seq_len, **BASE)
    arms = {"plain A": Plain(config), "plain B": Plain(config), "unrolled": Plain(config, unrolled=True),
            "vgviz": RecurrentTrainer(config)}
    for arm in arms.values():          # warm up
        for _ in range(2):
            arm.step()
    ratios: dict[str, list[float]] = {name: [] for name in arms}
    order = list(arms)
    for _ in range(rounds):
        random.shuffle(order)
        times = {}
        for name in order:
            arm = arms[name]
            t0 = time.perf_counter()
            for _ in range(block):
                arm.step()
            times[name] = time.perf_counter() - t0
        for name in arms:
            ratios[name].append(times[name] / times["plain A"])
        ratios.setdefault("_ms", []).append(times["plain A"] / block * 1000)
    return ratios


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--block", type=int, default=10)
    parser.add_argument("--seq-lens", type=int, nargs="+", default=[50, 100])
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(machine_line())
    print(f"{'model':<6}{'T':>5}{'plain ms':>10}  {'plain B':>14}  {'unrolled':>14}  {'vgviz':>14}")
    for seq_len in args.seq_lens:
        for model in ("rnn", "lstm", "gru"):
            r = run(model, seq_len, args.rounds, args.block)
            cells = [f"{median(r[k]):.2f} ({spread(r[k])})" for k in ("plain B", "unrolled", "vgviz")]
            print(f"{model:<6}{seq_len:>5}{median(r['_ms']):>10.1f}  " + "  ".join(f"{c:>14}" for c in cells),
                  flush=True)


if __name__ == "__main__":
    main()
