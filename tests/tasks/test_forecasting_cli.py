"""`seqlab train forecasting`, `seqlab eval` and `seqlab forecast`, end to end.

One small LSTM is trained once for the module on a generated CSV (hourly rows for 50 days: a
daily cycle plus noise in two columns, the target ``temp``). The commands run in-process
through ``seqlab.cli.main`` (its return value is the exit code). Numbers the commands print are
checked against computations made here from the CSV, with the trained model used directly.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

import seqlab
from seqlab import cli
from seqlab.data.windows import WindowDataset
from seqlab.tasks.forecasting.predictor import ForecastingPredictor

# Every test here uses the module's trained model (or its folder): training it end to end takes
# about 3 s, so the whole module is slow.
pytestmark = pytest.mark.slow

ROWS = 24 * 50
INPUT_LENGTH = 48
HORIZON = 12
TRAIN_SETTINGS = [
    "model.hidden_size=32",
    "train.batch_size=32",
    "train.lr=3e-3",
    "train.warmup_steps=10",
    "train.eval_every=100",
    "train.device=cpu",
]


def _series(rows: int, *, seed: int, start: str = "2024-01-01") -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    hours = np.arange(rows)
    load = 10 + 3 * np.sin(2 * np.pi * hours / 24) + rng.normal(0, 0.2, rows)
    temp = 20 + 5 * np.sin(2 * np.pi * (hours - 3) / 24) + 0.2 * load + rng.normal(0, 0.2, rows)
    stamps = pd.date_range(start, periods=rows, freq="h")
    return pd.DataFrame(
        {"date": stamps.strftime("%Y-%m-%d %H:%M"), "load": load.round(4), "temp": temp.round(4)}
    )


def _train_args(data: Path, out: Path, *extra: str, steps: int = 300) -> list[str]:
    if steps < 20:  # a smoke run: warm up and evaluate within its few steps
        extra = ("--set", "train.warmup_steps=1", "--set", f"train.eval_every={steps}", *extra)
    return [
        "train", "forecasting", "--model", "lstm", "--data", str(data), "--target", "temp",
        "--input-length", str(INPUT_LENGTH), "--horizon", str(HORIZON), "--steps", str(steps),
        *(arg for setting in TRAIN_SETTINGS for arg in ("--set", setting)),
        "--quiet", "--out", str(out), *extra,
    ]  # fmt: skip


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("forecasting")
    _series(ROWS, seed=0).to_csv(folder / "series.csv", index=False)
    # Recent data: the days after the training file, for forecasting and evaluation.
    _series(24 * 6, seed=1, start="2024-02-20").to_csv(folder / "recent.csv", index=False)
    assert cli.main(_train_args(folder / "series.csv", folder / "model")) == 0
    return folder


@pytest.fixture(scope="module")
def predictor(workspace: Path) -> ForecastingPredictor:
    return seqlab.load(workspace / "model")


def _eval_json(capsys: pytest.CaptureFixture[str], *args: str) -> dict:
    capsys.readouterr()
    assert cli.main(["eval", *args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_model_directory_holds_the_train_only_scaler(workspace: Path) -> None:
    model = workspace / "model"
    for name in ("config.json", "model.safetensors", "metrics.json", "linear_baseline.safetensors"):
        assert (model / name).is_file(), name
    config = json.loads((model / "config.json").read_text())
    assert config["task"] == "forecasting" and config["model"]["family"] == "lstm"
    assert config["data"]["input_length"] == INPUT_LENGTH and config["data"]["target"] == "temp"
    train_rows = int(ROWS * 0.7)
    values = pd.read_csv(workspace / "series.csv")["temp"].to_numpy(np.float32).astype(np.float64)
    scaler = config["artifacts"]["scaler"]
    assert scaler["columns"] == ["temp"]
    np.testing.assert_allclose(scaler["mean"], [values[:train_rows].mean()], rtol=1e-14)
    np.testing.assert_allclose(scaler["std"], [values[:train_rows].std()], rtol=1e-14)
    assert scaler["mean"][0] != pytest.approx(values.mean(), rel=1e-9)  # train rows only


def test_eval_json_equals_a_hand_computation_and_beats_repeat(
    workspace: Path, predictor: ForecastingPredictor, capsys: pytest.CaptureFixture[str]
) -> None:
    report = _eval_json(capsys, str(workspace / "model"))
    for key in ("mse", "mae", "mse_original", "mae_original", "per_horizon", "baselines", "data"):
        assert key in report
    assert len(report["per_horizon"]["mse"]) == HORIZON
    assert set(report["baselines"]) == {"repeat", "seasonal_24", "linear", "nlinear", "dlinear"}
    metrics = json.loads((workspace / "model" / "metrics.json").read_text())
    assert metrics["metrics"]["mse"] == pytest.approx(report["mse"], rel=1e-9)

    # Every test window, recomputed with the model and WindowDataset directly.
    config = json.loads((workspace / "model" / "config.json").read_text())
    mean, std = config["artifacts"]["scaler"]["mean"][0], config["artifacts"]["scaler"]["std"][0]
    raw = pd.read_csv(workspace / "series.csv")["temp"].to_numpy(np.float32).astype(np.float64)
    scaled = ((raw - mean) / std)[:, None]  # (N, 1)
    test_rows = int(ROWS * 0.2)
    windows = WindowDataset(
        scaled, input_length=INPUT_LENGTH, horizon=HORIZON,
        rows=range(ROWS - test_rows - INPUT_LENGTH, ROWS),
    )  # fmt: skip
    batch = windows.batch(range(len(windows)))
    with torch.no_grad():
        forecast = predictor.model(batch.inputs)[..., 0].double()  # (W, horizon)
    error = (forecast - batch.targets.double()).numpy()  # (W, horizon)
    assert report["windows"] == len(windows) == test_rows - HORIZON + 1
    assert report["mse"] == pytest.approx(float(np.mean(error**2)), rel=1e-5)
    assert report["mae"] == pytest.approx(float(np.mean(np.abs(error))), rel=1e-5)
    assert report["mse_original"] == pytest.approx(report["mse"] * std**2, rel=1e-9)
    # Repeat the last value: computed from the windows with numpy.
    history = batch.inputs[..., 0].double().numpy()  # (W, T)
    repeat = np.repeat(history[:, -1:], HORIZON, axis=1)  # (W, horizon)
    truth = batch.targets.double().numpy()
    repeat_mse = float(np.mean((repeat - truth) ** 2))
    assert report["baselines"]["repeat"]["mse"] == pytest.approx(repeat_mse, rel=1e-6)
    # The trained LSTM has learned the daily cycle: far better than persistence.
    assert report["mse"] < 0.5 * repeat_mse


def test_eval_table_shows_the_baselines_beside_the_model(
    workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    assert cli.main(["eval", str(workspace / "model"), "--split", "val"]) == 0
    out = capsys.readouterr().out
    assert "the model beside the baselines" in out
    for row in ("model (lstm)", "repeat", "seasonal_24", "linear", "mse_original"):
        assert row in out
    assert "per horizon step" in out


def test_eval_on_another_file_uses_every_window_of_it(
    workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    recent = workspace / "recent.csv"
    report = _eval_json(capsys, str(workspace / "model"), "--data", str(recent))
    assert report["windows"] == 24 * 6 - INPUT_LENGTH - HORIZON + 1
    assert report["data"]["source"] == str(recent)
    assert report["mse"] < report["baselines"]["repeat"]["mse"]


def test_forecast_continues_the_series_frequency(
    workspace: Path, predictor: ForecastingPredictor, capsys: pytest.CaptureFixture[str]
) -> None:
    recent = workspace / "recent.csv"
    capsys.readouterr()
    assert cli.main(["forecast", str(workspace / "model"), "--data", str(recent)]) == 0
    result = json.loads(capsys.readouterr().out)
    last = pd.Timestamp(pd.read_csv(recent)["date"].iloc[-1])
    stamps = [pd.Timestamp(text) for text in result["timestamps"]]
    assert stamps == [last + pd.Timedelta(hours=k) for k in range(1, HORIZON + 1)]
    assert result["last_observed"] == last.isoformat() and result["frequency"] == "h"
    assert list(result["values"]) == ["temp"] and len(result["values"]["temp"]) == HORIZON

    # The same numbers from Python, from a path and from a DataFrame with a DatetimeIndex.
    expected = predictor.forecast(recent)
    np.testing.assert_allclose(result["values"]["temp"], expected["temp"].to_numpy(), rtol=1e-12)
    frame = pd.read_csv(recent, index_col="date", parse_dates=True)
    pd.testing.assert_frame_equal(predictor.forecast(frame), expected)
    # In the data's units: near the noise-free cycle that generated the data.
    hours = np.arange(24 * 6, 24 * 6 + HORIZON)
    truth = 22 + 5 * np.sin(2 * np.pi * (hours - 3) / 24) + 0.6 * np.sin(2 * np.pi * hours / 24)
    assert np.abs(expected["temp"].to_numpy() - truth).max() < 2.0


def test_forecast_csv_table_and_plot(workspace: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model, recent = str(workspace / "model"), str(workspace / "recent.csv")
    capsys.readouterr()
    plot = workspace / "forecast.png"
    assert cli.main(["forecast", model, "--data", recent, "--format", "csv",
                     "--plot", str(plot)]) == 0  # fmt: skip
    captured = capsys.readouterr()
    rows = list(csv.reader(io.StringIO(captured.out)))
    assert rows[0] == ["timestamp", "temp"] and len(rows) == HORIZON + 1
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert f"wrote {plot}" in captured.err
    assert cli.main(["forecast", model, "--data", recent, "--format", "table"]) == 0
    assert "temp" in capsys.readouterr().out


def test_forecast_refuses_too_short_data_and_missing_columns(
    workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    short = workspace / "short.csv"
    _series(INPUT_LENGTH - 8, seed=2).to_csv(short, index=False)
    capsys.readouterr()
    assert cli.main(["forecast", str(workspace / "model"), "--data", str(short)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (
        f"seqlab: error: {short}: {INPUT_LENGTH - 8} rows, the model reads the last "
        f"input_length = {INPUT_LENGTH} rows to forecast; give at least {INPUT_LENGTH} rows"
    )
    renamed = workspace / "renamed.csv"
    _series(100, seed=3).rename(columns={"temp": "temperature"}).to_csv(renamed, index=False)
    assert cli.main(["forecast", str(workspace / "model"), "--data", str(renamed)]) == 2
    err = capsys.readouterr().err
    assert "no column 'temp'; the model reads temp and the file has: date, load, temperature" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_train_with_a_bad_target_lists_the_columns(
    workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    args = _train_args(workspace / "series.csv", workspace / "bad", "--target", "oil", steps=2)
    assert cli.main(args) == 2
    err = capsys.readouterr().err.strip()
    assert err == (
        f"seqlab: error: {workspace / 'series.csv'}: no column 'oil' (target); the file has: "
        "date, load, temp"
    )


def test_train_reports_the_repairs_it_made(
    workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    frame = _series(ROWS, seed=0)
    frame.loc[50, "temp"] = None  # line 52
    frame = frame.drop(index=[300, 301, 302])
    gappy = workspace / "gappy.csv"
    frame.to_csv(gappy, index=False)
    args = _train_args(gappy, workspace / "gappy-model", steps=2)
    args.remove("--quiet")
    capsys.readouterr()
    assert cli.main(args) == 0
    err = capsys.readouterr().err
    assert "3 missing row(s) inserted" in err and "line 52, column 'temp'" in err
    assert "mse on the same" in err and "repeat" in err
    metrics = json.loads((workspace / "gappy-model" / "metrics.json").read_text())
    fixes = metrics["metrics"]["data"]["fixes"]
    assert len(fixes) == 2 and "gap(s)" in fixes[0] and "missing value(s)" in fixes[1]
    assert metrics["metrics"]["data"]["rows_inserted"] == 3
