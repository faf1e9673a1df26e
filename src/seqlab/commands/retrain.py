"""``seqlab retrain DIR --data new.csv --out NEW_DIR``: continue a forecaster's training on its
old data plus new rows, and compare the old and the new model on the newest rows, which neither
trained on (seqlab.tasks.forecasting.retrain holds the rules). DIR is only read."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from seqlab.commands.options import add_progress_options, progress_kind
from seqlab.model_dir import METRICS, TRAINING_DATA


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "retrain",
        help="continue training a forecasting model on new rows; compare old and new on a hold-out",
        description=(
            "Continue training the model in DIR from its weights, on its training data followed "
            "by the new rows of --data (rows that repeat the training data are dropped; the "
            "rest must follow its last timestamp on the same step). The old scaler is kept, so "
            "every input means what the weights learned. The newest --holdout rows are held out "
            "and the --val-rows before them choose the checkpoint; the old and the new model "
            "are then evaluated on the same hold-out windows (mse and mae, normalised and in "
            "the data's units). NEW_DIR is a complete model directory (with the joined series "
            f"as {TRAINING_DATA} and the comparison in {METRICS}), built in a temporary "
            "folder beside it and renamed at the end; DIR is never written to."
        ),
    )
    parser.add_argument("model_dir", type=Path, metavar="DIR", help="a forecasting model directory")
    parser.add_argument(
        "--data", type=Path, required=True, metavar="CSV", help="new rows, with the model's columns"
    )
    parser.add_argument(
        "--out", type=Path, required=True, metavar="NEW_DIR", help="the new model directory"
    )
    parser.add_argument(
        "--steps",
        type=int,
        help="training steps (default: the old run's step budget, at most 500)",
    )
    parser.add_argument(
        "--holdout",
        type=int,
        metavar="ROWS",
        help="newest rows held out from both models (default: 7 x horizon, 168 rows for the "
        "default horizon of 24)",
    )
    parser.add_argument(
        "--val-rows",
        type=int,
        metavar="ROWS",
        help="rows before the hold-out that choose the checkpoint (default: as many as --holdout)",
    )
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a training setting, e.g. --set train.lr=3e-4 (train.* only; repeatable)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    add_progress_options(parser)
    parser.set_defaults(command=run)


def run(args: argparse.Namespace) -> int:
    from seqlab.tasks.forecasting.retrain import retrain
    from seqlab.train.progress import make_progress

    # Progress goes to standard error, so standard output holds only the report.
    reporter = make_progress(progress_kind(args), stream=sys.stderr)
    record = retrain(
        args.model_dir,
        args.data,
        args.out,
        steps=args.steps,
        holdout=args.holdout,
        val_rows=args.val_rows,
        overrides=args.overrides,
        progress=reporter,
    )
    if args.json:
        print(json.dumps(record, indent=2, allow_nan=False))
    else:
        _print_report(record)
    return 0


def _print_report(record: dict[str, Any]) -> None:
    from rich.table import Table

    from seqlab.utils.console import output_console

    console = output_console()

    def say(text: str) -> None:
        console.print(text, markup=False, highlight=False, soft_wrap=True)

    data, split, holdout = record["data"], record["split"], record["holdout"]
    say(
        f"{record['model_dir']}: the {data['old_rows']} rows {record['from']} trained on "
        f"({data['old_source']}, to {data['old_last']}) + {data['appended_rows']} new rows of "
        f"{data['new_source']} ({data['new_first']} to {data['new_last']})"
    )
    if data["overlap_rows_dropped"]:
        say(f"{data['overlap_rows_dropped']} rows of the new file repeated the training data "
            "and were dropped")  # fmt: skip
    for line in data["fixes"]:
        say(f"data: {line}")
    say(
        f"split: {split['train_rows']} training rows ({split['new_rows_trained_on']} of them "
        f"new), {split['val_rows']} validation rows, {split['holdout_rows']} held out"
    )
    shifts = ", ".join(
        f"{column} {figures['mean_shift_in_std']:+.2f}"
        for column, figures in record["scaler"]["new_rows"].items()
    )
    say(f"scaler kept; the new rows' mean moved (in training std): {shifts}")
    table = Table(
        title=f"hold-out: {holdout['windows']} windows forecasting {holdout['first_target']} to "
        f"{holdout['last_target']}"
    )
    table.add_column("model")
    names = ("mse", "mae", "mse_original", "mae_original")
    for name in names:
        table.add_column(name, justify="right")
    for which in ("old", "new"):
        table.add_row(which, *(f"{holdout[which][name]:.4f}" for name in names))
    console.print(table)
    note = "" if holdout["mae_agrees"] else " (mae says otherwise)"
    say(f"better on the hold-out (lower mse): {holdout['better']}{note}")
