"""The command line: help lists the commands, ``python -m seqlab`` matches, errors are one line."""

from __future__ import annotations

import io
import subprocess
import sys
from contextlib import redirect_stdout

import pytest

from seqlab import cli
from seqlab.errors import SeqlabError


def test_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for command in cli.build_parser()._subparsers._group_actions[0].choices:  # type: ignore[union-attr]
        assert command in out


def test_python_dash_m_is_the_same_command() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "seqlab", "--help"], capture_output=True, text=True, check=True
    )
    assert "demo" in result.stdout
    assert result.stdout.startswith("usage: seqlab")


def test_no_command_prints_help() -> None:
    buffer = io.StringIO()
    with redirect_stdout(buffer):
        assert cli.main([]) == 0
    assert "usage: seqlab" in buffer.getvalue()


def test_user_error_is_one_line_without_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def failing(args: object) -> int:
        raise SeqlabError("data file 'x.csv' not found; pass --data with an existing file")

    parser = cli.build_parser()
    monkeypatch.setattr(cli, "build_parser", lambda: parser)
    parser.set_defaults(command=failing)
    monkeypatch.delenv("SEQLAB_DEBUG", raising=False)
    assert cli.main([]) == 2
    err = capsys.readouterr().err
    assert err == "seqlab: error: data file 'x.csv' not found; pass --data with an existing file\n"


def test_demo_runs_and_reports_agreement(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["demo", "--seed", "1"]) == 0
    out = capsys.readouterr().out
    assert "LSTM" in out and "fused" in out and "reference" in out


def test_demo_paths_agree_with_torch() -> None:
    from rich.console import Console

    from seqlab.lab.demo import run_demo

    rows = run_demo(seed=3, console=Console(file=io.StringIO()))
    assert {impl for _, impl, _ in rows} == {"reference", "fused"}
    assert len(rows) == 10
    assert max(difference for _, _, difference in rows) < 1e-5
