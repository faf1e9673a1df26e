"""Speed of seqlab's blocks against torch.nn on this machine: forward plus backward, CPU.

Compares, interleaved in one run (so a noisy shared machine affects all alike):
- seqlab LSTM / GRU, fused path and reference path, against torch.nn.LSTM / GRU
  (batch 32, length 128, input and hidden width 256);
- seqlab TransformerEncoderLayer, fused and reference, against torch.nn.TransformerEncoderLayer
  (batch 32, length 128, d_model 256, 8 heads, feed-forward 1024, training mode).
Target: fused paths within 1.10x of torch.nn. The reference path's cost is reported, not hidden.

Usage: python benchmarks/blocks.py [--repeats 15] [--threads 2] [--no-record]
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import seqlab.nn as snn  # noqa: E402
from _report import append_section, interleaved_medians  # noqa: E402

BATCH, LENGTH, WIDTH = 32, 128, 256
HEADS, FEEDFORWARD = 8, 1024


def forward_backward(module: torch.nn.Module, x: torch.Tensor) -> Callable[[], None]:
    def step() -> None:
        module.zero_grad(set_to_none=True)
        output = module(x)
        if isinstance(output, tuple):
            output = output[0]
        output.sum().backward()

    return step


def recurrent_candidates(kind: str) -> dict[str, Callable[[], None]]:
    torch_class = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[kind]
    seqlab_class = {"lstm": snn.LSTM, "gru": snn.GRU}[kind]
    reference = torch_class(WIDTH, WIDTH, batch_first=True)
    fused = seqlab_class(WIDTH, WIDTH, impl="fused")
    readable = seqlab_class(WIDTH, WIDTH, impl="reference")
    fused.load_state_dict(reference.state_dict())
    readable.load_state_dict(reference.state_dict())
    x = torch.randn(BATCH, LENGTH, WIDTH)  # (B, T, F)
    return {
        f"torch.nn.{kind.upper()}": forward_backward(reference, x),
        f"seqlab {kind.upper()} fused": forward_backward(fused, x),
        f"seqlab {kind.upper()} reference": forward_backward(readable, x),
    }


def encoder_candidates() -> dict[str, Callable[[], None]]:
    reference = torch.nn.TransformerEncoderLayer(
        WIDTH, HEADS, dim_feedforward=FEEDFORWARD, dropout=0.1, batch_first=True
    ).train()
    fused = snn.TransformerEncoderLayer.from_torch(reference, impl="fused").train()
    readable = snn.TransformerEncoderLayer.from_torch(reference, impl="reference").train()
    x = torch.randn(BATCH, LENGTH, WIDTH)  # (B, T, D)
    return {
        "torch.nn.TransformerEncoderLayer": forward_backward(reference, x),
        "seqlab encoder layer fused": forward_backward(fused, x),
        "seqlab encoder layer reference": forward_backward(readable, x),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15, help="timed rounds (default 15)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    parser.add_argument("--no-record", action="store_true", help="do not append to BENCHMARKS.md")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    groups = {
        "LSTM": recurrent_candidates("lstm"),
        "GRU": recurrent_candidates("gru"),
        "Encoder layer": encoder_candidates(),
    }
    rows = [
        "| block | path | median ms (fwd+bwd) | ratio to torch.nn | target |",
        "|---|---|---:|---:|---|",
    ]
    print(f"batch {BATCH}, length {LENGTH}, width {WIDTH}; {args.repeats} interleaved rounds")
    for group, candidates in groups.items():
        medians = interleaved_medians(candidates, repeats=args.repeats)
        baseline = next(iter(medians.values()))
        for name, seconds in medians.items():
            ratio = seconds / baseline
            target = ""
            if "fused" in name:
                target = "<= 1.10 " + ("met" if ratio <= 1.10 else "MISSED")
            rows.append(f"| {group} | {name} | {seconds * 1e3:.1f} | {ratio:.2f}x | {target} |")
            print(f"{group:14s} {name:36s} {seconds * 1e3:8.1f} ms  {ratio:5.2f}x  {target}")
    if not args.no_record:
        append_section(
            "Blocks: forward+backward on CPU",
            f"Batch {BATCH}, length {LENGTH}, width {WIDTH} (encoder: {HEADS} heads, "
            f"feed-forward {FEEDFORWARD}, training mode), {args.repeats} interleaved rounds, "
            f"medians.\n\n" + "\n".join(rows),
        )


if __name__ == "__main__":
    main()
