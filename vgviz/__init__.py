"""vgviz: see, measure and fix the vanishing gradient problem."""
__version__ = "0.1.0"
__all__ = ["GradientProbe", "RunConfig", "Trainer", "__version__", "diagnose", "make_trainer", "open_run",
           "watch"]


def __getattr__(name):
    # Lazy, so that `import vgviz` (and the GUI's first paint) does not pay for torch.
    if name == "GradientProbe":
        from .core.measure.probe import GradientProbe
        return GradientProbe
    if name == "Trainer":
        from .core.tasks.trainer import Trainer
        return Trainer
    if name == "make_trainer":
        from .core.tasks import make_trainer
        return make_trainer
    if name == "open_run":
        from .core.runfile import open_run
        return open_run
    if name == "diagnose":
        from .core.diagnose.runs import diagnose_run
        return diagnose_run
    if name == "watch":
        from .core.watch import watch
        return watch
    if name == "RunConfig":
        from .core.config import RunConfig
        return RunConfig
    raise AttributeError(f"module 'vgviz' has no attribute {name!r}")
