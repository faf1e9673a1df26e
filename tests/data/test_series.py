"""Time-series CSV reading (seqlab.data.series): columns, frequency, repairs and every bad file.

Each test writes a few lines to tmp_path; expected values and line numbers are counted by hand
from the text in the test (the header is line 1, the first data row line 2).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from seqlab.data.series import GapFill, read_series
from seqlab.errors import SeqlabError

_REAL_DATA = os.environ.get("SEQLAB_DATA", "").strip()

HOURLY = """date,HUFL,station,OT
2016-07-01 00:00:00,1.5,north,10
2016-07-01 01:00:00,2.5,north,11
2016-07-01 02:00:00,3.5,south,12.25
2016-07-01 03:00:00,4.5,south,13
"""


def _csv(tmp_path: Path, text: str, name: str = "series.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _error(path: Path, **kwargs: object) -> str:
    with pytest.raises(SeqlabError) as caught:
        read_series(path, **kwargs)
    message = str(caught.value)
    assert "\n" not in message
    return message


# --- good files ----------------------------------------------------------------------------------


def test_multivariate_reads_numeric_columns_with_the_target_last(tmp_path):
    path = _csv(tmp_path, HOURLY)
    frame = read_series(path, features="M")
    assert frame.columns == ("HUFL", "OT")
    assert frame.target == "OT" and frame.target_index == 1
    assert frame.values.dtype == np.float32
    np.testing.assert_array_equal(
        frame.values, np.array([[1.5, 10], [2.5, 11], [3.5, 12.25], [4.5, 13]], np.float32)
    )
    assert frame.frequency == pd.Timedelta(hours=1)
    assert frame.timestamps[0] == pd.Timestamp("2016-07-01 00:00:00")
    assert list(frame.timestamps) == list(pd.date_range("2016-07-01", periods=4, freq="h"))
    assert frame.report.ignored_columns == ("station",)
    assert frame.report.clean and frame.report.fixes() == []
    assert (frame.report.rows_read, frame.report.rows) == (4, 4)


def test_univariate_reads_the_target_alone(tmp_path):
    frame = read_series(_csv(tmp_path, HOURLY), features="S")
    assert frame.columns == ("OT",)
    assert frame.values.shape == (4, 1)
    np.testing.assert_array_equal(frame.values[:, 0], np.array([10, 11, 12.25, 13], np.float32))


def test_explicit_inputs_keep_their_order_and_the_target_goes_last(tmp_path):
    path = _csv(
        tmp_path,
        "Timestamp,a,OT,b\n2020-01-01,1,2,3\n2020-01-02,4,5,6\n",
    )
    frame = read_series(path, features="M", inputs=["OT", "b", "a"])
    assert frame.columns == ("b", "a", "OT")
    np.testing.assert_array_equal(frame.values, np.array([[3, 1, 2], [6, 4, 5]], np.float32))
    assert frame.frequency == pd.Timedelta(days=1)


def test_timestamp_column_is_found_by_name_or_given(tmp_path):
    path = _csv(tmp_path, "when,x\n2020-01-01 00:00,1\n2020-01-01 00:15,2\n")
    message = _error(path, target="x")
    assert "no timestamp column" in message and "the file has: when, x" in message
    frame = read_series(path, timestamp_column="when", target="x")
    assert frame.frequency == pd.Timedelta(minutes=15)
    assert frame.report.frequency == "15min"


def test_byte_order_mark_and_blank_lines_keep_line_numbers(tmp_path):
    path = tmp_path / "bom.csv"
    path.write_bytes(b"\xef\xbb\xbfdate,OT\n2020-01-01 00:00,1\n\n2020-01-01 01:00,2\n")
    assert read_series(path).values[:, 0].tolist() == [1.0, 2.0]
    path.write_bytes(b"\xef\xbb\xbfdate,OT\n2020-01-01 00:00,1\n\n2020-01-01 01:00,oops\n")
    assert _error(path) == f"{path}:4: column 'OT' holds 'oops', not a finite number; " + (
        "correct it, or empty the cell to have it filled"
    )


def test_calendar_months_without_gaps_are_accepted(tmp_path):
    path = _csv(tmp_path, "date,OT\n2020-01-01,1\n2020-02-01,2\n2020-03-01,3\n2020-04-01,4\n")
    frame = read_series(path)
    assert frame.frequency.freqstr == "MS"
    assert len(frame) == 4 and frame.report.clean


def test_daylight_saving_offsets_become_utc(tmp_path):
    path = _csv(
        tmp_path,
        "date,OT\n2021-03-28T00:00:00+01:00,1\n2021-03-28T01:00:00+01:00,2\n"
        "2021-03-28T03:00:00+02:00,3\n2021-03-28T04:00:00+02:00,4\n",
    )
    frame = read_series(path)
    assert str(frame.timestamps.tz) == "UTC"
    assert frame.timestamps[0] == pd.Timestamp("2021-03-27 23:00", tz="UTC")
    assert frame.frequency == pd.Timedelta(hours=1) and frame.report.clean


def test_a_timestamp_without_the_others_offset_names_its_line(tmp_path):
    path = _csv(tmp_path, "date,OT\n2021-03-28T00:00:00+01:00,1\n2021-03-28T01:00:00,2\n")
    assert _error(path).startswith(f"{path}:3: cannot parse timestamp '2021-03-28T01:00:00'")


# --- gaps and missing values ---------------------------------------------------------------------

GAPPY = """date,a,OT
2016-07-01 00:00:00,0,1
2016-07-01 01:00:00,10,2
2016-07-01 04:00:00,40,8
2016-07-01 05:00:00,50,9
2016-07-01 07:00:00,70,13
"""


def test_gaps_are_filled_by_linear_interpolation_in_time(tmp_path):
    path = _csv(tmp_path, GAPPY)
    frame = read_series(path, features="M")
    assert list(frame.timestamps) == list(pd.date_range("2016-07-01", periods=8, freq="h"))
    # OT: 2 at 01:00 and 8 at 04:00 -> 4, 6 at 02:00, 03:00; 9 at 05:00, 13 at 07:00 -> 11.
    np.testing.assert_array_equal(
        frame.values[:, 1], np.array([1, 2, 4, 6, 8, 9, 11, 13], np.float32)
    )
    np.testing.assert_array_equal(frame.values[:, 0], np.arange(0, 80, 10, dtype=np.float32))
    report = frame.report
    assert (report.gaps, report.rows_inserted, report.rows_read, report.rows) == (2, 3, 5, 8)
    assert report.first_gap == (pd.Timestamp("2016-07-01 01:00"), pd.Timestamp("2016-07-01 04:00"))
    assert report.first_gap_line == 4
    assert report.missing_values == 0  # inserted rows are gaps, not missing cells
    assert report.gap_fills == (
        GapFill(4, pd.Timestamp("2016-07-01 01:00"), pd.Timestamp("2016-07-01 04:00"), 2),
        GapFill(6, pd.Timestamp("2016-07-01 05:00"), pd.Timestamp("2016-07-01 07:00"), 1),
    )
    assert report.fixes() == [
        f"{path}: 2 gap(s) in the 'h' frequency, 3 missing row(s) inserted, filled by linear "
        "interpolation in time: 2 row(s) between 2016-07-01 01:00:00 and 2016-07-01 04:00:00 "
        "(before line 4); 1 row(s) between 2016-07-01 05:00:00 and 2016-07-01 07:00:00 (before "
        "line 6)"
    ]
    # Each row knows its line; inserted rows have none.
    np.testing.assert_array_equal(frame.lines, [2, 3, 0, 0, 4, 5, 0, 6])


def test_many_gaps_name_the_first_three_then_a_count(tmp_path):
    # Hourly, with gaps of 1, 1, 1, 1 and 2 rows before lines 4, 6, 8, 10 and 11.
    hours = [0, 1, 3, 4, 6, 7, 9, 10, 12, 15, 16]
    rows = "".join(f"2020-01-01 {hour:02d}:00,{hour}\n" for hour in hours)
    report = read_series(_csv(tmp_path, "date,OT\n" + rows)).report
    assert [(gap.line, gap.rows) for gap in report.gap_fills] == [
        (4, 1), (6, 1), (8, 1), (10, 1), (11, 2)
    ]  # fmt: skip
    assert report.fixes()[0].endswith(
        "1 row(s) between 2020-01-01 07:00:00 and 2020-01-01 09:00:00 (before line 8); and 2 "
        "more gap(s) (3 rows)"
    )


def test_gaps_filled_forward(tmp_path):
    frame = read_series(_csv(tmp_path, GAPPY), fill="ffill")
    np.testing.assert_array_equal(
        frame.values[:, 0], np.array([1, 2, 2, 2, 8, 9, 9, 13], np.float32)
    )
    assert frame.report.fill == "ffill"
    assert (
        "inserted, filled by carrying the last value forward: 2 row(s)" in (frame.report.fixes()[0])
    )


def test_strict_refuses_a_gap_naming_its_line(tmp_path):
    path = _csv(tmp_path, GAPPY)
    assert _error(path, strict=True) == (
        f"{path}:4: gap in the 'h' frequency between 2016-07-01 01:00:00 and 2016-07-01 04:00:00 "
        "(3 missing row(s) in 2 gap(s)); add the rows, or drop --strict (data.strict: false) "
        "to have them filled"
    )


MISSING = """date,a,OT
2016-07-01 00:00:00,,1
2016-07-01 01:00:00,5,NaN
2016-07-01 02:00:00,7,3
2016-07-01 03:00:00,NA,6
2016-07-01 04:00:00,11,
"""


def test_missing_values_are_filled_and_counted(tmp_path):
    path = _csv(tmp_path, MISSING)
    frame = read_series(path, features="M")
    # a: the leading gap takes the first known value 5; 03:00 lies halfway between 7 and 11.
    np.testing.assert_array_equal(frame.values[:, 0], np.array([5, 5, 7, 9, 11], np.float32))
    # OT: 01:00 between 1 and 3 -> 2; the trailing cell keeps the last known value 6.
    np.testing.assert_array_equal(frame.values[:, 1], np.array([1, 2, 3, 6, 6], np.float32))
    report = frame.report
    assert report.missing_values == 4
    assert report.missing_by_column == {"a": 2, "OT": 2}
    assert report.first_missing == (2, "a")
    assert report.rows_inserted == 0
    # Each cell says how it was filled: the leading one from the first known value, the
    # trailing one from the last (nothing after it to interpolate to); the first three are named.
    assert [(cell.line, cell.column, cell.how) for cell in report.missing_cells] == [
        (2, "a", "carried back"),
        (3, "OT", "interpolated"),
        (5, "a", "interpolated"),
        (6, "OT", "carried forward"),
    ]
    assert report.fixes() == [
        f"{path}: 4 missing value(s) (a: 2, OT: 2) filled: line 2, column 'a' (the first known "
        "value carried back); line 3, column 'OT' (interpolated in time); line 5, column 'a' "
        "(interpolated in time); and 1 more"
    ]


def test_missing_values_filled_forward(tmp_path):
    frame = read_series(_csv(tmp_path, MISSING), features="M", fill="ffill")
    np.testing.assert_array_equal(frame.values[:, 0], np.array([5, 5, 7, 7, 11], np.float32))
    np.testing.assert_array_equal(frame.values[:, 1], np.array([1, 1, 3, 6, 6], np.float32))


def test_only_chosen_columns_count_as_missing(tmp_path):
    frame = read_series(_csv(tmp_path, MISSING), features="S")
    assert frame.report.missing_by_column == {"OT": 2}
    assert frame.report.first_missing == (3, "OT")


def test_strict_refuses_a_missing_value_naming_line_and_column(tmp_path):
    path = _csv(tmp_path, MISSING)
    assert _error(path, features="S", strict=True) == (
        f"{path}:3: column 'OT' has no value (2 missing value(s) in all); fill them in, or "
        "drop --strict (data.strict: false) to have them filled"
    )


def test_a_missing_cell_next_to_a_gap_interpolates_across_both(tmp_path):
    path = _csv(tmp_path, "date,OT\n2020-01-01 00:00,0\n2020-01-01 01:00,\n2020-01-01 03:00,30\n")
    frame = read_series(path)
    np.testing.assert_array_equal(frame.values[:, 0], np.array([0, 10, 20, 30], np.float32))
    assert (frame.report.missing_values, frame.report.rows_inserted) == (1, 1)


def test_a_gap_larger_than_the_file_is_refused(tmp_path):
    path = _csv(tmp_path, "date,OT\n2020-01-01 00:00,1\n2020-01-01 01:00,2\n2020-01-02 01:00,3\n")
    message = _error(path)
    assert message.startswith(f"{path}:4: filling the gaps would insert 23 rows into a file of 3")


# --- bad files -----------------------------------------------------------------------------------


def test_missing_file(tmp_path):
    path = tmp_path / "absent.csv"
    assert _error(path) == f"{path}: no such file; check the path"


def test_empty_file(tmp_path):
    path = _csv(tmp_path, "  \n\n")
    assert _error(path).startswith(f"{path} is empty; expected a header line")


def test_header_without_data_rows(tmp_path):
    path = _csv(tmp_path, "date,OT\n\n")
    assert _error(path) == (
        f"{path} has a header but no data rows; add one row per time step below it"
    )


def test_one_data_row_has_no_step(tmp_path):
    path = _csv(tmp_path, "date,OT\n2020-01-01,1\n")
    assert "has 1 data row" in _error(path)


def test_unknown_target_lists_the_columns(tmp_path):
    path = _csv(tmp_path, HOURLY)
    assert _error(path, target="oil") == (
        f"{path}: no column 'oil' (target); the file has: date, HUFL, station, OT"
    )


def test_unknown_input_lists_the_columns(tmp_path):
    path = _csv(tmp_path, HOURLY)
    assert _error(path, features="M", inputs=["HUFL", "MUFL"]) == (
        f"{path}: no column 'MUFL' (input); the file has: date, HUFL, station, OT"
    )


def test_non_numeric_value_names_line_and_column(tmp_path):
    path = _csv(tmp_path, HOURLY.replace("3.5,south", "3.5x,south"))
    assert _error(path, features="M") == (
        f"{path}:4: column 'HUFL' holds '3.5x', not a finite number; correct it, or empty the "
        "cell to have it filled"
    )


def test_a_chosen_text_column_is_reported_not_dropped(tmp_path):
    path = _csv(tmp_path, HOURLY)
    message = _error(path, features="M", inputs=["station"])
    assert message.startswith(f"{path}:2: column 'station' holds 'north', not a finite number")


def test_infinite_value_is_refused(tmp_path):
    path = _csv(tmp_path, HOURLY.replace(",11\n", ",inf\n"))
    assert _error(path).startswith(f"{path}:3: column 'OT' holds 'inf', not a finite number")


@pytest.mark.parametrize("text", ["1e39", "-3.5e38", "1e400"])
def test_a_value_beyond_float32_is_refused(tmp_path, text):
    path = _csv(tmp_path, HOURLY.replace(",11\n", f",{text}\n"))
    assert _error(path) == (
        f"{path}:3: column 'OT' holds '{text}', beyond the float32 range (magnitude at most "
        "3.403e+38) the models compute in; correct it (a typo or a unit?), or empty the cell to "
        "have it filled"
    )
    # The largest float32 itself is a value like any other.
    frame = read_series(_csv(tmp_path, HOURLY.replace(",11\n", ",3.4028234e38\n")))
    assert frame.values[1, 0] == np.finfo(np.float32).max


def test_unparsable_timestamp_names_line_and_text(tmp_path):
    path = _csv(tmp_path, HOURLY.replace("2016-07-01 02:00:00", "2016-07-01 2 pm"))
    assert _error(path) == (
        f"{path}:4: cannot parse timestamp '2016-07-01 2 pm' in 'date'; write every timestamp "
        "like the first row's '2016-07-01 00:00:00'"
    )


def test_unparsable_first_timestamp(tmp_path):
    path = _csv(tmp_path, HOURLY.replace("2016-07-01 00:00:00", "yesterday"))
    assert _error(path).startswith(f"{path}:2: cannot parse timestamp 'yesterday' in 'date'")


def test_empty_timestamp(tmp_path):
    path = _csv(tmp_path, HOURLY.replace("2016-07-01 03:00:00", ""))
    assert _error(path) == f"{path}:5: empty timestamp in 'date'"


def test_duplicate_timestamp_names_its_line(tmp_path):
    path = _csv(tmp_path, HOURLY.replace("2016-07-01 02:00:00", "2016-07-01 01:00:00"))
    assert _error(path) == (
        f"{path}:4: timestamp 2016-07-01 01:00:00 repeats the previous row's 2016-07-01 01:00:00 "
        "(line 3); timestamps must strictly increase: sort the file or remove the duplicate"
    )


def test_timestamp_going_backwards_names_its_line(tmp_path):
    path = _csv(tmp_path, HOURLY.replace("2016-07-01 03:00:00", "2016-07-01 00:30:00"))
    assert _error(path).startswith(
        f"{path}:5: timestamp 2016-07-01 00:30:00 goes back before the previous row's "
        "2016-07-01 02:00:00 (line 4)"
    )


def test_uneven_step_names_its_line(tmp_path):
    text = (
        "date,OT\n2020-01-01 00:00,1\n2020-01-01 01:00,2\n2020-01-01 02:30,3\n2020-01-01 03:30,4\n"
    )
    text += "2020-01-01 04:30,5\n"
    path = _csv(tmp_path, text)
    assert _error(path) == (
        f"{path}:4: 01:30:00 after the previous row (line 3), not a whole number of the "
        "series' step 01:00:00 (the most common step); resample the file to one step"
    )


def test_ragged_row_names_its_line(tmp_path):
    path = _csv(tmp_path, HOURLY.replace("4.5,south,13", "4.5,south"))
    assert (
        _error(path) == f"{path}:5: 3 fields, the header has 4; give every row one value per column"
    )


def test_duplicate_header_name(tmp_path):
    path = _csv(tmp_path, "date,OT,OT\n2020-01-01,1,2\n")
    assert _error(path) == f"{path}:1: column 'OT' appears twice (columns 2 and 3); rename one"


def test_bytes_that_are_not_utf8_name_their_line(tmp_path):
    path = tmp_path / "latin1.csv"
    path.write_bytes(b"date,OT\n2020-01-01,1\n2020-01-02,\xe9\n")
    assert _error(path) == f"{path}:3: bytes that are not UTF-8; save the file as UTF-8"


def test_bad_options(tmp_path):
    path = _csv(tmp_path, HOURLY)
    assert _error(path, features="X") == "features ('X') must be one of: S, M, MS"
    assert _error(path, fill="zero") == "fill ('zero') must be one of: interpolate, ffill"
    assert "features='S' reads the target alone" in _error(path, inputs=["HUFL"])


# --- the real file ------------------------------------------------------------------------------


@pytest.mark.skipif(not _REAL_DATA, reason="SEQLAB_DATA is unset; the real ETTh1.csv is not read")
def test_real_etth1():
    from seqlab.data.sources import resolve_file

    root = Path(_REAL_DATA).expanduser()
    if not (root / "ett" / "ETTh1.csv").is_file():
        pytest.skip(f"SEQLAB_DATA={root} has no ett/ETTh1.csv")
    frame = read_series(resolve_file("etth1", "ETTh1.csv", download=False), features="M")
    assert len(frame) == 17_420
    assert frame.values.shape == (17_420, 7)
    assert frame.columns == ("HUFL", "HULL", "MUFL", "MULL", "LUFL", "LULL", "OT")
    assert frame.target_index == 6
    assert frame.frequency == pd.Timedelta(hours=1)
    assert frame.report.clean and frame.report.gaps == 0
    assert frame.timestamps[0] == pd.Timestamp("2016-07-01 00:00:00")
    assert frame.timestamps[-1] == pd.Timestamp("2018-06-26 19:00:00")
    np.testing.assert_allclose(frame.values[0, -1], 30.5310001373291, rtol=1e-7)
