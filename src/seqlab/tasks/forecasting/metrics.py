"""Forecast errors: summed over windows, then averaged overall, per horizon step and per variable.

References: Zhou et al., 2021, "Informer" (MSE and MAE reported on the z-scored data, averaged
over every forecast value of every test window; under features M, over all variables too).

``mse`` and ``mae`` are on the normalised scale (as published), ``mse_original`` and
``mae_original`` in the data's units, over the forecast columns (under "M" these average
variables of different units; :meth:`ErrorSums.per_column` gives each alone). Every window of a
split counts; the last batch is short rather than dropped. The errors are summed in float64 per
(horizon step, forecast column), so one pass gives every breakdown.

Shapes: B windows of a batch, W windows in all, T the input length, ``horizon`` the steps
forecast, F_in the model's input columns, F_out the forecast columns.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch
from torch import nn

from seqlab.data.windows import WindowBatch, WindowDataset

METRICS = ("mse", "mae", "mse_original", "mae_original")


class ErrorSums:
    """Squared and absolute errors summed over windows, per (horizon step, forecast column), on
    the normalised scale and in the data's units."""

    def __init__(self, horizon: int, outputs: int) -> None:
        self.sums = {name: np.zeros((horizon, outputs)) for name in METRICS}  # (horizon, F_out)
        self.windows = 0

    def add(self, error: np.ndarray, error_original: np.ndarray) -> None:
        """error, error_original: (B, horizon, F_out) forecast minus truth, float64."""
        self.sums["mse"] += np.square(error).sum(axis=0)  # (horizon, F_out)
        self.sums["mae"] += np.abs(error).sum(axis=0)  # (horizon, F_out)
        self.sums["mse_original"] += np.square(error_original).sum(axis=0)  # (horizon, F_out)
        self.sums["mae_original"] += np.abs(error_original).sum(axis=0)  # (horizon, F_out)
        self.windows += int(error.shape[0])

    def metrics(self) -> dict[str, float]:
        """Each metric averaged over every forecast value of every window."""
        return {
            name: float(total.sum() / (self.windows * total.size))
            for name, total in self.sums.items()
        }

    def per_horizon(self) -> dict[str, list[float]]:
        """Each metric per horizon step (index 0 is one step ahead)."""
        return {
            name: (total.sum(axis=1) / (self.windows * total.shape[1])).tolist()
            for name, total in self.sums.items()
        }

    def per_column(self, columns: tuple[str, ...]) -> dict[str, dict[str, float]]:
        """Each metric of each forecast column alone, over its horizon steps."""
        return {
            column: {
                name: float(total[:, index].sum() / (self.windows * total.shape[0]))
                for name, total in self.sums.items()
            }
            for index, column in enumerate(columns)
        }


def as_outputs(targets: torch.Tensor) -> torch.Tensor:
    """Targets (B, horizon) of one column or (B, horizon, F) -> (B, horizon, F_out), the
    forecast's shape."""
    return targets.unsqueeze(-1) if targets.dim() == 2 else targets


def forecasts(
    model: nn.Module, windows: WindowDataset, *, batch_size: int
) -> Iterator[tuple[WindowBatch, np.ndarray, np.ndarray]]:
    """(batch, forecast (B, horizon, F_out), truth (B, horizon, F_out)) for every window, in
    time order, as float64 arrays on the normalised scale. Call it under ``torch.no_grad``."""
    device = next(model.parameters()).device
    for batch in windows.batches(batch_size):
        forecast = model(batch.inputs.to(device))  # (B, horizon, F_out)
        truth = as_outputs(batch.targets)  # (B, horizon, F_out)
        yield batch, forecast.double().cpu().numpy(), truth.double().numpy()


@torch.no_grad()
def window_errors(model: nn.Module, windows: WindowDataset, *, batch_size: int) -> np.ndarray:
    """Each window's mean squared error on the normalised scale, over its horizon x F_out
    forecast values: (W,) float64 in time order. Their mean is the split's ``mse`` (every window
    covers the same number of values). Call it with the model in eval mode."""
    errors = [
        np.square(forecast - truth).mean(axis=(1, 2))  # (B,)
        for _, forecast, truth in forecasts(model, windows, batch_size=batch_size)
    ]
    return np.concatenate(errors)  # (W,)
