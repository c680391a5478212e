"""A small CNN on the 8×8 handwritten digits that ship with vgviz, recorded by vgviz.watch.

    python examples/cnn_digits.py                     # then: vgviz open runs/cnn-digits.vgviz
"""
from __future__ import annotations

import torch
from torch import nn

import vgviz
from _common import parse_args
from vgviz.core.tasks.mlp.data import load_digits


class SmallCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3, padding=1)
        self.conv2 = nn.Conv2d(8, 16, 3, padding=1)
        self.fc1 = nn.Linear(16 * 2 * 2, 32)
        self.fc2 = nn.Linear(32, 10)

    def forward(self, x):
        x = nn.functional.max_pool2d(torch.relu(self.conv1(x)), 2)      # functional activations work too
        x = nn.functional.max_pool2d(torch.relu(self.conv2(x)), 2)
        return self.fc2(torch.relu(self.fc1(x.flatten(1))))


def main() -> None:
    args = parse_args(__doc__.splitlines()[0], steps=1500)
    pixels, labels = load_digits()
    x = torch.from_numpy(pixels).float().reshape(-1, 1, 8, 8)
    y = torch.from_numpy(labels)
    torch.manual_seed(args.seed)
    model = SmallCNN()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    path = args.out / "cnn-digits.vgviz"
    with vgviz.watch(model, out=path, window=args.window) as w:
        for step in range(args.steps):
            batch = torch.randint(0, len(x), (64,))
            opt.zero_grad()
            loss = nn.functional.cross_entropy(model(x[batch]), y[batch])
            loss.backward()
            w.step(loss)
            opt.step()
    with torch.no_grad():
        accuracy = (model(x).argmax(1) == y).float().mean().item()
    print(f"training accuracy {accuracy:.1%}; {vgviz.diagnose(path).headline}")


if __name__ == "__main__":
    main()
