"""Forecasters: a window of T past steps of F series -> the next steps of the target series.

The targets are the last ``output_features`` value columns: ``output_features == 1`` forecasts the
target column (ETTh1's oil temperature, which seqlab.data.series puts last) from all F columns, and
``output_features == F`` forecasts every variable (multivariate to multivariate). ``extra_inputs``
counts trailing input-only columns after the value columns (the calendar features that
seqlab.data.windows appends); with it the targets are the output_features columns just before
them. forward(x (B, T, F)) -> forecast (B, horizon, F_out), F_out = output_features.

- RecurrentForecaster: an RNN, LSTM or GRU encoder over the window, then either
  - a direct multi-output head: y = W [h_T ; x_T] + b, every step at once from the final state h_T
    (and, optionally, the last observed values x_T); or
  - a recurrent decoder (the encoder-decoder of Sutskever et al., 2014, "Sequence to Sequence
    Learning with Neural Networks", and Cho et al., 2014, for real values): it starts from the
    encoder's final state, reads the last observed target values, and for h = 1..horizon computes
    s_h = cell(y_{h-1}, s_{h-1}), y_h = W s_h + b, feeding each prediction back as the next input.
- TransformerForecaster: each time step, or each non-overlapping patch of P steps (PatchTST: Nie
  et al., 2023, "A Time Series is Worth 64 Words"), is embedded linearly, positions are added, a
  non-causal encoder reads all N = T / P tokens, and a flatten head y = W vec(Z) + b maps the
  (N, D) encoder outputs to all horizon * F_out values (PatchTST's flatten head; DLinear's direct
  strategy, Zeng et al., 2023, "Are Transformers Effective for Time Series Forecasting?").
- ReversibleInstanceNorm (RevIN: Kim et al., 2022, "Reversible Instance Normalization for Accurate
  Time-Series Forecasting against Distribution Shift"), optional in both.
- ChannelIndependent: either forecaster built for one series, applied to each of the F_out series
  in turn with shared weights (PatchTST's channel independence), optional in both.
- Quantile outputs (``output_quantiles``): the output layer widened to Q forecasts per value, so
  forward returns (B, horizon, F_out, Q), one forecast per quantile level, in no fixed order;
  seqlab.tasks.forecasting.quantiles orders them (the non-crossing step) and trains them with the
  pinball loss.

Shapes (the repository's legend): B batch, T the window's (input) length, ``horizon`` the steps
forecast, F input features, F_out output features, N tokens (patches or segments), P patch
length, E extra input columns, D model width, Q quantile levels.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, NamedTuple

import torch
from torch import nn

from seqlab.models.backbones import RecurrentBackbone, TransformerBackbone
from seqlab.models.config import RecurrentConfig, TransformerConfig
from seqlab.nn.pooling import last_state

ForecastHead = Literal["direct", "decoder"]
FORECAST_HEADS: tuple[str, ...] = ("direct", "decoder")


def _target_columns(
    *, input_features: int, horizon: int, output_features: int, extra_inputs: int
) -> slice:
    """Where the targets sit among the input columns: the output_features columns before the
    extra_inputs trailing ones."""
    if input_features < 1 or horizon < 1 or extra_inputs < 0:
        raise ValueError(
            f"input_features ({input_features}) and horizon ({horizon}) must be positive and "
            f"extra_inputs ({extra_inputs}) >= 0"
        )
    if output_features < 1 or output_features + extra_inputs > input_features:
        raise ValueError(
            f"output_features ({output_features}) must be between 1 and input_features "
            f"({input_features}) - extra_inputs ({extra_inputs}): the targets are the last "
            "output_features value columns"
        )
    stop = input_features - extra_inputs
    return slice(stop - output_features, stop)


def _check_window(x: torch.Tensor, *, input_features: int, input_length: int | None) -> None:
    if x.dim() != 3 or x.shape[-1] != input_features:
        raise ValueError(
            f"x must be (B, L, F) with F = input_features ({input_features}); "
            f"got shape {tuple(x.shape)}"
        )
    if input_length is not None and x.shape[1] != input_length:
        raise ValueError(
            f"x has {x.shape[1]} time steps but the model was built for input_length "
            f"({input_length}): its head reads a fixed number of encoder outputs"
        )


@dataclass(frozen=True)
class QuantileOutputs:
    """Q forecasts per value instead of one. count: Q. point: the position, in increasing order
    of value, of the point forecast among them (the recurrent decoder feeds it back)."""

    count: int
    point: int

    def check(self) -> None:
        if self.count < 1 or not 0 <= self.point < self.count:
            raise ValueError(
                f"quantile outputs: count ({self.count}) must be positive and point "
                f"({self.point}) one of 0..count - 1"
            )


def _point_of(step: torch.Tensor, quantiles: QuantileOutputs) -> torch.Tensor:
    """(..., Q) forecasts -> (...) the point one: the ``point``-th smallest of each Q."""
    return torch.sort(step, dim=-1).values[..., quantiles.point]


class WindowStatistics(NamedTuple):
    """Per-window, per-feature statistics, to undo the normalisation."""

    mean: torch.Tensor  # (B, 1, F)
    std: torch.Tensor  # (B, 1, F)

    def columns(self, index: slice) -> WindowStatistics:
        """The statistics of some columns only (the targets'): (B, 1, F_out) each."""
        return WindowStatistics(self.mean[..., index], self.std[..., index])


class ReversibleInstanceNorm(nn.Module):
    """RevIN (Kim et al., 2022, eq. 1 and 3), without its learnable affine map.

    Each window is normalised per feature with its own statistics, over the T steps:
        mu = mean_t x_t,  sigma = sqrt(var_t x_t + eps),  x'_t = (x_t - mu) / sigma,
    and the network's forecast y' is mapped back with the target columns' statistics (select
    them with WindowStatistics.columns):
        y_h = y'_h * sigma + mu.
    Why it helps with drift: the level and scale of a series wander over months (ETTh1's oil
    temperature in winter versus summer), so test windows sit at levels the training windows
    rarely showed. Normalised windows all look alike to the network, which learns the shape of
    the next steps relative to the window; the level comes back exactly, by construction. A model
    with it is equivariant to a constant shift c of a window: f(x + c) = f(x) + c_targets (a
    shift of a non-target column is normalised away and changes nothing).

    Deviations: the variance is the biased one (divide by T) and eps sits inside the square root,
    as in the authors' code; the paper's affine (gamma, beta) is left out, because the embedding
    that follows and the head that precedes the de-normalisation are affine maps already
    (PatchTST's published scripts also run with it off, ``--affine 0``). The statistics are not
    detached, so input gradients (the lab's saliency) are those of the whole function.
    """

    def __init__(self, *, eps: float = 1e-5) -> None:
        super().__init__()
        self.eps = eps

    def normalise(self, x: torch.Tensor) -> tuple[torch.Tensor, WindowStatistics]:
        """x (B, T, F) -> (normalised x (B, T, F), every column's statistics)."""
        mean = x.mean(dim=1, keepdim=True)  # (B, 1, F)
        std = torch.sqrt(x.var(dim=1, keepdim=True, unbiased=False) + self.eps)  # (B, 1, F)
        return (x - mean) / std, WindowStatistics(mean, std)  # (B, T, F)

    def denormalise(self, y: torch.Tensor, statistics: WindowStatistics) -> torch.Tensor:
        """y (B, horizon, F_out) in normalised units -> (B, horizon, F_out) in the window's
        units; statistics of the F_out target columns, (B, 1, F_out) each. Quantile forecasts
        y (B, horizon, F_out, Q) are mapped alike, each of the Q with its column's statistics
        (sigma > 0, so their order is kept)."""
        mean, std = statistics
        if y.dim() == 4:
            mean, std = mean.unsqueeze(-1), std.unsqueeze(-1)  # (B, 1, F_out, 1) each
        return y * std + mean  # (B, horizon, F_out) or (B, horizon, F_out, Q)


class DirectHead(nn.Module):
    """All horizon steps at once: y = W z + b, one Linear to horizon * F_out values (the direct
    multi-output strategy, which has no error accumulation across steps), reshaped to
    (B, horizon, F_out); with ``quantiles`` Q, horizon * F_out * Q values, (B, horizon, F_out,
    Q)."""

    def __init__(
        self, *, input_size: int, horizon: int, output_features: int, quantiles: int | None = None
    ) -> None:
        super().__init__()
        self.horizon = horizon
        self.output_features = output_features
        self.quantiles = quantiles
        self.linear = nn.Linear(input_size, horizon * output_features * (quantiles or 1))

    def widened(self, quantiles: int) -> DirectHead:
        """A freshly initialised head of the same input, horizon and columns giving
        ``quantiles`` values per forecast value."""
        return DirectHead(
            input_size=self.linear.in_features,
            horizon=self.horizon,
            output_features=self.output_features,
            quantiles=quantiles,
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        flat = self.linear(z)  # (B, horizon * F_out) or (B, horizon * F_out * Q)
        if self.quantiles is not None:
            # (B, horizon, F_out, Q), step-major
            return flat.reshape(z.shape[0], self.horizon, self.output_features, self.quantiles)
        # (B, horizon, F_out), step-major
        return flat.reshape(z.shape[0], self.horizon, self.output_features)


class RecurrentDecoder(nn.Module):
    """Unrolls horizon steps from the encoder's final state, feeding back its own predictions.

    s_0 = the encoder's final state (every layer; (h, c) for an LSTM), y_0 = the last observed
    target values, and for h = 1..horizon: s_h = cell(y_{h-1}, s_{h-1}), y_h = W dropout(s_h) + b.

    Training runs this same loop (free running, no teacher forcing): with teacher forcing the
    decoder would see true values during training but its own, imperfect ones at inference, and
    its errors compound over 24 steps it never practised on (exposure bias: Bengio et al., 2015,
    "Scheduled Sampling"; Lamb et al., 2016, "Professor Forcing"). Gradients flow through the fed
    back predictions, so each step learns how its error affects the later ones. With a horizon of
    24 the sequential cost of free running is small.

    With quantile outputs (``output_quantiles``), W maps s_h to Q values per target, y_h
    (B, 1, F_out, Q), and the point one (the ``point``-th smallest) is fed back.
    """

    def __init__(
        self,
        config: RecurrentConfig,
        *,
        horizon: int,
        output_features: int,
        expected_length: int,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        self.horizon = horizon
        # Same family, width and depth as the encoder, so its final state is a valid start state.
        self.rnn = RecurrentBackbone(
            config,
            input_size=output_features,
            expected_length=expected_length,
            generator=generator,
        )
        self.dropout = nn.Dropout(config.dropout)
        self.output_features = output_features
        self.output = nn.Linear(config.hidden_size, output_features)
        self.quantiles: QuantileOutputs | None = None

    def output_quantiles(self, quantiles: QuantileOutputs) -> None:
        """A new output layer of Q values per target (freshly initialised)."""
        quantiles.check()
        self.quantiles = quantiles
        self.output = nn.Linear(self.output.in_features, self.output_features * quantiles.count)

    def forward(
        self,
        first_input: torch.Tensor,
        state: torch.Tensor | tuple[torch.Tensor, torch.Tensor],
    ) -> torch.Tensor:
        """first_input (B, F_out): the last observed target values; state: the encoder's final
        state. Returns the forecast (B, horizon, F_out), or (B, horizon, F_out, Q)."""
        previous = first_input.unsqueeze(1)  # (B, 1, F_out)
        steps = []
        for _ in range(self.horizon):
            output, state = self.rnn(previous, state=state)  # (B, 1, hidden_size)
            step = self.output(self.dropout(output))  # (B, 1, F_out) or (B, 1, F_out * Q)
            if self.quantiles is not None:
                step = step.reshape(*step.shape[:2], self.output_features, -1)  # (B, 1, F_out, Q)
                previous = _point_of(step, self.quantiles)  # (B, 1, F_out)
            else:
                previous = step
            steps.append(step)
        return torch.cat(steps, dim=1)  # (B, horizon, F_out) or (B, horizon, F_out, Q)


class RecurrentForecaster(nn.Module):
    """An RNN, LSTM or GRU encoder over the window and a direct or recurrent-decoder head.

    input projection: with ``config.embed_dim`` set, a Linear maps the F features to embed_dim
    first; left None, the F values feed the recurrent layer directly, since a linear map followed
    by the layer's own input weights W_ih is still one linear map of x (no extra capacity).
    head "direct": a Linear from the top layer's final state (both directions when bidirectional),
    plus the last observed values of all F features when ``last_values_in_head`` (a learned
    correction around persistence then costs the network nothing to find), to horizon * F_out
    values.
    head "decoder": RecurrentDecoder; it needs a unidirectional encoder, whose final state it
    continues from. ``config.dropout`` applies between recurrent layers (torch's placement) and
    to the hidden state the output Linear reads (not to the last values). ``config.pooling`` is
    not used: a forecaster always reads the final state.
    patch_length: with P set, the encoder steps once per segment of P time steps instead of once
    per step: segment n's P x F values, step-major, are its n-th input vector (the input
    projection, when set, embeds it), so a window of T steps is N = T / P recurrent steps
    (SegRNN: Lin et al., 2023, "SegRNN: Segment Recurrent Neural Network for Long-Term Time
    Series Forecasting"). Why: fewer steps between the window's start and the final state means
    a shorter path for the gradient through the recurrence (the vanishing-gradient problem) and
    N times less sequential work; a segment of a day carries the daily shape whole.
    input_length: the window length the model is built for, used as the longest dependency for
    chrono initialisation (encoder: N; decoder: N + horizon, the farthest it looks back); without
    patches forward takes windows of any length, with them any multiple of P.
    instance_norm: ReversibleInstanceNorm around the whole network. extra_inputs: the number of
    trailing input-only columns (module docstring).
    """

    def __init__(
        self,
        config: RecurrentConfig,
        *,
        input_features: int,
        horizon: int,
        output_features: int = 1,
        head: ForecastHead = "direct",
        input_length: int = 168,
        last_values_in_head: bool = False,
        instance_norm: bool = False,
        extra_inputs: int = 0,
        patch_length: int | None = None,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        self.patch_length = 1 if patch_length is None else patch_length
        if self.patch_length < 1:
            raise ValueError(f"patch_length ({patch_length}) must be a positive number of steps")
        self.targets = _target_columns(
            input_features=input_features,
            horizon=horizon,
            output_features=output_features,
            extra_inputs=extra_inputs,
        )
        if head not in FORECAST_HEADS:
            raise ValueError(f"head ({head!r}) must be one of {', '.join(FORECAST_HEADS)}")
        if head == "decoder" and config.bidirectional:
            raise ValueError(
                "head 'decoder' needs a unidirectional encoder (model.bidirectional is True): "
                "the decoder continues from the encoder's final state, which a reverse "
                "direction does not have at the window's end"
            )
        if head == "decoder" and last_values_in_head:
            raise ValueError(
                "last_values_in_head applies to head 'direct'; the decoder already reads the "
                "last observed values as its first input"
            )
        self.input_features = input_features
        self.output_features = output_features
        self.horizon = horizon
        self.last_values_in_head = last_values_in_head
        self.quantiles: QuantileOutputs | None = None
        self.instance_norm = ReversibleInstanceNorm() if instance_norm else None
        segment_size = self.patch_length * input_features
        if config.embed_dim is None:
            self.input_projection: nn.Module = nn.Identity()
            width = segment_size
        else:
            self.input_projection = nn.Linear(segment_size, config.embed_dim)
            width = config.embed_dim
        encoder_steps = max(1, input_length // self.patch_length)
        self.encoder = RecurrentBackbone(
            config, input_size=width, expected_length=encoder_steps, generator=generator
        )
        self.num_directions = 2 if config.bidirectional else 1
        self.dropout = nn.Dropout(config.dropout)
        if head == "direct":
            head_input = self.encoder.output_size + (input_features if last_values_in_head else 0)
            self.head: nn.Module | None = DirectHead(
                input_size=head_input, horizon=horizon, output_features=output_features
            )
            self.decoder: RecurrentDecoder | None = None
        else:
            self.head = None
            self.decoder = RecurrentDecoder(
                config,
                horizon=horizon,
                output_features=output_features,
                expected_length=encoder_steps + horizon,
                generator=generator,
            )

    def output_quantiles(self, quantiles: QuantileOutputs) -> None:
        """Q forecasts per value from now on: the output layer (the direct head's Linear, or
        the decoder's) is replaced by a freshly initialised one Q times as wide, and forward returns
        (B, horizon, F_out, Q), in no fixed order (seqlab.tasks.forecasting.quantiles sorts
        them). The rest of the network is kept."""
        quantiles.check()
        if self.decoder is not None:
            self.decoder.output_quantiles(quantiles)
        elif isinstance(self.head, DirectHead):
            self.head = self.head.widened(quantiles.count)
        self.quantiles = quantiles

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, T, F) -> forecast (B, horizon, F_out) of the target columns' next steps, or
        (B, horizon, F_out, Q) with quantile outputs."""
        _check_window(x, input_features=self.input_features, input_length=None)
        statistics = None
        if self.instance_norm is not None:
            x, statistics = self.instance_norm.normalise(x)  # (B, T, F)
        batch, length, features = x.shape
        if length % self.patch_length:
            raise ValueError(
                f"x has {length} time steps, not a multiple of patch_length "
                f"({self.patch_length}): segments do not overlap and none is padded"
            )
        # Row n of the reshape holds steps nP..nP+P-1, each step's F values in turn.
        segments = x.reshape(batch, length // self.patch_length, self.patch_length * features)
        embedded = self.input_projection(segments)  # (B, N, D_in), N = T / P
        # h (num_layers * num_directions, B, hidden_size), or (h, c) for an LSTM
        _, state = self.encoder(embedded)
        if self.decoder is not None:
            last_targets = x[:, -1, self.targets]  # (B, F_out)
            forecast = self.decoder(last_targets, state)  # (B, horizon, F_out[, Q])
        elif self.head is not None:
            hidden = state[0] if isinstance(state, tuple) else state  # LSTM state is (h, c)
            summary = self.dropout(last_state(hidden, num_directions=self.num_directions))
            if self.last_values_in_head:
                # Not dropped out: the last values are the persistence forecast, kept intact.
                # (B, num_directions * hidden_size + F)
                summary = torch.cat([summary, x[:, -1]], dim=-1)
            forecast = self.head(summary)  # (B, horizon, F_out[, Q])
        else:  # never: __init__ builds one of the two
            raise AssertionError("RecurrentForecaster has neither a head nor a decoder")
        if self.instance_norm is not None and statistics is not None:
            target_statistics = statistics.columns(self.targets)  # (B, 1, F_out) each
            # (B, horizon, F_out[, Q])
            forecast = self.instance_norm.denormalise(forecast, target_statistics)
        return forecast


class TransformerForecaster(nn.Module):
    """Linear token embedding plus positions, a non-causal Transformer encoder, a flatten head.

    Tokens: with ``patch_length`` P, the window is cut into N = T / P non-overlapping patches
    (stride S = P in PatchTST's notation; the paper's default overlaps, S = P / 2, and pads the
    end), and each
    patch's P x F values, step-major, are embedded by one Linear: t_n = W_p vec(x_{nP..nP+P-1}) +
    b_p. Without it every step is a token (N = T). Positions are added unscaled, as PatchTST does
    (the sqrt(d_model) scale of Vaswani et al. sec. 3.4 belongs to embedding tables).
    Deviations from PatchTST: the channels are mixed in one token instead of each channel being
    its own sequence (channel independence), so that with output_features = 1 the other variables
    serve as covariates of the target; and seqlab's encoder uses LayerNorm where PatchTST uses
    BatchNorm. Shorter token sequences are the point of patching: attention costs O(N^2), and a
    patch carries local shape that a single step does not. ``config.window`` (w tokens) is the
    other way to that end: each token attends a centred band of w tokens (patches, when
    patched), O(N w) (seqlab.nn.local_attention).
    Head: dropout, then one Linear from the flattened (N * D) encoder outputs to horizon * F_out
    values; its size fixes the window length, so forward requires T = input_length.
    instance_norm: ReversibleInstanceNorm around the whole network. extra_inputs: the number of
    trailing input-only columns (module docstring).
    """

    def __init__(
        self,
        config: TransformerConfig,
        *,
        input_features: int,
        input_length: int,
        horizon: int,
        output_features: int = 1,
        patch_length: int | None = None,
        instance_norm: bool = False,
        extra_inputs: int = 0,
    ) -> None:
        super().__init__()
        self.targets = _target_columns(
            input_features=input_features,
            horizon=horizon,
            output_features=output_features,
            extra_inputs=extra_inputs,
        )
        patch = 1 if patch_length is None else patch_length
        if patch < 1 or input_length < 1:
            raise ValueError(
                f"input_length ({input_length}) and patch_length ({patch_length}) must be positive"
            )
        if input_length % patch:
            raise ValueError(
                f"input_length ({input_length}) must be divisible by patch_length ({patch}): "
                "patches do not overlap and none is padded"
            )
        self.num_patches = input_length // patch
        if self.num_patches > config.max_len:
            raise ValueError(
                f"{self.num_patches} tokens (input_length {input_length} / patch_length {patch}) "
                f"exceed model.max_len ({config.max_len})"
            )
        self.input_features = input_features
        self.input_length = input_length
        self.patch_length = patch
        self.output_features = output_features
        self.horizon = horizon
        self.quantiles: QuantileOutputs | None = None
        self.instance_norm = ReversibleInstanceNorm() if instance_norm else None
        self.patch_embedding = nn.Linear(patch * input_features, config.d_model)
        self.backbone = TransformerBackbone(config, causal=False)
        self.dropout = nn.Dropout(config.dropout)
        self.head = DirectHead(
            input_size=self.num_patches * config.d_model,
            horizon=horizon,
            output_features=output_features,
        )

    def output_quantiles(self, quantiles: QuantileOutputs) -> None:
        """Q forecasts per value from now on: the output layer (the flatten head's Linear) is
        replaced by a freshly initialised one Q times as wide, and forward returns
        (B, horizon, F_out, Q), in no fixed order (seqlab.tasks.forecasting.quantiles sorts
        them). The rest of the network is kept."""
        quantiles.check()
        self.head = self.head.widened(quantiles.count)
        self.quantiles = quantiles

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, T, F) -> forecast (B, horizon, F_out) of the target columns' next steps, or
        (B, horizon, F_out, Q) with quantile outputs."""
        _check_window(x, input_features=self.input_features, input_length=self.input_length)
        statistics = None
        if self.instance_norm is not None:
            x, statistics = self.instance_norm.normalise(x)  # (B, T, F)
        batch = x.shape[0]
        # Row n of the reshape holds steps nP..nP+P-1, each step's F values in turn.
        patches = x.reshape(batch, self.num_patches, self.patch_length * self.input_features)
        tokens = self.patch_embedding(patches)  # (B, N, D)
        encoded, _ = self.backbone(tokens)  # (B, N, D)
        forecast = self.head(self.dropout(encoded.flatten(1)))  # (B, horizon, F_out[, Q])
        if self.instance_norm is not None and statistics is not None:
            target_statistics = statistics.columns(self.targets)  # (B, 1, F_out) each
            # (B, horizon, F_out[, Q])
            forecast = self.instance_norm.denormalise(forecast, target_statistics)
        return forecast


class ChannelIndependent(nn.Module):
    """One univariate forecaster, shared by every series: PatchTST's channel independence.

    The window x (B, T, F) holds F_out target columns followed by E = F - F_out extra inputs
    (calendar features). Each target column c becomes a sample of its own, [x_c ; extras]
    (T, 1 + E), the B * F_out samples go through ``inner`` (a forecaster built for 1 + E inputs
    and 1 output) as one batch, and its (B * F_out, horizon, 1) forecasts are laid back out as
    (B, horizon, F_out):
        y_c = f([x_c ; extras])  for c = 1..F_out, the same f for all.
    Why (Nie et al., 2023, sec. 3.1; Han et al., 2024, "The Capacity and Robustness
    Trade-off: Revisiting the Channel Independent Strategy for Multivariate Time Series
    Forecasting"): a model that mixes channels fits the cross-series relations of its training
    months, which drift; a shared univariate model sees F_out times as many training series,
    cannot overfit one channel's quirks, and with RevIN inside normalises each series by its own
    window.
    The price: a series cannot use another's values, so this needs every value column to be a
    target (features S or M, not MS).
    """

    def __init__(
        self, inner: nn.Module, *, input_features: int, output_features: int, extra_inputs: int = 0
    ) -> None:
        super().__init__()
        if output_features < 1 or extra_inputs < 0:
            raise ValueError(
                f"output_features ({output_features}) must be positive and extra_inputs "
                f"({extra_inputs}) >= 0"
            )
        if output_features + extra_inputs != input_features:
            raise ValueError(
                f"channel independence forecasts every value column from itself alone, but only "
                f"{output_features} of the {input_features - extra_inputs} value columns are "
                "targets; the others would be dropped (use features M or S, or turn "
                "channel_independent off)"
            )
        self.inner = inner
        self.input_features = input_features
        self.output_features = output_features
        self.extra_inputs = extra_inputs
        self.quantiles: QuantileOutputs | None = None

    def output_quantiles(self, quantiles: QuantileOutputs) -> None:
        """Q forecasts per value from now on: the output layer (the shared inner forecaster's) is
        replaced by a freshly initialised one Q times as wide, and forward returns
        (B, horizon, F_out, Q), in no fixed order (seqlab.tasks.forecasting.quantiles sorts
        them). The rest of the network is kept."""
        quantiles.check()
        if not isinstance(self.inner, RecurrentForecaster | TransformerForecaster):
            raise TypeError(f"{type(self.inner).__name__} has no quantile outputs")
        self.inner.output_quantiles(quantiles)
        self.quantiles = quantiles

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, T, F) -> forecast (B, horizon, F_out), column c forecast from column c and the
        extras; (B, horizon, F_out, Q) with quantile outputs."""
        _check_window(x, input_features=self.input_features, input_length=None)
        batch, length, _ = x.shape
        outputs = self.output_features
        series = x[..., :outputs].transpose(1, 2).unsqueeze(-1)  # (B, F_out, T, 1)
        extras = x[..., outputs:].unsqueeze(1).expand(-1, outputs, -1, -1)  # (B, F_out, T, E)
        samples = torch.cat([series, extras], dim=-1).reshape(batch * outputs, length, -1)
        forecast = self.inner(samples).squeeze(2)  # (B * F_out, horizon[, Q])
        # (B, F_out, horizon[, Q]) -> (B, horizon, F_out[, Q])
        return forecast.reshape(batch, outputs, *forecast.shape[1:]).transpose(1, 2)
