"""``model.combine_with`` (on by default, "auto"): the forecast averages the network's with the
baseline chosen on rolling origins (seqlab.models.combined_forecaster,
seqlab.tasks.forecasting.residual).

References: the average against the network's own output and the chosen baseline's predict(),
computed here; the training against the same run without the average (the network's weights
must come out bitwise equal); the report's figures against errors computed with numpy on the
test windows.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from _forecasting_runs import HORIZON, INPUT_LENGTH, hourly_series
from numpy.testing import assert_allclose

from seqlab.errors import SeqlabError
from seqlab.models.combined_forecaster import CombinedForecaster
from seqlab.models.forecast_baselines import repeat_last, seasonal_naive
from seqlab.tasks.configuration import build_run_config
from seqlab.tasks.forecasting.report import summary
from seqlab.tasks.forecasting.task import ForecastingTask
from seqlab.tasks.runner import load_trained, train_run

ROWS = 24 * 20  # ratio split: rows 0..335 train, 336..383 validation, 384..479 test


def _task(csv: Path, *settings: str) -> ForecastingTask:
    overrides = [f"data.file={csv}", "data.target=temp", "data.features=MS",
                 f"data.input_length={INPUT_LENGTH}", f"data.horizon={HORIZON}",
                 "model.hidden_size=8", "train.batch_size=16", "train.device=cpu",
                 "train.steps=30", "train.eval_every=1000", "train.warmup_steps=5",
                 "train.lr=3e-3", *settings]  # fmt: skip
    return ForecastingTask(build_run_config("forecasting", family="lstm", overrides=overrides))


@pytest.fixture(scope="module")
def csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("combination") / "series.csv"
    hourly_series(ROWS).to_csv(path, index=False)
    return path


def _predict(task: ForecastingTask, name: str, windows: np.ndarray) -> np.ndarray:
    """Baseline ``name``'s forecast of ``windows`` (N, T, F_in) -> (N, horizon, 1)."""
    if name == "repeat":
        return repeat_last(windows, horizon=HORIZON, output_features=1)
    if name == "seasonal_24":
        return seasonal_naive(windows, horizon=HORIZON, period=24, output_features=1)
    return task.baselines().all()[name].predict(windows)


def test_by_default_the_forecast_is_the_mean_of_the_network_and_the_chosen_baseline(
    csv: Path,
) -> None:
    task = _task(csv)
    assert task.run.model.combine_with == "auto"
    model = task.build_model()
    assert isinstance(model, CombinedForecaster)
    choice = task.combination_choice
    assert choice is not None and choice.role == "combination" and choice.rolling_mse
    assert choice.baseline == min(choice.rolling_mse, key=choice.rolling_mse.__getitem__)
    # The same rule as model.residual_of=auto picks the same baseline.
    residual = _task(csv, "model.combine_with=null", "model.residual_of=auto")
    residual.build_model()
    assert residual.residual_choice is not None
    assert residual.residual_choice.rolling_mse == choice.rolling_mse
    windows = task.series_data.windows("test").batch(np.arange(25)).inputs  # (25, T, F_in)
    with torch.no_grad():
        network = model.network.eval()(windows).double().numpy()  # (25, horizon, 1)
        combined = model.eval()(windows).double().numpy()
    baseline = _predict(task, choice.baseline, windows.double().numpy())
    assert_allclose(combined, 0.5 * network + 0.5 * baseline, atol=2e-5)
    assert np.abs(network - baseline).max() > 0.05  # the two parts differ: the test can fail
    assert choice.summary().startswith(f"averaged with {choice.baseline} (chosen on 4 rolling ")


@pytest.fixture(scope="module")
def runs(csv: Path, tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("runs")
    combined = _task(csv)
    plain = _task(csv, "model.combine_with=null")
    return (
        train_run(combined.run, folder / "combined", progress="quiet", task=combined),
        train_run(plain.run, folder / "plain", progress="quiet", task=plain),
    )


def test_the_network_trains_exactly_as_without_the_average(runs) -> None:
    combined, plain = runs
    assert isinstance(combined.model, CombinedForecaster)
    assert not isinstance(plain.model, CombinedForecaster)
    mine, theirs = combined.model.network.state_dict(), plain.model.state_dict()
    assert mine.keys() == theirs.keys()
    assert all(torch.equal(mine[name], theirs[name]) for name in mine)
    assert combined.fit.steps == plain.fit.steps == 30


def test_the_report_shows_the_average_and_the_network_alone(runs) -> None:
    combined, plain = runs
    report, task = combined.metrics, combined.task
    choice = task.combination_choice
    # The network alone is the plain run's model: the same weights, the same errors.
    alone = report["combination"]["network_alone"]
    assert alone["mse"] == pytest.approx(plain.metrics["mse"], rel=1e-9)
    assert alone["mae"] == pytest.approx(plain.metrics["mae"], rel=1e-9)
    # The average's mse, computed here from its two parts on every test window.
    data = task.series_data.windows("test")
    batch = data.batch(np.arange(len(data)))
    truth = batch.targets.double().numpy().reshape(len(data), HORIZON, 1)
    with torch.no_grad():
        network = plain.model.eval()(batch.inputs).double().numpy()
    baseline = _predict(task, choice.baseline, batch.inputs.double().numpy())
    mean = 0.5 * network + 0.5 * baseline
    assert report["mse"] == pytest.approx(float(np.mean((mean - truth) ** 2)), rel=1e-4)
    assert report["combination"]["summary"] == choice.summary()
    lines = summary(report)
    assert f"the forecast: {choice.summary()}" in lines
    assert (
        f"the network alone: mse {alone['mse']:.4g}, mae {alone['mae']:.4g} (the average: mse "
        f"{report['mse']:.4g})"
    ) in lines


def test_the_directory_records_the_choice_and_reloads_the_same_forecasts(runs) -> None:
    combined, _ = runs
    config = json.loads((combined.model_dir / "config.json").read_text())
    choice = combined.task.combination_choice
    assert config["artifacts"]["combination"] == choice.to_json()
    task, model, _ = load_trained(combined.model_dir)
    assert task.combination_choice == choice
    windows = task.series_data.windows("test").batch(np.arange(30)).inputs
    combined.model.eval()
    with torch.no_grad():
        assert torch.equal(model(windows), combined.model(windows))


def test_a_directory_that_lost_the_record_is_refused_in_one_line(runs, tmp_path: Path) -> None:
    combined, _ = runs
    broken = tmp_path / "broken"
    broken.mkdir()
    for path in combined.model_dir.iterdir():
        if path.is_file():
            (broken / path.name).write_bytes(path.read_bytes())
    config = json.loads((broken / "config.json").read_text())
    del config["artifacts"]["combination"]
    (broken / "config.json").write_text(json.dumps(config))
    with pytest.raises(SeqlabError, match=r"has no 'combination' under artifacts.*Retrain"):
        load_trained(broken)
