"""The console that prints the commands' tables and reports.

rich lays a table out to its console's width, and when standard output is not a terminal (a pipe,
a log file, CI) it assumes 80 columns, so a wide table comes out with its columns cut and its
cells ending in "…". Where the output is not a terminal, ``output_console`` gives rich a width
no table reaches: every table prints whole, at its natural width (rich pads no line to the
console's width), and no line is wrapped.
"""

from __future__ import annotations

import sys

from rich.console import Console

# Wider than any table or line a command prints; rich sizes a table to its content below this.
UNCUT_WIDTH = 10_000


def output_console(*, stderr: bool = False, quiet: bool = False) -> Console:
    """A Console on standard output (or error): the terminal's width on a terminal, otherwise
    wide enough that nothing is cut."""
    stream = sys.stderr if stderr else sys.stdout
    width = None if stream.isatty() else UNCUT_WIDTH
    return Console(stderr=stderr, quiet=quiet, width=width)
