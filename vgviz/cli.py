"""Command line: vgviz [gui] | open | presets | train | report | render | slides | export.

Imports no Qt unless the GUI is asked for, and no torch until a run is trained.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import sys
import textwrap

from .core.config import FIELD_HELP, ConfigError, RunConfig, allowed_values, quote
from .core.presets import DEFAULT_PRESET, PresetError, list_presets, load_config_file, load_preset
from .export_commands import ExportError, add_export_parser  # imports neither Qt nor torch
from .render import RenderError, add_render_parser  # neither imports Qt nor torch (run_render does)
from .slides import SlidesError, add_slides_parser  # nor does this (run_slides does)
from .run_commands import TrainError  # imports torch only in the functions that train


class CliError(Exception):
    """A bad option or value: one line on stderr, exit code 2."""


class OutputError(Exception):
    """stdout cannot be written (a full disk): one line on stderr, exit code 1."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # argparse's own errors become one line and exit 2
        raise CliError(message)


def _key_value(text: str) -> tuple[str, str]:
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {quote(text)}")
    key, value = text.split("=", 1)
    return key.strip(), value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text[:60]!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1; got {value}")
    return value


def config_fields_help(width: int | None = None) -> str:
    """Every config field with the values it accepts and what it does, for the --help of
    each command that takes --set: built from the config's own tables, wrapped to the terminal."""
    width = width or shutil.get_terminal_size().columns
    pad = max(len(name) for name in RunConfig.field_names()) + 4
    lines = ["config fields (--set KEY=VALUE, or keys of a --config file):"]
    for name in RunConfig.field_names():
        text = f"{allowed_values(name)} — {FIELD_HELP[name]}"
        lines += textwrap.wrap(text, width=max(width - 2, pad + 20), initial_indent=f"  {name:<{pad - 2}}",
                               subsequent_indent=" " * pad)
    return "\n".join(lines)


def _add_config_arguments(parser: argparse.ArgumentParser, preset_help: str) -> None:
    """--preset, --config and --set, with the config fields listed in the command's --help."""
    parser.add_argument("--preset", help=preset_help)
    parser.add_argument("--config", metavar="FILE", help="TOML or JSON config file; applied after --preset")
    parser.add_argument("--set", dest="overrides", metavar="KEY=VALUE", action="extend", nargs="+", default=[],
                        type=_key_value, help="set config fields: --set depth=60 width=16; may be repeated "
                                              "(the fields are listed below)")
    parser.formatter_class = argparse.RawDescriptionHelpFormatter  # keeps the field table's lines
    parser.epilog = config_fields_help()


def add_run_arguments(parser: argparse.ArgumentParser, steps_help: str) -> None:
    """--preset, --config, --set, --steps, --seed: how every headless command picks its run."""
    _add_config_arguments(parser, f"start from this preset (default {DEFAULT_PRESET})")
    parser.add_argument("--steps", type=int, help=steps_help)
    parser.add_argument("--seed", type=int, help="seed (same as --set seed=S)")
    parser.add_argument("--ignore-memory-check", action="store_true",
                        help="train even when the run's estimated memory exceeds what the machine has available")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="vgviz", description="See, measure and fix the vanishing gradient problem.",
                     epilog="With no command, vgviz opens the app: `vgviz --preset NAME` (and --config, --set) "
                            "is `vgviz gui --preset NAME`.")
    parser.add_argument("--version", action="version", version=f"vgviz {_installed_version()}")
    sub = parser.add_subparsers(dest="command")

    gui = sub.add_parser("gui", help="open the desktop app (the default)",
                         description="Open the desktop app. A bad --preset, --config or --set is refused in "
                                     "one line before any window opens.")
    _add_config_arguments(gui, "preset to open (default: the last config used, else deep-sigmoid)")

    open_ = sub.add_parser("open", help="open a run file in the desktop app")
    open_.add_argument("run", metavar="RUN", help="a run file written by `vgviz train` or the app")

    sub.add_parser("presets", help="list the presets with their descriptions, wrapped to the terminal")

    train = sub.add_parser("train", help="train headless and record the run into a run file",
                           description="Train without a display and record every step into RUN, which "
                                       "`vgviz open`, `report --run` and `render --run` read. A progress line "
                                       "on a terminal; Ctrl+C stops and leaves a valid file (exit 130).")
    add_run_arguments(train, "training steps (same as --set steps=N)")
    train.add_argument("--out", required=True, metavar="RUN", help="the run file to write (its folder must exist)")
    train.add_argument("--force", action="store_true", help="replace RUN if it exists")

    report = sub.add_parser("report", help="train headless (or read a run file) and print per-layer gradient "
                                           "statistics as JSON",
                            description="Train without a display (or read a run file) and print per-layer "
                                        "gradient statistics and the diagnostics as JSON.")
    add_run_arguments(report, "training steps (same as --set steps=N)")
    report.add_argument("--run", metavar="RUN",
                        help="report the run recorded in RUN instead of training (no --preset, --config, --set, "
                             "--steps or --seed)")
    report.add_argument("--indent", type=int, default=None, help="pretty-print the JSON")
    report.add_argument("--shallower", type=int, metavar="DEPTH",
                        help="also train the config with DEPTH hidden layers: the diagnostics compare training "
                             "performance with it")
    report.add_argument("--seeds", type=_positive_int, default=1, metavar="N",
                        help="with --shallower: train both nets with N seeds (seed, seed+1, …) and compare their "
                             "means, reporting the spread (deep plain nets move with the last bit); default 1")

    add_render_parser(sub, add_run_arguments)
    add_export_parser(sub)
    add_slides_parser(sub, _positive_int)
    return parser


def _installed_version() -> str:
    """The installed package's version (its metadata), so --version cannot drift from pyproject.toml."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("vgviz")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "(not installed)"


def config_from_args(args) -> RunConfig:
    """The run a headless command trains, refused up front (MemoryCheckError, a ConfigError)
    when it needs more memory than is available, unless --ignore-memory-check."""
    config = resolve_config(args.preset, args.config, args.overrides, args.steps, args.seed)
    if not args.ignore_memory_check:
        from .core.memory import check_fits

        check_fits(config)
        if getattr(args, "shallower", None) is not None:
            check_fits(config.replace(depth=args.shallower))
    return config


def resolve_config(preset: str | None, config_file: str | None,
                   overrides: list[tuple[str, str]], steps: int | None = None,
                   seed: int | None = None) -> RunConfig:
    """Preset, then file, then --set, then --steps/--seed. Raises ConfigError/PresetError."""
    config = load_preset(preset or DEFAULT_PRESET).config
    if config_file:
        config = load_config_file(config_file, base=config)
    if overrides:
        config = config.with_text_values(dict(overrides))
    if steps is not None:
        config = config.replace(steps=steps)
    if seed is not None:
        config = config.replace(seed=seed)
    return config


def check_no_run_options(args, command: str) -> None:
    """With --run the file says what was trained: the options that pick a run are refused."""
    given = [flag for flag, value in (("--preset", args.preset), ("--config", args.config),
                                      ("--set", args.overrides), ("--steps", args.steps), ("--seed", args.seed))
             if value]
    if given:
        raise CliError(f"{command} --run reads the run from the file: leave out {', '.join(given)}")


def open_run_file(path: str):
    """open_run, with a bad file as a CliError (one line, exit 2)."""
    from .core.runfile import RunFileError, open_run

    try:
        return open_run(path)
    except RunFileError as err:
        raise CliError(str(err)) from None


def run_report(config: RunConfig, shallower: RunConfig | None = None, loss_points: int | None = None,
               seeds: int = 1) -> dict:
    """The report's JSON document; `loss_points` bounds the loss series (default: as the window's History);
    `seeds`: the shallower comparison over that many seeds."""
    from .core.measure.history import DEFAULT_CAPACITY, History
    from .core.tasks import make_trainer  # torch is imported only here
    from .core.runfile.model import describe_model, layer_params
    from .run_commands import report_layers, use_headless_threads

    use_headless_threads()
    trainer = make_trainer(config, capture_edges=False)
    steps = 0
    first = last = None
    history = None  # bounded as the window's is: the loss series keeps at most its capacity of points
    while not trainer.finished:
        stats = trainer.step()
        steps += 1
        first = first or stats
        last = stats
        history = history or History(stats.n_layers, capacity=loss_points or DEFAULT_CAPACITY)
        history.append(stats)
        if stats.diverged:
            break
    names = list(trainer.layer_names)
    layers = report_layers(names, first, last, layer_params(describe_model(trainer.model), names, last.param_names))
    test_loss, test_acc = trainer.evaluate()
    report = {
        "config": config.to_dict(),
        "steps": steps,
        "diverged": trainer.diverged,
        "loss": [float(v) for v in history.loss],
        "loss_steps": [int(v) for v in history.steps],
        "final": {"train_loss": last.loss, "train_accuracy": last.accuracy,
                  "test_loss": test_loss, "test_accuracy": test_acc},
        "layers": layers,
        # fraction of each weight gradient that is exactly 0: dead units, or underflow in low precision
        "zero_gradients": [{"name": name, "initial": float(first.grad_zero_fraction[i]),
                            "final": float(last.grad_zero_fraction[i])}
                           for i, name in enumerate(trainer.layer_names)],
        "diagnostics": _diagnostics_section(trainer, history, shallower, seeds),
    }
    if first.timestep_grad is not None:  # recurrent models: ‖∂L/∂h_t‖ for every time step
        report["timesteps"] = _timesteps(first.timestep_grad, last.timestep_grad)
    return report


def _timesteps(initial, final) -> dict:
    def ratio(values):
        return float(values[0] / values[-1]) if values[-1] > 0 else float("nan")

    return {"t": list(range(1, len(initial) + 1)),
            "initial": [float(v) for v in initial], "final": [float(v) for v in final],
            "first_over_last": {"initial": ratio(initial), "final": ratio(final)}}


def _diagnostics_section(trainer, history, shallower: RunConfig | None, seeds: int = 1) -> dict:
    from .core.diagnose.experiments import (default_ablation_k, diagnose_trainer, hidden_count,
                                            shallower_comparison)

    baseline, spread = (shallower_comparison(trainer.config, shallower, seeds, history) if shallower is not None
                        else (None, None))
    k = default_ablation_k(hidden_count(trainer.model))
    diagnosis, _, _ = diagnose_trainer(trainer, history, baseline=baseline, seeds=spread, ablation_k=k)
    return diagnosis.to_dict()


def _json_safe(value):
    """JSON has no NaN/inf: a diverged run's numbers become null rather than invalid JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_safe(v) for v in value]
    return value


def main(argv: list[str] | None = None) -> int:
    try:
        return _main(argv)
    except BrokenPipeError:
        # `vgviz report | head -c 10`: the reader has gone, so stop quietly. Python's advice
        # (signal module, "Note on SIGPIPE"): point stdout at devnull, so that the flush at
        # exit does not fail again.
        _stdout_to_devnull()
        return 1
    except OutputError as err:
        print(f"vgviz: error: cannot write the output: {err}", file=sys.stderr)
        _stdout_to_devnull()
        return 1
    except KeyboardInterrupt:  # Ctrl+C outside train's loop (which stops cleanly itself): no traceback
        print("vgviz: interrupted", file=sys.stderr)
        return 130


def _main(argv: list[str] | None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    try:
        if not argv or (argv[0].startswith("-") and argv[0] not in ("-h", "--help", "--version")):
            argv = ["gui", *argv]  # the app is the default command, with its options: `vgviz --preset NAME`
        args = parser.parse_args(argv)
        if args.command == "gui":
            return _open_app(args)
        if args.command == "open":
            open_run_file(args.run).close()  # a bad file is one line here, before any window
            from .gui.app import run_app
            return run_app(run_path=args.run)
        if args.command == "presets":
            _write_out(presets_table(shutil.get_terminal_size().columns))
            return 0
        if args.command == "train":
            from .run_commands import run_train
            code = run_train(config_from_args(args), args.out, force=args.force)
            _write_out()  # the summary line it printed
            return code
        if args.command == "report" and args.run is not None:
            from .core.runfile import RunFileError
            from .run_commands import report_from_run
            check_no_run_options(args, "report")
            with open_run_file(args.run) as run:
                try:
                    report = report_from_run(run, args.shallower, check_memory=not args.ignore_memory_check,
                                             seeds=args.seeds)
                except RunFileError as err:
                    raise CliError(str(err)) from None
            _write_out(json.dumps(_json_safe(report), indent=args.indent))
            return 0
        if args.command == "report":
            config = config_from_args(args)
            shallower = config.replace(depth=args.shallower) if args.shallower is not None else None
            _write_out(json.dumps(_json_safe(run_report(config, shallower, seeds=args.seeds)), indent=args.indent))
            return 0
        if args.command == "export":
            from .export_commands import run_export
            _write_out(run_export(args))
            return 0
        if args.command == "render":
            from .render import run_render  # Qt and torch are loaded here
            code = run_render(args)
            _write_out()  # the line it printed
            return code
        if args.command == "slides":
            from .slides import run_slides  # Qt and torch are loaded here
            return run_slides(args)
    except (CliError, ConfigError, PresetError, RenderError, SlidesError, TrainError, ExportError) as err:
        print(f"vgviz: error: {err}", file=sys.stderr)
        return 2
    return 0  # pragma: no cover


def _open_app(args) -> int:
    """The window on --preset, or on the config --config and --set make of it; each is checked
    here, so a bad one is one line before any window."""
    config = None
    if args.preset:
        load_preset(args.preset)
    if args.config or args.overrides:
        config = resolve_config(args.preset, args.config, args.overrides)
    from .gui.app import run_app
    return run_app(preset=args.preset, config=config)


def presets_table(width: int) -> str:
    """`vgviz presets`: the names in one column, each preset's title and description wrapped
    beside its name to fit ``width`` columns."""
    presets = list_presets()
    pad = max(len(p.name) for p in presets) + 2
    lines = []
    for p in presets:
        wrapped = textwrap.wrap(f"{p.title}: {p.description}", width=max(width - 1 - pad, 20),
                                break_on_hyphens=False)
        lines.append(f"{p.name:<{pad}}{wrapped[0]}")
        lines += [" " * pad + line for line in wrapped[1:]]
    return "\n".join(lines)


def _write_out(text: str | None = None) -> None:
    """Print `text` (if given) and flush stdout now: a pipe or a file buffers what is printed,
    and a full disk would otherwise surface at interpreter exit as a traceback."""
    try:
        if text is not None:
            print(text)
        sys.stdout.flush()
    except BrokenPipeError:
        raise
    except OSError as err:
        raise OutputError(err.strerror or str(err)) from None


def _stdout_to_devnull() -> None:
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


if __name__ == "__main__":
    sys.exit(main())
