"""``seqlab eval DIR``: evaluate a model directory on a split; a table, or one JSON object.

Which data checks apply. Without ``--data``, the split is cut from the training data named in
config.json (held-out rows of the training file, or a named data set's split), so that data
must be the data the run trained on: its checksum is compared with metrics.json's
``data_checksum``, and a difference (or a metrics.json that cannot say) is refused, or only
warned about with ``--allow-changed-data``; a changed training file would shift the held-out
rows and could put training rows into the evaluated split. With ``--data FILE``, the split is
FILE itself, read with the model's tokenizer, labels or scaler from the directory, and no rows
are cut from the training data: no checksum applies, and directories whose training files are
gone (or whose config.json names them relative to another folder) still evaluate.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.table import Table


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
        "--data",
        type=Path,
        help="evaluate on this file instead, as that split (a labelled file for classifiers; "
        "for forecasters a CSV with the model's columns, every window of it)",
    )
    parser.add_argument(
        "--source",
        type=Path,
        help="translation: evaluate on these source sentences, one a line (plain or gzip), "
        "with --reference",
    )
    parser.add_argument(
        "--reference",
        type=Path,
        help="translation: the reference translations of --source, aligned by line",
    )
    parser.add_argument(
        "--beam",
        type=int,
        metavar="N",
        help="translation: beam size (1: greedy search; default: the model's data.beam_size)",
    )
    parser.add_argument(
        "--allow-changed-data",
        action="store_true",
        help="evaluate a split of the training data even when that data changed since training "
        "(its checksum differs from the one in metrics.json): a warning instead of an error",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(command=run)


def run(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from seqlab.errors import SeqlabError
    from seqlab.model_dir import ModelDir
    from seqlab.tasks.directory_checks import check_training_data
    from seqlab.tasks.runner import evaluate_split, load_trained
    from seqlab.utils.console import output_console

    if (args.source is None) != (args.reference is None):
        raise SeqlabError("--source and --reference go together: give both files, or neither")
    if args.source is not None and args.data is not None:
        raise SeqlabError("give --data FILE or --source with --reference, not both")
    task, model, _ = load_trained(args.model_dir)
    if args.beam is not None:
        task = task.with_beam_size(args.beam)
    if args.source is not None:
        # As with --data: the split is the user's files, so no checksum applies.
        task = task.with_eval_pair(args.source, args.reference, split=args.split)
    elif args.data is not None:
        # The split is the user's file, not rows cut from the training data: no checksum check.
        task = task.with_eval_file(args.data, split=args.split)
    else:
        allowed = args.allow_changed_data
        for warning in check_training_data(task, ModelDir(args.model_dir), allow_changed=allowed):
            print(f"seqlab: warning: {warning}", file=sys.stderr)
    metrics = evaluate_split(task, model, args.split, detail=True)
    notes = Console(stderr=True)  # standard error, so that --json output stays one object
    for line in task.data_notes():
        notes.print(line, markup=False, highlight=False, soft_wrap=True)
    if args.json:
        print(json.dumps(metrics, indent=2, allow_nan=False))  # NaN is not JSON: refuse it
        return 0
    family = task.run.model.family
    table = Table(title=f"{args.model_dir}: {task.run.task} / {family}, split {args.split}")
    table.add_column("metric")
    table.add_column("value", justify="right")
    details = {}
    for name, value in metrics.items():
        if isinstance(value, float):
            table.add_row(_LABELS.get(name, name), f"{value:.4f}")
        elif isinstance(value, int):
            table.add_row(_LABELS.get(name, name), str(value))
        else:
            details[name] = value
    console = output_console()
    console.print(table)
    baselines = details.pop("baselines", None)
    if isinstance(baselines, dict) and baselines:
        console.print(_comparison_table(metrics, baselines, family))
    residual = details.pop("residual", None)
    if isinstance(residual, dict) and "summary" in residual:
        console.print(str(residual["summary"]), markup=False, highlight=False)
    if details.pop("combination", None) is not None:
        from seqlab.tasks.forecasting.report import combination_summary

        for line in combination_summary(metrics):
            console.print(line, markup=False, highlight=False)
    best = details.pop("best_baseline", None)
    if isinstance(best, dict) and "verdict" in best:
        console.print(str(best["verdict"]), markup=False, highlight=False)
    for name, reason in (details.pop("baselines_left_out", None) or {}).items():
        console.print(f"{name} baseline left out: {reason}", markup=False, highlight=False)
    intervals = details.pop("intervals", None)
    if isinstance(intervals, dict) and intervals.get("levels"):
        console.print(_interval_table(intervals))
    per_horizon = details.pop("per_horizon", None)
    if isinstance(per_horizon, dict) and per_horizon:
        console.print(_per_step_table(per_horizon))
    data = details.pop("data", None)
    if isinstance(data, dict):
        for line in data.get("fixes", []):
            console.print(f"data: {line}", markup=False, highlight=False)
    signatures = details.pop("signatures", None)
    if isinstance(signatures, dict):
        for name, signature in signatures.items():
            console.print(f"signature of {name}: {signature}", markup=False, highlight=False)
    examples = details.pop("examples", None)
    if isinstance(examples, list):
        for number, example in enumerate(examples, start=1):
            for field, text in example.items():
                console.print(f"example {number} {field}: {text}", markup=False, highlight=False)
    for name, value in details.items():
        console.print(f"{name}: {json.dumps(value)}")
    return 0


# Metrics whose name alone could mislead, shown with what they are.
_LABELS = {
    "bleu": "bleu (lowercased, 13a-tokenised)",
    "sacrebleu": "sacrebleu (cased, detokenised)",
}


def _comparison_table(
    metrics: dict[str, Any], baselines: dict[str, dict[str, float]], family: str
) -> Table:
    """The model and each baseline on the same windows, one row each."""
    from rich.table import Table

    names = [name for name in next(iter(baselines.values())) if name in metrics]
    table = Table(title="the model beside the baselines, on the same windows")
    table.add_column("forecaster")
    for name in names:
        table.add_column(name, justify="right")
    table.add_row(f"model ({family})", *(f"{metrics[name]:.4f}" for name in names))
    for baseline, values in baselines.items():
        table.add_row(baseline, *(f"{values[name]:.4f}" for name in names))
    return table


def _interval_table(intervals: dict[str, Any]) -> Table:
    """Each quantile's coverage against its level, and the outer interval's coverage and score
    (seqlab.tasks.forecasting.quantiles.IntervalSums)."""
    from rich.table import Table

    table = Table(title="prediction intervals (share of true values at or below each quantile)")
    table.add_column("quantile")
    table.add_column("coverage", justify="right")
    for level in intervals["levels"]:
        table.add_row(f"{level:g}", f"{intervals[f'coverage_q{level:g}']:.3f}")
    if "interval_score" in intervals:
        table.add_row(
            f"interval ({intervals['interval_nominal']:.0%} nominal)",
            f"{intervals['interval_coverage']:.3f}",
        )
        table.add_row("interval score", f"{intervals['interval_score']:.4f}")
    return table


def _per_step_table(per_step: dict[str, list[float]]) -> Table:
    """One row per horizon step (1 is one step ahead)."""
    from rich.table import Table

    table = Table(title="per horizon step")
    table.add_column("step", justify="right")
    for name in per_step:
        table.add_column(name, justify="right")
    steps = len(next(iter(per_step.values())))
    for step in range(steps):
        table.add_row(str(step + 1), *(f"{values[step]:.4f}" for values in per_step.values()))
    return table
