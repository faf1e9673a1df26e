"""Median latencies of several calls measured in alternation, for comparisons on a noisy machine,
and where two latency curves cross.

On a shared machine the speed drifts (another process, the clock, the caches), so timing one call
for a while and then the other would put the drift into their ratio. Here each round times every
call once, in turn, and each call's latency is the median over rounds (robust to the occasional
interrupted round); so a slow stretch lands on all of them alike, and their ratio is measured in
the same run. Rounds stop after ``repeats`` or once ``budget_seconds`` are spent, but never
before ``min_repeats``, so a slow long-sequence point stays affordable without becoming a single
sample. On a GPU each call waits for the device (short_sequences.median_seconds does the same).

The clock: on a CPU with one torch thread every operator runs on the calling thread, so the
process's CPU time (time.process_time) is the call's latency on an otherwise idle machine, and
other processes sharing the cores do not inflate it (they still share caches and memory
bandwidth); with more threads, or on a GPU, CPU time is not latency and the wall clock is used.

Two curves a(n) and b(n) cross where their ratio r = a / b passes 1. Between two measured lengths
n1 < n2 with r on either side of 1, the crossing is interpolated linearly in log n and log r
(latencies are close to power laws in n, straight lines on log-log axes):
n* = exp(log n1 + (log n2 - log n1) * (0 - log r1) / (log r2 - log r1)).
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable, Mapping

import torch

MIN_REPEATS = 3  # the fewest samples whose median still drops one outlier


def clock(device: str) -> tuple[str, Callable[[], float]]:
    """The clock latencies are read from (module docstring), named for the report."""
    if device != "cuda" and torch.get_num_threads() == 1:
        return "process CPU time (one torch thread)", time.process_time
    return "wall clock", time.perf_counter


def _timed(call: Callable[[], object], device: str) -> float:
    now = clock(device)[1]
    if device == "cuda":
        torch.cuda.synchronize()
    start = now()
    call()
    if device == "cuda":
        torch.cuda.synchronize()
    return now() - start


def interleaved_medians(
    calls: Mapping[str, Callable[[], object]],
    *,
    repeats: int,
    warmup: int,
    device: str,
    budget_seconds: float = float("inf"),
    min_repeats: int = MIN_REPEATS,
) -> dict[str, float]:
    """Median seconds of each call over rounds that run every call once, after ``warmup``
    untimed rounds."""
    for _ in range(warmup):
        for call in calls.values():
            _timed(call, device)
    samples: dict[str, list[float]] = {name: [] for name in calls}
    rounds, spent = 0, 0.0
    while rounds < repeats and (rounds < min_repeats or spent < budget_seconds):
        for name, call in calls.items():
            seconds = _timed(call, device)
            samples[name].append(seconds)
            spent += seconds
        rounds += 1
    return {name: statistics.median(values) for name, values in samples.items()}


def crossings(lengths: list[int], ratios: list[float]) -> list[dict[str, float | bool]]:
    """Every length where ``ratios`` (a / b at ``lengths``, ascending) passes 1, interpolated as
    in the module docstring: ``{"length": n*, "rising": True}`` where a becomes the slower one
    (r goes from below 1 to 1 or above), ``"rising": False`` where it stops being slower."""
    found: list[dict[str, float | bool]] = []
    points = list(zip(lengths, ratios, strict=True))
    for (n1, r1), (n2, r2) in zip(points, points[1:], strict=False):
        if (r1 < 1.0) == (r2 < 1.0):
            continue
        log_n1, log_r1, log_r2 = math.log(n1), math.log(r1), math.log(r2)
        fraction = (0.0 - log_r1) / (log_r2 - log_r1)
        length = math.exp(log_n1 + (math.log(n2) - log_n1) * fraction)
        found.append({"length": length, "rising": r1 < 1.0})
    return found
