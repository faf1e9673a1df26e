"""The baselines every forecasting evaluation reports beside the networks.

A network that does not beat these has learned nothing worth its cost:
- repeat_last (persistence, the random-walk forecast): y_hat_{T-1+h} = x_{T-1} for
  h = 1..horizon.
- seasonal_naive (Hyndman and Athanasopoulos, "Forecasting: Principles and Practice", 3rd ed.,
  sec. 5.2): y_hat_{T-1+h} = x_{T-1+h-s*k}, k = ceil(h / s), the same hour one period (s = 24: a
  day; s = 168: a week) before, or k periods before when h > s.
- LinearBaseline: DLinear's "Linear" (Zeng et al., 2023, "Are Transformers Effective for Time
  Series Forecasting?", sec. 4): each feature's next ``horizon`` values are one linear map of its
  own last T values, y_hat = W x + b, fitted here in closed form by least squares instead of by
  SGD.
- NLinearBaseline: the same paper's NLinear, the map applied to the window less its last value,
  which is added back: y_hat = W (x - x_{T-1} 1) + b + x_{T-1} 1. Expanded, its weights W' = W +
  (1 - W 1) e_{T-1}' sum to one in every row: a linear map that moves with the level of the window,
  so a level shift between training and test periods does not bias it.
- DLinearBaseline: the paper's DLinear, x = trend + remainder with trend the moving average of
  ``kernel_size`` (25) steps, the window padded at both ends by repeating its first and last value
  (the paper's series_decomp), and one map for each part: y_hat = W_t trend + W_r remainder + b.
  Fitted by least squares it forecasts as LinearBaseline does (the class says why), so it is
  fitted by ridge regression, each map penalised, the penalty chosen on validation windows: the
  closed-form analogue of the paper's early-stopped training.

All three read only the forecast columns (``output_features``), each column through the same map
over time (the paper's default, individual=False, "channel independence"): the other value
columns of an MS model (covariates) and the calendar columns are inputs to the networks, never to
these baselines, so univariate (S, MS) and multivariate (M) data are treated alike: one row of the
least-squares system per (window, forecast column).

Shapes: N windows, T the input length (steps the window holds), ``horizon`` the steps forecast,
F the window's features, F_out the forecast ones. Windows x are (N, T, F) numpy arrays or torch
tensors, indexed 0..T-1 with T-1 the last observed step; predictions are (N, horizon, F_out), of
the same kind, dtype and device as x (a floating dtype for the linear model). output_features:
None forecasts every value column; k forecasts the last k value columns, so 1 is the target
column, which the data layer puts last. extra_inputs: the number of trailing input-only columns
after the value columns (calendar features), never forecast; the forecasters
(seqlab.models.forecaster) read their targets the same way.
"""

from __future__ import annotations

from typing import Self

import numpy as np
import torch

Array = np.ndarray | torch.Tensor


def _to_numpy(x: Array) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def _like(result: np.ndarray, reference: Array, *, floating: bool = False) -> Array:
    """result converted to reference's kind, dtype and device; with ``floating``, an integer
    reference gives float64 rather than a truncated forecast."""
    if isinstance(reference, torch.Tensor):
        dtype = reference.dtype
        if floating and not dtype.is_floating_point:
            dtype = torch.float64
        return torch.from_numpy(np.ascontiguousarray(result)).to(reference.device, dtype)
    numpy_dtype = np.asarray(reference).dtype
    if floating and not np.issubdtype(numpy_dtype, np.floating):
        numpy_dtype = np.dtype(np.float64)
    return result.astype(numpy_dtype, copy=False)


def _target_columns(x: np.ndarray, output_features: int | None, extra_inputs: int) -> np.ndarray:
    """The output_features value columns before the extra_inputs trailing ones: (N, T, F) ->
    (N, T, F_out)."""
    if x.ndim != 3:
        raise ValueError(f"x must be windows (N, L, F), got shape {x.shape}")
    values = x.shape[-1] - extra_inputs  # value columns
    if extra_inputs < 0 or values < 1:
        raise ValueError(
            f"extra_inputs ({extra_inputs}) must be >= 0 and leave a value column among the "
            f"{x.shape[-1]} features"
        )
    if output_features is None:
        output_features = values
    if not 1 <= output_features <= values:
        raise ValueError(
            f"output_features ({output_features}) must be between 1 and the number of value "
            f"columns ({values})"
        )
    return x[..., values - output_features : values]  # (N, T, F_out)


def _check_horizon(horizon: int) -> None:
    if horizon < 1:
        raise ValueError(f"horizon ({horizon}) must be positive")


def repeat_last(
    x: Array, *, horizon: int, output_features: int | None = None, extra_inputs: int = 0
) -> Array:
    """Persistence: every future step equals the last observed value. (N, T, F) ->
    (N, horizon, F_out)."""
    _check_horizon(horizon)
    targets = _target_columns(_to_numpy(x), output_features, extra_inputs)  # (N, T, F_out)
    forecast = np.repeat(targets[:, -1:], horizon, axis=1)  # (N, horizon, F_out)
    return _like(forecast, x)


def seasonal_naive(
    x: Array,
    *,
    horizon: int,
    period: int,
    output_features: int | None = None,
    extra_inputs: int = 0,
) -> Array:
    """y_hat_{T-1+h} = x_{T-1+h-s*ceil(h/s)}: the last full period, repeated. (N, T, F) ->
    (N, horizon, F_out).

    For forecast step h = 1..horizon (output row j = h - 1) the index is T - s + (j mod s), so
    the window must hold one whole period: T >= s.
    """
    _check_horizon(horizon)
    numpy_x = _to_numpy(x)
    if numpy_x.ndim != 3:
        raise ValueError(f"x must be windows (N, L, F), got shape {numpy_x.shape}")
    length = numpy_x.shape[1]
    if period < 1:
        raise ValueError(f"period ({period}) must be positive")
    if length < period:
        raise ValueError(
            f"seasonal naive with period {period} needs windows of at least {period} steps "
            f"(one whole period), got L = {length}"
        )
    targets = _target_columns(numpy_x, output_features, extra_inputs)  # (N, T, F_out)
    index = length - period + np.arange(horizon) % period  # (horizon,)
    return _like(targets[:, index], x)  # (N, horizon, F_out)


class LinearBaseline:
    """y_hat = W x + b per output feature, W (horizon, T) and b (horizon,), fitted by least
    squares.

    For every training window n and output feature f, x = x_{n, 0..T-1, f} and
    y = y_{n, 1..horizon, f};
    fit minimises sum_{n,f} ||W x + b - y||^2 + ridge * ||W||_F^2 in closed form
    (numpy.linalg.lstsq on [X 1] theta = Y, the ridge term as extra rows sqrt(ridge) [I 0] theta =
    0; the bias is not penalised). Deterministic: no initialisation, no sampling.

    individual False (DLinear's default): one (W, b) shared by all output features, each feature's
    rows stacked into one system. individual True: one (W_f, b_f) per output feature.
    output_features: None fits every value column; k fits the last k only (1: the target).
    extra_inputs: trailing input-only columns, skipped (module docstring).
    ridge: a small value (say 1e-6) keeps the solution unique and stable when windows are
    nearly collinear; 0 gives lstsq's (minimum-norm) least-squares solution exactly.
    """

    def __init__(
        self,
        *,
        output_features: int | None = None,
        extra_inputs: int = 0,
        ridge: float = 0.0,
        individual: bool = False,
    ) -> None:
        if ridge < 0:
            raise ValueError(f"ridge ({ridge}) must be >= 0")
        self.output_features = output_features
        self.extra_inputs = extra_inputs
        self.ridge = ridge
        self.individual = individual
        self.weight: np.ndarray | None = None  # (horizon, T), or (F_out, horizon, T) individual
        self.bias: np.ndarray | None = None  # (horizon,), or (F_out, horizon) when individual
        self.input_features: int | None = None

    def fit(self, train_x: Array, train_y: Array) -> LinearBaseline:
        """train_x (N, T, F) windows, train_y (N, horizon, F_out) the next values of the output
        columns, or (N, horizon) when F_out = 1 (seqlab.data.windows' target_only). Returns
        self."""
        x, y, self.input_features = _training_pairs(
            train_x, train_y, self.output_features, self.extra_inputs
        )  # (N, T, F_out), (N, horizon, F_out)
        self._fit_pairs(x, y)
        return self

    def _fit_pairs(self, x: np.ndarray, y: np.ndarray) -> None:
        """Solve for W and b from the output columns' windows x (N, T, F_out) and next values
        y (N, horizon, F_out)."""
        if self.individual:
            outputs = x.shape[2]
            solutions = [_least_squares(x[..., f], y[..., f], self.ridge) for f in range(outputs)]
            self.weight = np.stack([weight for weight, _ in solutions])  # (F_out, horizon, T)
            self.bias = np.stack([bias for _, bias in solutions])  # (F_out, horizon)
        else:
            # One row per (window, feature) pair: the map is shared across features.
            self.weight, self.bias = _least_squares(_rows(x), _rows(y), self.ridge)

    @classmethod
    def from_arrays(
        cls,
        *,
        weight: np.ndarray,
        bias: np.ndarray,
        input_features: int,
        output_features: int | None = None,
        extra_inputs: int = 0,
    ) -> Self:
        """A fitted baseline from the ``weight`` and ``bias`` that :meth:`arrays` gave (read
        back from a file, say): (horizon, T) and (horizon,), or (F_out, horizon, T) and
        (F_out, horizon) for one map per output feature. input_features: the F of the windows it
        was fitted on."""
        individual = weight.ndim == 3
        if weight.ndim not in (2, 3) or bias.shape != weight.shape[:-1]:
            raise ValueError(
                f"weight {tuple(weight.shape)} and bias {tuple(bias.shape)} must be (horizon, T) "
                "and (horizon,), or (F_out, horizon, T) and (F_out, horizon)"
            )
        baseline = cls(
            output_features=output_features, extra_inputs=extra_inputs, individual=individual
        )
        baseline.weight, baseline.bias = weight, bias
        baseline.input_features = input_features
        return baseline

    def arrays(self) -> dict[str, np.ndarray]:
        """The fitted ``weight`` and ``bias``, for saving (:meth:`from_arrays` reads them back)."""
        if self.weight is None or self.bias is None:
            raise RuntimeError(f"{type(self).__name__}.arrays needs fit(train_x, train_y) first")
        return {"weight": self.weight, "bias": self.bias}

    def predict(self, x: Array) -> Array:
        """x (N, T, F) -> (N, horizon, F_out), of x's kind and device."""
        return _like(self._forecast(self._targets(x)), x, floating=True)

    def _targets(self, x: Array) -> np.ndarray:
        """The output columns (N, T, F_out) of windows x (N, T, F), checked against the fit."""
        if self.weight is None or self.bias is None:
            raise RuntimeError(f"{type(self).__name__}.predict needs fit(train_x, train_y) first")
        return _checked_targets(
            x, self.weight.shape[-1], self.input_features, self.output_features, self.extra_inputs
        )  # (N, T, F_out)

    def _forecast(self, targets: np.ndarray) -> np.ndarray:
        """W x + b of each output column: (N, T, F_out) -> (N, horizon, F_out)."""
        assert self.weight is not None and self.bias is not None
        if self.individual:
            forecast = np.einsum("nlf,fhl->nhf", targets, self.weight)  # (N, horizon, F_out)
            return forecast + self.bias.T[None]  # (N, horizon, F_out)
        return _apply(targets, self.weight, self.bias)  # (N, horizon, F_out)


class NLinearBaseline(LinearBaseline):
    """NLinear: y_hat = W (x - x_{T-1} 1) + b + x_{T-1} 1 per output feature, W (horizon, T) and
    b (horizon,) shared by all output features (or one each, ``individual``), fitted by least
    squares.

    For every training window n and output feature f, with x = x_{n, 0..T-1, f}, y =
    y_{n, 1..horizon, f} and last = x_{n, T-1, f}, fit minimises
    sum_{n,f} ||W (x - last) + b - (y - last)||^2 + ridge * ||W||_F^2: LinearBaseline's system
    on the shifted rows. Adding a constant to a window adds it to every step of its forecast.
    The settings, the saved arrays and the columns read are LinearBaseline's.
    """

    def fit(self, train_x: Array, train_y: Array) -> NLinearBaseline:
        """train_x (N, T, F) and train_y (N, horizon, F_out), or (N, horizon) when F_out = 1, as
        LinearBaseline.fit. Returns self."""
        x, y, self.input_features = _training_pairs(
            train_x, train_y, self.output_features, self.extra_inputs
        )  # (N, T, F_out), (N, horizon, F_out)
        last = x[:, -1:, :]  # (N, 1, F_out)
        self._fit_pairs(x - last, y - last)
        return self

    def predict(self, x: Array) -> Array:
        """x (N, T, F) -> (N, horizon, F_out), of x's kind and device."""
        targets = self._targets(x)  # (N, T, F_out)
        last = targets[:, -1:, :]  # (N, 1, F_out)
        forecast = self._forecast(targets - last) + last  # (N, horizon, F_out)
        return _like(forecast, x, floating=True)


# DLinear's moving-average kernel (Zeng et al., 2023, sec. 4: 25 in every experiment).
DLINEAR_KERNEL_SIZE = 25


def moving_average(x: np.ndarray, kernel_size: int = DLINEAR_KERNEL_SIZE) -> np.ndarray:
    """DLinear's trend: the mean of ``kernel_size`` steps centred on each step, the window padded
    at both ends by (kernel_size - 1) / 2 copies of its first and last value (the paper's
    moving_avg). (N, T, F) -> (N, T, F)."""
    if kernel_size < 1 or kernel_size % 2 == 0:
        raise ValueError(
            f"kernel_size ({kernel_size}) must be odd and positive: the window is padded by "
            "(kernel_size - 1) / 2 steps at each end, so the trend keeps its length"
        )
    if x.ndim != 3:
        raise ValueError(f"x must be windows (N, L, F), got shape {x.shape}")
    pad = (kernel_size - 1) // 2
    front = np.repeat(x[:, :1], pad, axis=1)  # (N, pad, F)
    back = np.repeat(x[:, -1:], pad, axis=1)  # (N, pad, F)
    padded = np.concatenate([front, x, back], axis=1)  # (N, T + 2 pad, F)
    spans = np.lib.stride_tricks.sliding_window_view(padded, kernel_size, axis=1)
    return spans.mean(axis=-1)  # (N, T, F)


# The ridge multipliers c DLinear's validation search tries, lambda = c * tr(D_c' D_c) / (2T):
# the mean eigenvalue of the centred design's Gram matrix, so one c means the same at any number
# of windows and any scale of the data. 0 (Linear's fit) comes first, so a tie keeps no penalty;
# 10 shrinks both maps nearly to zero (the forecast becomes the training targets' mean).
DLINEAR_RIDGE_GRID = (0.0, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0)


class DLinearBaseline:
    """DLinear: y_hat = W_t trend + W_r remainder + b per output feature, with trend =
    :func:`moving_average` of the window and remainder = x - trend; W_t and W_r (horizon, T) and
    b (horizon,) shared by all output features (the paper's two biases b_t + b_r are one here:
    only their sum is identified).

    The fit. Each (training window n, output feature f) gives one row d = [trend; remainder]
    (2T values) of the design D (M = N * F_out rows) and one row y (horizon values) of Y; with
    Theta = [W_t W_r]' (2T, horizon) it minimises

        J(lambda) = sum_{n,f} ||W_t trend + W_r remainder + b - y||^2
                    + lambda (||W_t||_F^2 + ||W_r||_F^2),

    the bias unpenalised. With D_c = D - 1 d_mean' and Y_c = Y - 1 y_mean' (the means over rows)
    and the thin SVD D_c = U diag(s) V' (Hastie, Tibshirani and Friedman, "The Elements of
    Statistical Learning", 2nd ed., sec. 3.4.1, eq. 3.47):

        Theta(lambda) = (D_c' D_c + lambda I)^-1 D_c' Y_c = V diag(s_i / (s_i^2 + lambda)) U' Y_c,
        b(lambda) = y_mean - Theta(lambda)' d_mean.

    One SVD serves every lambda. At lambda = 0 the factor is 1 / s_i, the s_i below
    eps * max(M, 2T) * max(s) dropped (numpy.linalg.lstsq's cutoff): the minimum-norm
    least-squares solution.

    Why lambda. The moving average is linear in the window (trend = A x, remainder = (I - A) x),
    so W_t A + W_r (I - A) can be any map of x: at lambda = 0 DLinear forecasts exactly as
    LinearBaseline does whenever the training rows determine Linear's map (rank T + 1, so at
    least T + 1 rows); with fewer, each takes the minimum-norm solution of its own parameters
    and they differ. The paper trains DLinear with Adam and stops early on the validation
    loss, a regularisation chosen on validation data; a ridge penalty chosen the same way is its
    closed-form analogue. The penalty falls on the two maps separately, which is what makes the
    split matter: for an effective map W = W_t A + W_r (I - A) the smallest penalty is
    lambda tr(W M^-1 W'), M = A'A + (I - A)'(I - A), so DLinear is Linear with ridge reweighted
    by M^-1: for a symmetric A with eigenvalue a the weight is 1 / (a^2 + (1 - a)^2), between 1
    and 2, most where the moving average keeps half of a component; the padded ends make A
    asymmetric and spread the weights further. Much of what DLinear gains over Linear is the
    ridge itself; the split reshapes it.

    :meth:`fit` uses the ``ridge`` given (lambda, absolute). :meth:`fit_choosing_ridge` tries
    lambda = c * tr(D_c' D_c) / (2T) for every c of ``grid`` (DLINEAR_RIDGE_GRID), each fitted
    on the training windows alone, and keeps the one of lowest mean squared error on the
    validation windows (the first on a tie): fitted on training windows only, its penalty chosen
    on validation windows. Where lambda = 0 wins, DLinear is Linear.
    """

    def __init__(
        self,
        *,
        output_features: int | None = None,
        extra_inputs: int = 0,
        ridge: float = 0.0,
        kernel_size: int = DLINEAR_KERNEL_SIZE,
    ) -> None:
        _check_ridge(ridge)
        moving_average(np.zeros((1, 1, 1)), kernel_size)  # an even or non-positive kernel fails
        self.output_features = output_features
        self.extra_inputs = extra_inputs
        self.ridge = ridge
        self.kernel_size = kernel_size
        self.trend_weight: np.ndarray | None = None  # (horizon, T)
        self.remainder_weight: np.ndarray | None = None  # (horizon, T)
        self.bias: np.ndarray | None = None  # (horizon,)
        self.input_features: int | None = None
        # lambda -> mean squared error on the validation windows, of fit_choosing_ridge's grid.
        self.validation_mse: dict[float, float] = {}

    def fit(self, train_x: Array, train_y: Array) -> DLinearBaseline:
        """train_x (N, T, F) and train_y (N, horizon, F_out), or (N, horizon) when F_out = 1, as
        LinearBaseline.fit; lambda = ``ridge``. Returns self."""
        path = self._ridge_path(train_x, train_y)
        self._keep(path.solve(self.ridge))
        return self

    def fit_choosing_ridge(
        self,
        train_x: Array,
        train_y: Array,
        val_x: Array,
        val_y: Array,
        *,
        grid: tuple[float, ...] = DLINEAR_RIDGE_GRID,
    ) -> DLinearBaseline:
        """Fitted on train_x, train_y with the lambda of ``grid`` (multiples of the mean
        eigenvalue, class docstring) whose fit forecasts val_x's targets val_y best; val_x and
        val_y shaped as the training ones. Sets ``ridge`` and ``validation_mse``. Returns self."""
        if not grid:
            raise ValueError("grid must hold at least one ridge multiplier")
        for multiplier in grid:
            _check_ridge(multiplier)
        path = self._ridge_path(train_x, train_y)
        val_design, val_targets = self._validation_rows(val_x, val_y, path)
        scale = path.mean_eigenvalue()
        fits, self.validation_mse = {}, {}
        for multiplier in grid:
            ridge = multiplier * scale
            weight, bias = fits[ridge] = path.solve(ridge)  # (horizon, 2T), (horizon,)
            forecast = val_design @ weight.T + bias  # (M_val, horizon)
            self.validation_mse[ridge] = float(np.mean((forecast - val_targets) ** 2))
        self.ridge = min(self.validation_mse, key=self.validation_mse.__getitem__)  # first: ties
        self._keep(fits[self.ridge])
        return self

    def _decomposed_rows(self, x: np.ndarray) -> np.ndarray:
        """[trend, remainder] per (window, feature): (N, T, F_out) -> (N*F_out, 2T)."""
        trend = moving_average(x, self.kernel_size)  # (N, T, F_out)
        return np.concatenate([_rows(trend), _rows(x - trend)], axis=1)  # (N*F_out, 2T)

    def _ridge_path(self, train_x: Array, train_y: Array) -> _RidgePath:
        x, y, self.input_features = _training_pairs(
            train_x, train_y, self.output_features, self.extra_inputs
        )  # (N, T, F_out), (N, horizon, F_out)
        return _RidgePath(self._decomposed_rows(x), _rows(y))

    def _validation_rows(
        self, val_x: Array, val_y: Array, path: _RidgePath
    ) -> tuple[np.ndarray, np.ndarray]:
        """The validation design (M_val, 2T) and targets (M_val, horizon), checked against the
        training windows' shapes."""
        x, y, features = _training_pairs(
            val_x, val_y, self.output_features, self.extra_inputs, role="val"
        )  # (N_val, T, F_out), (N_val, horizon, F_out)
        length, horizon = path.design_mean.size // 2, path.target_mean.size
        if features != self.input_features or x.shape[1] != length or y.shape[1] != horizon:
            raise ValueError(
                f"val_x {tuple(val_x.shape)} and val_y {tuple(y.shape)} must be "
                f"(N, {length}, {self.input_features}) and (N, {horizon}, {y.shape[2]}) like "
                "the training windows and targets"
            )
        return self._decomposed_rows(x), _rows(y)

    def _keep(self, solution: tuple[np.ndarray, np.ndarray]) -> None:
        weight, self.bias = solution  # (horizon, 2T), (horizon,)
        length = weight.shape[1] // 2
        self.trend_weight, self.remainder_weight = weight[:, :length], weight[:, length:]

    @classmethod
    def from_arrays(
        cls,
        *,
        trend_weight: np.ndarray,
        remainder_weight: np.ndarray,
        bias: np.ndarray,
        kernel_size: int,
        input_features: int,
        ridge: float = 0.0,
        output_features: int | None = None,
        extra_inputs: int = 0,
    ) -> DLinearBaseline:
        """A fitted baseline from what :meth:`arrays` gave: each weight (horizon, T), the bias
        (horizon,), the moving average's ``kernel_size`` and the ``ridge`` (lambda) it was fitted
        with. input_features: the F of the windows it was fitted on."""
        _check_map("trend_weight", trend_weight, "bias", bias)
        if remainder_weight.shape != trend_weight.shape:
            raise ValueError(
                f"remainder_weight {tuple(remainder_weight.shape)} must have trend_weight's "
                f"shape {tuple(trend_weight.shape)}"
            )
        baseline = cls(
            output_features=output_features,
            extra_inputs=extra_inputs,
            ridge=ridge,
            kernel_size=kernel_size,
        )
        baseline.trend_weight, baseline.remainder_weight = trend_weight, remainder_weight
        baseline.bias = bias
        baseline.input_features = input_features
        return baseline

    def arrays(self) -> dict[str, np.ndarray]:
        """The fitted maps, the bias, the kernel size (a one-element int64 array) and the ridge
        lambda (one-element float64), for saving (:meth:`from_arrays` reads them back)."""
        if self.trend_weight is None or self.remainder_weight is None or self.bias is None:
            raise RuntimeError("DLinearBaseline.arrays needs fit(train_x, train_y) first")
        return {
            "trend_weight": self.trend_weight,
            "remainder_weight": self.remainder_weight,
            "bias": self.bias,
            "kernel_size": np.array([self.kernel_size], dtype=np.int64),
            "ridge": np.array([self.ridge], dtype=np.float64),
        }

    def predict(self, x: Array) -> Array:
        """x (N, T, F) -> (N, horizon, F_out), of x's kind and device."""
        if self.trend_weight is None or self.remainder_weight is None or self.bias is None:
            raise RuntimeError("DLinearBaseline.predict needs fit(train_x, train_y) first")
        targets = _checked_targets(
            x,
            self.trend_weight.shape[-1],
            self.input_features,
            self.output_features,
            self.extra_inputs,
        )  # (N, T, F_out)
        trend = moving_average(targets, self.kernel_size)  # (N, T, F_out)
        forecast = _apply(trend, self.trend_weight, self.bias) + _apply(
            targets - trend, self.remainder_weight, np.zeros_like(self.bias)
        )  # (N, horizon, F_out)
        return _like(forecast, x, floating=True)


class _RidgePath:
    """The ridge solutions of one system for every lambda, from one SVD of its centred design
    (DLinearBaseline's docstring has the equations): design D (M, P), targets Y (M, horizon)."""

    def __init__(self, design: np.ndarray, targets: np.ndarray) -> None:
        self.design_mean = design.mean(axis=0)  # (P,)
        self.target_mean = targets.mean(axis=0)  # (horizon,)
        left, self.singular, right = np.linalg.svd(
            design - self.design_mean, full_matrices=False
        )  # (M, R), (R,), (R, P) with R = min(M, P)
        self.right = right.T  # (P, R)
        self.projected = left.T @ (targets - self.target_mean)  # (R, horizon): U' Y_c
        # numpy.linalg.lstsq's default cutoff for singular values taken as zero at lambda = 0.
        self.cutoff = np.finfo(np.float64).eps * max(design.shape) * self.singular.max(initial=0)

    def mean_eigenvalue(self) -> float:
        """tr(D_c' D_c) / P: the scale the ridge grid multiplies."""
        return float(np.sum(self.singular**2) / self.design_mean.size)

    def solve(self, ridge: float) -> tuple[np.ndarray, np.ndarray]:
        """(Theta' (horizon, P), b (horizon,)) minimising ||D Theta + 1 b' - Y||^2 +
        ridge ||Theta||^2."""
        singular = self.singular
        if ridge == 0:
            kept = singular > self.cutoff
            factors = np.divide(1.0, singular, out=np.zeros_like(singular), where=kept)  # (R,)
        else:
            factors = singular / (singular**2 + ridge)  # (R,)
        coefficients = self.right @ (factors[:, None] * self.projected)  # (P, horizon)
        return coefficients.T, self.target_mean - self.design_mean @ coefficients


def _check_ridge(ridge: float) -> None:
    if not ridge >= 0:  # NaN fails too
        raise ValueError(f"ridge ({ridge}) must be >= 0")


def _training_pairs(
    train_x: Array,
    train_y: Array,
    output_features: int | None,
    extra_inputs: int,
    *,
    role: str = "train",
) -> tuple[np.ndarray, np.ndarray, int]:
    """The forecast columns of the training windows (N, T, F_out), their targets (N, horizon,
    F_out), both float64, and the windows' F. role: how errors name the pair (train_x, val_x)."""
    numpy_x = _to_numpy(train_x).astype(np.float64)
    x = _target_columns(numpy_x, output_features, extra_inputs)  # (N, T, F_out)
    y = _to_numpy(train_y).astype(np.float64)  # (N, horizon, F_out)
    if y.ndim == 2 and x.shape[2] == 1:
        y = y[..., None]  # (N, horizon, 1): one target column, unambiguous
    if y.ndim != 3 or y.shape[0] != x.shape[0] or y.shape[2] != x.shape[2]:
        raise ValueError(
            f"{role}_y must be (N, H, F_out) = ({x.shape[0]}, H, {x.shape[2]}) for {role}_x "
            f"{tuple(train_x.shape)} and output_features {output_features}; got shape "
            f"{tuple(y.shape)} (slice the target columns, e.g. y[..., -1:])"
        )
    return x, y, numpy_x.shape[-1]


def _checked_targets(
    x: Array,
    length: int,
    input_features: int | None,
    output_features: int | None,
    extra_inputs: int,
) -> np.ndarray:
    """The forecast columns (N, T, F_out) of windows shaped like the training ones, float64."""
    numpy_x = _to_numpy(x).astype(np.float64)
    if numpy_x.ndim != 3 or numpy_x.shape[1:] != (length, input_features):
        raise ValueError(
            f"x must be (N, {length}, {input_features}) like the training windows, "
            f"got shape {numpy_x.shape}"
        )
    return _target_columns(numpy_x, output_features, extra_inputs)  # (N, T, F_out)


def _check_map(weight_name: str, weight: np.ndarray, bias_name: str, bias: np.ndarray) -> None:
    if weight.ndim != 2 or bias.shape != weight.shape[:-1]:
        raise ValueError(
            f"{weight_name} {tuple(weight.shape)} and {bias_name} {tuple(bias.shape)} must be "
            "(horizon, T) and (horizon,)"
        )


def _rows(z: np.ndarray) -> np.ndarray:
    """One row per (window, feature): (N, L, F) -> (N*F, L), the system a shared map solves."""
    samples, length, features = z.shape
    return z.transpose(0, 2, 1).reshape(samples * features, length)  # (N*F, L)


def _apply(z: np.ndarray, weight: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """W z + b for each window and feature: (N, T, F) -> (N, horizon, F)."""
    return np.einsum("nlf,hl->nhf", z, weight) + bias[None, :, None]  # (N, horizon, F)


def _least_squares(
    design: np.ndarray, targets: np.ndarray, ridge: float
) -> tuple[np.ndarray, np.ndarray]:
    """argmin ||[X 1] theta - Y||^2 + ridge ||W||^2: X (M, T), Y (M, horizon) ->
    (W (horizon, T), b (horizon,))."""
    rows, length = design.shape
    augmented = np.concatenate([design, np.ones((rows, 1))], axis=1)  # (M, T + 1)
    if ridge > 0:
        penalty = np.sqrt(ridge) * np.eye(length, length + 1)  # (T, T + 1), bias column zero
        augmented = np.concatenate([augmented, penalty], axis=0)  # (M + T, T + 1)
        targets = np.concatenate([targets, np.zeros((length, targets.shape[1]))], axis=0)
    theta, *_ = np.linalg.lstsq(augmented, targets, rcond=None)  # (T + 1, horizon)
    return theta[:length].T, theta[length]  # (horizon, T), (horizon,)
