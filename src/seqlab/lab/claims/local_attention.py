"""Claim 11: full attention's memory is quadratic; beyond about 10,000 tokens sparse or local
attention is needed.

Vaswani et al. 2017, sec. 4 (table 1): self-attention compares every pair of positions, so the
score and weight matrices softmax(Q K^T / sqrt(d_k)) hold H T^2 numbers per sequence; a local
window of w keys per query (Beltagy et al. 2020, Longformer) holds H T w. seqlab has no local or
sparse attention yet, so the comparison the claim needs cannot be made; what can be measured now
is the full attention half: the bytes of the weight matrix seqlab's reference attention path
materialises, at growing lengths, and the slope of their log-log fit (2 for quadratic).
"""

from __future__ import annotations

import math
from typing import Any

import torch

from seqlab.lab.claims.base import Claim, Settings
from seqlab.lab.claims.verdicts import LOCAL_ATTENTION_RULE, Numbers, local_attention_memory
from seqlab.lab.figures import plt, png_bytes
from seqlab.nn import scaled_dot_product_attention


def log_log_slope(lengths: list[int], values: list[float]) -> float:
    """Least-squares slope of log(value) against log(length)."""
    xs = [math.log(length) for length in lengths]
    ys = [math.log(value) for value in values]
    x_mean, y_mean = sum(xs) / len(xs), sum(ys) / len(ys)
    covariance = sum((x - x_mean) * (y - y_mean) for x, y in zip(xs, ys, strict=True))
    return covariance / sum((x - x_mean) ** 2 for x in xs)


def measure(settings: Settings) -> dict[str, Any]:
    heads, head_dim = settings["heads"], settings["head_dim"]
    generator = torch.Generator().manual_seed(0)
    full_bytes = {}
    for length in settings["lengths"]:
        q = torch.randn(1, heads, length, head_dim, generator=generator)  # (B, H, T, Dh)
        with torch.no_grad():
            weights = scaled_dot_product_attention(
                q, q, q, impl="reference", need_weights=True
            ).weights  # (B, H, T, T)
        assert weights is not None  # need_weights=True on the reference path returns them
        full_bytes[str(length)] = weights.numel() * weights.element_size()
        del weights
    lengths = list(settings["lengths"])
    return {
        "lengths": lengths,
        "full_attention_bytes": full_bytes,
        "full_attention_slope": log_log_slope(lengths, [full_bytes[str(n)] for n in lengths]),
        "local_attention_bytes": None,
    }


def figure(numbers: Numbers) -> bytes:
    chart, axis = plt.subplots(figsize=(6.4, 3.8))
    lengths = numbers["lengths"]
    mebibytes = [numbers["full_attention_bytes"][str(n)] / 2**20 for n in lengths]
    axis.plot(lengths, mebibytes, "o-", color="#9467bd",
              label=f"full attention (slope {numbers['full_attention_slope']:.2f})")  # fmt: skip
    axis.set_xscale("log", base=2)
    axis.set_yscale("log")
    axis.set_xlabel("sequence length")
    axis.set_ylabel("attention weights (MiB, one sequence)")
    axis.set_title("Full attention's weight matrix; no local attention to compare yet")
    axis.legend(fontsize=8)
    return png_bytes(chart)


CLAIM = Claim(
    number=11,
    id="local-attention-memory",
    statement=(
        "Full attention's memory is quadratic, and beyond about 10,000 tokens sparse or local "
        "attention is needed."
    ),
    design=(
        "Needs peak memory at 16k tokens for full attention against a local window; seqlab has "
        "no local attention yet, so the verdict is not yet measurable. Measured meanwhile: the "
        "bytes of the (H, T, T) attention-weight matrix seqlab's reference attention path "
        "builds for one sequence of random queries, at growing lengths, and its log-log slope."
    ),
    rule=LOCAL_ATTENTION_RULE,
    verdict=local_attention_memory,
    measure=measure,
    figure=figure,
    quick={"heads": 4, "head_dim": 16, "lengths": [128, 256, 512, 1024]},
    full={"heads": 8, "head_dim": 64, "lengths": [256, 512, 1024, 2048, 4096]},
)
