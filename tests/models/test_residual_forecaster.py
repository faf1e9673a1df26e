"""The residual forecaster (seqlab.models.residual_forecaster) and the affine maps of the baselines
it starts from (seqlab.tasks.forecasting.residual).

References: each map against its baseline class's own predict() on random windows (1e-10, float64);
the forecaster's forward against its equation computed here from the network called directly on
windows normalised by hand; ONNX Runtime against the module.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose

from seqlab.models.config import RecurrentConfig, TransformerConfig
from seqlab.models.forecast_baselines import (
    DLinearBaseline,
    LinearBaseline,
    NLinearBaseline,
    moving_average,
    repeat_last,
    seasonal_naive,
)
from seqlab.models.forecaster import (
    ChannelIndependent,
    RecurrentForecaster,
    TransformerForecaster,
)
from seqlab.models.residual_forecaster import ResidualForecaster
from seqlab.tasks.forecasting.quantiles import QuantileForecaster
from seqlab.tasks.forecasting.residual import (
    dlinear_map,
    linear_map,
    moving_average_matrix,
    nlinear_map,
    repeat_map,
    seasonal_map,
)

T, HORIZON = 48, 30  # the horizon longer than a 24-step season: the seasonal map wraps
F_OUT, EXTRA = 2, 3  # two forecast columns, three calendar-like columns after them
COVARIATES = 1  # one value column before the forecast ones (an MS-like layout)
F_IN = COVARIATES + F_OUT + EXTRA


def _windows(count: int, seed: int) -> np.ndarray:
    """Random walks (count, T, F_IN), so the windows have levels and trends to map."""
    rng = np.random.default_rng(seed)
    return np.cumsum(rng.normal(size=(count, T, F_IN)), axis=1)


def _training_pairs() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)
    x = _windows(300, seed=2)
    y = x[:, -1:, COVARIATES : COVARIATES + F_OUT] + rng.normal(size=(300, HORIZON, F_OUT))
    return x, y


def _targets(x: np.ndarray) -> np.ndarray:
    return x[..., COVARIATES : COVARIATES + F_OUT]  # (N, T, F_out)


COLUMNS = {"output_features": F_OUT, "extra_inputs": EXTRA}


# ---- every baseline is an affine map of each column's window ----
@pytest.mark.parametrize(
    "baseline, to_map",
    [
        (LinearBaseline(**COLUMNS), linear_map),
        (NLinearBaseline(**COLUMNS), nlinear_map),
        (DLinearBaseline(**COLUMNS, ridge=50.0), dlinear_map),  # ridge: not Linear's map
        (DLinearBaseline(**COLUMNS, ridge=5.0, kernel_size=7), dlinear_map),
    ],
)
def test_a_fitted_baselines_map_reproduces_its_predict(baseline, to_map) -> None:
    baseline.fit(*_training_pairs())
    affine = to_map(baseline)
    x = _windows(20, seed=3)
    expected = baseline.predict(x)  # (N, horizon, F_out)
    assert_allclose(affine.forecast(_targets(x)), expected, rtol=0, atol=1e-10)
    assert np.abs(expected).max() > 1  # windows far from zero: a wrong map cannot pass


def test_the_naive_maps_reproduce_repeat_and_seasonal() -> None:
    x = _windows(20, seed=4)
    repeat = repeat_map(horizon=HORIZON, length=T).forecast(_targets(x))
    assert_allclose(repeat, repeat_last(x, horizon=HORIZON, **COLUMNS), rtol=0, atol=1e-10)
    for period in (24, 48, 7):
        affine = seasonal_map(horizon=HORIZON, length=T, period=period)
        expected = seasonal_naive(x, horizon=HORIZON, period=period, **COLUMNS)
        assert_allclose(affine.forecast(_targets(x)), expected, rtol=0, atol=1e-10)


@pytest.mark.parametrize("length, kernel", [(48, 25), (10, 25), (5, 1), (9, 3)])
def test_the_moving_average_matrix_is_dlinears_trend(length: int, kernel: int) -> None:
    # A kernel wider than the window (10 steps, 25 wide) pads past both ends: still linear.
    x = np.random.default_rng(5).normal(size=(4, length, 2))
    matrix = moving_average_matrix(length, kernel)  # (T, T)
    assert_allclose(np.einsum("st,ntf->nsf", matrix, x), moving_average(x, kernel), atol=1e-12)
    assert_allclose(matrix.sum(axis=1), np.ones(length), atol=1e-12)  # a constant stays


# ---- the forecaster ----
def _recurrent(input_features: int, output_features: int) -> RecurrentForecaster:
    config = RecurrentConfig(family="lstm", hidden_size=8)
    return RecurrentForecaster(
        config, input_features=input_features, horizon=HORIZON, output_features=output_features,
        input_length=T, extra_inputs=EXTRA, generator=torch.Generator().manual_seed(0),
    )  # fmt: skip


def _fitted_map() -> tuple[torch.Tensor, torch.Tensor]:
    affine = nlinear_map(NLinearBaseline(**COLUMNS).fit(*_training_pairs()))
    return torch.from_numpy(affine.weight), torch.from_numpy(affine.bias)


def _wrapped(network: torch.nn.Module) -> ResidualForecaster:
    weight, bias = _fitted_map()
    return ResidualForecaster(
        network, input_features=F_IN, input_length=T, horizon=HORIZON, output_features=F_OUT,
        extra_inputs=EXTRA, weight=weight, bias=bias,
    )  # fmt: skip


def _expected(model: ResidualForecaster, x: torch.Tensor, alpha: float) -> torch.Tensor:
    """M x_f + c + alpha sigma_f g([(x - mu) / sigma ; extras]), by hand."""
    weight, bias = _fitted_map()
    values = x[..., : F_IN - EXTRA].double()  # (B, T, F - E)
    mean = values.mean(dim=1, keepdim=True)
    std = torch.sqrt(values.var(dim=1, unbiased=False, keepdim=True) + 1e-5)  # (B, 1, F - E)
    normalised = torch.cat([(values - mean) / std, x[..., F_IN - EXTRA :].double()], dim=-1)
    with torch.no_grad():
        g = model.network(normalised.float()).double()  # (B, horizon, F_out[, Q])
    targets = x[..., COVARIATES : COVARIATES + F_OUT].double()  # (B, T, F_out)
    baseline = torch.einsum("ht,btf->bhf", weight, targets) + bias[:, None]  # (B, horizon, F_out)
    scale = std[..., COVARIATES:]  # (B, 1, F_out)
    if g.dim() == 4:
        baseline, scale = baseline[..., None], scale[..., None]
    return baseline + alpha * scale * g


def _batch(seed: int, batch: int = 5) -> torch.Tensor:
    x = torch.from_numpy(_windows(batch, seed)).float()  # (B, T, F_in)
    x[..., F_IN - EXTRA :] = torch.rand(batch, T, EXTRA)  # calendar-like columns in [0, 1)
    return x


def test_at_initialisation_the_forecast_is_the_baselines() -> None:
    model = _wrapped(_recurrent(F_IN, F_OUT)).eval()
    x = _batch(6)
    assert model.alpha.item() == 0.0
    with torch.no_grad():
        forecast = model(x).double()
    baseline = NLinearBaseline(**COLUMNS).fit(*_training_pairs()).predict(x.double().numpy())
    assert_allclose(forecast.numpy(), baseline, rtol=1e-6, atol=1e-5)  # float32 of the map
    assert torch.equal(model(x), model.baseline(x))  # alpha = 0: exactly the baseline's path


def test_the_forward_is_its_equation_with_extras_unnormalised() -> None:
    model = _wrapped(_recurrent(F_IN, F_OUT)).eval()
    with torch.no_grad():
        model.alpha.fill_(0.7)
    x = _batch(7)
    with torch.no_grad():
        forecast = model(x)
    assert_allclose(forecast.double().numpy(), _expected(model, x, 0.7).numpy(), atol=1e-4)
    # The network's share is not negligible, so the comparison can fail.
    assert (forecast - model.baseline(x)).abs().max() > 1e-2
    # A shift of every value column moves the forecast by the shift (NLinear's rows sum to 1).
    shifted = x.clone()
    shifted[..., : F_IN - EXTRA] += 10.0
    with torch.no_grad():
        assert_allclose(model(shifted).numpy(), forecast.numpy() + 10.0, atol=1e-3)


def test_channel_independence_inside_the_wrapper() -> None:
    inner = _recurrent(1 + EXTRA, 1)
    # ChannelIndependent forecasts every value column: here the covariate is one of them too.
    layout = {"input_features": F_IN, "output_features": F_IN - EXTRA, "extra_inputs": EXTRA}
    network = ChannelIndependent(inner, **layout)
    weight, bias = _fitted_map()
    model = ResidualForecaster(
        network, input_length=T, horizon=HORIZON, weight=weight, bias=bias, **layout
    ).eval()
    with torch.no_grad():
        model.alpha.fill_(-0.4)
    x = _batch(8)
    with torch.no_grad():
        forecast = model(x)  # (B, horizon, 3)
        values = x[..., : F_IN - EXTRA]
        std = torch.sqrt(values.var(dim=1, unbiased=False, keepdim=True) + 1e-5)
        normalised = (values - values.mean(dim=1, keepdim=True)) / std
        columns = []
        for column in range(F_IN - EXTRA):  # each column through the shared inner network
            alone = torch.cat([normalised[..., column : column + 1], x[..., F_IN - EXTRA :]], -1)
            columns.append(inner(alone)[..., 0])  # (B, horizon)
        g = torch.stack(columns, dim=-1)  # (B, horizon, 3)
        baseline = torch.einsum("ht,btf->bhf", weight.float(), values) + bias.float()[:, None]
    assert_allclose(forecast.numpy(), (baseline - 0.4 * std * g).numpy(), atol=1e-4)


def test_quantile_outputs_start_at_the_baseline_and_keep_the_equation() -> None:
    # The point level is the gated correction, the band an ungated offset from it (the module
    # docstring; tests/models/test_residual_quantiles.py tests it in detail).
    model = QuantileForecaster(_wrapped(_recurrent(F_IN, F_OUT)), [0.1, 0.5, 0.9]).eval()
    residual = model.network
    assert isinstance(residual, ResidualForecaster) and model.input_length == T
    x = _batch(9)
    with torch.no_grad():
        quantiles = model.quantile_forecast(x)  # (B, horizon, F_out, 3)
        point = model(x)
        baseline = residual.baseline(x)
    assert quantiles.shape == (5, HORIZON, F_OUT, 3)
    assert torch.equal(point, baseline)
    assert torch.equal(quantiles[..., 1], baseline)
    assert (quantiles[..., 2] - quantiles[..., 0]).min() > 0  # the band is open from the start
    with torch.no_grad():
        residual.alpha.fill_(0.5)
        quantiles = model.quantile_forecast(x)
    # With alpha = 1 every level is M x_f + c + sigma_f g_(q); at alpha the band is that one
    # moved so that its middle level sits at M x_f + c + alpha sigma_f g_(q*).
    ungated = torch.sort(_expected(residual, x, 1.0), dim=-1).values  # (B, horizon, F_out, 3)
    centre = ungated[..., 1:2] - _expected(residual, x, 0.0)[..., :1]  # sigma_f g_(q*)
    expected = ungated - (1 - 0.5) * centre
    assert_allclose(quantiles.double().numpy(), expected.numpy(), atol=1e-4)


def test_training_starts_with_the_gate_alone_receiving_gradient() -> None:
    model = _wrapped(_recurrent(F_IN, F_OUT))
    x = _batch(10)
    truth = torch.randn(5, HORIZON, F_OUT)
    ((model(x) - truth) ** 2).mean().backward()
    assert model.alpha.grad is not None and model.alpha.grad.abs() > 0
    # ReZero: the network's gradients pass through alpha = 0; the baseline's map is no parameter.
    for name, parameter in model.network.named_parameters():
        assert parameter.grad is None or not parameter.grad.any(), name
    assert {name for name, _ in model.named_buffers()} == {"baseline_weight", "baseline_bias"}


def test_a_loaded_state_fills_a_model_built_with_zeros() -> None:
    model = _wrapped(_recurrent(F_IN, F_OUT)).eval()
    with torch.no_grad():
        model.alpha.fill_(0.3)
    empty = ResidualForecaster(
        _recurrent(F_IN, F_OUT), input_features=F_IN, input_length=T, horizon=HORIZON,
        output_features=F_OUT, extra_inputs=EXTRA,
    ).eval()  # fmt: skip
    assert not empty.baseline_weight.any() and not empty.baseline_bias.any()
    empty.load_state_dict(model.state_dict(), strict=True)
    x = _batch(11)
    with torch.no_grad():
        assert torch.equal(empty(x), model(x))


def test_a_window_of_another_length_is_refused() -> None:
    model = _wrapped(_recurrent(F_IN, F_OUT))
    with pytest.raises(ValueError, match=r"x must be \(B, T, F\) = \(B, 48, 6\); got shape"):
        model(torch.zeros(2, T - 1, F_IN))


# ---- ONNX ----
def test_the_onnx_graph_computes_the_residual_forecaster(tmp_path: Path) -> None:
    pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    from seqlab.export.onnx_export import export_model_onnx

    torch.manual_seed(0)
    config = TransformerConfig(d_model=16, num_heads=2, num_layers=1, dim_feedforward=16)
    network = TransformerForecaster(
        config, input_features=F_IN, input_length=T, horizon=HORIZON, output_features=F_OUT,
        patch_length=12, extra_inputs=EXTRA,
    )  # fmt: skip
    model = _wrapped(network).eval()
    with torch.no_grad():
        model.alpha.fill_(0.5)
    path = tmp_path / "residual.onnx"
    setup = {"task": "forecasting", "model": {"family": "?"}, "data": {"input_length": T}}
    export_model_onnx(model, setup, path, source="test")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for batch in (1, 4):
        window = _batch(12 + batch, batch)
        with torch.no_grad():
            expected = model(window).numpy()  # (B, horizon, F_out)
        (forecast,) = session.run(None, {"window": window.numpy()})
        assert_allclose(forecast, expected, atol=1e-4, rtol=0)
