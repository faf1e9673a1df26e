"""``model.residual_of``: a forecaster that learns the residual of a baseline chosen on rolling
origins over the training and validation windows (seqlab.tasks.forecasting.residual,
seqlab.models.residual_forecaster).

References: the choice against each baseline's own predict(), refitted here on each origin's
training windows and scored on the windows after it, all cut with numpy from the CSV; the model
at initialisation against the chosen baseline's predict(); after training, the test mse against
the best baseline's and a plain LSTM's on a series a baseline forecasts exactly (a clean linear
trend, whose test rows lie above every training level).
"""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from _forecasting_runs import HORIZON, INPUT_LENGTH, hourly_series, train_args
from numpy.testing import assert_allclose

from seqlab import cli
from seqlab.errors import SeqlabError
from seqlab.models.config import RecurrentConfig, TransformerConfig
from seqlab.models.forecast_baselines import (
    DLinearBaseline,
    LinearBaseline,
    NLinearBaseline,
    repeat_last,
    seasonal_naive,
)
from seqlab.models.residual_forecaster import ResidualForecaster
from seqlab.tasks.configuration import build_run_config
from seqlab.tasks.forecasting.quantiles import QuantileForecaster
from seqlab.tasks.forecasting.report import summary
from seqlab.tasks.forecasting.residual import BaselineChoice
from seqlab.tasks.forecasting.task import ForecastingTask
from seqlab.tasks.runner import evaluate_split, load_trained, train_run
from seqlab.utils.config import ConfigError

ROWS = 24 * 20  # ratio split: rows 0..335 train, 336..383 validation, 384..479 test
TRAIN_STOP, VAL_STOP = 336, 384


def _task(csv: Path, *settings: str) -> ForecastingTask:
    overrides = [f"data.file={csv}", "data.target=temp", "data.features=MS",
                 f"data.input_length={INPUT_LENGTH}", f"data.horizon={HORIZON}",
                 "model.hidden_size=8", "model.combine_with=null", *settings]  # fmt: skip
    return ForecastingTask(build_run_config("forecasting", family="lstm", overrides=overrides))


def _noisy(path: Path, *, test_shift: float = 0.0) -> Path:
    """The shared generated series; ``test_shift`` added to the test rows' temp."""
    frame = hourly_series(ROWS)
    frame.loc[VAL_STOP:, "temp"] += test_shift
    frame.to_csv(path, index=False)
    return path


def _windows(csv: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """Every window (N, T, F_in) of ``split`` ("train" or "val") and its temp targets (N,
    horizon, 1), cut by hand: z-scores from the training rows, inputs from INPUT_LENGTH rows
    before the split (none before row 0), targets within the split's rows."""
    raw = pd.read_csv(csv)[["load", "wind", "temp"]].to_numpy(np.float32).astype(np.float64)
    scaled = (raw - raw[:TRAIN_STOP].mean(axis=0)) / raw[:TRAIN_STOP].std(axis=0)
    first, stop = (0, TRAIN_STOP) if split == "train" else (TRAIN_STOP - INPUT_LENGTH, VAL_STOP)
    starts = range(first, stop - INPUT_LENGTH - HORIZON + 1)
    x = np.stack([scaled[s : s + INPUT_LENGTH] for s in starts])
    y = np.stack([scaled[s + INPUT_LENGTH : s + INPUT_LENGTH + HORIZON, -1:] for s in starts])
    return x, y


def _naive_predicts() -> dict[str, Callable[[np.ndarray], np.ndarray]]:
    return {
        "repeat": lambda w: repeat_last(w, horizon=HORIZON, output_features=1),
        "seasonal_24": lambda w: seasonal_naive(w, horizon=HORIZON, period=24, output_features=1),
    }


def _least_squares(
    x: np.ndarray, y: np.ndarray, dlinear_ridge: float
) -> dict[str, Callable[[np.ndarray], np.ndarray]]:
    """Linear, NLinear and DLinear (lambda ``dlinear_ridge``) fitted on x, y: their predicts."""
    common = {"output_features": 1, "extra_inputs": 0}
    return {
        "linear": LinearBaseline(**common).fit(x, y).predict,
        "nlinear": NLinearBaseline(**common).fit(x, y).predict,
        "dlinear": DLinearBaseline(**common, ridge=dlinear_ridge).fit(x, y).predict,
    }


def _scores(predicts: dict[str, Callable[[np.ndarray], np.ndarray]], x, y) -> dict[str, float]:
    return {name: float(np.mean((predict(x) - y) ** 2)) for name, predict in predicts.items()}


# ---- the choice ----
def test_auto_picks_the_baseline_of_lowest_mean_mse_over_rolling_origins(tmp_path: Path) -> None:
    csv = _noisy(tmp_path / "noisy.csv")
    task = _task(csv, "model.residual_of=auto")
    model = task.build_model()
    choice = task.residual_choice
    assert choice is not None and choice.setting == "auto"
    fitted = task.baselines()  # fitted on the training windows, as the report's
    ridge = fitted.companions["dlinear"].ridge
    # The validation fold: the maps fitted on every training window.
    x, y = _windows(csv, "val")
    assert len(task.series_data.windows("val")) == len(x)
    predicts = {**_naive_predicts(), **{name: b.predict for name, b in fitted.all().items()}}
    validation = _scores(predicts, x, y)
    # The origins: 277 training windows, the last 30% (83) cut into 3 blocks of 27; each fold
    # refits on the windows before its origin and scores from origin + horizon - 1 to the
    # block's end (the first window none of whose targets was fitted on).
    train_x, train_y = _windows(csv, "train")
    assert len(train_x) == 277
    folds = []
    for origin in (196, 223, 250):
        refitted = _least_squares(train_x[:origin], train_y[:origin], ridge * origin / 277)
        first, stop = origin + HORIZON - 1, origin + 27
        folds.append(_scores({**_naive_predicts(), **refitted}, train_x[first:stop],
                             train_y[first:stop]))  # fmt: skip
    folds.append(validation)
    rolling = {name: float(np.mean([fold[name] for fold in folds])) for name in validation}
    # The data's windows are float32 z-scores, these float64 ones: agreement to float32.
    assert choice.validation_mse == pytest.approx(validation, rel=1e-5)
    assert choice.rolling_mse == pytest.approx(rolling, rel=1e-5)
    assert choice.folds == 4
    assert list(choice.rolling_mse) == ["repeat", "seasonal_24", "linear", "nlinear", "dlinear"]
    assert choice.baseline == min(rolling, key=rolling.__getitem__)
    assert len(set(np.round(list(rolling.values()), 6))) == len(rolling)  # no tie decides it
    # At initialisation the model forecasts exactly what the chosen baseline does.
    assert isinstance(model, ResidualForecaster)
    test = task.series_data.windows("test").batch(np.arange(20)).inputs  # (20, T, F_in)
    with torch.no_grad():
        forecast = model.eval()(test).double().numpy()
    assert_allclose(forecast, predicts[choice.baseline](test.double().numpy()), atol=2e-5)
    # The line the summary prints.
    ranked = sorted(rolling.items(), key=lambda item: item[1])
    listed = ", ".join(f"{name} {mse:.4g}" for name, mse in ranked)
    assert choice.summary() == (
        f"residual of {choice.baseline} (chosen on 4 rolling origins, the last the validation "
        f"split: {listed})"
    )


def test_a_choice_recorded_before_the_rolling_origin_still_loads() -> None:
    old = {"baseline": "nlinear", "setting": "auto",
           "validation_mse": {"repeat": 0.5, "nlinear": 0.25}}  # fmt: skip
    choice = BaselineChoice.from_json(old)
    assert choice.rolling_mse is None and choice.to_json() == old
    assert (
        choice.summary() == "residual of nlinear (chosen on validation: nlinear 0.25, repeat 0.5)"
    )
    assert BaselineChoice.from_json(choice.to_json()) == choice


def test_the_choice_never_reads_the_test_rows(tmp_path: Path) -> None:
    before = _task(_noisy(tmp_path / "before.csv"), "model.residual_of=auto")
    after = _task(_noisy(tmp_path / "after.csv", test_shift=7.0), "model.residual_of=auto")
    before.build_model(), after.build_model()
    assert before.residual_choice == after.residual_choice
    # ... while the test windows did change.
    test_before = before.series_data.windows("test").batch(np.arange(3)).targets
    test_after = after.series_data.windows("test").batch(np.arange(3)).targets
    assert not torch.equal(test_before, test_after)


def test_a_named_baseline_is_kept_whatever_validation_says(tmp_path: Path) -> None:
    task = _task(_noisy(tmp_path / "noisy.csv"), "model.residual_of=repeat")
    model = task.build_model()
    choice = task.residual_choice
    assert choice is not None and choice.baseline == "repeat"
    assert min(choice.validation_mse.values()) < choice.validation_mse["repeat"]
    assert choice.summary().startswith("residual of repeat (set by model.residual_of; ")
    window = task.series_data.windows("val").batch(np.arange(4)).inputs
    with torch.no_grad():
        forecast = model.eval()(window)
    assert torch.equal(forecast, window[:, -1:, -1:].expand(4, HORIZON, 1))


def test_quantiles_start_with_the_point_at_the_baseline_and_an_open_band(
    tmp_path: Path,
) -> None:
    task = _task(_noisy(tmp_path / "noisy.csv"), "model.residual_of=nlinear",
                 "data.quantiles=0.1,0.5,0.9")  # fmt: skip
    model = task.build_model().eval()
    assert isinstance(model, QuantileForecaster)
    window = task.series_data.windows("val").batch(np.arange(6)).inputs
    with torch.no_grad():
        quantiles = model.quantile_forecast(window)  # (6, horizon, 1, 3)
        point = model(window)
    nlinear = task.baselines().companions["nlinear"].predict(window.double().numpy())
    assert_allclose(point.double().numpy(), nlinear, atol=2e-5)
    # The point level is the baseline's; the band is open from the start (its offsets are not
    # gated), so the outer levels lie strictly either side.
    assert torch.equal(quantiles[..., 1], point)
    assert (quantiles[..., 0] < point).all() and (quantiles[..., 2] > point).all()


def test_without_the_setting_the_model_is_as_before(tmp_path: Path) -> None:
    task = _task(_noisy(tmp_path / "noisy.csv"))
    model = task.build_model()
    assert not isinstance(model, ResidualForecaster) and task.residual_choice is None
    assert "residual" not in task.artifacts()


# ---- bad values ----
def test_a_bad_value_is_refused_in_one_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        build_run_config("forecasting", family="lstm", overrides=["model.residual_of=best"])
    assert str(caught.value) == (
        "model.residual_of: 'best' is not one of 'auto', 'repeat', 'seasonal_24', "
        "'seasonal_168', 'linear', 'nlinear', 'dlinear'"
    )
    for config in (RecurrentConfig, TransformerConfig):
        with pytest.raises(ValueError) as raised:
            config(residual_of="best")  # type: ignore[arg-type]
        assert str(raised.value) == (
            "model.residual_of ('best') must be one of auto, repeat, seasonal_24, seasonal_168, "
            "linear, nlinear, dlinear, or null for a network without a baseline"
        )
    assert build_run_config(
        "forecasting", family="transformer", overrides=["model.residual_of=none"]
    ).model.residual_of is None  # fmt: skip
    # A season longer than the window: no such baseline for this run.
    task = _task(_noisy(tmp_path / "noisy.csv"), "model.residual_of=seasonal_168")
    with pytest.raises(SeqlabError) as missing:
        task.build_model()
    assert str(missing.value) == (
        "model.residual_of: no seasonal_168 baseline for this run (a window of "
        "data.input_length 48 steps holds no whole period); choose one of auto, repeat, "
        "seasonal_24, linear, nlinear, dlinear"
    )


# ---- training, the directory, the report ----
def _trend(path: Path) -> Path:
    """The shared columns without noise, and temp a clean line: every test level is new."""
    frame = hourly_series(ROWS, noise=0.0)
    frame["temp"] = (15 + 0.05 * np.arange(ROWS)).round(4)
    frame.to_csv(path, index=False)
    return path


def _setting_args(args: list[str]) -> list[str]:
    """train_args' --set values as overrides."""
    return [value for flag, value in zip(args, args[1:], strict=False) if flag == "--set"]


@pytest.fixture(scope="module")
def trend_runs(tmp_path_factory: pytest.TempPathFactory):
    """(the residual run, its test report, a plain LSTM's test report) on the trend, 100 steps
    each."""
    folder = tmp_path_factory.mktemp("trend")
    csv = _trend(folder / "trend.csv")
    plain = folder / "plain"
    with contextlib.redirect_stderr(io.StringIO()):
        assert cli.main(train_args(csv, plain, steps=100)) == 0
    plain_task, plain_model, _ = load_trained(plain)
    plain_report = evaluate_split(plain_task, plain_model, "test", detail=True)
    task = _task(csv, *_setting_args(train_args(csv, plain)), "model.hidden_size=16",
                 "train.steps=100", "model.residual_of=auto")  # fmt: skip
    trained = train_run(task.run, folder / "residual", progress="quiet", task=task)
    return trained, plain_report


def test_after_training_it_keeps_the_baselines_accuracy_where_a_plain_lstm_loses_it(
    trend_runs,
) -> None:
    trained, plain = trend_runs
    report = trained.metrics
    best = report["best_baseline"]
    assert best["name"] in ("linear", "nlinear", "dlinear") and best["mse"] < 1e-10
    assert report["mse"] <= best["mse"] + 1e-8
    assert plain["mse"] > 1e-4  # the network alone misses the new levels
    assert report["residual"]["baseline"] in ("linear", "nlinear", "dlinear")


def test_the_directory_records_the_choice_and_loads_without_a_refit(trend_runs) -> None:
    trained, _ = trend_runs
    config = json.loads((trained.model_dir / "config.json").read_text())
    choice = trained.task.residual_choice
    assert config["artifacts"]["residual"] == choice.to_json()
    assert config["model"]["residual_of"] == "auto"
    task, model, _ = load_trained(trained.model_dir)
    assert task.residual_choice == choice
    windows = task.series_data.windows("test").batch(np.arange(30)).inputs
    trained.model.eval()
    with torch.no_grad():
        assert torch.equal(model(windows), trained.model(windows))
    assert torch.equal(model.baseline_weight, trained.model.baseline_weight)
    # The report and the summary say which baseline and why.
    line = choice.summary()
    assert line.startswith(f"residual of {choice.baseline} (chosen on 4 rolling origins, ")
    assert line in summary(trained.metrics)
    metrics = json.loads((trained.model_dir / "metrics.json").read_text())["metrics"]
    assert metrics["residual"] == {**choice.to_json(), "summary": line}
    report = evaluate_split(task, model, "test", detail=True)
    assert report["residual"]["summary"] == line and report["mse"] == trained.metrics["mse"]
