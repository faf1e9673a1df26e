"""`seqlab retrain`: the old directory untouched, the new one complete and loadable, both models
measured on the same hold-out windows, how new rows are joined to the old ones, and refusals
that leave nothing behind.

A small LSTM (features MS) is trained once for the module on the first 50 days of a generated
hourly series; the new file holds the last 2.5 days of those (repeating them) and the 10 days
after. It is retrained once for 40 steps; the hold-out and validation rows default to 7 x
horizon = 84 rows each.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from _forecasting_runs import (
    HORIZON,
    INPUT_LENGTH,
    NEW_ROWS,
    TRAIN_ROWS,
    hourly_series,
    train_args,
)

import seqlab
from seqlab import cli
from seqlab.data.series import join_series, read_series
from seqlab.data.windows import WindowDataset
from seqlab.errors import SeqlabError
from seqlab.model_dir import TRAINING_DATA as TRAINING_DATA_FILE
from seqlab.tasks.forecasting import retrain as forecasting_retrain
from seqlab.tasks.forecasting import work_folder

OVERLAP = 60  # rows of the new file that repeat the end of the training file
HOLDOUT = 7 * HORIZON
COLUMNS = ["load", "wind", "temp"]


def _hashes(folder: Path) -> dict[str, str]:
    """SHA-256 of every file under ``folder``, by relative path."""
    return {
        str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> dict:
    folder = tmp_path_factory.mktemp("retrain")
    series = hourly_series()
    series.iloc[:TRAIN_ROWS].to_csv(folder / "series.csv", index=False)
    series.iloc[TRAIN_ROWS - OVERLAP :].to_csv(folder / "new.csv", index=False)
    assert cli.main(train_args(folder / "series.csv", folder / "old")) == 0
    before = _hashes(folder / "old")
    # What a retrain to the same --out killed on this machine leaves: its process is gone.
    stale = folder / f".new.retrain-{work_folder._host_tag()}-{_dead_pid()}-abcd1234.tmp"
    stale.mkdir()
    (stale / "config.json").write_text("{}")
    output, errors = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(output), contextlib.redirect_stderr(errors):
        code = cli.main(
            ["retrain", str(folder / "old"), "--data", str(folder / "new.csv"),
             "--out", str(folder / "new"), "--steps", "40", "--json", "--quiet"]
        )  # fmt: skip
    assert code == 0
    return {
        "folder": folder,
        "before": before,
        "record": json.loads(output.getvalue()),
        "stale": stale,
        "stderr": errors.getvalue(),
    }


def _dead_pid() -> int:
    """The id of a process that has exited."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_a_stale_temporary_folder_of_a_killed_retrain_is_removed_and_named(
    workspace: dict,
) -> None:
    stale, target = workspace["stale"], (workspace["folder"] / "new").resolve()
    assert not stale.exists()
    pid = stale.name.split("-")[2]
    assert workspace["stderr"].strip() == (
        f"removed {stale.parent.resolve() / stale.name}, left by a 'seqlab retrain' to {target} "
        f"that did not finish (process {pid} is gone)"
    )


def test_the_old_directory_is_byte_identical(workspace: dict) -> None:
    old = workspace["folder"] / "old"
    assert workspace["before"] == _hashes(old)
    assert "model.safetensors" in workspace["before"] and len(workspace["before"]) > 5


def test_the_new_directory_is_complete_and_forecasts(workspace: dict) -> None:
    folder, record = workspace["folder"], workspace["record"]
    new = folder / "new"
    names = (
        "config.json",
        "model.safetensors",
        "metrics.json",
        "log.jsonl",
        "linear_baseline.safetensors",
        "monitor_reference.json",
        TRAINING_DATA_FILE,
    )
    for name in names:
        assert (new / name).is_file(), name
    assert [path.name for path in folder.iterdir() if path.name.startswith(".")] == []
    probe = folder / "probe"
    probe.mkdir()  # a folder made the ordinary way: the new directory has the same mode
    assert (new.stat().st_mode & 0o777) == (probe.stat().st_mode & 0o777)

    config = json.loads((new / "config.json").read_text())
    old_config = json.loads((folder / "old" / "config.json").read_text())
    assert config["artifacts"]["scaler"] == old_config["artifacts"]["scaler"]  # kept
    assert config["model"] == old_config["model"]
    total = TRAIN_ROWS + NEW_ROWS
    assert config["data"]["split"] == "rows" and config["data"]["file"] == TRAINING_DATA_FILE
    assert config["data"]["split_rows"] == [total - 2 * HOLDOUT, HOLDOUT, HOLDOUT]
    assert config["train"]["steps"] == 40 and config["train"]["eval_every"] == 8
    metrics = json.loads((new / "metrics.json").read_text())
    assert metrics["retrain"] == {key: value for key, value in record.items() if key != "model_dir"}
    assert record["data"]["overlap_rows_dropped"] == OVERLAP
    assert record["data"]["appended_rows"] == NEW_ROWS and record["data"]["gap_rows_inserted"] == 0
    assert record["split"]["new_rows_trained_on"] == NEW_ROWS - 2 * HOLDOUT

    # The joined series, kept in the directory: the training file, then the new rows.
    kept = pd.read_csv(new / TRAINING_DATA_FILE)
    expected = hourly_series()
    assert len(kept) == total and list(kept.columns) == ["date", *COLUMNS]
    np.testing.assert_allclose(kept[COLUMNS].to_numpy(), expected[COLUMNS].to_numpy(), rtol=1e-6)

    predictor = seqlab.load(new)
    forecast = predictor.forecast(folder / "new.csv")
    assert forecast.shape == (HORIZON, 1) and list(forecast.columns) == ["temp"]
    assert forecast.index[0] == pd.Timestamp("2024-03-01 00:00")


def test_both_models_are_measured_on_the_same_hold_out_windows(
    workspace: dict, capsys: pytest.CaptureFixture[str]
) -> None:
    folder, holdout = workspace["folder"], workspace["record"]["holdout"]
    assert holdout["windows"] == HOLDOUT - HORIZON + 1
    assert holdout["first_target"] == "2024-02-26T12:00:00"
    assert holdout["last_target"] == "2024-02-29T23:00:00"

    # Recomputed here: the generated series, scaled with the old scaler, every window whose
    # forecast lies in the last 84 rows; each model applied directly.
    scaler = json.loads((folder / "old" / "config.json").read_text())["artifacts"]["scaler"]
    mean, std = np.array(scaler["mean"]), np.array(scaler["std"])
    raw = hourly_series()[COLUMNS].to_numpy(np.float32).astype(np.float64)  # (N, 3)
    windows = WindowDataset(
        (raw - mean) / std, input_length=INPUT_LENGTH, horizon=HORIZON,
        rows=range(len(raw) - HOLDOUT - INPUT_LENGTH, len(raw)),
    )  # fmt: skip
    batch = windows.batch(range(len(windows)))
    truth = batch.targets.double()  # (W, horizon)
    for which in ("old", "new"):
        model = seqlab.load(folder / which).model
        with torch.no_grad():
            error = (model(batch.inputs)[..., 0].double() - truth).numpy()  # (W, horizon)
        reported = holdout[which]
        assert reported["mse"] == pytest.approx(float(np.mean(error**2)), rel=1e-5)
        assert reported["mae"] == pytest.approx(float(np.mean(np.abs(error))), rel=1e-5)
        assert reported["mse_original"] == pytest.approx(reported["mse"] * std[-1] ** 2, rel=1e-9)
        assert reported["mae_original"] == pytest.approx(reported["mae"] * std[-1], rel=1e-9)
    better = "new" if holdout["new"]["mse"] < holdout["old"]["mse"] else "old"
    assert holdout["better"] == better

    # seqlab eval of the new directory evaluates the same hold-out.
    capsys.readouterr()
    assert cli.main(["eval", str(folder / "new"), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["windows"] == holdout["windows"]
    assert report["mse"] == pytest.approx(holdout["new"]["mse"], rel=1e-9)


def test_the_report_table(workspace: dict, capsys: pytest.CaptureFixture[str]) -> None:
    folder = workspace["folder"]
    capsys.readouterr()
    args = ["retrain", str(folder / "old"), "--data", str(folder / "new.csv"), "--out",
            str(folder / "table"), "--steps", "5", "--quiet"]  # fmt: skip
    assert cli.main(args) == 0
    out = capsys.readouterr().out
    assert f"{OVERLAP} rows of the new file repeated the training data and were dropped" in out
    assert "scaler kept" in out and "better on the hold-out (lower mse):" in out
    for text in ("old", "new", "mse_original", "mae_original"):
        assert text in out


def _frame(tmp_path: Path, name: str, frame: pd.DataFrame):
    path = tmp_path / name
    frame.to_csv(path, index=False)
    return read_series(path, target="temp", inputs=["load", "wind"], features="MS")


def test_joining_keeps_consistent_overlap_and_refuses_the_rest(tmp_path: Path) -> None:
    series = hourly_series(300)
    old = _frame(tmp_path, "old.csv", series.iloc[:200])
    joined = join_series(old, _frame(tmp_path, "next.csv", series.iloc[150:]))
    assert (joined.overlap_rows, joined.appended_rows) == (50, 100)
    np.testing.assert_array_equal(joined.values, series[COLUMNS].to_numpy(np.float32))
    assert joined.timestamps.equals(pd.DatetimeIndex(pd.to_datetime(series["date"])))

    changed = series.iloc[150:].copy()
    changed.loc[160, "wind"] += 1.0
    with pytest.raises(SeqlabError, match=r"at 2024-01-07 16:00:00, column 'wind' holds .* where "
                       r"the training data holds .*; rows up to"):  # fmt: skip
        join_series(old, _frame(tmp_path, "changed.csv", changed))
    with pytest.raises(SeqlabError, match=r"every row \(up to 2024-01-09 07:00:00\) is already"):
        join_series(old, _frame(tmp_path, "inside.csv", series.iloc[100:200]))
    shifted = series.iloc[200:].copy()
    shifted["date"] = (pd.to_datetime(shifted["date"]) + pd.Timedelta(minutes=30)).astype(str)
    with pytest.raises(SeqlabError, match=r"2024-01-09 08:30:00 is not a whole number of steps"):
        join_series(old, _frame(tmp_path, "shifted.csv", shifted))
    earlier = hourly_series(300)
    earlier["date"] = pd.date_range("2023-12-31", periods=300, freq="h").strftime("%Y-%m-%d %H:%M")
    with pytest.raises(SeqlabError, match=r"before the training data's first row"):
        join_series(old, _frame(tmp_path, "earlier.csv", earlier))


def _error(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    capsys.readouterr()
    assert cli.main(["retrain", *args, "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    return err.strip()


def test_refuses_to_write_into_the_old_directory(
    workspace: dict, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = workspace["folder"]
    old, data = str(folder / "old"), str(folder / "new.csv")
    message = _error(capsys, old, "--data", data, "--out", old)
    assert message == (
        f"seqlab: error: --out {old} is the old model directory {old}, which retrain only "
        "reads; choose a new folder outside it"
    )
    inside = str(folder / "old" / "next")
    assert "is inside" in _error(capsys, old, "--data", data, "--out", inside)
    assert "already exists" in _error(capsys, old, "--data", data, "--out", str(folder))
    assert "train.* settings only" in _error(
        capsys, old, "--data", data, "--out", str(folder / "x"), "--set", "model.hidden_size=8"
    )
    assert "leaves none to train on" in _error(
        capsys, old, "--data", data, "--out", str(folder / "x"), "--holdout", "200"
    )
    assert not (folder / "old" / "next").exists() and not (folder / "x").exists()
    assert workspace["before"] == _hashes(folder / "old")


def test_a_failure_leaves_no_new_directory(
    workspace: dict, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = workspace["folder"]
    old, out = str(folder / "old"), folder / "failed"

    def leftovers() -> list[str]:
        names = [path.name for path in folder.iterdir()]
        return [name for name in names if name.startswith((".failed", "failed"))]

    bad = folder / "bad.csv"
    frame = hourly_series().iloc[TRAIN_ROWS:].copy()
    frame["temp"] = frame["temp"].astype(object)
    frame.loc[TRAIN_ROWS + 5, "temp"] = "21,4"
    frame.to_csv(bad, index=False)
    message = _error(capsys, old, "--data", str(bad), "--out", str(out))
    assert f"{bad}:7: column 'temp' holds '21,4', not a finite number" in message
    assert leftovers() == []

    # A failure while training, after the temporary folder exists: it is removed too.
    def broken_training(run, out_dir, **_):
        (Path(out_dir) / "config.json").write_text("{}")
        raise SeqlabError("training failed")

    monkeypatch.setattr(forecasting_retrain, "train_run", broken_training)
    message = _error(capsys, old, "--data", str(folder / "new.csv"), "--out", str(out))
    assert message == "seqlab: error: training failed"
    assert leftovers() == []
    assert workspace["before"] == _hashes(folder / "old")


def test_a_missing_or_changed_old_training_file_is_refused(
    workspace: dict, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    folder = workspace["folder"]
    copy = tmp_path / "series.csv"
    copy.write_bytes((folder / "series.csv").read_bytes())
    config_path = tmp_path / "old" / "config.json"
    config_path.parent.mkdir()
    for path in (folder / "old").iterdir():
        if path.is_file():
            (tmp_path / "old" / path.name).write_bytes(path.read_bytes())
    config = json.loads(config_path.read_text())
    config["data"]["file"] = str(copy)
    config_path.write_text(json.dumps(config))
    with open(copy, "a") as handle:  # one more row: no longer the file the model learned from
        handle.write("2024-02-20 00:00,10.0,4.0,21.0\n")
    args = [str(tmp_path / "old"), "--data", str(folder / "new.csv"), "--out", str(tmp_path / "n")]
    assert "differs from the file" in _error(capsys, *args)
    os.remove(copy)
    assert "which is not there" in _error(capsys, *args)
    assert not (tmp_path / "n").exists()


def test_a_residual_model_keeps_its_baseline_through_a_retrain(tmp_path: Path) -> None:
    # The new weights start from the old ones, whose map is the old choice's: the new directory
    # must record that choice, not one made again on the joined series.
    series = hourly_series()
    series.iloc[:TRAIN_ROWS].to_csv(tmp_path / "series.csv", index=False)
    series.iloc[TRAIN_ROWS - OVERLAP :].to_csv(tmp_path / "new.csv", index=False)
    args = train_args(tmp_path / "series.csv", tmp_path / "old")
    assert cli.main([*args, "--set", "model.residual_of=repeat"]) == 0
    code = cli.main(
        ["retrain", str(tmp_path / "old"), "--data", str(tmp_path / "new.csv"),
         "--out", str(tmp_path / "new"), "--steps", "5", "--json", "--quiet"]
    )  # fmt: skip
    assert code == 0
    old = json.loads((tmp_path / "old" / "config.json").read_text())["artifacts"]["residual"]
    new = json.loads((tmp_path / "new" / "config.json").read_text())["artifacts"]["residual"]
    assert new == old and old["baseline"] == "repeat"
