"""Malformed series files and DataFrames, generated from a fixed seed: reading one either fails
with a one-line SeqlabError naming the data, or gives a series whose report accounts for every
value it did not read as written.

The generator starts from a clean hourly series and applies a few random faults: missing,
unparseable, infinite or huge cells; dropped (gaps), duplicated or swapped rows; unparseable
or shifted timestamps; renamed or missing columns; rows with too few or too many fields; blank
lines, a byte order mark, CRLF line ends, spaces and quotes around cells; and, apart, empty
files, header-only files and random bytes. For a series that was read, every value is checked
against the file: a cell read as written equals its float32 value, and every other one is
either in an inserted row (counted in the report's gaps) or a filled cell the report lists with
its line and column. The forecasting predictor gets DataFrames with the same kinds of faults.
"""

from __future__ import annotations

import csv
import io
import random
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from seqlab.data.series import FLOAT32_MAX, SeriesFrame, read_series
from seqlab.errors import SeqlabError

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "model_dirs"
MISSING = ("", "NaN", "nan", "NA", "null", "None", "n/a", " ")
BAD_NUMBERS = ("abc", "1,5", "--", "1.2.3", "0x1F", "inf", "-Infinity", "1e39", "-1e300")
BAD_STAMPS = ("yesterday", "", "2024-13-01 00:00", "2024-01-01 25:00", "1/2/3/4")


@dataclass
class _File:
    """A CSV as lines of cells, and how to write them."""

    header: list[str]
    rows: list[list[str]]
    blank_after: set[int] = field(default_factory=set)  # data row indexes followed by a blank
    newline: str = "\n"
    bom: bool = False
    quoted: bool = False

    def text_and_lines(self) -> tuple[str, dict[int, list[str]]]:
        """The file's text and each data row's cells by its line number (header: line 1)."""

        def join(cells: list[str]) -> str:
            return ",".join(f'"{cell}"' if self.quoted else cell for cell in cells)

        lines, by_line = [join(self.header)], {}
        for index, row in enumerate(self.rows):
            lines.append(join(row))
            by_line[len(lines)] = row
            if index in self.blank_after:
                lines.append("")
        text = self.newline.join(lines) + self.newline
        return ("\ufeff" if self.bom else "") + text, by_line


def _clean(rng: random.Random) -> _File:
    rows = rng.randint(2, 30)
    stamps = pd.date_range("2024-01-01", periods=rows, freq=rng.choice(["h", "15min", "D"]))
    values = np.round(np.random.default_rng(rng.randrange(1 << 30)).normal(10, 3, (rows, 2)), 3)
    header = ["date", "a", "OT"]
    body = [[str(stamp), f"{a:g}", f"{b:g}"] for stamp, (a, b) in zip(stamps, values, strict=True)]
    if rng.random() < 0.3:
        header.append("site")
        for row in body:
            row.append(rng.choice(["north", "south"]))
    return _File(header, body)


def _pick(rng: random.Random, file: _File) -> int:
    return rng.randrange(len(file.rows)) if file.rows else 0


def _missing_cell(rng: random.Random, file: _File) -> None:
    if file.rows:
        file.rows[_pick(rng, file)][rng.choice([1, 2])] = rng.choice(MISSING)


def _bad_number(rng: random.Random, file: _File) -> None:
    if file.rows:
        file.rows[_pick(rng, file)][rng.choice([1, 2])] = rng.choice(BAD_NUMBERS)


def _drop_rows(rng: random.Random, file: _File) -> None:
    if len(file.rows) > 3:
        start = rng.randrange(1, len(file.rows) - 1)
        del file.rows[start : start + rng.randint(1, 3)]


def _duplicate_row(rng: random.Random, file: _File) -> None:
    if file.rows:
        index = _pick(rng, file)
        file.rows.insert(index, list(file.rows[index]))


def _swap_rows(rng: random.Random, file: _File) -> None:
    if len(file.rows) > 1:
        i, j = rng.sample(range(len(file.rows)), 2)
        file.rows[i], file.rows[j] = file.rows[j], file.rows[i]


def _bad_stamp(rng: random.Random, file: _File) -> None:
    if file.rows:
        file.rows[_pick(rng, file)][0] = rng.choice(BAD_STAMPS)


def _shift_stamp(rng: random.Random, file: _File) -> None:
    if file.rows:
        row = file.rows[_pick(rng, file)]
        row[0] = str(pd.Timestamp(row[0]) + pd.Timedelta(minutes=rng.choice([7, 17, 90])))


def _rename_column(rng: random.Random, file: _File) -> None:
    column = rng.randrange(len(file.header))
    file.header[column] = rng.choice(["ot", "value", "", "a", "date", " OT "])


def _field_count(rng: random.Random, file: _File) -> None:
    if file.rows:
        row = file.rows[_pick(rng, file)]
        if rng.random() < 0.5:
            row.pop()
        else:
            row.append("9")


def _layout(rng: random.Random, file: _File) -> None:
    file.newline = rng.choice(["\n", "\r\n"])
    file.bom = rng.random() < 0.5
    file.quoted = rng.random() < 0.3
    file.blank_after = {index for index in range(len(file.rows)) if rng.random() < 0.1}
    for row in file.rows:
        if rng.random() < 0.2:
            row[1] = f"  {row[1]} "


_FAULTS: list[Callable[[random.Random, _File], None]] = [
    _missing_cell, _missing_cell, _missing_cell, _bad_number, _drop_rows, _drop_rows,
    _duplicate_row, _swap_rows, _bad_stamp, _shift_stamp, _rename_column, _field_count, _layout,
]  # fmt: skip


def _odd_bytes(rng: random.Random) -> bytes:
    """An empty file, a header alone, random bytes, or random printable text."""
    kind = rng.randrange(5)
    if kind == 0:
        return b""
    if kind == 1:
        return rng.choice([b"date,OT\n", b"date,OT\r\n\r\n", b"\xef\xbb\xbfdate,a,OT", b"\n\n"])
    if kind == 2:
        return bytes(rng.randrange(256) for _ in range(rng.randint(1, 200)))
    if kind == 3:
        return "".join(rng.choice("date,OT0123456789.-:\n \"'") for _ in range(200)).encode()
    return b"date,OT\n2024-01-01 00:00,1\n2024-01-01 01:00,\x00\n"


def _check_accounts_for_every_value(
    frame: SeriesFrame, by_line: dict[int, list[str]], header: list[str]
) -> None:
    """Every value of ``frame`` is the float32 of its cell, or a repair its report lists."""
    report = frame.report
    assert len(frame) == report.rows == report.rows_read + report.rows_inserted
    assert report.rows_read == len(by_line)
    assert frame.values.dtype == np.float32 and np.isfinite(frame.values).all()
    assert np.abs(frame.values).max() <= FLOAT32_MAX
    steps = np.diff(frame.timestamps.asi8)
    assert (steps > 0).all()
    inserted = int((frame.lines == 0).sum())
    assert inserted == report.rows_inserted == sum(gap.rows for gap in report.gap_fills)
    names = [name.strip() for name in header]
    filled = set()
    for row, line in enumerate(frame.lines.tolist()):
        if line == 0:
            continue
        cells = by_line[line]
        for column, name in enumerate(frame.columns):
            text = cells[names.index(name)].strip()
            if text.lower() in {"", "nan", "na", "n/a", "null", "none"}:
                filled.add((line, name))
            else:
                assert frame.values[row, column] == np.float32(float(text)), (line, name, text)
    assert filled == {(cell.line, cell.column) for cell in report.missing_cells}
    fixes = " ".join(report.fixes())
    assert (f"{report.rows_inserted} missing row(s) inserted" in fixes) == bool(inserted)
    assert (f"{report.missing_values} missing value(s)" in fixes) == bool(filled)


def _read(path: Path, rng: random.Random) -> SeriesFrame:
    return read_series(
        path,
        features=rng.choice(["S", "M", "MS"]),
        fill=rng.choice(["interpolate", "ffill"]),
        strict=rng.random() < 0.1,
    )


def test_generated_malformed_files_fail_with_a_message_or_account_for_every_repair(
    tmp_path: Path,
) -> None:
    rng = random.Random(20240601)
    outcomes = {"read": 0, "refused": 0}
    for case in range(1200):
        path = tmp_path / f"case{case}.csv"
        by_line: dict[int, list[str]] | None = None
        if case % 8 == 7:
            path.write_bytes(_odd_bytes(rng))
        else:
            file = _clean(rng)
            for fault in rng.sample(_FAULTS, rng.randint(0, 3)):
                fault(rng, file)
            text, by_line = file.text_and_lines()
            path.write_bytes(text.encode("utf-8"))
            header = file.header
        try:
            frame = _read(path, rng)
        except SeqlabError as error:
            message = str(error)
            assert message and "\n" not in message and str(path) in message, (case, message)
            outcomes["refused"] += 1
            continue
        outcomes["read"] += 1
        if by_line is not None:
            _check_accounts_for_every_value(frame, by_line, header)
    assert min(outcomes.values()) > 300, outcomes  # both outcomes are exercised


# --- the predictor's forecast on a DataFrame ---------------------------------------------------


@pytest.fixture(scope="module")
def predictor(tmp_path_factory: pytest.TempPathFactory):
    import seqlab

    folder = tmp_path_factory.mktemp("fuzz") / "model"
    shutil.copytree(FIXTURES / "forecasting", folder)
    return seqlab.load(folder)


def _recent_frame() -> pd.DataFrame:
    return pd.read_csv(FIXTURES / "forecasting_recent.csv", parse_dates=["date"])


def _faulty_frame(rng: random.Random) -> pd.DataFrame:
    frame = _recent_frame().iloc[rng.randrange(0, 60) :].reset_index(drop=True)
    for _ in range(rng.randint(0, 3)):
        kind = rng.randrange(10)
        columns = [name for name in ("load", "wind", "temp") if name in frame.columns]
        if not columns or frame.empty:
            break
        row, column = rng.randrange(len(frame)), rng.choice(columns)
        if kind == 0:
            frame.loc[row, column] = np.nan
        elif kind == 1:
            frame[column] = frame[column].astype(object)
            frame.loc[row, column] = rng.choice(["abc", "inf", "1e300", "", None, "NA"])
        elif kind == 2:
            frame.loc[row, column] = rng.choice([np.inf, -np.inf, 1e300, 1e18, 5000.0, -1e6])
        elif kind == 3:
            frame = frame.drop(index=rng.sample(range(len(frame)), min(len(frame), 3)))
        elif kind == 4:
            frame = pd.concat([frame, frame.iloc[[row]]])
        elif kind == 5:
            frame = frame.sample(frac=1.0, random_state=rng.randrange(1000))
        elif kind == 6:
            frame = frame.drop(columns=[column])
        elif kind == 7:
            frame = frame.rename(columns={column: column.upper()})
        elif kind == 8:
            frame = frame.iloc[: rng.randint(0, 30)]
        else:
            frame.loc[row, "date"] = frame.loc[row, "date"] + pd.Timedelta(minutes=13)
        frame = frame.reset_index(drop=True)
    if rng.random() < 0.5 and "date" in frame.columns:
        frame = frame.set_index("date")
        if rng.random() < 0.3:
            frame.index = frame.index.tz_localize("UTC")
    return frame


def test_forecast_on_generated_faulty_dataframes_fails_with_a_message_or_reports_repairs(
    predictor,
) -> None:
    rng = random.Random(7)
    outcomes = {"forecast": 0, "refused": 0}
    for case in range(400):
        frame = _faulty_frame(rng)
        policy = rng.choice([None, "keep"])
        try:
            forecast = predictor.forecast(frame, outliers=policy)
        except SeqlabError as error:
            message = str(error)
            assert message.startswith("the DataFrame") and "\n" not in message, (case, message)
            outcomes["refused"] += 1
            continue
        outcomes["forecast"] += 1
        assert forecast.shape == (predictor.horizon, 1)
        assert np.isfinite(forecast.to_numpy()).all()
        series = predictor.read(frame, outliers=policy)
        assert forecast.attrs["notes"] == series.report.fixes()
        # The DataFrame as the CSV the predictor reads it through: every value accounted for.
        indexed = isinstance(frame.index, pd.DatetimeIndex)
        text = frame.to_csv(index=indexed, index_label="timestamp" if indexed else None)
        rows = list(csv.reader(io.StringIO(text)))
        by_line = {line: cells for line, cells in enumerate(rows[1:], start=2)}
        _check_accounts_for_every_value(series, by_line, rows[0])
    assert min(outcomes.values()) > 100, outcomes
