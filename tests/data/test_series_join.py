"""Continuing a series with newer rows and writing it back (seqlab.data.series: join_series,
fixed_step, series_csv, write_series_csv).

Each test writes a few lines to tmp_path; the joined rows, counts and CSV text are written out by
hand from the text in the test.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from seqlab.data.series import (
    fixed_step,
    join_series,
    read_series,
    series_csv,
    write_series_csv,
)
from seqlab.errors import SeqlabError

OLD = """date,load,temp
2024-01-01 00:00,1.5,10
2024-01-01 01:00,2.5,11
2024-01-01 02:00,3.5,12.25
"""


def _read(tmp_path: Path, name: str, text: str):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return read_series(path, target="temp", features="MS")


def test_new_rows_after_a_repeated_overlap_are_appended(tmp_path: Path) -> None:
    old = _read(tmp_path, "old.csv", OLD)
    new = _read(
        tmp_path,
        "new.csv",
        "date,load,temp\n"
        "2024-01-01 01:00,2.5,11\n"  # repeats the old series: dropped
        "2024-01-01 02:00,3.5,12.25\n"  # repeats the old series: dropped
        "2024-01-01 03:00,4.5,13\n"
        "2024-01-01 04:00,5.5,14.5\n",
    )
    joined = join_series(old, new)
    assert (joined.overlap_rows, joined.appended_rows) == (2, 2)
    np.testing.assert_array_equal(
        joined.values,
        np.array([[1.5, 10], [2.5, 11], [3.5, 12.25], [4.5, 13], [5.5, 14.5]], np.float32),
    )
    assert list(joined.timestamps) == list(pd.date_range("2024-01-01", periods=5, freq="h"))


def test_a_gap_before_the_new_rows_is_kept_for_the_reader_to_fill(tmp_path: Path) -> None:
    old = _read(tmp_path, "old.csv", OLD)
    new = _read(
        tmp_path, "new.csv", "date,load,temp\n2024-01-01 05:00,7,16\n2024-01-01 06:00,8,17\n"
    )
    joined = join_series(old, new)
    assert (joined.overlap_rows, joined.appended_rows) == (0, 2)
    assert [stamp.hour for stamp in joined.timestamps] == [0, 1, 2, 5, 6]
    assert fixed_step(old) == pd.Timedelta(hours=1)
    # Written and read back, the two missing hours are inserted and interpolated.
    path = tmp_path / "joined.csv"
    write_series_csv(path, joined.timestamps, joined.values, old.columns, timestamp_column="date")
    again = read_series(path, target="temp", features="MS")
    assert again.report.rows_inserted == 2
    # Three steps from (3.5, 12.25) at 02:00 to (7, 16) at 05:00: a third of the way, then two.
    np.testing.assert_allclose(again.values[3:5], [[14 / 3, 13.5], [35 / 6, 14.75]], rtol=1e-7)


def test_new_rows_that_contradict_or_do_not_continue_the_old_ones_are_refused(
    tmp_path: Path,
) -> None:
    old = _read(tmp_path, "old.csv", OLD)

    def refused(text: str) -> str:
        with pytest.raises(SeqlabError) as caught:
            join_series(old, _read(tmp_path, "new.csv", "date,load,temp\n" + text))
        return str(caught.value)

    message = refused("2024-01-01 02:00,3.5,12.5\n2024-01-01 03:00,4.5,13\n")
    assert (
        "at 2024-01-01 02:00:00, column 'temp' holds 12.5 where the training data holds 12.25"
        in (message)
    )
    assert "is already in the training data" in refused(
        "2024-01-01 01:00,2.5,11\n2024-01-01 02:00,3.5,12.25\n"
    )
    assert "2024-01-01 03:30:00 is not a whole number of steps ('h')" in refused(
        "2024-01-01 03:30,4.5,13\n2024-01-01 04:30,5.5,14\n"
    )
    assert "before the training data's first row" in refused(
        "2023-12-31 23:00,0.5,9\n2024-01-01 00:00,1.5,10\n"
    )


def test_series_csv_is_the_text_written_and_reads_back_bit_for_bit(tmp_path: Path) -> None:
    stamps = pd.date_range("2024-01-01", periods=3, freq="30min")
    values = np.array([[0.1, 1e-7], [1 / 3, -2.5], [123456.789, 7.0]], np.float32)  # (N, F)
    text = series_csv(stamps, values, ("a", "b"), timestamp_column="timestamp")
    assert text == (
        "timestamp,a,b\n"
        "2024-01-01T00:00:00,0.100000001,1.00000001e-07\n"
        "2024-01-01T00:30:00,0.333333343,-2.5\n"
        "2024-01-01T01:00:00,123456.789,7\n"
    )
    path = tmp_path / "written.csv"
    write_series_csv(path, stamps, values, ("a", "b"), timestamp_column="timestamp")
    assert path.read_text(encoding="utf-8") == text
    frame = read_series(path, target="b", features="M")
    np.testing.assert_array_equal(frame.values, values)  # the same float32 values, bit for bit
    assert list(frame.timestamps) == list(stamps) and frame.columns == ("a", "b")
    assert fixed_step(frame) == pd.Timedelta(minutes=30)
