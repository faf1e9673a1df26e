"""Options several commands share. Imported while ``seqlab --help`` builds its parser, so it
imports nothing heavy (no torch)."""

from __future__ import annotations

import argparse
from typing import Literal

# What --quiet and --plain choose among: the kinds of seqlab.train.progress.make_progress, spelt
# out here because importing that module would load torch while the parser is built.
ProgressKind = Literal["auto", "plain", "quiet"]


def add_progress_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--quiet", action="store_true", help="print nothing while working")
    group.add_argument(
        "--plain", action="store_true", help="plain progress lines instead of a live bar"
    )


def progress_kind(args: argparse.Namespace) -> ProgressKind:
    if args.quiet:
        return "quiet"
    return "plain" if args.plain else "auto"
