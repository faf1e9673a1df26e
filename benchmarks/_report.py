"""Shared by the benchmark scripts: timing with interleaved repetitions, the machine's description,
and appending a dated section with the exact command to BENCHMARKS.md."""

from __future__ import annotations

import argparse
import datetime as _dt
import math
import os
import platform
import shlex
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

BENCHMARKS_FILE = Path(__file__).resolve().parent.parent / "BENCHMARKS.md"


def machine_description() -> str:
    """One line: CPU model, cores torch uses, memory, torch version."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = ""
    try:
        pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        memory = f", {pages / 2**30:.0f} GiB memory"
    except (ValueError, OSError, AttributeError):
        pass
    device = "CPU"
    if torch.cuda.is_available():
        device = f"GPU {torch.cuda.get_device_name(0)}"
    return (
        f"{device}; {cpu}; {os.cpu_count()} cores, torch threads {torch.get_num_threads()}"
        f"{memory}; Python {platform.python_version()}, torch {torch.__version__}"
    )


def interleaved_medians(
    candidates: dict[str, Callable[[], None]], *, repeats: int, warmup: int = 2
) -> dict[str, float]:
    """Median seconds per call for each candidate, measured round-robin.

    Running the candidates in turn inside each repetition (rather than one after another) spreads
    the noise of a shared machine evenly over all of them, so their ratios are fair.
    """
    for function in candidates.values():
        for _ in range(warmup):
            function()
    samples: dict[str, list[float]] = {name: [] for name in candidates}
    names = list(candidates)
    for repeat in range(repeats):
        # Rotate the order so no candidate always runs right after the same neighbour.
        order = names[repeat % len(names) :] + names[: repeat % len(names)]
        for name in order:
            start = time.perf_counter()
            candidates[name]()
            samples[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in samples.items()}


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


def append_section(title: str, body: str) -> None:
    """Append a dated section with the exact command and the machine to BENCHMARKS.md."""
    command = " ".join(shlex.quote(part) for part in [Path(sys.executable).name, *sys.argv])
    date = _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    section = (
        f"\n## {title} ({date})\n\n"
        f"- command: `{command}`\n"
        f"- machine: {machine_description()}\n\n"
        f"{body.rstrip()}\n"
    )
    if not BENCHMARKS_FILE.exists():
        BENCHMARKS_FILE.write_text(
            "# Benchmarks\n\nEvery figure here was printed by a script under `benchmarks/`, "
            "which appends its results with the exact command, the machine and the date.\n"
        )
    with BENCHMARKS_FILE.open("a") as handle:
        handle.write(section)


def parse_seeds(parser: argparse.ArgumentParser, text: str) -> list[int]:
    """The seeds of a ``--seeds 0,1,2`` option: distinct integers, at least one; otherwise the
    parser's usage error."""
    try:
        seeds = [int(seed) for seed in text.split(",") if seed.strip()]
    except ValueError:
        parser.error(f"--seeds '{text}' must be comma-separated integers, e.g. 0,1,2")
    if not seeds or len(set(seeds)) != len(seeds):
        parser.error(f"--seeds '{text}' must name at least one seed, each once")
    return seeds


def positive_int(text: str) -> int:
    """An argparse type: an integer of at least 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} must be at least 1")
    return value


def positive_number(text: str) -> float:
    """An argparse type: a finite number above 0 (seconds, rates)."""
    value = float(text)
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"{text} must be a positive number")
    return value
