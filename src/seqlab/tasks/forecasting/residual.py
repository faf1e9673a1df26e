"""The baseline a residual forecaster starts from (``model.residual_of``) or a combined one
averages with (``model.combine_with``): each baseline as an affine map of the window, and the
rule that picks one on rolling origins over the training and validation windows.

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

The choice (:func:`choose_baseline`): the least-squares baselines are those the task fitted on the
training windows (seqlab.tasks.forecasting.baselines, the same ones the report shows). ``auto``
scores every candidate on a rolling forecasting origin (Hyndman and Athanasopoulos, sec. 5.10,
"time series cross-validation") and keeps the lowest score (the first listed on a tie):

    score(b) = (1 / K) sum_{k=1..K} mse_k(b),

with K = ROLLING_ORIGINS + 1 folds. Fold K is the validation split, scored with the maps fitted
on every training window. Folds 1..K-1 cut the last ROLLING_SPAN of the training windows into
ROLLING_ORIGINS equal blocks, in time order; fold k refits the least-squares maps on the
training windows before its block's origin o_k (dlinear with the validation-chosen lambda times
o_k / N, the share of the rows it is fitted on, since lambda scales with the design's Gram
matrix) and scores every candidate on the block's windows from o_k + horizon - 1 on, the first
whose targets all lie after every target it was fitted on. A fold without a window to score, or
with fewer fitting windows than a map has weights (T + 1), is left out.

Why several origins. One validation period can mislead: a period that holds a level shift, a
holiday or a sensor fault favours whichever baseline happens to absorb it, and the residual model
then starts from a baseline that is wrong for the months after. Averaging over origins asks
which baseline forecasts well across the recent past; the validation split, the most recent, is
one fold of it. Scores are mean squared errors on the normalised scale, averaged with equal
weight per fold. The test windows are never read. Candidates, in order: repeat, seasonal_24 and
seasonal_168 (each when the window holds one whole period), linear, nlinear, dlinear. A baseline
named in ``model.residual_of`` is kept as named and scored on the validation split alone.
``model.combine_with`` (seqlab.models.combined_forecaster) picks the baseline it averages the
network's forecast with by the same rule.

Shapes: N windows, T the input length, ``horizon`` the steps forecast, F_in the model's input
columns, F_out the forecast columns.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch

from seqlab.errors import SeqlabError
from seqlab.models.forecast_baselines import (
    DLinearBaseline,
    LinearBaseline,
    NLinearBaseline,
)
from seqlab.tasks.forecasting.baselines import (
    SEASONAL_PERIODS,
    FittedBaselines,
    split_windows,
    unfitted_baseline,
)
from seqlab.tasks.forecasting.data import ForecastingData

# The least-squares baselines, by name, after the naive ones.
LEAST_SQUARES = ("linear", "nlinear", "dlinear")
# The rolling origins within the training windows (module docstring): ROLLING_ORIGINS blocks
# covering the last ROLLING_SPAN of them; the validation split is one more fold.
ROLLING_ORIGINS = 3
ROLLING_SPAN = 0.3


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
class BaselineChoice:
    """Which baseline the network learns the residual of (``role`` "residual") or is averaged
    with (``role`` "combination", model.combine_with): ``baseline`` (its name), ``setting``
    (model.residual_of or model.combine_with: "auto" or that name), every candidate's
    validation mse, by name, in the candidates' order, and for ``auto`` the score it minimised
    (``rolling_mse``: the mean mse over ``folds`` rolling origins, the validation split the
    last; None for a named baseline, or a directory written before the rolling origin). Saved
    in config.json's artifacts as ``residual`` or ``combination`` (the role is the key's, not
    saved)."""

    baseline: str
    setting: str
    validation_mse: dict[str, float]
    rolling_mse: dict[str, float] | None = None
    folds: int = 1
    role: Literal["residual", "combination"] = "residual"

    def to_json(self) -> dict[str, Any]:
        value: dict[str, Any] = {
            "baseline": self.baseline,
            "setting": self.setting,
            "validation_mse": dict(self.validation_mse),
        }
        if self.rolling_mse is not None:
            value["rolling_mse"] = dict(self.rolling_mse)
            value["folds"] = self.folds
        return value

    @classmethod
    def from_json(
        cls,
        value: Mapping[str, Any],
        role: Literal["residual", "combination"] = "residual",
    ) -> BaselineChoice:
        """Raises KeyError, TypeError or ValueError on a malformed entry (the caller names the
        file)."""
        scores = _scores(value["validation_mse"], "validation_mse")
        rolling = value.get("rolling_mse")
        return cls(
            baseline=str(value["baseline"]),
            setting=str(value["setting"]),
            validation_mse=scores,
            rolling_mse=None if rolling is None else _scores(rolling, "rolling_mse"),
            folds=int(value.get("folds", 1)),
            role=role,
        )

    def summary(self) -> str:
        """'residual of nlinear (chosen on 4 rolling origins, the last the validation split:
        nlinear 0.31, linear 0.33, ...)', or 'averaged with nlinear (...)' for a combination:
        the candidates from the lowest score up."""
        if self.role == "residual":
            lead, field = f"residual of {self.baseline}", "model.residual_of"
        else:
            lead, field = f"averaged with {self.baseline}", "model.combine_with"
        if self.setting == "auto" and self.rolling_mse is not None:
            how = f"chosen on {self.folds} rolling origins, the last the validation split"
            return f"{lead} ({how}: {_ranked(self.rolling_mse)})"
        scores = _ranked(self.validation_mse)
        if self.setting == "auto":
            return f"{lead} (chosen on validation: {scores})"
        return f"{lead} (set by {field}; validation mse: {scores})"


def _scores(value: Any, key: str) -> dict[str, float]:
    if not isinstance(value, Mapping):
        raise TypeError(f"residual.{key} must be a mapping of names to numbers")
    return {str(name): float(mse) for name, mse in value.items()}


def _ranked(scores: Mapping[str, float]) -> str:
    """'a 0.1, b 0.2': from the lowest up."""
    ranked = sorted(scores.items(), key=lambda item: item[1])
    return ", ".join(f"{name} {mse:.4g}" for name, mse in ranked)


def validation_mse(data: ForecastingData, maps: Mapping[str, AffineMap]) -> dict[str, float]:
    """Each map's mean squared error over every validation window (normalised scale), every
    horizon step and forecast column, in float64."""
    if len(data.windows("val")) == 0:
        raise SeqlabError(
            "model.residual_of and model.combine_with pick a baseline on the validation windows, "
            "and this split has "
            "none; lengthen the series or shorten data.input_length and data.horizon"
        )
    inputs, truth = split_windows(data, "val")  # (N, T, F_in), (N, horizon, F_out)
    return _mse(data, maps, inputs, truth)


def rolling_origin_mse(
    data: ForecastingData, fitted: FittedBaselines, maps: Mapping[str, AffineMap]
) -> list[dict[str, float]]:
    """Each fold's mse of every candidate, the folds within the training windows in time order
    (module docstring; those without windows to score or fit left out), then the validation
    split's (``maps``: the candidates fitted on every training window)."""
    inputs, truth = split_windows(data, "train")  # (N, T, F_in), (N, horizon, F_out)
    windows, length = len(inputs), data.config.input_length
    block = int(windows * ROLLING_SPAN) // ROLLING_ORIGINS
    folds = []
    for fold in range(ROLLING_ORIGINS):
        origin = windows - (ROLLING_ORIGINS - fold) * block
        first, stop = origin + data.config.horizon - 1, origin + block
        if block == 0 or origin < length + 1 or first >= stop:
            continue
        refitted = dict(maps)
        refitted.update(_refit(data, fitted, inputs[:origin], truth[:origin], origin / windows))
        folds.append(_mse(data, refitted, inputs[first:stop], truth[first:stop]))
    folds.append(validation_mse(data, maps))
    return folds


def _refit(
    data: ForecastingData,
    fitted: FittedBaselines,
    inputs: torch.Tensor,
    truth: torch.Tensor,
    share: float,
) -> dict[str, AffineMap]:
    """The least-squares candidates ``fitted`` has, fitted again on ``inputs`` and ``truth``
    alone (``share`` of the training windows; dlinear's lambda scaled by it)."""
    linear = unfitted_baseline("linear", data).fit(inputs, truth)
    assert isinstance(linear, LinearBaseline)
    maps = {"linear": linear_map(linear)}
    for name, baseline in fitted.companions.items():
        if isinstance(baseline, NLinearBaseline):
            refit = unfitted_baseline(name, data).fit(inputs, truth)
            assert isinstance(refit, NLinearBaseline)
            maps[name] = nlinear_map(refit)
        elif isinstance(baseline, DLinearBaseline):
            dlinear = DLinearBaseline(
                output_features=baseline.output_features,
                extra_inputs=baseline.extra_inputs,
                ridge=baseline.ridge * share,
                kernel_size=baseline.kernel_size,
            )
            maps[name] = dlinear_map(dlinear.fit(inputs, truth))
    return maps


def _mse(
    data: ForecastingData,
    maps: Mapping[str, AffineMap],
    inputs: torch.Tensor,
    truth: torch.Tensor,
) -> dict[str, float]:
    """Each map's mean squared error over windows ``inputs`` (N, T, F_in) with targets ``truth``
    (N, horizon, F_out), every step and forecast column, in float64."""
    values = inputs.numpy().astype(np.float64)  # (N, T, F_in)
    stop = values.shape[-1] - data.extra_inputs
    targets = values[..., stop - data.output_features : stop]  # (N, T, F_out)
    expected = truth.numpy().astype(np.float64)  # (N, horizon, F_out)
    return {
        name: float(np.mean((affine.forecast(targets) - expected) ** 2))
        for name, affine in maps.items()
    }


def choose_baseline(
    setting: str,
    data: ForecastingData,
    fitted: FittedBaselines,
    role: Literal["residual", "combination"] = "residual",
) -> tuple[BaselineChoice, AffineMap]:
    """The baseline ``setting`` names ("auto": the candidate of lowest mean mse over the rolling
    origins, the first listed on a tie), its affine map, and every candidate's scores; ``role``:
    what the model does with it (model.residual_of or model.combine_with)."""
    field = "residual_of" if role == "residual" else "combine_with"
    maps = candidate_maps(data, fitted)
    if setting == "auto":
        folds = rolling_origin_mse(data, fitted, maps)
        rolling = {name: float(np.mean([fold[name] for fold in folds])) for name in maps}
        name = min(rolling, key=rolling.__getitem__)  # min keeps the first of equal values
        choice = BaselineChoice(
            baseline=name,
            setting=setting,
            validation_mse=folds[-1],
            rolling_mse=rolling,
            folds=len(folds),
            role=role,
        )
        return choice, maps[name]
    if setting not in maps:
        length = data.config.input_length
        why = (
            f"a window of data.input_length {length} steps holds no whole period"
            if setting.startswith("seasonal_")
            else "it could not be fitted"
        )
        raise SeqlabError(
            f"model.{field}: no {setting} baseline for this run ({why}); choose one of "
            f"auto, {', '.join(maps)}"
        )
    scores = validation_mse(data, maps)
    choice = BaselineChoice(baseline=setting, setting=setting, validation_mse=scores, role=role)
    return choice, maps[setting]
