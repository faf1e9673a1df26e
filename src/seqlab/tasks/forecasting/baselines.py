"""The baselines a forecasting report shows beside the model, chosen and fitted for its data.

References: Zeng et al., 2023, "Are Transformers Effective for Time Series Forecasting?" (repeat
the last value, Linear, NLinear and DLinear beside every network); Hyndman and Athanasopoulos,
"Forecasting: Principles and Practice", 3rd ed., sec. 5.2 (seasonal naive). The forecasts
themselves are computed in seqlab.models.forecast_baselines; this module only picks them and
fits the least-squares ones.

Which: ``repeat``; ``seasonal_24`` and ``seasonal_168`` (a day and a week of an hourly series),
each when the input window holds one whole period; ``linear`` and ``nlinear``, each fitted by
least squares on every training window (normalised scale) and on nothing else; ``dlinear``,
fitted by ridge regression on every training window and on nothing else, its penalty lambda the
one of DLINEAR_RIDGE_GRID (seqlab.models.forecast_baselines) whose fit forecasts the validation
windows best (without a penalty it would forecast as ``linear`` does; the class says why). Each
candidate is fitted on the training windows alone, so the one kept is the training-window fit
with the chosen lambda; lambda is saved with it and the report's ``dlinear`` entry shows it
(:meth:`FittedBaselines.details`). The training and validation windows are always those of the
training series, also when the model is evaluated on another file. The least-squares ones are
saved beside the weights (LINEAR_BASELINE, NLINEAR_BASELINE and
DLINEAR_BASELINE of seqlab.model_dir, named in config.json's artifacts as ``<name>_baseline``), so
an evaluation on another file reports them without the training data. A directory written before
one was saved refits it from its training series; where that series cannot be read, the linear
baseline is an error (as it always was), while nlinear and dlinear, which older directories never
had, are left out of the report with the reason (:class:`FittedBaselines`).

Shapes: N windows, T the input length, ``horizon`` the steps forecast, F_in the model's input
columns, F_out the forecast columns.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np
import torch

from seqlab.errors import SeqlabError
from seqlab.model_dir import DLINEAR_BASELINE, LINEAR_BASELINE, NLINEAR_BASELINE, ModelDir
from seqlab.models.forecast_baselines import (
    Array,
    DLinearBaseline,
    LinearBaseline,
    NLinearBaseline,
    repeat_last,
    seasonal_naive,
)
from seqlab.tasks.forecasting.data import ForecastingData
from seqlab.tasks.forecasting.metrics import as_outputs

# Seasonal naive periods, in steps: a day and a week of an hourly series.
SEASONAL_PERIODS = (24, 168)

# Windows (N, T, F_in) on the normalised scale -> forecasts (N, horizon, F_out).
BaselineForecast = Callable[[np.ndarray], Array]

FittedBaseline = LinearBaseline | NLinearBaseline | DLinearBaseline
# The least-squares baselines beside ``linear``, in the order the report lists them.
Companion = NLinearBaseline | DLinearBaseline
COMPANIONS = ("nlinear", "dlinear")

# Each least-squares baseline's file in the model directory, and the arrays that file holds.
BASELINE_FILES = {
    "linear": LINEAR_BASELINE,
    "nlinear": NLINEAR_BASELINE,
    "dlinear": DLINEAR_BASELINE,
}
_SAVED_ARRAYS = {
    "linear": ("bias", "weight"),
    "nlinear": ("bias", "weight"),
    "dlinear": ("bias", "kernel_size", "remainder_weight", "ridge", "trend_weight"),
}


@dataclass(frozen=True)
class FittedBaselines:
    """The least-squares baselines of one model: ``linear``, the ``companions`` (nlinear and
    dlinear, by name) it has, and why any companion is missing (``left_out``, name -> reason)."""

    linear: LinearBaseline
    companions: dict[str, Companion] = field(default_factory=dict)
    left_out: dict[str, str] = field(default_factory=dict)

    def all(self) -> dict[str, FittedBaseline]:
        """name -> baseline, linear first."""
        return {"linear": self.linear, **self.companions}

    def details(self) -> dict[str, dict[str, float]]:
        """name -> what the report's entry for that baseline adds to its errors: dlinear's
        ``ridge``, the lambda its validation windows chose (0: it forecasts as linear does)."""
        dlinear = self.companions.get("dlinear")
        if isinstance(dlinear, DLinearBaseline):
            return {"dlinear": {"ridge": float(dlinear.ridge)}}
        return {}


def baseline_artifacts() -> dict[str, str]:
    """config.json's artifacts naming each least-squares baseline's file."""
    return {f"{name}_baseline": file for name, file in BASELINE_FILES.items()}


def unfitted_baseline(name: str, data: ForecastingData) -> FittedBaseline:
    """The least-squares baseline ``name`` set up for ``data``'s columns, not yet fitted."""
    outputs, extra = data.output_features, data.extra_inputs
    if name == "linear":
        return LinearBaseline(output_features=outputs, extra_inputs=extra)
    if name == "nlinear":
        return NLinearBaseline(output_features=outputs, extra_inputs=extra)
    if name == "dlinear":
        return DLinearBaseline(output_features=outputs, extra_inputs=extra)
    raise ValueError(
        f"no least-squares baseline named {name!r}; one of {', '.join(BASELINE_FILES)}"
    )


def fit_dlinear(
    data: ForecastingData, training: tuple[torch.Tensor, torch.Tensor] | None = None
) -> DLinearBaseline:
    """DLinear fitted on every training window (``training``, else read now) by ridge
    regression, lambda chosen on the validation windows of the training series (normalised)."""
    inputs, targets = training if training is not None else split_windows(data, "train")
    val_inputs, val_targets = split_windows(data, "val")
    baseline = unfitted_baseline("dlinear", data)
    assert isinstance(baseline, DLinearBaseline)
    return baseline.fit_choosing_ridge(inputs, targets, val_inputs, val_targets)


def fit_baselines(
    data: ForecastingData, saved: Mapping[str, FittedBaseline] | None = None
) -> FittedBaselines:
    """The baselines ``saved`` in a model directory as they are, the others fitted on every
    training window (normalised; dlinear's penalty chosen on the validation windows). The linear
    baseline needs the training series when it was not saved (its error says which file);
    companions that cannot be fitted for want of the training series, or dlinear for want of
    validation windows, are left out, with the reason."""
    fitted = dict(saved or {})
    missing = [name for name in BASELINE_FILES if name not in fitted]
    left_out: dict[str, str] = {}
    if missing:
        try:
            training = split_windows(data, "train")  # read once for every missing baseline
        except SeqlabError as error:
            if "linear" in missing:
                raise
            reason = (
                "the model directory was written before it was saved, and the training series "
                f"to fit it on cannot be read: {error}"
            )
            left_out = dict.fromkeys(missing, reason)
        else:
            for name in missing:
                try:
                    fitted[name] = _fit(name, data, training)
                except SeqlabError as error:  # dlinear's validation windows: too few rows
                    if name == "linear":
                        raise
                    left_out[name] = f"no validation windows to choose its penalty on: {error}"
    linear = fitted.pop("linear")
    assert isinstance(linear, LinearBaseline)
    companions = {
        name: baseline
        for name, baseline in fitted.items()
        if isinstance(baseline, NLinearBaseline | DLinearBaseline)
    }
    return FittedBaselines(linear=linear, companions=companions, left_out=left_out)


def _fit(
    name: str, data: ForecastingData, training: tuple[torch.Tensor, torch.Tensor]
) -> FittedBaseline:
    """Baseline ``name`` fitted on the ``training`` windows (dlinear: and tuned on the
    validation windows)."""
    if name == "dlinear":
        return fit_dlinear(data, training)
    return unfitted_baseline(name, data).fit(*training)


def report_baselines(
    data: ForecastingData,
    linear: LinearBaseline,
    companions: Mapping[str, Companion] | None = None,
) -> dict[str, BaselineForecast]:
    """name -> forecast function, in the order the report lists them: repeat, the seasonal ones,
    linear, then ``companions`` (nlinear, dlinear) as COMPANIONS orders them."""
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
    for name in COMPANIONS:
        if companions and name in companions:
            chosen[name] = companions[name].predict
    return chosen


# ---- the model directory ----
def save_baselines(model_dir: ModelDir, baselines: FittedBaselines) -> None:
    """Each fitted least-squares baseline to its file (BASELINE_FILES)."""
    for name, baseline in baselines.all().items():
        tensors = {key: torch.from_numpy(array) for key, array in baseline.arrays().items()}
        model_dir.write_tensors(BASELINE_FILES[name], tensors)


def load_baselines(
    model_dir: ModelDir, artifacts: Mapping[str, Any], data: ForecastingData
) -> dict[str, FittedBaseline]:
    """name -> the least-squares baselines saved in ``model_dir`` (config.json's artifacts name
    each file, ``<name>_baseline``, else BASELINE_FILES); those the directory lacks (it was
    written before they were saved) are absent."""
    loaded: dict[str, FittedBaseline] = {}
    for name, default in BASELINE_FILES.items():
        file = str(artifacts.get(f"{name}_baseline", default))
        if model_dir.file(file).exists():
            loaded[name] = _from_file(name, model_dir, file, data)
    return loaded


def _from_file(name: str, model_dir: ModelDir, file: str, data: ForecastingData) -> FittedBaseline:
    """Baseline ``name`` rebuilt from the arrays of ``file``; a one-line error naming the file
    when one is missing."""
    saved = model_dir.read_arrays(file)
    columns = {
        "input_features": len(data.columns) + data.extra_inputs,
        "output_features": data.output_features,
        "extra_inputs": data.extra_inputs,
    }
    expected = _SAVED_ARRAYS[name]
    if tuple(sorted(saved)) != expected:
        raise SeqlabError(
            f"{model_dir.file(file)}: holds {', '.join(sorted(saved)) or 'nothing'}, not the "
            f"{name} baseline's {', '.join(expected)}; delete the file to refit the baseline from "
            "the training series, or retrain"
        )
    if name == "linear":
        return LinearBaseline.from_arrays(weight=saved["weight"], bias=saved["bias"], **columns)
    if name == "nlinear":
        return NLinearBaseline.from_arrays(weight=saved["weight"], bias=saved["bias"], **columns)
    return DLinearBaseline.from_arrays(
        trend_weight=saved["trend_weight"],
        remainder_weight=saved["remainder_weight"],
        bias=saved["bias"],
        kernel_size=int(saved["kernel_size"][0]),
        ridge=float(saved["ridge"][0]),
        **columns,
    )


def split_windows(data: ForecastingData, split: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Every window (N, T, F_in) of the training series' ``split`` and its targets (N, horizon,
    F_out), normalised: the training series' rows even where the model is evaluated on another
    file for that split, so no baseline is fitted or tuned on the rows it is scored on."""
    if data.evaluated_file(split) is None:
        windows = data.windows(split)
    else:
        windows = data.window_dataset(data.training_series(), rows=data.bounds()[split])
    everything = windows.batch(np.arange(len(windows)))
    return everything.inputs, as_outputs(everything.targets)
