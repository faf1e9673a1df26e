"""ForecastingData alone (seqlab.tasks.forecasting.data): the columns, train-only scaler, splits
and windows of a tiny series whose every number is worked out by hand; a restored model's data
that reads its training file only when asked; and the user's files checked against the model.

The series: 20 hourly rows, x_k = 2k and the target y_k = 100 + k (k = 0..19). The 0.7/0.1/0.2
split gives 14 training rows, 2 validation and 4 test rows; with input_length 4 and horizon 2 the
splits hold 14 - 4 - 2 + 1 = 9, 2 - 2 + 1 = 1 and 4 - 2 + 1 = 3 windows. The training rows
k = 0..13 have mean 6.5 and population variance (14^2 - 1) / 12 = 16.25, so the scaler's means
are (13, 106.5) and its standard deviations (2 sqrt(16.25), sqrt(16.25)).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from torch.testing import assert_close

from seqlab.data.scaling import StandardScaler
from seqlab.errors import SeqlabError
from seqlab.tasks.forecasting.config import ForecastingDataConfig
from seqlab.tasks.forecasting.data import ForecastingData

ROWS = 20
STD_Y = math.sqrt(16.25)
STD_X = 2 * STD_Y


def _frame(rows: int = ROWS, *, start: str = "2024-01-01", freq: str = "h") -> pd.DataFrame:
    k = np.arange(rows)
    stamps = pd.date_range(start, periods=rows, freq=freq)
    return pd.DataFrame({"date": stamps.strftime("%Y-%m-%d %H:%M"), "x": 2 * k, "y": 100 + k})


def _write(path: Path, frame: pd.DataFrame) -> Path:
    frame.to_csv(path, index=False)
    return path


@pytest.fixture()
def csv(tmp_path: Path) -> Path:
    path = tmp_path / "series.csv"
    _frame().to_csv(path, index=False)
    return path


def _config(csv: Path) -> ForecastingDataConfig:
    return ForecastingDataConfig(
        dataset=None, file=str(csv), target="y", features="MS", input_length=4, horizon=2
    )


def test_read_fits_the_scaler_on_the_training_rows_and_cuts_every_window(csv: Path) -> None:
    data = ForecastingData.read(_config(csv))
    assert data.columns == ("x", "y") and data.forecast_columns == ("y",)
    assert (data.output_features, data.extra_inputs, data.frequency) == (1, 0, "h")
    np.testing.assert_allclose(data.scaler.mean, [13.0, 106.5], rtol=1e-15)
    np.testing.assert_allclose(data.scaler.std, [STD_X, STD_Y], rtol=1e-15)
    bounds = data.bounds()
    assert [(part.start, part.first_target, part.stop) for part in bounds] == [
        (0, 4, 14),
        (10, 14, 16),
        (12, 16, 20),
    ]
    assert [len(data.windows(split)) for split in ("train", "val", "test")] == [9, 1, 3]
    # The first test window reads rows 12..15 and forecasts the target at rows 16 and 17.
    inputs, targets = data.windows("test").window(0)
    k = torch.arange(12, 16, dtype=torch.float64)
    expected = torch.stack([(2 * k - 13.0) / STD_X, (100 + k - 106.5) / STD_Y], dim=1)  # (T, F)
    assert_close(inputs, expected.float())
    assert_close(targets, torch.tensor([(116 - 106.5) / STD_Y, (117 - 106.5) / STD_Y]).float())
    with pytest.raises(SeqlabError, match="splits train, val and test, not 'dev'"):
        data.windows("dev")


def test_the_next_input_and_the_way_back_to_the_data_units(csv: Path) -> None:
    data = ForecastingData.read(_config(csv))
    window = data.input_window(data.training_series())  # the last 4 rows, k = 16..19
    k = np.arange(16, 20, dtype=np.float64)
    expected = np.stack([(2 * k - 13.0) / STD_X, (100 + k - 106.5) / STD_Y], axis=1)[None]
    np.testing.assert_allclose(window.numpy(), expected, rtol=1e-6)
    # A forecast of (0, 1) standard deviations is the target's mean, then one std above it.
    original = data.to_original(np.array([[[0.0], [1.0]]]))  # (1, horizon, F_out)
    np.testing.assert_allclose(original, [[[106.5], [106.5 + STD_Y]]], rtol=1e-15)
    with pytest.raises(SeqlabError, match=r"3 rows, the model reads the last input_length = 4"):
        data.input_window(data.read_file(_write(csv.parent / "short.csv", _frame(3))))


def test_restored_data_reads_its_training_file_only_when_asked(csv: Path) -> None:
    scaler = StandardScaler([13.0, 106.5], [STD_X, STD_Y], columns=("x", "y"))
    moved = csv.with_name("moved.csv")
    csv.rename(moved)
    data = ForecastingData.restored(_config(csv), columns=("x", "y"), scaler=scaler, frequency="h")
    # Forecasting needs no training file: a recent file, scaled with the saved statistics.
    recent = data.read_file(_write(csv.parent / "recent.csv", _frame(6, start="2024-01-02")))
    window = data.input_window(recent)  # rows k = 2..5 of the recent file
    np.testing.assert_allclose(window[0, :, 1].numpy(), (100 + np.arange(2, 6) - 106.5) / STD_Y)
    with pytest.raises(SeqlabError, match="no such file"):
        data.windows("val")
    moved.rename(csv)
    assert len(data.windows("val")) == 1  # read now that it is back


def test_an_evaluation_file_gives_every_window_and_must_match_the_model(csv: Path) -> None:
    data = ForecastingData.read(_config(csv))
    recent = _write(csv.parent / "recent.csv", _frame(8, start="2024-01-02"))
    on_file = data.with_evaluation_file(recent, split="test")
    assert len(on_file.windows("test")) == 8 - 4 - 2 + 1
    assert on_file.evaluated_file("test") is not None and on_file.evaluated_file("val") is None
    assert len(on_file.windows("val")) == 1  # the other splits stay those of the series
    half_hourly = _write(csv.parent / "half.csv", _frame(8, freq="30min"))
    with pytest.raises(SeqlabError, match="one row every '30min', the model was trained on one"):
        data.with_evaluation_file(half_hourly, split="test")
    no_x = _write(csv.parent / "no_x.csv", _frame(8).drop(columns=["x"]))
    with pytest.raises(SeqlabError, match="no column 'x'; the model reads x, y and the file has"):
        data.with_evaluation_file(no_x, split="test")
    with pytest.raises(SeqlabError, match="not 'dev'"):
        data.with_evaluation_file(recent, split="dev")
