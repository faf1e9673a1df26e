"""Tables printed where standard output is not a terminal come out whole, not cut at 80 columns."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest
from rich.table import Table

from seqlab import cli
from seqlab.utils.console import UNCUT_WIDTH, output_console

FIXTURE = Path(__file__).parent.parent / "fixtures" / "model_dirs" / "sentiment"


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_pipe_gets_whole_tables(monkeypatch: pytest.MonkeyPatch) -> None:
    out = io.StringIO()  # not a terminal, like a pipe or a log file
    monkeypatch.setattr(sys, "stdout", out)
    cell = "w" * 150
    table = Table()
    table.add_column("a column with a long header")
    table.add_row(cell)
    console = output_console()
    assert console.width == UNCUT_WIDTH
    console.print(table)
    lines = out.getvalue().splitlines()
    assert any(cell in line for line in lines) and "…" not in out.getvalue()
    # natural width: the cell, its two spaces of padding and two borders; nothing padded wider
    assert max(len(line) for line in lines) == len(cell) + 4


def test_a_terminal_keeps_its_own_width(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdout", _Terminal())
    monkeypatch.setenv("COLUMNS", "91")
    assert output_console().width == 91


def test_seqlab_predict_prints_a_long_text_whole_into_a_pipe(
    capsys: pytest.CaptureFixture[str],
) -> None:
    text = "the movie was great " * 8  # 160 characters: cut to "…" at 80 columns before
    assert cli.main(["predict", str(FIXTURE), text.strip(), "--format", "table"]) == 0
    printed = capsys.readouterr().out
    assert text.strip() in printed and "…" not in printed
