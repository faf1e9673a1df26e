"""Forecast error sums and the report's choice of baselines (seqlab.tasks.forecasting.metrics and
.baselines), against numbers worked out by hand.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from seqlab.data.scaling import StandardScaler
from seqlab.data.series import SeriesFrame, read_series
from seqlab.data.windows import WindowDataset
from seqlab.errors import SeqlabError
from seqlab.models.forecast_baselines import LinearBaseline
from seqlab.tasks.forecasting.baselines import report_baselines
from seqlab.tasks.forecasting.config import ForecastingDataConfig
from seqlab.tasks.forecasting.data import ForecastingData
from seqlab.tasks.forecasting.metrics import ErrorSums, as_outputs, window_errors


def test_error_sums_average_overall_per_step_and_per_column() -> None:
    # Two windows, horizon 2, two forecast columns (B, horizon, F_out).
    error = np.array([[[1.0, -2.0], [0.0, 3.0]], [[-1.0, 0.0], [2.0, -1.0]]])
    sums = ErrorSums(horizon=2, outputs=2)
    sums.add(error[:1], 10 * error[:1])
    sums.add(error[1:], 10 * error[1:])
    # Squares: window 0 (1, 4; 0, 9), window 1 (1, 0; 4, 1): 20 over 8 values.
    metrics = sums.metrics()
    assert metrics["mse"] == pytest.approx(20 / 8) and metrics["mae"] == pytest.approx(10 / 8)
    assert metrics["mse_original"] == pytest.approx(2000 / 8)
    assert metrics["mae_original"] == pytest.approx(100 / 8)
    assert sums.windows == 2
    # Step 1: squares 1, 4, 1, 0 (6 over 4); step 2: 0, 9, 4, 1 (14 over 4).
    assert sums.per_horizon()["mse"] == pytest.approx([1.5, 3.5])
    # Column a: 1, 0, 1, 4 (6 over 4); column b: 4, 9, 0, 1 (14 over 4).
    per_column = sums.per_column(("a", "b"))
    assert per_column["a"]["mse"] == pytest.approx(1.5) and per_column["b"]["mse"] == 3.5
    assert per_column["a"]["mae"] == pytest.approx(1.0) and per_column["b"]["mae"] == 1.5


class _Zero(nn.Module):
    """Forecasts 0 for every step: each window's error is then its targets' mean square."""

    def __init__(self) -> None:
        super().__init__()
        self.unused = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.zeros(x.shape[0], 2, 1)  # (B, horizon, F_out)


class _NaN(_Zero):
    """Forecasts NaN for the windows whose input starts at row 1 or later."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.zeros(x.shape[0], 2, 1)  # (B, horizon, F_out)
        out[x[:, 0, 0] >= 1] = float("nan")
        return out


def _seven_rows(tmp_path: Path) -> SeriesFrame:
    """Hourly values 0 .. 6 (lines 2 to 8 of the file)."""
    rows = "".join(f"2024-01-01 {hour:02d}:00,{hour}\n" for hour in range(7))
    path = tmp_path / "seven.csv"
    path.write_text("date,OT\n" + rows, encoding="utf-8")
    return read_series(path)


def test_window_errors_are_each_windows_mean_square_in_time_order(tmp_path: Path) -> None:
    frame = _seven_rows(tmp_path)  # (N, F): 0 .. 6
    windows = WindowDataset(frame.values, input_length=3, horizon=2)  # targets (3, 4) .. (5, 6)
    errors = window_errors(_Zero(), windows, batch_size=2, frame=frame)  # a short last batch
    np.testing.assert_allclose(errors, [(9 + 16) / 2, (16 + 25) / 2, (25 + 36) / 2])
    assert as_outputs(torch.zeros(4, 2)).shape == (4, 2, 1)


def test_a_non_finite_forecast_is_an_error_naming_the_rows_it_read(tmp_path: Path) -> None:
    frame = _seven_rows(tmp_path)
    windows = WindowDataset(frame.values, input_length=3, horizon=2)
    with pytest.raises(SeqlabError) as caught:
        window_errors(_NaN(), windows, batch_size=2, frame=frame)
    # Window 1 reads rows 1 .. 3 of the series: lines 3 to 5 of the file.
    assert str(caught.value) == (
        f"the model's forecast from {frame.source} lines 3 to 5 (2024-01-01 01:00:00 to "
        "2024-01-01 03:00:00) is not finite (NaN or inf): those rows hold values far from the "
        "training data, or the model directory's weights are damaged; check the rows, or "
        "retrain the model"
    )


@pytest.mark.parametrize(
    ("input_length", "expected"),
    [
        (12, ["repeat", "linear"]),
        (24, ["repeat", "seasonal_24", "linear"]),
        (168, ["repeat", "seasonal_24", "seasonal_168", "linear"]),
    ],
)
def test_a_seasonal_baseline_needs_a_window_of_one_whole_period(
    input_length: int, expected: list[str]
) -> None:
    config = ForecastingDataConfig(input_length=input_length, horizon=3)
    data = ForecastingData(
        config, columns=("OT",), scaler=StandardScaler([0.0], [1.0]), frequency="h"
    )
    linear = LinearBaseline.from_arrays(
        weight=np.zeros((3, input_length)), bias=np.ones(3), input_features=1
    )
    chosen = report_baselines(data, linear)
    assert list(chosen) == expected
    windows = np.arange(2 * input_length, dtype=np.float64).reshape(2, input_length, 1)
    last = windows[:, -1:, :]  # (N, 1, F)
    np.testing.assert_array_equal(chosen["repeat"](windows), np.repeat(last, 3, axis=1))
    np.testing.assert_array_equal(chosen["linear"](windows), np.ones((2, 3, 1)))
    if "seasonal_24" in chosen:  # a day before each forecast step
        day = windows[:, input_length - 24 : input_length - 21, :]
        np.testing.assert_array_equal(chosen["seasonal_24"](windows), day)
