"""The command line: help lists the commands without loading torch, ``python -m seqlab`` matches,
errors are one line."""

from __future__ import annotations

import io
import json
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


# Asks for the help of the program, of every command and of every task of ``seqlab train``, in a
# fresh interpreter (this one has long imported torch), then names the heavy modules it loaded.
_EVERY_HELP = """
import contextlib, io, json, sys
from seqlab import cli
from seqlab.tasks import available_tasks

def help_of(argv):
    with contextlib.redirect_stdout(io.StringIO()) as out:
        try:
            cli.main([*argv, "--help"])
        except SystemExit as exit:
            assert exit.code == 0, (argv, exit.code)
    assert out.getvalue().startswith("usage: seqlab"), argv
    return out.getvalue()

commands = cli.build_parser()._subparsers._group_actions[0].choices
helps = {"": help_of([])}
helps.update({name: help_of([name]) for name in commands})
helps.update({f"train {task}": help_of(["train", task]) for task in available_tasks()})
heavy = sorted(name for name in ("torch", "numpy", "pandas", "matplotlib") if name in sys.modules)
print(json.dumps({"helps": helps, "heavy": heavy}))
"""


def test_every_help_answers_without_importing_torch() -> None:
    result = subprocess.run(
        [sys.executable, "-c", _EVERY_HELP], capture_output=True, text=True, check=True
    )
    answer = json.loads(result.stdout)
    assert "torch" not in answer["heavy"], answer["heavy"]
    helps = answer["helps"]
    for command in ("compare", "train", "eval", "predict", "forecast", "stream", "demo"):
        assert f"usage: seqlab {command}" in helps[command]
    for task in ("memory", "sentiment", "forecasting"):
        assert task in helps["train"]
        assert "--model" in helps[f"train {task}"] and "--preset" in helps[f"train {task}"]
    assert "--distance DISTANCE" in helps["train memory"]  # a flag of the task's own options


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
