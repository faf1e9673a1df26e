"""Has the newest period of a series drifted from what a forecaster was trained on?

References: seqlab.data.drift (the population stability index, the two-sample Kolmogorov-Smirnov
statistic and their readings); Kunsch, 1989, "The Jackknife and the Bootstrap for General
Stationary Observations" (means over consecutive blocks keep a series' dependence, which is why
the error threshold below is taken over stretches of consecutive windows rather than from a
z-test that would treat overlapping windows as independent).

What training records (:func:`build_reference`, saved as MONITOR_REFERENCE of seqlab.model_dir
in the model directory by ``ForecastingTask.save_trained_files``):

- ``validation.window_mse``: the trained model's mean squared error on the normalised scale for
  each validation window, in time order;
- ``inputs``: for each column the model reads, the training rows' mean and standard deviation,
  their bin edges (deciles and two 0.1% tails, seqlab.data.drift) and each bin's share (for
  PSI), each training row's bin in time order (``training_bins``, one letter per row, "a" for
  bin 0, to calibrate PSI for any period length), and a sample of at most 1,000 of their
  quantiles (for KS).

What :func:`check` compares, over the newest ``window`` rows of the data (default
``DEFAULT_WINDOW_HORIZONS`` x horizon rows: 168 for the default horizon of 24, a week of an
hourly series):

- forecast error: every window whose forecast targets lie in those rows (its input may reach
  back ``input_length`` rows before them, as a validation window's does into the training
  rows): W = window - horizon + 1 windows. Their mean error is compared with the means of every
  stretch of W consecutive validation windows, and flagged when it exceeds the
  ``ERROR_QUANTILE`` (99th) percentile of them. So when recent errors behave like validation
  errors, a check raises a false alarm about 1 time in 100 (the checkpoint was chosen on
  validation, so validation errors are slightly optimistic and the real rate slightly higher).
  Stretches are consecutive because neighbouring windows share most of their values: their
  errors are far from independent, and a z-test on the mean would alarm much more often than it
  says. For the same reason the stretches must not overlap too much: when the validation period
  holds fewer than ``MIN_BLOCKS`` (10) x W windows, the stretches are shortened to a tenth of it
  (so it holds 10 disjoint ones). A mean over fewer windows varies more, so the threshold can
  only rise: fewer false alarms, later detection. With the defaults on ETTh1 (2,857 validation
  windows, W = 145) no shortening happens.
- input drift, per column: PSI of the recent rows over the training bins, flagged above the larger
  of the conventional ``PSI_SIGNIFICANT`` (0.25) and the ``INPUT_QUANTILE`` (99th) percentile of the
  PSIs of every stretch of as many consecutive training rows (stretches shortened as above when the
  training rows hold fewer than 10 of them end to end). The conventional reading alone (below 0.1
  stable, 0.1 to 0.25 moderate, above 0.25 significant, reported as ``psi_reading``) suits a steady
  series, where a week of rows like the training data scores about 0.05 (0.01 to 0.05 for the
  generated series of the tests); a seasonal one strays far more within its own training data: on
  ETTh1 the median week of the training year scores 4 against the year and the least 0.9 (a week
  spans a narrow slice of a year's temperatures), and a fixed 0.25 would call every week drift.
  Calibrated, a column raises a false alarm about 1 time in 100 when the recent period is like a
  stretch of training. KS and the mean shift (in training standard deviations) are reported to say
  how the distribution moved; they do not decide, since a p-value would assume independent rows (see
  seqlab.data.drift).

The status is DRIFT when either check flags, else OK; ``reasons`` gives one line per flag. With
F input columns the checks together raise a false alarm up to (1 + F) times in 100.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from torch import nn

from seqlab.data.drift import (
    PSI_BINS,
    bin_index,
    bin_proportions,
    ks_statistic,
    population_stability_index,
    quantile_bin_edges,
    reference_sample,
    stretch_psi,
)
from seqlab.data.series import SeriesFrame
from seqlab.data.windows import SplitBounds
from seqlab.errors import SeqlabError
from seqlab.model_dir import MONITOR_REFERENCE, ModelDir
from seqlab.tasks.forecasting.data import ForecastingData
from seqlab.tasks.forecasting.metrics import window_errors

__all__ = [
    "DEFAULT_WINDOW_HORIZONS",
    "ERROR_QUANTILE",
    "INPUT_QUANTILE",
    "MIN_BLOCKS",
    "PSI_MODERATE",
    "PSI_SIGNIFICANT",
    "build_reference",
    "check",
    "error_threshold",
    "input_threshold",
    "load_reference",
]

REFERENCE_FORMAT = 1  # raise when the file's meaning changes; monitor then asks to retrain
DEFAULT_WINDOW_HORIZONS = 7
ERROR_QUANTILE = 0.99
INPUT_QUANTILE = 0.99
MIN_BLOCKS = 10
PSI_MODERATE = 0.1
PSI_SIGNIFICANT = 0.25
KS_SAMPLE_SIZE = 1000


def build_reference(
    *,
    validation_errors: np.ndarray,
    training_values: np.ndarray,
    columns: Sequence[str],
    bounds: SplitBounds,
) -> dict[str, Any]:
    """What monitor compares against, JSON-ready: ``validation_errors`` (W_val,), the trained
    model's mean squared error of each validation window in time order; ``training_values``
    (N_train, F), the training rows of each of the ``columns`` the model reads; ``bounds``, the
    splits they come from."""
    errors = np.asarray(validation_errors, dtype=np.float64)  # (W_val,)
    train = np.asarray(training_values).astype(np.float64)  # (N_train, F)
    if train.ndim != 2 or train.shape[1] != len(columns):
        raise ValueError(
            f"training_values {tuple(train.shape)} must be (rows, {len(columns)}): one column "
            f"for each of {', '.join(columns)}"
        )
    inputs: dict[str, Any] = {}
    for index, column in enumerate(columns):
        values = train[:, index]  # (N_train,)
        edges = quantile_bin_edges(values, PSI_BINS)
        inputs[column] = {
            "mean": float(values.mean()),
            "std": float(values.std()),
            "bin_edges": edges.tolist(),
            "bin_proportions": bin_proportions(values, edges).tolist(),
            # One letter per row, "a" for bin 0: compact, and read back with one frombuffer.
            "training_bins": _letters(bin_index(values, edges)),
            "sample": reference_sample(values, KS_SAMPLE_SIZE).tolist(),
        }
    return {
        "format": REFERENCE_FORMAT,
        "training_rows": [bounds.train.start, bounds.train.stop],
        "validation": {
            "target_rows": [bounds.val.first_target, bounds.val.stop],
            "windows": int(errors.size),
            "mse": float(errors.mean()),
            "window_mse": errors.tolist(),
        },
        "inputs": inputs,
    }


def _letters(bins: np.ndarray) -> str:
    """Bin numbers (N,) in 0..25 as one letter each, "a" for 0."""
    if bins.size and int(bins.max()) >= 26:
        raise ValueError(f"{int(bins.max()) + 1} bins do not fit one letter each; use at most 26")
    return (bins.astype(np.uint8) + ord("a")).tobytes().decode("ascii")


def load_reference(model_dir: Path) -> dict[str, Any]:
    """The monitor reference of ``model_dir``; a one-line error when it is missing or bad."""
    directory = ModelDir(Path(model_dir))
    path = directory.file(MONITOR_REFERENCE)
    if not path.is_file():
        raise SeqlabError(
            f"{model_dir} has no {MONITOR_REFERENCE} (it was trained before seqlab recorded the "
            "validation errors and training distributions that monitor compares against); "
            f"write a new directory that has one with 'seqlab retrain {model_dir} --data "
            "NEW.csv --out NEW_DIR' or 'seqlab train forecasting'"
        )
    reference = directory.read_json(MONITOR_REFERENCE)
    if not isinstance(reference, dict) or reference.get("format") != REFERENCE_FORMAT:
        raise SeqlabError(
            f"{path} is not a format-{REFERENCE_FORMAT} monitor reference; was it edited by "
            "hand? Retrain the model to write it again"
        )
    return reference


def error_threshold(
    validation_errors: np.ndarray, windows: int, *, quantile: float = ERROR_QUANTILE
) -> dict[str, Any]:
    """The alarm level for the mean error of ``windows`` consecutive windows: the ``quantile``
    of the means of every stretch of that many consecutive validation windows, the stretches
    shortened to count // MIN_BLOCKS windows when the validation period is shorter than
    MIN_BLOCKS of them. Returns the threshold and how it was made."""
    errors = np.asarray(validation_errors, dtype=np.float64)  # (N,)
    count = int(errors.size)
    if count == 0:
        raise SeqlabError("the monitor reference holds no validation windows; retrain the model")
    stretch = max(1, min(windows, count // MIN_BLOCKS))
    totals = np.concatenate([[0.0], np.cumsum(errors)])  # (N + 1,)
    means = (totals[stretch:] - totals[:-stretch]) / stretch  # (N - stretch + 1,)
    return {
        "threshold": float(np.quantile(means, quantile)),
        "quantile": quantile,
        "stretch_windows": stretch,
        "stretches": int(means.size),
        "reference_windows": count,
    }


def input_threshold(
    training_bins: str, proportions: list[float], rows: int, *, quantile: float = INPUT_QUANTILE
) -> dict[str, Any]:
    """The alarm level for the PSI of ``rows`` recent rows of one column: the larger of
    PSI_SIGNIFICANT and the ``quantile`` of the PSIs of every stretch of that many consecutive
    training rows (shortened to count // MIN_BLOCKS rows when there are fewer than MIN_BLOCKS
    of them). ``training_bins``: each training row's bin, one letter per row ("a" is bin 0)."""
    bins = np.frombuffer(training_bins.encode("ascii"), dtype=np.uint8) - ord("a")  # (N,)
    stretch = max(1, min(rows, bins.size // MIN_BLOCKS))
    psis = stretch_psi(bins, np.asarray(proportions), stretch)  # (N - stretch + 1,)
    return {
        "threshold": max(PSI_SIGNIFICANT, float(np.quantile(psis, quantile))),
        "stretch_rows": stretch,
    }


def _psi_reading(psi: float) -> str:
    """The conventional reading of a PSI value."""
    if psi > PSI_SIGNIFICANT:
        return "significant"
    return "moderate" if psi >= PSI_MODERATE else "stable"


def check(
    data: ForecastingData,
    model: nn.Module,
    reference: dict[str, Any],
    frame: SeriesFrame,
    *,
    window: int | None = None,
) -> dict[str, Any]:
    """Compare the newest ``window`` rows of ``frame`` with ``reference``, the model's windows
    cut and scaled as ``data`` says; JSON-ready: ``status`` ("OK" or "DRIFT"), ``reasons``,
    ``period``, ``error`` and ``inputs``."""
    length, horizon = data.config.input_length, data.config.horizon
    rows = DEFAULT_WINDOW_HORIZONS * horizon if window is None else window
    if rows < horizon:
        raise SeqlabError(
            f"--window ({rows}) must be at least the horizon ({horizon}) so that one forecast "
            "fits in it"
        )
    if len(frame) < rows + length:
        raise SeqlabError(
            f"{frame.source}: {len(frame)} rows; monitoring the last {rows} needs the "
            f"input_length = {length} rows before them too ({rows + length} in all); give more "
            "rows or a smaller --window"
        )
    missing = [column for column in data.columns if column not in reference.get("inputs", {})]
    if missing or "validation" not in reference:
        raise SeqlabError(
            f"the monitor reference does not describe column(s) {', '.join(missing)} of the "
            "model; was it edited by hand? Retrain the model to write it again"
        )
    first = len(frame) - rows
    # Forecast error: every window forecasting rows of the period, against validation stretches.
    windows = data.window_dataset(frame, rows=range(first - length, len(frame)))
    recent = window_errors(
        model, windows, batch_size=data.config.eval_batch_size, frame=frame
    )  # (W,)
    error = _error_check(recent, reference["validation"])
    # Input drift: each column's newest rows against its training rows.
    checked = {
        column: _input_check(frame.values[first:, index], reference["inputs"][column], rows)
        for index, column in enumerate(data.columns)
    }
    inputs = {column: figures for column, (figures, _) in checked.items()}
    reasons = [] if error["status"] == "OK" else [_error_reason(error)]
    for column, (figures, stretch_rows) in checked.items():
        if figures["status"] == "DRIFT":
            reasons.append(_input_reason(column, figures, stretch_rows))
    return {
        "status": "DRIFT" if reasons else "OK",
        "reasons": reasons,
        "source": frame.source,
        "period": {
            "rows": rows,
            "first": frame.timestamps[first].isoformat(),
            "last": frame.timestamps[-1].isoformat(),
        },
        "error": error,
        "inputs": inputs,
        "rules": {
            "error_quantile": ERROR_QUANTILE,
            "input_quantile": INPUT_QUANTILE,
            "psi_moderate": PSI_MODERATE,
            "psi_significant": PSI_SIGNIFICANT,
        },
        "data_fixes": frame.report.fixes(),
    }


def _error_check(recent: np.ndarray, validation: dict[str, Any]) -> dict[str, Any]:
    """The recent windows' errors (W,) against stretches of W consecutive validation windows."""
    limit = error_threshold(np.asarray(validation["window_mse"]), int(recent.size))
    recent_mse = float(recent.mean())
    validation_mse = float(validation["mse"])
    return {
        "recent_mse": recent_mse,
        **limit,
        "windows": int(recent.size),
        "validation_mse": validation_mse,
        "ratio_to_validation": recent_mse / validation_mse if validation_mse > 0 else None,
        "status": "DRIFT" if recent_mse > limit["threshold"] else "OK",
    }


def _error_reason(error: dict[str, Any]) -> str:
    return (
        f"forecast error: recent mse {error['recent_mse']:.4g} over {error['windows']} windows "
        f"exceeds {error['threshold']:.4g}, the {ERROR_QUANTILE:.0%} point of the mean over "
        f"{error['stretch_windows']} consecutive validation windows (validation mse "
        f"{error['validation_mse']:.4g})"
    )


def _input_check(
    recent: np.ndarray, saved: dict[str, Any], rows: int
) -> tuple[dict[str, Any], int]:
    """One column's newest ``rows`` values (rows,) against its training rows, as ``saved``:
    (its figures, the training stretch length its threshold was taken over)."""
    values = recent.astype(np.float64)  # (rows,)
    edges = np.asarray(saved["bin_edges"], dtype=np.float64)
    psi = population_stability_index(saved["bin_proportions"], bin_proportions(values, edges))
    level = input_threshold(saved["training_bins"], saved["bin_proportions"], rows)
    std = saved["std"] if saved["std"] > 0 else 1.0  # a constant column: as the scaler does
    figures = {
        "psi": psi,
        "psi_threshold": level["threshold"],
        "psi_reading": _psi_reading(psi),
        "ks": ks_statistic(np.asarray(saved["sample"]), values),
        "mean_shift_in_std": (float(values.mean()) - saved["mean"]) / std,
        "status": "DRIFT" if psi > level["threshold"] else "OK",
    }
    return figures, int(level["stretch_rows"])


def _input_reason(column: str, figures: dict[str, Any], stretch_rows: int) -> str:
    return (
        f"input '{column}': psi {figures['psi']:.3g} exceeds {figures['psi_threshold']:.3g}, "
        f"the {INPUT_QUANTILE:.0%} point over stretches of {stretch_rows} training "
        f"rows (ks {figures['ks']:.3g}, mean shifted {figures['mean_shift_in_std']:+.2f} "
        "training std)"
    )
