"""Options several commands share."""

from __future__ import annotations

import argparse


def add_progress_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--quiet", action="store_true", help="print nothing while working")
    group.add_argument(
        "--plain", action="store_true", help="plain progress lines instead of a live bar"
    )


def progress_kind(args: argparse.Namespace) -> str:
    if args.quiet:
        return "quiet"
    return "plain" if args.plain else "auto"
