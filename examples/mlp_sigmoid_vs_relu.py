"""A deep MLP, sigmoid against ReLU: the classic vanishing gradient, recorded by vgviz.watch.

    python examples/mlp_sigmoid_vs_relu.py            # then: vgviz open runs/mlp-sigmoid.vgviz
"""
from __future__ import annotations

import math

import torch
from torch import nn

import vgviz
from _common import parse_args


def two_spirals(n: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    t = torch.rand(n, generator=generator) * 3 * math.pi
    label = torch.randint(0, 2, (n,), generator=generator)
    angle = t + math.pi * label
    x = torch.stack([t * torch.cos(angle), t * torch.sin(angle)], 1) / (3 * math.pi)
    return x + 0.02 * torch.randn(x.shape, generator=generator), label


def mlp(activation: type[nn.Module], depth: int = 8, width: int = 32) -> nn.Sequential:
    layers, size = [], 2
    for _ in range(depth):
        layers += [nn.Linear(size, width), activation()]
        size = width
    return nn.Sequential(*layers, nn.Linear(size, 2))


def main() -> None:
    args = parse_args(__doc__.splitlines()[0], steps=2000)
    generator = torch.Generator().manual_seed(args.seed)
    x, y = two_spirals(1024, generator)
    for name, activation in (("sigmoid", nn.Sigmoid), ("relu", nn.ReLU)):
        torch.manual_seed(args.seed)
        model = mlp(activation)
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        path = args.out / f"mlp-{name}.vgviz"
        with vgviz.watch(model, out=path, window=args.window) as w:
            for step in range(args.steps):
                batch = torch.randint(0, len(x), (64,), generator=generator)
                opt.zero_grad()
                loss = nn.functional.cross_entropy(model(x[batch]), y[batch])
                loss.backward()
                w.step(loss)
                opt.step()
        print(f"{name}: {vgviz.diagnose(path).headline}")


if __name__ == "__main__":
    main()
