"""What reading a series repaired: every gap inserted and every cell filled, with its line.

References: seqlab.data.series (which faults are repaired, and how the fill policies work).
:class:`SeriesReport` keeps every repair, so a caller can account for each value it did not
read as written; :meth:`SeriesReport.fixes` says them in one line per kind of repair, naming the
file and the first ``FIXES_SHOWN`` in full (line, column, how), then how many more.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

import pandas as pd

__all__ = ["FIXES_SHOWN", "FillPolicy", "GapFill", "MissingCell", "SeriesReport"]

FillPolicy = Literal["interpolate", "ffill"]

_FILL_WORDS = {
    "interpolate": "linear interpolation in time",
    "ffill": "carrying the last value forward",
}
_CELL_WORDS = {
    "interpolated": "interpolated in time",
    "carried forward": "the last known value carried forward",
    "carried back": "the first known value carried back",
}

# How many repairs of each kind SeriesReport.fixes names in full before counting the rest.
FIXES_SHOWN = 3


@dataclass(frozen=True)
class GapFill:
    """One gap: ``rows`` missing time steps inserted between ``previous`` (a row's timestamp)
    and ``next``, the timestamp of the row on ``line``."""

    line: int
    previous: pd.Timestamp
    next: pd.Timestamp
    rows: int


@dataclass(frozen=True)
class MissingCell:
    """One empty cell of a chosen column, on ``line``, and how it was filled: ``how`` is
    "interpolated" (between the nearest known values), "carried forward" (the last known value:
    the ffill policy, or a cell after the column's last known value) or "carried back" (the
    first known value, for a cell before it)."""

    line: int
    column: str
    how: Literal["interpolated", "carried forward", "carried back"]


@dataclass(frozen=True)
class SeriesReport:
    """What :func:`seqlab.data.series.read_series` repaired: every inserted gap and every filled
    cell, with lines.

    rows_read: data rows in the file; rows: rows of the result (rows_read + rows_inserted).
    gap_fills: every gap, in time order; missing_cells: every empty cell in the chosen columns
    of the file's rows (not counting inserted rows), in line order, per column counted in
    ``missing_by_column``. ignored_columns: columns left out of ``inputs=None`` because they are
    not numeric (text such as an id or a category). fill: the policy that filled what was
    missing. notes: lines added by checks made after reading (outliers kept, say:
    seqlab.data.outliers), reported with the repairs.
    """

    source: str
    rows_read: int
    frequency: str
    fill: FillPolicy
    gap_fills: tuple[GapFill, ...] = ()
    missing_cells: tuple[MissingCell, ...] = ()
    missing_by_column: dict[str, int] = field(default_factory=dict)
    ignored_columns: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def gaps(self) -> int:
        """Runs of missing time steps."""
        return len(self.gap_fills)

    @property
    def rows_inserted(self) -> int:
        """Missing time steps inserted in all the gaps."""
        return sum(gap.rows for gap in self.gap_fills)

    @property
    def rows(self) -> int:
        return self.rows_read + self.rows_inserted

    @property
    def missing_values(self) -> int:
        return len(self.missing_cells)

    @property
    def first_gap(self) -> tuple[pd.Timestamp, pd.Timestamp] | None:
        """(timestamp before, timestamp after) the first gap."""
        return (self.gap_fills[0].previous, self.gap_fills[0].next) if self.gap_fills else None

    @property
    def first_gap_line(self) -> int | None:
        """The line of the row after the first gap."""
        return self.gap_fills[0].line if self.gap_fills else None

    @property
    def first_missing(self) -> tuple[int, str] | None:
        """(line, column) of the first missing cell."""
        if not self.missing_cells:
            return None
        return self.missing_cells[0].line, self.missing_cells[0].column

    @property
    def clean(self) -> bool:
        """True when nothing had to be filled."""
        return not self.gap_fills and not self.missing_cells

    def with_notes(self, notes: Sequence[str]) -> SeriesReport:
        """This report with ``notes`` added after its own."""
        return replace(self, notes=(*self.notes, *notes))

    def fixes(self) -> list[str]:
        """One line per kind of repair (empty when the file was clean), then the notes: each
        names the file, the first ``FIXES_SHOWN`` repairs in full (line, column, how), then how
        many more."""
        lines = []
        if self.gap_fills:
            shown = "; ".join(
                f"{gap.rows} row(s) between {gap.previous} and {gap.next} (before line {gap.line})"
                for gap in self.gap_fills[:FIXES_SHOWN]
            )
            more = self.gap_fills[FIXES_SHOWN:]
            if more:
                shown += f"; and {len(more)} more gap(s) ({sum(gap.rows for gap in more)} rows)"
            lines.append(
                f"{self.source}: {self.gaps} gap(s) in the '{self.frequency}' frequency, "
                f"{self.rows_inserted} missing row(s) inserted, filled by "
                f"{_FILL_WORDS[self.fill]}: {shown}"
            )
        if self.missing_cells:
            per_column = ", ".join(f"{name}: {n}" for name, n in self.missing_by_column.items())
            shown = "; ".join(
                f"line {cell.line}, column '{cell.column}' ({_CELL_WORDS[cell.how]})"
                for cell in self.missing_cells[:FIXES_SHOWN]
            )
            rest = len(self.missing_cells) - FIXES_SHOWN
            if rest > 0:
                shown += f"; and {rest} more"
            lines.append(
                f"{self.source}: {self.missing_values} missing value(s) ({per_column}) filled: "
                f"{shown}"
            )
        return [*lines, *self.notes]
