"""Claim 6: for very short sequences (2 to 3 tokens) Transformers carry more overhead than RNNs.

A Transformer encoder layer (Vaswani et al. 2017, sec. 3.1) runs a fixed pipeline whatever the
length: four attention projections, the scaled dot-product, the output projection, two
LayerNorms and a two-layer feed-forward network, each a separate kernel launch. An LSTM layer
(Hochreiter and Schmidhuber 1997) runs one fused kernel whose work is one gate product per step.
At two or three tokens the recurrence has almost nothing to do serially, so the Transformer's
fixed cost per call may dominate; whether it does is a property of the hardware and kernels, so
the verdict names them.

Both layers are matched in parameter count: an encoder layer of width D and feed-forward width
4D has about 12 D^2 parameters, an LSTM reading D inputs with hidden size H has 4 (H D + H^2 +
2H), so H is chosen as the size whose count is closest to the encoder layer's.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import torch
from torch import nn

import seqlab.nn
from seqlab.lab.claims.base import Claim, Settings, hardware
from seqlab.lab.claims.interleaved_timing import clock, interleaved_medians
from seqlab.lab.claims.verdicts import SHORT_SEQUENCE_RULE, Numbers, short_sequence_overhead
from seqlab.lab.figures import COLOURS, LABELS, plt, png_bytes


def _count(module: nn.Module) -> int:
    return sum(parameter.numel() for parameter in module.parameters())


def matched_layers(d_model: int, num_heads: int) -> tuple[nn.Module, nn.Module]:
    """A Transformer encoder layer (feed-forward 4 D, no dropout) and the LSTM reading D inputs
    whose parameter count is closest to it."""
    transformer = seqlab.nn.TransformerEncoderLayer(
        d_model, num_heads, dim_feedforward=4 * d_model, dropout=0.0
    )
    target = _count(transformer)

    def lstm_count(hidden: int) -> int:
        return 4 * (hidden * d_model + hidden * hidden + 2 * hidden)

    hidden = min(range(1, 4 * d_model), key=lambda h: abs(lstm_count(h) - target))
    return seqlab.nn.LSTM(d_model, hidden), transformer


def median_seconds(call: Callable[[], object], *, repeats: int, warmup: int, device: str) -> float:
    """Median wall-clock seconds of ``call()`` over ``repeats`` runs after ``warmup`` runs; on a
    GPU each run waits for the device, so the time is the kernels' and not just their launch."""
    samples = []
    for attempt in range(warmup + repeats):
        if device == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        call()
        if device == "cuda":
            torch.cuda.synchronize()
        if attempt >= warmup:
            samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def measure(settings: Settings) -> dict[str, Any]:
    device = settings["device"]
    torch.manual_seed(settings["seed"])
    recurrent, transformer = matched_layers(settings["d_model"], settings["heads"])
    recurrent, transformer = recurrent.to(device).eval(), transformer.to(device).eval()
    seconds: dict[str, dict[str, float]] = {"lstm": {}, "transformer": {}}
    clock_name, _ = clock(device)
    for length in settings["lengths"]:
        x = torch.randn(1, length, settings["d_model"], device=device)  # (B, T, D)
        with torch.no_grad():
            timings = interleaved_medians(
                {"lstm": partial(recurrent, x), "transformer": partial(transformer, x)},
                repeats=settings["repeats"],
                warmup=settings["warmup"],
                device=device,
            )
        for family, median in timings.items():
            seconds[family][str(length)] = median
    return {
        "hardware": hardware(device),
        "clock": clock_name,
        "short_lengths": list(settings["short_lengths"]),
        "lengths": list(settings["lengths"]),
        "parameters": {"lstm": _count(recurrent), "transformer": _count(transformer)},
        "lstm_hidden_size": recurrent.hidden_size,
        "seconds": seconds,
        "ratio": {
            str(n): seconds["transformer"][str(n)] / seconds["lstm"][str(n)]
            for n in settings["lengths"]
        },
    }


def figure(numbers: Numbers) -> bytes:
    chart, axis = plt.subplots(figsize=(6.4, 3.8))
    lengths = numbers["lengths"]
    for family in ("lstm", "transformer"):
        microseconds = [numbers["seconds"][family][str(n)] * 1e6 for n in lengths]
        label = f"{LABELS[family]} ({numbers['parameters'][family]:,} parameters)"
        axis.plot(lengths, microseconds, "o-", color=COLOURS[family], label=label)
    axis.axvspan(min(numbers["short_lengths"]) - 0.3, max(numbers["short_lengths"]) + 0.3,
                 color="grey", alpha=0.15, label="the claim's lengths")  # fmt: skip
    axis.set_xscale("log")
    axis.set_yscale("log")
    axis.set_xlabel("sequence length (batch of 1)")
    axis.set_ylabel("forward latency, median (microseconds)")
    axis.set_title(f"One layer on {numbers['hardware']}", fontsize=9)
    axis.legend(fontsize=8)
    return png_bytes(chart)


CLAIM = Claim(
    number=6,
    id="short-sequence-overhead",
    statement=(
        "For very short sequences (2 to 3 tokens) Transformers carry more overhead than RNNs."
    ),
    design=(
        "A seqlab.nn.TransformerEncoderLayer (feed-forward 4 x width, no dropout) and a "
        "seqlab.nn.LSTM reading the same width, its hidden size chosen so the parameter counts "
        "match as closely as possible, each run forward in evaluation mode without gradients on "
        "a batch of one sequence of length 2 and 3, and of a few longer lengths for context. "
        "The two layers are timed in alternation, one call each per round, and each latency is "
        "the median over many rounds after a warm-up, on process CPU time with one torch thread "
        "(other processes do not inflate it) and the wall clock otherwise; on a GPU each run "
        "waits for the device. The Transformer/LSTM latency ratio at lengths 2 and 3 decides."
    ),
    rule=SHORT_SEQUENCE_RULE,
    verdict=short_sequence_overhead,
    measure=measure,
    figure=figure,
    quick={"d_model": 64, "heads": 4, "lengths": [2, 3, 8, 32, 128], "short_lengths": [2, 3],
           "repeats": 300, "warmup": 20, "seed": 0},
    full={"d_model": 256, "heads": 8, "lengths": [2, 3, 4, 8, 32, 128, 512],
          "short_lengths": [2, 3], "repeats": 1000, "warmup": 50, "seed": 0},
)  # fmt: skip
