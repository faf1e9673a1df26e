"""Bad values in a forecasting series, end to end: refused with file, line, column and the fix, or
filled and kept and reported, and never a NaN in what a command prints or writes.

The forecasting commands run on a copy of the saved fixture model (tests/fixtures/model_dirs:
an LSTM reading load, wind and temp, input_length 24, horizon 6) and on altered copies of its
recent data (96 hourly rows, lines 2 to 97). Its cells are read and written as text, so every
unaltered cell keeps its exact digits. Training runs that must be refused stop before training;
the one that keeps an outlier trains for two steps.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
import torch
from _forecasting_runs import hourly_series, train_args
from safetensors.torch import load_file, save_file

import seqlab
from seqlab import cli
from seqlab.errors import SeqlabError

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "model_dirs"


@pytest.fixture()
def model(tmp_path: Path) -> Path:
    target = tmp_path / "model"
    shutil.copytree(FIXTURES / "forecasting", target)
    return target


def _recent(folder: Path, name: str, change: dict[tuple[int, str], str]) -> Path:
    """The fixture's recent data with ``change`` (row, column) -> text, written to ``name``."""
    frame = pd.read_csv(FIXTURES / "forecasting_recent.csv", dtype=str, keep_default_na=False)
    for (row, column), text in change.items():
        frame.loc[row, column] = text
    path = folder / name
    frame.to_csv(path, index=False)
    return path


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = cli.main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _one_line_error(code: int, out: str, err: str) -> str:
    """The message of a refused command: exit status 2, nothing on stdout, one line."""
    assert code == 2 and out == ""
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    return err.strip().removeprefix("seqlab: error: ")


# --- values that do not fit float32 ------------------------------------------------------------


def test_a_value_beyond_float32_is_refused_naming_line_and_column(
    model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    huge = _recent(tmp_path, "huge.csv", {(80, "load"): "1e300"})  # line 82, in the last window
    message = _one_line_error(*_run(capsys, "forecast", str(model), "--data", str(huge)))
    assert message == (
        f"{huge}:82: column 'load' holds '1e300', beyond the float32 range (magnitude at most "
        "3.403e+38) the models compute in; correct it (a typo or a unit?), or empty the cell to "
        "have it filled"
    )
    for command in (["eval", str(model), "--json"], ["monitor", str(model), "--json"]):
        message = _one_line_error(*_run(capsys, *command, "--data", str(huge)))
        assert message.startswith(f"{huge}:82: column 'load' holds '1e300', beyond the float32")


def test_inf_and_a_column_without_values_are_refused(
    model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    infinite = _recent(tmp_path, "inf.csv", {(3, "temp"): "-inf"})
    message = _one_line_error(*_run(capsys, "forecast", str(model), "--data", str(infinite)))
    assert message == (
        f"{infinite}:5: column 'temp' holds '-inf', not a finite number; correct it, or empty "
        "the cell to have it filled"
    )
    empty = _recent(tmp_path, "empty.csv", {(row, "wind"): "NaN" for row in range(96)})
    message = _one_line_error(*_run(capsys, "forecast", str(model), "--data", str(empty)))
    assert message == f"{empty}: column 'wind' has no values; choose another column or fill it"


# --- outliers ----------------------------------------------------------------------------------


def test_an_outlier_is_refused_unless_kept_and_then_reported(
    model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The fixture directory predates the saved outlier reference: its scaler stands in (load:
    # mean 9.99622, std 2.11966), so 5000 lies (5000 - 9.99622) / 2.11966 = 2354 stds away.
    wild = _recent(tmp_path, "wild.csv", {(80, "load"): "5000"})
    message = _one_line_error(*_run(capsys, "forecast", str(model), "--data", str(wild)))
    assert message.startswith(
        f"{wild}:82: column 'load' holds 5000, 2.35e+03 robust standard deviations from its "
        "training median 9.99622: an outlier (1 in the file; the rule: more than 1000 robust "
        "standard deviations (1.4826 x the median absolute deviation) from the median of the "
        "column's training rows); correct it"
    )
    assert message.endswith("or keep it with --outliers keep (seqlab train and forecast; "
                            "data.outliers=keep)")  # fmt: skip
    code, out, err = _run(capsys, "forecast", str(model), "--data", str(wild), "--outliers", "keep")
    assert code == 0
    note = (
        f"{wild}: 1 outlier(s) kept (data.outliers=keep), more than 1000 robust standard "
        "deviations (1.4826 x the median absolute deviation) from the median of the column's "
        "training rows: line 82, column 'load' = 5000 (2.35e+03)"
    )
    assert json.loads(out)["notes"] == [note] and note in err
    # Kept or not, a value whose z-score passes 1e15 would overflow float32 in the model.
    absurd = _recent(tmp_path, "absurd.csv", {(80, "load"): "1e18"})
    message = _one_line_error(
        *_run(capsys, "forecast", str(model), "--data", str(absurd), "--outliers", "keep")
    )
    assert message.startswith(
        f"{absurd}:82: column 'load' holds 1e+18, 4.72e+17 training standard deviations from "
        "the training mean; beyond 1e+15 the models' float32 sums overflow to inf"
    )


# --- filled values -----------------------------------------------------------------------------


def test_a_filled_last_value_is_reported_everywhere_and_refused_with_strict(
    model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    gappy = _recent(tmp_path, "gappy.csv", {(95, "temp"): "", (90, "wind"): "NA"})
    note = (
        f"{gappy}: 2 missing value(s) (wind: 1, temp: 1) filled: line 92, column 'wind' "
        "(interpolated in time); line 97, column 'temp' (the last known value carried forward)"
    )
    code, out, err = _run(capsys, "forecast", str(model), "--data", str(gappy))
    assert code == 0 and json.loads(out)["notes"] == [note] and err.strip() == note
    for output in ("csv", "table"):
        code, out, err = _run(
            capsys, "forecast", str(model), "--data", str(gappy), "--format", output
        )
        assert code == 0 and err.strip() == note and "temp" in out
    message = _one_line_error(
        *_run(capsys, "forecast", str(model), "--data", str(gappy), "--strict")
    )
    assert message == (
        f"{gappy}:92: column 'wind' has no value (2 missing value(s) in all); fill them in, or "
        "drop --strict (data.strict: false) to have them filled"
    )
    # The Python API: the notes travel with the forecast; strict=True refuses.
    frame = pd.read_csv(gappy, parse_dates=["date"]).set_index("date")
    predictor = seqlab.load(model)
    forecast = predictor.forecast(frame)
    assert forecast.attrs["notes"] == [note.replace(str(gappy), "the DataFrame")]
    with pytest.raises(SeqlabError, match=r"the DataFrame:92: column 'wind' has no value"):
        predictor.forecast(frame, strict=True)


def test_eval_and_monitor_report_every_fill(
    model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cells = {(row, "load"): "" for row in (10, 20, 30, 40, 50)}
    gappy = _recent(tmp_path, "gappy.csv", cells)
    note = (
        f"{gappy}: 5 missing value(s) (load: 5) filled: line 12, column 'load' (interpolated in "
        "time); line 22, column 'load' (interpolated in time); line 32, column 'load' "
        "(interpolated in time); and 2 more"
    )
    code, out, err = _run(capsys, "eval", str(model), "--data", str(gappy), "--json")
    assert code == 0 and json.loads(out)["data"]["fixes"] == [note]
    assert err.strip() == note  # the task's data notes, on standard error
    code, out, _ = _run(capsys, "monitor", str(model), "--data", str(gappy), "--json")
    assert code in (0, 3) and json.loads(out)["data_fixes"] == [note]


# --- forecasts that are not finite -------------------------------------------------------------


def test_a_non_finite_forecast_is_an_error_naming_the_rows_read(
    model: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    weights = load_file(str(model / "model.safetensors"))
    save_file({name: torch.full_like(tensor, float("nan")) for name, tensor in weights.items()},
              str(model / "model.safetensors"))  # fmt: skip
    recent = FIXTURES / "forecasting_recent.csv"
    reason = (
        "is not finite (NaN or inf): those rows hold values far from the training data, or the "
        "model directory's weights are damaged; check the rows, or retrain the model"
    )
    for output in ("json", "csv", "table"):
        message = _one_line_error(
            *_run(capsys, "forecast", str(model), "--data", str(recent), "--format", output)
        )
        # The model read the last 24 rows: lines 74 to 97.
        assert message == (
            f"the model's forecast from {recent} lines 74 to 97 (2024-02-04 00:00:00 to "
            f"2024-02-04 23:00:00) {reason}"
        )
    # eval and monitor name the first window whose forecast is not finite.
    message = _one_line_error(*_run(capsys, "eval", str(model), "--data", str(recent), "--json"))
    assert message == (
        f"the model's forecast from {recent} lines 2 to 25 (2024-02-01 00:00:00 to 2024-02-01 "
        f"23:00:00) {reason}"
    )
    message = _one_line_error(*_run(capsys, "monitor", str(model), "--data", str(recent), "--json"))
    assert message.startswith(f"the model's forecast from {recent} lines ")


# --- training ----------------------------------------------------------------------------------


def _series_with(folder: Path, name: str, row: int, value: str) -> Path:
    """50 days of the generated hourly series, ``temp`` of ``row`` (line row + 2) set to
    ``value``. Its training rows (the first 840) hold temp's median 21.9904 and robust
    standard deviation 5.59007."""
    frame = hourly_series(24 * 50).astype({"temp": str})
    frame.loc[row, "temp"] = value
    path = folder / name
    frame.to_csv(path, index=False)
    return path


def _train(data: Path, out: Path, *extra: str) -> list[str]:
    """A two-step run of the small LSTM of _forecasting_runs."""
    return [*train_args(data, out, steps=2), "--set", "train.warmup_steps=1",
            "--set", "train.eval_every=2", *extra]  # fmt: skip


def test_training_refuses_a_huge_validation_value_before_training_and_on_resume(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Row 900 lies in the validation rows (840 to 960 of 1200): line 902.
    data = _series_with(tmp_path, "val.csv", 900, "1e30")
    out = tmp_path / "run"
    expected = (
        f"{data}:902: column 'temp' holds 1e+30, 1.79e+29 robust standard deviations from its "
        "training median 21.9904: an outlier (1 in the file;"
    )
    message = _one_line_error(*_run(capsys, *_train(data, out)))
    assert message.startswith(expected)
    assert not out.exists()  # refused before anything was written
    # A run trained on the clean file, resumed after the value appeared in it: refused the same.
    clean = tmp_path / "later.csv"
    hourly_series(24 * 50).to_csv(clean, index=False)
    assert cli.main(_train(clean, out)) == 0
    shutil.copyfile(data, clean)
    message = _one_line_error(*_run(capsys, *_train(clean, out, "--steps", "4", "--resume")))
    assert message.startswith(expected.replace(str(data), str(clean)))


def test_training_keeps_an_outlier_only_when_asked_and_reports_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = _series_with(tmp_path, "wild.csv", 300, "10000")  # line 302, a training row
    args = _train(data, tmp_path / "run")
    message = _one_line_error(*_run(capsys, *args))
    # (10000 - 21.9904) / 5.59007 = 1785 robust standard deviations.
    assert message.startswith(f"{data}:302: column 'temp' holds 10000, 1.78e+03 robust standard")
    args.remove("--quiet")
    code, _, err = _run(capsys, *args, "--outliers", "keep")
    assert code == 0
    note = (
        f"{data}: 1 outlier(s) kept (data.outliers=keep), more than 1000 robust standard "
        "deviations (1.4826 x the median absolute deviation) from the median of the column's "
        "training rows: line 302, column 'temp' = 10000 (1.78e+03)"
    )
    assert err.index(note) < err.index(": test mse")  # reported before training
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["metrics"]["data"]["fixes"] == [note]
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["data"]["outliers"] == "keep"
    assert config["artifacts"]["outliers"]["threshold"] == 1000
    # Kept or not, a z-score beyond 1e15 on the training scaler is refused.
    absurd = _series_with(tmp_path, "absurd.csv", 900, "1e30")
    message = _one_line_error(*_run(capsys, *_train(absurd, tmp_path / "r2", "--outliers", "keep")))
    assert message.startswith(f"{absurd}:902: column 'temp' holds 1e+30, ")
    assert "beyond 1e+15 the models' float32 sums overflow to inf, even for a kept outlier" in (
        message
    )


# --- a recurrent window too short for its initialisation ----------------------------------------


def test_a_window_of_fewer_than_three_segments_names_the_fix(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = _series_with(tmp_path, "series.csv", 0, "20.0")
    # 48 steps in segments of 24: 2 encoder steps, where chrono needs 3.
    argv = [*_train(data, tmp_path / "out", "--set", "model.patch_length=24"), "--input-length",
            "48"]  # fmt: skip
    message = _one_line_error(*_run(capsys, *argv))
    assert message == (
        "model.init chrono spreads the gates' time scales over the encoder's steps, and a window "
        "takes 2 (data.input_length 48 / model.patch_length 24), fewer than 3; lengthen "
        "data.input_length to 72 or more, shorten model.patch_length, or set "
        "model.init=forget-bias-1"
    )
    # The fix it names works.
    fixed = [*_train(data, tmp_path / "fixed", "--set", "model.patch_length=24", "--set",
             "model.init=forget-bias-1"), "--input-length", "48"]  # fmt: skip
    assert cli.main(fixed) == 0
