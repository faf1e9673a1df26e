"""``seqlab monitor DIR --data new.csv``: OK or DRIFT for the newest period of a series, with the
figures that decided it (seqlab.tasks.forecasting.monitor holds the rules). Exit status 0 for
OK and 3 for DRIFT, so a scheduler can act on it; 2 for an error, as every command."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from seqlab.errors import SeqlabError

EXIT_DRIFT = 3


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "monitor",
        help="check recent data against what a forecasting model was trained on (OK or DRIFT)",
        description=(
            "Compare the newest --window rows of --data with the training time of the model in "
            "DIR. Forecast error: the model's mse (normalised scale) over every window "
            "forecasting those rows, flagged above the 99th percentile of the mean over as many "
            "consecutive validation windows (about 1 false alarm in 100 checks of data like the "
            "validation period; fewer windows per stretch when validation holds fewer than 10 "
            "such stretches end to end, which only raises the threshold). Inputs: for each "
            "column, the population stability index (PSI) over the training deciles and two "
            "0.1% tail bins, flagged "
            "above the larger of 0.25 and the 99th percentile of the PSIs of every stretch of "
            "as many training rows (a seasonal series strays far from its yearly distribution "
            "within a week); also the conventional PSI reading (< 0.1 stable, 0.1 to 0.25 "
            "moderate, > 0.25 significant), the Kolmogorov-Smirnov statistic and the mean shift "
            "in training standard deviations. Exit status: 0 OK, 3 DRIFT, 2 error."
        ),
    )
    parser.add_argument("model_dir", type=Path, metavar="DIR", help="a forecasting model directory")
    parser.add_argument(
        "--data",
        type=Path,
        required=True,
        metavar="CSV",
        help="recent data with the model's columns: the newest --window rows plus input_length "
        "rows before them",
    )
    parser.add_argument(
        "--window",
        type=int,
        metavar="ROWS",
        help="how many of the newest rows to check (default: 7 x horizon, 168 rows for the "
        "default horizon of 24: a week of an hourly series)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(command=run)


def run(args: argparse.Namespace) -> int:
    from seqlab.tasks.forecasting.monitor import check, load_reference
    from seqlab.tasks.forecasting.task import ForecastingTask
    from seqlab.tasks.runner import load_trained

    if args.window is not None and args.window < 1:
        raise SeqlabError(f"--window ({args.window}) must be a positive number of rows")
    task, model, config = load_trained(args.model_dir)
    if not isinstance(task, ForecastingTask):
        raise SeqlabError(
            f"{args.model_dir} holds a '{config.get('task')}' model; monitor checks forecasting "
            "models (train one with 'seqlab train forecasting')"
        )
    reference = load_reference(args.model_dir)
    frame = task.series_data.read_file(args.data)
    result = {"model_dir": str(args.model_dir), **check(task.series_data, model, reference, frame,
                                                        window=args.window)}  # fmt: skip
    if args.json:
        print(json.dumps(result, indent=2, allow_nan=False))
    else:
        _print_report(result)
    return EXIT_DRIFT if result["status"] == "DRIFT" else 0


def _print_report(result: dict[str, Any]) -> None:
    from rich.table import Table

    from seqlab.utils.console import output_console

    console = output_console()
    period, error = result["period"], result["error"]
    console.print(
        f"{result['model_dir']}: the last {period['rows']} rows of {result['source']} "
        f"({period['first']} to {period['last']})",
        markup=False,
        highlight=False,
    )
    for line in result["data_fixes"]:
        console.print(f"data: {line}", markup=False, highlight=False)
    table = Table(title="forecast error (mse, normalised scale)")
    for name in ("recent", "threshold", "validation", "windows", "status"):
        table.add_column(name, justify="right")
    table.add_row(
        f"{error['recent_mse']:.4f}",
        f"{error['threshold']:.4f}",
        f"{error['validation_mse']:.4f}",
        str(error["windows"]),
        error["status"],
    )
    console.print(table)
    console.print(
        f"threshold: the {error['quantile']:.0%} point of the mean over "
        f"{error['stretch_windows']} consecutive validation windows "
        f"({error['stretches']} stretches of {error['reference_windows']} windows)",
        markup=False,
        highlight=False,
    )
    table = Table(title="inputs against the training rows")
    for name in ("column", "psi", "alarm above", "reading", "ks", "mean shift (std)", "status"):
        table.add_column(name, justify="left" if name == "column" else "right")
    for column, figures in result["inputs"].items():
        table.add_row(
            column,
            f"{figures['psi']:.3f}",
            f"{figures['psi_threshold']:.3f}",
            figures["psi_reading"],
            f"{figures['ks']:.3f}",
            f"{figures['mean_shift_in_std']:+.2f}",
            figures["status"],
        )
    console.print(table)
    console.print(
        "alarm above: the larger of 0.25 and the 99% point of the psi of as many consecutive "
        "training rows; reading: < 0.1 stable, 0.1 to 0.25 moderate, > 0.25 significant",
        markup=False,
        highlight=False,
    )
    for reason in result["reasons"]:
        console.print(f"drift: {reason}", markup=False, highlight=False)
    console.print(result["status"], markup=False, highlight=False)
