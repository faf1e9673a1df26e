"""Progress reporting for the training loop: a live bar, plain lines, or nothing.

References: ``rich.progress`` (Textualize) for the live bar. One interface, three reporters, so the
loop never asks where its output goes:

- RichProgress: on a terminal, a bar with step/total, loss, learning rate, tokens per second and
  the time remaining; notes (evaluations, warnings) print above it.
- PlainProgress: when stdout is a file or pipe (CI logs, ``nohup``), one line per logged step;
  a redrawn bar would fill such logs with control characters.
- QuietProgress: nothing (tests, library use).
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Literal, Protocol

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

__all__ = [
    "PlainProgress",
    "ProgressKind",
    "ProgressReporter",
    "QuietProgress",
    "RichProgress",
    "StepInfo",
    "make_progress",
]

ProgressKind = Literal["auto", "rich", "plain", "quiet"]


@dataclass(frozen=True)
class StepInfo:
    """What the loop knows after an optimizer step. Rates are over the last logging window."""

    step: int
    total_steps: int
    loss: float
    lr: float
    grad_norm: float
    tokens_per_second: float
    elapsed_seconds: float
    eta_seconds: float | None


class ProgressReporter(Protocol):
    """start once, step after every optimizer step, log at every logged step, note for events."""

    def start(self, *, total_steps: int, initial_step: int) -> None: ...

    def step(self, info: StepInfo) -> None: ...

    def log(self, info: StepInfo) -> None: ...

    def note(self, text: str) -> None: ...

    def close(self) -> None: ...


def _duration(seconds: float | None) -> str:
    if seconds is None or not math.isfinite(seconds):
        return "?"
    whole = int(round(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


def format_step_line(info: StepInfo) -> str:
    """The plain one-line summary of a step."""
    width = len(str(info.total_steps))
    return (
        f"step {info.step:>{width}}/{info.total_steps} | loss {info.loss:.4f} | lr {info.lr:.3e} "
        f"| grad_norm {info.grad_norm:.3f} | {info.tokens_per_second:,.0f} tok/s "
        f"| elapsed {_duration(info.elapsed_seconds)} | eta {_duration(info.eta_seconds)}"
    )


class QuietProgress:
    """Reports nothing."""

    def start(self, *, total_steps: int, initial_step: int) -> None:
        return None

    def step(self, info: StepInfo) -> None:
        return None

    def log(self, info: StepInfo) -> None:
        return None

    def note(self, text: str) -> None:
        return None

    def close(self) -> None:
        return None


class PlainProgress:
    """One line per logged step and per note, flushed at once so ``tail -f`` follows along."""

    def __init__(self, *, stream: IO[str] | None = None) -> None:
        self._stream = stream

    def _write(self, text: str) -> None:
        stream = self._stream if self._stream is not None else sys.stdout
        stream.write(text + "\n")
        stream.flush()

    def start(self, *, total_steps: int, initial_step: int) -> None:
        where = f"from step {initial_step} " if initial_step else ""
        self._write(f"training {where}to step {total_steps}")

    def step(self, info: StepInfo) -> None:
        return None  # only logged steps print; see log

    def log(self, info: StepInfo) -> None:
        self._write(format_step_line(info))

    def note(self, text: str) -> None:
        self._write(text)

    def close(self) -> None:
        return None


class RichProgress:
    """A live ``rich`` progress bar."""

    def __init__(self, *, stream: IO[str] | None = None) -> None:
        from rich.console import Console

        self._console = Console(file=stream) if stream is not None else Console()
        self._progress: Progress | None = None
        self._task_id: TaskID | None = None

    def start(self, *, total_steps: int, initial_step: int) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )

        progress = Progress(
            TextColumn("[bold]train"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("loss {task.fields[loss]}"),
            TextColumn("lr {task.fields[lr]}"),
            TextColumn("{task.fields[tokens]} tok/s"),
            TextColumn("eta"),
            TimeRemainingColumn(),
            console=self._console,
        )
        self._progress = progress
        self._task_id = progress.add_task(
            "train", total=total_steps, completed=initial_step, loss="-", lr="-", tokens="-"
        )
        progress.start()

    def step(self, info: StepInfo) -> None:
        if self._progress is None or self._task_id is None:
            return
        self._progress.update(
            self._task_id,
            completed=info.step,
            loss=f"{info.loss:.4f}",
            lr=f"{info.lr:.2e}",
            tokens=f"{info.tokens_per_second:,.0f}",
        )

    def log(self, info: StepInfo) -> None:
        return None  # the bar already shows the latest values

    def note(self, text: str) -> None:
        # markup=False: metric names like "[val]" must not be read as rich styles.
        self._console.print(text, markup=False, highlight=False)

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None


def make_progress(
    kind: ProgressKind = "auto", *, stream: IO[str] | None = None
) -> RichProgress | PlainProgress | QuietProgress:
    """Build a reporter: "auto" is rich on a terminal, plain lines otherwise."""
    if kind == "auto":
        target = stream if stream is not None else sys.stdout
        is_terminal = getattr(target, "isatty", lambda: False)()
        kind = "rich" if is_terminal else "plain"
    if kind == "rich":
        return RichProgress(stream=stream)
    if kind == "plain":
        return PlainProgress(stream=stream)
    if kind == "quiet":
        return QuietProgress()
    raise ValueError(f"progress ({kind!r}) must be 'auto', 'rich', 'plain' or 'quiet'")
