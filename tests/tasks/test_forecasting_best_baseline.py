"""The forecasting report names its best baseline and says plainly whether the model beats it
(seqlab.tasks.forecasting.report), beside NLinear and DLinear fitted on the training windows only
and kept in the model directory (seqlab.tasks.forecasting.baselines).

The words are checked against sentences written out here from the numbers; the fits against
NLinear and DLinear fitted on windows cut here with numpy from the training rows of the CSV
(DLinear's penalty chosen on validation windows cut the same way); the reports on a
small model trained a few steps on a clean linear trend, and on the saved fixture directory, both
of which a baseline beats.
"""

from __future__ import annotations

import contextlib
import io
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _forecasting_runs import HORIZON, INPUT_LENGTH, hourly_series, train_args
from numpy.testing import assert_allclose, assert_array_equal

from seqlab import cli
from seqlab.errors import SeqlabError
from seqlab.model_dir import DLINEAR_BASELINE, LINEAR_BASELINE, NLINEAR_BASELINE, ModelDir
from seqlab.models.forecast_baselines import DLinearBaseline, NLinearBaseline
from seqlab.tasks.configuration import build_run_config
from seqlab.tasks.forecasting.baselines import (
    fit_baselines,
    load_baselines,
    report_baselines,
    save_baselines,
)
from seqlab.tasks.forecasting.report import best_baseline, evaluation_report, summary
from seqlab.tasks.forecasting.task import ForecastingTask
from seqlab.tasks.runner import evaluate_split, load_trained

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "model_dirs"
ROWS = 24 * 20  # ratio split: 336 training rows, 48 validation, 96 test


def _cut(scaled: np.ndarray, start: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
    """Every window reading rows [start, stop): inputs (N, T, F_in), the target's next values
    (N, horizon)."""
    starts = range(start, stop - INPUT_LENGTH - HORIZON + 1)
    x = np.stack([scaled[s : s + INPUT_LENGTH] for s in starts])  # (N, T, F_in)
    y = np.stack([scaled[s + INPUT_LENGTH : s + INPUT_LENGTH + HORIZON, -1] for s in starts])
    return x, y


# ---- the words ----
def test_the_best_baseline_in_plain_words():
    baselines = {"repeat": {"mse": 0.9}, "linear": {"mse": 0.341}, "nlinear": {"mse": 0.289}}
    short = best_baseline(0.300, baselines)
    assert short["name"] == "nlinear" and short["mse"] == 0.289
    assert short["model_minus_baseline"] == pytest.approx(0.011, abs=1e-15)
    assert short["verdict"] == (
        "best baseline: nlinear 0.289; the model falls short of it by 0.011 mse (3.8%)"
    )
    beats = best_baseline(0.25, baselines)  # 0.039 / 0.289 = 13.49%
    assert beats["model_minus_baseline"] == pytest.approx(-0.039, abs=1e-15)
    assert (
        beats["verdict"] == "best baseline: nlinear 0.289; the model beats it by 0.039 mse (13.5%)"
    )
    assert best_baseline(0.289, baselines)["verdict"] == (
        "best baseline: nlinear 0.289; the model matches it exactly"
    )
    perfect = best_baseline(0.5, {"repeat": {"mse": 0.0}})  # no percentage of zero
    assert perfect["verdict"] == "best baseline: repeat 0; the model falls short of it by 0.5 mse"
    # Ten times the baseline's mse or more: a ratio, not thousands of percent.
    assert best_baseline(0.6, {"linear": {"mse": 0.05}})["verdict"] == (
        "best baseline: linear 0.05; the model falls short of it by 0.55 mse (an mse 12 times the "
        "baseline's)"
    )
    assert best_baseline(0.55, {"linear": {"mse": 0.05}})["verdict"].endswith("(1000.0%)")
    # Equal to rounding (dlinear at lambda = 0 forecasts as linear does): the first listed wins.
    tied = {"linear": {"mse": 0.3}, "dlinear": {"mse": 0.3 * (1 - 1e-9)}}
    assert best_baseline(0.2, tied)["name"] == "linear"
    apart = {"linear": {"mse": 0.3}, "dlinear": {"mse": 0.3 * (1 - 1e-5)}}
    assert best_baseline(0.2, apart)["name"] == "dlinear"


def test_summary_adds_the_verdict_and_each_baseline_left_out():
    metrics = {
        "mse": 0.3,
        "windows": 10,
        "baselines": {"repeat": {"mse": 0.9}, "nlinear": {"mse": 0.289}},
        "baselines_left_out": {"dlinear": "the training series cannot be read"},
    }
    assert summary(metrics) == [
        "mse on the same 10 windows: model 0.3, repeat 0.9, nlinear 0.289",
        "best baseline: nlinear 0.289; the model falls short of it by 0.011 mse (3.8%)",
        "dlinear baseline left out: the training series cannot be read",
    ]


# ---- a model that a baseline beats ----
def _trend_series(path: Path) -> Path:
    """The shared generated columns without noise, and ``temp`` a clean line: 0.05 per hour."""
    frame = hourly_series(ROWS, noise=0.0)
    frame["temp"] = (15 + 0.05 * np.arange(ROWS)).round(4)
    frame.to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str]:
    """(the series, the model directory, what ``seqlab train`` printed on standard error) of an
    LSTM trained 20 steps on the trend."""
    folder = tmp_path_factory.mktemp("trend")
    csv = _trend_series(folder / "trend.csv")
    out = folder / "model"
    args = [arg for arg in train_args(csv, out, steps=20) if arg != "--quiet"]
    errors = io.StringIO()
    with contextlib.redirect_stderr(errors):
        assert cli.main(args) == 0
    return csv, out, errors.getvalue()


def test_a_report_where_a_baseline_wins_says_so_plainly(trained) -> None:
    csv, out, _ = trained
    task, model, config = load_trained(out)
    data = task.series_data
    directory = ModelDir(out)
    fitted = fit_baselines(data, load_baselines(directory, config["artifacts"], data))
    baselines = report_baselines(data, fitted.linear, fitted.companions)
    assert list(baselines) == ["repeat", "seasonal_24", "linear", "nlinear", "dlinear"]
    report = evaluation_report(model.eval(), data, "test", baselines=baselines)
    best = report["best_baseline"]
    # A line is forecast exactly by a least-squares map of the window; the model is not.
    assert best["name"] in ("linear", "nlinear", "dlinear")
    assert best["mse"] < 1e-6 < report["mse"]
    lowest = min(values["mse"] for values in report["baselines"].values())
    assert best["mse"] == pytest.approx(lowest, rel=1e-6, abs=1e-12)
    assert best["model_minus_baseline"] == report["mse"] - best["mse"]
    gap = report["mse"] - best["mse"]
    # A gap over ten times the baseline's mse is said as a ratio of the two mse.
    ratio = (
        ""
        if best["mse"] == 0
        else f" (an mse {report['mse'] / best['mse']:.3g} times the baseline's)"
    )
    assert best["verdict"] == (
        f"best baseline: {best['name']} {best['mse']:.4g}; the model falls short of it by "
        f"{gap:.4g} mse{ratio}"
    )
    assert summary(report)[-1] == best["verdict"]
    assert "falls short" in summary(report)[-1]


def test_nlinear_and_dlinear_are_fitted_on_the_training_rows_only(tmp_path: Path) -> None:
    csv = tmp_path / "noisy.csv"
    hourly_series(ROWS).to_csv(csv, index=False)  # the shared series, noise and all
    overrides = [f"data.file={csv}", "data.target=temp", "data.features=MS",
                 f"data.input_length={INPUT_LENGTH}", f"data.horizon={HORIZON}"]  # fmt: skip
    task = ForecastingTask(build_run_config("forecasting", family="lstm", overrides=overrides))
    fitted = fit_baselines(task.series_data)  # nothing saved: all three fitted here
    assert fitted.left_out == {}
    # The training windows cut by hand: z-scores of the first 70 % of rows, from those rows.
    train_stop = int(ROWS * 0.7)
    raw = pd.read_csv(csv)[["load", "wind", "temp"]].to_numpy(np.float32).astype(np.float64)
    scaled = (raw - raw[:train_stop].mean(axis=0)) / raw[:train_stop].std(axis=0)  # (rows, F_in)
    x, y = _cut(scaled, 0, train_stop)
    nlinear = NLinearBaseline().fit(x[..., -1:], y)  # the target column alone
    assert_allclose(fitted.companions["nlinear"].predict(x), nlinear.predict(x[..., -1:]),
                    rtol=1e-4, atol=1e-5)  # fmt: skip
    # DLinear: ridge, lambda chosen on the validation windows (their inputs start T rows early,
    # in the training rows), each candidate fitted on the training windows alone.
    val_stop = ROWS - int(ROWS * 0.2)
    val_x, val_y = _cut(scaled, train_stop - INPUT_LENGTH, val_stop)
    dlinear = DLinearBaseline().fit_choosing_ridge(x[..., -1:], y, val_x[..., -1:], val_y)
    chosen = fitted.companions["dlinear"]
    assert isinstance(chosen, DLinearBaseline)
    assert chosen.ridge == pytest.approx(dlinear.ridge, rel=1e-4)
    assert_allclose(list(chosen.validation_mse.values()), list(dlinear.validation_mse.values()),
                    rtol=1e-4)  # fmt: skip
    assert_allclose(chosen.predict(x), dlinear.predict(x[..., -1:]), rtol=1e-4, atol=1e-5)
    assert fitted.details() == {"dlinear": {"ridge": chosen.ridge}}
    # Evaluated on another file for the validation split, the penalty is still chosen on the
    # training series' validation rows, never on the rows scored.
    # The other file's target is noise, which the largest penalty would forecast best.
    other = tmp_path / "other.csv"
    noise = hourly_series(ROWS, seed=5)
    noise["temp"] = (20 + 5 * np.random.default_rng(5).normal(size=ROWS)).round(4)
    noise.to_csv(other, index=False)
    on_file = task.series_data.with_evaluation_file(other, split="val")
    assert chosen.ridge < max(chosen.validation_mse)
    refit = fit_baselines(on_file).companions["dlinear"]
    assert isinstance(refit, DLinearBaseline)
    assert refit.ridge == chosen.ridge
    assert_array_equal(refit.predict(x), chosen.predict(x))
    # Not fitted on more rows: a fit that also saw the validation rows differs.
    every = range(len(scaled) - INPUT_LENGTH - HORIZON + 1)
    more_x = np.stack([scaled[s : s + INPUT_LENGTH, -1:] for s in every])
    more_y = np.stack([scaled[s + INPUT_LENGTH : s + INPUT_LENGTH + HORIZON, -1] for s in every])
    wider = NLinearBaseline().fit(more_x, more_y)
    assert not np.allclose(fitted.companions["nlinear"].predict(x), wider.predict(x[..., -1:]),
                           rtol=1e-4, atol=1e-5)  # fmt: skip
    # Nor refitted on the training and validation windows once lambda is chosen.
    both_x, both_y = np.concatenate([x, val_x])[..., -1:], np.concatenate([y, val_y])
    refitted = DLinearBaseline(ridge=chosen.ridge).fit(both_x, both_y)
    assert not np.allclose(chosen.predict(x), refitted.predict(x[..., -1:]), rtol=1e-4, atol=1e-5)


def test_dlinear_is_left_out_with_the_reason_when_no_validation_window_fits(
    tmp_path: Path,
) -> None:
    csv = tmp_path / "short.csv"
    hourly_series(ROWS).to_csv(csv, index=False)
    horizon = 60  # the 96 validation rows (48 of them the first window's input) hold no window
    overrides = [f"data.file={csv}", "data.target=temp", "data.features=MS",
                 f"data.input_length={INPUT_LENGTH}", f"data.horizon={horizon}"]  # fmt: skip
    task = ForecastingTask(build_run_config("forecasting", family="lstm", overrides=overrides))
    fitted = fit_baselines(task.series_data)
    assert list(fitted.companions) == ["nlinear"] and fitted.details() == {}
    assert fitted.left_out == {
        "dlinear": "no validation windows to choose its penalty on: split 'val' has 96 rows "
        "(from row 288 to 384), one window needs input_length + horizon = 48 + 60 = 108; use a "
        "shorter input_length or horizon, or more data"
    }


def test_saved_baselines_read_back_and_older_directories_refit_them(
    trained, tmp_path: Path
) -> None:
    csv, out, _ = trained
    task, model, config = load_trained(out)
    data = task.series_data
    fitted = fit_baselines(data)
    copy = ModelDir(tmp_path / "model")
    shutil.copytree(out, copy.path)
    save_baselines(copy, fitted)
    for name in (LINEAR_BASELINE, NLINEAR_BASELINE, DLINEAR_BASELINE):
        assert copy.file(name).is_file(), name
    windows = data.windows("test").batch(np.arange(5)).inputs.numpy()  # (5, T, F_in)
    loaded = load_baselines(copy, config["artifacts"], data)
    assert list(loaded) == ["linear", "nlinear", "dlinear"]
    for name, baseline in fitted.all().items():
        assert_array_equal(loaded[name].predict(windows), baseline.predict(windows))
    loaded_dlinear, fitted_dlinear = loaded["dlinear"], fitted.companions["dlinear"]
    assert isinstance(loaded_dlinear, DLinearBaseline)
    assert isinstance(fitted_dlinear, DLinearBaseline)
    assert loaded_dlinear.ridge == fitted_dlinear.ridge  # the chosen lambda, kept
    assert fit_baselines(data, loaded).details() == fitted.details()
    # A directory written before nlinear and dlinear were saved: refitted, to the same numbers.
    copy.file(NLINEAR_BASELINE).unlink()
    copy.file(DLINEAR_BASELINE).unlink()
    older = load_baselines(copy, config["artifacts"], data)
    assert list(older) == ["linear"]
    refitted = fit_baselines(data, older)
    assert refitted.linear is older["linear"]
    for name in ("nlinear", "dlinear"):
        assert_array_equal(
            refitted.companions[name].predict(windows), fitted.companions[name].predict(windows)
        )
    # ... and where its training series is gone, left out with the reason, the rest reported.
    moved = tmp_path / "moved.csv"
    shutil.copy(csv, moved)
    config_path = copy.config_path
    saved_config = json.loads(config_path.read_text())
    saved_config["data"]["file"] = str(tmp_path / "gone.csv")
    config_path.write_text(json.dumps(saved_config))
    orphan, model, config = load_trained(copy)
    on_file = orphan.with_eval_file(moved, split="test").series_data
    kept = fit_baselines(on_file, load_baselines(copy, config["artifacts"], on_file))
    assert set(kept.left_out) == {"nlinear", "dlinear"} and kept.companions == {}
    assert kept.left_out["nlinear"].startswith(
        "the model directory was written before it was saved, and the training series to fit "
        "it on cannot be read: "
    )
    assert "gone.csv" in kept.left_out["nlinear"]
    report = evaluation_report(
        model,
        on_file,
        "test",
        baselines=report_baselines(on_file, kept.linear, kept.companions),
        left_out=kept.left_out,
    )
    assert list(report["baselines"]) == ["repeat", "seasonal_24", "linear"]
    assert report["baselines_left_out"] == kept.left_out
    assert summary(report)[-2:] == [f"{name} baseline left out: {kept.left_out[name]}"
                                    for name in ("nlinear", "dlinear")]  # fmt: skip


def test_a_damaged_saved_baseline_names_its_file(trained, tmp_path: Path) -> None:
    _, out, _ = trained
    task, _, config = load_trained(out)
    copy = ModelDir(tmp_path / "model")
    shutil.copytree(out, copy.path)
    save_baselines(copy, fit_baselines(task.series_data))
    shutil.copy(copy.file(LINEAR_BASELINE), copy.file(DLINEAR_BASELINE))  # the wrong arrays
    with pytest.raises(SeqlabError) as caught:
        load_baselines(copy, config["artifacts"], task.series_data)
    assert str(caught.value) == (
        f"{copy.file(DLINEAR_BASELINE)}: holds bias, weight, not the dlinear baseline's bias, "
        "kernel_size, remainder_weight, ridge, trend_weight; delete the file to refit the "
        "baseline from the training series, or retrain"
    )


def test_training_prints_the_verdict(trained) -> None:
    _, _, printed = trained
    verdicts = [line for line in printed.splitlines() if line.startswith("best baseline: ")]
    assert len(verdicts) == 1 and "; the model falls short of it by " in verdicts[0]


# ---- the saved fixture directory ----
def test_the_fixture_directory_loses_to_its_linear_baseline_and_says_so(tmp_path: Path) -> None:
    model_dir = tmp_path / "forecasting"
    shutil.copytree(FIXTURES / "forecasting", model_dir)
    task, model, _ = load_trained(model_dir)
    on_file = task.with_eval_file(FIXTURES / "forecasting_recent.csv", split="test")
    report = evaluate_split(on_file, model, "test", detail=True)
    # The numbers the fixture recorded (expected_eval.json): model 0.95336, linear 0.0024907.
    model_mse, linear_mse = 0.953359768403939, 0.0024906847966865
    assert report["mse"] == pytest.approx(model_mse, rel=1e-6)
    assert report["best_baseline"]["name"] == "linear"
    assert report["best_baseline"]["mse"] == pytest.approx(linear_mse, rel=1e-6)
    # 0.953359768403939 - 0.0024906847966865 = 0.9509; 0.95336 / 0.0024907 = 382.8.
    line = ("best baseline: linear 0.002491; the model falls short of it by 0.9509 mse "
            "(an mse 383 times the baseline's)")  # fmt: skip
    assert report["best_baseline"]["verdict"] == line
    assert line in on_file.summary(report)
