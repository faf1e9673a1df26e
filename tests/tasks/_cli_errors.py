"""Running a ``seqlab`` command that must be refused: exit status 2 and one line on standard
error starting ``seqlab: error: ``, never a traceback. Shared by the task command-line tests."""

from __future__ import annotations

import pytest

from seqlab import cli


def refused_with_output(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[str, str]:
    """(standard error, standard output) of ``seqlab ARGS``, checked to be a one-line refusal."""
    capsys.readouterr()
    assert cli.main(list(args)) == 2
    captured = capsys.readouterr()
    assert captured.err.count("\n") == 1 and captured.err.startswith("seqlab: error: ")
    return captured.err, captured.out


def refused(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    """The one-line error of ``seqlab ARGS``, checked to be a refusal."""
    return refused_with_output(capsys, *args)[0]
