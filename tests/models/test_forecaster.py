"""Forecasters (seqlab.models.forecaster): wiring against torch.nn references, RevIN, training.

The recurrent forecasters' forwards are compared with a forward written out here with torch.nn
layers loaded from the model's weights (seqlab's recurrent parameters carry torch's names), and
the Transformer forecaster's with its patches cut by hand, the paper's sinusoid formula and a
torch.nn.TransformerEncoder. Comparisons run in float64 and eval mode (dropout off). The overfit
tests train each model briefly on a sine wave and require a fit far better than persistence.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn
from torch.testing import assert_close

import seqlab.nn as snn
from seqlab.models.config import RecurrentConfig, TransformerConfig
from seqlab.models.forecast_baselines import repeat_last
from seqlab.models.forecaster import (
    ChannelIndependent,
    RecurrentForecaster,
    ReversibleInstanceNorm,
    TransformerForecaster,
)

B, L, F, H = 3, 12, 3, 4


def _recurrent(**overrides) -> RecurrentConfig:
    return RecurrentConfig(**{"hidden_size": 8, "dropout": 0.2, **overrides})


def _transformer(**overrides) -> TransformerConfig:
    options = {
        "d_model": 8,
        "num_heads": 2,
        "num_layers": 2,
        "dim_feedforward": 16,
        "dropout": 0.2,
        "max_len": 64,
    }
    return TransformerConfig(**{**options, **overrides})


def _recurrent_model(config, **options) -> RecurrentForecaster:
    options = {"input_features": F, "horizon": H, "input_length": L, **options}
    model = RecurrentForecaster(config, generator=torch.Generator().manual_seed(0), **options)
    return model.double().eval()


def _transformer_model(config, **options) -> TransformerForecaster:
    torch.manual_seed(0)
    options = {"input_features": F, "input_length": L, "horizon": H, **options}
    return TransformerForecaster(config, **options).double().eval()


def _window(seed: int = 1, batch: int = B, length: int = L) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(batch, length, F, generator=generator, dtype=torch.float64)  # (B, T, F)


# ---------------------------------------------------------------------------------- shapes


@pytest.mark.parametrize("family", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("head", ["direct", "decoder"])
@pytest.mark.parametrize("output_features", [1, F])
def test_recurrent_forecaster_shapes(family, head, output_features):
    model = _recurrent_model(
        _recurrent(family=family, num_layers=2), head=head, output_features=output_features
    )
    assert model(_window()).shape == (B, H, output_features)
    # The recurrent encoder reads windows of any length.
    assert model(_window(length=L + 5)).shape == (B, H, output_features)


@pytest.mark.parametrize("patch_length", [None, 1, 3, 4, 12])
@pytest.mark.parametrize("output_features", [1, F])
def test_transformer_forecaster_shapes_and_patch_count(patch_length, output_features):
    model = _transformer_model(
        _transformer(), patch_length=patch_length, output_features=output_features
    )
    assert model.num_patches == L // (patch_length or 1)
    assert model.patch_embedding.in_features == (patch_length or 1) * F
    assert model(_window()).shape == (B, H, output_features)


def test_patch_length_must_divide_input_length():
    with pytest.raises(
        ValueError, match=r"input_length \(12\) must be divisible by patch_length \(5\)"
    ):
        _transformer_model(_transformer(), patch_length=5)
    with pytest.raises(ValueError, match=r"3 tokens .* exceed model.max_len \(2\)"):
        _transformer_model(_transformer(max_len=2), patch_length=4)


def test_invalid_arguments_name_their_values():
    with pytest.raises(
        ValueError,
        match=r"output_features \(3\) must be between 1 and input_features \(3\) - "
        r"extra_inputs \(1\)",
    ):
        _recurrent_model(_recurrent(), output_features=3, extra_inputs=1)
    with pytest.raises(ValueError, match=r"output_features \(4\) must be between 1"):
        _transformer_model(_transformer(), output_features=4)
    with pytest.raises(ValueError, match=r"head \('seq2seq'\) must be one of direct, decoder"):
        _recurrent_model(_recurrent(), head="seq2seq")
    with pytest.raises(ValueError, match="head 'decoder' needs a unidirectional encoder"):
        _recurrent_model(_recurrent(bidirectional=True), head="decoder")
    with pytest.raises(ValueError, match=r"x has 13 time steps .* input_length \(12\)"):
        _transformer_model(_transformer())(_window(length=13))
    with pytest.raises(ValueError, match=r"F = input_features \(3\); got shape \(3, 12, 2\)"):
        _recurrent_model(_recurrent())(_window()[..., :2])


# ------------------------------------------------------------- wiring against torch.nn


def _torch_layer(layer: nn.Module, seqlab_layer: nn.Module, **options) -> nn.Module:
    """A torch.nn recurrent layer holding seqlab_layer's weights (same names and shapes)."""
    torch_layer = layer(
        seqlab_layer.input_size, seqlab_layer.hidden_size, batch_first=True, **options
    ).double()
    torch_layer.load_state_dict(seqlab_layer.state_dict())
    return torch_layer.eval()


def test_direct_head_reads_the_final_states_and_last_values():
    config = _recurrent(family="lstm", num_layers=2, bidirectional=True, embed_dim=5)
    model = _recurrent_model(config, output_features=2, last_values_in_head=True)
    x = _window()
    encoder = _torch_layer(nn.LSTM, model.encoder.rnn, num_layers=2, bidirectional=True)
    # h (num_layers * num_directions, B, hidden_size)
    _, (h, _) = encoder(model.input_projection(x))
    summary = torch.cat([h[-2], h[-1], x[:, -1]], dim=-1)  # top layer: forward, reverse, x_L
    expected = model.head.linear(summary).view(B, H, 2)  # step-major rows
    with torch.no_grad():
        assert_close(model(x), expected.detach())


def test_segments_feed_the_encoder_one_vector_of_p_steps_each():
    config = _recurrent(family="gru", embed_dim=5)
    model = _recurrent_model(config, patch_length=4)
    x = _window()  # (B, 12, F): 3 segments of 4 steps
    # Segment n, written out: steps 4n..4n+3, each step's F values in turn.
    segments = torch.stack(
        [torch.cat([x[:, 4 * n + t] for t in range(4)], dim=-1) for n in range(L // 4)], dim=1
    )  # (B, 3, 4 * F)
    encoder = _torch_layer(nn.GRU, model.encoder.rnn)
    _, h = encoder(model.input_projection(segments))  # h (1, B, hidden_size)
    expected = model.head.linear(h[-1]).view(B, H, 1)
    with torch.no_grad():
        assert_close(model(x), expected.detach())
    with pytest.raises(ValueError, match="x has 10 time steps, not a multiple of patch_length"):
        model(_window(length=10))


@pytest.mark.parametrize(
    ("family", "torch_layer", "extra_inputs", "targets"),
    [
        ("lstm", nn.LSTM, 0, slice(1, 3)),  # the last 2 columns
        ("gru", nn.GRU, 0, slice(1, 3)),
        ("rnn", nn.RNN, 0, slice(1, 3)),
        ("lstm", nn.LSTM, 1, slice(0, 2)),  # the 2 columns before one input-only column
    ],
)
def test_decoder_continues_from_the_encoder_state_feeding_back_predictions(
    family, torch_layer, extra_inputs, targets
):
    config = _recurrent(family=family, num_layers=2)
    model = _recurrent_model(config, head="decoder", output_features=2, extra_inputs=extra_inputs)
    x = _window()
    encoder = _torch_layer(torch_layer, model.encoder.rnn, num_layers=2)
    decoder = _torch_layer(torch_layer, model.decoder.rnn.rnn, num_layers=2)
    with torch.no_grad():
        _, state = encoder(x)  # no input projection: embed_dim is None
        previous = x[:, -1:, targets]  # (B, 1, F_out): the last observed target values
        steps = []
        for _ in range(H):
            output, state = decoder(previous, state)  # (B, 1, hidden_size)
            previous = model.decoder.output(output)  # (B, 1, F_out)
            steps.append(previous)
        assert_close(model(x), torch.cat(steps, dim=1))


def test_decoder_output_depends_on_the_last_step():
    model = _recurrent_model(_recurrent(family="gru", dropout=0.5), head="decoder")
    x = _window()
    with torch.no_grad():
        forecast = model(x)
        assert torch.equal(model(x.clone()), forecast)  # eval mode: no dropout, deterministic
        changed = x.clone()
        changed[:, -1] += 1.0  # only the last observed step
        moved = (model(changed) - forecast).abs()  # (B, horizon, 1)
    assert (moved > 1e-6).all(), moved  # every window, every step, the first included


@pytest.mark.parametrize("patch_length", [None, 3])
def test_transformer_forecaster_equals_torch_reference(patch_length):
    config = _transformer(activation="gelu")
    model = _transformer_model(config, patch_length=patch_length, output_features=F)
    torch_layer = nn.TransformerEncoderLayer(
        8, 2, dim_feedforward=16, dropout=0.0, activation="gelu", batch_first=True
    )
    torch_encoder = nn.TransformerEncoder(torch_layer, num_layers=2, enable_nested_tensor=False)
    torch_encoder = torch_encoder.double().eval()
    model.backbone.encoder = snn.TransformerEncoder.from_torch(torch_encoder).double().eval()
    x = _window()
    patch = patch_length or 1
    count = L // patch
    # Patch n: steps n*P .. n*P + P - 1 side by side, each step's F values in turn.
    patches = torch.stack(
        [torch.cat([x[:, n * patch + p] for p in range(patch)], dim=-1) for n in range(count)],
        dim=1,
    )  # (B, N, P*F)
    position = torch.arange(count, dtype=torch.float64)[:, None]  # (N, 1)
    frequency = 10000.0 ** (-torch.arange(0, 8, 2, dtype=torch.float64) / 8)  # (D/2,)
    sinusoid = torch.stack(
        [torch.sin(position * frequency), torch.cos(position * frequency)], dim=-1
    ).view(count, 8)  # (N, D): sin, cos interleaved
    with torch.no_grad():
        tokens = model.patch_embedding(patches) + sinusoid  # (B, N, D)
        encoded = torch_encoder(tokens)  # (B, N, D)
        expected = model.head.linear(encoded.reshape(B, count * 8)).view(B, H, F)
        assert_close(model(x), expected)


# -------------------------------------------------------------------------------- RevIN


def test_instance_norm_statistics_and_round_trip():
    norm = ReversibleInstanceNorm()
    x = _window() * 3.0 + 7.0
    normalised, statistics = norm.normalise(x)
    variance = x.var(dim=1, unbiased=False)  # (B, F)
    assert_close(normalised.mean(dim=1), torch.zeros(B, F, dtype=torch.float64))
    # eps inside the square root: var(x') = var / (var + eps).
    assert_close(normalised.var(dim=1, unbiased=False), variance / (variance + norm.eps))
    assert_close(norm.denormalise(normalised, statistics), x)
    target = statistics.columns(slice(1, 2))
    assert_close(target.mean, x[..., 1:2].mean(dim=1, keepdim=True))
    assert_close(target.std, torch.sqrt(variance[:, None, 1:2] + norm.eps))


@pytest.mark.parametrize("family", ["lstm", "transformer"])
def test_channel_independent_forecasts_each_series_from_itself_with_shared_weights(family):
    extra = 1  # the last of the F columns is an input-only (calendar) feature
    torch.manual_seed(0)
    if family == "lstm":
        inner = _recurrent_model(_recurrent(), input_features=1 + extra, extra_inputs=extra)
    else:
        inner = _transformer_model(_transformer(instance_norm=True), input_features=1 + extra,
                                   extra_inputs=extra, patch_length=4)  # fmt: skip
    model = ChannelIndependent(inner, input_features=F, output_features=F - extra,
                               extra_inputs=extra)  # fmt: skip
    x = _window()  # (B, T, F)
    forecast = model(x)  # (B, horizon, F - 1)
    assert forecast.shape == (B, H, F - extra)
    for column in range(F - extra):
        alone = inner(torch.cat([x[..., column : column + 1], x[..., -extra:]], dim=-1))
        assert_close(forecast[..., column : column + 1], alone)
    # Swapping two series swaps their forecasts: no weight belongs to one channel.
    swapped = x[..., [1, 0, 2]]
    assert_close(model(swapped), forecast[..., [1, 0]])


def test_channel_independent_refuses_covariates_it_would_drop():
    inner = _recurrent_model(_recurrent(), input_features=1)
    with pytest.raises(ValueError, match="only 1 of the 3 value columns are targets"):
        ChannelIndependent(inner, input_features=F, output_features=1)


_REVIN_MODELS = {
    "lstm-direct": lambda **o: _recurrent_model(
        _recurrent(family="lstm"), instance_norm=True, last_values_in_head=True, **o
    ),
    "gru-decoder": lambda **o: _recurrent_model(
        _recurrent(family="gru"), head="decoder", instance_norm=True, **o
    ),
    "transformer-patch": lambda **o: _transformer_model(
        _transformer(), patch_length=4, instance_norm=True, **o
    ),
}


@pytest.mark.parametrize("name", list(_REVIN_MODELS))
@pytest.mark.parametrize(
    ("output_features", "extra_inputs", "targets"),
    [(1, 0, [2]), (F, 0, [0, 1, 2]), (1, 1, [1]), (2, 1, [0, 1])],
)
def test_instance_norm_makes_forecasts_shift_equivariant(
    name, output_features, extra_inputs, targets
):
    model = _REVIN_MODELS[name](output_features=output_features, extra_inputs=extra_inputs)
    x = _window()
    shift = torch.tensor([3.0, -40.0, 250.0], dtype=torch.float64)  # c, one per feature
    with torch.no_grad():
        forecast = model(x)  # (B, horizon, F_out)
        assert_close(model(x + shift), forecast + shift[targets])
        # Only the target columns' shift reaches the forecast: the others are normalised away.
        others = shift.clone()
        others[targets] = 0.0
        assert_close(model(x + others), forecast)


def test_without_instance_norm_a_shift_is_not_passed_through():
    model = _recurrent_model(_recurrent(family="lstm"))
    x = _window()
    with torch.no_grad():
        moved = model(x + 5.0) - model(x)
    assert (moved - 5.0).abs().max() > 1.0  # the plain network has no such symmetry


# ---------------------------------------------------------------------------- gradients

_GRADIENT_MODELS = {
    "lstm-direct-2layer-bi-embed": lambda: _recurrent_model(
        _recurrent(family="lstm", num_layers=2, bidirectional=True, embed_dim=5),
        last_values_in_head=True,
        instance_norm=True,
    ),
    "gru-decoder-2layer": lambda: _recurrent_model(
        _recurrent(family="gru", num_layers=2), head="decoder", output_features=F
    ),
    "rnn-direct": lambda: _recurrent_model(_recurrent(family="rnn")),
    "transformer-patch-learned": lambda: _transformer_model(
        _transformer(positions="learned", norm_first=True), patch_length=3
    ),
    "transformer-steps": lambda: _transformer_model(_transformer(), output_features=F),
}


@pytest.mark.parametrize("name", list(_GRADIENT_MODELS))
def test_gradients_reach_every_parameter(name):
    model = _GRADIENT_MODELS[name]().train()
    torch.manual_seed(2)
    model(_window()).pow(2).sum().backward()
    for parameter_name, parameter in model.named_parameters():
        assert parameter.grad is not None, parameter_name
        assert parameter.grad.abs().sum() > 0, parameter_name
        assert torch.isfinite(parameter.grad).all(), parameter_name


# ----------------------------------------------------------------------------- training


def _sine_windows(length: int = 24, horizon: int = 6) -> tuple[torch.Tensor, torch.Tensor]:
    """Windows of a 2-feature series (cos, sin) of period 12; the target is sin, the last."""
    steps = torch.arange(120 + length + horizon, dtype=torch.float32)  # (T,)
    angle = 2 * math.pi * steps / 12
    series = torch.stack([torch.cos(angle), torch.sin(angle)], dim=-1)  # (T, 2)
    windows = series.unfold(0, length + horizon, 1).transpose(1, 2)  # (N, T + horizon, 2)
    return windows[:, :length], windows[:, length:, -1:]  # (N, T, 2), (N, horizon, 1)


_TRAINED_MODELS = {
    "lstm-direct": lambda: RecurrentForecaster(
        _recurrent(family="lstm", hidden_size=16, dropout=0.0),
        input_features=2,
        horizon=6,
        input_length=24,
        generator=torch.Generator().manual_seed(0),
    ),
    "gru-decoder": lambda: RecurrentForecaster(
        _recurrent(family="gru", hidden_size=16, dropout=0.0),
        input_features=2,
        horizon=6,
        head="decoder",
        input_length=24,
        generator=torch.Generator().manual_seed(0),
    ),
    "transformer-patch": lambda: TransformerForecaster(
        _transformer(d_model=16, num_layers=1, dim_feedforward=32, dropout=0.0),
        input_features=2,
        input_length=24,
        horizon=6,
        patch_length=4,
    ),
}


@pytest.mark.parametrize("name", list(_TRAINED_MODELS))
def test_forecaster_fits_a_sine_wave(name):
    torch.manual_seed(0)
    model = _TRAINED_MODELS[name]()
    x, y = _sine_windows()
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(150):
        optimiser.zero_grad()
        loss = (model(x) - y).pow(2).mean()
        loss.backward()
        optimiser.step()
    model.eval()
    with torch.no_grad():
        mse = (model(x) - y).pow(2).mean().item()
    persistence = (repeat_last(x, horizon=6, output_features=1) - y).pow(2).mean().item()
    assert persistence > 0.9  # 1 - mean_h cos(2 pi h / 12), h = 1..6: about 1.0
    assert mse < 0.02 * persistence, (mse, persistence)
