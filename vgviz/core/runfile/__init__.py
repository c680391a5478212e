"""Runs as files: a training run recorded step by step into one SQLite file, read back
by any process (also while it is written). Format and policy: docs/runfile.md.

    with RunRecorder(trainer, "run.vgviz") as rec:
        while not trainer.finished:
            rec.record(trainer.step(full=rec.wants_full()))
    run = open_run("run.vgviz")
"""
from .format import SCHEMA_VERSION, RunFileError, StoragePolicy
from .model import LayerDescription, ModelDescription, describe_model
from .reader import Run, RunEvent, open_run
from .recorder import RunRecorder
from .writer import RunWriter

__all__ = ["SCHEMA_VERSION", "RunFileError", "StoragePolicy", "LayerDescription", "ModelDescription",
           "describe_model", "Run", "RunEvent", "open_run", "RunRecorder", "RunWriter"]
