"""``seqlab eval DIR``: evaluate a model directory on a split; a table, or one JSON object."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "eval",
        help="evaluate a trained model directory",
        description=(
            "Evaluate the model in DIR on a split of its task's data. --json prints one JSON "
            "object whose top-level keys are the metric names (accuracy, mse, loss, ...)."
        ),
    )
    parser.add_argument("model_dir", type=Path, metavar="DIR", help="a model directory")
    parser.add_argument("--split", default="test", help="which split (default: test)")
    parser.add_argument(
        "--data", type=Path, help="evaluate on this labelled file instead (as that split)"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(command=run)


def run(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from seqlab.tasks.runner import evaluate_split, load_trained

    task, model, config = load_trained(args.model_dir)
    if args.data is not None:
        task = task.with_eval_file(args.data, split=args.split)
    metrics = evaluate_split(task, model, args.split, detail=True)
    if args.json:
        print(json.dumps(metrics, indent=2))
        return 0
    family = config["model"]["family"]
    table = Table(title=f"{args.model_dir}: {config['task']} / {family}, split {args.split}")
    table.add_column("metric")
    table.add_column("value", justify="right")
    details = {}
    for name, value in metrics.items():
        if isinstance(value, float):
            table.add_row(name, f"{value:.4f}")
        elif isinstance(value, int):
            table.add_row(name, str(value))
        else:
            details[name] = value
    console = Console()
    console.print(table)
    for name, value in details.items():
        console.print(f"{name}: {json.dumps(value)}")
    return 0
