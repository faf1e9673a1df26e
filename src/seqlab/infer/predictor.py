"""The Predictor base: a trained model, its run configuration and its directory, ready to answer.

Each task subclasses it with the calls that make sense for its workload (``predict`` for
classifiers, ``forecast`` for forecasters, ...). ``seqlab.load(model_dir)`` picks the subclass by
reading the directory's config.json, so this module never needs to know the tasks.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn


class Predictor:
    def __init__(self, *, model: nn.Module, config: dict[str, Any], model_dir: Path) -> None:
        self.model = model.eval()
        self.config = config
        self.model_dir = Path(model_dir)

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
