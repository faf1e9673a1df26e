"""Polyak averaging: an exponential moving average of the weights, used for evaluation.

Averaging the iterates of SGD (Polyak & Juditsky, 1992, "Acceleration of Stochastic
Approximation by Averaging") cancels much of the noise of the last steps; the exponential form
keeps the average close to recent weights:

    theta_avg <- d_t * theta_avg + (1 - d_t) * theta,    d_t = min(d, (1 + t) / (10 + t))

where t is the optimizer step. The ramp in d_t (TensorFlow's ExponentialMovingAverage with
``num_updates``) stops the first steps' random weights from dominating a short run. Training
always updates the raw weights; evaluation, the best checkpoint and the final model use the
average, swapped in for the duration and swapped back after.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager

import torch
from torch import nn


class WeightAverage:
    def __init__(self, model: nn.Module, decay: float) -> None:
        self.decay = decay
        named = [(name, p) for name, p in model.named_parameters() if p.requires_grad]
        self.names = [name for name, _ in named]
        self.parameters = [p for _, p in named]
        self.average = [p.detach().clone() for p in self.parameters]

    def decay_at(self, step: int) -> float:
        return min(self.decay, (1 + step) / (10 + step))

    @torch.no_grad()
    def update(self, step: int) -> None:
        """Fold the weights after optimizer step ``step`` into the average."""
        weight = 1.0 - self.decay_at(step)
        torch._foreach_lerp_(self.average, [p.detach() for p in self.parameters], weight)

    @contextmanager
    def swapped_in(self) -> Iterator[None]:
        """The model holds the averaged weights inside the block and its own weights after."""
        with torch.no_grad():
            own = [p.detach().clone() for p in self.parameters]
            for parameter, average in zip(self.parameters, self.average, strict=True):
                parameter.copy_(average)
        try:
            yield
        finally:
            with torch.no_grad():
                for parameter, saved in zip(self.parameters, own, strict=True):
                    parameter.copy_(saved)

    def state_tensors(self) -> dict[str, torch.Tensor]:
        return {name: t.detach().cpu() for name, t in zip(self.names, self.average, strict=True)}

    @torch.no_grad()
    def load_state_tensors(self, tensors: Mapping[str, torch.Tensor]) -> None:
        missing = [name for name in self.names if name not in tensors]
        if missing:
            raise ValueError(
                f"the checkpoint has no averaged weights for '{missing[0]}'; it was trained "
                "without weight_average_decay: resume with the same setting"
            )
        for name, average in zip(self.names, self.average, strict=True):
            average.copy_(tensors[name])
