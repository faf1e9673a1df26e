"""The outlier rule (seqlab.data.outliers): its reference, its threshold, refusal and keeping,
and that it never fires on ETTh1 or on ordinary generated series.

Small series are written to tmp_path; distances are worked out by hand from their values.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from seqlab.data.outliers import (
    OUTLIER_THRESHOLD,
    OutlierReference,
    check_outliers,
    find_outliers,
    refuse_overflow,
)
from seqlab.data.scaling import StandardScaler
from seqlab.data.series import SeriesFrame, read_series
from seqlab.data.windows import split_bounds
from seqlab.errors import SeqlabError

_REAL_DATA = os.environ.get("SEQLAB_DATA", "").strip()


def _series(tmp_path: Path, values: list[str], *, name: str = "s.csv") -> SeriesFrame:
    """Hourly values of OT (line k + 2 holds values[k]), read as a series."""
    rows = "".join(
        f"2024-01-{1 + hour // 24:02d} {hour % 24:02d}:00,{value}\n"
        for hour, value in enumerate(values)
    )
    path = tmp_path / name
    path.write_text("date,OT\n" + rows, encoding="utf-8")
    return read_series(path)


def test_the_reference_is_the_median_and_1_4826_mad_of_the_training_rows() -> None:
    values = np.array([[1.0, 5.0], [2.0, 5.0], [3.0, 5.0], [4.0, 6.0], [100.0, 9.0]])  # (N, F)
    reference = OutlierReference.fit(values, rows=range(0, 4), columns=("a", "b"))
    # a over rows 0..3: median 2.5, |x - 2.5| = 1.5, 0.5, 0.5, 1.5 -> MAD 1.0.
    # b: median 5, |x - 5| = 0, 0, 0, 1 -> MAD 0, so its std over those rows, sqrt(3/16).
    np.testing.assert_allclose(reference.median, [2.5, 5.0])
    np.testing.assert_allclose(reference.scale, [1.4826, np.sqrt(3 / 16)])
    np.testing.assert_allclose(
        reference.distances(values[4:]), [[97.5 / 1.4826, 4 / np.sqrt(3 / 16)]]
    )
    again = OutlierReference.from_dict(reference.to_dict(), ("a", "b"))
    np.testing.assert_array_equal(again.scale, reference.scale)
    assert reference.to_dict()["threshold"] == OUTLIER_THRESHOLD


def test_a_constant_column_is_not_judged() -> None:
    values = np.array([[7.0], [7.0], [7.0], [1e9]])  # (N, F)
    reference = OutlierReference.fit(values, rows=range(0, 3), columns=("c",))
    assert reference.scale.tolist() == [0.0]
    assert reference.distances(values).tolist() == [[0.0]] * 4


def test_the_threshold_is_strict_and_only_file_rows_are_judged(tmp_path: Path) -> None:
    # Median 10, MAD 1 (a scale of 1.4826) over the first 4 rows.
    edge = 10 + OUTLIER_THRESHOLD * 1.4826
    frame = _series(tmp_path, ["9", "11", "9", "11", f"{edge:.6f}", f"{edge + 1:.6f}"])
    reference = OutlierReference.fit(frame.values, rows=range(0, 4), columns=frame.columns)
    found = find_outliers(frame, reference)
    # float32 holds 1492.6 as 1492.5999755859375, just inside; the next row is out.
    assert [(item.line, item.column) for item in found] == [(7, "OT")]
    assert found[0].distance == pytest.approx((edge + 1 - 10) / 1.4826, rel=1e-6)
    # The empty cell before the outlier is filled halfway to it: only the value read is named.
    gappy = _series(tmp_path, ["9", "11", "9", "11", "", "1e6"], name="gappy.csv")
    assert [(item.line, item.value) for item in find_outliers(gappy, reference)] == [(7, 1e6)]


def test_refuse_names_the_file_line_column_and_count(tmp_path: Path) -> None:
    frame = _series(tmp_path, ["9", "11", "9", "11", "1e6", "10", "-9999"])
    reference = OutlierReference.fit(frame.values, rows=range(0, 4), columns=frame.columns)
    with pytest.raises(SeqlabError) as caught:
        check_outliers(frame, reference, policy="refuse")
    assert str(caught.value) == (
        f"{frame.source}:6: column 'OT' holds 1e+06, 6.74e+05 robust standard deviations from "
        "its training median 10: an outlier (2 in the file; the rule: more than 1000 robust "
        "standard deviations (1.4826 x the median absolute deviation) from the median of the "
        "column's training rows); correct it (a typo, a unit, a sentinel such as -9999?), "
        "empty the cell to have it filled, or keep it with --outliers keep (seqlab train and "
        "forecast; data.outliers=keep)"
    )


def test_keep_reports_the_first_few_in_full_then_a_count(tmp_path: Path) -> None:
    frame = _series(tmp_path, ["9", "11", "9", "11", "1e6", "2e6", "3e6", "4e6", "5e6"])
    reference = OutlierReference.fit(frame.values, rows=range(0, 4), columns=frame.columns)
    kept = check_outliers(frame, reference, policy="keep")
    np.testing.assert_array_equal(kept.values, frame.values)  # kept as they are
    assert kept.report.fixes() == [
        f"{frame.source}: 5 outlier(s) kept (data.outliers=keep), more than 1000 robust "
        "standard deviations (1.4826 x the median absolute deviation) from the median of the "
        "column's training rows: line 6, column 'OT' = 1e+06 (6.74e+05); line 7, column 'OT' "
        "= 2e+06 (1.35e+06); line 8, column 'OT' = 3e+06 (2.02e+06); and 2 more"
    ]
    with pytest.raises(SeqlabError, match=r"data.outliers \('drop'\) must be one of: refuse, keep"):
        check_outliers(frame, reference, policy="drop")  # type: ignore[arg-type]


def test_a_value_that_would_overflow_float32_is_refused_even_when_kept(tmp_path: Path) -> None:
    frame = _series(tmp_path, ["9", "11", "9", "11", "2e16"])
    scaler = StandardScaler([10.0], [2.0])
    with pytest.raises(SeqlabError) as caught:
        refuse_overflow(frame, scaler)
    assert str(caught.value) == (
        f"{frame.source}:6: column 'OT' holds 2e+16, 1e+16 training standard deviations from "
        "the training mean; beyond 1e+15 the models' float32 sums overflow to inf, even for a "
        "kept outlier; correct the value or empty the cell to have it filled"
    )
    refuse_overflow(_series(tmp_path, ["9", "2e15"], name="ok.csv"), scaler)  # 1e15: inside


def test_ordinary_generated_series_never_fire() -> None:
    rng = np.random.default_rng(0)
    hours = np.arange(24 * 365 * 2)
    cycle = 10 + 3 * np.sin(2 * np.pi * hours / 24)
    series = np.stack(
        [
            cycle + rng.normal(0, 0.5, hours.size),  # a daily cycle plus noise
            np.cumsum(rng.normal(0, 1, hours.size)),  # a random walk
            rng.standard_t(3, hours.size),  # heavy tails
            (rng.random(hours.size) < 0.05).astype(float),  # a rare 0/1 event (MAD 0)
            rng.exponential(1.0, hours.size),  # skewed
        ],
        axis=1,
    )  # (N, 5)
    train = range(0, int(0.7 * hours.size))
    reference = OutlierReference.fit(series, rows=train, columns=tuple("abcde"))
    assert reference.distances(series).max() < OUTLIER_THRESHOLD / 10


@pytest.mark.skipif(not _REAL_DATA, reason="SEQLAB_DATA is unset; the real ETTh1.csv is not read")
def test_etth1_never_fires_on_any_row_or_column() -> None:
    from seqlab.data.sources import resolve_file

    root = Path(_REAL_DATA).expanduser()
    if not (root / "ett" / "ETTh1.csv").is_file():
        pytest.skip(f"SEQLAB_DATA={root} has no ett/ETTh1.csv")
    frame = read_series(resolve_file("etth1", "ETTh1.csv", download=False), features="M")
    assert frame.values.shape == (17_420, 7)
    for protocol in ("etth1", "ratio"):
        bounds = split_bounds(17_420, input_length=168, protocol=protocol, ratios=(0.7, 0.1, 0.2))
        reference = OutlierReference.fit(
            frame.values, rows=bounds.train.rows, columns=frame.columns
        )
        distances = reference.distances(frame.values)  # (17420, 7)
        assert find_outliers(frame, reference) == []
        # The largest is MUFL's, 10.2 scales from the 12 training months: a margin of 98 times.
        assert distances.max() < 10.5
    assert check_outliers(frame, reference, policy="refuse") is frame
