"""Transformer-XL's segment memory on Tiny Shakespeare: the same small model with and without it.

A decoder-only Transformer with relative positions (``model.positions=relative``; 2 layers,
2 heads, 64 wide, context 32 characters, no dropout) is trained at character level for
``--steps`` steps of 16 segments, once with ``model.memory_length=M`` (each layer also attends to
the last M states of the previous segment, kept without gradient; training reads contiguous
segments with the memory carried) and once with 0 (random windows, the plain model), for every
seed, through ``seqlab train lm`` itself. Reported: the final model's loss on the validation text
(the last 10%, 111,540 characters) in nats per character, per seed and as a mean. As in Dai et
al. (2019), each model is evaluated the way it reads text: the model with memory as one stream
with its memory carried, the plain one on windows read from their start (seqlab.tasks.lm.task).

Usage: python benchmarks/segment_memory.py [--memory 32] [--steps 2000] [--seeds 0,1,2]
       [--out-root runs/bench-segment-memory] [--no-record]
Needs SEQLAB_DATA (the directory holding tinyshakespeare/).
"""

from __future__ import annotations

import argparse
import json
import shlex
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import append_section, markdown_table, parse_seeds, positive_int  # noqa: E402

MODEL = {"num_layers": 2, "num_heads": 2, "d_model": 64, "context": 32, "dropout": 0.0,
         "positions": "relative"}  # fmt: skip


def train_command(memory: int, seed: int, steps: int, out: Path) -> list[str]:
    settings = {**{f"model.{key}": value for key, value in MODEL.items()},
                "model.memory_length": memory, "train.batch_size": 16, "train.device": "cpu",
                "train.eval_every": 500, "train.seed": seed, "train.threads": 1}  # fmt: skip
    sets = [arg for key, value in settings.items() for arg in ("--set", f"{key}={value}")]
    return ["seqlab", "train", "lm", "--model", "transformer", "--steps", str(steps), *sets,
            "--quiet", "--out", str(out)]  # fmt: skip


def final_loss(out: Path) -> tuple[float, float]:
    record = json.loads((out / "metrics.json").read_text())
    return float(record["metrics"]["loss"]), float(record["training"]["seconds"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--memory", type=positive_int, default=32, help="memory length M (32)")
    parser.add_argument("--steps", type=positive_int, default=2000)
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--out-root", type=Path, default=Path("runs/bench-segment-memory"))
    parser.add_argument("--no-record", action="store_true", help="print only")
    args = parser.parse_args()
    seeds = parse_seeds(parser, args.seeds)
    rows, commands = [], []
    for memory in (args.memory, 0):
        losses, seconds = [], []
        for seed in seeds:
            out = args.out_root / f"memory-{memory}-seed-{seed}"
            command = train_command(memory, seed, args.steps, out)
            commands.append(f"- `{shlex.join(command)}`")
            if not (out / "metrics.json").exists():
                print(f"$ {shlex.join(command)}", flush=True)
                subprocess.run([sys.executable, "-m", "seqlab", *command[1:]], check=True)
            loss, took = final_loss(out)
            losses.append(loss)
            seconds.append(took)
        spread = max(losses) - min(losses)
        rows.append([f"M = {memory}" if memory else "no memory (M = 0)",
                     f"{statistics.mean(losses):.3f}", f"{spread:.3f}",
                     ", ".join(f"{loss:.3f}" for loss in losses),
                     f"{statistics.mean(seconds):.0f} s"])  # fmt: skip
    gain = float(rows[1][1]) - float(rows[0][1])
    body = (
        f"Tiny Shakespeare, a relative-position Transformer (2 x 64, 2 heads, context 32), "
        f"{args.steps} steps of 16 segments, seeds {args.seeds}, one thread per run. Validation "
        f"loss in nats per character (each model read as it reads text: with memory as one "
        f"stream, without on windows).\n\n"
        + markdown_table(["model", "mean loss", "spread", "seeds", "training, mean"], rows)
        + f"\n\nMemory lowers the loss by {gain:.3f} nats per character.\n\nCommands:\n\n"
        + "\n".join(commands)
        + "\n"
    )
    print(body)
    if not args.no_record:
        append_section("Transformer-XL segment memory", body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
