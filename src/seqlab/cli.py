"""The ``seqlab`` command line: one sub-command per job, each explained by ``seqlab CMD --help``.

Every sub-command lives in ``seqlab.commands.<name>`` and registers its own arguments and a
``run(args) -> int`` function; this module only dispatches and turns user errors
(``SeqlabError``, and ``ValueError`` raised while checking values) into one line on standard
error with exit status 2, never a traceback (``SEQLAB_DEBUG=1`` shows it).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence

from seqlab._version import __version__
from seqlab.commands import (
    claims,
    compare,
    demo,
    distill,
    evaluate,
    export,
    forecast,
    generate,
    monitor,
    predict,
    retrain,
    serve,
    stream,
    train,
    translate,
)
from seqlab.errors import SeqlabError

Command = Callable[[argparse.Namespace], int]


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
    for module in (
        compare,
        claims,
        train,
        distill,
        evaluate,
        predict,
        translate,
        generate,
        forecast,
        monitor,
        retrain,
        stream,
        serve,
        export,
        demo,
    ):
        module.register(subparsers)
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
    except BrokenPipeError:
        # The reader went away (`seqlab eval DIR --json | head`): not an error of ours. Point
        # stdout at /dev/null so Python's final flush does not raise again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        print("seqlab: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
