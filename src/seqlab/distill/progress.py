"""Progress of labelling the transfer set: a live bar on a terminal, a line per tenth in a log,
or nothing (``--quiet``). Written to standard error, as the training progress is, so that
standard output stays the command's result."""

from __future__ import annotations

import sys
from types import TracebackType
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from rich.progress import Progress

ProgressKind = Literal["auto", "rich", "plain", "quiet"]


class LabellingProgress:
    """``with LabellingProgress(kind, total) as bar: bar.advance(n)``."""

    def __init__(self, kind: ProgressKind, *, total: int, what: str = "teacher") -> None:
        if kind == "auto":
            kind = "rich" if sys.stderr.isatty() else "plain"
        if kind not in ("rich", "plain", "quiet"):
            raise ValueError(f"progress ({kind!r}) must be 'auto', 'rich', 'plain' or 'quiet'")
        self.kind = kind
        self.total = total
        self.what = what
        self.done = 0
        self._next_line = 0.1  # plain: the next tenth to report
        self._bar: Progress | None = None

    def __enter__(self) -> LabellingProgress:
        if self.kind == "rich":
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeRemainingColumn,
            )

            self._bar = Progress(
                TextColumn(f"[bold]{self.what}"), BarColumn(), MofNCompleteColumn(),
                TextColumn("eta"), TimeRemainingColumn(), console=Console(stderr=True),
            )  # fmt: skip
            self._bar.add_task(self.what, total=self.total)
            self._bar.start()
        elif self.kind == "plain":
            self._line(f"{self.what}: labelling {self.total:,} texts")
        return self

    def advance(self, count: int) -> None:
        self.done += count
        if self._bar is not None:
            self._bar.advance(self._bar.task_ids[0], count)
        elif self.kind == "plain":
            share = self.done / self.total if self.total else 1.0
            if share >= self._next_line or self.done == self.total:
                self._line(f"{self.what}: {self.done:,}/{self.total:,} texts")
                self._next_line = int(share * 10) / 10 + 0.1  # one line however many tenths

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None

    @staticmethod
    def _line(text: str) -> None:
        sys.stderr.write(text + "\n")
        sys.stderr.flush()
