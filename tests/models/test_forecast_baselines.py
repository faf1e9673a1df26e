"""Forecasting baselines (seqlab.models.forecast_baselines) against hand-computed arrays.

Persistence and seasonal naive are checked on tiny windows whose expected forecasts are written
out by hand; the least-squares model is checked three ways: it recovers an exactly linear relation
y = A x + b, it equals numpy.linalg.lstsq on an explicitly built design matrix, and with a ridge
term it equals the normal-equations solution (X'X + lambda I') theta = X'Y.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose, assert_array_equal

from seqlab.models.forecast_baselines import LinearBaseline, repeat_last, seasonal_naive

# Two windows of T = 4 steps and F = 2 features: feature 0 counts up, feature 1 is the target.
TINY = np.array(
    [
        [[1.0, 10.0], [2.0, 20.0], [3.0, 30.0], [4.0, 40.0]],
        [[5.0, -1.0], [6.0, -2.0], [7.0, -3.0], [8.0, -4.0]],
    ]
)  # (N, T, F) = (2, 4, 2)


def test_repeat_last_by_hand():
    expected = np.array(
        [
            [[4.0, 40.0], [4.0, 40.0], [4.0, 40.0]],
            [[8.0, -4.0], [8.0, -4.0], [8.0, -4.0]],
        ]
    )  # (N, horizon, F) = (2, 3, 2)
    assert_array_equal(repeat_last(TINY, horizon=3), expected)
    # The target column only: the last one.
    assert_array_equal(repeat_last(TINY, horizon=3, output_features=1), expected[..., 1:])


def test_repeat_last_keeps_torch_kind_and_dtype():
    x = torch.tensor(TINY, dtype=torch.float32)
    forecast = repeat_last(x, horizon=2, output_features=1)
    assert isinstance(forecast, torch.Tensor) and forecast.dtype == torch.float32
    torch.testing.assert_close(forecast, torch.tensor([[[40.0], [40.0]], [[-4.0], [-4.0]]]))


def _hourly_windows() -> np.ndarray:
    """Two windows of L = 48 hours: x[n, t, 0] = 100 n + t, x[n, t, 1] = -(100 n + t)."""
    steps = np.arange(48, dtype=np.float64)  # (T,)
    first = np.stack([steps, -steps], axis=-1)  # (T, F)
    return np.stack([first, first + np.array([100.0, -100.0])])  # (2, 48, 2)


def test_seasonal_naive_24_by_hand():
    x = _hourly_windows()
    forecast = seasonal_naive(x, horizon=30, period=24)  # (2, 30, 2)
    # h = 1..24 (rows 0..23) read one day back: step 47 + h - 24 = 24..47; h = 25..30 read two
    # days back: step 47 + h - 48 = 24..29 (the last whole day, repeated).
    steps = np.array([*range(24, 48), *range(24, 30)], dtype=np.float64)  # (horizon,)
    expected = np.stack(
        [
            np.stack([steps, -steps], axis=-1),
            np.stack([steps + 100.0, -steps - 100.0], axis=-1),
        ]
    )  # (2, 30, 2)
    assert_array_equal(forecast, expected)
    # The definition itself for h = 1: the value at t + 1 - 24 with t = 47 the last step.
    assert_array_equal(forecast[:, 0], x[:, 47 + 1 - 24])
    assert_array_equal(
        seasonal_naive(x, horizon=30, period=24, output_features=1), expected[..., 1:]
    )


def test_seasonal_naive_period_equal_to_window_and_short_window_error():
    x = _hourly_windows()
    forecast = seasonal_naive(x, horizon=3, period=48, output_features=1)
    assert_array_equal(forecast[0, :, 0], [-0.0, -1.0, -2.0])  # steps 0, 1, 2
    with pytest.raises(ValueError, match=r"period 168 needs windows of at least 168 steps.*L = 48"):
        seasonal_naive(x, horizon=24, period=168)


def test_seasonal_naive_torch_matches_numpy():
    x = _hourly_windows()
    forecast = seasonal_naive(torch.from_numpy(x), horizon=24, period=24)
    assert isinstance(forecast, torch.Tensor)
    assert_array_equal(forecast.numpy(), seasonal_naive(x, horizon=24, period=24))


def test_least_squares_recovers_an_exact_linear_map():
    rng = np.random.default_rng(0)
    length, horizon, features = 6, 3, 2
    weight = rng.normal(size=(horizon, length))  # (horizon, T)
    bias = rng.normal(size=horizon)  # (horizon,)
    x = rng.normal(size=(20, length, features))  # (N, T, F)
    y = np.einsum("hl,nlf->nhf", weight, x) + bias[None, :, None]  # (N, horizon, F)
    model = LinearBaseline().fit(x, y)
    assert_allclose(model.weight, weight, atol=1e-5)
    assert_allclose(model.bias, bias, atol=1e-5)
    new_x = rng.normal(size=(4, length, features))
    expected = np.einsum("hl,nlf->nhf", weight, new_x) + bias[None, :, None]
    assert_allclose(model.predict(new_x), expected, atol=1e-5)


def _noisy_problem(seed: int = 1):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(15, 5, 3))  # (N, T, F)
    y = rng.normal(size=(15, 2, 3))  # (N, horizon, F): no exact linear relation
    return x, y


def _design(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The shared system built by explicit loops: one row per (window, feature)."""
    rows, targets = [], []
    for n in range(x.shape[0]):
        for f in range(x.shape[2]):
            rows.append([*x[n, :, f], 1.0])
            targets.append(y[n, :, f])
    return np.array(rows), np.array(targets)  # (N*F, T + 1), (N*F, horizon)


def test_least_squares_equals_numpy_lstsq():
    x, y = _noisy_problem()
    design, targets = _design(x, y)
    theta, *_ = np.linalg.lstsq(design, targets, rcond=None)  # (T + 1, horizon)
    model = LinearBaseline().fit(x, y)
    assert_allclose(model.weight, theta[:-1].T, rtol=1e-10, atol=1e-12)
    assert_allclose(model.bias, theta[-1], rtol=1e-10, atol=1e-12)
    # predict is the same map applied to each feature's column.
    expected = design[:, :-1] @ theta[:-1] + theta[-1]  # (N*F, horizon), rows (window, feature)
    expected = expected.reshape(15, 3, 2).transpose(0, 2, 1)  # (N, horizon, F)
    assert_allclose(model.predict(x), expected, rtol=1e-10, atol=1e-12)


def test_ridge_equals_normal_equations():
    x, y = _noisy_problem()
    design, targets = _design(x, y)
    ridge = 0.5
    penalty = np.diag([ridge] * 5 + [0.0])  # the bias is not penalised
    theta = np.linalg.solve(design.T @ design + penalty, design.T @ targets)  # (T + 1, horizon)
    model = LinearBaseline(ridge=ridge).fit(x, y)
    assert_allclose(model.weight, theta[:-1].T, rtol=1e-9, atol=1e-12)
    assert_allclose(model.bias, theta[-1], rtol=1e-9, atol=1e-12)


def test_target_column_only_fits_on_the_last_column():
    x, y = _noisy_problem()
    target_model = LinearBaseline(output_features=1).fit(x, y[..., -1:])
    reference = LinearBaseline().fit(x[..., -1:], y[..., -1:])
    assert_allclose(target_model.weight, reference.weight)
    assert_allclose(target_model.bias, reference.bias)
    assert target_model.predict(x).shape == (15, 2, 1)
    # The data layer's target-only y is (N, horizon): the same fit.
    flat_model = LinearBaseline(output_features=1).fit(x, y[..., -1])
    assert_allclose(flat_model.weight, reference.weight)
    assert_allclose(target_model.predict(x), reference.predict(x[..., -1:]))
    with pytest.raises(ValueError, match=r"train_y must be \(N, H, F_out\) = \(15, H, 1\)"):
        LinearBaseline(output_features=1).fit(x, y)


def test_individual_maps_recover_one_map_per_feature():
    rng = np.random.default_rng(2)
    weights = rng.normal(size=(2, 3, 4))  # (F, horizon, T)
    biases = rng.normal(size=(2, 3))  # (F, horizon)
    x = rng.normal(size=(12, 4, 2))  # (N, T, F)
    y = np.einsum("fhl,nlf->nhf", weights, x) + biases.T[None]  # (N, horizon, F)
    model = LinearBaseline(individual=True).fit(x, y)
    assert_allclose(model.weight, weights, atol=1e-8)
    assert_allclose(model.bias, biases, atol=1e-8)
    assert_allclose(model.predict(x), y, atol=1e-8)


def test_linear_baseline_torch_in_torch_out_and_errors():
    x, y = _noisy_problem()
    model = LinearBaseline().fit(torch.from_numpy(x), torch.from_numpy(y))
    forecast = model.predict(torch.from_numpy(x).float())
    assert isinstance(forecast, torch.Tensor) and forecast.dtype == torch.float32
    assert_allclose(forecast.numpy(), LinearBaseline().fit(x, y).predict(x), rtol=1e-5)
    with pytest.raises(RuntimeError, match="needs fit"):
        LinearBaseline().predict(x)
    with pytest.raises(ValueError, match=r"x must be \(N, 5, 3\)"):
        model.predict(x[:, 1:])
    with pytest.raises(ValueError, match=r"ridge \(-1\.0\) must be >= 0"):
        LinearBaseline(ridge=-1.0)


def test_extra_input_columns_are_never_forecast():
    calendar = np.full((2, 4, 1), 99.0)  # an input-only column after the value columns
    x = np.concatenate([TINY, calendar], axis=-1)  # (2, 4, 3)
    assert_array_equal(repeat_last(x, horizon=2, extra_inputs=1), repeat_last(TINY, horizon=2))
    assert_array_equal(
        repeat_last(x, horizon=2, output_features=1, extra_inputs=1),
        [[[40.0], [40.0]], [[-4.0], [-4.0]]],
    )
    hourly = np.concatenate([_hourly_windows(), np.zeros((2, 48, 2))], axis=-1)  # (2, 48, 4)
    assert_array_equal(
        seasonal_naive(hourly, horizon=5, period=24, extra_inputs=2),
        seasonal_naive(_hourly_windows(), horizon=5, period=24),
    )
    noisy_x, noisy_y = _noisy_problem()
    with_extra = np.concatenate([noisy_x, np.ones((15, 5, 2))], axis=-1)  # (N, T, 5)
    model = LinearBaseline(output_features=1, extra_inputs=2).fit(with_extra, noisy_y[..., -1:])
    reference = LinearBaseline(output_features=1).fit(noisy_x, noisy_y[..., -1:])
    assert_allclose(model.weight, reference.weight)
    assert_allclose(model.predict(with_extra), reference.predict(noisy_x))
    with pytest.raises(
        ValueError, match=r"output_features \(3\) must be between 1 and the number "
    ):
        repeat_last(x, horizon=1, output_features=3, extra_inputs=1)
    with pytest.raises(ValueError, match=r"extra_inputs \(3\) must be >= 0 and leave a value"):
        repeat_last(x, horizon=1, extra_inputs=3)


def test_a_saved_linear_baseline_reads_back_and_forecasts_the_same():
    # y = 2 x_last - x_first + 1 for both horizon steps: the fit recovers it exactly.
    x = np.array(
        [[[1.0], [2.0], [4.0]], [[0.0], [3.0], [1.0]], [[5.0], [1.0], [2.0]], [[2.0], [2.0], [7.0]]]
    )  # (N, T, F) = (4, 3, 1)
    y = np.repeat(2 * x[:, -1:] - x[:, :1] + 1, 2, axis=1)  # (N, horizon, F) = (4, 2, 1)
    fitted = LinearBaseline().fit(x, y)
    saved = fitted.arrays()
    assert_allclose(saved["weight"], [[-1.0, 0.0, 2.0], [-1.0, 0.0, 2.0]], atol=1e-12)
    assert_allclose(saved["bias"], [1.0, 1.0], atol=1e-12)
    restored = LinearBaseline.from_arrays(
        weight=saved["weight"], bias=saved["bias"], input_features=1
    )
    assert_array_equal(restored.predict(x), fitted.predict(x))
    assert_allclose(restored.predict(np.array([[[1.0], [1.0], [3.0]]])), [[[6.0], [6.0]]])
    with pytest.raises(ValueError, match=r"x must be \(N, 3, 1\)"):
        restored.predict(np.ones((1, 3, 2)))
    with pytest.raises(ValueError, match=r"weight \(2, 3\) and bias \(3,\) must be"):
        LinearBaseline.from_arrays(weight=saved["weight"], bias=np.zeros(3), input_features=1)
    with pytest.raises(RuntimeError, match="arrays needs fit"):
        LinearBaseline().arrays()
