"""What ``seqlab eval`` prints for a forecaster, and the lines ``seqlab train`` adds at its end.

The report holds the metrics of seqlab.tasks.forecasting.metrics over every window of a split,
the window count, the errors per horizon step, per forecast variable (when there are several),
the baselines on the same windows (seqlab.tasks.forecasting.baselines), the best of them (lowest
mse) and by how much the model beats it or falls short of it, in numbers and in words
(``best_baseline``), any baseline left out and why (``baselines_left_out``), for a model
learning the residual of a baseline which one and why (``residual``, added by the task; for a
model averaged with a baseline, ``combination``, with the network's errors alone), for a
quantile model each level's coverage and the interval score (``intervals``:
seqlab.tasks.forecasting.quantiles), and, under ``data``, where the windows came from and what
was repaired in that data (seqlab.data.series). A forecast that is not finite is an error naming
the rows its window read, never a NaN in the report (which metrics.json and ``seqlab eval
--json`` print).

Shapes: B windows of a batch, T the input length, ``horizon`` the steps forecast, F_in the
model's input columns, F_out the forecast columns.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch import nn

from seqlab.tasks.forecasting.baselines import BaselineForecast
from seqlab.tasks.forecasting.data import ForecastingData
from seqlab.tasks.forecasting.metrics import ErrorSums, checked_forecasts
from seqlab.tasks.forecasting.quantiles import (
    QuantileForecaster,
    interval_report,
    interval_summary,
)

# Relative difference in mse below which two baselines tie (reports print four digits).
TIE_TOLERANCE = 1e-6


@torch.no_grad()
def evaluation_report(
    model: nn.Module,
    data: ForecastingData,
    split: str,
    *,
    baselines: Mapping[str, BaselineForecast],
    left_out: Mapping[str, str] | None = None,
    details: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """The model and ``baselines`` on every window of ``split``, and the data's story.
    left_out: baselines the report cannot show, name -> why. details: what a baseline's entry
    shows beside its errors, name -> fields (dlinear's ``ridge``: FittedBaselines.details)."""
    horizon, outputs = data.config.horizon, data.output_features
    sums = ErrorSums(horizon, outputs)
    baseline_sums = {name: ErrorSums(horizon, outputs) for name in baselines}
    windows = data.windows(split)
    evaluated = data.evaluated_file(split)
    frame = evaluated if evaluated is not None else data.training_series()
    batches = checked_forecasts(model, windows, batch_size=data.config.eval_batch_size, frame=frame)
    for batch, forecast, truth in batches:
        truth_original = data.to_original(truth)
        sums.add(forecast - truth, data.to_original(forecast) - truth_original)
        inputs = batch.inputs.numpy().astype(np.float64)  # (B, T, F_in)
        for name, predict in baselines.items():
            guess = np.asarray(predict(inputs), dtype=np.float64)  # (B, horizon, F_out)
            baseline_sums[name].add(guess - truth, data.to_original(guess) - truth_original)
    result: dict[str, Any] = {**sums.metrics(), "windows": sums.windows}
    result["per_horizon"] = sums.per_horizon()
    if outputs > 1:
        result["per_variable"] = sums.per_column(data.forecast_columns)
    extra = details or {}
    result["baselines"] = {
        name: {**total.metrics(), **extra.get(name, {})} for name, total in baseline_sums.items()
    }
    if baselines:
        result["best_baseline"] = best_baseline(result["mse"], result["baselines"])
    if left_out:
        result["baselines_left_out"] = dict(left_out)
    if isinstance(model, QuantileForecaster):
        result["intervals"] = interval_report(model, data, split)
    result["data"] = data_section(data, split)
    return result


def data_section(data: ForecastingData, split: str) -> dict[str, Any]:
    """Where the evaluated windows came from and what was repaired in that data."""
    config = data.config
    evaluated = data.evaluated_file(split)
    frame = evaluated if evaluated is not None else data.training_series()
    report = frame.report
    section: dict[str, Any] = {
        "source": frame.source,
        "rows": len(frame),
        "frequency": report.frequency,
        "columns": list(frame.columns),
        "forecast_columns": list(data.forecast_columns),
        "features": config.features,
        "input_length": config.input_length,
        "horizon": config.horizon,
    }
    if evaluated is not None:
        section["split"] = "whole file"
        section["windows"] = {split: len(data.windows(split))}
    else:
        bounds = data.bounds()
        section["split"] = bounds.protocol
        section["target_rows"] = {part.name: [part.first_target, part.stop] for part in bounds}
        section["windows"] = {part.name: part.num_windows(config.horizon) for part in bounds}
    section.update(
        gaps=report.gaps,
        rows_inserted=report.rows_inserted,
        missing_values=report.missing_values,
        ignored_columns=list(report.ignored_columns),
        fixes=report.fixes(),
    )
    return section


def best_baseline(model_mse: float, baselines: Mapping[str, Mapping[str, float]]) -> dict[str, Any]:
    """The baseline of lowest mse, the model's mse less its mse (negative: the model beats it),
    and the same in words. Of baselines within TIE_TOLERANCE of the lowest mse, the first listed
    is named: dlinear forecasts as linear does when the ridge chosen for it is 0, and rounding
    should not pick."""
    lowest = min(values["mse"] for values in baselines.values())
    name = next(
        candidate
        for candidate, values in baselines.items()
        if values["mse"] <= lowest + TIE_TOLERANCE * abs(lowest)
    )
    mse = baselines[name]["mse"]
    difference = model_mse - mse
    return {
        "name": name,
        "mse": mse,
        "model_minus_baseline": difference,
        "verdict": _verdict(name, mse, difference),
    }


def _verdict(name: str, mse: float, difference: float) -> str:
    """E.g. 'best baseline: nlinear 0.289; the model falls short of it by 0.011 mse (3.8%)'; a
    gap over ten times the baseline's mse is said as a ratio ('(an mse 383 times the
    baseline's)')."""
    start = f"best baseline: {name} {mse:.4g}; "
    if difference == 0:
        return start + "the model matches it exactly"
    how = "beats it" if difference < 0 else "falls short of it"
    relative = ""
    if mse > 0:
        ratio = abs(difference) / mse
        times = (mse + difference) / mse  # the model's mse over the baseline's
        relative = (
            f" ({ratio:.1%})" if ratio <= 10 else f" (an mse {times:.3g} times the baseline's)"
        )
    return start + f"the model {how} by {abs(difference):.4g} mse{relative}"


def summary(metrics: Mapping[str, Any]) -> list[str]:
    """The repairs made to the data, the model's mse beside the baselines', the best baseline
    against the model in words, and each baseline left out, one line each."""
    data = metrics.get("data", {})
    lines = [f"data: {line}" for line in data.get("fixes", [])]
    if data.get("ignored_columns"):
        ignored = ", ".join(data["ignored_columns"])
        lines.append(f"data: not numeric, so not read as inputs: {ignored}")
    baselines = metrics.get("baselines", {})
    if baselines:
        shown = [f"model {metrics['mse']:.4g}"] + [
            f"{name} {values['mse']:.4g}" for name, values in baselines.items()
        ]
        lines.append(f"mse on the same {metrics['windows']} windows: " + ", ".join(shown))
        lines.append(best_baseline(metrics["mse"], baselines)["verdict"])
    for name, reason in metrics.get("baselines_left_out", {}).items():
        lines.append(f"{name} baseline left out: {reason}")
    residual = metrics.get("residual")
    if isinstance(residual, Mapping) and "summary" in residual:
        # Which baseline the model learns the residual of (seqlab.tasks.forecasting.residual).
        lines.append(str(residual["summary"]))
    lines.extend(combination_summary(metrics))
    lines.extend(interval_summary(metrics))
    return lines


def combination_summary(metrics: Mapping[str, Any]) -> list[str]:
    """For a model whose forecast averages the network's with a baseline's
    (seqlab.models.combined_forecaster): which baseline and why, and the network alone against
    the average, e.g. 'the forecast: averaged with nlinear (chosen on ...)' and 'the network
    alone: mse 0.301, mae 0.352 (the average: mse 0.287)'; else nothing."""
    combination = metrics.get("combination")
    if not isinstance(combination, Mapping) or "summary" not in combination:
        return []
    lines = [f"the forecast: {combination['summary']}"]
    alone = combination.get("network_alone")
    if isinstance(alone, Mapping) and "mse" in alone:
        lines.append(
            f"the network alone: mse {alone['mse']:.4g}, mae {alone['mae']:.4g} (the average: "
            f"mse {metrics['mse']:.4g})"
        )
    return lines
