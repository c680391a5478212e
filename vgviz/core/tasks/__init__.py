"""The training tasks, each with its data, model, training step and trace.

    trainer = make_trainer(config)    # the trainer of the task config.model asks for

mlp/: a stack of Linear layers on 2-D data sets or the digits; recurrent/: rnn, lstm
and gru on the recall task. Both share the loop in trainer.py.
"""
from __future__ import annotations

from ..config import RunConfig
from .mlp.trainer import MLPTrainer
from .recurrent.trainer import RecurrentTrainer
from .trainer import Trainer


def make_trainer(config: RunConfig, *, capture_edges: bool = True) -> Trainer:
    """A RecurrentTrainer for model = rnn / lstm / gru, an MLPTrainer for model = mlp."""
    task = RecurrentTrainer if config.recurrent else MLPTrainer
    return task(config, capture_edges=capture_edges)
