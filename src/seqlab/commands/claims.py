"""``seqlab claims``: every claim of the study material, tested by an experiment, with a verdict
computed from the measurements, a figure per claim, and a report folder."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "claims",
        help="test every textbook claim about RNNs and Transformers, each with a verdict",
        description=(
            "Run one experiment per claim the study material makes about RNNs and Transformers "
            "and judge each by a stated rule: holds, holds with a caveat, does not hold here, or "
            "not yet measurable. Prints the verdict table and writes a report folder (report.md, "
            "a self-contained report.html with every figure, results.json)."
        ),
    )
    parser.add_argument("--quick", action="store_true", help="small settings: seconds per claim")
    parser.add_argument("--only", nargs="+", metavar="ID",
                        help="run only these claims (by id, e.g. padding-invariance)")  # fmt: skip
    parser.add_argument("--out", type=Path, default=Path("reports/claims"),
                        help="report folder (default reports/claims)")  # fmt: skip
    parser.add_argument("--json", action="store_true",
                        help="print results.json's object instead of the table")  # fmt: skip
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu",
                        help="where to measure (default cpu)")  # fmt: skip
    parser.add_argument("--threads", type=int, default=1, metavar="N",
                        help="torch CPU threads (default 1: the small layers most claims time run "
                             "fastest, and steadiest, on one)")  # fmt: skip
    parser.set_defaults(command=run)


def run(args: argparse.Namespace) -> int:
    import time

    import torch
    from rich.console import Console
    from rich.table import Table

    from seqlab.errors import SeqlabError
    from seqlab.lab.claims import run_claims, select
    from seqlab.lab.claims.base import machine
    from seqlab.lab.claims.report import results_json, verdict_table, write_report
    from seqlab.utils.console import output_console

    claims = select(args.only)
    if args.out.exists() and not args.out.is_dir():
        # Checked before any claim runs: the full run takes minutes to find this out otherwise.
        raise SeqlabError(f"--out {args.out} is a file; give a folder for the report")
    if args.threads < 1:
        raise SeqlabError(f"--threads must be at least 1, got {args.threads}")
    torch.set_num_threads(args.threads)  # recorded in the report's machine block
    if args.device == "cuda" and not torch.cuda.is_available():
        raise SeqlabError("--device cuda: no CUDA device is available here; use --device cpu")
    progress = Console(stderr=True, quiet=args.json)
    start = time.perf_counter()
    results = run_claims(claims, quick=args.quick, device=args.device, progress=progress.print)
    document = results_json(
        results, machine(args.device), quick=args.quick, seconds=time.perf_counter() - start
    )
    report = write_report(results, document, args.out)
    if args.json:
        print(json.dumps(document, indent=2))
        return 0
    header, rows = verdict_table(results)
    table = Table(title=f"seqlab claims ({document['mode']}, {document['seconds']:.1f} s)")
    for name in header:
        table.add_column(name, justify="right" if name in ("#", "seconds") else "left")
    for row in rows:
        table.add_row(*row)
    console = output_console()
    console.print(table)
    console.print(f"\nReport: {report} (and report.md, figures, results.json in {args.out})")
    return 0
