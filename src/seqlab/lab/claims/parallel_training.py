"""Claim 5: Transformers train faster because they process all tokens in parallel.

An LSTM's step t needs the state of step t - 1 (Hochreiter and Schmidhuber 1997), forward and in
backpropagation through time, so a sequence of n tokens is n dependent matrix products of
(B, D) by (D, 4H); a Transformer layer (Vaswani et al. 2017, sec. 4: "the number of operations
that must be performed sequentially" is O(1) against O(n)) multiplies all B n tokens at once, as
a few large matrix products, at the price of O(n^2 d) attention work against the LSTM's O(n d^2).
Whether that parallelism turns into speed depends on the hardware having parallel units to fill:
a GPU's thousands of lanes, a CPU's cores and vector units. With one CPU thread the only
parallelism is the vector units', which the LSTM's (B, D) x (D, 4H) products also use, so the
claim may well not hold there: the verdict says which way it goes on the hardware measured.

Measured: one training step (forward, mean squared error against a fixed random target,
backward, Adam update) of one seqlab.nn.LSTM layer and one seqlab.nn.TransformerEncoderLayer
matched in parameters (short_sequences.matched_layers), at growing lengths, timed in alternation.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

import seqlab.nn
from seqlab.lab.claims.base import Claim, Settings, hardware, machine
from seqlab.lab.claims.interleaved_timing import clock, crossings, interleaved_medians
from seqlab.lab.claims.short_sequences import matched_layers
from seqlab.lab.claims.verdicts import DOES_NOT_HOLD, HOLDS_WITH_CAVEAT, Numbers, Verdict
from seqlab.lab.figures import COLOURS, LABELS, plt, png_bytes

# ---- verdict rule ----

# Faster by at least this factor: beyond the jitter between medians of repeated timings.
FASTER_FACTOR = 1.1

PARALLEL_TRAINING_RULE = (
    f"with the ratio the LSTM layer's median training-step time over the Transformer layer's at "
    f"equal parameters: holds with a caveat (the hardware and its threads, named) if the ratio "
    f"is at least {FASTER_FACTOR} at every length measured; otherwise does not hold here, and "
    f"the reason says at which lengths each trains faster. A step time is a property of the "
    f"hardware, so this claim never simply holds."
)


def _lengths_where(numbers: Numbers, test: Callable[[float], bool]) -> list[int]:
    return [n for n in numbers["lengths"] if test(numbers["ratio"][str(n)])]


def _listed(lengths: list[int]) -> str:
    return ", ".join(f"{n:,}" for n in lengths) or "none"


def parallel_training(numbers: Numbers) -> Verdict:
    where = f"on {numbers['hardware']} ({numbers['clock']})"
    ratios = ", ".join(f"{numbers['ratio'][str(n)]:.2f}" for n in numbers["lengths"])
    transformer_faster = _lengths_where(numbers, lambda ratio: ratio >= FASTER_FACTOR)
    lstm_faster = _lengths_where(numbers, lambda ratio: ratio <= 1 / FASTER_FACTOR)
    if len(transformer_faster) == len(numbers["lengths"]):
        return HOLDS_WITH_CAVEAT, (
            f"the Transformer layer's training step is faster at every length (LSTM/Transformer "
            f"{ratios} at lengths {_listed(numbers['lengths'])}): depends on the hardware, "
            f"here {where}"
        )
    crossing = ", ".join(
        f"{point['length']:,.0f} ({'LSTM' if point['rising'] else 'Transformer'} slower above)"
        for point in numbers["crossings"]
    )
    measured = f"LSTM/Transformer step time {ratios} at lengths {_listed(numbers['lengths'])}"
    if crossing:
        measured += f"; the curves cross at {crossing}"
    why = (
        f"{numbers['threads']} thread(s) run the tokens in parallel only as far as the hardware "
        f"has parallel units, and attention's n^2 work grows with the length"
    )
    if not transformer_faster:
        return DOES_NOT_HOLD, (
            f"the LSTM layer trains at least as fast at every length ({measured}) {where}: {why}"
        )
    return DOES_NOT_HOLD, (
        f"the Transformer layer trains faster only at lengths {_listed(transformer_faster)}, the "
        f"LSTM at {_listed(lstm_faster)} ({measured}) {where}: {why}"
    )


# ---- measurement ----


def _output(result: Any) -> torch.Tensor:
    """The sequence output of either layer: the LSTM returns (output, state), the encoder layer
    an EncoderLayerOutput whose first field is the output."""
    return result[0]  # (B, T, width)


def training_step(
    layer: nn.Module, inputs: torch.Tensor, target: torch.Tensor
) -> Callable[[], None]:
    """One step of plain training: forward, mean squared error, backward, Adam update."""
    optimiser = torch.optim.Adam(layer.parameters(), lr=1e-3)

    def step() -> None:
        optimiser.zero_grad(set_to_none=True)
        loss = (_output(layer(inputs)) - target).pow(2).mean()
        loss.backward()
        optimiser.step()

    return step


def _count(module: nn.Module) -> int:
    return sum(parameter.numel() for parameter in module.parameters())


def measure(settings: Settings) -> dict[str, Any]:
    device, d_model = settings["device"], settings["d_model"]
    torch.manual_seed(settings["seed"])
    recurrent, transformer = matched_layers(d_model, settings["heads"])
    assert isinstance(recurrent, seqlab.nn.LSTM)  # matched_layers' recurrent half
    layers = {"lstm": recurrent.to(device).train(), "transformer": transformer.to(device).train()}
    seconds: dict[str, dict[str, float]] = {name: {} for name in layers}
    batch_size = settings["batch_size"]
    for length in settings["lengths"]:
        inputs = torch.randn(batch_size, length, d_model, device=device)  # (B, T, D)
        steps = {}
        for name, layer in layers.items():
            width = recurrent.hidden_size if name == "lstm" else d_model
            target = torch.randn(batch_size, length, width, device=device)  # (B, T, width)
            steps[name] = training_step(layer, inputs, target)
        timings = interleaved_medians(
            steps,
            repeats=settings["repeats"],
            warmup=settings["warmup"],
            device=device,
            budget_seconds=settings["seconds_per_length"],
        )
        for name in layers:
            seconds[name][str(length)] = timings[name]
    lengths = list(settings["lengths"])
    ratio = {str(n): seconds["lstm"][str(n)] / seconds["transformer"][str(n)] for n in lengths}
    return {
        "hardware": hardware(device),
        "device": device,
        "threads": machine(device)["torch_threads"],
        "clock": clock(device)[0],
        "lengths": lengths,
        "batch_size": batch_size,
        "d_model": d_model,
        "heads": settings["heads"],
        "lstm_hidden_size": recurrent.hidden_size,
        "parameters": {name: _count(layer) for name, layer in layers.items()},
        "seconds": seconds,
        "ratio": ratio,
        "crossings": crossings(lengths, [ratio[str(n)] for n in lengths]),
    }


def figure(numbers: Numbers) -> bytes:
    chart, axes = plt.subplots(1, 2, figsize=(11, 4))
    lengths = numbers["lengths"]
    for family in ("lstm", "transformer"):
        milliseconds = [numbers["seconds"][family][str(n)] * 1e3 for n in lengths]
        label = f"{LABELS[family]} layer ({numbers['parameters'][family]:,} parameters)"
        axes[0].plot(lengths, milliseconds, "o-", color=COLOURS[family], label=label)
    axes[0].set_yscale("log")
    axes[0].set_ylabel("training step, median (ms)")
    axes[0].set_title(f"Batch of {numbers['batch_size']} on {numbers['hardware']}", fontsize=9)
    axes[1].plot(lengths, [numbers["ratio"][str(n)] for n in lengths], "o-", color="black")
    axes[1].axhline(1.0, color="grey", linestyle="--", label="equal")
    axes[1].axhspan(FASTER_FACTOR, max(FASTER_FACTOR, *numbers["ratio"].values()) * 1.1,
                    color=COLOURS["transformer"], alpha=0.1,
                    label="Transformer faster (claim holds)")  # fmt: skip
    axes[1].set_ylabel("LSTM step time / Transformer step time")
    axes[1].set_title("In the shaded band the Transformer trains faster", fontsize=9)
    for axis in axes:
        axis.set_xscale("log", base=2)
        axis.set_xlabel("sequence length")
        axis.legend(fontsize=8)
    return png_bytes(chart)


CLAIM = Claim(
    number=5,
    id="parallel-training",
    statement=(
        "Transformers train faster because they process all tokens in parallel: training step "
        "time against length at equal parameter count; the verdict says which way it goes on "
        "the hardware measured."
    ),
    design=(
        "One seqlab.nn.LSTM layer and one seqlab.nn.TransformerEncoderLayer (feed-forward 4 x "
        "width, no dropout) matched in parameter count, each trained for repeated steps "
        "(forward, mean squared error against a fixed random target, backward, Adam update) on "
        "a batch of random sequences at lengths doubling from 16. Each step time is the median "
        "over repeats after a warm-up, the two layers timed in alternation (on one CPU thread, "
        "the process's CPU time). The LSTM/Transformer step-time ratio at each length decides; "
        "the device and its threads are named."
    ),
    rule=PARALLEL_TRAINING_RULE,
    verdict=parallel_training,
    measure=measure,
    figure=figure,
    quick={"d_model": 64, "heads": 4, "batch_size": 8, "lengths": [16, 32, 64, 128, 256, 512, 1024],
           "repeats": 7, "warmup": 2, "seconds_per_length": 2.0, "seed": 0},
    full={"d_model": 128, "heads": 4, "batch_size": 16,
          "lengths": [16, 32, 64, 128, 256, 512, 1024, 2048],
          "repeats": 15, "warmup": 3, "seconds_per_length": 12.0, "seed": 0},
)  # fmt: skip
