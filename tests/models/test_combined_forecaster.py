"""The combined forecaster (seqlab.models.combined_forecaster): a network's forecast averaged with
a baseline's affine one in evaluation mode, the network's alone in training mode.

References: the forward against its equations computed here from the network called directly
and the map's buffers,
    y_f = (1 - w) f(x)_f + w (M x_f + c),
    y_{f,(q)} = f_(q) + w (M x_f + c - f_(q*))   (quantile outputs, f_(q) the sorted levels),
in float64 at 1e-12; training-mode gradients against autograd of the bare network's loss;
ONNX Runtime against the module; the int8 swap against the float32 module, within the bound
the equations give from the network's own change.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from numpy.testing import assert_allclose
from torch import nn
from torch.testing import assert_close

from seqlab.export.int8_model import quantize_model
from seqlab.models.combined_forecaster import CombinedForecaster
from seqlab.models.config import RecurrentConfig
from seqlab.models.forecaster import QuantileOutputs, RecurrentForecaster
from seqlab.tasks.forecasting.quantiles import QuantileForecaster

T, HORIZON = 24, 6
COVARIATES, F_OUT, EXTRA = 1, 2, 2  # one input-only value column, two forecast, two calendar
F_IN = COVARIATES + F_OUT + EXTRA
TARGETS = slice(COVARIATES, COVARIATES + F_OUT)  # the forecast columns M reads
LEVELS = QuantileOutputs(count=3, point=1)


def _network() -> RecurrentForecaster:
    config = RecurrentConfig(family="gru", hidden_size=8, dropout=0.0)
    return RecurrentForecaster(
        config, input_features=F_IN, horizon=HORIZON, output_features=F_OUT, input_length=T,
        extra_inputs=EXTRA, generator=torch.Generator().manual_seed(0),
    )  # fmt: skip


def _map() -> tuple[torch.Tensor, torch.Tensor]:
    """A random affine map M (horizon, T), c (horizon,), each row of M near an average, in
    float64 but of float32 values: the wrapper stores its map in the default dtype, so these
    survive it exactly and the hand computation reads the map the model holds."""
    generator = torch.Generator().manual_seed(1)
    weight = (1 + torch.rand(HORIZON, T, generator=generator)) / T  # (horizon, T)
    bias = torch.randn(HORIZON, generator=generator)  # (horizon,)
    return weight.double(), bias.double()


def _combined(
    network: nn.Module | None = None, *, with_map: bool = True, share: float = 0.5
) -> CombinedForecaster:
    """The wrapper at this file's sizes, around ``network`` (None: _network()), holding
    _map() (with_map) or zeros."""
    weight, bias = _map() if with_map else (None, None)
    return CombinedForecaster(
        network if network is not None else _network(), input_features=F_IN, input_length=T,
        horizon=HORIZON, output_features=F_OUT, extra_inputs=EXTRA, weight=weight, bias=bias,
        share=share,
    )  # fmt: skip


def _model(share: float = 0.5, *, quantiles: bool = False) -> CombinedForecaster:
    """A combined forecaster in float64 (the equations are checked at 1e-12)."""
    model = _combined(share=share)
    if quantiles:
        torch.manual_seed(2)  # the widened output layer is drawn from the global generator
        model.output_quantiles(LEVELS)
    return model.double()


def _windows(batch: int, seed: int) -> torch.Tensor:
    """Random walks far from zero (B, T, F_IN), the calendar-like columns in [0, 1)."""
    generator = torch.Generator().manual_seed(seed)
    steps = torch.randn(batch, T, F_IN, generator=generator, dtype=torch.float64)
    x = 5.0 + torch.cumsum(steps, dim=1)  # (B, T, F_IN)
    x[..., F_IN - EXTRA :] = torch.rand(batch, T, EXTRA, generator=generator, dtype=torch.float64)
    return x


def _baseline_by_hand(x: torch.Tensor) -> torch.Tensor:
    """M x_f + c from the map itself and the forecast columns sliced here: (B, horizon, F_out)."""
    weight, bias = _map()
    return torch.einsum("ht,btf->bhf", weight, x[..., TARGETS]) + bias[:, None]


# ------------------------------------------------------------------------- point forecasts


@pytest.mark.parametrize("share", [0.0, 0.5, 1.0])
def test_evaluation_is_the_weighted_average_of_network_and_baseline(share: float) -> None:
    model = _model(share).eval()
    x = _windows(4, seed=3)
    with torch.no_grad():
        forecast = model(x)  # (B, horizon, F_out)
        network = model.network(x)  # (B, horizon, F_out)
    baseline = _baseline_by_hand(x)  # (B, horizon, F_out)
    assert_close(forecast, (1 - share) * network + share * baseline, rtol=0, atol=1e-12)
    # The two parts differ everywhere, so a wrong weight or a swapped part cannot pass.
    assert float((network - baseline).abs().min()) > 1e-3
    if share == 0.0:
        assert torch.equal(forecast, network)  # exactly the network's
    if share == 1.0:
        # f + 1 (b - f) is b up to one rounding of the subtraction and one of the sum.
        assert_close(forecast, baseline, rtol=0, atol=1e-12)


def test_the_baseline_reads_the_forecast_columns_alone() -> None:
    model = _model().eval()
    x = _windows(3, seed=4)
    before = model.baseline(x)  # (B, horizon, F_out)
    assert_close(before, _baseline_by_hand(x), rtol=0, atol=1e-12)
    # The input-only value column and the calendar columns do not reach M.
    moved = x.clone()
    moved[..., :COVARIATES] += 100.0
    moved[..., F_IN - EXTRA :] = torch.rand(3, T, EXTRA, dtype=torch.float64)
    assert torch.equal(model.baseline(moved), before)
    # One step of one forecast column moves that column's forecast by M's column, no other's.
    step, shift = 7, 2.0
    moved = x.clone()
    moved[:, step, COVARIATES + 1] += shift
    change = model.baseline(moved) - before  # (B, horizon, F_out)
    weight, _ = _map()
    assert_close(change[..., 1], shift * weight[:, step].expand(3, -1), rtol=0, atol=1e-12)
    assert torch.equal(change[..., 0], torch.zeros(3, HORIZON, dtype=torch.float64))


def test_training_mode_is_the_network_alone_and_so_are_its_gradients() -> None:
    model = _model(0.5).train()
    x, truth = _windows(4, seed=5), 5.0 + torch.randn(4, HORIZON, F_OUT, dtype=torch.float64)
    forecast = model(x)  # (B, horizon, F_out)
    assert torch.equal(forecast, model.network(x))
    with torch.no_grad():
        assert float((model.eval()(x) - forecast).abs().max()) > 1e-2  # evaluation differs
    model.train()
    ((forecast - truth) ** 2).mean().backward()
    through_wrapper = {
        name: p.grad.clone() for name, p in model.network.named_parameters() if p.grad is not None
    }
    model.zero_grad()
    ((model.network(x) - truth) ** 2).mean().backward()
    for name, parameter in model.network.named_parameters():
        assert parameter.grad is not None and float(parameter.grad.abs().max()) > 0, name
        assert name in through_wrapper, name
        assert torch.equal(through_wrapper[name], parameter.grad), name
    # The wrapper adds no parameter: the map is two buffers, never trained.
    assert [id(p) for p in model.parameters()] == [id(p) for p in model.network.parameters()]
    assert {name for name, _ in model.named_buffers()} == {"baseline_weight", "baseline_bias"}
    assert not model.baseline_weight.requires_grad and not model.baseline_bias.requires_grad


# ------------------------------------------------------------------------- quantile outputs


@pytest.mark.parametrize("share", [0.0, 0.5, 1.0])
def test_quantile_levels_are_the_networks_sorted_band_moved_onto_the_average(
    share: float,
) -> None:
    model = _model(share, quantiles=True).eval()
    x = _windows(4, seed=6)
    with torch.no_grad():
        levels = model(x)  # (B, horizon, F_out, Q)
        raw = model.network(x)  # (B, horizon, F_out, Q), in no fixed order
    assert levels.shape == (4, HORIZON, F_OUT, LEVELS.count)
    # A fresh output layer's levels cross somewhere: the sort is exercised.
    assert not bool((raw.diff(dim=-1) >= 0).all())
    ordered = torch.sort(raw, dim=-1).values  # (B, horizon, F_out, Q)
    point = ordered[..., LEVELS.point]  # (B, horizon, F_out)
    baseline = _baseline_by_hand(x)  # (B, horizon, F_out)
    expected = ordered + share * (baseline - point)[..., None]  # (B, horizon, F_out, Q)
    assert_close(levels, expected, rtol=0, atol=1e-12)
    # The point level is the average; the band keeps the network's own sorted width.
    average = (1 - share) * point + share * baseline
    assert_close(levels[..., LEVELS.point], average, rtol=0, atol=1e-12)
    width = ordered[..., -1] - ordered[..., 0]  # (B, horizon, F_out)
    assert_close(levels[..., -1] - levels[..., 0], width, rtol=0, atol=1e-12)
    assert float(width.min()) > 0
    assert bool((levels.diff(dim=-1) >= 0).all())  # levels never cross
    if share == 0.0:
        assert torch.equal(levels, ordered)


def test_quantile_training_mode_returns_the_raw_levels() -> None:
    model = _model(0.5, quantiles=True).train()
    x = _windows(2, seed=7)
    assert torch.equal(model(x), model.network(x))  # unsorted: the loss's own rearrangement


def test_a_quantile_forecaster_wraps_the_combined_one() -> None:
    combined = _combined()
    model = QuantileForecaster(combined, (0.1, 0.5, 0.9)).double().eval()
    x = _windows(2, seed=8)
    with torch.no_grad():
        levels = model.quantile_forecast(x)  # (B, horizon, F_out, 3)
        ordered = torch.sort(combined.network(x), dim=-1).values
    expected = ordered + 0.5 * (_baseline_by_hand(x) - ordered[..., 1])[..., None]
    assert_close(levels, expected, rtol=0, atol=1e-12)
    assert model.input_length == T and model.input_features == F_IN


def test_quantile_outputs_need_a_network_that_has_them() -> None:
    bare = nn.Sequential(nn.Flatten(), nn.Linear(T * F_IN, HORIZON * F_OUT))
    model = _combined(bare, with_map=False)
    with pytest.raises(TypeError, match="Sequential has no quantile outputs"):
        model.output_quantiles(LEVELS)
    with pytest.raises(ValueError, match=r"point \(3\) one of 0..count - 1"):
        _model().output_quantiles(QuantileOutputs(count=3, point=3))


# ------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "change, message",
    [
        ({"share": -0.1}, r"share \(-0.1\) must lie in \[0, 1\]"),
        ({"share": 1.5}, r"share \(1.5\) must lie in \[0, 1\]"),
        (
            {"weight": torch.zeros(HORIZON, T - 1)},
            r"weight \(6, 23\) and bias \(6,\) must be \(horizon, T\) = \(6, 24\) and \(6,\)",
        ),
        ({"bias": torch.zeros(HORIZON + 1)}, r"bias \(7,\) must be"),
        ({"weight": torch.zeros(T, HORIZON)}, r"weight \(24, 6\) and bias"),
        (
            {"output_features": 4},
            r"output_features \(4\) must be between 1 and the 3 value columns "
            r"\(input_features 5 less extra_inputs 2\)",
        ),
        ({"output_features": 0}, r"output_features \(0\) must be between 1"),
        ({"input_length": 0}, r"input_length \(0\) and horizon \(6\) must be positive"),
    ],
)
def test_the_constructor_refuses_impossible_sizes(change: dict, message: str) -> None:
    arguments = {
        "input_features": F_IN, "input_length": T, "horizon": HORIZON, "output_features": F_OUT,
        "extra_inputs": EXTRA, "weight": None, "bias": None, "share": 0.5,
    }  # fmt: skip
    with pytest.raises(ValueError, match=message):
        CombinedForecaster(_network(), **{**arguments, **change})


@pytest.mark.parametrize("shape", [(2, T - 1, F_IN), (2, T, F_IN + 1), (T, F_IN), (2, T, F_IN, 1)])
def test_a_window_of_another_shape_is_refused(shape: tuple[int, ...]) -> None:
    model = _model()
    expected = rf"x must be \(B, T, F\) = \(B, 24, 5\); got shape \({', '.join(map(str, shape))}"
    with pytest.raises(ValueError, match=expected):
        model(torch.zeros(shape, dtype=torch.float64))


# ------------------------------------------------------------------------- saving


def test_the_map_travels_in_the_state_dict_and_fills_a_model_built_with_zeros() -> None:
    model = _model(0.5).eval()
    state = model.state_dict()
    weight, bias = _map()
    assert torch.equal(state["baseline_weight"], weight)
    assert torch.equal(state["baseline_bias"], bias)
    empty = _combined(with_map=False).double().eval()
    assert empty.baseline_weight.shape == (HORIZON, T) and not empty.baseline_weight.any()
    assert empty.baseline_bias.shape == (HORIZON,) and not empty.baseline_bias.any()
    x = _windows(3, seed=9)
    with torch.no_grad():
        assert float((empty(x) - model(x)).abs().max()) > 1e-2  # zeros forecast otherwise
        empty.load_state_dict(state, strict=True)
        assert torch.equal(empty(x), model(x))


def test_the_map_is_copied_not_shared() -> None:
    weight, bias = _map()
    model = CombinedForecaster(
        _network(), input_features=F_IN, input_length=T, horizon=HORIZON, output_features=F_OUT,
        extra_inputs=EXTRA, weight=weight, bias=bias,
    )  # fmt: skip
    weight.zero_()
    bias.zero_()
    assert model.baseline_weight.dtype == torch.get_default_dtype()
    assert torch.equal(model.baseline_weight.double(), _map()[0])
    assert float(model.baseline_bias.abs().min()) > 0


# ------------------------------------------------------------------------- export


def _onnx_forecasts(model: nn.Module, path: Path, windows: list[torch.Tensor]) -> list:
    ort = pytest.importorskip("onnxruntime")
    from seqlab.export.onnx_export import export_model_onnx

    setup = {"task": "forecasting", "model": {"family": "gru"}, "data": {"input_length": T}}
    export_model_onnx(model, setup, path, source="test")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return [session.run(None, {"window": window.numpy()})[0] for window in windows]


def test_the_onnx_graph_computes_the_average(tmp_path: Path) -> None:
    pytest.importorskip("onnx")
    model = _model(0.5).float().eval()
    windows = [_windows(batch, seed=10 + batch).float() for batch in (1, 4)]
    forecasts = _onnx_forecasts(model, tmp_path / "combined.onnx", windows)
    for window, forecast in zip(windows, forecasts, strict=True):
        with torch.no_grad():
            expected = model(window)  # (B, horizon, F_out)
            network = model.network(window)
        assert forecast.shape == tuple(expected.shape)
        assert_allclose(forecast, expected.numpy(), atol=1e-4, rtol=0)
        # The graph holds the evaluation-mode average, not the network alone.
        assert float((expected - network).abs().max()) > 1e-2


def test_onnx_and_int8_compute_the_quantile_forecaster_around_it(tmp_path: Path) -> None:
    # What a model directory with data.quantiles holds: a QuantileForecaster whose graph gives
    # the point level, here the average of the network's sorted point level and the baseline.
    pytest.importorskip("onnx")
    share = 0.5
    combined = _combined(share=share)
    torch.manual_seed(2)  # the widened output layer is drawn from the global generator
    model = QuantileForecaster(combined, (0.1, 0.5, 0.9)).eval()
    windows = [_windows(batch, seed=20 + batch).float() for batch in (1, 4)]
    forecasts = _onnx_forecasts(model, tmp_path / "combined_quantiles.onnx", windows)
    for window, forecast in zip(windows, forecasts, strict=True):
        with torch.no_grad():
            expected = model(window)  # (B, horizon, F_out): the point level
            ordered = torch.sort(combined.network(window), dim=-1).values  # (B, h, F_out, Q)
        average = (1 - share) * ordered[..., 1] + share * combined.baseline(window)
        assert_allclose(expected.numpy(), average.numpy(), atol=1e-5, rtol=0)
        assert_allclose(forecast, expected.numpy(), atol=1e-4, rtol=0)
    # int8: the same module with the network's layers swapped; the map stays float32.
    window = windows[1]
    with torch.no_grad():
        before, network_before = model.quantile_forecast(window), combined.network(window)
        baseline_before = combined.baseline(window)
        quantize_model(model)
        after, network_after = model.quantile_forecast(window), combined.network(window)
        assert torch.equal(combined.baseline(window), baseline_before)
    # Sorting moves no level farther than the largest change d of any raw level, and the shift
    # w (b - f_(q*)) moves by at most w d: no level may move more than (1 + w) d.
    moved = float((network_after - network_before).abs().max())
    assert 0 < moved < 0.02  # int8 noise (about 7e-3 here), below the band's width
    assert float((after - before).abs().max()) <= (1 + share) * moved + 1e-6
    assert float((before[..., -1] - before[..., 0]).min()) > 3 * moved
    assert bool((after.diff(dim=-1) >= 0).all())
