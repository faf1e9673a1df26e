"""Initialisations for recurrent layers (gate biases, recurrent weights): the memory lesson.

Gate layout follows torch.nn: LSTM bias rows are [input i | forget f | cell g | output o], GRU bias
rows are [reset r | update z | new n], each of hidden_size rows; torch adds bias_ih and bias_hh, so
we set the chosen value in bias_ih and zero the same rows of bias_hh. Orthogonal recurrent weights
(Saxe et al., 2014) are the other half: see RecurrentConfig.recurrent_init.

Chrono initialisation (Tallec and Ollivier, 2018, "Can recurrent neural networks warp time?",
sec. 5): b_f ~ log(U(1, T_max - 1)) and b_i = -b_f for an LSTM, so each unit's forget gate starts
near sigma(log(tau)) = tau / (1 + tau), keeping memory for a characteristic time tau in
[1, T_max - 1]. For a GRU, h_t = (1 - z) * n + z * h_{t-1}: the update gate z plays the forget
gate's part, so it gets the log-uniform bias.
"""

from __future__ import annotations

import torch

from seqlab.models.config import RecurrentConfig


def _gate_rows(family: str, gate: str, hidden_size: int) -> slice:
    order = {"lstm": "ifgo", "gru": "rzn"}[family]
    position = order.index(gate)
    return slice(position * hidden_size, (position + 1) * hidden_size)


@torch.no_grad()
def initialise_recurrent_weights(
    layer: torch.nn.Module, config: RecurrentConfig, *, generator: torch.Generator | None = None
) -> None:
    """Apply ``config.recurrent_init``: an orthogonal hidden_size x hidden_size block per gate in
    every weight_hh."""
    if config.recurrent_init == "uniform":
        return
    hidden = config.hidden_size
    for name, weight in layer.named_parameters():
        if name.startswith("weight_hh"):
            for start in range(0, weight.shape[0], hidden):
                torch.nn.init.orthogonal_(weight[start : start + hidden], generator=generator)


@torch.no_grad()
def initialise_gate_biases(
    layer: torch.nn.Module,
    config: RecurrentConfig,
    *,
    expected_length: int,
    generator: torch.Generator | None = None,
) -> None:
    """Apply ``config.init`` to every layer and direction of a seqlab.nn recurrent layer.

    expected_length: T_max for chrono when ``config.chrono_max_steps`` is None.
    """
    max_steps = config.chrono_max_steps or expected_length
    if config.init == "chrono" and max_steps < 3:
        raise ValueError(f"chrono initialisation needs T_max >= 3, got {max_steps}")
    if config.init == "standard" or config.family == "rnn":
        return  # a vanilla RNN has no gates; "standard" keeps torch's uniform initialisation
    hidden = config.hidden_size
    keep_gate = "f" if config.family == "lstm" else "z"
    for name, bias_ih in layer.named_parameters():
        if not name.startswith("bias_ih"):
            continue
        bias_hh = layer.get_parameter(name.replace("bias_ih", "bias_hh"))
        keep = _gate_rows(config.family, keep_gate, hidden)
        if config.init == "chrono":
            uniform = torch.rand(hidden, generator=generator, dtype=bias_ih.dtype)  # (hidden_size,)
            characteristic_time = 1.0 + uniform * (max_steps - 2)  # U(1, T_max - 1)
            value = torch.log(characteristic_time)  # (hidden_size,)
        else:  # "forget-bias-1"
            value = torch.ones(hidden, dtype=bias_ih.dtype)  # (hidden_size,)
        bias_ih[keep] = value
        bias_hh[keep] = 0.0
        if config.family == "lstm" and config.init == "chrono":
            input_gate = _gate_rows("lstm", "i", hidden)
            bias_ih[input_gate] = -value
            bias_hh[input_gate] = 0.0
