"""Gate-bias initialisations for recurrent layers, the lesson the memory tasks teach.

Gate layout follows torch.nn: LSTM bias rows are [input i | forget f | cell g | output o], GRU bias
rows are [reset r | update z | new n], each of hidden_size rows; torch adds bias_ih and bias_hh, so
we set the chosen value in bias_ih and zero the same rows of bias_hh.

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
def initialise_gate_biases(
    layer: torch.nn.Module, config: RecurrentConfig, *, generator: torch.Generator | None = None
) -> None:
    """Apply ``config.init`` to every layer and direction of a seqlab.nn recurrent layer."""
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
            uniform = torch.rand(hidden, generator=generator, dtype=bias_ih.dtype)  # (H,)
            characteristic_time = 1.0 + uniform * (config.chrono_max_steps - 2)
            value = torch.log(characteristic_time)  # (H,)
        else:  # "forget-bias-1"
            value = torch.ones(hidden, dtype=bias_ih.dtype)
        bias_ih[keep] = value
        bias_hh[keep] = 0.0
        if config.family == "lstm" and config.init == "chrono":
            input_gate = _gate_rows("lstm", "i", hidden)
            bias_ih[input_gate] = -value
            bias_hh[input_gate] = 0.0
