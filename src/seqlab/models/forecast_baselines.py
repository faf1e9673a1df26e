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
        numpy_x = _to_numpy(train_x).astype(np.float64)
        x = _target_columns(numpy_x, self.output_features, self.extra_inputs)  # (N, T, F_out)
        y = _to_numpy(train_y).astype(np.float64)  # (N, horizon, F_out)
        if y.ndim == 2 and x.shape[2] == 1:
            y = y[..., None]  # (N, horizon, 1): one target column, unambiguous
        if y.ndim != 3 or y.shape[0] != x.shape[0] or y.shape[2] != x.shape[2]:
            raise ValueError(
                f"train_y must be (N, H, F_out) = ({x.shape[0]}, H, {x.shape[2]}) for train_x "
                f"{tuple(train_x.shape)} and output_features {self.output_features}; got shape "
                f"{tuple(y.shape)} (slice the target columns, e.g. y[..., -1:])"
            )
        samples, length, outputs = x.shape
        horizon = y.shape[1]
        if self.individual:
            solutions = [_least_squares(x[..., f], y[..., f], self.ridge) for f in range(outputs)]
            self.weight = np.stack([weight for weight, _ in solutions])  # (F_out, horizon, T)
            self.bias = np.stack([bias for _, bias in solutions])  # (F_out, horizon)
        else:
            # One row per (window, feature) pair: the map is shared across features.
            design = x.transpose(0, 2, 1).reshape(samples * outputs, length)  # (N*F_out, T)
            targets = y.transpose(0, 2, 1).reshape(samples * outputs, horizon)  # (N*F_out, horizon)
            self.weight, self.bias = _least_squares(design, targets, self.ridge)
        self.input_features = numpy_x.shape[-1]
        return self

    @classmethod
    def from_arrays(
        cls,
        *,
        weight: np.ndarray,
        bias: np.ndarray,
        input_features: int,
        output_features: int | None = None,
        extra_inputs: int = 0,
    ) -> LinearBaseline:
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
            raise RuntimeError("LinearBaseline.arrays needs fit(train_x, train_y) first")
        return {"weight": self.weight, "bias": self.bias}

    def predict(self, x: Array) -> Array:
        """x (N, T, F) -> (N, horizon, F_out), of x's kind and device."""
        if self.weight is None or self.bias is None:
            raise RuntimeError("LinearBaseline.predict needs fit(train_x, train_y) first")
        numpy_x = _to_numpy(x).astype(np.float64)
        length = self.weight.shape[-1]
        if numpy_x.ndim != 3 or numpy_x.shape[1:] != (length, self.input_features):
            raise ValueError(
                f"x must be (N, {length}, {self.input_features}) like the training windows, "
                f"got shape {numpy_x.shape}"
            )
        targets = _target_columns(numpy_x, self.output_features, self.extra_inputs)
        if self.individual:
            forecast = np.einsum("nlf,fhl->nhf", targets, self.weight)  # (N, horizon, F_out)
            forecast = forecast + self.bias.T[None]  # (N, horizon, F_out)
        else:
            forecast = np.einsum("nlf,hl->nhf", targets, self.weight)  # (N, horizon, F_out)
            forecast = forecast + self.bias[None, :, None]  # (N, horizon, F_out)
        return _like(forecast, x, floating=True)


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
