"""``seqlab forecast DIR --data recent.csv``: the next steps after the data, as JSON, CSV or a
table, and optionally a figure of the recent history with the forecast.

What reading the data repaired (gaps inserted, cells filled, outliers kept: file, line, column
and how) is printed on standard error before the forecast, whatever the format, and is the
JSON's ``notes``; ``--strict`` refuses the gaps and missing cells instead. A forecast that is
not finite is an error naming the rows the model read (exit status 2), never printed.

A model trained with quantile levels (``seqlab train forecasting --quantiles 0.1,0.5,0.9``) prints
each level's forecast beside the point forecast (JSON ``quantiles``, CSV and table columns
``<column>_q<level>``), and its figure shades the band between the lowest and highest levels.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
from pathlib import Path
from typing import Any

from seqlab.errors import SeqlabError

# How much history the figure shows before the forecast, in input lengths.
_HISTORY_WINDOWS = 3


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "forecast",
        help="forecast the next steps of a series with a trained forecasting model",
        description=(
            "Forecast the next horizon steps after the last row of --data with the model in DIR. "
            "The data needs the model's columns and at least its input_length rows; gaps and "
            "missing values are filled as in training, each fill reported on standard error "
            "(line, column, how) and in the JSON's notes (--strict refuses them instead). "
            "Output: one JSON object "
            '{"timestamps": [...], "values": {column: [...]}, "notes": [...], ...} in the '
            "data's units, a CSV (--format csv) or a table (--format table). A model trained "
            "with --quantiles adds each level's forecast (JSON quantiles, columns "
            "COLUMN_qLEVEL) and its figure shades the band between the outer levels."
        ),
    )
    parser.add_argument("model_dir", type=Path, metavar="DIR", help="a forecasting model directory")
    parser.add_argument(
        "--data", type=Path, required=True, metavar="CSV", help="recent data to forecast from"
    )
    parser.add_argument("--format", choices=("json", "csv", "table"), default="json")
    parser.add_argument(
        "--strict",
        action="store_true",
        help="refuse data with gaps or missing values instead of filling them",
    )
    parser.add_argument(
        "--outliers",
        choices=("refuse", "keep"),
        help="a value more than 1000 robust standard deviations from its column's median over "
        "the training rows: refuse it, or keep it and report it (default: as the model was "
        "trained, data.outliers)",
    )
    parser.add_argument(
        "--plot",
        type=Path,
        metavar="FILE",
        help=f"also write a figure (PNG, SVG or PDF) of the last {_HISTORY_WINDOWS} input "
        "lengths of history and the forecast",
    )
    parser.set_defaults(command=run)


def run(args: argparse.Namespace) -> int:
    import seqlab

    predictor = seqlab.load(args.model_dir)
    if not hasattr(predictor, "forecast"):
        raise SeqlabError(
            f"{args.model_dir} holds a '{predictor.task}' model, which does not forecast; "
            "train one with 'seqlab train forecasting'"
        )
    frame = predictor.read(args.data, strict=args.strict, outliers=args.outliers)
    for line in frame.report.fixes():
        print(line, file=sys.stderr)  # what reading the data filled, inserted or kept
    forecast = predictor.forecast(frame)
    quantiles = predictor.quantile_forecast(frame) if predictor.quantiles else None
    if args.plot is not None:
        write_plot(
            args.plot, frame=frame, forecast=forecast, predictor=predictor, quantiles=quantiles
        )
    # The point forecast, each variable's levels beside it when the model has them.
    shown = forecast if quantiles is None else forecast.join(quantiles)
    if args.format == "json":
        result = forecast_json(forecast, frame=frame, predictor=predictor, quantiles=quantiles)
        print(json.dumps(result, indent=2, allow_nan=False))
    elif args.format == "csv":
        print(shown.to_csv(), end="")
    else:
        from rich.table import Table

        from seqlab.utils.console import output_console

        table = Table(title=f"the {len(forecast)} steps after {Path(frame.source).name}")
        table.add_column("timestamp")
        for column in shown.columns:
            table.add_column(column, justify="right")
        for stamp, row in shown.iterrows():
            table.add_row(stamp.isoformat(), *(f"{value:.4f}" for value in row))
        output_console().print(table)
    if args.plot is not None:
        print(f"seqlab: wrote {args.plot}", file=sys.stderr)
    return 0


def forecast_json(
    forecast: Any, *, frame: Any, predictor: Any, quantiles: Any = None
) -> dict[str, Any]:
    """One JSON-ready object: the future timestamps, each forecast column's values and the
    notes on what reading the data repaired; with ``quantiles`` (a quantile model's
    ``quantile_forecast``), ``quantile_levels`` and ``quantiles``: {column: {level: [...]}}."""
    result = {
        "model_dir": str(predictor.model_dir),
        "source": frame.source,
        "last_observed": frame.timestamps[-1].isoformat(),
        "frequency": frame.report.frequency,
        "horizon": len(forecast),
        "timestamps": [stamp.isoformat() for stamp in forecast.index],
        "values": {column: [float(v) for v in forecast[column]] for column in forecast.columns},
        "notes": frame.report.fixes(),
    }
    if quantiles is not None:
        from seqlab.tasks.forecasting.quantiles import quantile_column

        levels = predictor.quantiles
        result["quantile_levels"] = list(levels)
        result["quantiles"] = {
            column: {
                f"{level:g}": [float(v) for v in quantiles[quantile_column(column, level)]]
                for level in levels
            }
            for column in forecast.columns
        }
    return result


def write_plot(
    path: Path, *, frame: Any, forecast: Any, predictor: Any, quantiles: Any = None
) -> None:
    """The last few input lengths of each forecast column, the model's input window shaded, and
    the forecast continuing from the last observation; with ``quantiles`` (a quantile model's
    ``quantile_forecast``), the band between its lowest and highest levels shaded too."""
    import matplotlib

    matplotlib.use("Agg")  # files only: no window, works on a server without a display
    import matplotlib.pyplot as plt

    from seqlab.tasks.forecasting.quantiles import quantile_column
    from seqlab.utils.io import atomic_write_bytes

    kind = path.suffix.lstrip(".").lower() or "png"
    columns = list(forecast.columns)
    figure, axes = plt.subplots(
        len(columns), 1, figsize=(10, 2.6 * len(columns)), sharex=True, squeeze=False
    )
    try:
        if kind not in figure.canvas.get_supported_filetypes():
            raise SeqlabError(f"--plot {path}: '.{kind}' is not a figure format; use .png or .svg")
        length = predictor.input_length
        shown = min(len(frame), _HISTORY_WINDOWS * length)
        stamps = frame.timestamps[-shown:]
        for axis, column in zip(axes[:, 0], columns, strict=True):
            history = frame.values[-shown:, frame.columns.index(column)]
            axis.plot(stamps, history, color="tab:blue", linewidth=1.0, label="observed")
            axis.plot(
                [stamps[-1], *forecast.index],
                [history[-1], *forecast[column]],
                color="tab:orange",
                linewidth=1.4,
                label=f"forecast ({len(forecast)} steps)",
            )
            if quantiles is not None:
                low, high = predictor.quantiles[0], predictor.quantiles[-1]
                axis.fill_between(
                    forecast.index,
                    quantiles[quantile_column(column, low)],
                    quantiles[quantile_column(column, high)],
                    color="tab:orange",
                    alpha=0.25,
                    linewidth=0,
                    label=f"q{low:g} to q{high:g}",
                )
            axis.axvspan(frame.timestamps[-length], stamps[-1], color="0.92", zorder=0,
                         label=f"model input ({length} steps)")  # fmt: skip
            axis.set_ylabel(column)
            axis.grid(alpha=0.3)
        axes[0, 0].legend(loc="upper left", fontsize="small")
        family = predictor.config.get("model", {}).get("family", "?")
        axes[0, 0].set_title(
            f"{predictor.model_dir.name} ({family}): forecast after {Path(frame.source).name}"
        )
        figure.autofmt_xdate()
        figure.tight_layout()
        buffer = io.BytesIO()
        figure.savefig(buffer, format=kind, dpi=110)
    finally:
        plt.close(figure)
    atomic_write_bytes(path, buffer.getvalue())
