"""Forecasting windows: which rows each split may read, and every (input, target) window in them.

References: Zhou et al., 2021, "Informer" (AAAI), the ETTh1 protocol of its ``Dataset_ETT_hour``:
12 months of 30 days x 24 hours for training, then 4 for validation and 4 for test, rows
[0, 8640), [8640, 11520), [11520, 14400) (the file's remaining rows are not used); Wu et al.,
2021, "Autoformer" (NeurIPS), ``Dataset_Custom``: the 0.7 / 0.1 / 0.2 time-ordered split of any
other series. Both let a validation or test window start up to ``input_length`` rows before its
split, in the previous split, so its first forecast can be of the split's first row with a full
history behind it; the history is input only, never a target of the wrong split.

A window starting at row s reads rows [s, s + T) as input and forecasts rows
[s + T, s + T + horizon) (T = input_length). In rows [start, stop) there are
(stop - start) - T - horizon + 1 of them, and evaluation uses all of them: nothing is dropped to
fill the last batch.

Targets (``target_only``): True gives y of shape (horizon,), the target column alone (features
'S', and 'MS': every column in, the target out); False gives (horizon, F), every value column,
the published 'M' setting of ETTh1 whose MSE is averaged over all 7 variables.

Shapes: N rows, F value columns, E extra input columns, F_in = F + E, B windows of a batch, T the
input length, ``horizon`` the steps forecast.

Calendar features (:func:`calendar_features`): time of day and day of week as sin/cos pairs, so
23:00 lies next to 00:00 and Sunday next to Monday. They are extra input columns only, never
forecast targets: the future's calendar is known and nothing to learn.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
import torch

from seqlab.errors import SeqlabError

__all__ = [
    "CALENDAR_FEATURES",
    "ETTH1_ROWS",
    "SplitBounds",
    "SplitRange",
    "WindowBatch",
    "WindowDataset",
    "calendar_features",
    "etth1_split_bounds",
    "split_bounds",
]

SplitProtocol = Literal["etth1", "ratio", "rows"]

_HOURS = 24
_DAYS = 30
ETTH1_ROWS: tuple[int, int, int] = (12 * _DAYS * _HOURS, 4 * _DAYS * _HOURS, 4 * _DAYS * _HOURS)
"""Rows of train, validation and test in the ETTh1 protocol: 8,640, 2,880, 2,880."""

CALENDAR_FEATURES: tuple[str, ...] = ("hour_sin", "hour_cos", "weekday_sin", "weekday_cos")


# --- splits --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SplitRange:
    """The rows one split's windows may read, and the rows they forecast.

    start: first row a window may read (``first_target - input_length``; 0 for train).
    first_target: first row that is a forecast target of this split.
    stop: one past the split's last row (its last target row is ``stop - 1``).
    """

    name: str
    start: int
    first_target: int
    stop: int
    input_length: int

    @property
    def rows(self) -> range:
        """Rows the split's windows read: [start, stop)."""
        return range(self.start, self.stop)

    @property
    def slice(self) -> slice:
        """``rows`` as a slice, for ``values[split.slice]``."""
        return slice(self.start, self.stop)

    @property
    def target_rows(self) -> range:
        """Rows forecast by the split's windows: [first_target, stop)."""
        return range(self.first_target, self.stop)

    def num_windows(self, horizon: int) -> int:
        """Windows of ``horizon`` steps in the split (may be 0 or less when it is too short)."""
        return len(self.target_rows) - horizon + 1


@dataclass(frozen=True)
class SplitBounds:
    """Train, validation and test ranges of one series, in time order."""

    train: SplitRange
    val: SplitRange
    test: SplitRange
    protocol: str

    def __getitem__(self, name: str) -> SplitRange:
        if name not in ("train", "val", "test"):
            raise SeqlabError(f"unknown split '{name}'; use one of: train, val, test")
        return getattr(self, name)

    def __iter__(self) -> Iterator[SplitRange]:
        return iter((self.train, self.val, self.test))


def split_bounds(
    n_rows: int,
    *,
    input_length: int,
    protocol: SplitProtocol = "ratio",
    ratios: Sequence[float] = (0.7, 0.1, 0.2),
    rows: Sequence[int] | None = None,
) -> SplitBounds:
    """Train/validation/test rows of a series of ``n_rows`` rows.

    ``protocol="etth1"``: the fixed ETTh1 rows (:func:`etth1_split_bounds`). ``"ratio"``: train
    gets ``int(n_rows * ratios[0])`` rows, test ``int(n_rows * ratios[2])``, validation the rest,
    in time order. The truncation is the reference code's (Autoformer ``Dataset_Custom``), kept so
    published splits of other data sets are reproduced exactly; note that ``90 * 0.7`` is
    62.99999... in floating point and gives 62 rows. ``"rows"``: ``rows`` gives the three row
    counts (train, val, test) in time order; they must add up to ``n_rows``.
    """
    _check_positive("input_length", input_length)
    if protocol == "etth1":
        return etth1_split_bounds(n_rows, input_length=input_length)
    if protocol == "rows":
        if rows is None or len(rows) != 3 or sum(rows) != n_rows:
            raise SeqlabError(
                f"split rows {None if rows is None else tuple(rows)} must be three row counts "
                f"(train, val, test) adding up to the series' {n_rows} rows"
            )
        return _bounds(n_rows, tuple(rows), input_length, protocol="rows")
    if protocol != "ratio":
        raise SeqlabError(f"split protocol '{protocol}' is unknown; use 'etth1', 'ratio' or 'rows'")
    if len(ratios) != 3 or min(ratios) <= 0 or abs(sum(ratios) - 1.0) > 1e-6:
        raise SeqlabError(
            f"split ratios {tuple(ratios)} must be three positive numbers (train, val, test) "
            "summing to 1"
        )
    num_train = int(n_rows * ratios[0])
    num_test = int(n_rows * ratios[2])
    num_val = n_rows - num_train - num_test
    return _bounds(n_rows, (num_train, num_val, num_test), input_length, protocol="ratio")


def etth1_split_bounds(n_rows: int = 17_420, *, input_length: int) -> SplitBounds:
    """The ETTh1 protocol: train [0, 8640), val [8640, 11520), test [11520, 14400).

    ``n_rows`` is the series' length (17,420 for ETTh1.csv); it must reach row 14,400. The
    validation and test windows start ``input_length`` rows early (see the module docstring).
    """
    _check_positive("input_length", input_length)
    needed = sum(ETTH1_ROWS)
    if n_rows < needed:
        raise SeqlabError(
            f"the ETTh1 protocol needs {needed} rows (20 months of 30 days x 24 h), the series "
            f"has {n_rows}; use protocol='ratio' for other series"
        )
    return _bounds(n_rows, ETTH1_ROWS, input_length, protocol="etth1")


def _bounds(n_rows: int, sizes: Sequence[int], input_length: int, *, protocol: str) -> SplitBounds:
    for name, size in zip(("train", "val", "test"), sizes, strict=True):
        if size < 1:
            raise SeqlabError(
                f"a series of {n_rows} rows leaves the {name} split {size} rows; use more data"
            )
    train_stop = sizes[0]
    val_stop = train_stop + sizes[1]
    test_stop = val_stop + sizes[2]
    if input_length > train_stop:
        raise SeqlabError(
            f"input_length ({input_length}) is longer than the {train_stop} training rows; use a "
            "shorter input_length or more data"
        )
    return SplitBounds(
        train=SplitRange("train", 0, input_length, train_stop, input_length),
        val=SplitRange("val", train_stop - input_length, train_stop, val_stop, input_length),
        test=SplitRange("test", val_stop - input_length, val_stop, test_stop, input_length),
        protocol=protocol,
    )


# --- calendar features ---------------------------------------------------------------------------


def calendar_features(timestamps: pd.DatetimeIndex) -> np.ndarray:
    """(N, 4) float32: sin and cos of the time of day, sin and cos of the day of week.

    Columns in :data:`CALENDAR_FEATURES` order. Time of day is fractional hours (14:30 is 14.5)
    over a 24-hour period; day of week is Monday = 0 ... Sunday = 6 over 7 days. Time-zone aware
    timestamps use their local clock, which is the one daily patterns follow.
    """
    index = pd.DatetimeIndex(timestamps)
    hours = (
        index.hour.to_numpy(np.float64)
        + index.minute.to_numpy(np.float64) / 60.0
        + index.second.to_numpy(np.float64) / 3600.0
    )  # (N,)
    weekdays = index.day_of_week.to_numpy(np.float64)  # (N,)
    day_angle = 2.0 * np.pi * hours / 24.0  # (N,)
    week_angle = 2.0 * np.pi * weekdays / 7.0  # (N,)
    return np.stack(
        [np.sin(day_angle), np.cos(day_angle), np.sin(week_angle), np.cos(week_angle)], axis=1
    ).astype(np.float32)  # (N, 4)


# --- windows -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WindowBatch:
    """A batch of windows.

    inputs: (B, T, F_in) float32, the value columns then any extra input columns.
    targets: (B, horizon) float32 with ``target_only``, else (B, horizon, F) (every value
    column).
    starts: (B,) long, the row of the series where each window's input begins (its forecast
    begins at ``starts + T``), to put forecasts back on the time axis.
    """

    inputs: torch.Tensor
    targets: torch.Tensor
    starts: torch.Tensor

    @property
    def size(self) -> int:
        return int(self.inputs.shape[0])

    def to(self, device: torch.device | str) -> WindowBatch:
        """The same batch on ``device`` (a new object)."""
        return WindowBatch(
            inputs=self.inputs.to(device),
            targets=self.targets.to(device),
            starts=self.starts.to(device),
        )


class WindowDataset:
    """Every window of T input rows and ``horizon`` target rows inside a range of rows, by index.

    values: (N, F) the series (usually scaled), target column at ``target_index`` (default -1,
    where :func:`seqlab.data.series.read_series` puts it). rows: the rows windows may read, a
    ``range`` or a :class:`SplitRange` (whose ``input_length`` must match); None = all N.
    extra_inputs: (N, E) columns appended to the inputs only (:func:`calendar_features`).

    Window i starts at row ``rows.start + i``: x = rows [s, s + T) of the values and extra
    columns, (T, F + E); y = rows [s + T, s + T + horizon) of the target column, (horizon,), or of
    every value column, (horizon, F), when ``target_only`` is False.
    """

    def __init__(
        self,
        values: np.ndarray,
        *,
        input_length: int,
        horizon: int,
        rows: range | SplitRange | None = None,
        target_only: bool = True,
        target_index: int = -1,
        extra_inputs: np.ndarray | None = None,
    ) -> None:
        _check_positive("input_length", input_length)
        _check_positive("horizon", horizon)
        array = np.asarray(values, dtype=np.float32)  # (N, F)
        if array.ndim != 2:
            raise SeqlabError(f"windows need (N, F) values, got shape {tuple(array.shape)}")
        n_rows, num_values = array.shape
        if not -num_values <= target_index < num_values:
            raise SeqlabError(
                f"target_index ({target_index}) is out of range for {num_values} columns"
            )
        name = "series"
        if isinstance(rows, SplitRange):
            if rows.input_length != input_length:
                raise SeqlabError(
                    f"split '{rows.name}' was bounded for input_length {rows.input_length}, the "
                    f"windows use {input_length}; make both with the same input_length"
                )
            name = f"split '{rows.name}'"
            rows = rows.rows
        rows = range(0, n_rows) if rows is None else rows
        if rows.step != 1 or rows.start < 0 or rows.stop > n_rows:
            raise SeqlabError(
                f"rows {rows.start}..{rows.stop} must be a contiguous range inside the series' "
                f"{n_rows} rows"
            )
        needed = input_length + horizon
        if len(rows) < needed:
            raise SeqlabError(
                f"{name} has {len(rows)} rows (from row {rows.start} to {rows.stop}), one window "
                f"needs input_length + horizon = {input_length} + {horizon} = {needed}; use a "
                "shorter input_length or horizon, or more data"
            )
        bad = ~np.isfinite(array[rows.start : rows.stop])
        if bad.any():
            row, column = np.argwhere(bad)[0]
            raise SeqlabError(f"value at row {rows.start + row}, column {column} is not finite")

        inputs = array  # (N, F)
        if extra_inputs is not None:
            extra = np.asarray(extra_inputs, dtype=np.float32)
            if extra.ndim != 2 or extra.shape[0] != n_rows:
                raise SeqlabError(
                    f"extra_inputs must be ({n_rows}, E) like the values' rows, got "
                    f"{tuple(extra.shape)}"
                )
            inputs = np.concatenate([array, extra], axis=1)  # (N, F + E)
        part = slice(rows.start, rows.stop)
        self._inputs = torch.from_numpy(np.ascontiguousarray(inputs[part]))  # (R, F_in)
        targets = array[part, target_index] if target_only else array[part]  # (R,) or (R, F)
        self._targets = torch.from_numpy(np.ascontiguousarray(targets))
        self.rows = rows
        self.input_length = input_length
        self.horizon = horizon
        self.target_only = target_only
        self.num_inputs = int(inputs.shape[1])
        self._count = len(rows) - needed + 1

    def __len__(self) -> int:
        return self._count

    @property
    def starts(self) -> range:
        """The series row where each window's input begins, window 0 first."""
        return range(self.rows.start, self.rows.start + self._count)

    def target_rows(self, index: int) -> range:
        """The series rows window ``index`` forecasts."""
        first = self.rows.start + self._position(index) + self.input_length
        return range(first, first + self.horizon)

    def window(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(x (T, F_in), y (horizon,) or (horizon, F)) of window ``index``, as new tensors."""
        offset = self._position(index)
        split = offset + self.input_length
        x = self._inputs[offset:split].clone()  # (T, F_in)
        y = self._targets[split : split + self.horizon].clone()  # (horizon,) or (horizon, F)
        return x, y

    __getitem__ = window

    def batch(self, indices: Sequence[int] | np.ndarray | torch.Tensor) -> WindowBatch:
        """The windows ``indices``, stacked."""
        offsets = torch.as_tensor(
            [self._position(int(i)) for i in indices], dtype=torch.long
        )  # (B,)
        if offsets.numel() == 0:
            raise SeqlabError("cannot make a batch of no windows")
        steps_in = torch.arange(self.input_length)  # (T,)
        steps_out = torch.arange(self.horizon) + self.input_length  # (horizon,)
        inputs = self._inputs[offsets[:, None] + steps_in]  # (B, T, F_in)
        targets = self._targets[offsets[:, None] + steps_out]  # (B, horizon) or (B, horizon, F)
        return WindowBatch(inputs=inputs, targets=targets, starts=offsets + self.rows.start)

    def num_batches(self, batch_size: int) -> int:
        """Batches per pass, the last one short when ``batch_size`` does not divide the count."""
        _check_positive("batch_size", batch_size)
        return math.ceil(self._count / batch_size)

    def batches(
        self, batch_size: int, *, shuffle: bool = False, seed: int = 0, epoch: int = 0
    ) -> Iterator[WindowBatch]:
        """Every window once, ``batch_size`` at a time, the last batch short rather than dropped.

        Shuffled order is a pure function of (seed, epoch), so a resumed run sees the same
        batches; unshuffled order is time order.
        """
        _check_positive("batch_size", batch_size)
        if shuffle:
            order = np.random.default_rng((seed, epoch)).permutation(self._count)  # (count,)
        else:
            order = np.arange(self._count)  # (count,)
        for first in range(0, self._count, batch_size):
            yield self.batch(order[first : first + batch_size])

    def _position(self, index: int) -> int:
        position = operator.index(index)
        if position < 0:
            position += self._count
        if not 0 <= position < self._count:
            raise IndexError(f"window {index} is out of range for {self._count} windows")
        return position


def _check_positive(name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise SeqlabError(f"{name} ({value!r}) must be a positive integer")
