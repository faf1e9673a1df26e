"""NLinear, DLinear and DLinear's moving average (seqlab.models.forecast_baselines) against hand
computations.

The moving average is checked against averages written out by hand over a window padded with
copies of its first and last value; each fit against a weight matrix known in advance (an exact
relation the fit must recover) and against numpy.linalg.lstsq on a design matrix built here with
explicit loops; NLinear against its defining property (a constant added to a window is added to
its forecast); DLinear also against the normal equations with a ridge term solved here, against
the statement of its docstring that without a penalty it forecasts exactly as the Linear baseline
does and with one as Linear under the reweighted penalty the docstring derives, and its choice of
penalty against every candidate's validation error computed here, fit by fit. Both read back from
their saved arrays, DLinear with its penalty.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose, assert_array_equal

from seqlab.models.forecast_baselines import (
    DLINEAR_RIDGE_GRID,
    DLinearBaseline,
    LinearBaseline,
    NLinearBaseline,
    moving_average,
)


def _noisy_problem(seed: int = 1, *, samples: int = 40, length: int = 30, features: int = 2):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(samples, length, features)).cumsum(axis=1)  # (N, T, F): random walks
    y = rng.normal(size=(samples, 3, features))  # (N, horizon, F): no exact relation
    return x, y


def _walk_problem(seed: int, *, samples: int):
    """Random walks of T = 30 steps, the targets their next 3 values plus unit noise: a relation
    a least-squares fit overfits on 80 rows, so a penalty helps (F = 2)."""
    rng = np.random.default_rng(seed)
    walk = rng.normal(size=(samples, 33, 2)).cumsum(axis=1)  # (N, T + horizon, F)
    return walk[:, :30], walk[:, 30:] + rng.normal(size=(samples, 3, 2))


def _hand_moving_average(series: list[float], kernel_size: int) -> list[float]:
    """One column's trend by explicit loops: pad with copies, then average each span."""
    pad = (kernel_size - 1) // 2
    padded = [series[0]] * pad + list(series) + [series[-1]] * pad
    return [sum(padded[t : t + kernel_size]) / kernel_size for t in range(len(series))]


def _lstsq(rows: list[list[float]], targets: list[list[float]]) -> tuple[np.ndarray, np.ndarray]:
    """numpy.linalg.lstsq on [rows 1]: (W (horizon, T), b (horizon,))."""
    design = np.array([[*row, 1.0] for row in rows])  # (M, T + 1)
    theta, *_ = np.linalg.lstsq(design, np.array(targets), rcond=None)  # (T + 1, horizon)
    return theta[:-1].T, theta[-1]


# ---- the moving average ----
def test_moving_average_by_hand_with_replicate_padding():
    x = np.array([[[1.0], [2.0], [4.0], [8.0], [16.0]]])  # (N, T, F) = (1, 5, 1)
    # kernel 3: one copy of the first and last value at each end: [1, 1, 2, 4, 8, 16, 16].
    expected = [(1 + 1 + 2) / 3, (1 + 2 + 4) / 3, (2 + 4 + 8) / 3, (4 + 8 + 16) / 3,
                (8 + 16 + 16) / 3]  # fmt: skip
    assert_allclose(moving_average(x, 3)[0, :, 0], expected, rtol=1e-15)
    # kernel 25 (DLinear's) on a window shorter than the kernel: 12 copies at each end.
    first = (12 * 1 + 1 + 2 + 4 + 8 + 16 + 8 * 16) / 25  # t = 0: 12 copies, 5 values, 8 copies
    assert moving_average(x)[0, 0, 0] == pytest.approx(first, rel=1e-15)
    assert_allclose(moving_average(x)[0, :, 0], _hand_moving_average([1, 2, 4, 8, 16], 25))


def test_moving_average_of_every_column_and_window_matches_the_loops():
    x, _ = _noisy_problem(features=3)
    trend = moving_average(x)  # (N, T, F)
    for n in (0, 17, 39):
        for f in range(3):
            assert_allclose(trend[n, :, f], _hand_moving_average(list(x[n, :, f]), 25), rtol=1e-12)
    with pytest.raises(ValueError, match=r"kernel_size \(24\) must be odd and positive"):
        moving_average(x, 24)
    with pytest.raises(ValueError, match=r"kernel_size \(0\) must be odd"):
        DLinearBaseline(kernel_size=0)


# ---- NLinear ----
def test_nlinear_recovers_linear_extrapolation_exactly():
    # y_h = x_{T-1} + h (x_{T-1} - x_{T-2}): on the shifted window (x_{T-1} = 0) row h of W is
    # -h at step T-2 and zero elsewhere, and b = 0.
    rng = np.random.default_rng(3)
    x = rng.normal(size=(10, 4, 2))  # (N, T, F)
    steps = np.arange(1, 4)[None, :, None]  # (1, horizon, 1)
    y = x[:, -1:] + steps * (x[:, -1:] - x[:, -2:-1])  # (N, horizon, F)
    model = NLinearBaseline().fit(x, y)
    expected = np.zeros((3, 4))
    expected[:, 2] = [-1.0, -2.0, -3.0]
    assert_allclose(model.weight, expected, atol=1e-10)
    assert_allclose(model.bias, np.zeros(3), atol=1e-10)
    new_x = rng.normal(size=(3, 4, 2))
    expected_forecast = new_x[:, -1:] + steps * (new_x[:, -1:] - new_x[:, -2:-1])
    assert_allclose(model.predict(new_x), expected_forecast, atol=1e-10)


def test_nlinear_equals_lstsq_on_the_shifted_design():
    x, y = _noisy_problem()
    rows, targets = [], []
    for n in range(x.shape[0]):
        for f in range(x.shape[2]):
            last = x[n, -1, f]
            rows.append([value - last for value in x[n, :, f]])
            targets.append([value - last for value in y[n, :, f]])
    weight, bias = _lstsq(rows, targets)
    model = NLinearBaseline().fit(x, y)
    assert_allclose(model.weight, weight, rtol=1e-9, atol=1e-12)
    assert_allclose(model.bias, bias, rtol=1e-9, atol=1e-12)
    shifted = x - x[:, -1:]  # (N, T, F)
    expected = np.einsum("hl,nlf->nhf", weight, shifted) + bias[None, :, None] + x[:, -1:]
    assert_allclose(model.predict(x), expected, rtol=1e-9, atol=1e-12)
    # NLinear is not Linear: the unshifted fit differs.
    assert not np.allclose(model.predict(x), LinearBaseline().fit(x, y).predict(x), atol=1e-3)


def test_nlinear_moves_with_the_level_of_each_window():
    x, y = _noisy_problem()
    model = NLinearBaseline().fit(x, y)
    shift = np.array([5.0, -250.0])  # a different constant for each column
    assert_allclose(model.predict(x + shift), model.predict(x) + shift, rtol=0, atol=1e-9)
    # Per window as well: a constant added to one window shifts only its forecast.
    moved = x.copy()
    moved[7] += 1e3
    forecast = model.predict(moved)
    assert_allclose(forecast[7], model.predict(x)[7] + 1e3, rtol=1e-12)
    assert_allclose(forecast[:7], model.predict(x)[:7], rtol=1e-12)
    # The Linear baseline has no such property (its weights need not sum to one).
    linear = LinearBaseline().fit(x, y)
    assert not np.allclose(linear.predict(x + shift), linear.predict(x) + shift, atol=1e-3)


def test_nlinear_reads_only_the_forecast_columns():
    x, y = _noisy_problem(features=3)
    calendar = np.ones((x.shape[0], x.shape[1], 2))  # input-only columns after the values
    with_extra = np.concatenate([x, calendar], axis=-1)  # (N, T, 5)
    target_only = NLinearBaseline(output_features=1, extra_inputs=2).fit(with_extra, y[..., -1])
    alone = NLinearBaseline().fit(x[..., -1:], y[..., -1:])  # univariate: the target column
    assert_allclose(target_only.weight, alone.weight, rtol=1e-12)
    assert_allclose(target_only.predict(with_extra), alone.predict(x[..., -1:]), rtol=1e-12)
    # Multivariate (every value column forecast): one shared map, rows stacked per column.
    every = NLinearBaseline(extra_inputs=2).fit(with_extra, y)
    assert every.predict(with_extra).shape == y.shape
    assert_allclose(every.weight, NLinearBaseline().fit(x, y).weight, rtol=1e-12)


# ---- DLinear ----
def _decomposed_design(x: np.ndarray) -> np.ndarray:
    """[trend, remainder, 1] per (window, feature), by explicit loops: (N*F, 2T + 1)."""
    rows = []
    for n in range(x.shape[0]):
        for f in range(x.shape[2]):
            trend = _hand_moving_average(list(x[n, :, f]), 25)
            remainder = [value - t for value, t in zip(x[n, :, f], trend, strict=True)]
            rows.append([*trend, *remainder, 1.0])
    return np.array(rows)


def _stacked_targets(y: np.ndarray) -> np.ndarray:
    """y (N, horizon, F) as one row per (window, feature): (N*F, horizon)."""
    return np.array([y[n, :, f] for n in range(y.shape[0]) for f in range(y.shape[2])])


def test_dlinear_equals_lstsq_on_the_hand_built_decomposed_design():
    x, y = _noisy_problem()
    design = _decomposed_design(x)  # (N*F, 2T + 1) = (80, 61)
    theta, *_ = np.linalg.lstsq(design, _stacked_targets(y), rcond=None)  # (2T + 1, horizon)
    model = DLinearBaseline().fit(x, y)
    # The minimum-norm solution is unique, so the weights themselves compare.
    assert_allclose(model.trend_weight, theta[:30].T, rtol=1e-7, atol=1e-9)
    assert_allclose(model.remainder_weight, theta[30:60].T, rtol=1e-7, atol=1e-9)
    assert_allclose(model.bias, theta[60], rtol=1e-7, atol=1e-9)
    expected = (design @ theta).reshape(40, 2, 3).transpose(0, 2, 1)  # (N, horizon, F)
    assert_allclose(model.predict(x), expected, rtol=1e-7, atol=1e-9)


def test_dlinear_with_ridge_equals_the_normal_equations():
    x, y = _noisy_problem()
    design, targets = _decomposed_design(x), _stacked_targets(y)
    ridge = 0.3
    penalty = np.diag([ridge] * 60 + [0.0])  # both maps penalised, the bias not
    theta = np.linalg.solve(design.T @ design + penalty, design.T @ targets)  # (2T + 1, horizon)
    model = DLinearBaseline(ridge=ridge).fit(x, y)
    assert_allclose(model.trend_weight, theta[:30].T, rtol=1e-8, atol=1e-10)
    assert_allclose(model.remainder_weight, theta[30:60].T, rtol=1e-8, atol=1e-10)
    assert_allclose(model.bias, theta[60], rtol=1e-8, atol=1e-10)
    # With a ridge term the decomposition changes the fit: it is no longer Linear's.
    linear = LinearBaseline(ridge=ridge).fit(x, y)
    assert not np.allclose(model.predict(x), linear.predict(x), atol=1e-4)


def _moving_average_matrix(length: int) -> np.ndarray:
    """A (T, T) with trend = A x: column s is the hand-computed trend of the unit window e_s."""
    unit = np.eye(length)
    return np.array([_hand_moving_average(list(unit[s]), 25) for s in range(length)]).T


def _hand_ridge(design: np.ndarray, targets: np.ndarray, ridge: float) -> np.ndarray:
    """The normal equations of ||D theta - Y||^2 + ridge ||theta without its bias||^2, the bias
    column last: (P + 1, horizon)."""
    penalty = np.diag([ridge] * (design.shape[1] - 1) + [0.0])  # the bias not penalised
    return np.linalg.solve(design.T @ design + penalty, design.T @ targets)


def _mse(design: np.ndarray, theta: np.ndarray, targets: np.ndarray) -> float:
    return float(np.mean((design @ theta - targets) ** 2))


def test_dlinear_forecasts_as_linear_only_without_a_penalty():
    x, y = _noisy_problem()  # 80 rows for T + 1 = 31 unknowns: Linear's map is determined
    new_x, new_y = _noisy_problem(seed=9, samples=6)
    linear = LinearBaseline().fit(x, y)
    unpenalised = DLinearBaseline(ridge=0.0).fit(x, y)
    assert_allclose(unpenalised.predict(new_x), linear.predict(new_x), rtol=1e-6, atol=1e-8)
    # The effective map W_t A + W_r (I - A), A the moving average as a (T, T) matrix, is
    # Linear's weight.
    average = _moving_average_matrix(30)
    effective = (unpenalised.trend_weight @ average
                 + unpenalised.remainder_weight @ (np.eye(30) - average))  # fmt: skip
    assert_allclose(effective, linear.weight, rtol=1e-6, atol=1e-8)
    # A grid holding 0 alone leaves the validation windows nothing to choose: Linear again.
    only_zero = DLinearBaseline().fit_choosing_ridge(x, y, new_x, new_y, grid=(0.0,))
    assert only_zero.ridge == 0.0
    assert_allclose(only_zero.predict(new_x), linear.predict(new_x), rtol=1e-6, atol=1e-8)
    # With a penalty it is not Linear: not the unpenalised fit, nor Linear with the same ridge.
    penalised = DLinearBaseline(ridge=5.0).fit(x, y)
    assert not np.allclose(penalised.predict(new_x), linear.predict(new_x), atol=1e-3)
    same_ridge = LinearBaseline(ridge=5.0).fit(x, y)
    assert not np.allclose(penalised.predict(new_x), same_ridge.predict(new_x), atol=1e-4)


def test_dlinear_with_a_penalty_is_linear_with_the_reweighted_penalty():
    # The docstring: min ||W_t||^2 + ||W_r||^2 over W_t A + W_r (I - A) = W is
    # tr(W M^-1 W'), M = A'A + (I - A)'(I - A); so DLinear's ridge fit is Linear's with that
    # penalty, whose normal equations are (X_c'X_c + ridge M^-1) W' = X_c'Y_c.
    x, y = _noisy_problem()
    ridge = 7.0
    average = _moving_average_matrix(30)
    rest = np.eye(30) - average
    reweighting = np.linalg.inv(average.T @ average + rest.T @ rest)  # (T, T)
    rows = np.array([x[n, :, f] for n in range(40) for f in range(2)])  # (N*F, T)
    targets = _stacked_targets(y)  # (N*F, horizon)
    rows_c, targets_c = rows - rows.mean(axis=0), targets - targets.mean(axis=0)
    weight = np.linalg.solve(rows_c.T @ rows_c + ridge * reweighting, rows_c.T @ targets_c).T
    bias = targets.mean(axis=0) - weight @ rows.mean(axis=0)
    model = DLinearBaseline(ridge=ridge).fit(x, y)
    effective = model.trend_weight @ average + model.remainder_weight @ rest  # (horizon, T)
    assert_allclose(effective, weight, rtol=1e-7, atol=1e-9)
    assert_allclose(model.bias, bias, rtol=1e-7, atol=1e-9)
    # ... which is not plain ridge: M^-1 weighs some directions several times more than others.
    eigenvalues = np.linalg.eigvalsh(reweighting)
    assert eigenvalues.max() > 3 * eigenvalues.min()


def test_dlinear_keeps_the_penalty_of_lowest_validation_error():
    x, y = _walk_problem(1, samples=40)
    val_x, val_y = _walk_problem(11, samples=25)
    model = DLinearBaseline().fit_choosing_ridge(x, y, val_x, val_y)
    # Every candidate fitted here, on the training windows alone, and scored on the validation
    # windows: lambda = c tr(D_c' D_c) / 2T, D_c the design's 2T map columns less their means.
    design, targets = _decomposed_design(x), _stacked_targets(y)  # (80, 61), (80, 3)
    centred = design[:, :60] - design[:, :60].mean(axis=0)
    scale = np.trace(centred.T @ centred) / 60
    val_design, val_targets = _decomposed_design(val_x), _stacked_targets(val_y)
    errors, thetas = {}, {}
    for multiplier in DLINEAR_RIDGE_GRID:
        ridge = multiplier * scale
        if ridge == 0:
            thetas[ridge], *_ = np.linalg.lstsq(design, targets, rcond=None)
        else:
            thetas[ridge] = _hand_ridge(design, targets, ridge)
        errors[ridge] = _mse(val_design, thetas[ridge], val_targets)
    assert_allclose(list(model.validation_mse), list(errors), rtol=1e-12)
    assert_allclose(list(model.validation_mse.values()), list(errors.values()), rtol=1e-8)
    best = min(errors, key=errors.__getitem__)
    assert model.ridge == pytest.approx(best, rel=1e-12)
    assert 0 < best < max(errors)  # a penalty inside the grid wins (c = 0.1): neither end
    # The one kept is the training-window fit at that lambda.
    assert_allclose(model.trend_weight, thetas[best][:30].T, rtol=1e-8, atol=1e-10)
    assert_allclose(model.remainder_weight, thetas[best][30:60].T, rtol=1e-8, atol=1e-10)
    assert_allclose(model.bias, thetas[best][60], rtol=1e-8, atol=1e-10)


def test_dlinear_chooses_no_penalty_where_the_relation_is_exact():
    # y a linear map of x exactly: every penalty costs validation error, so lambda = 0 wins and
    # DLinear is Linear.
    rng = np.random.default_rng(6)
    x, val_x = rng.normal(size=(60, 30, 1)), rng.normal(size=(20, 30, 1))  # (N, T, F)
    true_map = rng.normal(size=(2, 30))  # (horizon, T)
    y, val_y = (np.einsum("hl,nlf->nhf", true_map, windows) for windows in (x, val_x))
    model = DLinearBaseline().fit_choosing_ridge(x, y, val_x, val_y)
    assert model.ridge == 0.0 and model.validation_mse[0.0] < 1e-20
    assert_allclose(model.predict(val_x), LinearBaseline().fit(x, y).predict(val_x), atol=1e-9)


def test_dlinear_penalty_beats_linear_on_few_noisy_windows_of_a_long_input():
    # 30 windows of T = 96 steps, targets the random walk's next 4 values plus noise of
    # variance 4: Linear's 97 unknowns fit the noise (minimum-norm interpolation).
    rng = np.random.default_rng(0)

    def windows(samples: int) -> tuple[np.ndarray, np.ndarray]:
        walk = rng.normal(size=(samples, 100, 1)).cumsum(axis=1)  # (N, T + horizon, 1)
        return walk[:, :96], walk[:, 96:, 0] + 2.0 * rng.normal(size=(samples, 4))

    x, y = windows(30)
    val_x, val_y = windows(200)
    model = DLinearBaseline().fit_choosing_ridge(x, y, val_x, val_y)
    linear = LinearBaseline().fit(x, y)
    linear_mse = float(np.mean((linear.predict(val_x)[..., 0] - val_y) ** 2))
    dlinear_mse = float(np.mean((model.predict(val_x)[..., 0] - val_y) ** 2))
    assert model.ridge > 0
    assert dlinear_mse == pytest.approx(model.validation_mse[model.ridge], rel=1e-10)
    assert dlinear_mse < 0.8 * linear_mse  # 9.70 against 16.81 for this seed


def test_dlinear_recovers_a_map_of_the_trend_and_one_of_the_remainder():
    # y = W_t trend + W_r remainder + b exactly: every window, seen or new, is forecast exactly.
    rng = np.random.default_rng(4)
    x = rng.normal(size=(60, 30, 1))  # (N, T, F)
    trend_map, remainder_map = rng.normal(size=(2, 2, 30))  # (horizon, T) each
    bias = np.array([0.5, -2.0])  # (horizon,)

    def truth(windows: np.ndarray) -> np.ndarray:
        trend = moving_average(windows)  # (N, T, F)
        return (np.einsum("hl,nlf->nhf", trend_map, trend)
                + np.einsum("hl,nlf->nhf", remainder_map, windows - trend)
                + bias[None, :, None])  # fmt: skip

    model = DLinearBaseline().fit(x, truth(x))
    new_x = rng.normal(size=(5, 30, 1))
    assert_allclose(model.predict(new_x), truth(new_x), atol=1e-8)


# ---- saving, reading back, torch, errors ----
def test_both_read_back_from_their_arrays_and_forecast_the_same():
    x, y = _noisy_problem()
    nlinear = NLinearBaseline(output_features=1).fit(x, y[..., -1:])
    saved = nlinear.arrays()
    assert sorted(saved) == ["bias", "weight"]
    restored = NLinearBaseline.from_arrays(**saved, input_features=2, output_features=1)
    assert_array_equal(restored.predict(x), nlinear.predict(x))
    val_x, val_y = _walk_problem(2, samples=10)
    dlinear = DLinearBaseline(kernel_size=5).fit_choosing_ridge(x, y, val_x, val_y)
    arrays = dlinear.arrays()
    assert sorted(arrays) == ["bias", "kernel_size", "remainder_weight", "ridge", "trend_weight"]
    assert_array_equal(arrays["kernel_size"], [5])
    assert dlinear.ridge > 0 and arrays["ridge"].dtype == np.float64
    assert_array_equal(arrays["ridge"], [dlinear.ridge])
    back = DLinearBaseline.from_arrays(
        trend_weight=arrays["trend_weight"],
        remainder_weight=arrays["remainder_weight"],
        bias=arrays["bias"],
        kernel_size=int(arrays["kernel_size"][0]),
        ridge=float(arrays["ridge"][0]),
        input_features=2,
    )
    assert back.ridge == dlinear.ridge
    assert_array_equal(back.predict(x), dlinear.predict(x))
    with pytest.raises(ValueError, match=r"weight \(3, 30\) and bias \(2,\) must be"):
        NLinearBaseline.from_arrays(weight=saved["weight"], bias=np.zeros(2), input_features=2)
    with pytest.raises(ValueError, match=r"remainder_weight \(3, 29\) must have trend_weight's"):
        DLinearBaseline.from_arrays(
            trend_weight=arrays["trend_weight"],
            remainder_weight=arrays["remainder_weight"][:, 1:],
            bias=arrays["bias"],
            kernel_size=5,
            input_features=2,
        )


def test_torch_in_torch_out_and_errors():
    x, y = _noisy_problem()
    for model in (NLinearBaseline(), DLinearBaseline()):
        model.fit(torch.from_numpy(x), torch.from_numpy(y))
        forecast = model.predict(torch.from_numpy(x).float())
        assert isinstance(forecast, torch.Tensor) and forecast.dtype == torch.float32
        assert_allclose(forecast.numpy(), model.predict(x), rtol=1e-4, atol=1e-5)
        with pytest.raises(ValueError, match=r"x must be \(N, 30, 2\) like the training windows"):
            model.predict(x[:, 1:])
    for unfitted in (NLinearBaseline(), DLinearBaseline()):
        with pytest.raises(RuntimeError, match="predict needs fit"):
            unfitted.predict(x)
        with pytest.raises(RuntimeError, match="arrays needs fit"):
            unfitted.arrays()
    with pytest.raises(ValueError, match=r"train_y must be \(N, H, F_out\) = \(40, H, 1\)"):
        NLinearBaseline(output_features=1).fit(x, y)
    with pytest.raises(ValueError, match=r"ridge \(-1\.0\) must be >= 0"):
        DLinearBaseline(ridge=-1.0)
    with pytest.raises(ValueError, match=r"ridge \(nan\) must be >= 0"):
        DLinearBaseline().fit_choosing_ridge(x, y, x, y, grid=(0.0, float("nan")))
    with pytest.raises(ValueError, match="grid must hold at least one"):
        DLinearBaseline().fit_choosing_ridge(x, y, x, y, grid=())
    with pytest.raises(ValueError, match=r"val_x \(40, 29, 2\) and val_y \(40, 3, 2\) must be "
                       r"\(N, 30, 2\) and \(N, 3, 2\) like the training"):  # fmt: skip
        DLinearBaseline().fit_choosing_ridge(x, y, x[:, 1:], y)
    with pytest.raises(ValueError, match=r"val_y must be \(N, H, F_out\) = \(40, H, 2\) for val_x"):
        DLinearBaseline().fit_choosing_ridge(x, y, x, y[:, :, :1])
