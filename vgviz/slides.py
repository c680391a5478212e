"""vgviz slides --out DIR: the standard lecture set, 1920×1080, in the lecture theme.

    the problem (deep sigmoid) · the fixes (ReLU/He, batch norm, residual) · frames of one
    backward pass · the scalar chain · the compare view · the recurrent case

Every diagram of a feed-forward run is drawn in the app's shared range mode, on one range
(SharedRange.take_all): the smallest and largest of the runs' own ranges (each the range
`render` would lock for it), so one colour means
one |dL/dW| on every slide. The backward-pass and scalar-chain frames keep the pass's own
range (they colour |δ| and |a|, not only |dL/dW|), and the recurrent slide colours ‖∂L/∂h_t‖.
The pictures are drawn with `vgviz render`'s views (OffscreenViews) and written atomically.
"""
from __future__ import annotations

import argparse
import os
import sys

SLIDE_SIZE = (1920, 1080)
DEFAULT_STEPS = 200

# (file name, preset, caption title): the feed-forward runs, in slide order
RUNS = (("01-problem-deep-sigmoid", "deep-sigmoid", "The problem: a deep sigmoid network"),
        ("02-fix-relu-he", "deep-relu-he", "Fix: ReLU with He initialisation"),
        ("03-fix-batch-norm", "deep-sigmoid-batchnorm", "Fix: batch normalisation"),
        ("04-fix-residual", "deep-residual-relu30", "Fix: residual connections"))
RECURRENT = ("08-recurrent-rnn", "rnn-T50", "The recurrent case: a vanilla RNN through time")
CHAIN = dict(n_layers=10, activation="sigmoid", weights=1.0, x=1.0)


class SlidesError(Exception):
    """A bad option or output folder: one line for the user."""


def add_slides_parser(sub, positive_int) -> argparse.ArgumentParser:
    p = sub.add_parser("slides", help="render the standard lecture slides (PNG, 1920x1080) into a folder",
                       description="Train the standard runs without a display and write the lecture set: the "
                                   "problem, the fixes, frames of one backward pass, the scalar chain, the "
                                   "compare view and the recurrent case, on one shared colour range.")
    p.add_argument("--out", required=True, metavar="DIR", help="the folder to write the slides to (made if missing)")
    p.add_argument("--steps", type=positive_int, default=DEFAULT_STEPS, metavar="N",
                   help=f"training steps of every run before its slide (default {DEFAULT_STEPS})")
    return p


def check_out_dir(path: str) -> str:
    """The output folder, made if missing; SlidesError (one line) if it cannot hold the slides."""
    if os.path.exists(path) and not os.path.isdir(path):
        raise SlidesError(f"cannot write slides into {path}: it is a file, not a folder")
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as err:
        raise SlidesError(f"cannot make the folder {path}: {err.strerror or err}") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise SlidesError(f"cannot write slides into {path}: permission denied")
    return path


def slide_names() -> list[str]:
    """Every file `slides` writes, in order."""
    names = [name for name, _, _ in RUNS]
    names += [f"05-backward-pass-{k}" for k in range(1, 4)]
    names += ["06-scalar-chain", "07-compare", RECURRENT[0]]
    return [f"{n}.png" for n in sorted(names)]


def run_slides(args) -> int:
    check_out_dir(args.out)
    from PySide6 import QtCore

    from .gui.app import make_app
    from .gui.settings import use_private_settings
    from .render import qt_platform_noise_dropped, use_offscreen_if_headless

    use_offscreen_if_headless()

    created = QtCore.QCoreApplication.instance() is None
    make_app([sys.argv[0] if sys.argv else "vgviz"])
    settings_dir = use_private_settings() if created else None
    try:
        with qt_platform_noise_dropped():
            return _draw_slides(args.out, args.steps)
    finally:
        if settings_dir is not None:
            settings_dir.cleanup()


def _progress(done: int, total: int, what: str) -> None:
    print(f"vgviz: slides: {done}/{total} {what}", file=sys.stderr, flush=True)


def _draw_slides(out: str, steps: int) -> int:
    from PySide6 import QtWidgets

    from .core.backprop.scalar_chain import record_scalar_chain
    from .core.layout.color_range import SharedRange
    from .core.layout.network_diagram import default_color_range
    from .core.measure.steps import steps_done
    from .core.presets import load_preset
    from .gui import export as ex
    from .gui.animate import OffscreenViews, offscreen, train
    from .gui.network_view import NetworkView
    from .gui.theme import LECTURE, apply_theme

    total = len(slide_names())
    written = 0

    def save(widget, name: str, caption: str) -> None:
        nonlocal written
        path = os.path.join(out, f"{name}.png")
        # the caption band goes under the view: the view gives up its height, the slide stays 1920×1080
        band = ex.render_image(widget, 1, caption).height() - widget.height()
        offscreen(widget, (SLIDE_SIZE[0], SLIDE_SIZE[1] - band))
        ex.export_picture(widget, path, caption=caption)
        written += 1
        _progress(written, total, path)

    # train every run first: their ranges make the shared one
    runs = []
    for name, preset, title in (*RUNS, RECURRENT):
        config = load_preset(preset).config.replace(steps=steps)
        _progress(written, total, f"training {preset} ({steps} steps)")
        seen = []
        trainer = train(config, on_stats=lambda stats, seen=seen: seen.append(stats) if stats.is_full else None)
        runs.append((name, config, title, seen[0], seen[-1], trainer))
    shared = SharedRange()     # the app's shared mode, set once over every feed-forward run
    shared.take_all(default_color_range(last.edge_abs) for _, config, _, _, last, _ in runs if not config.recurrent)

    def on_shared_range(view) -> None:
        view.scene.set_mode("shared")
        view.scene.shared = shared
        view.reapply_range()

    views = OffscreenViews(LECTURE, diagram_size=SLIDE_SIZE)
    try:
        for name, config, title, first, last, _ in runs:
            views.start(first, config)
            views.add(last)
            if not config.recurrent:
                on_shared_range(views.network)
            save(views.widget("diagram"), name, f"{title} · {config.summary()} · {_step(steps_done(last))}")

        # frames of one backward pass of the deep sigmoid run: the output layer, the middle, the first
        name, config, title, first, last, trainer = runs[0]
        trace = trainer.trace()
        views.start(first, config)
        views.add(last)
        backward = [f.index for f in trace.frames if f.phase == "backward"]
        for k, i in enumerate((backward[0], backward[len(backward) // 2], backward[-1]), start=1):
            views.show_frame(trace, i)
            save(views.widget("diagram"), f"05-backward-pass-{k}",
                 ex.caption_text(f"One backward pass · {config.summary()}", trainer.step_count, i + 1, len(trace),
                                 trace.frames[i].label))

        # the scalar chain: y = f(w·f(… f(w·x))), its last backward frame
        chain = record_scalar_chain(**CHAIN)
        views.start(first, config)
        views.network.set_layer_colors(LECTURE.layer_colors(len(chain.layer_names)))
        views.show_frame(chain, len(chain) - 1)
        save(views.widget("diagram"), "06-scalar-chain",
             f"The scalar chain: {CHAIN['n_layers']} {CHAIN['activation']} neurons, w = {CHAIN['weights']:g}, "
             f"x = {CHAIN['x']:g}, L = y · {chain.frames[-1].label}")

        # the compare view: the problem and its first fix side by side, on the shared range
        pair = QtWidgets.QWidget()
        layout = QtWidgets.QHBoxLayout(pair)
        layout.setContentsMargins(0, 0, 0, 0)
        sides = []
        for _, config, title, first, last, _ in runs[:2]:
            view = NetworkView()
            layout.addWidget(view)
            apply_theme(LECTURE, network=view)
            view.set_layer_colors(LECTURE.layer_colors(first.n_layers))
            view.show_stats(first)
            view.show_stats(last)
            on_shared_range(view)
            sides.append(config.summary())
        pair.setPalette(LECTURE.palette())
        offscreen(pair, SLIDE_SIZE)
        save(pair, "07-compare", f"Compare: {sides[0]}  vs  {sides[1]} · one colour range · {_step(steps)}")
        pair.close()
    finally:
        views.close()
    return 0


def _step(steps: int) -> str:
    from .core.measure.steps import step_text
    return step_text(steps)
