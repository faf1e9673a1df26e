"""``seqlab compare``: the main job, RNN vs LSTM vs GRU vs Transformer across distances."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def _names(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


def _integers(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in _names(text))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"'{text}' is not a comma-separated list of integers, e.g. 10,20,50"
        ) from None


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "compare",
        help="measure RNN vs LSTM vs GRU vs Transformer on long-range memory across distances",
        description=(
            "Train every family on the recall and adding problems at each distance, with "
            "comparable parameter counts and the same step budget, and report where each stops "
            "learning, how fast each trains, and how gradients fade with distance: a table on "
            "the terminal and a report folder (report.md, self-contained report.html, figures, "
            "results.json). Defaults take about 15 minutes on a 2-core CPU; --quick about 1."
        ),
    )
    parser.add_argument("--quick", action="store_true",
                        help="distances 10,20,50, 400 steps, batch 64: a few minutes")  # fmt: skip
    parser.add_argument("--tasks", type=_names, help="comma-separated: recall, adding, copy")
    parser.add_argument("--families", type=_names,
                        help="comma-separated: rnn, lstm, gru, transformer")  # fmt: skip
    parser.add_argument("--distances", type=_integers, help="comma-separated, e.g. 10,20,50,100")
    parser.add_argument("--steps", type=int, help="step budget per run")
    parser.add_argument("--batch-size", type=int, help="examples per step")
    parser.add_argument("--parameter-budget", type=int, help="target parameters per model")
    parser.add_argument(
        "--init",
        choices=("chrono", "forget-bias-1", "standard"),
        help="gate-bias initialisation of LSTM and GRU (default chrono)",
    )
    parser.add_argument(
        "--recurrent-init",
        choices=("orthogonal", "uniform"),
        help="recurrent weight matrices of every recurrent family (default orthogonal)",
    )
    parser.add_argument(
        "--patience",
        type=int,
        help="stop a run after this many evaluations without progress (default: off)",
    )
    parser.add_argument(
        "--jobs", type=int, help="training runs at a time, one thread each (default 2)"
    )
    parser.add_argument("--seed", type=int, help="random seed (default 0)")
    parser.add_argument("--device", choices=("cpu", "cuda"), help="where to train (default cpu)")
    parser.add_argument("--out", type=Path, default=Path("reports/compare"),
                        help="report folder (default reports/compare)")  # fmt: skip
    parser.add_argument("--json", action="store_true", help="print the raw results as JSON")
    parser.add_argument("--quiet", action="store_true", help="no progress, only the results")
    parser.set_defaults(command=run)


def run(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from seqlab.lab.compare import CompareSettings, run_compare, with_overrides
    from seqlab.lab.report import distance_tables, findings, results_table, write_report
    from seqlab.utils.console import output_console

    base = CompareSettings.quick() if args.quick else CompareSettings()
    settings = with_overrides(
        base,
        tasks=args.tasks,
        families=args.families,
        distances=args.distances,
        steps=args.steps,
        batch_size=args.batch_size,
        parameter_budget=args.parameter_budget,
        init=args.init,
        recurrent_init=args.recurrent_init,
        patience=args.patience,
        jobs=args.jobs,
        seed=args.seed,
        device=args.device,
    )
    progress_console = Console(stderr=True, quiet=args.quiet or args.json)
    results = run_compare(settings, console=progress_console)
    report = write_report(results, args.out)
    if args.json:
        print(json.dumps(results.to_json(), indent=2))
        return 0
    console = output_console()
    for kind, grid_header, grid_rows in distance_tables(results):
        grid = Table(title=f"{kind} by distance (✓ solved)")
        for name in grid_header:
            grid.add_column(name, justify="left" if name == grid_header[0] else "right")
        for row in grid_rows:
            grid.add_row(*row)
        console.print(grid)
    header, rows = results_table(results)
    table = Table(title="seqlab compare: every run (test set)")
    for name in header:
        table.add_column(name, justify="left" if name in ("task", "family", "verdict") else "right")
    for row in rows:
        table.add_row(*row)
    console.print(table)
    for line in findings(results):
        console.print(f"- {line}")
    console.print(f"\nReport: {report} (and report.md, figures, results.json in {args.out})")
    return 0
