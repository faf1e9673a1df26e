"""``seqlab claims`` as a benchmark: every claim's verdict, with the whole run's time and each
claim's, recorded in BENCHMARKS.md with the command, the machine and the date.

Usage: python benchmarks/claims.py [--quick] [--out reports/claims-benchmark] [--threads 1]
       [--device cpu|cuda] [--no-record]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import append_section, markdown_table, positive_int  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the --quick settings")
    parser.add_argument("--out", type=Path, default=Path("reports/claims-benchmark"))
    parser.add_argument("--threads", type=positive_int, default=1, help="torch threads (1)")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--no-record", action="store_true", help="do not append to BENCHMARKS.md")
    args = parser.parse_args()

    import torch

    from seqlab.lab.claims import CLAIMS, run_claims
    from seqlab.lab.claims.base import machine
    from seqlab.lab.claims.report import results_json, verdict_table, write_report

    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    results = run_claims(
        CLAIMS,
        quick=args.quick,
        device=args.device,
        progress=lambda line: print(line, file=sys.stderr, flush=True),
    )
    seconds = time.perf_counter() - start
    document = results_json(results, machine(args.device), quick=args.quick, seconds=seconds)
    write_report(results, document, args.out)
    counts: dict[str, int] = {}
    for result in results:
        counts[result.verdict] = counts.get(result.verdict, 0) + 1
    tally = ", ".join(f"{count} {verdict}" for verdict, count in counts.items())
    body = (
        f"Mode {document['mode']}, device {args.device}, {args.threads} torch thread(s): "
        f"{seconds / 60:.1f} min for all {len(results)} claims ({tally}). Report: "
        f"{args.out}/report.html; each claim's settings and numbers are in its results.json.\n\n"
        + markdown_table(*verdict_table(results))
    )
    print(body)
    if not args.no_record:
        append_section("seqlab claims" + (" --quick" if args.quick else " (full)"), body)


if __name__ == "__main__":
    main()
