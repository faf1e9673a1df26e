"""How a cost grows with the sequence length, shared by the claims that measure it (4, 7, 11).

- ``log_log_slope``: the least-squares slope of log(cost) against log(length): 1 for a cost
  linear in the length, 2 for a quadratic one; ``slopes`` fits it over every measured length and
  over the longest few (where the length-dependent part dominates the fixed costs).
- ``attention_kernel``: which scaled_dot_product_attention backend torch picks for attention
  over x (or "reference" on seqlab's written-out path), named in the reports because a flash
  kernel keeps attention's memory linear.
- ``time_and_peak_bytes``: every layer's median time (alternating rounds,
  interleaved_timing.interleaved_medians) and peak bytes (peak_memory.peak_bytes) on one input.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from functools import partial
from typing import Any

import torch
from torch import nn

from seqlab.lab.claims.interleaved_timing import interleaved_medians
from seqlab.lab.claims.peak_memory import peak_bytes
from seqlab.nn import MultiHeadAttention

__all__ = ["attention_kernel", "log_log_slope", "slopes", "time_and_peak_bytes"]


def log_log_slope(lengths: list[int], values: list[float]) -> float:
    """Least-squares slope of log(value) against log(length)."""
    xs = [math.log(length) for length in lengths]
    ys = [math.log(value) for value in values]
    x_mean, y_mean = sum(xs) / len(xs), sum(ys) / len(ys)
    covariance = sum((x - x_mean) * (y - y_mean) for x, y in zip(xs, ys, strict=True))
    return covariance / sum((x - x_mean) ** 2 for x in xs)


def slopes(lengths: list[int], values: Mapping[str, float], tail_points: int) -> dict[str, float]:
    """The slope over every length measured (``values`` by str(length)) and over the last
    ``tail_points`` of them."""
    measured = [n for n in lengths if str(n) in values]
    ys = [values[str(n)] for n in measured]
    return {
        "all": log_log_slope(measured, ys),
        "tail": log_log_slope(measured[-tail_points:], ys[-tail_points:]),
    }


def attention_kernel(attention: MultiHeadAttention, x: torch.Tensor) -> str:
    """The kernel ``attention(x)`` runs: "reference" for seqlab's written-out path, else the
    scaled_dot_product_attention backend torch picks for these shapes (no mask)."""
    if attention.impl == "reference":
        return "reference"
    B, T, _ = x.shape
    q = x.new_empty(B, attention.num_heads, T, attention.head_dim)  # (B, H, T, Dh)
    try:
        from torch.nn.attention import SDPBackend

        return SDPBackend(torch._fused_sdp_choice(q, q, q)).name
    except (AttributeError, RuntimeError, ValueError):  # a torch without the (private) query
        return "unknown"


def time_and_peak_bytes(
    layers: Mapping[str, nn.Module], x: torch.Tensor, settings: Mapping[str, Any], *, device: str
) -> dict[str, tuple[float, int]]:
    """name -> (median seconds of layer(x), peak bytes of one call), without gradients; the
    rounds follow settings' "repeats", "warmup" and "seconds_per_length"."""
    with torch.no_grad():
        timings = interleaved_medians(
            {name: partial(layer, x) for name, layer in layers.items()},
            repeats=settings["repeats"],
            warmup=settings["warmup"],
            device=device,
            budget_seconds=settings["seconds_per_length"],
        )
        return {name: (timings[name], peak_bytes(partial(layer, x), device=device))
                for name, layer in layers.items()}  # fmt: skip
