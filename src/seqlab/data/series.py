"""Time series from a CSV file: one timestamp column and numeric columns, checked and repaired.

References: RFC 4180 (CSV) as read by Python's ``csv`` module; the ETT data sets of Zhou et al.,
2021, "Informer: Beyond Efficient Transformer for Long Sequence Time-Series Forecasting"
(``date`` column, target ``OT``, and the ``features`` modes ``S`` (univariate), ``M``
(multivariate) and ``MS`` (multivariate inputs, univariate target)); pandas' offset aliases for
the frequency.

How a file is read (:func:`read_series`):

- the header names the columns; the timestamp column is ``timestamp_column`` or, when that is None,
  the first of :data:`TIMESTAMP_COLUMN_CANDIDATES` the header has (any letter case);
- ``features="S"`` keeps only the target; ``"M"`` and ``"MS"`` keep the ``inputs`` (None: every
  other numeric column, in file order) and the target. ``"MS"`` reads the same columns as ``"M"``:
  whether the model forecasts the target alone is decided by the windows
  (:class:`seqlab.data.windows.WindowDataset`, ``target_only``). The target is always the last
  column, so a model finds it at index -1 whatever the mode;
- line numbers count physical lines of the file (the header is line 1, the first data row line 2);
  blank lines are passed over (they carry no data) but still counted;
- errors are :class:`SeqlabError` with one line naming the file, the line and the column: a cell
  that is not a number, an infinite one (``inf``), one beyond float32's range (magnitude above
  about 3.4e38: the models compute in float32, where it would become inf), a timestamp that does
  not parse, timestamps that do not strictly increase, steps that are not whole multiples of the
  series' step. These are never guessed at;
- timestamps keep their time zone; when their UTC offsets differ (a local clock across daylight
  saving changes) they are converted to UTC, where the steps are even again;
- two faults are repaired, because real sensor exports have them and a forecaster needs a regular
  grid without holes: missing rows (gaps in the regular frequency, the most common step between
  rows) are inserted, and missing cells (empty, ``NaN``, ``NA``, ``null``) in the chosen columns
  are filled, both by the ``fill`` policy, and :class:`SeriesReport` (seqlab.data.series_report)
  records every repair: each gap (the line after it, the rows inserted) and each filled cell
  (line, column, and how: see :class:`MissingCell`); :meth:`SeriesReport.fixes` names the first
  few of each kind in full, then how many more. With ``strict=True`` either fault is an error
  naming its line instead.
  Each row of the result knows its line in the file (``SeriesFrame.lines``, 0 for an inserted
  row), so later checks (seqlab.data.outliers) and messages name lines too.

Fill policies, per column, over the regular grid:

- ``"interpolate"``: linear interpolation in time between the nearest known values on each side;
- ``"ffill"``: the last known value carried forward.

Cells before a column's first known value take that value under both policies: there is nothing
earlier to interpolate from or carry. Under ``"interpolate"``, cells after a column's last known
value keep that value: there is nothing later to interpolate to (the report says "carried
forward" for them, not "interpolated"). A column with no known value at all is an error.

Known limit: the frequency is a fixed step (a Timedelta). Series on calendar steps (months,
business days) are accepted only without gaps, when ``pandas.infer_freq`` recognises them; with
gaps they are refused with the line of the first uneven step. A gap that would insert more rows
than the file holds is refused too: it is far more often a mistyped timestamp than real data.

Joining and writing: :func:`join_series` continues a series with the rows of a newer file (rows
that repeat the old series are dropped after checking that they do; the rest must follow its
last timestamp on the same step), and :func:`write_series_csv` writes a series as a CSV that
:func:`read_series` reads back to the same float32 values (``seqlab retrain`` keeps its joined
training series this way).
"""

from __future__ import annotations

import csv
import io
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from pandas.tseries.offsets import BaseOffset

from seqlab.data.series_report import (
    FIXES_SHOWN,
    FillPolicy,
    GapFill,
    MissingCell,
    SeriesReport,
)
from seqlab.errors import SeqlabError
from seqlab.utils.io import atomic_write_text

__all__ = [
    "FEATURE_MODES",
    "FILL_POLICIES",
    "FIXES_SHOWN",
    "FLOAT32_MAX",
    "TIMESTAMP_COLUMN_CANDIDATES",
    "FeatureMode",
    "FillPolicy",
    "GapFill",
    "JoinedSeries",
    "MissingCell",
    "SeriesFrame",
    "SeriesReport",
    "fixed_step",
    "join_series",
    "read_series",
    "series_csv",
    "write_series_csv",
]

FeatureMode = Literal["S", "M", "MS"]

FEATURE_MODES: tuple[str, ...] = ("S", "M", "MS")
FILL_POLICIES: tuple[str, ...] = ("interpolate", "ffill")
TIMESTAMP_COLUMN_CANDIDATES: tuple[str, ...] = ("date", "timestamp", "time", "datetime")

# Cell texts (after stripping, any letter case) that mean "no value here" rather than a typo.
_MISSING_MARKERS = frozenset({"", "nan", "na", "n/a", "null", "none"})

# The largest magnitude a float32 holds: the models compute in float32, so a larger value
# would become inf.
FLOAT32_MAX = float(np.finfo(np.float32).max)


@dataclass(frozen=True, eq=False)
class SeriesFrame:
    """A regular time series: one row per time step, the target in the last column.

    timestamps: (N,) strictly increasing, exactly one ``frequency`` apart after gap filling.
    values: (N, F) float32, columns in ``columns`` order; the target is ``columns[-1]``.
    lines: (N,) int64, the line of the file each row was read from, 0 for an inserted row.
    """

    timestamps: pd.DatetimeIndex
    values: np.ndarray
    columns: tuple[str, ...]
    target: str
    frequency: BaseOffset
    source: str
    report: SeriesReport
    lines: np.ndarray

    def with_notes(self, notes: Sequence[str]) -> SeriesFrame:
        """The same series, its report carrying ``notes`` too."""
        return replace(self, report=self.report.with_notes(notes))

    def read_cells(self) -> np.ndarray:
        """(N, F) bool: True where the value was read from the file, False where it was filled
        (an inserted row, or a missing cell)."""
        read = np.broadcast_to(self.lines[:, None] > 0, self.values.shape).copy()  # (N, F)
        if self.report.missing_cells:
            row_of_line = {int(line): row for row, line in enumerate(self.lines) if line}
            column_of = {name: index for index, name in enumerate(self.columns)}
            for cell in self.report.missing_cells:
                read[row_of_line[cell.line], column_of[cell.column]] = False
        return read

    def describe_rows(self, start: int, stop: int) -> str:
        """Rows ``start`` to ``stop`` (exclusive) in the user's terms: "data.csv lines 120 to
        167 (2024-01-05 23:00:00 to 2024-01-07 22:00:00)", lines of the file's rows among them
        (inserted rows have none)."""
        read = self.lines[start:stop]  # (stop - start,)
        read = read[read > 0]
        span = f"{self.timestamps[start]} to {self.timestamps[stop - 1]}"
        if read.size == 0:
            return f"{self.source}, inserted rows {span}"
        return f"{self.source} lines {int(read[0])} to {int(read[-1])} ({span})"

    @property
    def target_index(self) -> int:
        """Column index of the target in ``values``: always the last one."""
        return len(self.columns) - 1

    @property
    def num_features(self) -> int:
        return len(self.columns)

    def __len__(self) -> int:
        return int(self.values.shape[0])


def read_series(
    path: str | os.PathLike[str],
    *,
    timestamp_column: str | None = None,
    target: str = "OT",
    inputs: Sequence[str] | None = None,
    features: FeatureMode = "S",
    strict: bool = False,
    fill: FillPolicy = "interpolate",
    name: str | None = None,
) -> SeriesFrame:
    """Read a CSV time series, check it, fill its gaps and missing cells, and say what was fixed.

    See the module docstring for the rules. ``strict=True`` refuses gaps and missing cells
    instead of filling them (for evaluation data whose every value must be real). ``name``: how
    messages and the report name the data (default: the path), for a file written on the
    caller's behalf (a DataFrame saved to a temporary CSV).
    """
    if features not in FEATURE_MODES:
        raise SeqlabError(f"features ('{features}') must be one of: {', '.join(FEATURE_MODES)}")
    if fill not in FILL_POLICIES:
        raise SeqlabError(f"fill ('{fill}') must be one of: {', '.join(FILL_POLICIES)}")
    if features == "S" and inputs is not None:
        raise SeqlabError(
            "inputs are only read with features='M' or 'MS'; features='S' reads the target alone"
        )
    source = str(path) if name is None else name
    header, rows, lines = _read_table(Path(path), source)
    cells = _Cells(header, rows, lines, source)

    time_name = _timestamp_column(header, timestamp_column, source)
    if target not in header:
        raise SeqlabError(_unknown_column(source, target, "target", header))
    if target == time_name:
        raise SeqlabError(f"{source}: the target '{target}' is the timestamp column; name another")
    inputs_chosen, ignored = _choose_inputs(cells, header, inputs, features, target, time_name)
    columns = (*inputs_chosen, target)

    timestamps = _parse_timestamps(cells, time_name)
    _check_increasing(timestamps, lines, source)
    numbers = np.stack([cells.numbers(name) for name in columns], axis=1)  # (N, F) float64
    missing = np.isnan(numbers)  # (N, F)

    frequency, positions = _regular_grid(timestamps, lines, source)
    report = _report(
        source=source,
        timestamps=timestamps,
        positions=positions,
        missing=missing,
        columns=columns,
        lines=lines,
        frequency=frequency,
        fill=fill,
        ignored=ignored,
    )
    if strict:
        _refuse_repairs(report)
    if report.rows_inserted > len(rows):
        raise SeqlabError(
            f"{source}:{report.first_gap_line}: filling the gaps would insert "
            f"{report.rows_inserted} rows into a file of {len(rows)}; check the timestamps "
            f"(a mistyped date?) or resample the file to one {frequency.freqstr} step"
        )

    grid = np.full((report.rows, len(columns)), np.nan)  # (N, F) float64, NaN = to be filled
    grid[positions] = numbers
    for column, name in enumerate(columns):
        grid[:, column] = _fill_column(grid[:, column], fill, name=name, source=source)
    grid_lines = np.zeros(report.rows, dtype=np.int64)  # (N,) 0 = an inserted row
    grid_lines[positions] = lines
    if report.rows_inserted:
        timestamps = pd.date_range(timestamps[0], periods=report.rows, freq=frequency)
    return SeriesFrame(
        timestamps=pd.DatetimeIndex(timestamps, freq=frequency),
        values=grid.astype(np.float32),  # (N, F) in range: _Cells.numbers refused larger values
        columns=columns,
        target=target,
        frequency=frequency,
        source=source,
        report=report,
        lines=grid_lines,
    )


# --- reading the table -------------------------------------------------------------------------


def _read_table(path: Path, source: str) -> tuple[list[str], list[list[str]], list[int]]:
    """The header (names stripped), the data rows and each row's first line number."""
    if not path.exists():
        raise SeqlabError(f"{source}: no such file; check the path")
    if not path.is_file():
        raise SeqlabError(f"{source} is not a file; give the path of a CSV file")
    data = path.read_bytes()
    if data.startswith(b"\xef\xbb\xbf"):  # spreadsheet UTF-8 exports begin with a byte order mark
        data = data[3:]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise SeqlabError(
            f"{source}:{line}: bytes that are not UTF-8; save the file as UTF-8"
        ) from None
    if not text.strip():
        raise SeqlabError(
            f"{source} is empty; expected a header line such as 'date,OT' and one row per step"
        )

    reader = csv.reader(io.StringIO(text, newline=""))
    header: list[str] | None = None
    rows: list[list[str]] = []
    lines: list[int] = []
    next_line = 1
    try:
        for row in reader:
            line, next_line = next_line, reader.line_num + 1
            if not row or (len(row) == 1 and not row[0].strip()):
                continue  # a blank line carries no data
            if header is None:
                header = [name.strip() for name in row]
                _check_header(header, line, source)
                continue
            if len(row) != len(header):
                raise SeqlabError(
                    f"{source}:{line}: {len(row)} fields, the header has {len(header)}; "
                    "give every row one value per column"
                )
            rows.append(row)
            lines.append(line)
    except csv.Error as err:
        raise SeqlabError(
            f"{source}:{reader.line_num}: malformed CSV ({err}); fix the row"
        ) from None
    assert header is not None  # the text is not blank, so some row was read
    if not rows:
        raise SeqlabError(
            f"{source} has a header but no data rows; add one row per time step below it"
        )
    return header, rows, lines


def _check_header(header: list[str], line: int, source: str) -> None:
    seen: dict[str, int] = {}
    for number, name in enumerate(header, start=1):
        if not name:
            raise SeqlabError(f"{source}:{line}: column {number} has no name; name it")
        if name in seen:
            raise SeqlabError(
                f"{source}:{line}: column '{name}' appears twice (columns {seen[name]} and "
                f"{number}); rename one"
            )
        seen[name] = number


class _Cells:
    """Column access to the rows, parsing each column at most once."""

    def __init__(self, header: list[str], rows: list[list[str]], lines: list[int], source: str):
        self.header = header
        self.rows = rows
        self.lines = lines
        self.source = source
        self._parsed: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}

    def texts(self, name: str) -> list[str]:
        column = self.header.index(name)
        return [row[column].strip() for row in self.rows]

    def parse(self, name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(numbers (N,) float64, NaN where missing or not a number, inf where infinite or too
        large for float64; missing (N,) bool; not_number (N,) bool: text that is no number)."""
        if name not in self._parsed:
            texts = np.array(self.texts(name), dtype=object)  # (N,)
            numbers = pd.to_numeric(pd.Series(texts), errors="coerce").to_numpy(
                np.float64, copy=True
            )
            missing = np.array([text.lower() in _MISSING_MARKERS for text in texts], dtype=bool)
            numbers[missing] = np.nan
            not_number = ~missing & np.isnan(numbers)
            self._parsed[name] = (numbers, missing, not_number)
        return self._parsed[name]

    def numbers(self, name: str) -> np.ndarray:
        """The column as (N,) float64, NaN where a cell is missing; a cell that is not a number,
        infinite or beyond float32's range is an error."""
        numbers, _, not_number = self.parse(name)
        too_large = np.abs(numbers) > FLOAT32_MAX  # (N,) inf included; NaN compares False
        bad = not_number | too_large
        if bad.any():
            row = int(np.argmax(bad))
            text = self.rows[row][self.header.index(name)].strip()
            where = f"{self.source}:{self.lines[row]}: column '{name}' holds '{text}'"
            if not_number[row] or text.lower().lstrip("+-") in ("inf", "infinity"):
                raise SeqlabError(
                    f"{where}, not a finite number; correct it, or empty the cell to have it filled"
                )
            raise SeqlabError(
                f"{where}, beyond the float32 range (magnitude at most {FLOAT32_MAX:.4g}) the "
                "models compute in; correct it (a typo or a unit?), or empty the cell to have "
                "it filled"
            )
        if np.isnan(numbers).all():
            raise SeqlabError(
                f"{self.source}: column '{name}' has no values; choose another column or fill it"
            )
        return numbers

    def looks_numeric(self, name: str) -> bool:
        """More than half of the non-empty cells are numbers.

        A majority, not all: a numeric column with one typo stays chosen, so the typo is reported
        with its line instead of the whole column silently disappearing from the inputs.
        """
        _, missing, not_number = self.parse(name)
        present = int((~missing).sum())
        return present > 0 and int((~missing & ~not_number).sum()) * 2 > present


def _unknown_column(source: str, name: str, role: str, header: Sequence[str]) -> str:
    return f"{source}: no column '{name}' ({role}); the file has: {', '.join(header)}"


def _timestamp_column(header: list[str], requested: str | None, source: str) -> str:
    if requested is not None:
        if requested not in header:
            raise SeqlabError(_unknown_column(source, requested, "timestamp_column", header))
        return requested
    lowered = {name.lower(): name for name in reversed(header)}  # first wins on a case clash
    for candidate in TIMESTAMP_COLUMN_CANDIDATES:
        if candidate in lowered:
            return lowered[candidate]
    raise SeqlabError(
        f"{source}: no timestamp column (looked for {', '.join(TIMESTAMP_COLUMN_CANDIDATES)}); "
        f"the file has: {', '.join(header)}; name it with timestamp_column="
    )


def _choose_inputs(
    cells: _Cells,
    header: list[str],
    inputs: Sequence[str] | None,
    features: str,
    target: str,
    time_name: str,
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(input columns without the target, non-numeric columns passed over by inputs=None)."""
    if features == "S":
        return (), ()
    if inputs is None:
        others = [name for name in header if name not in (time_name, target)]
        chosen = tuple(name for name in others if cells.looks_numeric(name))
        return chosen, tuple(name for name in others if name not in chosen)
    if isinstance(inputs, str):
        raise SeqlabError(f"inputs must be a list of column names, not the string '{inputs}'")
    chosen_list: list[str] = []
    for name in inputs:
        if name not in header:
            raise SeqlabError(_unknown_column(cells.source, name, "input", header))
        if name == time_name:
            raise SeqlabError(
                f"{cells.source}: input '{name}' is the timestamp column; use calendar features "
                "for time of day and day of week"
            )
        if name in chosen_list:
            raise SeqlabError(f"{cells.source}: input '{name}' is listed twice; list it once")
        if name != target:  # the target is added last in any case
            chosen_list.append(name)
    return tuple(chosen_list), ()


# --- timestamps ----------------------------------------------------------------------------------


def _parse_timestamps(cells: _Cells, name: str) -> pd.DatetimeIndex:
    texts = cells.texts(name)
    for row, text in enumerate(texts):
        if not text:
            raise SeqlabError(f"{cells.source}:{cells.lines[row]}: empty timestamp in '{name}'")
    try:
        parsed = _to_datetime(texts, utc=False)
        mixed_offsets = not pd.api.types.is_datetime64_any_dtype(parsed)  # pandas 2: objects
    except ValueError:  # pandas 3: "Mixed timezones detected"
        mixed_offsets = True
    if mixed_offsets:
        # A local clock across a daylight saving change: its UTC offset changes, its steps in
        # UTC stay even. A text without an offset among them does not parse here (NaT below).
        try:
            parsed = _to_datetime(texts, utc=True)
        except (ValueError, TypeError, OverflowError) as err:
            raise SeqlabError(
                f"{cells.source}: timestamps in '{name}' cannot be read together ({err}); write "
                "them in one format and one time zone"
            ) from None
    failed = parsed.isna().to_numpy()
    if failed.any():
        row = int(np.argmax(failed))
        raise SeqlabError(
            f"{cells.source}:{cells.lines[row]}: cannot parse timestamp '{texts[row]}' in "
            f"'{name}'; write every timestamp like the first row's '{texts[0]}'"
        )
    # One unit for every file (pandas picks seconds, microseconds or nanoseconds from the text),
    # so the integer steps below are always nanoseconds.
    return pd.DatetimeIndex(parsed).as_unit("ns")


def _to_datetime(texts: list[str], *, utc: bool) -> pd.Series:
    with warnings.catch_warnings():
        # pandas warns when it cannot infer one format and parses element by element (a text it
        # still cannot parse becomes NaT and is reported with its line), and pandas 2 warns about
        # mixed UTC offsets (handled by the caller).
        warnings.simplefilter("ignore", UserWarning)
        warnings.simplefilter("ignore", FutureWarning)
        return pd.to_datetime(pd.Series(texts), errors="coerce", utc=utc)


def _check_increasing(timestamps: pd.DatetimeIndex, lines: list[int], source: str) -> None:
    steps = np.diff(timestamps.asi8)  # (N - 1,) nanoseconds
    not_after = steps <= 0
    if not not_after.any():
        return
    row = int(np.argmax(not_after)) + 1
    what = "repeats" if steps[row - 1] == 0 else "goes back before"
    raise SeqlabError(
        f"{source}:{lines[row]}: timestamp {timestamps[row]} {what} the previous row's "
        f"{timestamps[row - 1]} (line {lines[row - 1]}); timestamps must strictly increase: "
        "sort the file or remove the duplicate"
    )


def _regular_grid(
    timestamps: pd.DatetimeIndex, lines: list[int], source: str
) -> tuple[BaseOffset, np.ndarray]:
    """(frequency, each row's position (N,) int64 on the regular grid)."""
    if len(timestamps) < 2:
        raise SeqlabError(
            f"{source} has 1 data row; a series needs at least 2 to tell its time step"
        )
    steps = np.diff(timestamps.asi8)  # (N - 1,) nanoseconds, all > 0
    values, counts = np.unique(steps, return_counts=True)
    step_ns = int(values[np.argmax(counts)])  # the most common step; ties go to the shortest
    uneven = steps % step_ns != 0
    if uneven.any():
        calendar = _infer_calendar_frequency(timestamps)
        if calendar is not None:  # months, business days: uneven in time, regular on a calendar
            offset = pd.tseries.frequencies.to_offset(calendar)
            return offset, np.arange(len(timestamps))
        row = int(np.argmax(uneven)) + 1
        raise SeqlabError(
            f"{source}:{lines[row]}: {_duration(int(steps[row - 1]))} after the previous row "
            f"(line {lines[row - 1]}), not a whole number of the series' step "
            f"{_duration(step_ns)} (the most common step); resample the file to one step"
        )
    positions = (timestamps.asi8 - timestamps.asi8[0]) // step_ns  # (N,) int64
    return pd.tseries.frequencies.to_offset(pd.Timedelta(step_ns, unit="ns")), positions


def _duration(nanoseconds: int) -> str:
    """'01:30:00' or '2 days 00:00:00': pandas' text for a Timedelta without a '0 days' prefix."""
    return str(pd.Timedelta(nanoseconds, unit="ns")).removeprefix("0 days ")


def _infer_calendar_frequency(timestamps: pd.DatetimeIndex) -> str | pd.DateOffset | None:
    """pandas' name for an evenly spaced calendar frequency ("MS", "B"), or None."""
    if len(timestamps) < 3:
        return None
    with warnings.catch_warnings():
        # pandas 3 announces that infer_freq will return an offset instead of its name;
        # to_offset accepts either, so the change does not matter here.
        warnings.simplefilter("ignore", DeprecationWarning)
        return pd.infer_freq(timestamps)


# --- repairs -------------------------------------------------------------------------------------


def _report(
    *,
    source: str,
    timestamps: pd.DatetimeIndex,
    positions: np.ndarray,
    missing: np.ndarray,
    columns: tuple[str, ...],
    lines: list[int],
    frequency: BaseOffset,
    fill: FillPolicy,
    ignored: tuple[str, ...],
) -> SeriesReport:
    """Every gap of ``positions`` (N,) and every ``missing`` (N, F) cell, with its line and how
    the ``fill`` policy fills it."""
    skipped = np.diff(positions) - 1  # (N - 1,) missing steps after each row
    gaps = tuple(
        GapFill(
            line=lines[row],
            previous=timestamps[row - 1],
            next=timestamps[row],
            rows=int(skipped[row - 1]),
        )
        for row in (np.flatnonzero(skipped > 0) + 1).tolist()
    )
    known = ~missing  # (N, F)
    first_known = np.argmax(known, axis=0)  # (F,) every column has one (_Cells.numbers)
    last_known = known.shape[0] - 1 - np.argmax(known[::-1], axis=0)  # (F,)
    cells = []
    for row, column in np.argwhere(missing).tolist():  # row-major: in line order
        how: Literal["interpolated", "carried forward", "carried back"]
        if row < first_known[column]:
            how = "carried back"
        elif fill == "ffill" or row > last_known[column]:
            how = "carried forward"
        else:
            how = "interpolated"
        cells.append(MissingCell(line=lines[row], column=columns[column], how=how))
    per_column = missing.sum(axis=0)  # (F,)
    return SeriesReport(
        source=source,
        rows_read=len(lines),
        frequency=frequency.freqstr,
        fill=fill,
        gap_fills=gaps,
        missing_cells=tuple(cells),
        missing_by_column={
            name: int(count) for name, count in zip(columns, per_column, strict=True) if count
        },
        ignored_columns=ignored,
    )


def _refuse_repairs(report: SeriesReport) -> None:
    source = report.source
    if report.first_gap is not None:
        before, after = report.first_gap
        raise SeqlabError(
            f"{source}:{report.first_gap_line}: gap in the '{report.frequency}' frequency between "
            f"{before} and {after} ({report.rows_inserted} missing row(s) in {report.gaps} "
            "gap(s)); add the rows, or drop --strict (data.strict: false) to have them "
            "filled"
        )
    if report.first_missing is not None:
        line, column = report.first_missing
        raise SeqlabError(
            f"{source}:{line}: column '{column}' has no value ({report.missing_values} missing "
            "value(s) in all); fill them in, or drop --strict (data.strict: false) to have them "
            "filled"
        )


def _fill_column(values: np.ndarray, fill: FillPolicy, *, name: str, source: str) -> np.ndarray:
    """``values`` (N,) float64 with every NaN replaced by the ``fill`` policy."""
    known = ~np.isnan(values)  # (N,)
    if known.all():
        return values
    if not known.any():
        raise SeqlabError(f"{source}: column '{name}' has no values; choose another column")
    positions = np.arange(values.shape[0])  # (N,) grid positions: linear in time on the grid
    if fill == "interpolate":
        # np.interp holds the end values constant outside the known range, which is the
        # "before the first known value" rule of the module docstring.
        return np.interp(positions, positions[known], values[known])  # (N,)
    last_known = np.maximum.accumulate(np.where(known, positions, -1))  # (N,)
    first = int(np.argmax(known))
    return values[np.where(last_known < 0, first, last_known)]  # (N,)


# --- joining and writing -------------------------------------------------------------------------


@dataclass(frozen=True)
class JoinedSeries:
    """The old series followed by the new rows after its end (before any gap between is filled).

    timestamps: (N,); values: (N, F) float32 in the old series' columns; overlap_rows: new rows
    that repeated the old series and were dropped; appended_rows: new rows after its end.
    """

    timestamps: pd.DatetimeIndex
    values: np.ndarray
    overlap_rows: int
    appended_rows: int


def fixed_step(frame: SeriesFrame) -> pd.Timedelta | None:
    """The series' step as a Timedelta, or None for calendar steps (months, business days)."""
    try:
        return pd.Timedelta(frame.frequency.nanos, unit="ns")
    except ValueError:  # "a non-fixed frequency"
        return None


def join_series(old: SeriesFrame, new: SeriesFrame) -> JoinedSeries:
    """``old`` followed by the rows of ``new`` after its last timestamp; ``new``'s rows at or
    before that timestamp must repeat ``old`` exactly (within float32 rounding), and the rest
    must continue it on the same time steps. Both must hold the same columns."""
    source = new.source
    if (old.timestamps.tz is None) != (new.timestamps.tz is None):
        have = "carry" if new.timestamps.tz is not None else "do not carry"
        raise SeqlabError(
            f"{source}: its timestamps {have} a time zone and the training data's do not "
            "match that; write them the same way"
        )
    old_first, old_last = old.timestamps[0], old.timestamps[-1]
    if new.timestamps[0] < old_first:
        raise SeqlabError(
            f"{source}: starts at {new.timestamps[0]}, before the training data's first row "
            f"({old_first}); give rows that continue the training data"
        )
    overlap = np.asarray(new.timestamps <= old_last)  # (M,)
    if overlap.any():
        _check_repeats(old, new, overlap)
    appended = ~overlap  # (M,)
    if not appended.any():
        raise SeqlabError(
            f"{source}: every row (up to {new.timestamps[-1]}) is already in the training data, "
            f"which ends at {old_last}; give rows after it"
        )
    first_new = new.timestamps[appended][0]
    step = fixed_step(old)
    if step is not None and (first_new - old_last) % step != pd.Timedelta(0):
        raise SeqlabError(
            f"{source}: {first_new} is not a whole number of steps ('{old.report.frequency}') "
            f"after the training data's last row ({old_last}); give rows on the same time steps"
        )
    return JoinedSeries(
        timestamps=pd.DatetimeIndex(old.timestamps.append(new.timestamps[appended])),
        values=np.concatenate([old.values, new.values[appended]], axis=0),  # (N, F)
        overlap_rows=int(overlap.sum()),
        appended_rows=int(appended.sum()),
    )


def _check_repeats(old: SeriesFrame, new: SeriesFrame, overlap: np.ndarray) -> None:
    """The ``overlap`` rows of ``new`` (M,) bool lie on ``old``'s rows and repeat its values."""
    source, stamps = new.source, new.timestamps[overlap]
    positions = old.timestamps.get_indexer(stamps)  # (K,) -1: not a row
    if (positions < 0).any():
        stamp = stamps[int(np.argmax(positions < 0))]
        raise SeqlabError(
            f"{source}: timestamp {stamp} falls between rows of the training data (one every "
            f"'{old.report.frequency}'); give rows on the training data's time steps"
        )
    repeated = new.values[overlap].astype(np.float64)  # (K, F)
    known = old.values[positions].astype(np.float64)  # (K, F)
    differ = ~np.isclose(repeated, known, rtol=1e-5, atol=1e-6)  # (K, F)
    if differ.any():
        row, column = np.argwhere(differ)[0]
        raise SeqlabError(
            f"{source}: at {stamps[row]}, column '{old.columns[column]}' holds "
            f"{repeated[row, column]:.6g} where the training data holds "
            f"{known[row, column]:.6g}; rows up to the training data's last one "
            f"({old.timestamps[-1]}) must repeat it; give only the rows after it, or correct "
            "the file"
        )


def series_csv(
    timestamps: pd.DatetimeIndex,
    values: np.ndarray,
    columns: Sequence[str],
    *,
    timestamp_column: str,
) -> str:
    """A series as CSV text that :func:`read_series` reads back: the header, then one row per
    timestamp (ISO 8601) with its values (N, F). Values keep nine significant digits, which read
    back to the same float32 values."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([timestamp_column, *columns])
    for stamp, row in zip(timestamps, values, strict=True):
        writer.writerow([stamp.isoformat(), *(f"{value:.9g}" for value in row)])
    return buffer.getvalue()


def write_series_csv(
    path: str | os.PathLike[str],
    timestamps: pd.DatetimeIndex,
    values: np.ndarray,
    columns: Sequence[str],
    *,
    timestamp_column: str,
) -> None:
    """:func:`series_csv`, written atomically to ``path``."""
    atomic_write_text(
        path, series_csv(timestamps, values, columns, timestamp_column=timestamp_column)
    )
