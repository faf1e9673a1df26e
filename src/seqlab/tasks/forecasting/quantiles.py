"""Quantile forecasts for prediction intervals: the pinball loss, quantiles that never cross, and
how well the intervals cover the truth.

References: Koenker and Bassett, 1978, "Regression Quantiles" (the pinball, or check, loss);
Chernozhukov, Fernandez-Val and Galichon, 2010, "Quantile and Probability Curves Without
Crossing" (monotone rearrangement); Gneiting and Raftery, 2007, "Strictly Proper Scoring Rules,
Prediction, and Estimation", sec. 6.2 (the interval score).

With ``data.quantiles`` (``--quantiles 0.1,0.5,0.9``) the forecaster gives Q forecasts per value,
one per level q_1 < ... < q_Q, and is trained with the pinball loss, for truth y and forecast
y_hat of level q:
    L_q(y, y_hat) = max(q (y - y_hat), (q - 1)(y - y_hat)),
averaged over the Q levels, the horizon steps, the forecast columns and the windows. Under-
forecasting costs q per unit and over-forecasting 1 - q, so the expected loss is least at the
q-quantile of y given the window: each output learns its level's quantile.

Non-crossing: the Q outputs of each value are sorted, y_hat_(1) <= ... <= y_hat_(Q), and the k-th
smallest is the forecast of q_k (monotone rearrangement), in training and at prediction alike,
so the loss trains exactly what is predicted. Chosen over a base plus cumulative softplus
increments because (i) Chernozhukov et al. (2010) show that the sorted curve is never farther
from the true, increasing quantile curve than the unsorted one (in any L_p norm), so sorting can
only help; (ii) it leaves every output a free linear unit, as the point forecaster's is,
where softplus increments start every band at softplus(0) = 0.69 normalised units wide and their
gradients fade as an increment nears 0 (a narrow band learns slowly); (iii) it costs a sort of Q
values. Gradients pass through the sort (a permutation) to whichever output holds each rank.

Point forecast: the 0.5 level when listed, else the middle one (the lower of the two middle ones
for an even count). ``QuantileForecaster``'s forward returns it, so everything that reads a
forecaster's forward reads the point forecast: mse and mae, the report's main figures, the
training monitor, ``seqlab monitor``, export and retrain.

Interval metrics over test windows (``IntervalSums``):
- coverage of level q: the share of true values at or below its forecast, mean 1[y <= y_hat_q];
  a calibrated forecaster's is close to q;
- the interval score of the outer pair, l the lowest level's forecast and u the highest's, a
  central interval of nominal coverage 1 - alpha, alpha = 1 - (q_Q - q_1):
      IS_alpha(l, u; y) = (u - l) + 2/alpha (l - y) 1[y < l] + 2/alpha (y - u) 1[y > u],
  the width plus a penalty for each miss; lower is better, and it is proper (least in
  expectation for the true quantiles at levels alpha/2 and 1 - alpha/2).

Shapes: B windows of a batch, T the input length, ``horizon`` the steps forecast, F_out the
forecast columns, Q the quantile levels.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from seqlab.data.windows import WindowBatch, WindowDataset
from seqlab.models.combined_forecaster import CombinedForecaster
from seqlab.models.forecaster import (
    ChannelIndependent,
    QuantileOutputs,
    RecurrentForecaster,
    TransformerForecaster,
)
from seqlab.models.residual_forecaster import ResidualForecaster
from seqlab.tasks.forecasting.data import ForecastingData
from seqlab.tasks.forecasting.metrics import as_outputs, refuse_nonfinite


def point_index(levels: Sequence[float]) -> int:
    """The position of the point forecast among the increasing ``levels``: 0.5's when listed,
    else the middle one (the lower middle for an even count)."""
    if 0.5 in levels:
        return list(levels).index(0.5)
    return (len(levels) - 1) // 2


def quantile_column(column: str, level: float) -> str:
    """The name of a forecast column's quantile: ``temp_q0.1``."""
    return f"{column}_q{level:g}"


def rearrange(forecast: torch.Tensor) -> torch.Tensor:
    """Monotone rearrangement: (..., Q) raw outputs -> (..., Q) sorted in increasing order, the
    k-th the forecast of the k-th level."""
    return torch.sort(forecast, dim=-1).values


def pinball_loss(
    forecast: torch.Tensor, truth: torch.Tensor, levels: Sequence[float]
) -> torch.Tensor:
    """L_q(y, y_hat) = max(q (y - y_hat), (q - 1)(y - y_hat)) of each value and level: forecast
    (..., Q), truth (...) -> (..., Q). Average it for the loss."""
    q = torch.tensor(levels, dtype=forecast.dtype, device=forecast.device)  # (Q,)
    difference = truth.unsqueeze(-1) - forecast  # (..., Q)
    return torch.maximum(q * difference, (q - 1) * difference)  # (..., Q)


class QuantileForecaster(nn.Module):
    """A forecaster giving one forecast per quantile level, sorted so they never cross.

    network: a RecurrentForecaster, TransformerForecaster, ChannelIndependent,
    ResidualForecaster or CombinedForecaster, whose output layer is widened here to Q outputs
    per value (``output_quantiles``). quantile_forecast(x)
    -> (B, horizon, F_out, Q), sorted; forward(x) -> the point forecast (B, horizon, F_out).
    """

    def __init__(self, network: nn.Module, levels: Sequence[float]) -> None:
        super().__init__()
        if not isinstance(
            network,
            RecurrentForecaster
            | TransformerForecaster
            | ChannelIndependent
            | ResidualForecaster
            | CombinedForecaster,
        ):
            raise TypeError(f"{type(network).__name__} has no quantile outputs")
        self.levels = tuple(float(level) for level in levels)
        self.point = point_index(self.levels)
        network.output_quantiles(QuantileOutputs(count=len(self.levels), point=self.point))
        self.network = network
        # What export reads of a forecaster: its input columns and, for a Transformer's flatten
        # head, the one window length it takes (None: any).
        self.input_features = network.input_features
        inner = network.inner if isinstance(network, ChannelIndependent) else network
        self.input_length: int | None = getattr(inner, "input_length", None)

    def quantile_forecast(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, T, F) -> (B, horizon, F_out, Q), the k-th the forecast of the k-th level."""
        return rearrange(self.network(x))  # (B, horizon, F_out, Q)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, T, F) -> the point forecast (B, horizon, F_out) (module docstring)."""
        return self.quantile_forecast(x)[..., self.point]  # (B, horizon, F_out)


def quantile_forecasts(
    model: QuantileForecaster, windows: WindowDataset, *, batch_size: int
) -> Iterator[tuple[WindowBatch, np.ndarray, np.ndarray]]:
    """(batch, quantile forecast (B, horizon, F_out, Q), truth (B, horizon, F_out)) for every
    window, in time order, as float64 arrays on the normalised scale. Call it with the model in
    eval mode (and under ``torch.no_grad``, to keep no graph)."""
    device = next(model.parameters()).device
    for batch in windows.batches(batch_size):
        forecast = model.quantile_forecast(batch.inputs.to(device))  # (B, horizon, F_out, Q)
        truth = as_outputs(batch.targets)  # (B, horizon, F_out)
        yield batch, forecast.detach().double().cpu().numpy(), truth.double().numpy()


class IntervalSums:
    """Per-level coverage counts, the outer pair's interval score (on the normalised scale and
    in the data's units) and the pinball loss, summed over windows (module docstring)."""

    def __init__(self, levels: Sequence[float]) -> None:
        self.levels = tuple(float(level) for level in levels)
        self.alpha = 1.0 - (self.levels[-1] - self.levels[0])
        self.below = np.zeros(len(self.levels))  # (Q,) values at or below each level's forecast
        self.inside = 0.0  # values within [l, u]
        self.interval_score = 0.0
        self.interval_score_original = 0.0
        self.pinball = 0.0
        self.values = 0  # true values counted: windows x horizon x F_out

    def add(
        self,
        forecast: np.ndarray,
        truth: np.ndarray,
        forecast_original: np.ndarray,
        truth_original: np.ndarray,
    ) -> None:
        """forecast (B, horizon, F_out, Q), sorted, and truth (B, horizon, F_out), float64; the
        same in the data's units."""
        y = truth[..., None]  # (B, horizon, F_out, 1)
        self.below += (y <= forecast).reshape(-1, len(self.levels)).sum(axis=0)  # (Q,)
        lower, upper = forecast[..., 0], forecast[..., -1]  # (B, horizon, F_out) each
        self.inside += float(((truth >= lower) & (truth <= upper)).sum())
        self.interval_score += float(self._score(lower, upper, truth).sum())
        self.interval_score_original += float(
            self._score(forecast_original[..., 0], forecast_original[..., -1], truth_original).sum()
        )
        losses = pinball_loss(torch.from_numpy(forecast), torch.from_numpy(truth), self.levels)
        self.pinball += float(losses.mean(dim=-1).sum())
        self.values += int(truth.size)

    def _score(self, lower: np.ndarray, upper: np.ndarray, truth: np.ndarray) -> np.ndarray:
        """IS_alpha(l, u; y) of each value (module docstring)."""
        below = np.maximum(lower - truth, 0.0)  # (l - y) 1[y < l]
        above = np.maximum(truth - upper, 0.0)  # (y - u) 1[y > u]
        return (upper - lower) + 2.0 / self.alpha * (below + above)

    def metrics(self) -> dict[str, float]:
        """``coverage_q<level>`` for each level, and with two levels or more the outer pair's
        ``interval_coverage`` (nominal: 1 - alpha), ``interval_score`` (normalised scale) and
        ``interval_score_original`` (the data's units); ``pinball``, the mean pinball loss."""
        result = {
            f"coverage_q{level:g}": float(count / self.values)
            for level, count in zip(self.levels, self.below, strict=True)
        }
        if len(self.levels) > 1:
            result["interval_coverage"] = self.inside / self.values
            result["interval_score"] = self.interval_score / self.values
            result["interval_score_original"] = self.interval_score_original / self.values
        result["pinball"] = self.pinball / self.values
        return result


def to_original(data: ForecastingData, forecast: np.ndarray) -> np.ndarray:
    """Quantile forecasts (..., horizon, F_out, Q) on the normalised scale -> the data's units,
    each level mapped as a point forecast is."""
    levels_first = np.moveaxis(forecast, -1, 0)  # (Q, ..., horizon, F_out)
    return np.moveaxis(data.to_original(levels_first), 0, -1)  # (..., horizon, F_out, Q)


@torch.no_grad()
def interval_report(model: QuantileForecaster, data: ForecastingData, split: str) -> dict[str, Any]:
    """The interval metrics of ``model`` over every window of ``split`` (``IntervalSums``), with
    the levels and the outer pair's nominal coverage; a forecast that is not finite is an error
    naming the rows its window read."""
    sums = IntervalSums(model.levels)
    windows = data.windows(split)
    evaluated = data.evaluated_file(split)
    frame = evaluated if evaluated is not None else data.training_series()
    batch_size = data.config.eval_batch_size
    for batch, forecast, truth in quantile_forecasts(model, windows, batch_size=batch_size):
        refuse_nonfinite(forecast, batch.starts, frame=frame, input_length=windows.input_length)
        sums.add(forecast, truth, to_original(data, forecast), data.to_original(truth))
    result: dict[str, Any] = {"levels": list(model.levels), **sums.metrics()}
    if len(model.levels) > 1:
        result["interval_nominal"] = 1.0 - sums.alpha
    return result


def interval_summary(metrics: Mapping[str, Any]) -> list[str]:
    """One line for ``seqlab train``'s and ``seqlab eval``'s summaries: each level's coverage
    and the interval score (empty without an ``intervals`` section)."""
    intervals = metrics.get("intervals")
    if not intervals:
        return []
    coverage = ", ".join(
        f"q{level:g} {intervals[f'coverage_q{level:g}']:.3f}" for level in intervals["levels"]
    )
    line = f"coverage (share of true values at or below each quantile): {coverage}"
    if "interval_score" in intervals:
        line += (
            f"; {intervals['interval_nominal']:.0%} interval covers "
            f"{intervals['interval_coverage']:.1%}, interval score "
            f"{intervals['interval_score']:.4g}"
        )
    return [line]
