"""Diagnosing a trainer: its measurements and diagnosis, a headless run's summary, one-change variants."""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from ..config import ConfigError, RunConfig
from ..layers import linear_layers
from ..measure.history import History
from ..tasks import make_trainer
from .measures import AblationResult, ActivationStats, RunSummary, SeedSpread, ablate, activation_stats, summarize
from .verdict import Diagnosis, diagnose


def is_recurrent(model: nn.Module) -> bool:
    return any(isinstance(m, (nn.RNNBase, nn.RNNCellBase)) for m in model.modules())


def hidden_count(model: nn.Module) -> int:
    return max(0, len(linear_layers(model)) - 1)


def activation_batch(trainer, n: int | None = None) -> torch.Tensor:
    """The first n training examples (all when None): the batch activation statistics use."""
    x = trainer.data.x_train if n is None else trainer.data.x_train[:n]
    return torch.from_numpy(x).to(getattr(trainer, "dtype", torch.float32))  # the model's own (bfloat16 runs)


def diagnose_trainer(trainer, history: History, *, baseline: RunSummary | None = None,
                     ablation_k: int | None = None, presets: Sequence[str] | None = None,
                     seeds: SeedSpread | None = None) -> tuple[Diagnosis, ActivationStats, AblationResult | None]:
    """diagnose() with the activation statistics and (optionally) an ablation measured on the
    trainer's training set at its current weights."""
    x = activation_batch(trainer)
    y = torch.from_numpy(trainer.data.y_train)
    acts = activation_stats(trainer.model, x)
    ab = None
    if ablation_k is not None and hidden_count(trainer.model) >= 1:
        k = max(1, min(ablation_k, hidden_count(trainer.model)))
        ab = ablate(trainer.model, k, x, y, initial_state=getattr(trainer, "initial_state", None),
                    mode="initial" if getattr(trainer, "initial_state", None) is not None else "random",
                    seed=trainer.config.seed + 1)
    d = diagnose(history, activations=acts, baseline=baseline, ablation=ab,
                 n_classes=trainer.data.n_classes, recurrent=is_recurrent(trainer.model), presets=presets,
                 seeds=seeds, config=trainer.config)
    return d, acts, ab


def train_summary(config: RunConfig, label: str = "") -> RunSummary:
    """Train `config` headless for config.steps (stopping if it diverges) and summarise it:
    the shallower counterpart of the report's training-performance finding."""
    trainer = make_trainer(config, capture_edges=False)
    history = None
    while not trainer.finished:
        stats = trainer.step()
        history = history or History(stats.n_layers)
        history.append(stats)
        if stats.diverged:
            break
    return summarize(history, label or f"depth {config.depth}")


def shallower_comparison(config: RunConfig, shallower: RunConfig, seeds: int, history: History,
                         ) -> tuple[RunSummary, SeedSpread | None]:
    """The shallower counterpart's summary, and with seeds > 1 both nets over seeds
    config.seed … config.seed + seeds - 1 (this run, summarised from `history`, is the first)."""
    if seeds <= 1:
        return train_summary(shallower), None
    seed_list = tuple(config.seed + i for i in range(seeds))
    deeper = (summarize(history, f"depth {config.depth}"),) + tuple(
        train_summary(config.replace(seed=s)) for s in seed_list[1:])
    spread = SeedSpread(seed_list, deeper, tuple(train_summary(shallower.replace(seed=s)) for s in seed_list))
    return spread.mean_shallower, spread


def default_ablation_k(n_hidden: int) -> int:
    """Half of the hidden layers, at least one: 'the early layers'."""
    return max(1, (n_hidden + 1) // 2)


def shallower_depth(depth: int) -> int:
    """A quarter of the depth (at least 1): 8 → 2, as the shallow-sigmoid preset."""
    return max(1, depth // 4)


def compare_variants(config: RunConfig) -> dict[str, tuple[str, RunConfig]]:
    """One-change variants of `config` that this RunConfig supports: key → (label, config).

    shallower, ReLU, He init always exist as fields; residual and batch norm are offered
    only when RunConfig has such a field (other versions add `residual` / `norm`).
    """
    fields = RunConfig.field_names()
    out: dict[str, tuple[str, RunConfig]] = {}

    def attempt(key: str, label: str, **changes) -> bool:
        try:
            variant = config.replace(**changes)
        except (ConfigError, TypeError, ValueError):
            return False
        if variant != config:
            out[key] = (label, variant)
            return True
        return False

    if "depth" in fields and getattr(config, "depth", 1) > 1:
        d = shallower_depth(config.depth)
        attempt("shallower", f"shallower (depth {d})", depth=d)
    if "activation" in fields and config.activation != "relu":
        attempt("relu", "ReLU", activation="relu")
    if "init" in fields and config.init != "he":
        attempt("he", "He init", init="he")
    if "residual" in fields and not getattr(config, "residual"):
        attempt("residual", "residual", residual=True) or attempt("residual", "residual", residual="on")
    for name in ("norm", "normalization", "normalisation"):
        if name in fields:
            for value in ("batch", "batchnorm", "batch_norm"):
                if attempt("batchnorm", "batch norm", **{name: value}):
                    break
            break
    for name in ("batchnorm", "batch_norm"):
        if name in fields and "batchnorm" not in out:
            attempt("batchnorm", "batch norm", **{name: True})
    return out
