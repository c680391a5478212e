"""vgviz render: train without a display and write a picture of a view.

    vgviz render --preset deep-sigmoid --steps 200 --view diagram --theme lecture --scale 2 --out slide.png
    vgviz render --view diagram --frame 12 --out frame12.svg     # frame 12 of the backprop pass
    vgviz render --view window --out pass.gif                     # every frame of the backprop pass
    vgviz render --view grad-norms --steps 500 --every 10 --out norms.mp4   # a time-lapse of training
    vgviz render --run run.vgviz --step 120 --view diagram --out at120.png # from a run file, no training

Importing this module loads neither Qt nor torch (``vgviz presets`` and ``report``
import it to build the parser); ``run_render`` loads them. With no display (Linux
with neither DISPLAY nor WAYLAND_DISPLAY set, and QT_QPA_PLATFORM unset) it
picks Qt's offscreen platform itself.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import sys

VIEWS = ("window", "diagram", "loss", "grad-norms", "grad-flow", "forward-signal")
THEME_NAMES = ("lecture", "dark")
COLORMAP_NAMES = ("heat", "blue")   # vgviz.gui.theme.COLORMAPS (the parser imports no Qt)
DEFAULT_SIZES = {"window": (1400, 860), "diagram": (1200, 700), "loss": (800, 500), "grad-norms": (800, 500),
                 "grad-flow": (800, 500), "forward-signal": (800, 500)}
FRAME_VIEWS = ("diagram", "window")


class RenderError(ValueError):
    """A render that cannot be done: one line on stderr, exit code 2 (vgviz.cli catches it)."""


def _size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT in pixels, e.g. 1200x700; got {text!r}") from None
    if not (200 <= w <= 8000 and 150 <= h <= 8000):
        raise argparse.ArgumentTypeError(f"width must be 200–8000 and height 150–8000 pixels; got {text!r}")
    return w, h


def _color_range(text: str) -> tuple[float, float]:
    from .core.layout.color_range import RangeError, parse_range

    try:
        return parse_range(text)
    except RangeError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not (0 < value <= 60):
        raise argparse.ArgumentTypeError(f"must be a number of frames per second above 0 and at most 60; got {text!r}")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of steps, at least 1; got {text!r}")
    return value


def add_render_parser(sub, add_run_arguments) -> argparse.ArgumentParser:
    """The `render` subcommand on the CLI's subparsers (``add_run_arguments`` adds the CLI's
    shared --preset/--config/--set/--steps/--seed)."""
    p = sub.add_parser(
        "render", help="train headless (or read a run file) and write a picture of a view (PNG, SVG, GIF, MP4)",
        description="Train N steps without a display (or read a run file with --run) and write a picture of "
                    "one view. .png/.svg: one picture; .gif/.mp4/DIR/: every frame of the backprop pass recorded "
                    "after the N steps, or with --every K a time-lapse of the training (of the recorded steps "
                    "with --run).")
    add_run_arguments(p, "training steps before the picture (default: the config's steps)")
    p.add_argument("--run", metavar="RUN",
                   help="draw from a run file (vgviz train --out) instead of training: no --preset, --config, "
                        "--set, --steps or --seed")
    p.add_argument("--step", type=int, metavar="K",
                   help="with --run: draw the run after K training steps (default all of them); --frame and "
                        "the backprop animation need weights saved at K")
    p.add_argument("--view", required=True, choices=VIEWS, help="what to draw")
    p.add_argument("--frame", type=int, metavar="K",
                   help="draw frame K (1 = first, as the stepper numbers them) of the backprop pass recorded "
                        "after the steps (diagram or window)")
    p.add_argument("--every", type=_positive_int, metavar="K",
                   help="with .gif/.mp4/DIR/: a time-lapse of the training, one frame every K steps")
    p.add_argument("--theme", choices=THEME_NAMES, default="lecture", help="colours and font sizes (default lecture)")
    p.add_argument("--colormap", choices=COLORMAP_NAMES, default="heat",
                   help="colour map family of the diagram (small gradients fade into the background in either theme)")
    p.add_argument("--range", type=_color_range, metavar="LO:HI",
                   help="the diagram's log colour range, e.g. 1e-9:1e-1 (default: a preset's, else fitted at step 0)")
    p.add_argument("--scale", type=int, choices=(1, 2, 4), default=1, help="pixels per point of a PNG/GIF/MP4")
    p.add_argument("--size", type=_size, metavar="WxH",
                   help="the view's size in points (default window 1400x860, diagram 1200x700, plots 800x500)")
    p.add_argument("--caption", action="store_true", help="add a line under the picture: config, step, frame")
    p.add_argument("--fps", type=_positive_float, default=None,
                   help="frames per second of an animation (default 1.5 for the backprop pass, 10 for a time-lapse)")
    p.add_argument("--out", required=True, metavar="FILE",
                   help="FILE.png, FILE.svg, FILE.gif, FILE.mp4, or a folder ending in / for numbered PNG frames")
    return p


def use_offscreen_if_headless(environ=None, platform: str | None = None) -> bool:
    """On Linux with no display and no platform chosen, pick Qt's offscreen platform.
    Returns True if it did. Must run before the QApplication is created."""
    environ = os.environ if environ is None else environ
    platform = sys.platform if platform is None else platform
    if (platform.startswith("linux") and not environ.get("DISPLAY") and not environ.get("WAYLAND_DISPLAY")
            and not environ.get("QT_QPA_PLATFORM")):
        environ["QT_QPA_PLATFORM"] = "offscreen"
        return True
    return False


def run_render(args) -> int:
    """Raises RenderError, ConfigError or PresetError with a one-line message."""
    from .cli import config_from_args

    use_offscreen_if_headless()
    from .gui import export as ex

    try:
        fmt = ex.format_of(args.out)
        ex.check_format(args.view, fmt)
        animated = fmt in ex.ANIMATION_FORMATS
        if args.frame is not None and animated:
            raise ex.ExportError("--frame picks one picture, an animation holds every frame: "
                                 "write .png or .svg, or leave out --frame")
        if args.frame is not None and args.view not in FRAME_VIEWS:
            raise ex.ExportError(f"--frame draws a backprop frame on the diagram or the window, not on {args.view}")
        if args.every is not None and not animated:
            raise ex.ExportError("--every makes a time-lapse: write .gif, .mp4 or a folder ending in /")
        if animated and args.every is not None and args.view == "window":
            raise ex.ExportError("a time-lapse shows the diagram or a plot, not the window")
        if animated and args.every is None and args.view not in FRAME_VIEWS:
            raise ex.ExportError(f"the backprop animation shows the diagram or the window; "
                                 f"use --every K for a time-lapse of {args.view}")
        if fmt == "mp4" and not ex.mp4_available():
            raise ex.ExportError(ex.MP4_MISSING)
        ex.check_target(args.out, fmt)
    except ex.ExportError as err:
        raise RenderError(str(err)) from None
    if args.run is not None:
        return _render_run_file(args, fmt)
    if args.step is not None:
        raise RenderError("--step picks a step of a run file: use it with --run RUN")
    config = config_from_args(args)
    try:
        _check_before_training(args, config, fmt)
        with qt_platform_noise_dropped():
            return _render(args, config, fmt)
    except ex.ExportError as err:
        raise RenderError(str(err)) from None


def _check_before_training(args, config, fmt: str) -> None:
    """What the config alone decides: the frame asked for exists, and a GIF is not too
    large to hold (the frames at the size asked; a window drawn larger, or a caption, is
    caught at the first frame)."""
    from .core.backprop.frames import frame_count
    from .gui import animation_writers as aw
    from .gui import export as ex
    from .gui.animate import timelapse_frame_count

    n_frames = frame_count(config)
    if args.frame is not None and not 1 <= args.frame <= n_frames:
        raise ex.ExportError(f"--frame must be from 1 to {n_frames} (the frames of this backprop pass); "
                             f"got {args.frame}")
    if fmt == "gif":
        count = timelapse_frame_count(config.steps, args.every) if args.every is not None else n_frames
        width, height = args.size or DEFAULT_SIZES[args.view]
        aw.check_gif_size(count, width * args.scale, height * args.scale)


def _render_run_file(args, fmt: str) -> int:
    """render --run: the checks the file decides (one line each), then the drawing."""
    from .cli import CliError, check_no_run_options, open_run_file
    from .core.runfile import RunFileError

    try:
        check_no_run_options(args, "render")
        with open_run_file(args.run) as run:
            source = _RunSource.checked(run, args, fmt)
            with qt_platform_noise_dropped():
                return _render(args, source, fmt)
    except CliError as err:
        raise RenderError(str(err)) from None
    except RunFileError as err:
        raise RenderError(str(err)) from None


class _RunSource:
    """What render draws from a run file: the step (steps completed, as every caption counts
    them), the config (None for a model that is not built in) and, for the backprop pass, the
    step whose weights it needs."""

    def __init__(self, run, config, step: int, weights_step: int | None):
        self.run, self.config, self.step, self.weights_step = run, config, step, weights_step

    @property
    def row(self) -> int:
        """The file's step index of the training step that completed ``step`` steps (its stats
        were taken before its update); step 0, the initial weights, has step 1's gradients."""
        return max(self.step - 1, 0)

    @classmethod
    def checked(cls, run, args, fmt: str) -> "_RunSource":
        from .core.backprop.frames import frame_count
        from .core.runfile.restore import checkpoint_step, describe_steps, run_config
        from .gui import animation_writers as aw
        from .gui import export as ex

        if run.steps == 0:
            raise RenderError(f"{run.path}: holds no training steps yet")
        if len(run.capture_steps) == 0:
            raise RenderError(f"{run.path}: holds no full capture to draw")
        done = int(run.step[-1]) + 1
        if args.step is not None and not 0 <= args.step <= done:
            raise RenderError(f"--step must be from 0 to {done} (the steps {run.path} holds); got {args.step}")
        config = run_config(run)
        animated = fmt in ex.ANIMATION_FORMATS
        needs_model = args.frame is not None or (animated and args.every is None)
        if config is None and (needs_model or args.view == "window"):
            what = "the backprop pass" if needs_model else "the window"
            raise RenderError(f"{run.path} holds no config of a built-in model, which {what} needs")
        weights_step = None
        if needs_model:
            weights_step = checkpoint_step(run, args.step)
            if weights_step is None:
                raise RenderError(f"the backprop pass needs the weights at step {args.step}, and {run.path} "
                                  f"saved them at steps {describe_steps(run.weight_steps)}: pick one of those")
            n_frames = frame_count(config)
            if args.frame is not None and not 1 <= args.frame <= n_frames:
                raise RenderError(f"--frame must be from 1 to {n_frames} (the frames of this backprop pass); "
                                  f"got {args.frame}")
        source = cls(run, config, done if args.step is None else args.step, weights_step)
        if fmt == "gif":
            count = len(source.timelapse_steps(args.every)) if args.every is not None else frame_count(config)
            width, height = args.size or DEFAULT_SIZES[args.view]
            try:
                aw.check_gif_size(count, width * args.scale, height * args.scale)
            except ex.ExportError as err:
                raise RenderError(str(err)) from None
        return source

    def timelapse_steps(self, every: int) -> list[int]:
        """Row 0, every `every`-th row and the last: the file's recorded steps a time-lapse draws."""
        return sorted(set(range(0, self.row + 1, every)) | {self.row})

    def summary(self) -> str:
        return self.config.summary() if self.config is not None else self.run.path.name


# Qt's offscreen platform says what it cannot do for windows never on screen ("This plugin
# does not support propagateSizeHints()", qt.qpa.* warnings): noise in a render's stderr,
# which is for vgviz's own lines. Only those warnings and Qt's debug/info chatter are
# dropped; any other Qt warning or error still reaches stderr, marked as Qt's.
_QT_NOISE_TEXT = ("This plugin does not support",)
_QT_NOISE_CATEGORY = "qt.qpa."


@contextlib.contextmanager
def qt_platform_noise_dropped():
    from PySide6 import QtCore

    Msg = QtCore.QtMsgType

    def handler(mode, context, message):
        if mode in (Msg.QtDebugMsg, Msg.QtInfoMsg):
            return
        category = context.category or ""
        if mode == Msg.QtWarningMsg and (message.startswith(_QT_NOISE_TEXT) or category.startswith(_QT_NOISE_CATEGORY)):
            return
        sys.stderr.write(f"vgviz: Qt: {message}\n")

    previous = QtCore.qInstallMessageHandler(handler)
    try:
        yield
    finally:
        QtCore.qInstallMessageHandler(previous)


def _render(args, config, fmt: str) -> int:
    from PySide6 import QtCore

    from .gui.app import make_app
    from .gui.settings import use_private_settings

    created = QtCore.QCoreApplication.instance() is None
    app = make_app([sys.argv[0] if sys.argv else "vgviz"])
    # the app's window reads and writes QSettings: keep a render away from the user's
    settings_dir = use_private_settings() if created else None
    try:
        return _draw(args, config, fmt, app)
    finally:
        if settings_dir is not None:
            settings_dir.cleanup()


def _draw(args, config, fmt: str, app) -> int:
    if isinstance(config, _RunSource):
        return _draw_from_file(args, config, fmt)
    from .core.measure.steps import steps_done
    from .gui import animation_writers as aw
    from .gui import export as ex
    from .core.presets import preset_range
    from .gui.animate import OffscreenViews, timelapse_frame_count, timelapse_frames, train
    from .gui.theme import get_theme

    theme = get_theme(args.theme)
    view = args.view
    size = args.size or DEFAULT_SIZES[view]
    preset = args.preset or (None if args.config or args.overrides else "deep-sigmoid")
    summary = config.summary()
    animated = fmt in ex.ANIMATION_FORMATS

    if animated and args.every is not None:                       # a time-lapse of the training
        views = OffscreenViews(theme, args.colormap, diagram_size=size, plot_size=size)
        views.use_range(args.range, preset_range(config))
        try:
            caption = (lambda step: ex.caption_text(summary, step)) if args.caption else None
            n = aw.write_animation(timelapse_frames(config, config.steps, args.every, view, views, args.scale, caption),
                                   args.out, fps=args.fps or 10.0,
                                   count=timelapse_frame_count(config.steps, args.every))
        finally:
            views.close()
        print(f"wrote {args.out} ({n} frames, one every {args.every} steps)")
        return 0

    history_views = OffscreenViews(theme, args.colormap, diagram_size=size if view == "diagram" else (1200, 700),
                                   plot_size=size if view not in ("diagram", "window") else (800, 500))
    history_views.use_range(args.range, preset_range(config))
    first = []

    def on_stats(stats):
        if not first:
            first.append(stats)
            history_views.start(stats, config)
        else:
            history_views.add(stats)

    trainer = train(config, on_stats=on_stats)
    history_views.refresh_plots()
    steps_trained = trainer.step_count
    need_trace = args.frame is not None or animated
    trace = trainer.trace() if need_trace else None      # run_render checked --frame against its length

    try:
        return _write_view(args, fmt, views=history_views, trace=trace, summary=summary, trace_step=steps_trained,
                           picture_step=steps_done(history_views.history.latest),
                           pass_note=f"after {steps_trained} steps",
                           make_window=lambda: _make_window(theme, args.colormap, args.range, size, config, preset,
                                                            history_views, first[0], trace, (args.frame or 1) - 1))
    finally:
        history_views.close()


def _draw_from_file(args, source: _RunSource, fmt: str) -> int:
    """The same pictures as _draw, of the run in a file at source.step: the diagram from
    its nearest full capture, the plots from its steps up to there, the backprop pass from
    a model rebuilt with the weights saved at that step."""
    from .core.runfile.replay import history_from_run, stats_at
    from .core.presets import preset_range
    from .core.runfile.restore import trainer_at
    from .gui import animation_writers as aw
    from .gui import export as ex
    from .gui.animate import OffscreenViews, use_one_thread
    from .gui.theme import get_theme

    theme = get_theme(args.theme)
    view, run = args.view, source.run
    size = args.size or DEFAULT_SIZES[view]
    first = stats_at(run, 0)
    views = OffscreenViews(theme, args.colormap, diagram_size=size if view == "diagram" else (1200, 700),
                           plot_size=size if view not in ("diagram", "window") else (800, 500))
    views.use_range(args.range, preset_range(source.config))

    def show_step(step: int) -> None:
        views.history = history_from_run(run, step)
        if views.history.latest is not None:
            views.widget("diagram").show_stats(views.history.latest)
        views.refresh_plots()

    try:
        views.start(first, source.config)          # the first capture locks the colour range, as live
        if fmt in ex.ANIMATION_FORMATS and args.every is not None:     # a time-lapse of the recorded steps
            steps = source.timelapse_steps(args.every)
            widget = views.widget(view)

            def frames():
                for step in steps:
                    show_step(step)
                    yield ex.render_image(widget, args.scale, ex.caption_text(source.summary(), step + 1)
                                       if args.caption else None)

            n = aw.write_animation(frames(), args.out, fps=args.fps or 10.0, count=len(steps))
            print(f"wrote {args.out} ({n} frames of {run.path}, one every {args.every} steps)")
            return 0
        show_step(source.row)
        trace = None
        if source.weights_step is not None:
            use_one_thread()
            trace = trainer_at(run, source.weights_step).trace()
        return _write_view(args, fmt, views=views, trace=trace, summary=source.summary(),
                           trace_step=source.weights_step, picture_step=source.step,
                           pass_note=f"at step {source.weights_step} of {run.path}",
                           note=_capture_note(views, source, view),
                           make_window=lambda: _make_window(theme, args.colormap, args.range, size, source.config, None, views,
                                                            first, trace, (args.frame or 1) - 1))
    finally:
        views.close()


def _write_view(args, fmt: str, *, views, trace, summary: str, trace_step, picture_step, pass_note: str,
                make_window, note: str = "") -> int:
    """Write what was asked of a trained or recorded run: the backprop pass as an animation, or
    one picture of the view (frame --frame of the pass on the diagram or the window)."""
    from .gui import animation_writers as aw
    from .gui import export as ex
    from .gui.animate import trace_frames

    view, size = args.view, args.size or DEFAULT_SIZES[args.view]
    window = make_window() if view == "window" else None
    widget = window if window is not None else views.widget(view)
    try:
        def show(i: int) -> None:
            if window is not None:
                window.stepper.set_cursor(i)
            else:
                views.show_frame(trace, i)

        def frame_caption(i: int) -> str | None:
            if not args.caption:
                return None
            return ex.caption_text(summary, trace_step, i + 1, len(trace), trace.frames[i].label)

        if fmt in ex.ANIMATION_FORMATS:
            n = aw.write_animation(trace_frames(len(trace), show, widget, args.scale, frame_caption), args.out,
                                   fps=args.fps or 1.5, count=len(trace))
            print(f"wrote {args.out} ({n} frames of the backprop pass {pass_note}){_size_note(widget, size)}")
            return 0
        if args.frame is not None:
            show(args.frame - 1)
            caption = frame_caption(args.frame - 1)
        else:
            caption = ex.caption_text(summary, picture_step) if args.caption else None
        ex.export_picture(widget, args.out, view=view, scale=args.scale, caption=caption)
        print(f"wrote {args.out}{note}{_size_note(widget, size)}")
        return 0
    finally:
        if window is not None:
            window.close()
            window.deleteLater()


def _capture_note(views, source: _RunSource, view: str) -> str:
    """The diagram draws full captures, a few a second of training: say which one it drew."""
    from .core.measure.steps import step_label, step_text

    latest = views.history.latest
    if view not in ("diagram", "window") or latest is None or latest.step == source.row:
        return ""
    return f"; the diagram shows {step_label(latest)}, the full capture nearest before {step_text(source.step)}"


def _size_note(widget, size) -> str:
    """Say so when a view could not be made as small as asked (the window has a minimum size)."""
    if (widget.width(), widget.height()) == tuple(size):
        return ""
    return f"; drawn at {widget.width()}x{widget.height()}, the smallest this view can be"


def _make_window(theme, colormap, color_range, size, config, preset, views, first, trace, cursor):
    from PySide6 import QtCore

    from .gui.animate import offscreen
    from .gui.main_window import MainWindow

    window = MainWindow(preset=preset)
    window.setAttribute(QtCore.Qt.WidgetAttribute.WA_DontShowOnScreen, True)
    window.themes.set_theme(theme.name)
    window.themes.set_colormap(colormap)
    if color_range is not None:
        window.ranges.set_mode("fixed", color_range)
    window.show_run(config, views.history, preset_name=preset, first=first, trace=trace, cursor=cursor)
    offscreen(window, size)
    return window
