"""Split bounds, forecasting windows and calendar features (seqlab.data.windows).

Most tests window a series whose value at row r is r itself, so each window's numbers say exactly
which rows it read; the expected rows follow from the bounds in the test by hand.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch

from seqlab.data.windows import (
    CALENDAR_FEATURES,
    WindowDataset,
    calendar_features,
    etth1_split_bounds,
    split_bounds,
)
from seqlab.errors import SeqlabError


def _row_ids(n_rows: int, num_columns: int = 1) -> np.ndarray:
    """(N, F): column c of row r holds r + 100000 * c, so every cell names its row."""
    return np.arange(n_rows, dtype=np.float32)[:, None] + 100_000.0 * np.arange(num_columns)


# --- splits --------------------------------------------------------------------------------------


def test_etth1_bounds_are_the_literature_rows():
    bounds = etth1_split_bounds(17_420, input_length=96)
    assert bounds.protocol == "etth1"
    assert (bounds.train.start, bounds.train.first_target, bounds.train.stop) == (0, 96, 8640)
    assert (bounds.val.start, bounds.val.first_target, bounds.val.stop) == (8544, 8640, 11520)
    assert (bounds.test.start, bounds.test.first_target, bounds.test.stop) == (11424, 11520, 14400)
    assert bounds.train.rows == range(0, 8640)
    assert bounds.val.target_rows == range(8640, 11520)
    assert bounds.test.target_rows == range(11520, 14400)
    assert bounds.test.target_rows[-1] == 14399
    assert split_bounds(17_420, input_length=96, protocol="etth1") == bounds
    assert bounds["val"] is bounds.val and [s.name for s in bounds] == ["train", "val", "test"]


def test_etth1_windows_target_exactly_their_split():
    values = _row_ids(17_420)
    bounds = etth1_split_bounds(17_420, input_length=168)
    val = WindowDataset(values, input_length=168, horizon=24, rows=bounds.val)
    test = WindowDataset(values, input_length=168, horizon=24, rows=bounds.test)
    x, y = val.window(0)
    assert x[0, 0].item() == 8640 - 168 and x[-1, 0].item() == 8639
    assert y[0].item() == 8640  # the first validation target is the first validation row
    assert val.window(-1)[1][-1].item() == 11519
    assert test.window(0)[1][0].item() == 11520
    assert test.window(len(test) - 1)[1][-1].item() == 14399  # the last test target row
    assert test.target_rows(len(test) - 1) == range(14376, 14400)


@pytest.mark.parametrize(
    ("horizon", "counts"),
    # The window counts the Informer / Autoformer scripts print for ETTh1 with input 96.
    [(24, (8521, 2857, 2857)), (96, (8449, 2785, 2785))],
)
def test_etth1_window_counts(horizon, counts):
    bounds = etth1_split_bounds(input_length=96)
    values = np.zeros((17_420, 1), np.float32)
    got = tuple(
        len(WindowDataset(values, input_length=96, horizon=horizon, rows=split)) for split in bounds
    )
    assert got == counts
    assert tuple(split.num_windows(horizon) for split in bounds) == counts


def test_etth1_needs_14400_rows():
    with pytest.raises(SeqlabError) as caught:
        etth1_split_bounds(14_399, input_length=96)
    assert str(caught.value) == (
        "the ETTh1 protocol needs 14400 rows (20 months of 30 days x 24 h), the series has "
        "14399; use protocol='ratio' for other series"
    )


def test_ratio_split():
    bounds = split_bounds(1000, input_length=10)
    assert bounds.protocol == "ratio"
    assert (bounds.train.start, bounds.train.first_target, bounds.train.stop) == (0, 10, 700)
    assert (bounds.val.start, bounds.val.first_target, bounds.val.stop) == (690, 700, 800)
    assert (bounds.test.start, bounds.test.first_target, bounds.test.stop) == (790, 800, 1000)
    custom = split_bounds(1000, input_length=10, ratios=(0.6, 0.2, 0.2))
    assert (custom.val.first_target, custom.test.first_target) == (600, 800)


def test_ratio_split_truncates_like_the_reference_code():
    bounds = split_bounds(90, input_length=2)  # 90 * 0.7 = 62.99999..., 90 * 0.2 = 18.000...4
    assert (bounds.train.stop, bounds.val.stop, bounds.test.stop) == (62, 72, 90)


def test_split_errors():
    with pytest.raises(SeqlabError, match=r"split ratios \(0\.5, 0\.5\) must be three"):
        split_bounds(100, input_length=5, ratios=(0.5, 0.5))
    with pytest.raises(SeqlabError, match=r"input_length \(80\) is longer than the 70 training"):
        split_bounds(100, input_length=80)
    with pytest.raises(SeqlabError, match=r"a series of 4 rows leaves the test split 0 rows"):
        split_bounds(4, input_length=1)
    with pytest.raises(SeqlabError, match=r"split protocol 'weekly' is unknown"):
        split_bounds(100, input_length=5, protocol="weekly")
    with pytest.raises(SeqlabError, match=r"input_length \(0\) must be a positive integer"):
        split_bounds(100, input_length=0)


# --- windows -------------------------------------------------------------------------------------


@pytest.fixture
def values() -> np.ndarray:
    return np.random.default_rng(0).normal(size=(20, 3)).astype(np.float32)  # (N, F)


def test_window_count_in_a_range(values):
    data = WindowDataset(values, input_length=4, horizon=3, rows=range(2, 17))
    assert len(data) == 15 - 4 - 3 + 1 == 9
    assert data.starts == range(2, 11)
    assert len(WindowDataset(values, input_length=4, horizon=3)) == 20 - 4 - 3 + 1


def test_window_is_the_exact_slices(values):
    data = WindowDataset(values, input_length=4, horizon=3, rows=range(2, 17))
    for i in range(len(data)):
        x, y = data.window(i)
        assert x.dtype == torch.float32 and x.shape == (4, 3) and y.shape == (3,)
        torch.testing.assert_close(x, torch.from_numpy(values[2 + i : 6 + i]), rtol=0, atol=0)
        torch.testing.assert_close(y, torch.from_numpy(values[6 + i : 9 + i, 2]), rtol=0, atol=0)
        assert data.target_rows(i) == range(6 + i, 9 + i)
    torch.testing.assert_close(data[-1][1], torch.from_numpy(values[14:17, 2]), rtol=0, atol=0)
    with pytest.raises(IndexError, match="window 9 is out of range for 9 windows"):
        data.window(9)


def test_window_copies_do_not_alias_the_series(values):
    data = WindowDataset(values, input_length=4, horizon=3)
    x, _ = data.window(0)
    x.fill_(99.0)
    assert data.window(0)[0][0, 0].item() == pytest.approx(float(values[0, 0]))


def test_multivariate_targets_and_another_target_column(values):
    every = WindowDataset(values, input_length=4, horizon=3, target_only=False)
    _, y = every.window(5)
    assert y.shape == (3, 3)
    torch.testing.assert_close(y, torch.from_numpy(values[9:12]), rtol=0, atol=0)
    first = WindowDataset(values, input_length=4, horizon=3, target_index=0)
    torch.testing.assert_close(first.window(5)[1], torch.from_numpy(values[9:12, 0]))


def test_batch_stacks_the_windows(values):
    data = WindowDataset(values, input_length=4, horizon=3, rows=range(2, 17))
    batch = data.batch([3, 0, 8])
    assert batch.inputs.shape == (3, 4, 3) and batch.targets.shape == (3, 3)
    for row, i in enumerate([3, 0, 8]):
        x, y = data.window(i)
        torch.testing.assert_close(batch.inputs[row], x, rtol=0, atol=0)
        torch.testing.assert_close(batch.targets[row], y, rtol=0, atol=0)
    assert batch.starts.tolist() == [5, 2, 10]
    full = WindowDataset(values, input_length=4, horizon=3, target_only=False).batch([1, 2])
    assert full.targets.shape == (2, 3, 3)
    torch.testing.assert_close(full.targets[1], torch.from_numpy(values[6:9]), rtol=0, atol=0)


def test_batches_cover_every_window_once_and_keep_the_short_last_batch():
    data = WindowDataset(_row_ids(20), input_length=4, horizon=3, rows=range(2, 17))
    ordered = list(data.batches(4))
    assert [b.size for b in ordered] == [4, 4, 1]
    assert data.num_batches(4) == math.ceil(9 / 4) == 3
    assert torch.cat([b.starts for b in ordered]).tolist() == list(range(2, 11))
    # the window starting at row s reads rows s..s+3 and forecasts rows s+4..s+6
    assert ordered[2].inputs[0, :, 0].tolist() == [10, 11, 12, 13]
    assert ordered[2].targets[0].tolist() == [14, 15, 16]

    shuffled = list(data.batches(4, shuffle=True, seed=3, epoch=1))
    starts = torch.cat([b.starts for b in shuffled]).tolist()
    assert sorted(starts) == list(range(2, 11))
    expected = (np.random.default_rng((3, 1)).permutation(9) + 2).tolist()
    assert starts == expected
    again = torch.cat([b.starts for b in data.batches(4, shuffle=True, seed=3, epoch=1)])
    assert again.tolist() == starts
    other = torch.cat([b.starts for b in data.batches(4, shuffle=True, seed=3, epoch=2)])
    assert other.tolist() != starts


def test_too_few_rows_for_one_window(values):
    with pytest.raises(SeqlabError) as caught:
        WindowDataset(values, input_length=10, horizon=6, rows=range(5, 20))
    assert str(caught.value) == (
        "series has 15 rows (from row 5 to 20), one window needs input_length + horizon = "
        "10 + 6 = 16; use a shorter input_length or horizon, or more data"
    )
    bounds = split_bounds(100, input_length=8)  # test: rows 72..100 (28 rows)
    with pytest.raises(SeqlabError, match=r"split 'test' has 28 rows \(from row 72 to 100\)"):
        WindowDataset(np.zeros((100, 1)), input_length=8, horizon=21, rows=bounds.test)


def test_split_made_for_another_input_length_is_refused():
    bounds = split_bounds(100, input_length=8)
    with pytest.raises(SeqlabError, match="bounded for input_length 8, the windows use 9"):
        WindowDataset(np.zeros((100, 1)), input_length=9, horizon=2, rows=bounds.val)


def test_non_finite_values_are_refused(values):
    values[7, 1] = np.nan
    with pytest.raises(SeqlabError, match=r"value at row 7, column 1 is not finite"):
        WindowDataset(values, input_length=4, horizon=3)
    # rows outside the windows' range are never read, so they do not matter
    assert len(WindowDataset(values, input_length=4, horizon=3, rows=range(8, 20))) == 6


# --- calendar features ---------------------------------------------------------------------------


def test_calendar_features_at_known_timestamps():
    stamps = pd.DatetimeIndex(
        [
            "2024-01-01 00:00",  # Monday, midnight
            "2024-01-01 06:00",  # Monday, a quarter of the day
            "2024-01-03 18:00",  # Wednesday, three quarters of the day
            "2024-01-07 12:30",  # Sunday, 12.5 hours
        ]
    )
    features = calendar_features(stamps)
    assert features.dtype == np.float32 and features.shape == (4, len(CALENDAR_FEATURES))
    expected = np.array(
        [
            [0.0, 1.0, 0.0, 1.0],
            [1.0, 0.0, 0.0, 1.0],
            [-1.0, 0.0, math.sin(4 * math.pi / 7), math.cos(4 * math.pi / 7)],
            [
                math.sin(2 * math.pi * 12.5 / 24),
                math.cos(2 * math.pi * 12.5 / 24),
                math.sin(12 * math.pi / 7),
                math.cos(12 * math.pi / 7),
            ],
        ]
    )
    np.testing.assert_allclose(features, expected, atol=1e-6)


def test_calendar_features_are_inputs_only(values):
    stamps = pd.date_range("2024-01-01", periods=20, freq="h")
    calendar = calendar_features(stamps)  # (N, 4)
    data = WindowDataset(values, input_length=4, horizon=3, extra_inputs=calendar)
    assert data.num_inputs == 3 + 4
    x, y = data.window(2)
    assert x.shape == (4, 7) and y.shape == (3,)
    torch.testing.assert_close(x[:, :3], torch.from_numpy(values[2:6]), rtol=0, atol=0)
    torch.testing.assert_close(x[:, 3:], torch.from_numpy(calendar[2:6]), rtol=0, atol=0)
    every = WindowDataset(
        values, input_length=4, horizon=3, extra_inputs=calendar, target_only=False
    )
    assert every.window(2)[1].shape == (3, 3)  # targets never include the calendar columns
    assert every.batch([0, 1]).inputs.shape == (2, 4, 7)
    with pytest.raises(SeqlabError, match=r"extra_inputs must be \(20, E\)"):
        WindowDataset(values, input_length=4, horizon=3, extra_inputs=calendar[:10])
