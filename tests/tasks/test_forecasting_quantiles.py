"""Quantile forecasts (seqlab.tasks.forecasting.quantiles): the pinball loss and the interval
score against hand computations, quantiles that never cross, and calibrated intervals.

The calibration test trains a small LSTM with ``--quantiles 0.1,0.5,0.9`` on a daily sine plus
Gaussian noise of known sigma, whose true conditional quantiles are the sine plus z_q sigma
(z_0.9 = 1.2816), and checks each level's coverage on the test windows and the band's width.
The same model serves the ``seqlab forecast`` tests. The directory written before quantile
forecasts existed (tests/fixtures/model_dirs/forecasting) must load and forecast as it did.
"""

from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.testing import assert_close

import seqlab
from seqlab import cli
from seqlab.errors import SeqlabError
from seqlab.models.config import RecurrentConfig, TransformerConfig
from seqlab.models.forecaster import (
    ChannelIndependent,
    RecurrentForecaster,
    ReversibleInstanceNorm,
    TransformerForecaster,
)
from seqlab.tasks.forecasting.predictor import ForecastingPredictor
from seqlab.tasks.forecasting.quantiles import (
    IntervalSums,
    QuantileForecaster,
    interval_report,
    interval_summary,
    pinball_loss,
    point_index,
    quantile_forecasts,
)

LEVELS = (0.1, 0.5, 0.9)
B, L, F, H = 4, 12, 3, 5
SIGMA = 0.5  # the synthetic series' noise
Z_90 = 1.2815515655446004  # the standard normal's 0.9 quantile
DAYS = 120
INPUT_LENGTH, HORIZON = 24, 6
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "model_dirs"


# ------------------------------------------------------------------------- hand computations


def test_pinball_loss_equals_a_hand_computation() -> None:
    # y = 2; forecasts 1.0, 2.5, 4.0 at levels 0.1, 0.5, 0.9:
    # L_0.1 = max(0.1 * 1, -0.9 * 1) = 0.1; L_0.5 = max(0.5 * -0.5, -0.5 * -0.5) = 0.25;
    # L_0.9 = max(0.9 * -2, -0.1 * -2) = 0.2. And y = -1 with forecasts -3, -1, 0:
    # L_0.1 = max(0.1 * 2, -0.9 * 2) = 0.2; L_0.5 = 0; L_0.9 = max(-0.9, 0.1) = 0.1.
    forecast = torch.tensor([[1.0, 2.5, 4.0], [-3.0, -1.0, 0.0]], dtype=torch.float64)
    truth = torch.tensor([2.0, -1.0], dtype=torch.float64)
    expected = torch.tensor([[0.1, 0.25, 0.2], [0.2, 0.0, 0.1]], dtype=torch.float64)
    assert_close(pinball_loss(forecast, truth, LEVELS), expected)


def test_pinball_loss_is_least_at_the_empirical_quantile() -> None:
    # The property that makes the loss learn quantiles: over a sample of N, the constant
    # forecast minimising the mean loss of level q is the sample's q-quantile, its
    # ceil(qN)-th smallest value (numpy's inverted_cdf), here found on a grid of step 0.001.
    sample = torch.tensor(np.random.default_rng(0).normal(size=999))  # (N,)
    grid = torch.linspace(-3, 3, 6001, dtype=torch.float64)
    for q in (0.1, 0.5, 0.9):
        losses = pinball_loss(grid[:, None, None], sample[None, :], (q,)).mean(dim=(1, 2))
        best = float(grid[int(torch.argmin(losses))])
        quantile = float(np.quantile(sample.numpy(), q, method="inverted_cdf"))
        assert best == pytest.approx(quantile, abs=1.001e-3)


def test_interval_sums_equal_a_hand_computation() -> None:
    # One window, three steps, one column; levels 0.1, 0.5, 0.9, so alpha = 1 - 0.8 = 0.2 and
    # 2 / alpha = 10. Each step's forecasts (l, m, u) = (-1, 0.2, 1); truths 0, 3, -2.
    # Interval scores: inside 2; above 2 + 10 (3 - 1) = 22; below 2 + 10 (-1 - -2) = 12.
    forecast = np.array([[[[-1.0, 0.2, 1.0]], [[-1.0, 0.2, 1.0]], [[-1.0, 0.2, 1.0]]]])
    truth = np.array([[[0.0], [3.0], [-2.0]]])  # (1, 3, 1)
    sums = IntervalSums(LEVELS)
    # In the data's units: x 10 + 5, so the score scales by 10.
    sums.add(forecast, truth, forecast * 10 + 5, truth * 10 + 5)
    metrics = sums.metrics()
    pinball = np.mean(
        [
            [0.1 * 1, 0.5 * 0.2, 0.1 * 1],  # y = 0: l under by 1, m and u over
            [0.1 * 4, 0.5 * 2.8, 0.9 * 2],  # y = 3: every forecast under
            [0.9 * 1, 0.5 * 2.2, 0.1 * 3],  # y = -2: every forecast over
        ]
    )
    expected = {
        "coverage_q0.1": 1 / 3,  # only -2 <= -1
        "coverage_q0.5": 2 / 3,  # 0 and -2 <= 0.2
        "coverage_q0.9": 2 / 3,  # 0 and -2 <= 1
        "interval_coverage": 1 / 3,
        "interval_score": (2 + 22 + 12) / 3,
        "interval_score_original": 10 * (2 + 22 + 12) / 3,
        "pinball": pinball,
    }
    assert metrics.keys() == expected.keys()
    for name, value in expected.items():
        assert metrics[name] == pytest.approx(value, rel=1e-12), name


def test_interval_sums_accumulate_over_batches() -> None:
    rng = np.random.default_rng(1)
    forecast = np.sort(rng.normal(size=(10, H, 2, 3)), axis=-1)
    truth = rng.normal(size=(10, H, 2))
    whole, parts = IntervalSums(LEVELS), IntervalSums(LEVELS)
    whole.add(forecast, truth, forecast, truth)
    parts.add(forecast[:3], truth[:3], forecast[:3], truth[:3])
    parts.add(forecast[3:], truth[3:], forecast[3:], truth[3:])
    for name, value in whole.metrics().items():
        assert parts.metrics()[name] == pytest.approx(value, rel=1e-12), name
    coverage = (truth[..., None] <= forecast).mean(axis=(0, 1, 2))  # (Q,)
    assert [whole.metrics()[f"coverage_q{q:g}"] for q in LEVELS] == pytest.approx(coverage)


def test_one_level_has_no_interval() -> None:
    sums = IntervalSums((0.5,))
    sums.add(
        np.zeros((1, 2, 1, 1)),
        np.array([[[1.0], [-1.0]]]),
        np.zeros((1, 2, 1, 1)),
        np.array([[[1.0], [-1.0]]]),
    )
    assert sums.metrics() == {"coverage_q0.5": 0.5, "pinball": 0.5}


def test_point_forecast_is_the_median_else_the_middle_level() -> None:
    assert point_index((0.1, 0.5, 0.9)) == 1
    assert point_index((0.5, 0.9, 0.95)) == 0
    assert point_index((0.1, 0.3, 0.7, 0.9)) == 1  # no 0.5: the lower middle
    assert point_index((0.8,)) == 0


# ------------------------------------------------------------------------- never crossing


def _networks() -> dict[str, torch.nn.Module]:
    torch.manual_seed(0)
    recurrent = RecurrentConfig(hidden_size=8, dropout=0.0)
    transformer = TransformerConfig(
        d_model=8, num_heads=2, num_layers=1, dim_feedforward=16, dropout=0.0, max_len=64
    )
    generator = torch.Generator().manual_seed(0)
    common = {"input_features": F, "horizon": H, "output_features": F}
    return {
        "direct": RecurrentForecaster(
            recurrent, input_length=L, instance_norm=True, generator=generator, **common
        ),
        "decoder": RecurrentForecaster(
            recurrent, input_length=L, head="decoder", generator=generator, **common
        ),
        "transformer": TransformerForecaster(
            transformer, input_length=L, patch_length=4, instance_norm=True, **common
        ),
        "independent": ChannelIndependent(
            RecurrentForecaster(
                recurrent, input_features=1, horizon=H, input_length=L, generator=generator
            ),
            input_features=F,
            output_features=F,
        ),
    }


@pytest.fixture(scope="module")
def quantile_networks() -> dict[str, QuantileForecaster]:
    return {
        name: QuantileForecaster(network, (0.05, 0.3, 0.5, 0.7, 0.95)).double().eval()
        for name, network in _networks().items()
    }


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), scale=st.floats(1e-3, 1e3))
def test_quantiles_never_cross(quantile_networks, seed: int, scale: float) -> None:
    generator = torch.Generator().manual_seed(seed)
    x = scale * torch.randn(B, L, F, generator=generator, dtype=torch.float64)  # (B, T, F)
    for name, model in quantile_networks.items():
        with torch.no_grad():
            quantiles = model.quantile_forecast(x)  # (B, horizon, F_out, Q)
            raw = model.network(x).numpy()  # (B, horizon, F_out, Q)
        assert quantiles.shape == (B, H, F, 5), name
        assert bool((quantiles.diff(dim=-1) >= 0).all()), name
        # The rearrangement is a sort of the network's own outputs, and forward the 0.5 level.
        np.testing.assert_array_equal(quantiles.numpy(), np.sort(raw, axis=-1), err_msg=name)
        with torch.no_grad():
            assert_close(model(x), quantiles[..., 2])


def test_widened_output_layer_gives_each_level_its_own_weights(quantile_networks) -> None:
    # A freshly widened output layer gives distinct outputs per level (not Q copies of one),
    # so the sort has work to do and the band can open.
    x = torch.randn(B, L, F, dtype=torch.float64)
    for name, model in quantile_networks.items():
        with torch.no_grad():
            raw = model.network(x)  # (B, horizon, F_out, Q)
        assert float(raw.std(dim=-1).min()) > 0, name


def test_decoder_feeds_back_the_point_quantile() -> None:
    torch.manual_seed(0)
    network = RecurrentForecaster(
        RecurrentConfig(hidden_size=8, dropout=0.0),
        input_features=F,
        horizon=H,
        output_features=F,
        input_length=L,
        head="decoder",
        generator=torch.Generator().manual_seed(0),
    )
    model = QuantileForecaster(network, LEVELS).double().eval()
    x = torch.randn(B, L, F, dtype=torch.float64)
    # The unrolled decoder, written out: the fed back value is the 2nd smallest of the 3.
    decoder = network.decoder
    assert decoder is not None
    _, state = network.encoder(network.input_projection(x))
    previous, steps = x[:, -1:, :], []
    for _ in range(H):
        output, state = decoder.rnn(previous, state=state)
        step = decoder.output(output).reshape(B, 1, F, 3)
        previous = torch.kthvalue(step, 2, dim=-1).values  # (B, 1, F_out)
        steps.append(step)
    expected = torch.sort(torch.cat(steps, dim=1), dim=-1).values
    assert_close(model.quantile_forecast(x), expected)


def test_instance_norm_maps_every_quantile_with_its_column() -> None:
    norm = ReversibleInstanceNorm()
    x = torch.randn(B, L, F, dtype=torch.float64) * 3 + 7
    _, statistics = norm.normalise(x)
    y = torch.randn(B, H, F, 3, dtype=torch.float64)
    mapped = norm.denormalise(y, statistics)
    for level in range(3):
        assert_close(mapped[..., level], norm.denormalise(y[..., level], statistics))


def test_channel_independent_quantiles_are_each_column_from_itself() -> None:
    torch.manual_seed(0)
    inner = RecurrentForecaster(
        RecurrentConfig(hidden_size=8, dropout=0.0),
        input_features=1,
        horizon=H,
        input_length=L,
        generator=torch.Generator().manual_seed(0),
    )
    model = (
        QuantileForecaster(ChannelIndependent(inner, input_features=F, output_features=F), LEVELS)
        .double()
        .eval()
    )
    x = torch.randn(B, L, F, dtype=torch.float64)
    quantiles = model.quantile_forecast(x)  # (B, horizon, F_out, Q)
    for column in range(F):
        alone = torch.sort(inner(x[..., column : column + 1])[:, :, 0], dim=-1).values
        assert_close(quantiles[:, :, column], alone)


# ------------------------------------------------------------------------- trained end to end


def _sine(days: int, *, seed: int, start: str = "2024-01-01") -> pd.DataFrame:
    """A daily sine plus N(0, SIGMA^2) noise, hourly."""
    rng = np.random.default_rng(seed)
    hours = np.arange(24 * days)
    load = 10 + 3 * np.sin(2 * np.pi * hours / 24) + rng.normal(0, SIGMA, hours.size)
    stamps = pd.date_range(start, periods=hours.size, freq="h")
    return pd.DataFrame({"date": stamps.strftime("%Y-%m-%d %H:%M"), "load": load.round(5)})


def _train_args(data: Path, out: Path, *extra: str, steps: int = 500) -> list[str]:
    # No dropout: training-time dropout noise would widen the bands learned in training.
    settings = [
        "model.hidden_size=16",
        "model.dropout=0",
        "train.batch_size=64",
        "train.lr=1e-2",
        "train.warmup_steps=10",
        f"train.eval_every={steps}",
        "train.device=cpu",
    ]
    return [
        "train",
        "forecasting",
        "--model",
        "lstm",
        "--data",
        str(data),
        "--target",
        "load",
        "--input-length",
        str(INPUT_LENGTH),
        "--horizon",
        str(HORIZON),
        "--steps",
        str(steps),
        "--seed",
        "0",
        *(arg for setting in settings for arg in ("--set", setting)),
        "--quiet",
        "--out",
        str(out),
        *extra,
    ]


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("quantiles")
    _sine(DAYS, seed=0).to_csv(folder / "sine.csv", index=False)
    _sine(3, seed=1, start="2024-06-01").to_csv(folder / "recent.csv", index=False)
    args = _train_args(folder / "sine.csv", folder / "model", "--quantiles", "0.1,0.5,0.9")
    assert cli.main(args) == 0
    return folder


@pytest.fixture(scope="module")
def predictor(workspace: Path) -> ForecastingPredictor:
    return seqlab.load(workspace / "model")


@pytest.mark.slow
def test_coverage_is_near_the_nominal_levels_on_known_noise(predictor) -> None:
    assert isinstance(predictor.model, QuantileForecaster)
    data = predictor.task_object.series_data
    report = interval_report(predictor.model, data, "test")
    assert report["levels"] == list(LEVELS)
    for level in LEVELS:
        assert report[f"coverage_q{level:g}"] == pytest.approx(level, abs=0.07), level
    assert report["interval_nominal"] == pytest.approx(0.8)
    assert report["interval_coverage"] == pytest.approx(0.8, abs=0.1)
    # The band, in the data's units, near the true one: 2 z_0.9 sigma wide.
    widths = []
    for _, quantiles, _ in quantile_forecasts(
        predictor.model, data.windows("test"), batch_size=256
    ):
        original = data.to_original(quantiles[..., 2]) - data.to_original(quantiles[..., 0])
        widths.append(original.ravel())
    width = float(np.concatenate(widths).mean())
    assert width == pytest.approx(2 * Z_90 * SIGMA, rel=0.15)
    # The oracle's interval score (the true quantiles) is the floor a model can approach.
    assert report["interval_score_original"] < 1.2 * _oracle_interval_score()


def _oracle_interval_score() -> float:
    """E IS_0.2 of the true 10% and 90% quantiles for N(0, SIGMA^2) noise, by simulation."""
    noise = np.random.default_rng(2).normal(0, SIGMA, 200_000)
    lower, upper = -Z_90 * SIGMA, Z_90 * SIGMA
    score = (upper - lower) + 10 * np.maximum(lower - noise, 0) + 10 * np.maximum(noise - upper, 0)
    return float(score.mean())


@pytest.mark.slow
def test_training_loss_is_the_mean_pinball_loss(predictor) -> None:
    task, model = predictor.task_object, predictor.model
    batch = task.series_data.windows("train").batch(np.arange(7))
    step = task.loss(model, batch)
    quantiles = model.quantile_forecast(batch.inputs).detach().numpy()  # (B, horizon, 1, Q)
    truth = batch.targets.numpy()[..., None]  # (B, horizon, 1)
    expected = 0.0
    for index, q in enumerate(LEVELS):
        difference = truth - quantiles[..., index]
        expected += np.maximum(q * difference, (q - 1) * difference).sum()
    assert step.count == 7 * HORIZON * 3
    assert float(step.loss_sum.detach()) == pytest.approx(expected, rel=1e-5)
    metrics = task.evaluate(model, "val")
    assert {"mse", "mae", "pinball"} <= metrics.keys() and 0 < metrics["pinball"] < 0.5


@pytest.mark.slow
def test_model_directory_records_the_levels_and_forecasts_the_median(
    workspace: Path, predictor
) -> None:
    config = json.loads((workspace / "model" / "config.json").read_text())
    assert config["data"]["quantiles"] == list(LEVELS)
    assert predictor.quantiles == LEVELS
    recent = workspace / "recent.csv"
    point = predictor.forecast(recent)
    quantiles = predictor.quantile_forecast(recent)
    assert list(quantiles.columns) == ["load_q0.1", "load_q0.5", "load_q0.9"]
    assert list(quantiles.index) == list(point.index)
    np.testing.assert_allclose(point["load"], quantiles["load_q0.5"], rtol=1e-12)
    assert (np.diff(quantiles.to_numpy(), axis=1) >= 0).all()
    # Around the noise-free sine that generated the data.
    hours = np.arange(24 * 3, 24 * 3 + HORIZON)
    truth = 10 + 3 * np.sin(2 * np.pi * hours / 24)
    assert np.abs(point["load"].to_numpy() - truth).max() < 0.6


@pytest.mark.slow
def test_forecast_command_prints_each_level_and_plots_the_band(
    workspace: Path, predictor, capsys: pytest.CaptureFixture[str]
) -> None:
    model, recent = str(workspace / "model"), str(workspace / "recent.csv")
    quantiles = predictor.quantile_forecast(recent)
    capsys.readouterr()
    assert cli.main(["forecast", model, "--data", recent]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["quantile_levels"] == list(LEVELS)
    assert list(result["quantiles"]["load"]) == ["0.1", "0.5", "0.9"]
    for level in ("0.1", "0.5", "0.9"):
        np.testing.assert_allclose(
            result["quantiles"]["load"][level], quantiles[f"load_q{level}"], rtol=1e-12
        )
    assert result["values"]["load"] == result["quantiles"]["load"]["0.5"]

    plot = workspace / "band.png"
    assert (
        cli.main(["forecast", model, "--data", recent, "--format", "csv", "--plot", str(plot)]) == 0
    )
    rows = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    assert rows[0] == ["timestamp", "load", "load_q0.1", "load_q0.5", "load_q0.9"]
    assert len(rows) == HORIZON + 1
    np.testing.assert_allclose([float(v) for v in rows[1][2:]], quantiles.iloc[0], rtol=1e-12)
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    assert cli.main(["forecast", model, "--data", recent, "--format", "table"]) == 0
    assert "load_q0.9" in capsys.readouterr().out


class _Frame:
    """What the figure reads of a SeriesFrame: 24 hourly rows of one column."""

    timestamps = pd.date_range("2024-01-01", periods=24, freq="h")
    values = np.arange(24.0)[:, None]
    columns = ("load",)
    source = "recent.csv"

    def __len__(self) -> int:
        return 24


def test_the_band_is_shaded_between_the_outer_levels(tmp_path: Path) -> None:
    from types import SimpleNamespace

    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    from seqlab.commands import forecast as command

    stamps = pd.date_range("2024-01-01", periods=30, freq="h")
    point = pd.DataFrame({"load": np.full(6, 24.0)}, index=stamps[24:])
    bands = pd.DataFrame(
        {
            "load_q0.1": np.full(6, 22.0),
            "load_q0.5": np.full(6, 24.0),
            "load_q0.9": np.full(6, 27.0),
        },
        index=stamps[24:],
    )
    predictor = SimpleNamespace(
        input_length=12, quantiles=LEVELS, model_dir=tmp_path, config={"model": {"family": "lstm"}}
    )
    drawn = []
    original = pyplot.Axes.fill_between

    def record(axis, x, low, high, **options):
        drawn.append((np.asarray(low), np.asarray(high), options.get("label")))
        return original(axis, x, low, high, **options)

    pyplot.Axes.fill_between = record  # type: ignore[method-assign]
    try:
        command.write_plot(
            tmp_path / "f.svg", frame=_Frame(), forecast=point, predictor=predictor, quantiles=bands
        )
    finally:
        pyplot.Axes.fill_between = original  # type: ignore[method-assign]
    assert len(drawn) == 1
    low, high, label = drawn[0]
    assert low.tolist() == [22.0] * 6 and high.tolist() == [27.0] * 6 and label == "q0.1 to q0.9"
    assert (tmp_path / "f.svg").read_text().startswith("<?xml")


def test_interval_summary_line() -> None:
    metrics = {
        "intervals": {
            "levels": [0.1, 0.9],
            "coverage_q0.1": 0.12,
            "coverage_q0.9": 0.87,
            "interval_nominal": 0.8,
            "interval_coverage": 0.75,
            "interval_score": 1.23456,
        }
    }
    assert interval_summary(metrics) == [
        "coverage (share of true values at or below each quantile): q0.1 0.120, q0.9 0.870; "
        "80% interval covers 75.0%, interval score 1.235"
    ]
    assert interval_summary({"mse": 0.1}) == []


# ------------------------------------------------------------------------- refused settings


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (
            "0.9,0.1",
            "data: ForecastingDataConfig: data.quantiles (0.9, 0.1) are not in "
            "increasing order; list them sorted, e.g. --quantiles 0.1,0.5,0.9",
        ),
        (
            "0.1,1.5",
            "data: ForecastingDataConfig: data.quantiles: 1.5 is not a quantile level; "
            "give levels strictly between 0 and 1, e.g. --quantiles 0.1,0.5,0.9",
        ),
        (
            "0,0.5",
            "data: ForecastingDataConfig: data.quantiles: 0.0 is not a quantile level; "
            "give levels strictly between 0 and 1, e.g. --quantiles 0.1,0.5,0.9",
        ),
        (
            "0.5,0.5",
            "data: ForecastingDataConfig: data.quantiles lists 0.5 twice; give each level once",
        ),
        (
            "",
            "data: ForecastingDataConfig: data.quantiles is empty; give at least one level in "
            "(0, 1), e.g. --quantiles 0.1,0.5,0.9, or null for a point forecast",
        ),
        ("0.1,high", "data.quantiles[1]: 'high' is not a number; give e.g. 0.001 or 1e-3"),
    ],
)
def test_a_bad_quantiles_value_is_refused_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], value: str, message: str
) -> None:
    data = tmp_path / "sine.csv"
    _sine(10, seed=0).to_csv(data, index=False)
    capsys.readouterr()
    args = _train_args(data, tmp_path / "model", "--quantiles", value, steps=2)
    assert cli.main(args) == 2
    err = capsys.readouterr().err
    assert err.strip() == f"seqlab: error: {message}"
    assert not (tmp_path / "model").exists()


# ------------------------------------------------------------------------- without quantiles


def test_a_directory_without_quantiles_loads_and_forecasts_as_before(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "model_dirs"
    shutil.copytree(FIXTURES, folder)
    model_dir, recent = folder / "forecasting", folder / "forecasting_recent.csv"
    assert "quantiles" not in json.loads((model_dir / "config.json").read_text())["data"]
    expected = json.loads((model_dir / "expected.json").read_text())
    predictor = seqlab.load(model_dir)
    assert predictor.quantiles is None
    assert not isinstance(predictor.model, QuantileForecaster)
    np.testing.assert_allclose(predictor.forecast(recent)["temp"], expected["temp"], rtol=1e-6)
    with pytest.raises(SeqlabError, match="forecasts one value per step, no quantiles"):
        predictor.quantile_forecast(recent)
    capsys.readouterr()
    assert cli.main(["forecast", str(model_dir), "--data", str(recent), "--format", "csv"]) == 0
    rows = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    assert rows[0] == ["timestamp", "temp"]
    np.testing.assert_allclose([float(row[1]) for row in rows[1:]], expected["temp"], rtol=1e-6)


def test_eval_prints_the_coverage_table_and_the_best_baseline(
    workspace: Path, predictor, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    assert cli.main(["eval", str(workspace / "model"), "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert cli.main(["eval", str(workspace / "model")]) == 0
    shown = capsys.readouterr().out
    assert metrics["best_baseline"]["verdict"] in shown
    intervals = metrics["intervals"]
    for level in LEVELS:
        row = next(line for line in shown.splitlines() if line.startswith(f"│ {level:g} "))
        assert f"{intervals[f'coverage_q{level:g}']:.3f}" in row
    assert f"{intervals['interval_score']:.4f}" in shown
    assert "interval (80% nominal)" in shown
