"""The Predictor base: a trained model, its run configuration and its directory, ready to answer.

Each task subclasses it with the calls that make sense for its workload (``predict`` for
classifiers, ``forecast`` for forecasters, ...). ``seqlab.load(model_dir)`` picks the subclass by
reading the directory's config.json, so this module never needs to know the tasks: a subclass
names its task's type as the type parameter, ``SentimentPredictor(Predictor[SentimentTask])``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Generic, TypeVar

import torch
from torch import nn

TaskT = TypeVar("TaskT")


class Predictor(Generic[TaskT]):
    """model: the trained network (put in eval mode); config: config.json's contents;
    model_dir: where it was read from; task_object: the task as it was trained (its tokenizer,
    labels or scaler), which turns the user's input into batches and outputs into answers."""

    model: nn.Module
    config: dict[str, Any]
    model_dir: Path
    task_object: TaskT

    def __init__(
        self, *, model: nn.Module, config: dict[str, Any], model_dir: Path, task_object: TaskT
    ) -> None:
        self.model = model.eval()
        self.config = config
        self.model_dir = Path(model_dir)
        self.task_object = task_object

    @property
    def task(self) -> str:
        return str(self.config["task"])

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def __repr__(self) -> str:
        family = self.config.get("model", {}).get("family", "?")
        return (
            f"{type(self).__name__}(task={self.task!r}, family={family!r}, dir='{self.model_dir}')"
        )
