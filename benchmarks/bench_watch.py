"""Cost of vgviz.watch on a user's training loop: watched step ÷ plain step.

    .venv/bin/python benchmarks/bench_watch.py [--rounds 30] [--block 20] [--device cpu|cuda]
                                               [--models cnn,mlp,lstm]

Each model gets two arms built from the same seed, each with its own copy of the model,
SGD optimizer and a fixed set of batches: `plain` (zero_grad, forward, loss, backward,
opt.step) and `watched` (the same, with w.step(loss) after backward, every step, default
settings: capture_hz 25, update ratios on) writing into a run file in a temporary folder;
a second plain arm gives the noise floor, and a `no captures` arm (capture_hz=0: only step 0)
the cost of the every-step numbers alone. Rounds of `--block` steps per arm in shuffled
order (benchmarks/_common.interleaved_rounds); the median of per-round ratios.
One torch thread on the CPU. Target ≤ 1.05 on the CNN (LeNet-5 size: 28×28 inputs, batch 64).
With --device cuda every step ends in torch.cuda.synchronize(), in both arms.

  cnn   LeNet-5: conv 6@5×5, pool, conv 16@5×5, pool, 256→120→84→10, ReLU (the target)
  mlp   784→256→256→256→10, tanh, batch 64
  lstm  LSTM(28→64) over the 28 rows of a 28×28 input, then Linear(64→10), batch 64
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import interleaved_rounds, machine_line, median, spread, table, verdict  # noqa: E402

import torch  # noqa: E402
from torch import nn  # noqa: E402

import vgviz  # noqa: E402

RATIO_TARGET = 1.05
BATCH = 64


class LeNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1, self.conv2 = nn.Conv2d(1, 6, 5), nn.Conv2d(6, 16, 5)
        self.fc1, self.fc2, self.fc3 = nn.Linear(256, 120), nn.Linear(120, 84), nn.Linear(84, 10)

    def forward(self, x):
        x = nn.functional.max_pool2d(torch.relu(self.conv1(x)), 2)
        x = nn.functional.max_pool2d(torch.relu(self.conv2(x)), 2)
        return self.fc3(torch.relu(self.fc2(torch.relu(self.fc1(x.flatten(1))))))


class RowLSTM(nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm, self.fc = nn.LSTM(28, 64, batch_first=True), nn.Linear(64, 10)

    def forward(self, x):
        return self.fc(self.lstm(x.squeeze(1))[0][:, -1])


MODELS = {
    "cnn": LeNet,
    "mlp": lambda: nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.Tanh(), nn.Linear(256, 256), nn.Tanh(),
                                 nn.Linear(256, 256), nn.Tanh(), nn.Linear(256, 10)),
    "lstm": RowLSTM,
}


class Arm:
    def __init__(self, name: str, device: str, out: Path | None = None, capture_hz: float = 25.0):
        torch.manual_seed(0)
        self.model = MODELS[name]().to(device)
        self.opt = torch.optim.SGD(self.model.parameters(), lr=0.01)
        g = torch.Generator().manual_seed(1)
        self.batches = [(torch.randn(BATCH, 1, 28, 28, generator=g).to(device),
                         torch.randint(0, 10, (BATCH,), generator=g).to(device)) for _ in range(8)]
        self.sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
        self.watch = vgviz.watch(self.model, out=out, capture_hz=capture_hz) if out is not None else None
        self.i = 0

    def step(self) -> None:
        x, y = self.batches[self.i % len(self.batches)]
        self.i += 1
        self.opt.zero_grad()
        loss = nn.functional.cross_entropy(self.model(x), y)
        loss.backward()
        if self.watch is not None:
            self.watch.step(loss)
        self.opt.step()
        self.sync()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--block", type=int, default=20)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--models", default="cnn,mlp,lstm")
    args = parser.parse_args()
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print("bench_watch: error: --device cuda but torch sees no CUDA device", file=sys.stderr)
        return 2
    torch.set_num_threads(1)
    print(machine_line(), "·", args.device)
    rows, verdicts = [], []
    with tempfile.TemporaryDirectory(prefix="vgviz-bench-watch-") as folder:
        for name in args.models.split(","):
            arms = {"plain": Arm(name, args.device), "plain 2": Arm(name, args.device),
                    "watched": Arm(name, args.device, Path(folder) / f"{name}.vgrun"),
                    "no captures": Arm(name, args.device, Path(folder) / f"{name}-light.vgrun", capture_hz=0)}
            interleaved_rounds(arms, 2, args.block)                          # warm-up
            times = interleaved_rounds(arms, args.rounds, args.block, seed=1)
            watched = [w / p for w, p in zip(times["watched"], times["plain"])]
            light = [w / p for w, p in zip(times["no captures"], times["plain"])]
            floor = [a / b for a, b in zip(times["plain 2"], times["plain"])]
            arms["no captures"].watch.close()
            captures = arms["watched"].watch
            captures.close()
            with vgviz.open_run(captures.path) as run:
                kept = len(run.step)
                captured = len(run.capture_steps)
            rows.append([name, f"{median(times['plain']) * 1e3:.2f}", f"{median(watched):.3f}", spread(watched),
                         f"{median(light):.3f}", f"{median(floor):.3f}", f"{captured}/{kept}"])
            if name == "cnn":
                verdicts.append(verdict("watched ÷ plain, LeNet CNN", median(watched) <= RATIO_TARGET,
                                        f"{median(watched):.3f} (target ≤ {RATIO_TARGET})"))
    print(table(["model", "plain ms/step", "watched ÷ plain", "spread", "no captures ÷ plain", "plain 2 ÷ plain",
                 "captures/steps"], rows))
    for line in verdicts:
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
