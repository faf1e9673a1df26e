"""ForecastingTask on small generated series: the train-only scaler, the loss as a sum, the
windows of each split, evaluation numbers against independent computations, the baselines, the
data repairs in the report, configuration errors, and (when SEQLAB_DATA is set) ETTh1's splits.

Most checks use a freshly built (untrained) model in eval mode, whose forecasts are
deterministic, so every number is compared against a computation made here from the CSV with
numpy and ``WindowDataset``, not through the task.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from _forecasting_runs import hourly_series
from torch.testing import assert_close

from seqlab.data.sources import resolve_file
from seqlab.data.windows import WindowDataset, calendar_features
from seqlab.errors import SeqlabError
from seqlab.model_dir import MONITOR_REFERENCE, ModelDir
from seqlab.models.forecaster import ChannelIndependent
from seqlab.tasks.configuration import build_run_config
from seqlab.tasks.forecasting.task import ForecastingTask
from seqlab.tasks.runner import evaluate_split, train_run

# Captured at import: other test modules point SEQLAB_DATA at temporary folders while they run.
_REAL_DATA = os.environ.get("SEQLAB_DATA", "").strip()

INPUT_LENGTH = 48
HORIZON = 12
ROWS = 24 * 40  # 960 hourly rows: ratio split 672 / 96 / 192


def series_frame(rows: int = ROWS, *, seed: int = 0) -> pd.DataFrame:
    """Hourly rows: a daily cycle plus noise in three columns, the target ``temp`` last."""
    return hourly_series(
        rows, seed=seed, noise=0.3, start="2024-03-01", timestamp_column="timestamp",
        time_format="%Y-%m-%d %H:%M:%S",
    )  # fmt: skip


def write_series(path: Path, frame: pd.DataFrame | None = None) -> Path:
    (series_frame() if frame is None else frame).to_csv(path, index=False)
    return path


def make_task(csv: Path, *settings: str, family: str = "lstm") -> ForecastingTask:
    run = build_run_config(
        "forecasting",
        family=family,
        overrides=[
            f"data.file={csv}",
            "data.target=temp",
            f"data.input_length={INPUT_LENGTH}",
            f"data.horizon={HORIZON}",
            *(["model.hidden_size=8"] if family != "transformer" else []),
            "train.batch_size=16",
            "train.device=cpu",
            # The network itself, not averaged with a baseline (test_forecasting_combination).
            "model.combine_with=null",
            *settings,
        ],
    )
    return ForecastingTask(run)


def untrained(task: ForecastingTask, *, seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return task.build_model().eval()


def scaled_columns(csv: Path, columns: list[str], train_stop: int) -> tuple[np.ndarray, ...]:
    """(scaled values (N, F), mean (F,), std (F,)): z-scores from the first train_stop rows, of
    the values as float32 (the precision a series is held in)."""
    raw = pd.read_csv(csv)[columns].to_numpy(np.float32).astype(np.float64)  # (N, F)
    mean = raw[:train_stop].mean(axis=0)
    std = raw[:train_stop].std(axis=0)
    return (raw - mean) / std, mean, std


@pytest.fixture()
def csv(tmp_path: Path) -> Path:
    return write_series(tmp_path / "series.csv")


# ---- data, scaler, windows --------------------------------------------------------------------


def test_scaler_is_fitted_on_the_training_rows_only(csv: Path) -> None:
    task = make_task(csv, "data.features=MS")
    train_stop = int(ROWS * 0.7)
    # The series is held in float32; its statistics are taken in float64.
    raw = pd.read_csv(csv)[["load", "wind", "temp"]].to_numpy(np.float32).astype(np.float64)
    assert task.series_data.columns == ("load", "wind", "temp")
    np.testing.assert_allclose(
        task.series_data.scaler.mean, raw[:train_stop].mean(axis=0), rtol=1e-14
    )
    np.testing.assert_allclose(
        task.series_data.scaler.std, raw[:train_stop].std(axis=0), rtol=1e-14
    )
    # All rows would give other statistics: the test is not vacuous.
    assert not np.allclose(task.series_data.scaler.mean, raw.mean(axis=0), rtol=1e-6)
    saved = task.artifacts()["scaler"]
    np.testing.assert_allclose(saved["mean"], raw[:train_stop].mean(axis=0), rtol=1e-14)
    np.testing.assert_allclose(saved["std"], raw[:train_stop].std(axis=0), rtol=1e-14)
    assert saved["columns"] == ["load", "wind", "temp"]


def test_split_windows_follow_the_ratio_protocol(csv: Path) -> None:
    task = make_task(csv)
    train_stop, test_rows = int(ROWS * 0.7), int(ROWS * 0.2)
    val_stop = ROWS - test_rows
    assert len(task.series_data.windows("train")) == train_stop - INPUT_LENGTH - HORIZON + 1
    assert len(task.series_data.windows("val")) == (val_stop - train_stop) - HORIZON + 1
    assert len(task.series_data.windows("test")) == test_rows - HORIZON + 1
    # A validation window's history reaches back into the training rows; its targets never do.
    assert task.series_data.windows("val").target_rows(0).start == train_stop
    with pytest.raises(SeqlabError, match="splits train, val and test, not 'dev'"):
        task.series_data.windows("dev")


def test_train_batches_cover_every_window_once_per_epoch(csv: Path) -> None:
    task = make_task(csv, "train.batch_size=64")
    windows = len(task.series_data.windows("train"))
    per_epoch = task.series_data.windows("train").num_batches(64)
    starts = torch.cat([task.train_batch(i).starts for i in range(per_epoch)])
    assert sorted(starts.tolist()) == list(task.series_data.windows("train").starts)
    assert starts.numel() == windows  # the last batch is short, nothing dropped
    again = make_task(csv, "train.batch_size=64")
    assert_close(again.train_batch(per_epoch + 3).inputs, task.train_batch(per_epoch + 3).inputs)
    assert not torch.equal(task.train_batch(0).starts, task.train_batch(per_epoch).starts)


def test_loss_is_the_sum_of_squared_errors_with_its_count(csv: Path) -> None:
    task = make_task(csv, "data.features=M")
    model = untrained(task)
    batch = task.train_batch(0)
    step = task.loss(model, batch)
    forecast = model(batch.inputs)  # (B, horizon, 3)
    assert forecast.shape == (16, HORIZON, 3)
    assert step.count == 16 * HORIZON * 3
    assert_close(step.loss_sum, ((forecast - batch.targets) ** 2).sum())


# ---- evaluation against independent computations ---------------------------------------------


def test_evaluate_equals_a_hand_computation_over_every_window(csv: Path) -> None:
    # eval_batch_size 7 does not divide the window count: a dropped short batch would show.
    task = make_task(csv, "data.eval_batch_size=7")
    model = untrained(task)
    train_stop = int(ROWS * 0.7)
    values, mean, std = scaled_columns(csv, ["temp"], train_stop)
    val_stop = ROWS - int(ROWS * 0.2)
    windows = WindowDataset(
        values, input_length=INPUT_LENGTH, horizon=HORIZON,
        rows=range(train_stop - INPUT_LENGTH, val_stop),
    )  # fmt: skip
    assert len(windows) % 7 != 0
    everything = windows.batch(range(len(windows)))
    with torch.no_grad():
        forecast = model(everything.inputs)[..., 0].double()  # (N, horizon)
    error = forecast - everything.targets.double()  # (N, horizon)
    metrics = evaluate_split(task, model, "val")
    assert metrics["mse"] == pytest.approx(float((error**2).mean()), rel=1e-5)
    assert metrics["mae"] == pytest.approx(float(error.abs().mean()), rel=1e-5)
    # In the data's units the error of the target is the normalised error times its std.
    assert metrics["mse_original"] == pytest.approx(metrics["mse"] * std[0] ** 2, rel=1e-9)
    assert metrics["mae_original"] == pytest.approx(metrics["mae"] * std[0], rel=1e-9)

    report = evaluate_split(task, model, "val", detail=True)
    assert report["windows"] == len(windows)
    assert_close(
        torch.tensor(report["per_horizon"]["mse"], dtype=torch.float64),
        (error**2).mean(dim=0),
        rtol=1e-5,
        atol=0,
    )
    assert report["mse"] == pytest.approx(metrics["mse"], rel=1e-12)


def test_baselines_equal_direct_numpy_computations(csv: Path) -> None:
    task = make_task(csv)
    model = untrained(task)
    train_stop = int(ROWS * 0.7)
    values, _, std = scaled_columns(csv, ["temp"], train_stop)
    test_start = ROWS - int(ROWS * 0.2)
    series = values[:, 0].astype(np.float32).astype(np.float64)  # (N,) as the windows hold it
    starts = np.arange(test_start - INPUT_LENGTH, ROWS - INPUT_LENGTH - HORIZON + 1)
    history = np.stack([series[s : s + INPUT_LENGTH] for s in starts])  # (W, T)
    truth = np.stack([series[s + INPUT_LENGTH : s + INPUT_LENGTH + HORIZON] for s in starts])
    repeat = np.repeat(history[:, -1:], HORIZON, axis=1)  # (W, horizon)
    seasonal = history[:, INPUT_LENGTH - 24 + np.arange(HORIZON) % 24]  # (W, horizon)

    report = evaluate_split(task, model, "test", detail=True)
    baselines = report["baselines"]
    assert set(baselines) == {"repeat", "seasonal_24", "linear", "nlinear", "dlinear"}  # T < 168
    assert baselines["repeat"]["mse"] == pytest.approx(np.mean((repeat - truth) ** 2), rel=1e-6)
    assert baselines["repeat"]["mae"] == pytest.approx(np.mean(np.abs(repeat - truth)), rel=1e-6)
    assert baselines["repeat"]["mse_original"] == pytest.approx(
        np.mean((repeat - truth) ** 2) * std[0] ** 2, rel=1e-6
    )
    assert baselines["seasonal_24"]["mse"] == pytest.approx(
        np.mean((seasonal - truth) ** 2), rel=1e-6
    )
    # The linear baseline: least squares on the training windows, refitted here with numpy.
    train_starts = np.arange(0, train_stop - INPUT_LENGTH - HORIZON + 1)
    design = np.stack([series[s : s + INPUT_LENGTH] for s in train_starts])
    design = np.concatenate([design, np.ones((len(design), 1))], axis=1)
    targets = np.stack([series[s + INPUT_LENGTH : s + INPUT_LENGTH + HORIZON]
                        for s in train_starts])  # fmt: skip
    theta, *_ = np.linalg.lstsq(design, targets, rcond=None)
    linear = np.concatenate([history, np.ones((len(history), 1))], axis=1) @ theta
    assert baselines["linear"]["mse"] == pytest.approx(np.mean((linear - truth) ** 2), rel=1e-4)
    # The periodic series: a day-old copy is far better than the last value repeated.
    assert baselines["seasonal_24"]["mse"] < baselines["repeat"]["mse"] / 5


def test_multivariate_forecasts_every_column_and_reports_each(csv: Path) -> None:
    task = make_task(csv, "data.features=M", "data.calendar=true")
    model = untrained(task)
    assert task.series_data.forecast_columns == ("load", "wind", "temp")
    report = evaluate_split(task, model, "test", detail=True)
    per_variable = report["per_variable"]
    assert list(per_variable) == ["load", "wind", "temp"]
    # The overall figures average the variables (all have the same number of values).
    for name in ("mse", "mae", "mse_original", "mae_original"):
        mean = np.mean([values[name] for values in per_variable.values()])
        assert report[name] == pytest.approx(mean, rel=1e-9)
    _, _, std = scaled_columns(csv, ["load", "wind", "temp"], int(ROWS * 0.7))
    for column, scale in zip(per_variable, std, strict=True):
        values = per_variable[column]
        assert values["mse_original"] == pytest.approx(values["mse"] * scale**2, rel=1e-9)
    # Calendar features are inputs only: 3 values + 4 calendar columns in, 3 out.
    assert task.series_data.windows("test").num_inputs == 3 + 4
    inputs = task.series_data.windows("test").window(0)[0]  # (T, 7)
    stamps = pd.DatetimeIndex(pd.read_csv(csv)["timestamp"])
    first = task.series_data.windows("test").starts[0]
    assert_close(
        inputs[:, 3:], torch.from_numpy(calendar_features(stamps)[first : first + INPUT_LENGTH])
    )


def test_transformer_patches_and_divisibility(csv: Path) -> None:
    task = make_task(
        csv, "model.d_model=16", "model.num_heads=2", "model.num_layers=1",
        "model.dim_feedforward=32", "model.patch_length=12", family="transformer",
    )  # fmt: skip
    model = untrained(task)
    assert model.num_patches == INPUT_LENGTH // 12
    assert evaluate_split(task, model, "val")["mse"] > 0
    bad = make_task(csv, "model.d_model=16", "model.num_heads=2", "model.patch_length=10",
                    family="transformer")  # fmt: skip
    with pytest.raises(SeqlabError, match=r"input_length \(48\) must be divisible by "
                                          r"model.patch_length \(10\)"):  # fmt: skip
        bad.build_model()


def test_channel_independent_model_shares_one_univariate_forecaster(csv: Path) -> None:
    task = make_task(csv, "data.features=M", "data.calendar=true", "model.channel_independent=true")
    model = untrained(task)
    assert isinstance(model, ChannelIndependent)
    # One series plus the 4 calendar columns in, one series out, whatever the column count.
    assert model.inner.input_features == 1 + 4 and model.inner.output_features == 1
    inputs = task.series_data.windows("test").window(0)[0][None].float()  # (1, T, 3 + 4)
    with torch.no_grad():
        forecast = model(inputs)  # (1, horizon, 3)
        temp_alone = model.inner(torch.cat([inputs[..., 2:3], inputs[..., 3:]], dim=-1))
    assert_close(forecast[..., 2:3], temp_alone)
    with pytest.raises(SeqlabError, match="data.features MS the 2 input columns besides the "
                                          "target would be dropped"):  # fmt: skip
        make_task(csv, "data.features=MS", "model.channel_independent=true").build_model()
    # Left unset, it is on exactly when every column is forecast.
    assert isinstance(untrained(make_task(csv, "data.features=M")), ChannelIndependent)
    for settings in (("data.features=MS",), ("data.features=S",),
                     ("data.features=M", "model.channel_independent=false")):  # fmt: skip
        assert not isinstance(untrained(make_task(csv, *settings)), ChannelIndependent)


# ---- bad input and repaired data --------------------------------------------------------------


def test_an_unknown_target_lists_the_columns(csv: Path) -> None:
    with pytest.raises(SeqlabError, match=r"no column 'oil' \(target\); the file has: "
                                          r"timestamp, load, wind, temp"):  # fmt: skip
        make_task(csv, "data.target=oil")


def test_configuration_errors_name_the_key(csv: Path) -> None:
    with pytest.raises(ValueError, match="data.inputs are read with data.features M or MS"):
        make_task(csv, "data.inputs=load")
    with pytest.raises(ValueError, match=r"data.horizon \(0\) must be a positive integer"):
        make_task(csv, "data.horizon=0")
    with pytest.raises(ValueError, match="data.dataset .* must be 'etth1' or null"):
        make_task(csv, "data.dataset=ettm2")


def test_gaps_and_missing_values_are_filled_and_reported(tmp_path: Path) -> None:
    frame = series_frame()
    frame.loc[100, "temp"] = np.nan  # a missing cell (line 102 of the file)
    frame = frame.drop(index=[200, 201])  # two missing hours
    csv = write_series(tmp_path / "gappy.csv", frame)
    task = make_task(csv)
    report = evaluate_split(task, untrained(task), "test", detail=True)
    data = report["data"]
    assert data["rows"] == ROWS and data["rows_inserted"] == 2 and data["gaps"] == 1
    assert data["missing_values"] == 1
    assert len(data["fixes"]) == 2
    assert "2 missing row(s) inserted" in data["fixes"][0]
    assert "line 102, column 'temp'" in data["fixes"][1]
    lines = task.summary(report)
    assert lines[:2] == [f"data: {fix}" for fix in data["fixes"]]
    assert lines[2].startswith(f"mse on the same {report['windows']} windows: model ")
    assert task.artifacts()["data_fixes"] == data["fixes"]
    # What seqlab train prints before training: the same lines, with line and column.
    assert task.data_notes() == data["fixes"]
    assert data["fixes"][1] == (
        f"{csv}: 1 missing value(s) (temp: 1) filled: line 102, column 'temp' (interpolated in "
        "time)"
    )
    with pytest.raises(SeqlabError, match=r"gappy.csv:202: gap in the 'h' frequency"):
        make_task(csv, "data.strict=true")


def test_a_model_forecasting_nan_writes_no_monitor_reference_and_no_report(
    tmp_path: Path,
) -> None:
    csv = write_series(tmp_path / "series.csv")
    task = make_task(csv)
    model = untrained(task)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.fill_(float("nan"))
    out = ModelDir(tmp_path / "out")
    # The first validation window reads rows 672 - 48 = 624 .. 671: lines 626 to 673.
    with pytest.raises(SeqlabError, match=rf"forecast from {csv} lines 626 to 673 \(2024-03-27"):
        task.save_trained_files(model, out)
    assert not out.file(MONITOR_REFERENCE).exists()
    # The first test window: rows 768 - 48 = 720 .. 767, lines 722 to 769.
    with pytest.raises(SeqlabError, match=rf"forecast from {csv} lines 722 to 769 .* not finite"):
        task.report(model, "test")


def test_data_notes_report_the_evaluated_file_too(tmp_path: Path) -> None:
    csv = write_series(tmp_path / "clean.csv")
    task = make_task(csv)
    assert task.data_notes() == []
    frame = series_frame(200, seed=5)
    frame.loc[[10, 20, 30, 40], "temp"] = np.nan  # lines 12, 22, 32 and 42
    frame["site"] = "north"  # text: passed over by inputs=None, and said so
    recent = write_series(tmp_path / "recent.csv", frame)
    on_file = task.with_eval_file(recent, split="test")
    evaluate_split(on_file, untrained(on_file), "test", detail=True)
    assert on_file.data_notes() == [
        f"{recent}: 4 missing value(s) (temp: 4) filled: line 12, column 'temp' (interpolated in "
        "time); line 22, column 'temp' (interpolated in time); line 32, column 'temp' "
        "(interpolated in time); and 1 more"
    ]
    multivariate = make_task(recent, "data.features=MS")
    assert multivariate.data_notes()[-1] == f"{recent}: not numeric, so not read as inputs: site"


def test_a_model_directory_restores_scaler_columns_and_linear_baseline(
    csv: Path, tmp_path: Path
) -> None:
    task = make_task(csv, "data.features=MS", "train.steps=3", "train.eval_every=3",
                     "train.warmup_steps=1")  # fmt: skip
    trained = train_run(task.run, tmp_path / "model", progress="quiet")
    config = json.loads((tmp_path / "model" / "config.json").read_text())
    assert config["artifacts"]["columns"] == ["load", "wind", "temp"]
    assert config["artifacts"]["frequency"] == "h"
    assert (tmp_path / "model" / "linear_baseline.safetensors").exists()
    # Rebuilt without reading the training file: the same scaler and the same numbers.
    moved = tmp_path / "moved.csv"
    csv.rename(moved)
    from seqlab.tasks.runner import load_trained

    loaded, model, _ = load_trained(tmp_path / "model")
    np.testing.assert_array_equal(
        loaded.series_data.scaler.mean, trained.task.series_data.scaler.mean
    )
    on_file = loaded.with_eval_file(moved, split="test")
    report = evaluate_split(on_file, model, "test", detail=True)
    assert report["windows"] == ROWS - INPUT_LENGTH - HORIZON + 1  # every window of the file
    assert report["data"]["split"] == "whole file"
    assert set(report["baselines"]) == {"repeat", "seasonal_24", "linear", "nlinear", "dlinear"}


def test_older_directories_name_their_linear_baseline_or_have_none(
    csv: Path, tmp_path: Path
) -> None:
    from seqlab.tasks.runner import load_trained

    task = make_task(csv, "train.steps=2", "train.eval_every=2", "train.warmup_steps=1")
    model_dir = tmp_path / "model"
    train_run(task.run, model_dir, progress="quiet")
    loaded, model, _ = load_trained(model_dir)
    saved = evaluate_split(loaded, model, "test", detail=True)["baselines"]["linear"]
    # A file of another name, named in config.json's artifacts, is the one read.
    (model_dir / "linear_baseline.safetensors").rename(model_dir / "linear.safetensors")
    config = json.loads((model_dir / "config.json").read_text())
    config["artifacts"]["linear_baseline"] = "linear.safetensors"
    (model_dir / "config.json").write_text(json.dumps(config))
    renamed, model, _ = load_trained(model_dir)
    assert evaluate_split(renamed, model, "test", detail=True)["baselines"]["linear"] == saved
    # No file at all: the directory still loads, and the baseline is fitted again on the
    # training windows, to the same numbers.
    (model_dir / "linear.safetensors").unlink()
    refitted, model, _ = load_trained(model_dir)
    again = evaluate_split(refitted, model, "test", detail=True)["baselines"]["linear"]
    assert again == pytest.approx(saved, rel=1e-12)


# ---- ETTh1 ------------------------------------------------------------------------------------


def _etth1_available() -> bool:
    if not _REAL_DATA:
        return False
    return (Path(_REAL_DATA) / "ett" / "ETTh1.csv").is_file()


@pytest.mark.skipif(
    not _etth1_available(),
    reason="ETTh1 not found: set SEQLAB_DATA to a folder with ett/ETTh1.csv (e.g. ../shared/data)",
)
def test_etth1_trains_briefly_and_reports_the_published_split_sizes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SEQLAB_DATA", _REAL_DATA)
    input_length, horizon = 96, 24
    run = build_run_config(
        "forecasting",
        family="lstm",
        overrides=[
            f"data.input_length={input_length}",
            f"data.horizon={horizon}",
            "model.hidden_size=8",
            "train.steps=5",
            "train.eval_every=5",
            "train.warmup_steps=1",
            "train.device=cpu",
        ],
    )
    trained = train_run(run, tmp_path / "etth1", progress="quiet")
    data = trained.metrics["data"]
    assert resolve_file("etth1", "ETTh1.csv").is_file()
    assert data["rows"] == 17_420 and data["split"] == "etth1"
    # Informer's rows: train [0, 8640), val [8640, 11520), test [11520, 14400); each split's
    # windows are its rows minus input_length (train only) minus horizon, plus one.
    expected = {"train": 8640 - input_length - horizon + 1, "val": 2880 - horizon + 1,
                "test": 2880 - horizon + 1}  # fmt: skip
    assert expected == {"train": 8521, "val": 2857, "test": 2857}
    assert data["windows"] == expected
    assert trained.metrics["windows"] == expected["test"]
    assert data["target_rows"] == {"train": [96, 8640], "val": [8640, 11520],
                                  "test": [11520, 14400]}  # fmt: skip
    assert data["fixes"] == []
    metrics = json.loads((tmp_path / "etth1" / "metrics.json").read_text())
    assert metrics["data_checksum"] and metrics["metrics"]["baselines"]["repeat"]["mse"] > 0
