"""The baseline a residual forecaster starts from (``model.residual_of``): each baseline as an
affine map of the window, and the rule that picks one on the validation windows.

References: Zeng et al., 2023, "Are Transformers Effective for Time Series Forecasting?" (Linear,
NLinear, DLinear); Hyndman and Athanasopoulos, "Forecasting: Principles and Practice", 3rd ed.,
sec. 5.2 (repeat and seasonal naive). seqlab.models.residual_forecaster says why a network learns
the residual of one.

Every baseline of the report forecasts each forecast column f from that column's own window
x_f (T values, x_{T-1} the last observed) by one affine map shared by all columns,
    y_f = M x_f + c,  M (horizon, T), c (horizon,):
- repeat: M = 1 e_{T-1}', c = 0 (every step the last value);
- seasonal_p: M[j, T - p + (j mod p)] = 1 for row j = 0..horizon-1, c = 0 (a selection);
- linear (W, b): M = W, c = b;
- nlinear, y = W (x - x_{T-1} 1) + b + x_{T-1} 1: M = W + (1 - W 1) e_{T-1}', c = b;
- dlinear, y = W_t A x + W_r (I - A) x + b with A (T, T) the moving average of
  seqlab.models.forecast_baselines.moving_average as a matrix (the window padded by repeating its
  first and last value, so the rows of A near each end put the padding's weight on x_0 or
  x_{T-1}): M = W_t A + W_r (I - A), c = b.

The choice (:func:`choose_residual`): the least-squares baselines are those the task fitted on the
training windows (seqlab.tasks.forecasting.baselines, the same ones the report shows); every
candidate is scored by its mean squared error on the validation windows, and ``auto`` keeps the
lowest (the first listed on a tie). The test windows are never read. Candidates, in order:
repeat, seasonal_24 and seasonal_168 (each when the window holds one whole period), linear,
nlinear, dlinear.

Shapes: N windows, T the input length, ``horizon`` the steps forecast, F_in the model's input
columns, F_out the forecast columns.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from seqlab.errors import SeqlabError
from seqlab.models.forecast_baselines import (
    DLinearBaseline,
    LinearBaseline,
    NLinearBaseline,
)
from seqlab.tasks.forecasting.baselines import SEASONAL_PERIODS, FittedBaselines
from seqlab.tasks.forecasting.data import ForecastingData
from seqlab.tasks.forecasting.metrics import as_outputs

# The least-squares baselines, by name, after the naive ones.
LEAST_SQUARES = ("linear", "nlinear", "dlinear")


@dataclass(frozen=True)
class AffineMap:
    """y_f = weight x_f + bias for each forecast column f: weight (horizon, T), bias (horizon,),
    float64."""

    weight: np.ndarray
    bias: np.ndarray

    def forecast(self, targets: np.ndarray) -> np.ndarray:
        """The forecast columns of windows, (N, T, F_out) -> (N, horizon, F_out)."""
        # (N, horizon, F_out)
        return np.einsum("ht,ntf->nhf", self.weight, targets) + self.bias[None, :, None]


def repeat_map(*, horizon: int, length: int) -> AffineMap:
    """Persistence: M = 1 e_{T-1}', c = 0."""
    weight = np.zeros((horizon, length))  # (horizon, T)
    weight[:, -1] = 1.0
    return AffineMap(weight, np.zeros(horizon))


def seasonal_map(*, horizon: int, length: int, period: int) -> AffineMap:
    """Seasonal naive: row j reads step T - p + (j mod p), c = 0."""
    if not 1 <= period <= length:
        raise ValueError(f"period ({period}) must be between 1 and the window length ({length})")
    weight = np.zeros((horizon, length))  # (horizon, T)
    rows = np.arange(horizon)
    weight[rows, length - period + rows % period] = 1.0
    return AffineMap(weight, np.zeros(horizon))


def moving_average_matrix(length: int, kernel_size: int) -> np.ndarray:
    """A (T, T) with A x = moving_average(x) for a window x of T steps: row t averages padded
    steps t..t+k-1, padded step p being x_{clip(p - pad, 0, T - 1)}, pad = (k - 1) / 2."""
    if kernel_size < 1 or kernel_size % 2 == 0:
        raise ValueError(f"kernel_size ({kernel_size}) must be odd and positive")
    pad = (kernel_size - 1) // 2
    matrix = np.zeros((length, length))  # (T, T)
    for step in range(length):
        sources = np.clip(np.arange(step - pad, step + pad + 1), 0, length - 1)  # (k,)
        np.add.at(matrix[step], sources, 1.0 / kernel_size)
    return matrix


def linear_map(baseline: LinearBaseline) -> AffineMap:
    """M = W, c = b (one map shared by the columns: individual=False)."""
    if baseline.weight is None or baseline.bias is None:
        raise ValueError("the linear baseline is not fitted")
    if baseline.weight.ndim != 2:
        raise ValueError("a linear baseline with one map per column has no single affine map")
    return AffineMap(baseline.weight.astype(np.float64), baseline.bias.astype(np.float64))


def nlinear_map(baseline: NLinearBaseline) -> AffineMap:
    """M = W + (1 - W 1) e_{T-1}', c = b."""
    if baseline.weight is None or baseline.bias is None:
        raise ValueError("the nlinear baseline is not fitted")
    weight = baseline.weight.astype(np.float64).copy()  # (horizon, T)
    weight[:, -1] += 1.0 - weight.sum(axis=1)
    return AffineMap(weight, baseline.bias.astype(np.float64))


def dlinear_map(baseline: DLinearBaseline) -> AffineMap:
    """M = W_t A + W_r (I - A), c = b."""
    trend, remainder = baseline.trend_weight, baseline.remainder_weight
    if trend is None or remainder is None or baseline.bias is None:
        raise ValueError("the dlinear baseline is not fitted")
    length = trend.shape[-1]
    average = moving_average_matrix(length, baseline.kernel_size)  # (T, T)
    weight = trend @ average + remainder @ (np.eye(length) - average)  # (horizon, T)
    return AffineMap(weight.astype(np.float64), baseline.bias.astype(np.float64))


def candidate_maps(data: ForecastingData, fitted: FittedBaselines) -> dict[str, AffineMap]:
    """name -> affine map of every candidate baseline, in the module docstring's order;
    ``fitted``: the task's least-squares baselines (fitted on the training windows)."""
    horizon, length = data.config.horizon, data.config.input_length
    maps = {"repeat": repeat_map(horizon=horizon, length=length)}
    for period in SEASONAL_PERIODS:
        if length >= period:
            maps[f"seasonal_{period}"] = seasonal_map(horizon=horizon, length=length, period=period)
    maps["linear"] = linear_map(fitted.linear)
    for name, baseline in fitted.companions.items():
        if isinstance(baseline, NLinearBaseline):
            maps[name] = nlinear_map(baseline)
        elif isinstance(baseline, DLinearBaseline):
            maps[name] = dlinear_map(baseline)
    return maps


@dataclass(frozen=True)
class ResidualChoice:
    """Which baseline the network learns the residual of: ``baseline`` (its name), ``setting``
    (model.residual_of: "auto" or that name) and every candidate's validation mse, by name, in
    the candidates' order. Saved in config.json's artifacts as ``residual``."""

    baseline: str
    setting: str
    validation_mse: dict[str, float]

    def to_json(self) -> dict[str, Any]:
        return {
            "baseline": self.baseline,
            "setting": self.setting,
            "validation_mse": dict(self.validation_mse),
        }

    @classmethod
    def from_json(cls, value: Mapping[str, Any]) -> ResidualChoice:
        """Raises KeyError, TypeError or ValueError on a malformed entry (the caller names the
        file)."""
        scores = value["validation_mse"]
        if not isinstance(scores, Mapping):
            raise TypeError("residual.validation_mse must be a mapping of names to numbers")
        return cls(
            baseline=str(value["baseline"]),
            setting=str(value["setting"]),
            validation_mse={str(name): float(mse) for name, mse in scores.items()},
        )

    def summary(self) -> str:
        """'residual of nlinear (chosen on validation: nlinear 0.31, linear 0.33, ...)': the
        candidates from the lowest validation mse up."""
        ranked = sorted(self.validation_mse.items(), key=lambda item: item[1])
        scores = ", ".join(f"{name} {mse:.4g}" for name, mse in ranked)
        if self.setting == "auto":
            return f"residual of {self.baseline} (chosen on validation: {scores})"
        return f"residual of {self.baseline} (set by model.residual_of; validation mse: {scores})"


def validation_mse(data: ForecastingData, maps: Mapping[str, AffineMap]) -> dict[str, float]:
    """Each map's mean squared error over every validation window (normalised scale), every
    horizon step and forecast column, in float64."""
    windows = data.windows("val")
    if len(windows) == 0:
        raise SeqlabError(
            "model.residual_of picks its baseline on the validation windows, and this split has "
            "none; lengthen the series or shorten data.input_length and data.horizon"
        )
    everything = windows.batch(np.arange(len(windows)))
    inputs = everything.inputs.numpy().astype(np.float64)  # (N, T, F_in)
    truth = as_outputs(everything.targets).numpy().astype(np.float64)  # (N, horizon, F_out)
    stop = inputs.shape[-1] - data.extra_inputs
    targets = inputs[..., stop - data.output_features : stop]  # (N, T, F_out)
    return {
        name: float(np.mean((affine.forecast(targets) - truth) ** 2))
        for name, affine in maps.items()
    }


def choose_residual(
    setting: str, data: ForecastingData, fitted: FittedBaselines
) -> tuple[ResidualChoice, AffineMap]:
    """The baseline ``setting`` names ("auto": the candidate of lowest validation mse, the first
    listed on a tie), its affine map, and every candidate's validation mse."""
    maps = candidate_maps(data, fitted)
    scores = validation_mse(data, maps)
    if setting == "auto":
        name = min(scores, key=scores.__getitem__)  # min keeps the first of equal values
    elif setting in maps:
        name = setting
    else:
        length = data.config.input_length
        why = (
            f"a window of data.input_length {length} steps holds no whole period"
            if setting.startswith("seasonal_")
            else "it could not be fitted"
        )
        raise SeqlabError(
            f"model.residual_of: no {setting} baseline for this run ({why}); choose one of "
            f"auto, {', '.join(maps)}"
        )
    return ResidualChoice(baseline=name, setting=setting, validation_mse=scores), maps[name]
