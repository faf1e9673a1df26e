"""The main job's benchmark: the default ``seqlab compare`` run, its table recorded in
BENCHMARKS.md with the command, the machine and the date.

Usage: python benchmarks/compare.py [--quick] [--out reports/compare-benchmark] [--no-record]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import append_section, markdown_table  # noqa: E402
from seqlab.lab.compare import CompareSettings, run_compare  # noqa: E402
from seqlab.lab.report import (  # noqa: E402
    distance_tables,
    findings,
    results_table,
    write_report,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the --quick settings instead")
    parser.add_argument("--out", type=Path, default=Path("reports/compare-benchmark"))
    parser.add_argument("--no-record", action="store_true", help="do not append to BENCHMARKS.md")
    args = parser.parse_args()
    settings = CompareSettings.quick() if args.quick else CompareSettings()
    results = run_compare(settings)
    write_report(results, args.out)
    grids = "\n\n".join(markdown_table(h, r) for _, h, r in distance_tables(results))
    table = markdown_table(*results_table(results))
    sizes = ", ".join(
        f"{family} {size['parameters']:,}" for family, size in results.model_sizes.items()
    )
    body = (
        f"Settings: {settings}.\n\nParameters: {sizes}. Total {results.seconds / 60:.1f} min.\n\n"
        + grids
        + "\n\nEvery run:\n\n"
        + table
        + "\n\nFindings:\n\n"
        + "\n".join(f"- {line}" for line in findings(results))
    )
    print(body)
    if not args.no_record:
        append_section("seqlab compare" + (" --quick" if args.quick else " (default)"), body)


if __name__ == "__main__":
    main()
