"""Long inputs: peak memory and time of one Transformer encoder layer, full against local attention.

One encoder layer (D=256, 4 heads, feed-forward 1024, batch of one, forward without gradients)
at 1k, 4k, 16k and 32k tokens in three forms with the same weights: full attention through the
fused kernel, full attention written out (scores and weights materialised, as the textbook
computes them) and a centred local window of 256 tokens computed in blocks
(seqlab.nn.local_attention). The measurement is claim 11's (seqlab.lab.claims.local_attention):
peak bytes of live tensors and interleaved median times, with log-log slopes. The written-out
path is skipped where its two (H, T, T) matrices would not fit in half the free memory; the
bytes it would need are printed instead.

Target: at 16k tokens the local layer uses at least 10 times less memory than full attention
written out, and its memory grows linearly (fitted slope near 1).

Usage: python benchmarks/long_sequences.py [--lengths 1024,4096,16384,32768] [--window 256]
       [--threads 1] [--no-record]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import append_section, markdown_table, positive_int  # noqa: E402
from seqlab.lab.claims import local_attention  # noqa: E402

TARGET_LENGTH = 16384


def _lengths(text: str) -> list[int]:
    try:
        lengths = sorted({int(part) for part in text.split(",") if part.strip()})
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"{text!r} must be comma-separated integers") from error
    if len(lengths) < 2 or lengths[0] < 2:
        raise argparse.ArgumentTypeError(f"{text!r} needs at least two lengths of 2 or more")
    return lengths


def _mib(value: float | None) -> str:
    return "-" if value is None else f"{value / 2**20:,.0f}"


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value * 1e3:,.1f}"


def table(numbers: dict) -> str:
    forms = local_attention.FORMS
    header = ["tokens"] + [f"{name} MiB" for name in forms] + [f"{name} ms" for name in forms]
    header.append("full written out / local memory")
    rows = []
    for length in numbers["lengths"]:
        key = str(length)
        memory = {name: numbers["peak_bytes"][name].get(key) for name in forms}
        seconds = {name: numbers["seconds"][name].get(key) for name in forms}
        skipped = numbers["reference_skipped_needing_bytes"].get(key)
        memory_cells = [_mib(memory[name]) for name in forms]
        if skipped is not None:
            memory_cells[forms.index("full_reference")] = f"needs {_mib(skipped)}, not run"
        reference = memory["full_reference"] or skipped
        saving = f"{reference / memory['local']:.1f}x" if reference and memory["local"] else "-"
        rows.append([f"{length:,}", *memory_cells, *(_ms(seconds[n]) for n in forms), saving])
    return markdown_table(header, rows)


def summary(numbers: dict) -> str:
    slopes = numbers["memory_slope"]
    time_slopes = numbers["time_slope"]
    lines = [
        "- memory slope (log-log, all lengths): "
        + ", ".join(f"{name} {slopes[name]['all']:.2f}" for name in slopes),
        "- time slope (log-log, all lengths): "
        + ", ".join(f"{name} {time_slopes[name]['all']:.2f}" for name in time_slopes),
        f"- full attention's fused kernel here: {numbers['kernel']}; timed on "
        f"{numbers['clock']}; memory: {numbers['memory_method']}",
    ]
    key = str(TARGET_LENGTH)
    local = numbers["peak_bytes"]["local"].get(key)
    reference = numbers["peak_bytes"]["full_reference"].get(key) or numbers[
        "reference_skipped_needing_bytes"
    ].get(key)
    if local and reference:
        met = "met" if reference / local >= local_attention.REQUIRED_SAVING else "not met"
        lines.append(
            f"- at {TARGET_LENGTH:,} tokens local needs {reference / local:.1f} times less memory "
            f"than full attention written out (target {local_attention.REQUIRED_SAVING:g}x: "
            f"{met}); the fused kernel, which never holds the T x T matrix, needs "
            f"{numbers['peak_bytes']['full'].get(key, 0) / local:.2f} times local's"
        )
    verdict, reason = local_attention.local_attention_memory(numbers)
    lines.append(f"- claim 11 on these numbers: {verdict}: {reason}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lengths", type=_lengths, default=[1024, 4096, 16384, 32768])
    parser.add_argument("--window", type=positive_int, default=256)
    parser.add_argument("--d-model", type=positive_int, default=256)
    parser.add_argument("--heads", type=positive_int, default=4)
    parser.add_argument("--repeats", type=positive_int, default=3)
    parser.add_argument("--threads", type=positive_int, default=1)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--no-record", action="store_true", help="print only")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    settings = {
        "device": args.device,
        "d_model": args.d_model,
        "heads": args.heads,
        "window": args.window,
        "lengths": args.lengths,
        "seed": 0,
        "warmup": 1,
        "repeats": args.repeats,
        "seconds_per_length": 0.0,
    }
    numbers = local_attention.measure(settings)
    body = (
        f"One encoder layer, D={args.d_model}, {args.heads} heads, feed-forward "
        f"{4 * args.d_model}, batch 1, forward without gradients; local window {args.window} "
        f"(centred).\n\n{table(numbers)}\n\n{summary(numbers)}\n"
    )
    print(body)
    if not args.no_record:
        append_section("Long sequences: full against local attention", body)


if __name__ == "__main__":
    main()
