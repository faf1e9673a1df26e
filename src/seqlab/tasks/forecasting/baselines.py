"""The baselines a forecasting report shows beside the model, chosen and fitted for its data.

References: Zeng et al., 2023, "Are Transformers Effective for Time Series Forecasting?" (repeat
the last value and DLinear's Linear beside every network); Hyndman and Athanasopoulos,
"Forecasting: Principles and Practice", 3rd ed., sec. 5.2 (seasonal naive). The forecasts
themselves are computed in seqlab.models.forecast_baselines; this module only picks them and
fits the linear one.

Which: ``repeat``; ``seasonal_24`` and ``seasonal_168`` (a day and a week of an hourly series),
each when the input window holds one whole period; ``linear``, fitted by least squares on every
training window (normalised scale). The linear baseline is saved beside the weights
(LINEAR_BASELINE of seqlab.model_dir), so an evaluation on another file reports it without the
training data; a directory written before it was saved refits it from its training series.

Shapes: N windows, T the input length, ``horizon`` the steps forecast, F_in the model's input
columns, F_out the forecast columns.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

import numpy as np
import torch

from seqlab.model_dir import LINEAR_BASELINE, ModelDir
from seqlab.models.forecast_baselines import Array, LinearBaseline, repeat_last, seasonal_naive
from seqlab.tasks.forecasting.data import ForecastingData
from seqlab.tasks.forecasting.metrics import as_outputs

# Seasonal naive periods, in steps: a day and a week of an hourly series.
SEASONAL_PERIODS = (24, 168)

# Windows (N, T, F_in) on the normalised scale -> forecasts (N, horizon, F_out).
BaselineForecast = Callable[[np.ndarray], Array]


def fit_linear_baseline(data: ForecastingData) -> LinearBaseline:
    """DLinear's Linear fitted by least squares on every training window (normalised)."""
    train = data.windows("train")
    everything = train.batch(np.arange(len(train)))
    baseline = LinearBaseline(output_features=data.output_features, extra_inputs=data.extra_inputs)
    return baseline.fit(everything.inputs, as_outputs(everything.targets))


def report_baselines(data: ForecastingData, linear: LinearBaseline) -> dict[str, BaselineForecast]:
    """name -> forecast function, in the order the report lists them."""
    config = data.config
    horizon, outputs, extra = config.horizon, data.output_features, data.extra_inputs
    chosen: dict[str, BaselineForecast] = {
        "repeat": partial(repeat_last, horizon=horizon, output_features=outputs, extra_inputs=extra)
    }
    for period in SEASONAL_PERIODS:
        if config.input_length >= period:  # the window must hold one whole period
            chosen[f"seasonal_{period}"] = partial(
                seasonal_naive,
                period=period,
                horizon=horizon,
                output_features=outputs,
                extra_inputs=extra,
            )
    chosen["linear"] = linear.predict
    return chosen


def save_linear_baseline(model_dir: ModelDir, linear: LinearBaseline) -> None:
    tensors = {name: torch.from_numpy(array) for name, array in linear.arrays().items()}
    model_dir.write_tensors(LINEAR_BASELINE, tensors)


def load_linear_baseline(
    model_dir: ModelDir, artifacts: Mapping[str, Any], data: ForecastingData
) -> LinearBaseline | None:
    """The linear baseline saved in ``model_dir`` (its config's artifacts name the file), or
    None when the directory has none (it was written before the baseline was saved)."""
    name = str(artifacts.get("linear_baseline", LINEAR_BASELINE))
    if not model_dir.file(name).exists():
        return None
    saved = model_dir.read_arrays(name)
    return LinearBaseline.from_arrays(
        weight=saved["weight"],
        bias=saved["bias"],
        input_features=len(data.columns) + data.extra_inputs,
        output_features=data.output_features,
        extra_inputs=data.extra_inputs,
    )
