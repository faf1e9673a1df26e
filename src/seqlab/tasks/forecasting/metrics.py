"""Forecast errors: summed over windows, then averaged overall, per horizon step and per variable.

References: Zhou et al., 2021, "Informer" (MSE and MAE reported on the z-scored data, averaged
over every forecast value of every test window; under features M, over all variables too).

``mse`` and ``mae`` are on the normalised scale (as published), ``mse_original`` and
``mae_original`` in the data's units, over the forecast columns (under "M" these average
variables of different units; :meth:`ErrorSums.per_column` gives each alone). Every window of a
split counts; the last batch is short rather than dropped. The errors are summed in float64 per
(horizon step, forecast column), so one pass gives every breakdown. What is reported or saved
comes from :func:`checked_forecasts`, where a forecast that is not finite is an error naming the
rows its window read.

Shapes: B windows of a batch, W windows in all, T the input length, ``horizon`` the steps
forecast, F_in the model's input columns, F_out the forecast columns.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch
from torch import nn

from seqlab.data.series import SeriesFrame
from seqlab.data.windows import WindowBatch, WindowDataset
from seqlab.errors import SeqlabError

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


def refuse_nonfinite(
    forecast: np.ndarray, starts: torch.Tensor, *, frame: SeriesFrame, input_length: int
) -> None:
    """An error naming the rows the first window read when any of its ``forecast`` values
    (B, horizon, F_out) is NaN or inf; ``starts`` (B,): each window's first row of ``frame``."""
    finite = np.isfinite(forecast).reshape(forecast.shape[0], -1).all(axis=1)  # (B,)
    if finite.all():
        return
    start = int(starts[int(np.argmin(finite))])
    raise SeqlabError(
        f"the model's forecast from {frame.describe_rows(start, start + input_length)} is not "
        "finite (NaN or inf): those rows hold values far from the training data, or the model "
        "directory's weights are damaged; check the rows, or retrain the model"
    )


def checked_forecasts(
    model: nn.Module, windows: WindowDataset, *, batch_size: int, frame: SeriesFrame
) -> Iterator[tuple[WindowBatch, np.ndarray, np.ndarray]]:
    """:func:`forecasts` of the windows of ``frame``, a non-finite forecast an error naming the
    rows it read (for what is reported or saved; the training loop's own evaluations use
    :func:`forecasts`, where a diverging model is the loop's to handle)."""
    for batch, forecast, truth in forecasts(model, windows, batch_size=batch_size):
        refuse_nonfinite(forecast, batch.starts, frame=frame, input_length=windows.input_length)
        yield batch, forecast, truth


@torch.no_grad()
def window_errors(
    model: nn.Module, windows: WindowDataset, *, batch_size: int, frame: SeriesFrame
) -> np.ndarray:
    """Each window's mean squared error on the normalised scale, over its horizon x F_out
    forecast values: (W,) float64 in time order. Their mean is the split's ``mse`` (every window
    covers the same number of values). ``frame``: the series the windows were cut from, named
    in the error when a forecast is not finite. Call it with the model in eval mode."""
    errors = [
        np.square(forecast - truth).mean(axis=(1, 2))  # (B,)
        for _, forecast, truth in checked_forecasts(
            model, windows, batch_size=batch_size, frame=frame
        )
    ]
    return np.concatenate(errors)  # (W,)
