"""Claim 9: gradient clipping prevents exploding gradients.

Pascanu, Mikolov and Bengio (2013), "On the difficulty of training recurrent neural networks",
sec. 3.2 and algorithm 1: when the gradient's norm ||g|| exceeds a threshold c, rescale it to
g * c / ||g|| (torch.nn.utils.clip_grad_norm_). The direction is kept and one step can no longer
throw the weights arbitrarily far, which is what an exploding gradient does: the product of
recurrent Jacobians grows geometrically with the distance when W_hh's spectral radius exceeds one.

The network that explodes is a ReLU RNN with identity recurrent weights and zero biases (Le,
Jaitly and Hinton 2015, "A simple way to initialize recurrent networks of rectified linear
units"), whose hidden state adds up the inputs, so its gradients grow with the distance; it
reads the adding problem (seqlab.data.memory, Hochreiter and Schmidhuber 1997) and regresses the
sum from its last output with the mean squared error, trained by plain SGD.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

import seqlab.nn
from seqlab.data.memory import adding_batch, chance_level
from seqlab.lab.claims.base import Claim, Settings
from seqlab.lab.claims.verdicts import GRADIENT_CLIPPING_RULE, Numbers, gradient_clipping
from seqlab.lab.figures import plt, png_bytes


class AddingRegressor(nn.Module):
    """ReLU RNN (identity W_hh, zero biases) -> linear readout of the last step."""

    def __init__(self, hidden_size: int) -> None:
        super().__init__()
        self.rnn = seqlab.nn.RNN(2, hidden_size, nonlinearity="relu")
        with torch.no_grad():
            self.rnn.get_parameter("weight_hh_l0").copy_(torch.eye(hidden_size))
            self.rnn.get_parameter("bias_ih_l0").zero_()
            self.rnn.get_parameter("bias_hh_l0").zero_()
        self.head = nn.Linear(hidden_size, 1)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        output, _ = self.rnn(inputs)  # (B, T, hidden_size)
        return self.head(output[:, -1]).squeeze(-1)  # (B,)


def _total_norm(parameters: list[nn.Parameter]) -> float:
    norms = [p.grad.norm() for p in parameters if p.grad is not None]
    return float(torch.linalg.vector_norm(torch.stack(norms)))


def train(settings: Settings, *, clip: float | None, seed: int) -> dict[str, Any]:
    """Train with or without clipping at norm ``clip``; per step, the loss, the gradient norm
    before and after clipping, and how many steps were non-finite. A non-finite step (loss or
    gradient) is recorded and skipped, so it does not also count as an update."""
    torch.manual_seed(seed)
    device = settings["device"]
    model = AddingRegressor(settings["hidden_size"]).to(device)
    parameters = list(model.parameters())
    optimizer = torch.optim.SGD(parameters, lr=settings["learning_rate"])
    losses, norms, clipped_norms, non_finite = [], [], [], 0
    for step in range(settings["steps"]):
        batch = adding_batch(batch_size=settings["batch_size"], distance=settings["distance"],
                             seed=seed, index=step)  # fmt: skip
        predictions = model(batch.inputs.to(device))  # (B,)
        loss = ((predictions - batch.targets.to(device)) ** 2).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        norm = float(nn.utils.clip_grad_norm_(parameters, math.inf if clip is None else clip))
        losses.append(loss.item())
        norms.append(norm)
        clipped_norms.append(_total_norm(parameters))
        if not (math.isfinite(norm) and math.isfinite(losses[-1])):
            non_finite += 1
            continue
        optimizer.step()
    return {"loss": losses, "gradient_norm": norms, "clipped_norm": clipped_norms,
            "non_finite_steps": non_finite}  # fmt: skip


def _finite_or_none(value: float) -> float | None:
    """JSON has no NaN or infinity: a non-finite number is written as null."""
    return value if math.isfinite(value) else None


def _summary(runs: list[dict[str, Any]], window: int) -> dict[str, Any]:
    """Mean over seeds of the first and last ``window`` steps' loss, the largest gradient norm
    (each None when non-finite), and the non-finite steps in all."""

    def mean(values: list[float]) -> float:
        return sum(values) / len(values)

    return {
        "initial_loss": _finite_or_none(mean([mean(run["loss"][:window]) for run in runs])),
        "final_loss": _finite_or_none(mean([mean(run["loss"][-window:]) for run in runs])),
        "max_gradient_norm": _finite_or_none(max(max(run["gradient_norm"]) for run in runs)),
        "non_finite_steps": sum(run["non_finite_steps"] for run in runs),
        "steps": sum(len(run["loss"]) for run in runs),
    }


def measure(settings: Settings) -> dict[str, Any]:
    seeds = range(settings["seeds"])
    unclipped = [train(settings, clip=None, seed=seed) for seed in seeds]
    clipped = [train(settings, clip=settings["clip"], seed=seed) for seed in seeds]
    window = max(1, settings["steps"] // 10)
    return {
        "clip": settings["clip"],
        "distance": settings["distance"],
        "chance_loss": chance_level("adding", alphabet_size=0),
        "initialisation": "identity W_hh, zero biases",
        "learning_rate": settings["learning_rate"],
        "unclipped": _summary(unclipped, window),
        "clipped": _summary(clipped, window),
        # The first seed's curves, for the figure.
        "curves": {
            name: {
                key: [_finite_or_none(v) for v in runs[0][key]] for key in ("loss", "gradient_norm")
            }
            for name, runs in (("unclipped", unclipped), ("clipped", clipped))
        },
    }


def figure(numbers: Numbers) -> bytes:
    chart, (left, right) = plt.subplots(1, 2, figsize=(10.5, 3.8))
    styles = {"unclipped": ("#d62728", "without clipping"),
              "clipped": ("#1f77b4", f"clipped at {numbers['clip']}")}  # fmt: skip
    for run, (colour, label) in styles.items():
        curve = numbers["curves"][run]
        steps = range(1, len(curve["loss"]) + 1)
        # Non-finite values leave gaps in the lines; a cross on the axis marks each such step.
        for axis, key in ((left, "loss"), (right, "gradient_norm")):
            values = [math.nan if v is None else v for v in curve[key]]
            axis.plot(steps, values, color=colour, label=label, linewidth=1)
            bad = [s for s, v in zip(steps, curve[key], strict=True) if v is None]
            if bad:
                axis.plot(bad, [1.0] * len(bad), "x", color=colour, markersize=3,
                          label=f"{label}: non-finite")  # fmt: skip
    left.axhline(numbers["chance_loss"], color="grey", linestyle="--", label="predict the mean")
    right.axhline(numbers["clip"], color="grey", linestyle=":", label="clip threshold")
    for axis, title in ((left, "training loss (MSE)"), (right, "gradient norm before clipping")):
        axis.set_yscale("log")
        axis.set_xlabel("step (first seed)")
        axis.set_title(title)
        axis.legend(fontsize=7)
    return png_bytes(chart)


CLAIM = Claim(
    number=9,
    id="gradient-clipping",
    statement="Gradient clipping prevents exploding gradients.",
    design=(
        "A ReLU seqlab.nn.RNN with identity recurrent weights and zero biases (the IRNN "
        "initialisation) and a linear readout of its last output is trained by SGD on the adding "
        "problem (mean squared error) twice with the same seeds, batches and steps: once as is, "
        "once with the gradient's global norm clipped (torch.nn.utils.clip_grad_norm_). Each "
        "step records the loss, the gradient norm before clipping and after, and whether the "
        "loss or gradient was non-finite (such a step is skipped). The figure shows both loss "
        "and gradient-norm curves of the first seed."
    ),
    rule=GRADIENT_CLIPPING_RULE,
    verdict=gradient_clipping,
    measure=measure,
    figure=figure,
    quick={"hidden_size": 32, "distance": 50, "batch_size": 32, "steps": 200,
           "learning_rate": 0.01, "clip": 1.0, "seeds": 2},
    full={"hidden_size": 64, "distance": 100, "batch_size": 64, "steps": 1000,
          "learning_rate": 0.01, "clip": 1.0, "seeds": 3},
)  # fmt: skip
