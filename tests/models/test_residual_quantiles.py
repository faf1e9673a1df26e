"""Quantile outputs of the residual forecaster (seqlab.models.residual_forecaster): the point
level starts at the baseline's forecast, the band around it is the network's own from the start.

References: the forward against its equation
    y_(q) = M x_f + c + alpha sigma_f g_(q*) + sigma_f (g_(q) - g_(q*)),
computed here from the buffers M, c and the network called directly on windows normalised by
hand (g_(q) the network's Q outputs sorted, q* the point level's rank); the gradients against
autograd of that hand-built expression; calibration against a sine plus N(0, SIGMA^2) noise,
whose true 10% and 90% quantiles bound 80% of the values; ONNX Runtime and the int8 swap against
the float32 module.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose
from torch.testing import assert_close

from seqlab.export.int8_model import quantize_model
from seqlab.models.config import RecurrentConfig
from seqlab.models.forecaster import RecurrentForecaster
from seqlab.models.residual_forecaster import ResidualForecaster
from seqlab.tasks.forecasting.quantiles import QuantileForecaster, pinball_loss

T, HORIZON = 24, 6
F_OUT, EXTRA = 2, 1  # two forecast columns and one calendar-like column after them
F_IN = F_OUT + EXTRA
SIGMA = 0.5  # the calibration series' noise
DAY = 24


def _network(family: str, *, input_features: int, output_features: int) -> RecurrentForecaster:
    config = RecurrentConfig(family=family, hidden_size=16, dropout=0.0)  # type: ignore[arg-type]
    return RecurrentForecaster(
        config, input_features=input_features, horizon=HORIZON, output_features=output_features,
        input_length=T, extra_inputs=input_features - output_features,
        generator=torch.Generator().manual_seed(0),
    )  # fmt: skip


def _model(levels: tuple[float, ...], *, family: str = "gru") -> QuantileForecaster:
    """A quantile residual forecaster with a random affine map, in float64."""
    # The widened output layer draws from the global generator: seed it, so every order of
    # tests builds the same model.
    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(1)
    weight = torch.randn(HORIZON, T, generator=generator, dtype=torch.float64) / T  # (h, T)
    bias = torch.randn(HORIZON, generator=generator, dtype=torch.float64)  # (horizon,)
    network = _network(family, input_features=F_IN, output_features=F_OUT)
    residual = ResidualForecaster(
        network, input_features=F_IN, input_length=T, horizon=HORIZON, output_features=F_OUT,
        extra_inputs=EXTRA, weight=weight, bias=bias,
    )  # fmt: skip
    return QuantileForecaster(residual, levels).double()


def _windows(batch: int, seed: int) -> torch.Tensor:
    """Random walks far from zero (B, T, F_IN), the last column calendar-like in [0, 1)."""
    generator = torch.Generator().manual_seed(seed)
    steps = torch.randn(batch, T, F_IN, generator=generator, dtype=torch.float64)
    x = 5.0 + torch.cumsum(steps, dim=1)  # (B, T, F_IN)
    x[..., F_OUT:] = torch.rand(batch, T, EXTRA, generator=generator, dtype=torch.float64)
    return x


def _by_hand(model: QuantileForecaster, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """(M x_f + c, sigma_f, g sorted, g_(q*)) from the buffers and the network called directly:
    (B, horizon, F_out), (B, 1, F_out), (B, horizon, F_out, Q), (B, horizon, F_out)."""
    residual = model.network
    assert isinstance(residual, ResidualForecaster)
    values = x[..., :F_OUT]  # (B, T, F_out): every value column is a forecast column here
    mean = values.mean(dim=1, keepdim=True)  # (B, 1, F_out)
    sigma = torch.sqrt(((values - mean) ** 2).mean(dim=1, keepdim=True) + 1e-5)  # (B, 1, F_out)
    normalised = torch.cat([(values - mean) / sigma, x[..., F_OUT:]], dim=-1)  # (B, T, F_IN)
    raw = residual.network(normalised)  # (B, horizon, F_out, Q)
    ordered = torch.sort(raw, dim=-1).values  # (B, horizon, F_out, Q)
    weight, bias = residual.baseline_weight, residual.baseline_bias
    baseline = torch.einsum("ht,btf->bhf", weight, values) + bias[:, None]  # (B, horizon, F_out)
    return baseline, sigma, ordered, ordered[..., model.point]


@pytest.mark.parametrize(
    "levels", [(0.1, 0.5, 0.9), (0.05, 0.3, 0.5, 0.7, 0.95), (0.5, 0.8, 0.9), (0.1, 0.3, 0.7, 0.9)]
)
def test_at_initialisation_the_point_is_the_baseline_and_the_band_the_networks(levels) -> None:
    model = _model(levels).eval()
    x = _windows(5, seed=2)
    with torch.no_grad():
        quantiles = model.quantile_forecast(x)  # (B, horizon, F_out, Q)
        point = model(x)  # (B, horizon, F_out)
        baseline, sigma, ordered, centre = _by_hand(model, x)
    assert model.network.alpha.item() == 0.0
    assert torch.equal(point, baseline)  # exactly, not approximately
    assert torch.equal(quantiles[..., model.point], baseline)
    expected = baseline[..., None] + sigma[..., None] * (ordered - centre[..., None])
    assert_close(quantiles, expected, rtol=0, atol=1e-12)
    # The band is open from the start: each level apart from the point by a visible margin.
    others = [level for level in range(len(levels)) if level != model.point]
    gaps = (quantiles[..., others] - baseline[..., None]).abs()  # (B, horizon, F_out, Q - 1)
    assert float(gaps.min()) > 1e-4
    assert bool((quantiles.diff(dim=-1) > 0).all())


@pytest.mark.parametrize("alpha", [0.6, -0.8])
def test_the_gate_scales_the_point_alone(alpha: float) -> None:
    model = _model((0.05, 0.3, 0.5, 0.7, 0.95)).eval()
    residual = model.network
    with torch.no_grad():
        residual.alpha.fill_(alpha)
    x = _windows(4, seed=3)
    with torch.no_grad():
        quantiles = model.quantile_forecast(x)  # (B, horizon, F_out, Q)
        raw = residual(x)  # (B, horizon, F_out, Q)
        baseline, sigma, ordered, centre = _by_hand(model, x)
    point = baseline + alpha * sigma * centre  # (B, horizon, F_out)
    expected = point[..., None] + sigma[..., None] * (ordered - centre[..., None])
    assert_close(quantiles, expected, rtol=0, atol=1e-12)
    assert_close(model(x), point, rtol=0, atol=1e-12)
    # The wrapper's outputs are already in order (sigma > 0), whatever alpha's sign, so the
    # rearrangement leaves them as they are and the point is the gated correction's.
    assert torch.equal(raw, quantiles)
    assert float((point - baseline).abs().max()) > 1e-2  # the gate's share is not negligible


def test_at_alpha_zero_the_band_trains_and_the_point_waits_for_the_gate() -> None:
    levels = (0.1, 0.5, 0.9)
    model = _model(levels, family="lstm").train()
    x, truth = _windows(6, seed=4), 5.0 + torch.randn(6, HORIZON, F_OUT, dtype=torch.float64)
    pinball_loss(model.quantile_forecast(x), truth, levels).mean().backward()
    head = model.network.network.head.linear
    grads = {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}
    assert float(head.weight.grad.abs().max()) > 1e-4  # the band's output layer trains
    # The reference: autograd of the hand-built expression, through the same parameters.
    model.zero_grad()
    baseline, sigma, ordered, centre = _by_hand(model, x)
    alpha = model.network.alpha
    hand = (baseline + alpha * sigma * centre)[..., None] + sigma[..., None] * (
        ordered - centre[..., None]
    )  # (B, horizon, F_out, Q)
    pinball_loss(hand, truth, levels).mean().backward()
    for name, parameter in model.named_parameters():
        assert parameter.grad is not None, name
        assert_close(grads[name], parameter.grad, rtol=1e-9, atol=1e-12, msg=name)
    # The point forecast alone still passes no gradient to the network at alpha = 0 (ReZero).
    model.zero_grad()
    ((model(x) - truth) ** 2).mean().backward()
    assert alpha.grad is not None and float(alpha.grad.abs()) > 0
    for name, parameter in model.network.network.named_parameters():
        assert parameter.grad is None or not parameter.grad.any(), name


# ------------------------------------------------------------------------- calibration


def _sine_windows(count: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Windows (count, T, 1) and their next HORIZON steps (count, HORIZON, 1) of a daily sine
    plus N(0, SIGMA^2) noise, each window starting at a random phase."""
    rng = np.random.default_rng(seed)
    steps = rng.integers(0, DAY, size=(count, 1)) + np.arange(T + HORIZON)  # (count, T + h)
    series = 10 + 3 * np.sin(2 * np.pi * steps / DAY) + rng.normal(0, SIGMA, steps.shape)
    values = torch.from_numpy(series)[..., None]  # (count, T + h, 1)
    return values[:, :T], values[:, T:]


def _seasonal_map() -> tuple[torch.Tensor, torch.Tensor]:
    """Seasonal naive of period DAY: forecast step j reads step T - DAY + j."""
    weight = torch.zeros(HORIZON, T, dtype=torch.float64)  # (horizon, T)
    weight[torch.arange(HORIZON), T - DAY + torch.arange(HORIZON)] = 1.0
    return weight, torch.zeros(HORIZON, dtype=torch.float64)


@pytest.mark.parametrize("family", ["gru", "lstm"])
def test_a_briefly_trained_band_covers_near_its_nominal_share(family: str) -> None:
    # 100 steps at the forecasting runs' default learning rate: the gate has moved little from
    # 0 (|alpha| < 0.2), yet the 10%..90% band must cover near 80% of held-out values. A band
    # gated by alpha covered 0.64 (GRU) and 0.62 (LSTM) here, 0.06 and under 0.02 at 50 and 20.
    torch.manual_seed(0)
    levels = (0.1, 0.5, 0.9)
    weight, bias = _seasonal_map()
    residual = ResidualForecaster(
        _network(family, input_features=1, output_features=1), input_features=1,
        input_length=T, horizon=HORIZON, output_features=1, weight=weight, bias=bias,
    )  # fmt: skip
    model = QuantileForecaster(residual, levels).double().train()
    inputs, targets = _sine_windows(2048, seed=5)
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-3)
    order = np.random.default_rng(6)
    for _ in range(100):
        batch = torch.from_numpy(order.choice(len(inputs), size=64, replace=False))
        forecast = model.quantile_forecast(inputs[batch])  # (64, horizon, 1, Q)
        loss = pinball_loss(forecast, targets[batch], levels).mean()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    test_inputs, test_targets = _sine_windows(1024, seed=7)
    with torch.no_grad():
        quantiles = model.eval().quantile_forecast(test_inputs)  # (N, horizon, 1, Q)
    inside = (test_targets >= quantiles[..., 0]) & (test_targets <= quantiles[..., 2])
    assert float(inside.double().mean()) == pytest.approx(0.8, abs=0.06)
    for index, level in enumerate(levels):
        below = (test_targets <= quantiles[..., index]).double().mean()
        assert float(below) == pytest.approx(level, abs=0.04), level


# ------------------------------------------------------------------------- export


def test_onnx_and_int8_compute_the_quantile_residual_forecaster(tmp_path: Path) -> None:
    pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    from seqlab.export.onnx_export import export_model_onnx

    model = _model((0.1, 0.5, 0.9)).float().eval()
    with torch.no_grad():
        model.network.alpha.fill_(0.5)
    path = tmp_path / "residual_quantiles.onnx"
    setup = {"task": "forecasting", "model": {"family": "gru"}, "data": {"input_length": T}}
    export_model_onnx(model, setup, path, source="test")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for batch in (1, 4):
        window = _windows(batch, seed=8 + batch).float()
        with torch.no_grad():
            expected = model(window).numpy()  # (B, horizon, F_out): the point forecast
        (forecast,) = session.run(None, {"window": window.numpy()})
        assert_allclose(forecast, expected, atol=1e-4, rtol=0)
    # int8: the same module with int8 layers, close to float32 (the point and the band).
    window = _windows(4, seed=9).float()
    with torch.no_grad():
        before = model.quantile_forecast(window)
        quantize_model(model)
        after = model.quantile_forecast(window)
    # int8 moves the levels by about 0.004 here, far less than the band's narrowest width.
    assert_allclose(after.numpy(), before.numpy(), atol=0.02, rtol=0)
    assert float((before[..., 2] - before[..., 0]).min()) > 0.05
    assert bool((after.diff(dim=-1) >= 0).all())
