"""The ``seqlab`` command line: one sub-command per job, each explained by ``seqlab CMD --help``.

Every sub-command registers its own arguments and a ``run(args) -> int`` function; this module only
dispatches and turns user errors (``SeqlabError``, and ``ValueError`` raised while checking values)
into one line on standard error with exit status 2, never a traceback (``SEQLAB_DEBUG=1`` shows it).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence

from seqlab import __version__
from seqlab.errors import SeqlabError

Command = Callable[[argparse.Namespace], int]


def _add_demo(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="tour the building blocks: both paths against torch.nn, gates and attention weights",
        description=(
            "Build seqlab's LSTM, GRU, attention and Transformer encoder layer next to torch.nn's, "
            "copy the weights across, and show that the readable reference path and the fast fused "
            "path both compute what torch computes; then show an LSTM's gate values step by step "
            "and a causal attention pattern."
        ),
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")

    def run(args: argparse.Namespace) -> int:
        from seqlab.lab.demo import run_demo

        run_demo(seed=args.seed)
        return 0

    parser.set_defaults(command=run)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="seqlab",
        description=(
            "Build, train, compare and serve recurrent networks (RNN, LSTM, GRU) and Transformers, "
            "and measure how they differ."
        ),
    )
    parser.add_argument("--version", action="version", version=f"seqlab {__version__}")
    subparsers = parser.add_subparsers(title="commands", metavar="COMMAND")
    _add_demo(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    command: Command | None = getattr(args, "command", None)
    if command is None:
        parser.print_help()
        return 0
    try:
        return command(args)
    except (SeqlabError, ValueError) as error:
        if os.environ.get("SEQLAB_DEBUG"):
            raise  # a developer asked for the traceback
        print(f"seqlab: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("seqlab: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
