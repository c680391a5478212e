"""The views for a model that is not one of vgviz's MLPs — a run file recorded by vgviz.watch
(its config is None): the module diagram takes the diagram's place, and a dock offers the layer ×
step heat map and the gradient-flow bars. The dock works for built-in runs too (their recording).

Everything is computed from the file in a helper thread with its own reader (reading a long run
and downsampling it can take seconds); the GUI thread only draws the result. While the file
grows (a training still writing it), it is read again every POLL_MS.
"""
from __future__ import annotations

import concurrent.futures
import html
from pathlib import Path

from PySide6 import QtCore, QtWidgets

from .grad_flow_view import GradFlowView
from .heatmap_view import HeatMapView
from .module_diagram_view import ModuleDiagramView
from .shortcuts import add_dock_toggle

POLL_MS = 1000


def is_user_model_run(path) -> bool:
    """A run file whose model is not a built-in one (no training config): False for anything
    else, a bad file included (opening it the usual way says what is wrong)."""
    from ..core.runfile import RunFileError, open_run

    try:
        with open_run(path) as run:
            return run.config is None
    except (RunFileError, OSError):
        return False


def compute_views(path, seen: tuple[int, int] | None):
    """What the three views draw for the run file ``path``; None if it still holds ``seen``
    (steps, captures) or no step yet. Runs in the helper thread."""
    from ..core.layout.module_diagram import module_diagram
    from ..core.runfile import open_run
    from ..core.runfile.per_layer import grad_flow, grad_norm_heatmap, layer_columns

    with open_run(path) as run:
        now = (run.steps, len(run.capture_steps))
        if now == seen or run.steps == 0:
            return None
        layers = layer_columns(run)
        heat = grad_norm_heatmap(run)
        step, mean_abs, max_abs = grad_flow(run)
        norms = layers.norm(run.series("grad_l2")[-1])
        captured = run.capture_steps
        capture = run.snapshot(int(captured[-1])) if len(captured) else None
        edges = dict(zip(capture.layer_names, capture.edge_abs or ())) if capture is not None else {}
        uses = ({name: int(k) for name, k in zip(capture.layer_names, capture.layer_uses)}
                if capture is not None and capture.layer_uses is not None else None)
        blocks = module_diagram(run.model, dict(zip(layers.names, norms)), edges, uses=uses) if run.model else []
        return now, layers.names, heat, (step, mean_abs, max_abs), blocks, _plots_history(run)


def _plots_history(run):
    """The training plots' History of the file (loss, gradient norms by layer, …), or None
    when its layers cannot be matched to its parameters."""
    from ..core.runfile.replay import ReplayError, history_from_run

    try:
        return history_from_run(run)
    except ReplayError:
        return None


class ModelViews(QtCore.QObject):
    _computed = QtCore.Signal(object)   # a finished Future, queued to the GUI thread

    def __init__(self, window):
        super().__init__(window)
        self.window = window
        self.heatmap = HeatMapView()
        self.flow = GradFlowView()
        self.diagram = ModuleDiagramView()
        window.diagram_stack.addWidget(self.diagram)
        self.tabs = QtWidgets.QTabWidget()
        self.tabs.addTab(self.heatmap, "Heat map")
        self.tabs.addTab(self.flow, "Gradient flow")
        self.dock = QtWidgets.QDockWidget("Layers over steps", window)
        self.dock.setObjectName("layers_dock")
        self.dock.setWidget(self.tabs)
        window.addDockWidget(QtCore.Qt.DockWidgetArea.BottomDockWidgetArea, self.dock)
        self.dock.hide()
        add_dock_toggle(self.dock, "Ctrl+H", window.view_menu)
        self.path: Path | None = None         # a user's model's run file shown, or None
        self._shown: tuple[Path | None, tuple[int, int] | None] = (None, None)
        self._plot_layers: list[str] | None = None   # the layers the window's plots were set up for
        self._job: concurrent.futures.Future | None = None
        self._executor = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="vgviz-model-views")
        self._computed.connect(self._on_computed)
        self.timer = QtCore.QTimer(self, interval=POLL_MS, timeout=self.refresh)
        self.timer.start()
        window.themes.changed.connect(self.apply_theme)
        self.apply_theme()
        window.run.started.connect(self.leave)
        window.destroyed.connect(lambda: self._executor.shutdown(wait=False, cancel_futures=True))

    def apply_theme(self) -> None:
        """The window's theme and colour map (View ▸ Lecture theme, Colour map), as the network diagram has them."""
        theme, colormap = self.window.themes.theme, self.window.themes.colormap
        self.diagram.set_style(theme.diagram_style(colormap))
        self.heatmap.set_theme(theme, colormap)
        self.flow.set_theme(theme)

    def open(self, path) -> None:
        """Show the user's model's run file ``path``: no trainer; the module diagram and the dock."""
        w = self.window
        w._static_run = True   # the window's first run is this file, not a fresh training
        w.run.stop()
        w.display.stop()
        self.path = Path(path)
        w.diagram_stack.setCurrentWidget(self.diagram)
        self.dock.show()
        # what belongs to a built-in run says nothing about this model: no preset, no boundary
        w.panel.preset_box.setCurrentIndex(-1)
        w.panel.preset_text.setText(f"<b>Your model</b><br>{html.escape(self.path.name)}, recorded by "
                                    "vgviz.watch: the config fields below are not used.")
        w.decision_dock.hide()
        w.status.set_state(f"reading {self.path.name} — your model: no trainer")
        w.setWindowTitle(f"vgviz — {self.path.name} · your model")
        self.refresh()

    def _show_plots(self, history) -> None:
        """The window's training plots draw the file's loss and per-layer numbers."""
        w = self.window
        names = list(history.latest.layer_names)
        if self._plot_layers != names:
            self._plot_layers = names
            w.plots.set_layers(names, w.themes.layer_colors(len(names)))
        w.plots.update_from(history)

    def leave(self, *_args) -> None:
        """A built-in run replaced the user's model's file."""
        self.path = None

    def _source(self) -> Path | None:
        if self.path is not None:
            return self.path
        if self.dock.isVisible() and self.window.run.path is not None:
            return Path(self.window.run.path)   # a built-in run's recording
        return None

    def refresh(self) -> None:
        """Read the file again in the helper thread unless a read is under way."""
        path = self._source()
        if path is None or (self._job is not None and not self._job.done()):
            return
        seen = self._shown[1] if self._shown[0] == path else None
        self._job = self._executor.submit(lambda: (path, compute_views(path, seen)))
        self._job.add_done_callback(self._computed.emit)

    def _on_computed(self, job: concurrent.futures.Future) -> None:
        try:
            path, result = job.result()
        except Exception as err:  # noqa: BLE001 - one line in the window, never a dead view
            if self.path is not None:
                self.window.show_error(f"cannot show {self.path.name}: {str(err).splitlines()[0]}")
                self.path = None
            return
        if result is None or path != self._source():
            return
        seen, names, heat, (step, mean_abs, max_abs), blocks, history = result
        self._shown = (path, seen)
        self.heatmap.show_heatmap(heat, names)
        self.flow.show_flow(step, names, mean_abs, max_abs)
        if path == self.path:
            self.diagram.show_blocks(blocks, step)
            if history is not None and history.latest is not None:
                self._show_plots(history)
            self.window.status.set_state(f"{path.name}: {seen[0]:,} steps — your model: no trainer")
