"""Claim 4: per layer, recurrent cost grows as O(n) and full self-attention as O(n^2).

An LSTM layer (Hochreiter and Schmidhuber 1997) runs one step per position, each the same work
(4 gate products of width H), so its time and the memory of its outputs grow as n. Self-attention
(Vaswani et al. 2017, sec. 4 and table 1: O(n^2 d) per layer against O(n d^2) for recurrence)
compares every pair of positions: Q K^T is (T, T) per head, so its time grows as n^2; its memory
grows as n^2 only on a path that holds the (H, T, T) weights at once. seqlab's default path
(impl="fused") calls torch.nn.functional.scaled_dot_product_attention, whose flash and
memory-efficient kernels (Dao et al. 2022; Rabe and Staats 2021) stream over key blocks and never
hold T x T, so there the memory grows as n; the reference path writes eq. 1 out and holds it. The
kernel torch picks is recorded, and both paths' memory is measured.

A whole Transformer encoder layer adds four D x D projections and a 4D-wide feed-forward network,
O(n d^2) work that dominates while n is below a few times d, so the layer's slope approaches 2 only
at long n; the attention sub-layer alone is where the n^2 lives. Slopes are therefore fitted both
over every length and over the longest ``tail_points`` lengths (scaling.log_log_slope),
and the verdict reads the latter.
"""

from __future__ import annotations

import copy
from functools import partial
from typing import Any

import torch
from torch import nn

from seqlab.lab.claims.base import Claim, Settings, hardware
from seqlab.lab.claims.interleaved_timing import clock
from seqlab.lab.claims.peak_memory import MEMORY_METHOD, available_bytes, peak_bytes
from seqlab.lab.claims.scaling import attention_kernel, slopes, time_and_peak_bytes
from seqlab.lab.claims.short_sequences import matched_layers
from seqlab.lab.claims.verdicts import (
    DOES_NOT_HOLD,
    HOLDS_WITH_CAVEAT,
    NOT_YET_MEASURABLE,
    Numbers,
    Verdict,
)
from seqlab.lab.figures import COLOURS, LABELS, plt, png_bytes
from seqlab.nn import MultiHeadAttention

# ---- verdict rule ----

# A fitted slope over three doublings moves by about 0.1 when one median is 10% off (the jitter
# between repeated timings here), so 1 +- 0.2 is "linear" and 1.7 is clearly past it toward 2.
LINEAR_SLOPE_RANGE = (0.8, 1.2)
QUADRATIC_SLOPE = 1.7
# A slope from fewer points says nothing about curvature; three is the least that does.
MIN_LENGTHS = 3

COST_BY_LENGTH_RULE = (
    f"with s the log-log slope of median forward time against length over the longest lengths "
    f"measured: holds with a caveat (the hardware, named) if the LSTM's s is within "
    f"{LINEAR_SLOPE_RANGE[0]} to {LINEAR_SLOPE_RANGE[1]} and the attention sub-layer's s is at "
    f"least {QUADRATIC_SLOPE}; otherwise does not hold here; not yet measurable if fewer than "
    f"{MIN_LENGTHS} lengths fit in memory. Peak memory's slopes are reported beside it, with the "
    f"attention kernel they depend on. A time is a property of the hardware, so this claim never "
    f"simply holds."
)


def _memory_summary(numbers: Numbers) -> str:
    slopes = numbers["memory_slope"]
    path = numbers["attention_path"]
    attention = slopes["attention"]["tail"]
    text = (
        f"peak memory grows with slope {slopes['lstm']['tail']:.2f} for the LSTM and "
        f"{attention:.2f} for attention on seqlab's path (impl={path['impl']}, kernel "
        f"{path['kernel']})"
    )
    if attention < QUADRATIC_SLOPE:
        text += ", which does not hold the T x T weights, so it stays linear"
    reference = slopes.get("attention_reference")
    if reference is not None:
        text += f"; the reference path, which holds them, grows with {reference['tail']:.2f}"
    return text


def cost_by_length(numbers: Numbers) -> Verdict:
    lengths = numbers["lengths"]
    hardware = numbers["hardware"]
    if len(lengths) < MIN_LENGTHS:
        return NOT_YET_MEASURABLE, (
            f"only {len(lengths)} length(s) fit in memory on {hardware} ({numbers['stopped']})"
        )
    tail = numbers["tail_lengths"]
    time_slope = numbers["time_slope"]
    lstm, attention = time_slope["lstm"]["tail"], time_slope["attention"]["tail"]
    layer = time_slope["transformer"]
    span = f"lengths {tail[0]:,} to {tail[-1]:,}"
    failures = []
    if not LINEAR_SLOPE_RANGE[0] <= lstm <= LINEAR_SLOPE_RANGE[1]:
        failures.append(f"the LSTM's time grows with slope {lstm:.2f}, not about 1")
    if attention < QUADRATIC_SLOPE:
        failures.append(f"attention's time grows with slope {attention:.2f} (< {QUADRATIC_SLOPE})")
    if failures:
        return DOES_NOT_HOLD, (
            f"{'; '.join(failures)} over {span} on {hardware}; {_memory_summary(numbers)}"
        )
    return HOLDS_WITH_CAVEAT, (
        f"over {span} time grows with slope {lstm:.2f} for the LSTM and {attention:.2f} for "
        f"attention (the whole Transformer layer {layer['tail']:.2f}, and {layer['all']:.2f} "
        f"over all lengths, where its linear parts dominate); {_memory_summary(numbers)}: "
        f"depends on the hardware and attention kernel, here {hardware}"
    )


# ---- measurement ----


def _reference_bytes(heads: int, length: int, element_size: int) -> int:
    """The reference path's scores and weights, both (H, T, T), live at once."""
    return 2 * heads * length * length * element_size


def _is_out_of_memory(error: RuntimeError) -> bool:
    return isinstance(error, torch.OutOfMemoryError) or "allocate" in str(error)


def _count(module: nn.Module) -> int:
    return sum(parameter.numel() for parameter in module.parameters())


def measure(settings: Settings) -> dict[str, Any]:
    device, d_model, heads = settings["device"], settings["d_model"], settings["heads"]
    torch.manual_seed(settings["seed"])
    recurrent, transformer = matched_layers(d_model, heads)
    recurrent, transformer = recurrent.to(device).eval(), transformer.to(device).eval()
    attention = transformer.self_attn
    assert isinstance(attention, MultiHeadAttention)  # seqlab's encoder layer's sub-layer
    reference = copy.deepcopy(attention)  # the same weights on the written-out path
    reference.impl = "reference"
    layers: dict[str, nn.Module] = {"lstm": recurrent, "transformer": transformer,
                                    "attention": attention}  # fmt: skip
    seconds: dict[str, dict[str, float]] = {name: {} for name in layers}
    memory: dict[str, dict[str, int]] = {name: {} for name in (*layers, "attention_reference")}
    lengths: list[int] = []
    stopped = None
    kernel = "unknown"
    for length in settings["lengths"]:
        x = torch.randn(1, length, d_model, device=device)  # (B, T, D)
        try:
            kernel = attention_kernel(attention, x)
            costs = time_and_peak_bytes(layers, x, settings, device=device)
            for name, (took, peak) in costs.items():
                seconds[name][str(length)] = took
                memory[name][str(length)] = peak
            # The reference path's (H, T, T) matrices are measured only where they fit with
            # room to spare: on a CPU running out of memory ends the process, not the call.
            needed = _reference_bytes(heads, length, x.element_size())
            if needed < available_bytes(device) / 2:
                with torch.no_grad():
                    memory["attention_reference"][str(length)] = peak_bytes(
                        partial(reference, x), device=device
                    )
        except RuntimeError as error:
            if not _is_out_of_memory(error):
                raise
            stopped = f"out of memory at length {length:,}"
            break
        lengths.append(length)
    tail_points = settings["tail_points"]
    numbers: dict[str, Any] = {
        "hardware": hardware(device),
        "device": device,
        "lengths": lengths,
        "tail_lengths": lengths[-tail_points:],
        "stopped": stopped,
        "d_model": d_model,
        "heads": heads,
        "lstm_hidden_size": recurrent.hidden_size,
        "parameters": {name: _count(layer) for name, layer in layers.items()},
        "attention_path": {"impl": attention.impl, "kernel": kernel},
        "clock": clock(device)[0],
        "memory_method": MEMORY_METHOD["cuda" if device == "cuda" else "cpu"],
        "seconds": seconds,
        "peak_bytes": memory,
        "time_slope": {},
        "memory_slope": {},
    }
    if len(lengths) >= 2:
        numbers["time_slope"] = {name: slopes(lengths, seconds[name], tail_points)
                                 for name in layers}  # fmt: skip
        numbers["memory_slope"] = {
            name: slopes(lengths, memory[name], tail_points)
            for name in memory
            if len(memory[name]) >= 2
        }
    return numbers


# ---- figure ----

_CURVES = {
    "lstm": (COLOURS["lstm"], f"{LABELS['lstm']} layer"),
    "transformer": (COLOURS["transformer"], f"{LABELS['transformer']} layer"),
    "attention": ("#8c564b", "attention sub-layer"),
    "attention_reference": ("#7f7f7f", "attention, reference path"),
}


def figure(numbers: Numbers) -> bytes:
    chart, axes = plt.subplots(1, 2, figsize=(11, 4))
    panels = (
        (axes[0], numbers["seconds"], numbers["time_slope"], 1e3, "forward time, median (ms)"),
        (axes[1], numbers["peak_bytes"], numbers["memory_slope"], 2**-20, "peak memory (MiB)"),
    )
    for axis, values, fitted, scale, ylabel in panels:
        for name, by_length in values.items():
            measured = [n for n in numbers["lengths"] if str(n) in by_length]
            if not measured:
                continue
            colour, label = _CURVES[name]
            if name in fitted:
                label += f" (slope {fitted[name]['tail']:.2f})"
            ys = [by_length[str(n)] * scale for n in measured]
            axis.plot(measured, ys, "o-", color=colour, label=label)
        axis.set_xscale("log", base=2)
        axis.set_yscale("log")
        axis.set_xlabel("sequence length (batch of 1)")
        axis.set_ylabel(ylabel)
        axis.legend(fontsize=8)
    path = numbers["attention_path"]
    axes[0].set_title(f"Time on {numbers['hardware']}", fontsize=9)
    axes[1].set_title(f"Memory; seqlab's attention: {path['impl']} ({path['kernel']})", fontsize=9)
    return png_bytes(chart)


CLAIM = Claim(
    number=4,
    id="cost-by-length",
    statement=(
        "Per layer, recurrent cost grows as O(n) and full self-attention as O(n^2): time and "
        "peak memory against sequence length, with the fitted log-log slope."
    ),
    design=(
        "One seqlab.nn.LSTM layer and one seqlab.nn.TransformerEncoderLayer (feed-forward "
        "4 x width, no dropout) matched in parameter count, and the Transformer layer's "
        "attention sub-layer alone, run forward without gradients on a batch of one random "
        "sequence at lengths doubling from 64 to 8,192 (or as far as memory allows). Time: the "
        "median over repeats after a warm-up, the three measured in alternation (on one CPU "
        "thread, the process's CPU time). Peak memory: "
        "on a GPU torch.cuda.max_memory_allocated; on a CPU the high-water mark of live tensor "
        "bytes counted by a dispatch mode (seqlab.lab.claims.peak_memory). Attention's memory "
        "is also measured on seqlab's reference path, which holds the T x T weights; the kernel "
        "seqlab's default path runs is recorded. The log-log slopes over the longest lengths "
        "decide."
    ),
    rule=COST_BY_LENGTH_RULE,
    verdict=cost_by_length,
    measure=measure,
    figure=figure,
    quick={"d_model": 64, "heads": 4, "lengths": [64, 128, 256, 512, 1024, 2048, 4096, 8192],
           "tail_points": 3, "repeats": 5, "warmup": 1, "seconds_per_length": 2.0, "seed": 0},
    full={"d_model": 128, "heads": 4, "lengths": [64, 128, 256, 512, 1024, 2048, 4096, 8192],
          "tail_points": 3, "repeats": 15, "warmup": 2, "seconds_per_length": 10.0, "seed": 0},
)  # fmt: skip
