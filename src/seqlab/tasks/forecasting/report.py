"""What ``seqlab eval`` prints for a forecaster, and the lines ``seqlab train`` adds at its end.

The report holds the metrics of seqlab.tasks.forecasting.metrics over every window of a split,
the window count, the errors per horizon step, per forecast variable (when there are several),
the baselines on the same windows (seqlab.tasks.forecasting.baselines), and, under ``data``,
where the windows came from and what was repaired in that data (seqlab.data.series). A forecast
that is not finite is an error naming the rows its window read, never a NaN in the report (which
metrics.json and ``seqlab eval --json`` print).

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


@torch.no_grad()
def evaluation_report(
    model: nn.Module,
    data: ForecastingData,
    split: str,
    *,
    baselines: Mapping[str, BaselineForecast],
) -> dict[str, Any]:
    """The model and ``baselines`` on every window of ``split``, and the data's story."""
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
    result["baselines"] = {name: total.metrics() for name, total in baseline_sums.items()}
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


def summary(metrics: Mapping[str, Any]) -> list[str]:
    """The repairs made to the data and the model's mse beside the baselines', one line each."""
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
    return lines
