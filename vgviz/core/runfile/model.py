"""ModelDescription: what a run file says about its model, enough to draw its diagram.

Built from any nn.Module by describe_model(): the trainable parameters in
named_parameters() order, with shapes and frozen flags, the layers (leaf modules that
own parameters, plus the recurrent and attention modules), their in/out shapes where
the module's attributes tell them, parameters shared under several names, and the
skip connections of vgviz's residual models.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Sequence

from torch import nn

from ..layers import ResidualNet

# attribute pairs that give a layer's input and output size, most specific first
_SHAPE_ATTRIBUTES = (
    ("in_features", "out_features"),        # Linear, Bilinear
    ("in_channels", "out_channels"),        # Conv*, ConvTranspose*
    ("input_size", "hidden_size"),          # RNN, LSTM, GRU (and their cells)
    ("num_embeddings", "embedding_dim"),    # Embedding
    ("embed_dim", "embed_dim"),             # MultiheadAttention
    ("num_features", "num_features"),       # BatchNorm*, InstanceNorm*
    ("normalized_shape", "normalized_shape"),  # LayerNorm
)
# modules described as one layer although they have children
_WHOLE_LAYERS = (nn.MultiheadAttention, nn.RNNBase)


@dataclass(frozen=True)
class LayerDescription:
    name: str                      # the module's name in named_modules()
    kind: str                      # its class name: "Linear", "LSTM", "Conv2d", …
    in_shape: tuple[int, ...]      # per example, without the batch dimension; () if unknown
    out_shape: tuple[int, ...]
    params: tuple[str, ...]        # the parameter names it owns


@dataclass(frozen=True)
class ModelDescription:
    param_names: tuple[str, ...]            # every parameter, named_parameters() order
    param_shapes: tuple[tuple[int, ...], ...]
    frozen: tuple[bool, ...]                # per param_names entry: requires_grad is False
    layers: tuple[LayerDescription, ...] = ()
    skip_connections: tuple[tuple[int, int], ...] = ()  # (a, b): Linear a's output skips to Linear b's
    shared: dict[str, str] = field(default_factory=dict)  # alias name -> the name in param_names
    kind: str = ""                          # the model's class name

    @property
    def trainable_names(self) -> tuple[str, ...]:
        """The parameters a step's param_stats has a column for."""
        return tuple(n for n, f in zip(self.param_names, self.frozen) if not f)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "ModelDescription":
        layers = tuple(LayerDescription(name=str(l["name"]), kind=str(l["kind"]),
                                        in_shape=tuple(int(x) for x in l["in_shape"]),
                                        out_shape=tuple(int(x) for x in l["out_shape"]),
                                        params=tuple(str(p) for p in l["params"]))
                       for l in data.get("layers", ()))
        return cls(param_names=tuple(str(n) for n in data["param_names"]),
                   param_shapes=tuple(tuple(int(x) for x in s) for s in data["param_shapes"]),
                   frozen=tuple(bool(f) for f in data["frozen"]),
                   layers=layers,
                   skip_connections=tuple((int(a), int(b)) for a, b in data.get("skip_connections", ())),
                   shared={str(k): str(v) for k, v in data.get("shared", {}).items()},
                   kind=str(data.get("kind", "")))


def _sizes(module: nn.Module) -> tuple[tuple[int, ...], tuple[int, ...]]:
    for a, b in _SHAPE_ATTRIBUTES:
        if hasattr(module, a) and hasattr(module, b):
            def shape(value):
                return tuple(int(v) for v in value) if isinstance(value, (tuple, list)) else (int(value),)
            return shape(getattr(module, a)), shape(getattr(module, b))
    return (), ()


def describe_model(model: nn.Module) -> ModelDescription:
    """The ModelDescription of any nn.Module (nothing is run through it)."""
    named = list(model.named_parameters())           # shared tensors once, under their first name
    first_name = {id(p): name for name, p in named}
    shared = {name: first_name[id(p)] for name, p in model.named_parameters(remove_duplicate=False)
              if first_name[id(p)] != name}
    layers = []
    inside_whole: list[str] = []
    for name, module in model.named_modules():
        if any(name.startswith(prefix + ".") for prefix in inside_whole):
            continue
        whole = isinstance(module, _WHOLE_LAYERS)
        own = [n for n, _ in module.named_parameters(recurse=whole, remove_duplicate=False)]
        if not own or (list(module.children()) and not whole):
            continue
        if whole:
            inside_whole.append(name)
        in_shape, out_shape = _sizes(module)
        prefix = f"{name}." if name else ""
        layers.append(LayerDescription(name=name, kind=type(module).__name__, in_shape=in_shape,
                                       out_shape=out_shape, params=tuple(prefix + n for n in own)))
    skips = tuple(model.skip_connections()) if isinstance(model, ResidualNet) else ()
    return ModelDescription(
        param_names=tuple(n for n, _ in named),
        param_shapes=tuple(tuple(p.shape) for _, p in named),
        frozen=tuple(not p.requires_grad for _, p in named),
        layers=tuple(layers), skip_connections=tuple((int(a), int(b)) for a, b in skips),
        shared=shared, kind=type(model).__name__)


def layer_params(model: ModelDescription | None, layer_names: Sequence[str],
                 param_names: Sequence[str]) -> tuple[tuple[str, str | None], ...]:
    """(weight, bias or None) of each layer, among `param_names` (the trainable ones).

    A layer named like a parameter (a recurrent run's ``rnn.weight_hh_l0``) is that
    parameter, with the bias of the same suffix; a layer named like a module of `model`
    (a watched model's ``conv1``) takes that module's weight and bias; the others
    (``hidden1`` … ``output``) take the Linear layers' in order.
    """
    names = set(param_names)
    modules = {layer.name: layer for layer in (model.layers if model else ())}
    linears = iter([layer for layer in (model.layers if model else ()) if layer.kind == "Linear"])
    out = []
    for name in layer_names:
        if name in names:
            bias = name.replace("weight", "bias")
            out.append((name, bias if bias != name and bias in names else None))
            continue
        layer = modules.get(name)
        if layer is None:
            layer = next(linears, None)   # the Linear layers not named as modules, in order
        own = [p for p in (layer.params if layer else ()) if p in names]
        if not own:
            raise ValueError(f"layer {name!r} has no trainable parameter among the run's parameters")
        weight = next((p for p in own if p.rsplit(".", 1)[-1].startswith("weight")), own[0])
        bias = next((p for p in own if p.rsplit(".", 1)[-1].startswith("bias")), None)
        out.append((weight, bias))
    return tuple(out)
