"""Claim 11: full attention's memory is quadratic; beyond about 10,000 tokens sparse or local
attention is needed.

Vaswani et al. 2017, sec. 4 (table 1): self-attention compares every pair of positions, so the
scores and weights softmax(Q K^T / sqrt(d_k)) of one layer hold H T^2 numbers per sequence; a
sliding window of w keys per query (Beltagy et al. 2020, Longformer, sec. 3.1) holds about H T w.
At 16,384 tokens and 4 heads the two (H, T, T) float32 matrices take 8 GiB; a window of 256
takes a few hundred MiB, growing linearly.

Measured: one Transformer encoder layer (``seqlab.nn.TransformerEncoderLayer``, batch of one,
forward without gradients) in three forms sharing one set of weights,

- ``full``: full attention through the fused kernel (torch's scaled_dot_product_attention, which
  on recent CPUs and GPUs is a flash / memory-efficient kernel that never holds T x T at once);
- ``full_reference``: full attention written out (seqlab's reference path), which materialises
  the scores and weights as a textbook implementation does;
- ``local``: the same layer with ``window=w`` (centred), computed in blocks by
  ``seqlab.nn.local_attention`` without any T x T matrix;

and for each its peak memory (``peak_memory.peak_bytes``) and median forward time (interleaved,
``interleaved_timing``) at growing lengths, with log-log slopes (1 linear, 2 quadratic).
``benchmarks/long_sequences.py`` runs this same measurement at 1k, 4k, 16k and 32k tokens and
records it in BENCHMARKS.md. The written-out path is skipped where its matrices would not fit in
half the free memory (a CPU out of memory ends the process, not the call); the bytes it would
have needed are recorded instead.
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import nn

from seqlab.lab.claims.base import Claim, Settings, hardware
from seqlab.lab.claims.interleaved_timing import clock
from seqlab.lab.claims.peak_memory import MEMORY_METHOD, available_bytes
from seqlab.lab.claims.scaling import attention_kernel, slopes, time_and_peak_bytes
from seqlab.lab.claims.verdicts import (
    DOES_NOT_HOLD,
    HOLDS,
    HOLDS_WITH_CAVEAT,
    Numbers,
    Verdict,
)
from seqlab.lab.figures import plt, png_bytes
from seqlab.nn import MultiHeadAttention, TransformerEncoderLayer

# ---- verdict rule ----

# A fitted slope at least this is quadratic growth: the written-out matrices alone grow with
# slope 2, and the layer's linear parts pull the fit below 2 at the shorter lengths.
QUADRATIC_SLOPE = 1.8
# A fitted slope at most this is linear growth: measured slopes of linear costs sit near 1.0-1.1
# once fixed costs (weights, workspace) are small against the length-dependent ones.
LINEAR_SLOPE = 1.2
# The saving that makes local attention "needed" rather than merely smaller: the target,
# an order of magnitude.
REQUIRED_SAVING = 10.0
# The claim's own threshold ("beyond about 10,000 tokens").
CLAIM_LENGTH = 10_000

LOCAL_ATTENTION_RULE = (
    f"holds if the written-out full attention's peak memory grows with a log-log slope of at "
    f"least {QUADRATIC_SLOPE}, the local window's with at most {LINEAR_SLOPE}, the local layer "
    f"needs at least {REQUIRED_SAVING:g} times less memory than the written-out one at "
    f"{CLAIM_LENGTH:,} tokens or beyond (measured at the longest length written out, or, when "
    f"no measured length reaches {CLAIM_LENGTH:,}, extrapolated to it along the two fitted "
    f"slopes), and the fused full-attention kernel's memory is quadratic too; holds with a "
    f"caveat when the fused kernel keeps full attention's memory linear (then its time, not "
    f"memory, is what grows quadratically) or when the saving is extrapolated; otherwise does "
    f"not hold here."
)


def _slope(numbers: Numbers, kind: str, name: str) -> float | None:
    slopes = numbers[kind].get(name)
    return None if slopes is None else float(slopes["all"])


def local_attention_memory(numbers: Numbers) -> Verdict:
    lengths = [n for n in numbers["lengths"] if str(n) in numbers["peak_bytes"]["full_reference"]]
    reference_slope = _slope(numbers, "memory_slope", "full_reference")
    local_slope = _slope(numbers, "memory_slope", "local")
    fused_slope = _slope(numbers, "memory_slope", "full")
    if not lengths or reference_slope is None or local_slope is None or fused_slope is None:
        return DOES_NOT_HOLD, "too few lengths were measured to fit the memory slopes"
    compared = max(lengths)
    measured_saving = (
        numbers["peak_bytes"]["full_reference"][str(compared)]
        / numbers["peak_bytes"]["local"][str(compared)]
    )
    summary = (
        f"written-out full attention's memory grows with slope {reference_slope:.2f}, the local "
        f"window's (w={numbers['window']}) with {local_slope:.2f}; at {compared:,} tokens local "
        f"needs {measured_saving:.1f} times less"
    )
    saving = measured_saving
    if compared < CLAIM_LENGTH:
        # The ratio of two power laws grows with the difference of their exponents.
        saving *= (CLAIM_LENGTH / compared) ** (reference_slope - local_slope)
        summary += f", {saving:.0f} times at {CLAIM_LENGTH:,} extrapolated along the slopes"
    if reference_slope < QUADRATIC_SLOPE or local_slope > LINEAR_SLOPE or saving < REQUIRED_SAVING:
        return DOES_NOT_HOLD, summary
    caveats = []
    if fused_slope < QUADRATIC_SLOPE:
        time_slope = _slope(numbers, "time_slope", "full")
        local_time = _slope(numbers, "time_slope", "local")
        caveats.append(
            f"the fused kernel ({numbers['kernel']}) keeps full attention's memory linear "
            f"(slope {fused_slope:.2f}); its time grows with slope {time_slope:.2f} against "
            f"local's {local_time:.2f} on {numbers['hardware']}"
        )
    if compared < CLAIM_LENGTH:
        caveats.append(
            f"written out up to {compared:,} tokens, short of the claim's {CLAIM_LENGTH:,} (the "
            f"full run and benchmarks/long_sequences.py reach 16k and 32k)"
        )
    if caveats:
        return HOLDS_WITH_CAVEAT, f"{summary}; but {'; '.join(caveats)}"
    return HOLDS, summary


# ---- measurement ----

FORMS = ("full", "full_reference", "local")


def reference_attention_bytes(heads: int, length: int, element_size: int) -> int:
    """The written-out path's scores and weights, both (H, T, T), alive at once."""
    return 2 * heads * length * length * element_size


def layer_forms(d_model: int, heads: int, window: int) -> dict[str, nn.Module]:
    """One encoder layer (feed-forward 4 D, no dropout) and two copies of its weights: written
    out, and with a centred window of ``window`` tokens."""
    full = TransformerEncoderLayer(d_model, heads, dim_feedforward=4 * d_model, dropout=0.0)
    reference = copy.deepcopy(full)
    reference.impl = "reference"
    local = TransformerEncoderLayer(
        d_model, heads, dim_feedforward=4 * d_model, dropout=0.0, window=window
    )
    local.load_state_dict(full.state_dict())
    return {"full": full.eval(), "full_reference": reference.eval(), "local": local.eval()}


def measure(settings: Settings) -> dict[str, Any]:
    device, d_model, heads = settings["device"], settings["d_model"], settings["heads"]
    window = settings["window"]
    torch.manual_seed(settings["seed"])
    forms = {name: layer.to(device) for name, layer in layer_forms(d_model, heads, window).items()}
    full_attention = forms["full"].self_attn
    assert isinstance(full_attention, MultiHeadAttention)  # seqlab's encoder layer's sub-layer
    seconds: dict[str, dict[str, float]] = {name: {} for name in forms}
    memory: dict[str, dict[str, int]] = {name: {} for name in forms}
    skipped: dict[str, int] = {}
    kernel = "unknown"
    lengths = list(settings["lengths"])
    for length in lengths:
        x = torch.randn(1, length, d_model, device=device)  # (B, T, D)
        needed = reference_attention_bytes(heads, length, x.element_size())
        # The written-out path runs only where its matrices fit with room to spare.
        fits = needed < available_bytes(device) / 2
        measured = {name: layer for name, layer in forms.items()
                    if name != "full_reference" or fits}  # fmt: skip
        if "full_reference" not in measured:
            skipped[str(length)] = needed
        kernel = attention_kernel(full_attention, x)
        for name, (took, peak) in time_and_peak_bytes(measured, x, settings, device=device).items():
            seconds[name][str(length)] = took
            memory[name][str(length)] = peak
        del x
    return {
        "hardware": hardware(device),
        "device": device,
        "lengths": lengths,
        "d_model": d_model,
        "heads": heads,
        "window": window,
        "kernel": kernel,
        "clock": clock(device)[0],
        "memory_method": MEMORY_METHOD["cuda" if device == "cuda" else "cpu"],
        "seconds": seconds,
        "peak_bytes": memory,
        "reference_skipped_needing_bytes": skipped,
        "memory_slope": {
            name: slopes(lengths, memory[name], 2) for name in forms if len(memory[name]) >= 2
        },  # fmt: skip
        "time_slope": {
            name: slopes(lengths, seconds[name], 2) for name in forms if len(seconds[name]) >= 2
        },  # fmt: skip
    }


# ---- figure ----

_CURVES = {
    "full": ("#9467bd", "full attention, fused kernel"),
    "full_reference": ("#7f7f7f", "full attention, written out"),
    "local": ("#2ca02c", "local window"),
}


def figure(numbers: Numbers) -> bytes:
    chart, axes = plt.subplots(1, 2, figsize=(11, 4))
    panels = (
        (axes[0], numbers["peak_bytes"], numbers["memory_slope"], 2**-20, "peak memory (MiB)"),
        (axes[1], numbers["seconds"], numbers["time_slope"], 1e3, "forward time, median (ms)"),
    )
    for axis, values, fitted, scale, ylabel in panels:
        for name in FORMS:
            measured = [n for n in numbers["lengths"] if str(n) in values[name]]
            if not measured:
                continue
            colour, label = _CURVES[name]
            if name in fitted:
                label += f" (slope {fitted[name]['all']:.2f})"
            ys = [values[name][str(n)] * scale for n in measured]
            axis.plot(measured, ys, "o-", color=colour, label=label)
        axis.set_xscale("log", base=2)
        axis.set_yscale("log")
        axis.set_xlabel("sequence length (batch of 1)")
        axis.set_ylabel(ylabel)
        axis.legend(fontsize=8)
    skipped = numbers["reference_skipped_needing_bytes"]
    if skipped:
        xs = [int(n) for n in skipped]
        axes[0].plot(xs, [b * 2**-20 for b in skipped.values()], "x", color="#7f7f7f",
                     label="written out: would need (not run)")  # fmt: skip
        axes[0].legend(fontsize=8)
    axes[0].set_title(
        f"One encoder layer, D={numbers['d_model']}, {numbers['heads']} heads, "
        f"window {numbers['window']}",
        fontsize=9,
    )
    axes[1].set_title(f"Time on {numbers['hardware']}", fontsize=9)
    return png_bytes(chart)


_BASE = {"heads": 4, "seed": 0, "warmup": 1, "repeats": 5}

CLAIM = Claim(
    number=11,
    id="local-attention-memory",
    statement=(
        "Full attention's memory is quadratic, and beyond about 10,000 tokens sparse or local "
        "attention is needed."
    ),
    design=(
        "One Transformer encoder layer (batch of one, forward without gradients) with full "
        "attention through the fused kernel, full attention written out (the scores and "
        "weights materialised), and a centred local window computed in blocks, all with the "
        "same weights; peak memory and median time at growing lengths and their log-log "
        "slopes. The written-out path is skipped where it would not fit in half the free "
        "memory. benchmarks/long_sequences.py runs the same measurement at 1k-32k tokens."
    ),
    rule=LOCAL_ATTENTION_RULE,
    verdict=local_attention_memory,
    measure=measure,
    figure=figure,
    quick={
        **_BASE,
        "d_model": 64,
        "window": 64,
        "lengths": [256, 512, 1024, 2048],
        "seconds_per_length": 1.0,
    },  # fmt: skip
    full={
        **_BASE,
        "d_model": 256,
        "window": 256,
        "lengths": [1024, 2048, 4096, 8192, 16384],
        "seconds_per_length": 20.0,
    },  # fmt: skip
)
