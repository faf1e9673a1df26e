"""Forecasting on ETTh1: test MSE of every family beside the baselines, and training time.

Each model is trained by the ``seqlab train forecasting`` command printed below its table, so any
figure can be reproduced by pasting that command. The settings follow the literature's ETTh1
protocol (12/4/4 months, z-scores fitted on train, MSE and MAE on the normalised scale):

- ``S-168-24``: univariate (oil temperature only), one week in, one day out;
- ``M-168-24``: all 7 variables in and out (MSE averaged over them), one week in, one day out;
- ``M-96-96``: all 7 variables, 96 hours in and out (the setting of DLinear and iTransformer).

The baselines (repeat the last value, the same hour a day and a week earlier, and a least-squares
linear map of the window) come from the same report, on the same test windows.

Usage: python benchmarks/forecasting.py [--settings S-168-24,M-168-24,M-96-96]
       [--models rnn,lstm,gru,transformer] [--out runs/forecasting-benchmark] [--reuse]
       [--train-threads 1] [--note TEXT] [--no-record]
Needs SEQLAB_DATA (the directory holding ett/ETTh1.csv).
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import append_section, markdown_table  # noqa: E402

SETTINGS = {
    "S-168-24": ("S", 168, 24),
    "M-168-24": ("M", 168, 24),
    "M-96-96": ("M", 96, 96),
}
MODELS = ("rnn", "lstm", "gru", "transformer")
BASELINE_ORDER = ("repeat", "seasonal_24", "seasonal_168", "linear")


def train_command(model: str, setting: str, out: Path, threads: int) -> list[str]:
    features, input_length, horizon = SETTINGS[setting]
    return ["seqlab", "train", "forecasting", "--model", model, "--preset", "cpu-small",
            "--features", features, "--input-length", str(input_length),
            "--horizon", str(horizon), "--set", f"train.threads={threads}",
            "--out", str(out), "--quiet"]  # fmt: skip


def train(command: list[str], out: Path, *, reuse: bool) -> float | None:
    """Train into ``out``; returns the wall-clock seconds, or None when a finished run is reused."""
    if reuse and (out / "metrics.json").exists():
        return None
    print(f"$ {shlex.join(command)}", flush=True)
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "seqlab", *command[1:]], check=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--settings", default=",".join(SETTINGS))
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--out", type=Path, default=Path("runs/forecasting-benchmark"))
    parser.add_argument("--reuse", action="store_true", help="measure finished runs again")
    parser.add_argument("--train-threads", type=int, default=1, help="threads for training")
    parser.add_argument("--note", default="", help="a sentence recorded with the results")
    parser.add_argument("--no-record", action="store_true", help="do not append to BENCHMARKS.md")
    args = parser.parse_args()
    settings = [s.strip() for s in args.settings.split(",") if s.strip()]
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    for name, known in (*((s, SETTINGS) for s in settings), *((m, MODELS) for m in models)):
        if name not in known:
            parser.error(f"unknown choice '{name}'; choose from {', '.join(known)}")

    sections, commands = [], []
    for setting in settings:
        rows, baselines = [], None
        for model in models:
            out = args.out / setting / model
            command = train_command(model, setting, out, args.train_threads)
            seconds = train(command, out, reuse=args.reuse)
            metrics = json.loads((out / "metrics.json").read_text())["metrics"]
            baselines = metrics["baselines"]
            rows.append([
                model, f"{metrics['mse']:.4f}", f"{metrics['mae']:.4f}",
                f"{metrics['mse_original']:.4g}",
                "reused" if seconds is None else f"{seconds / 60:.1f} min",
            ])  # fmt: skip
            commands.append(f"- {setting} {model}: `{shlex.join(command)}`")
            print(" | ".join([setting, *rows[-1]]), flush=True)
        for name in BASELINE_ORDER:
            if baselines and name in baselines:
                figures = baselines[name]
                rows.append([
                    f"baseline: {name}", f"{figures['mse']:.4f}", f"{figures['mae']:.4f}",
                    f"{figures['mse_original']:.4g}", "",
                ])  # fmt: skip
        header = ["model", "test MSE", "test MAE", "MSE, original units", "training"]
        sections.append(f"### {setting}\n\n" + markdown_table(header, rows))

    body = (
        "ETTh1 test split, every window; `--preset cpu-small`.\n\n"
        + "\n\n".join(sections)
        + "\n\nTraining commands:\n\n"
        + "\n".join(commands)
        + (f"\n\nNote: {args.note}" if args.note else "")
    )
    print(body)
    if not args.no_record:
        append_section("ETTh1 forecasting", body)


if __name__ == "__main__":
    main()
