"""Run files of models that are not vgviz's MLPs (a small CNN, a transformer block), trained a
few steps here and recorded with the run file's own writer and param_stats code, as
vgviz.watch records them: per-parameter stats every step, a capture whose layers are the
modules owning parameters, with (out, in) edges for Linear and Conv layers."""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from vgviz.core.measure.param_stats import TensorParamStats
from vgviz.core.measure.stats import StepStats
from vgviz.core.runfile import RunWriter, describe_model


class SmallCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 4, 3, padding=1)
        self.conv2 = nn.Conv2d(4, 8, 3, padding=1)
        self.fc = nn.Linear(8 * 4 * 4, 10)

    def forward(self, x):
        x = torch.max_pool2d(torch.relu(self.conv1(x)), 2)
        x = torch.max_pool2d(torch.relu(self.conv2(x)), 2)
        return self.fc(x.flatten(1))


class TinyTransformer(nn.Module):
    """Embedding, one encoder block used twice (shared weights), a frozen LayerNorm, a head."""

    def __init__(self, vocab=12, dim=32):
        super().__init__()
        self.embed = nn.Embedding(vocab, dim)
        self.block = nn.TransformerEncoderLayer(dim, nhead=4, dim_feedforward=64, batch_first=True)
        self.norm = nn.LayerNorm(dim)
        self.norm.requires_grad_(False)
        self.head = nn.Linear(dim, 10)

    def forward(self, x):
        h = self.block(self.block(self.embed(x)))
        return self.head(self.norm(h).mean(1))


def _batch(model: nn.Module, generator: torch.Generator):
    if isinstance(model, TinyTransformer):
        x = torch.randint(0, 12, (16, 6), generator=generator)
    else:
        x = torch.randn(16, 1, 16, 16, generator=generator)
    return x, torch.randint(0, 10, (16,), generator=generator)


def _edges(module: nn.Module) -> np.ndarray | None:
    """(out, in) |dL/dW| of a Linear layer, the kernel-gradient norm of each channel pair of a conv."""
    grad = getattr(getattr(module, "weight", None), "grad", None)
    if grad is None or not isinstance(module, (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)):
        return None
    g = grad.detach()
    return (g.abs() if g.dim() == 2 else g.flatten(2).norm(dim=2)).numpy().astype(np.float32)


def record_model_run(path, model: nn.Module, steps: int = 6, seed: int = 0) -> list[np.ndarray]:
    """Train ``model`` ``steps`` Adam steps and record them to ``path``; return each step's
    (6, P) param_stats as measured (what the file must give back)."""
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    description = describe_model(model)
    trainable = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    layers = [layer.name for layer in description.layers
              if any(p in description.trainable_names for p in layer.params)]
    modules = dict(model.named_modules())
    stats_of = TensorParamStats([p for _, p in trainable])
    optimiser = torch.optim.Adam([p for _, p in trainable], lr=1e-2)
    measured = []
    with RunWriter(path, config=None, model=description, layer_names=tuple(layers)) as writer:
        writer.save_weights(0, model.state_dict())
        for step in range(steps):
            x, y = _batch(model, generator)
            optimiser.zero_grad()
            loss = nn.functional.cross_entropy(model(x), y)
            loss.backward()
            stats = stats_of.measure()
            stats_of.snapshot()
            edges = [_edges(modules[name]) for name in layers]
            optimiser.step()
            stats[5] = stats_of.update_ratios()
            measured.append(stats)
            writer.append_step(step, loss.item(), 0.0, stats)
            if step in (0, steps - 1):
                writer.append_capture(step, _capture(step, loss.item(), layers, stats, edges, description))
        writer.save_weights(steps, model.state_dict())
    return measured


def _capture(step, loss, layers, stats, edges, description) -> StepStats:
    n = len(layers)
    grad_l2 = np.array([np.sqrt(sum(float(stats[0, description.trainable_names.index(p)]) ** 2
                                    for p in layer.params if p in description.trainable_names))
                        for layer in description.layers if layer.name in layers], dtype=np.float32)
    return StepStats(step=step, loss=loss, accuracy=0.0, diverged=False, layer_names=tuple(layers),
                     grad_mean_abs=np.zeros(n, np.float32), grad_l2=grad_l2, delta_l2=np.zeros(n, np.float32),
                     delta_mean_abs=tuple(np.zeros(1, np.float32) for _ in layers),
                     edge_abs=tuple(e if e is not None else np.zeros((1, 1), np.float32) for e in edges),
                     param_stats=stats.astype(np.float32), param_names=description.trainable_names)
