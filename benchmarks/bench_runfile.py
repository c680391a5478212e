"""Cost of recording a run into a run file (vgviz.core.runfile), its size and its read speed.

    .venv/bin/python benchmarks/bench_runfile.py [--rounds 30] [--block 50]

(a) Recording ÷ not recording, per step, on the 20×64 MLP of the targets
    (benchmarks/_common.py BENCH_CONFIG, torch.set_num_threads(1)), both arms running
    the GUI worker's mix (a full step when vgviz.gui.worker.FULL_PERIOD_S has passed
    since the last one, light otherwise); the recording arm also calls
    RunRecorder.record(stats) (capture_hz 25) after every step, into a file in a
    temporary folder. A second plain arm gives the noise floor. Rounds of `--block`
    steps per arm in shuffled order; the median of per-round ratios. Target ≤ 1.05.
(b) File size per 10⁶ steps of that MLP (42 parameter tensors) under the default
    StoragePolicy: 10⁶ steps written in batches (RunWriter.append_steps), a full
    capture of a real 20×64 step every 1,000 steps, weights at step 0, powers of 2 and
    the end. Target ≤ 100 MB.
(c) Time to open that file and read one per-parameter series (open_run(...).series),
    median of 5. Target ≤ 1 s.
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import BENCH_CONFIG, interleaved_rounds, machine_line, median, spread, table, verdict  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

from vgviz.core.config import RunConfig  # noqa: E402
from vgviz.core.runfile import RunRecorder, RunWriter, open_run  # noqa: E402
from vgviz.core.tasks import make_trainer  # noqa: E402

RATIO_TARGET = 1.05
SIZE_TARGET_MB = 100
READ_TARGET_S = 1.0
MILLION = 1_000_000


class MixArm:
    """The worker's loop: a full step when `period` has passed since the last one."""

    def __init__(self, config: RunConfig, period: float):
        self.trainer = make_trainer(config)
        self.period = period
        self.last_full = -1e9

    def step(self) -> None:
        now = time.monotonic()
        full = now - self.last_full >= self.period
        if full:
            self.last_full = now
        self.trainer.step(full=full)


class RecordedArm:
    """The same loop, recorded: RunRecorder decides the full steps at the same rate."""

    def __init__(self, config: RunConfig, period: float, path: Path):
        self.trainer = make_trainer(config)
        self.recorder = RunRecorder(self.trainer, path, capture_hz=1.0 / period)

    def step(self) -> None:
        self.recorder.record(self.trainer.step(full=self.recorder.wants_full()))


def write_million(path: Path, config: RunConfig) -> float:
    """(b)'s file; returns the seconds it took to write."""
    trainer = make_trainer(config)
    capture = trainer.step()
    names = trainer.param_names
    rng = np.random.default_rng(0)
    start = time.perf_counter()
    with RunWriter(path, config=config.to_dict(), param_names=names, layer_names=trainer.layer_names) as writer:
        batch = 10_000
        for first in range(0, MILLION, batch):
            steps = np.arange(first, first + batch)
            stats = rng.random((batch, 6, len(names)), dtype=np.float32)
            writer.append_steps(steps, rng.random(batch), rng.random(batch), stats)
            for step in steps[::1000]:
                writer.append_capture(int(step), dataclasses.replace(capture, step=int(step)))
            if first & (first - 1) == 0 or first + batch == MILLION:
                writer.save_weights(first, trainer.model.state_dict())
    return time.perf_counter() - start


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=30)
    ap.add_argument("--block", type=int, default=50, help="steps per arm per round")
    ap.add_argument("--warmup", type=int, default=100, help="steps per arm before timing")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    from vgviz.gui.worker import FULL_PERIOD_S

    config = RunConfig(**BENCH_CONFIG)
    folder = Path(tempfile.mkdtemp(prefix="vgviz-bench-runfile-"))
    print("bench_runfile: recording a run file, its size and read speed")
    print(machine_line())
    arms = {"plain A": MixArm(config, FULL_PERIOD_S), "plain B": MixArm(config, FULL_PERIOD_S),
            "recorded": RecordedArm(config, FULL_PERIOD_S, folder / "recorded.vgviz")}
    for arm in arms.values():
        for _ in range(args.warmup):
            arm.step()
    times = interleaved_rounds(arms, args.rounds, args.block)
    arms["recorded"].recorder.close()
    base = times["plain A"]
    ratios = {name: [t / b for t, b in zip(times[name], base)] for name in arms}
    labels = {"plain A": "worker's mix, not recorded (baseline)", "plain B": "the same again (noise floor)",
              "recorded": "worker's mix + RunRecorder.record"}
    print(f"\n(a) model {config.depth}x{config.width}, {args.rounds} rounds x {args.block} steps per arm, "
          "shuffled order")
    print(table(["arm", "ms/step (median)", "ratio to baseline", "min–max"],
                [[labels[n], f"{median(times[n]) * 1e3:.2f}", f"{median(ratios[n]):.3f}", spread(ratios[n])]
                 for n in arms]))

    path = folder / "million.vgviz"
    seconds = write_million(path, config)
    size_mb = path.stat().st_size / 1e6
    reads = []
    for _ in range(5):
        t0 = time.perf_counter()
        with open_run(path) as run:
            rows = len(run.series("grad_l2"))
        reads.append(time.perf_counter() - t0)
    print(f"\n(b) 10⁶ steps written in {seconds:.1f} s: {size_mb:.1f} MB")
    print(f"(c) open + one series of 10⁶ steps ({rows} rows): median {median(reads):.3f} s "
          f"(min {min(reads):.3f} s)")
    print()
    ratio = median(ratios["recorded"])
    print(verdict("(a) recording ÷ not recording", ratio <= RATIO_TARGET,
                  f"{ratio:.3f} (target <= {RATIO_TARGET}); noise floor {median(ratios['plain B']):.3f}"))
    print(verdict("(b) size per 10⁶ steps", size_mb <= SIZE_TARGET_MB,
                  f"{size_mb:.1f} MB (target <= {SIZE_TARGET_MB} MB)"))
    print(verdict("(c) read one series of 10⁶ steps", median(reads) <= READ_TARGET_S,
                  f"{median(reads):.3f} s (target <= {READ_TARGET_S:g} s)"))
    for file in folder.iterdir():
        file.unlink()
    folder.rmdir()
    return 0


if __name__ == "__main__":
    sys.exit(main())
