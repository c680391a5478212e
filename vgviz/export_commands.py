"""`vgviz export --run RUN --tensorboard DIR --csv FILE`: a run file's per-layer series in the
formats users already read, so they keep their TensorBoard habits.

Per layer and per recorded row (every step, or a bucket's mean in a compacted stretch):
‖g‖, mean |g| and max |g| (vgviz.core.runfile.per_layer), and the loss. TensorBoard also
gets histograms: each layer's weights at every saved checkpoint. Importing it loads neither
numpy nor torch (the command line starts fast).
"""
from __future__ import annotations

import csv
import os
from pathlib import Path

SERIES = ("grad_l2", "grad_mean_abs", "grad_max_abs")
INSTALL_HINT = "pip install 'vgviz[tensorboard]' (or: pip install tensorboard)"


class ExportError(Exception):
    """The export cannot be made: one line on stderr, exit code 2."""


def add_export_parser(sub) -> None:
    export = sub.add_parser("export", help="write a run file's per-layer series for TensorBoard or as CSV",
                            description="Write a run file's per-layer gradient series (‖g‖, mean |g|, max |g| "
                                        "per layer and recorded step, and the loss) as TensorBoard scalars with "
                                        "weight histograms, and/or as one CSV file.")
    export.add_argument("--run", required=True, metavar="RUN", help="the run file to read")
    export.add_argument("--tensorboard", metavar="DIR",
                        help=f"write TensorBoard event files into DIR (needs {INSTALL_HINT})")
    export.add_argument("--csv", metavar="FILE", help="write the series as CSV: step, loss, layer, kind, "
                                                      + ", ".join(SERIES))


def layer_table(run):
    """(steps, loss per row, layer names, kinds, {series: (rows, L) array}) of ``run``."""
    import numpy as np

    from .core.runfile.per_layer import layer_columns

    try:
        layers = layer_columns(run)
    except ValueError as err:
        raise ExportError(f"{run.path}: {err}") from None
    steps = run.series_steps
    loss_at = np.searchsorted(run.step, steps).clip(0, max(run.steps - 1, 0))
    loss = run.loss[loss_at].astype(np.float64) if run.steps else np.zeros(0)
    series = {"grad_l2": layers.norm(run.series("grad_l2")),
              "grad_mean_abs": layers.mean_abs(run.series("grad_mean_abs")),
              "grad_max_abs": layers.max_abs(run.series("grad_max_abs"))}
    return steps, loss, layers.names, layers.kinds, series


def write_csv(run, path: str) -> int:
    """One row per recorded step and layer, written atomically; the number of rows."""
    from .core.files import WriteError, atomic_path

    steps, loss, names, kinds, series = layer_table(run)
    try:
        with atomic_path(path, suffix=".csv") as tmp:
            with open(tmp, "w", newline="", encoding="utf-8") as fh:
                out = csv.writer(fh)
                out.writerow(("step", "loss", "layer", "kind", *SERIES))
                for row, step in enumerate(steps):
                    for l, name in enumerate(names):
                        out.writerow((int(step), repr(float(loss[row])), name, kinds[l],
                                      *(repr(float(series[s][row, l])) for s in SERIES)))
    except WriteError as err:
        raise ExportError(str(err)) from None
    return len(steps) * len(names)


def summary_writer_class():
    """torch's SummaryWriter, which writes with the tensorboard package; ExportError if it is missing."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise ExportError(f"--tensorboard needs the tensorboard package: {INSTALL_HINT}") from None
    return SummaryWriter


def write_tensorboard(run, folder: str) -> int:
    """Scalars ``<series>/<layer>`` and ``loss`` per recorded step, histograms ``weights/<layer>``
    at every checkpoint, into a new event file in ``folder``; the number of scalar points."""
    import numpy as np

    SummaryWriter = summary_writer_class()
    if Path(folder).exists() and not Path(folder).is_dir():
        raise ExportError(f"{folder}: is a file, not a folder for TensorBoard's event files")
    steps, loss, names, _kinds, series = layer_table(run)
    owners = _weights_of_layers(run, names)
    try:
        os.makedirs(folder, exist_ok=True)
        writer = SummaryWriter(log_dir=folder)
    except OSError as err:
        raise ExportError(f"cannot write {folder}: {err.strerror or err}") from None
    with writer:
        for row, step in enumerate(steps):
            step = int(step)
            writer.add_scalar("loss", float(loss[row]), step)
            for name_l, name in enumerate(names):
                for s in SERIES:
                    writer.add_scalar(f"{s}/{name}", float(series[s][row, name_l]), step)
        for at in run.weight_steps:
            state = run.weights(int(at))
            for name, params in owners.items():
                values = [state[p].ravel() for p in params if p in state]
                if values:
                    writer.add_histogram(f"weights/{name}", np.concatenate(values), int(at))
    return len(steps) * (1 + len(names) * len(SERIES))


def _weights_of_layers(run, names) -> dict[str, list[str]]:
    described = {layer.name: layer.params for layer in (run.model.layers if run.model else ())}
    from .core.runfile.model import layer_params

    pairs = layer_params(run.model, names, run.param_names)
    return {name: list(described.get(name) or [p for p in pair if p]) for name, pair in zip(names, pairs)}


def run_export(args) -> str:
    """The export the arguments ask for; the line to print."""
    from .core.runfile import RunFileError, open_run

    if not args.tensorboard and not args.csv:
        raise ExportError("nothing to export: give --tensorboard DIR and/or --csv FILE")
    if args.tensorboard:
        summary_writer_class()   # missing: say so before writing anything
    try:
        run = open_run(args.run)
    except RunFileError as err:
        raise ExportError(str(err)) from None
    done = []
    with run:
        try:
            if args.csv:
                done.append(f"{write_csv(run, args.csv)} rows to {args.csv}")
            if args.tensorboard:
                done.append(f"{write_tensorboard(run, args.tensorboard)} scalars to {args.tensorboard}")
        except RunFileError as err:
            raise ExportError(str(err)) from None
    return "exported " + " and ".join(done)
