"""Claim 13: LSTMs mitigate but do not remove vanishing gradients.

Pascanu, Mikolov and Bengio (2013), "On the difficulty of training recurrent neural networks",
sec. 2: the gradient of a loss read at the last step T with respect to the input d steps earlier
passes through prod_{k=T-d+1..T} dh_k/dh_{k-1}. In a vanilla RNN, h_k = tanh(W_ih x_k + W_hh
h_{k-1} + b), each factor is diag(tanh') W_hh and the product shrinks geometrically when W_hh's
spectral radius is below one. In an LSTM (Hochreiter and Schmidhuber 1997; forget gate of Gers et
al. 2000) the cell path c_k = f_k * c_{k-1} + i_k * g_k contributes the factor diag(f_k): the
product still shrinks, only more slowly, as long as the forget gates are below one.

The measurement is lab.gradients' ||dL/dx_{T-d}||, taken here on a bare freshly initialised
layer with a fixed linear readout of the last step, not on a memory-task model: distance 1,000
then needs no data set, and nothing but the recurrence sits between the input and the loss.
It runs in float64 because the gradients at long distances fall below float32's range.
"""

from __future__ import annotations

from typing import Any, Literal

import torch
from torch import Tensor, nn

import seqlab.nn
from seqlab.lab.claims.base import Claim, Settings
from seqlab.lab.claims.verdicts import LSTM_VANISHING_RULE, Numbers, lstm_still_vanishes
from seqlab.lab.figures import COLOURS, LABELS, plt, png_bytes
from seqlab.models.config import RecurrentConfig
from seqlab.models.init import initialise_gate_biases

Family = Literal["rnn", "lstm"]
FAMILIES: tuple[Family, ...] = ("rnn", "lstm")


def gradient_norms_by_distance(layer: nn.Module, inputs: Tensor, readout: Tensor) -> Tensor:
    """||dL/dx_{T-1-d}|| for every d, averaged over the batch, with L the mean over the batch of
    readout . h_T (the layer's output at the last step).

    inputs (B, T, F), readout (hidden_size,). Returns (T,): element d is the norm d steps before
    the last step.
    """
    inputs = inputs.detach().requires_grad_(True)
    output, _ = layer(inputs)  # (B, T, hidden_size)
    loss = (output[:, -1] @ readout).mean()
    (gradient,) = torch.autograd.grad(loss, inputs)  # (B, T, F)
    norms = gradient.norm(dim=-1).mean(dim=0)  # (T,)
    return norms.flip(0)  # (T,) indexed by distance from the last step


def _layer(family: Family, settings: Settings) -> nn.Module:
    shape = {"input_size": settings["input_size"], "hidden_size": settings["hidden_size"]}
    layer = seqlab.nn.RNN(**shape) if family == "rnn" else seqlab.nn.LSTM(**shape)
    config = RecurrentConfig(family=family, hidden_size=settings["hidden_size"],
                             init=settings["lstm_init"])  # fmt: skip
    initialise_gate_biases(layer, config, expected_length=settings["long_distance"] + 1)
    return layer.double().to(settings["device"]).eval()


def measure(settings: Settings) -> dict[str, Any]:
    short, long = settings["short_distance"], settings["long_distance"]
    length = long + 1  # the input at distance `long` is the first one
    # The curve in the figure: distances 1, 2, 5, 10, 20, 50, ... up to `long`.
    curve_distances = sorted(
        {d for d in (int(m * 10**e) for e in range(5) for m in (1, 2, 5)) if d <= long}
        | {short, long}
    )
    sums = {family: torch.zeros(length, dtype=torch.float64) for family in FAMILIES}
    for seed in range(settings["seeds"]):
        for family in FAMILIES:
            torch.manual_seed(seed)
            layer = _layer(family, settings)
            generator = torch.Generator().manual_seed(seed)
            inputs = torch.randn(settings["batch_size"], length, settings["input_size"],
                                 generator=generator, dtype=torch.float64)  # fmt: skip  # (B, T, F)
            readout = torch.randn(settings["hidden_size"], generator=generator,
                                  dtype=torch.float64) / settings["hidden_size"] ** 0.5  # fmt: skip
            device = settings["device"]
            norms = gradient_norms_by_distance(layer, inputs.to(device), readout.to(device))
            sums[family] += norms.cpu()
    means = {family: sums[family] / settings["seeds"] for family in FAMILIES}
    return {
        "short_distance": short,
        "long_distance": long,
        "claim_distance": settings["claim_distance"],
        "lstm_init": settings["lstm_init"],
        "gradient": {
            family: {"short": float(means[family][short]), "long": float(means[family][long])}
            for family in FAMILIES
        },
        "curve": {
            family: {str(d): float(means[family][d]) for d in curve_distances}
            for family in FAMILIES
        },
    }


def figure(numbers: Numbers) -> bytes:
    chart, axis = plt.subplots(figsize=(6.4, 3.8))
    for family in FAMILIES:
        points = numbers["curve"][family]
        distances = [int(d) for d in points]
        # Floor exact zeros (float64 underflow) so they still show on the log scale.
        values = [max(points[str(d)], 1e-300) for d in distances]
        axis.plot(distances, values, "o-", color=COLOURS[family], label=LABELS[family])
    for distance in (numbers["short_distance"], numbers["long_distance"]):
        axis.axvline(distance, color="grey", linestyle=":", linewidth=1)
    axis.set_xscale("log")
    axis.set_yscale("log")
    axis.set_xlabel("distance d (steps before the last step)")
    axis.set_ylabel("||dL / dx_{T-d}|| (mean over seeds)")
    axis.set_title(f"Fresh layers (LSTM init: {numbers['lstm_init']})")
    axis.legend(fontsize=8)
    return png_bytes(chart)


CLAIM = Claim(
    number=13,
    id="lstm-still-vanishes",
    statement="LSTMs mitigate but do not remove vanishing gradients.",
    design=(
        "A freshly initialised one-layer seqlab.nn.LSTM (forget-gate bias 1, the common practice) "
        "and a vanilla tanh seqlab.nn.RNN of the same width read random inputs (float64); the "
        "loss is a fixed random linear readout of the last step's output. The norm of the "
        "gradient of that loss with respect to the input d steps earlier, averaged over the batch "
        "and over seeds, is taken at d = 10 and at the long distance (1,000 in the full run) and "
        "drawn against d for both layers."
    ),
    rule=LSTM_VANISHING_RULE,
    verdict=lstm_still_vanishes,
    measure=measure,
    figure=figure,
    quick={"input_size": 8, "hidden_size": 64, "batch_size": 16, "seeds": 3,
           "short_distance": 10, "long_distance": 200, "claim_distance": 1000,
           "lstm_init": "forget-bias-1"},
    full={"input_size": 16, "hidden_size": 128, "batch_size": 32, "seeds": 5,
          "short_distance": 10, "long_distance": 1000, "claim_distance": 1000,
          "lstm_init": "forget-bias-1"},
)  # fmt: skip
