"""Backbones: a recurrent stack or a Transformer encoder over a sequence of vectors.

Both take x (B, T, input_size) and return (outputs (B, T, output_size), state), where state is the
recurrent state in torch's layout (None for the Transformer). Task models put an input encoder in
front and a head behind; they never touch the blocks' internals.

Where each family's ``dropout`` acts: torch's recurrent dropout sits between stacked layers only
(Zaremba et al., 2014), so a one-layer recurrent stack gets none here (the classifier's and the
forecasters' heads apply the config's value; the memory model's head has no dropout). A
Transformer's dropout sits inside every layer (Vaswani et al., 2017, sec. 5.4: on each
sub-layer's output, and in torch also on the attention weights and inside the feed-forward
network), so every Transformer stack takes it, one layer or more.

Shapes (the repository's legend): B batch, T time steps, D model width; a recurrent stack's
hidden width and number of directions are written out (hidden_size, num_directions).
"""

from __future__ import annotations

import torch
from torch import nn

from seqlab import nn as snn
from seqlab.models.config import ModelConfig, PretrainedConfig, RecurrentConfig, TransformerConfig
from seqlab.models.init import initialise_gate_biases, initialise_recurrent_weights

_RECURRENT_LAYERS = {"rnn": snn.RNN, "lstm": snn.LSTM, "gru": snn.GRU}


class RecurrentBackbone(nn.Module):
    """A seqlab.nn RNN, LSTM or GRU stack with the configured weight and gate-bias
    initialisation (seqlab.models.init)."""

    def __init__(
        self,
        config: RecurrentConfig,
        *,
        input_size: int,
        expected_length: int,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        layer_class = _RECURRENT_LAYERS[config.family]
        extra = {"nonlinearity": config.nonlinearity} if config.family == "rnn" else {}
        self.rnn = layer_class(
            input_size,
            config.hidden_size,
            num_layers=config.num_layers,
            # Between layers only (module docstring): with one layer it would do nothing but warn.
            dropout=config.dropout if config.num_layers > 1 else 0.0,
            bidirectional=config.bidirectional,
            impl=config.impl,
            **extra,
        )
        initialise_recurrent_weights(self.rnn, config, generator=generator)
        initialise_gate_biases(
            self.rnn, config, expected_length=expected_length, generator=generator
        )
        self.output_size = config.hidden_size * (2 if config.bidirectional else 1)

    def forward(
        self,
        x: torch.Tensor,
        *,
        lengths: torch.Tensor | None = None,
        state: torch.Tensor | tuple[torch.Tensor, torch.Tensor] | None = None,
    ) -> tuple[torch.Tensor, object]:
        return self.rnn(x, state, lengths)  # (B, T, num_directions*hidden_size), final state


class TransformerBackbone(nn.Module):
    """Positions, dropout and a Transformer encoder stack; causal when the task reads left to right.

    config.window makes the self-attention local: a causal band when ``causal``, else centred.

    The paper adds positional encodings to embeddings scaled by sqrt(d_model) (sec. 3.4); the
    scaling belongs to whoever owns the embedding table, so task models apply it, not this class.
    """

    def __init__(self, config: TransformerConfig, *, causal: bool) -> None:
        super().__init__()
        self.causal = causal
        if config.positions == "sinusoidal":
            self.positions: nn.Module = snn.SinusoidalPositions(config.max_len, config.d_model)
        else:
            self.positions = snn.LearnedPositions(config.max_len, config.d_model)
        self.dropout = nn.Dropout(config.dropout)
        self.encoder = snn.TransformerEncoder.build(
            d_model=config.d_model,
            num_heads=config.num_heads,
            num_layers=config.num_layers,
            dim_feedforward=config.dim_feedforward,
            # Inside every layer (module docstring), so one layer takes it too.
            dropout=config.dropout,
            activation=config.activation,
            norm_first=config.norm_first,
            impl=config.impl,
            # Local attention: causal band when the backbone reads left to right, else centred.
            window=config.window,
        )
        self.output_size = config.d_model

    def forward(
        self, x: torch.Tensor, *, lengths: torch.Tensor | None = None, state: None = None
    ) -> tuple[torch.Tensor, None]:
        batch, length, _ = x.shape
        padding = None
        if lengths is not None:
            padding = snn.padding_mask(lengths, length)  # (B, T) True = real token
        x = self.dropout(x + self.positions(length))  # (B, T, D)
        encoded = self.encoder(x, key_padding_mask=padding, causal=self.causal)
        return encoded.output, None  # (B, T, D)


def build_backbone(
    config: ModelConfig,
    *,
    input_size: int,
    causal: bool,
    expected_length: int,
    generator: torch.Generator | None = None,
) -> RecurrentBackbone | TransformerBackbone:
    """expected_length: the longest sequence the task expects (chrono initialisation's T_max)."""
    if isinstance(config, PretrainedConfig):
        raise ValueError(
            f"model.family {config.family!r} is a pretrained encoder with its own network "
            "(seqlab.models.pretrained); backbones are built for rnn, lstm, gru or transformer"
        )
    if isinstance(config, RecurrentConfig):
        return RecurrentBackbone(
            config, input_size=input_size, expected_length=expected_length, generator=generator
        )
    if input_size != config.d_model:
        raise ValueError(
            f"the Transformer's input width ({input_size}) must equal model.d_model "
            f"({config.d_model})"
        )
    return TransformerBackbone(config, causal=causal)
