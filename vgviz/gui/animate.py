"""Frames for animations and headless pictures: the backprop stepping sequence and a
time-lapse of training, each frame a QImage painted from a view.

``OffscreenViews`` is a diagram and the three plots that are never shown on screen,
fed from a Trainer run in this thread; the headless ``vgviz render`` and the GUI's
time-lapse export use it, so both draw exactly what the app draws.
"""
from __future__ import annotations

from typing import Callable, Iterator

from PySide6 import QtCore, QtGui, QtWidgets

from ..core.measure.history import History
from ..core.measure.steps import steps_done
from .export import check_scale, render_image
from .network_view import NetworkView
from .timestep_plot import RecurrentPanel
from .plots import TrainingPlots
from .theme import DEFAULT_COLORMAP, Theme, apply_theme, scaled_font

DIAGRAM_SIZE = (1200, 700)
PLOT_SIZE = (800, 500)
WINDOW_SIZE = (1400, 860)


def offscreen(widget: QtWidgets.QWidget, size: tuple[int, int]) -> QtWidgets.QWidget:
    """Lay out and 'show' a widget without putting it on any screen, at ``size``."""
    widget.setAttribute(QtCore.Qt.WidgetAttribute.WA_DontShowOnScreen, True)
    widget.resize(*size)
    widget.show()
    widget.resize(*size)
    QtWidgets.QApplication.sendPostedEvents()
    return widget


class OffscreenViews:
    """The diagram and each plot as separate top-level widgets of exact sizes."""

    def __init__(self, theme: Theme, colormap: str = DEFAULT_COLORMAP, *,
                 diagram_size: tuple[int, int] = DIAGRAM_SIZE, plot_size: tuple[int, int] = PLOT_SIZE):
        self.theme, self.colormap = theme, colormap
        self.network = NetworkView()
        self.recurrent = RecurrentPanel()     # the diagram of a recurrent run: unrolled in time
        self.is_recurrent = False
        self.plots = TrainingPlots()
        self.history: History | None = None
        font = scaled_font(theme.font_scale)
        self.recurrent.setFont(font)
        self.recurrent.setPalette(theme.palette())
        apply_theme(theme, colormap, network=self.network, plots=self.plots, recurrent=self.recurrent)
        self._plot_widgets = self.plots.plot_widgets
        for w in self._plot_widgets.values():      # out of the row of three: each at its own exact size
            w.setParent(None)
            w.setFont(font)
            w.setPalette(theme.palette())
            offscreen(w, plot_size)
        offscreen(self.network, diagram_size)
        offscreen(self.recurrent, diagram_size)

    def use_range(self, fixed: tuple[float, float] | None, preset: tuple[float, float] | None) -> None:
        """The diagram's colour range: ``fixed`` (render --range) for every frame, else a preset's
        range, else fitted at the run's first stats."""
        for scene in (self.network.scene, self.recurrent.unrolled.scene):
            if fixed is not None:
                scene.set_mode("fixed", fixed)
            scene.preset_range = preset

    def widget(self, view: str) -> QtWidgets.QWidget:
        if view == "diagram":
            return self.recurrent if self.is_recurrent else self.network
        return self._plot_widgets[view]

    def start(self, first_stats, config=None) -> None:
        """A new run: its first stats lock the diagram's colour range, as in the app.
        ``config`` names a recurrent model's kind and depth in the unrolled view."""
        self.history = History(first_stats.n_layers)
        colors = self.theme.layer_colors(first_stats.n_layers)
        self.is_recurrent = first_stats.timestep_grad is not None
        if config is not None:
            self.recurrent.reset(config.model, config.depth)
        else:
            self.recurrent.reset()
        self.network.reset()
        self.network.set_layer_colors(colors)
        self.plots.set_layers(list(first_stats.layer_names), colors)
        self.add(first_stats)

    def add(self, stats) -> None:
        self.history.append(stats)
        (self.recurrent if self.is_recurrent else self.network).show_stats(stats)

    def show_frame(self, trace, index: int) -> None:
        """Frame ``index`` of a backprop trace on the diagram (or the unrolled view)."""
        if self.is_recurrent:
            self.recurrent.unrolled.show_frame(trace.display(index), trace.token_text)
        else:
            self.network.show_frame(trace.display(index))

    def refresh_plots(self) -> None:
        if self.history is not None and len(self.history):
            self.plots.update_from(self.history)

    def close(self) -> None:
        for w in list(self._plot_widgets.values()) + [self.network, self.recurrent, self.plots]:
            w.close()
            w.deleteLater()


def use_one_thread() -> None:
    """The training thread count (TRAINING_THREADS), also for the passes drawn outside a step."""
    from ..core.tasks.trainer import use_training_threads

    use_training_threads()


def train(config, steps: int | None = None, on_stats: Callable[[object], bool | None] | None = None):
    """A Trainer for ``config``: the initial measurement (as the app shows it first), then
    ``steps`` training steps (default config.steps). ``on_stats(stats)`` sees every
    StepStats; returning False stops early. Returns the trainer."""
    use_one_thread()
    from ..core.tasks import make_trainer

    trainer = make_trainer(config if steps is None else config.replace(steps=max(config.steps, steps)))
    if on_stats is not None and on_stats(trainer.measure()) is False:
        return trainer
    n = config.steps if steps is None else steps
    for _ in range(n):
        stats = trainer.step()
        if on_stats is not None and on_stats(stats) is False:
            break
        if stats.diverged:
            break
    return trainer


def trace_frames(count: int, show: Callable[[int], None], widget: QtWidgets.QWidget, scale: int = 1,
                 caption: Callable[[int], str | None] | None = None) -> Iterator[QtGui.QImage]:
    """Each of ``count`` backprop frames: ``show(i)`` puts frame i on the views (for the
    app: the stepper's cursor; headless: NetworkView.show_frame), then ``widget`` is painted."""
    scale = check_scale(scale)
    for i in range(count):
        show(i)
        yield render_image(widget, scale, caption(i) if caption else None)


def timelapse_frames(config, steps: int, every: int, view: str, views: OffscreenViews, scale: int = 1,
                     caption: Callable[[int], str | None] | None = None) -> Iterator[QtGui.QImage]:
    """Train ``config`` from its first step for ``steps`` steps, one frame of ``view``
    every ``every`` steps (and the initial weights' and the last step's frame)."""
    use_one_thread()
    from ..core.tasks import make_trainer

    scale = check_scale(scale)
    every = max(1, int(every))
    trainer = make_trainer(config.replace(steps=max(config.steps, steps)))
    first = trainer.measure()
    views.start(first, config)
    widget = views.widget(view)

    def frame(stats) -> QtGui.QImage:
        if view != "diagram":
            views.refresh_plots()
        return render_image(widget, scale, caption(steps_done(stats)) if caption else None)

    yield frame(first)
    stats = first
    for i in range(steps):
        stats = trainer.step()
        views.add(stats)
        if stats.diverged or (i + 1) % every == 0 or i == steps - 1:
            yield frame(stats)
        if stats.diverged:
            break


def timelapse_frame_count(steps: int, every: int) -> int:
    every = max(1, int(every))
    return 1 + steps // every + (1 if steps % every else 0)
