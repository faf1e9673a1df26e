"""`seqlab monitor`: the drift statistics against hand computations, the reference training
records, and OK / DRIFT end to end.

A small LSTM (features MS: load, wind and temp in, temp out) is trained once for the module on
the first 50 days of a generated hourly series; the monitored files are the 10 days after them,
as generated (OK) and with a level shift of 3 training standard deviations in ``load`` and
``temp`` over the monitored rows (DRIFT). Commands run in-process through ``seqlab.cli.main``.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from _forecasting_runs import HORIZON, INPUT_LENGTH, TRAIN_ROWS, hourly_series, train_args

from seqlab import cli
from seqlab.data.drift import (
    bin_index,
    bin_proportions,
    ks_statistic,
    population_stability_index,
    quantile_bin_edges,
    reference_sample,
    stretch_psi,
)
from seqlab.data.windows import WindowDataset, split_bounds
from seqlab.model_dir import MONITOR_REFERENCE as REFERENCE_FILE
from seqlab.tasks.forecasting.monitor import (
    DEFAULT_WINDOW_HORIZONS,
    build_reference,
    error_threshold,
    input_threshold,
)
from seqlab.tasks.runner import load_trained

PERIOD = DEFAULT_WINDOW_HORIZONS * HORIZON  # rows monitored by default: 84


# ---- the statistics, by hand ------------------------------------------------------------------


def test_psi_equals_a_hand_computation() -> None:
    reference = np.arange(1.0, 11.0)  # 1 .. 10
    edges = quantile_bin_edges(reference, bins=4, tail=0.0)
    np.testing.assert_array_equal(edges, [3.25, 5.5, 7.75])  # numpy's linear quantiles
    expected = bin_proportions(reference, edges)
    np.testing.assert_array_equal(expected, [0.3, 0.2, 0.2, 0.3])  # {1,2,3} {4,5} {6,7} {8,9,10}
    # 5.5 sits on an edge and belongs to the bin above it.
    actual = bin_proportions(np.array([5.5, 6.0, 9.0, 9.5]), edges)
    np.testing.assert_array_equal(actual, [0.0, 0.0, 0.5, 0.5])
    by_hand = (
        (1e-4 - 0.3) * math.log(1e-4 / 0.3)  # an emptied bin counts with share 1e-4
        + (1e-4 - 0.2) * math.log(1e-4 / 0.2)
        + (0.5 - 0.2) * math.log(0.5 / 0.2)
        + (0.5 - 0.3) * math.log(0.5 / 0.3)
    )
    assert population_stability_index(expected, actual) == pytest.approx(by_hand, rel=1e-12)
    assert population_stability_index(expected, expected) == 0.0
    # A constant column: one edge at its value; training fills only the bin at and above it.
    constant = np.full(20, 3.0)
    np.testing.assert_array_equal(quantile_bin_edges(constant), [3.0])
    np.testing.assert_array_equal(bin_proportions(constant, [3.0]), [0.0, 1.0])


def test_tail_bins_make_values_beyond_the_reference_score_more() -> None:
    reference = np.arange(1001.0)  # 0 .. 1000: the 0.1% and 99.9% quantiles are 1 and 999
    edges = quantile_bin_edges(reference, bins=2, tail=0.001)
    np.testing.assert_array_equal(edges, [1.0, 500.0, 999.0])
    expected = bin_proportions(reference, edges)
    np.testing.assert_allclose(expected, np.array([1, 499, 499, 2]) / 1001)
    # Wholly inside the top half, and wholly beyond the top of the reference.
    inside = population_stability_index(expected, bin_proportions(np.full(10, 700.0), edges))
    beyond = population_stability_index(expected, bin_proportions(np.full(10, 5000.0), edges))
    e = expected
    by_hand = (
        (1e-4 - e[0]) * math.log(1e-4 / e[0])
        + (1e-4 - e[1]) * math.log(1e-4 / e[1])
        + (1e-4 - e[2]) * math.log(1e-4 / e[2])
        + (1.0 - e[3]) * math.log(1.0 / e[3])
    )
    assert beyond == pytest.approx(by_hand, rel=1e-12)
    assert beyond > inside + 2


def test_stretch_psi_equals_psi_of_each_stretch() -> None:
    rng = np.random.default_rng(2)
    values = np.cumsum(rng.normal(size=200))  # a wandering series
    edges = quantile_bin_edges(values)
    expected = bin_proportions(values, edges)
    got = stretch_psi(bin_index(values, edges), expected, 24)
    assert got.shape == (200 - 24 + 1,)
    for start in (0, 57, 176):
        stretch = bin_proportions(values[start : start + 24], edges)
        assert got[start] == pytest.approx(population_stability_index(expected, stretch), rel=1e-12)


def test_ks_equals_a_hand_computation() -> None:
    # F_a jumps by 1/4 at 1, 2, 3, 4; F_b by 1/5 at 3 .. 7. At x = 4: F_a = 1, F_b = 2/5.
    assert ks_statistic(np.array([4.0, 1, 3, 2]), np.array([3.0, 4, 5, 6, 7])) == pytest.approx(0.6)
    assert ks_statistic(np.array([1.0, 2, 3]), np.array([3.0, 2, 1])) == 0.0
    assert ks_statistic(np.array([1.0, 2]), np.array([5.0, 6])) == 1.0
    # Against a brute-force supremum over every point where either function can jump.
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=50).round(1), rng.normal(0.3, 1.0, size=37).round(1)
    grid = np.union1d(a, b)
    brute = max(abs(np.mean(a <= x) - np.mean(b <= x)) for x in grid)
    assert ks_statistic(a, b) == pytest.approx(brute, abs=1e-15)


def test_a_quantile_summary_keeps_ks_within_half_a_step() -> None:
    rng = np.random.default_rng(1)
    full = rng.gamma(2.0, size=5000)
    summary = reference_sample(full, 1000)
    assert summary.size == 1000 and np.isin(summary, full).all()  # values of the data
    for shift in (0.0, 0.1, 0.5):
        recent = rng.gamma(2.0, size=300) + shift
        assert abs(ks_statistic(summary, recent) - ks_statistic(full, recent)) <= 0.5 / 1000
    np.testing.assert_array_equal(reference_sample(full[:10], 1000), np.sort(full[:10]))


def test_the_error_threshold_is_a_quantile_of_consecutive_stretch_means() -> None:
    errors = np.arange(30.0)  # 30 validation windows: at most 3 per stretch (10 disjoint ones)
    two = error_threshold(errors, 2)
    # Means of (0, 1), (1, 2), ... (28, 29): 0.5 .. 28.5; numpy's 0.99 point of 29 values lies
    # 0.99 * 28 = 27.72 places in: 27.5 + 0.72.
    assert two["stretch_windows"] == 2 and two["stretches"] == 29
    assert two["threshold"] == pytest.approx(28.22)
    many = error_threshold(errors, 20)  # shortened to 3 windows: means 1 .. 28
    assert many["stretch_windows"] == 3 and many["stretches"] == 28
    assert many["threshold"] == pytest.approx(27 + 0.99 * 27 - 26)
    assert error_threshold(np.arange(5.0), 4)["stretch_windows"] == 1  # fewer than 10 windows


def test_the_reference_from_validation_errors_and_training_values_by_hand() -> None:
    # Column a: 0 .. 9; column b: constant. Rows 0..9 train; validation forecasts rows 10..14.
    training = np.stack([np.arange(10.0), np.full(10, 5.0)], axis=1).astype(np.float32)
    bounds = split_bounds(20, input_length=2, protocol="rows", rows=(10, 5, 5))
    reference = build_reference(
        validation_errors=np.array([0.5, 1.5, 4.0]),
        training_values=training,
        columns=("a", "b"),
        bounds=bounds,
    )
    assert reference["format"] == 1 and reference["training_rows"] == [0, 10]
    assert reference["validation"] == {"target_rows": [10, 15], "windows": 3, "mse": 2.0,
                                       "window_mse": [0.5, 1.5, 4.0]}  # fmt: skip
    a = reference["inputs"]["a"]
    assert a["mean"] == 4.5 and a["std"] == pytest.approx(math.sqrt(8.25), rel=1e-15)
    # numpy's linear quantiles of 0..9 at 0.1%, the deciles and 99.9%: 0.009, 0.9, ..., 8.991.
    np.testing.assert_allclose(a["bin_edges"], [0.009, *(0.9 * np.arange(1, 10)), 8.991])
    # 0 lies below every edge (bin 0, "a"), k = 1..8 above k + 1 edges, 9 above all 11.
    assert a["training_bins"] == "acdefghijl"
    np.testing.assert_allclose(a["bin_proportions"], [0.1, 0, *[0.1] * 8, 0, 0.1])
    assert a["sample"] == list(np.arange(10.0))
    b = reference["inputs"]["b"]
    assert (b["mean"], b["std"], b["bin_edges"]) == (5.0, 0.0, [5.0])
    assert b["training_bins"] == "b" * 10 and b["bin_proportions"] == [0.0, 1.0]
    with pytest.raises(ValueError, match=r"training_values \(10, 2\) must be \(rows, 3\)"):
        build_reference(validation_errors=np.ones(3), training_values=training,
                        columns=("a", "b", "c"), bounds=bounds)  # fmt: skip


# ---- end to end ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("monitor")
    series = hourly_series()
    series.iloc[:TRAIN_ROWS].to_csv(folder / "series.csv", index=False)
    recent = series.iloc[TRAIN_ROWS:].reset_index(drop=True)
    recent.to_csv(folder / "recent.csv", index=False)
    assert cli.main(train_args(folder / "series.csv", folder / "model")) == 0
    scaler = json.loads((folder / "model" / "config.json").read_text())["artifacts"]["scaler"]
    shifted = recent.copy()
    for column in ("load", "temp"):
        std = scaler["std"][scaler["columns"].index(column)]
        shifted.loc[len(shifted) - PERIOD :, column] += 3 * std
    shifted.to_csv(folder / "shifted.csv", index=False)
    return folder


def _monitor(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict]:
    capsys.readouterr()
    code = cli.main(["monitor", *args, "--json"])
    return code, json.loads(capsys.readouterr().out)


def test_training_records_validation_errors_and_training_distributions(workspace: Path) -> None:
    model_dir = workspace / "model"
    reference = json.loads((model_dir / REFERENCE_FILE).read_text())
    task, model, _ = load_trained(model_dir)
    # Every validation window's error, whose mean is the validation mse.
    validation = reference["validation"]
    assert validation["windows"] == len(validation["window_mse"])
    assert validation["windows"] == len(task.series_data.windows("val"))
    with torch.no_grad():
        assert validation["mse"] == pytest.approx(task.evaluate(model, "val")["mse"], rel=1e-9)
    # Each column's training rows (the first 70%), straight from the CSV.
    train = pd.read_csv(workspace / "series.csv").iloc[: int(TRAIN_ROWS * 0.7)]
    assert reference["training_rows"] == [0, int(TRAIN_ROWS * 0.7)]
    levels = [0.001, *(np.arange(1, 10) / 10), 0.999]  # deciles and two tails
    for column in ("load", "wind", "temp"):
        values = train[column].to_numpy(np.float32).astype(np.float64)
        saved = reference["inputs"][column]
        np.testing.assert_allclose(saved["bin_edges"], np.quantile(values, levels))
        assert sum(saved["bin_proportions"]) == pytest.approx(1.0)
        bins = [ord(letter) - ord("a") for letter in saved["training_bins"]]
        np.testing.assert_array_equal(bins, np.searchsorted(saved["bin_edges"], values, "right"))
        assert saved["mean"] == pytest.approx(values.mean(), rel=1e-12)
        np.testing.assert_array_equal(saved["sample"], np.sort(values))  # 840 <= 1000: all


def test_an_unshifted_continuation_is_ok(
    workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    recent = str(workspace / "recent.csv")
    code, result = _monitor(capsys, str(workspace / "model"), "--data", recent)
    assert code == 0
    assert result["status"] == "OK" and result["reasons"] == []
    assert result["error"]["status"] == "OK"
    assert result["error"]["recent_mse"] < result["error"]["threshold"]
    for column, figures in result["inputs"].items():
        assert figures["status"] == "OK" and figures["psi_reading"] == "stable", column
        assert abs(figures["mean_shift_in_std"]) < 0.5


def test_a_level_shift_is_drift_and_names_the_columns(
    workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shifted = workspace / "shifted.csv"
    code, result = _monitor(capsys, str(workspace / "model"), "--data", str(shifted))
    assert code == 3 and result["status"] == "DRIFT"
    inputs = result["inputs"]
    assert inputs["load"]["status"] == inputs["temp"]["status"] == "DRIFT"
    assert inputs["load"]["psi_reading"] == "significant"
    assert inputs["wind"]["status"] == "OK"  # the column left alone
    assert inputs["load"]["mean_shift_in_std"] == pytest.approx(3.0, abs=0.3)
    assert inputs["load"]["ks"] > 0.9
    assert any(reason.startswith("input 'load': psi") for reason in result["reasons"])
    assert not any("'wind'" in reason for reason in result["reasons"])

    # The figures again, from the stored reference and the file's last rows.
    reference = json.loads((workspace / "model" / REFERENCE_FILE).read_text())["inputs"]["load"]
    values = pd.read_csv(shifted)["load"].to_numpy(np.float32).astype(np.float64)[-PERIOD:]
    shares = bin_proportions(values, np.array(reference["bin_edges"]))
    psi = population_stability_index(reference["bin_proportions"], shares)
    assert inputs["load"]["psi"] == pytest.approx(psi, rel=1e-12)
    assert inputs["load"]["ks"] == pytest.approx(ks_statistic(reference["sample"], values))
    # The alarm level: the 99% point of the PSI of every 84 consecutive training rows, or 0.25.
    train = pd.read_csv(workspace / "series.csv")["load"].to_numpy(np.float32).astype(np.float64)
    train = train[: int(TRAIN_ROWS * 0.7)]
    edges = np.array(reference["bin_edges"])
    stretches = [
        population_stability_index(reference["bin_proportions"], bin_proportions(part, edges))
        for part in (train[start : start + PERIOD] for start in range(len(train) - PERIOD + 1))
    ]
    level = max(0.25, float(np.quantile(stretches, 0.99)))
    assert inputs["load"]["psi_threshold"] == pytest.approx(level, rel=1e-9)
    saved = input_threshold(reference["training_bins"], reference["bin_proportions"], PERIOD)
    assert saved == {"threshold": inputs["load"]["psi_threshold"], "stretch_rows": PERIOD}

    # The recent error: every window forecasting the last 84 rows, with the model directly.
    config = json.loads((workspace / "model" / "config.json").read_text())
    mean = np.array(config["artifacts"]["scaler"]["mean"])
    std = np.array(config["artifacts"]["scaler"]["std"])
    raw = pd.read_csv(shifted)[["load", "wind", "temp"]].to_numpy(np.float32).astype(np.float64)
    scaled = (raw - mean) / std  # (N, 3)
    windows = WindowDataset(
        scaled, input_length=INPUT_LENGTH, horizon=HORIZON,
        rows=range(len(raw) - PERIOD - INPUT_LENGTH, len(raw)),
    )  # fmt: skip
    batch = windows.batch(range(len(windows)))
    _, model, _ = load_trained(workspace / "model")
    with torch.no_grad():
        forecast = model(batch.inputs)[..., 0].double()  # (W, horizon)
    mse = float(((forecast - batch.targets.double()) ** 2).mean())
    assert result["error"]["windows"] == len(windows) == PERIOD - HORIZON + 1
    assert result["error"]["recent_mse"] == pytest.approx(mse, rel=1e-5)
    assert result["error"]["status"] == "DRIFT"


def test_json_shape_and_the_table(workspace: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model, recent = str(workspace / "model"), str(workspace / "recent.csv")
    _, result = _monitor(capsys, model, "--data", recent, "--window", "96")
    assert set(result) == {"model_dir", "status", "reasons", "source", "period", "error",
                           "inputs", "rules", "data_fixes"}  # fmt: skip
    assert set(result["error"]) == {
        "recent_mse", "threshold", "quantile", "stretch_windows", "stretches",
        "reference_windows", "windows", "validation_mse", "ratio_to_validation", "status",
    }  # fmt: skip
    assert list(result["inputs"]) == ["load", "wind", "temp"]
    for figures in result["inputs"].values():
        assert set(figures) == {"psi", "psi_threshold", "psi_reading", "ks", "mean_shift_in_std",
                                "status"}  # fmt: skip
    assert result["period"] == {"rows": 96, "first": "2024-02-26T00:00:00",
                                "last": "2024-02-29T23:00:00"}  # fmt: skip
    assert result["error"]["windows"] == 96 - HORIZON + 1
    assert result["rules"] == {"error_quantile": 0.99, "input_quantile": 0.99,
                               "psi_moderate": 0.1, "psi_significant": 0.25}  # fmt: skip
    # 109 validation windows: stretches of 10 (so 10 disjoint ones fit), not 85.
    assert result["error"]["reference_windows"] == 109 and result["error"]["stretch_windows"] == 10

    capsys.readouterr()
    assert cli.main(["monitor", model, "--data", str(workspace / "shifted.csv")]) == 3
    out = capsys.readouterr().out
    for text in ("forecast error", "inputs against the training rows", "alarm above",
                 "significant", "drift: input 'load'", "DRIFT"):  # fmt: skip
        assert text in out


def test_errors_are_one_line_with_exit_status_2(
    workspace: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    model = workspace / "model"

    def error(*args: str) -> str:
        capsys.readouterr()
        assert cli.main(["monitor", *args]) == 2
        err = capsys.readouterr().err
        assert "Traceback" not in err and len(err.strip().splitlines()) == 1
        return err.strip()

    short = tmp_path / "short.csv"
    hourly_series(100).to_csv(short, index=False)
    assert error(str(model), "--data", str(short)) == (
        f"seqlab: error: {short}: 100 rows; monitoring the last {PERIOD} needs the input_length "
        f"= {INPUT_LENGTH} rows before them too ({PERIOD + INPUT_LENGTH} in all); give more rows "
        "or a smaller --window"
    )
    renamed = tmp_path / "renamed.csv"
    hourly_series(200).rename(columns={"wind": "gust"}).to_csv(renamed, index=False)
    assert "no column 'wind'" in error(str(model), "--data", str(renamed))
    bad = tmp_path / "bad.csv"
    frame = hourly_series(200)
    frame["load"] = frame["load"].astype(object)
    frame.loc[7, "load"] = "n/a?"
    frame.to_csv(bad, index=False)
    assert f"{bad}:9: column 'load' holds 'n/a?'" in error(str(model), "--data", str(bad))
    recent = str(workspace / "recent.csv")
    assert "--window (5) must be at least the horizon (12)" in error(
        str(model), "--data", recent, "--window", "5"
    )
    older = tmp_path / "older-model"
    shutil.copytree(model, older)
    (older / REFERENCE_FILE).unlink()
    message = error(str(older), "--data", recent)
    assert f"{older} has no {REFERENCE_FILE}" in message and "seqlab retrain" in message
