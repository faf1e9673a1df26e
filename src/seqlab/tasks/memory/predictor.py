"""Answering memory problems with a trained model directory."""

from __future__ import annotations

import torch

from seqlab.infer import Predictor
from seqlab.tasks.memory.task import MemoryTask


class MemoryPredictor(Predictor[MemoryTask]):
    """Answers memory problems: ``predict(inputs)`` with inputs shaped like the training data."""

    @torch.no_grad()
    def predict(self, inputs: torch.Tensor) -> torch.Tensor:
        """recall: (B, T) ids -> (B,) predicted first symbols; copy: (B, S+T+S) ids -> (B, S)
        predicted strings; adding: (B, T, 2) -> (B,) predicted sums."""
        outputs = self.model(inputs.to(self.device))
        if self.config["data"]["kind"] == "adding":
            return outputs.cpu()
        return outputs.argmax(dim=-1).cpu()
