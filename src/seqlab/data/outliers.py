"""Values far outside what a column held in its training rows: refused, or kept and reported.

References: Hampel, 1974, "The Influence Curve and Its Role in Robust Estimation" (the median
absolute deviation, MAD, times 1.4826 estimates the standard deviation of Gaussian data and is
not moved by a few wild values); Iglewicz and Hoaglin, 1993, "How to Detect and Handle
Outliers" (the modified z-score |x - median| / (1.4826 MAD)); Leys et al., 2013, "Detecting
outliers: Do not use standard deviation around the mean, use absolute deviation around the
median".

The rule (:class:`OutlierReference`, :func:`check_outliers`):

- each column's reference is taken over the training rows: its median, and its scale, 1.4826 x
  its MAD (the median of |x - median|). When more than half of those rows hold one value the
  MAD is 0; the scale is then the column's standard deviation over them, which a wild value does
  inflate (one value among N stands at most sqrt(N) scales away), so in such a column the rule
  catches little. A column whose training rows all hold one value has no scale and is not judged;
- a value is an outlier when |x - median| > ``OUTLIER_THRESHOLD`` (1000) x scale. The threshold
  is far above real data: on ETTh1 the largest distance of any of its 17,420 rows x 7 columns
  from the 12 training months is 10.2 scales (MUFL), and Gaussian noise passes 6 about once in
  500 million draws. So it catches what cannot be a reading (1e18, a sentinel such as -9999 in a
  column that varies by a few units, a value in the wrong unit by a factor of 1000 or more), not
  spikes, which are data;
- only the values read from the file are judged: an inserted or filled value lies between known
  values of its column (interpolated, or one of them carried), so it is never further from the
  median than they are, and the message names the value the user typed;
- ``data.outliers``: "refuse" (the default) makes the first outlier an error naming the file, the
  line, the column, the value and its distance, with the count in the file; "keep" keeps every
  one and adds a note to the series' report (the first few in full, then a count), so training
  and evaluation print it.

A later file (recent data to forecast from, evaluate on or monitor) is judged against the
reference of the model's training rows, saved in its model directory
(:meth:`OutlierReference.to_dict`); for a model directory written before it was saved, the
reference is the model's scaler: the training rows' mean and standard deviation.

Whatever ``data.outliers`` says, :func:`refuse_overflow` refuses a value whose z-score on the
model's scaler exceeds ``MAX_SCALED`` (1e15): the models square and sum such values in float32,
whose range (3.4e38) they would leave, and every forecast and error would become inf or NaN.

Shapes: N rows, F columns.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from seqlab.data.scaling import StandardScaler
from seqlab.data.series import FIXES_SHOWN, SeriesFrame
from seqlab.errors import SeqlabError

__all__ = [
    "MAD_TO_STD",
    "MAX_SCALED",
    "OUTLIER_POLICIES",
    "OUTLIER_THRESHOLD",
    "Outlier",
    "OutlierPolicy",
    "OutlierReference",
    "check_outliers",
    "find_outliers",
    "refuse_overflow",
]

OutlierPolicy = Literal["refuse", "keep"]
OUTLIER_POLICIES: tuple[str, ...] = ("refuse", "keep")
OUTLIER_THRESHOLD = 1000.0
MAD_TO_STD = 1.4826
MAX_SCALED = 1e15

_KEEP_HINT = "--outliers keep (seqlab train and forecast; data.outliers=keep)"


@dataclass(frozen=True, eq=False)
class OutlierReference:
    """Each column's median and scale over the training rows (see the module docstring).

    median, scale: (F,) float64; a scale of 0 marks a column that is not judged.
    """

    columns: tuple[str, ...]
    median: np.ndarray
    scale: np.ndarray

    @classmethod
    def fit(
        cls, values: np.ndarray, *, rows: slice | range | None, columns: Sequence[str]
    ) -> OutlierReference:
        """The reference of ``values`` (N, F) over the training ``rows`` (None: all)."""
        array = np.asarray(values, dtype=np.float64)  # (N, F)
        if rows is not None:
            array = array[slice(rows.start, rows.stop) if isinstance(rows, range) else rows]
        median = np.median(array, axis=0)  # (F,)
        scale = MAD_TO_STD * np.median(np.abs(array - median), axis=0)  # (F,)
        scale = np.where(scale > 0, scale, array.std(axis=0))  # (F,) 0 only for a constant column
        return cls(tuple(columns), median, scale)

    @classmethod
    def from_scaler(cls, scaler: StandardScaler, columns: Sequence[str]) -> OutlierReference:
        """The training rows' mean and standard deviation, for a model directory that saved no
        reference (the scaler turned a constant column's std of 0 into 1; so does this)."""
        return cls(tuple(columns), scaler.mean.copy(), scaler.std.copy())

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, for the model directory's config."""
        return {
            "threshold": OUTLIER_THRESHOLD,
            "median": [float(x) for x in self.median],
            "scale": [float(x) for x in self.scale],
        }

    @classmethod
    def from_dict(cls, data: Any, columns: Sequence[str]) -> OutlierReference:
        """The reference :meth:`to_dict` wrote for ``columns``."""
        try:
            median = np.asarray(data["median"], dtype=np.float64)  # (F,)
            scale = np.asarray(data["scale"], dtype=np.float64)  # (F,)
        except (KeyError, TypeError, ValueError):
            raise SeqlabError(
                "the model's outlier reference (artifacts.outliers in its config) is not a "
                "median and a scale per column; was it edited by hand? Retrain the model"
            ) from None
        if median.shape != (len(columns),) or scale.shape != (len(columns),):
            raise SeqlabError(
                f"the model's outlier reference describes {median.size} columns, the model "
                f"reads {len(columns)}; was it edited by hand? Retrain the model"
            )
        return cls(tuple(columns), median, scale)

    def distances(self, values: np.ndarray) -> np.ndarray:
        """|x - median| / scale of ``values`` (N, F), in scales; 0 in columns not judged."""
        judged = self.scale > 0  # (F,)
        safe = np.where(judged, self.scale, 1.0)  # (F,)
        distance = np.abs(np.asarray(values, dtype=np.float64) - self.median) / safe  # (N, F)
        return np.where(judged, distance, 0.0)


@dataclass(frozen=True)
class Outlier:
    """One outlier: the file ``line``, its ``column``, its ``value`` and ``distance`` in scales."""

    line: int
    column: str
    value: float
    distance: float


def find_outliers(
    frame: SeriesFrame, reference: OutlierReference, *, threshold: float = OUTLIER_THRESHOLD
) -> list[Outlier]:
    """Every outlier among the values ``frame`` read from its file (not the filled ones), in
    line order."""
    if reference.columns != frame.columns:
        raise ValueError(
            f"the outlier reference is for columns {reference.columns}, the series has "
            f"{frame.columns}"
        )
    distance = reference.distances(frame.values)  # (N, F)
    far = (distance > threshold) & frame.read_cells()  # (N, F)
    return [
        Outlier(
            line=int(frame.lines[row]),
            column=frame.columns[column],
            value=float(frame.values[row, column]),
            distance=float(distance[row, column]),
        )
        for row, column in np.argwhere(far).tolist()  # row-major: in line order
    ]


def check_outliers(
    frame: SeriesFrame,
    reference: OutlierReference,
    *,
    policy: OutlierPolicy,
    threshold: float = OUTLIER_THRESHOLD,
) -> SeriesFrame:
    """``frame`` when it holds no outlier; else, under "refuse", an error naming the first,
    under "keep", ``frame`` with a note naming them added to its report."""
    if policy not in OUTLIER_POLICIES:
        raise SeqlabError(
            f"data.outliers ('{policy}') must be one of: {', '.join(OUTLIER_POLICIES)}"
        )
    found = find_outliers(frame, reference, threshold=threshold)
    if not found:
        return frame
    rule = (
        f"more than {threshold:g} robust standard deviations (1.4826 x the median absolute "
        "deviation) from the median of the column's training rows"
    )
    if policy == "refuse":
        first = found[0]
        median = reference.median[frame.columns.index(first.column)]
        raise SeqlabError(
            f"{frame.source}:{first.line}: column '{first.column}' holds {first.value:.6g}, "
            f"{first.distance:.3g} robust standard deviations from its training median "
            f"{median:.6g}: an outlier ({len(found)} in the file; the rule: {rule}); correct "
            "it (a typo, a unit, a sentinel such as -9999?), empty the cell to have it "
            f"filled, or keep it with {_KEEP_HINT}"
        )
    shown = "; ".join(
        f"line {item.line}, column '{item.column}' = {item.value:.6g} ({item.distance:.3g})"
        for item in found[:FIXES_SHOWN]
    )
    if len(found) > FIXES_SHOWN:
        shown += f"; and {len(found) - FIXES_SHOWN} more"
    return frame.with_notes(
        [f"{frame.source}: {len(found)} outlier(s) kept (data.outliers=keep), {rule}: {shown}"]
    )


def refuse_overflow(frame: SeriesFrame, scaler: StandardScaler) -> None:
    """An error naming the first value of ``frame`` whose z-score on ``scaler`` exceeds
    MAX_SCALED, kept outlier or not."""
    scaled = np.abs((frame.values.astype(np.float64) - scaler.mean) / scaler.std)  # (N, F)
    beyond = scaled > MAX_SCALED  # (N, F)
    if not beyond.any():
        return
    row, column = np.argwhere(beyond)[0]
    line = int(frame.lines[row])
    where = f"{frame.source}:{line}" if line else f"{frame.source} (row {row + 1}, inserted)"
    raise SeqlabError(
        f"{where}: column '{frame.columns[column]}' holds {frame.values[row, column]:.6g}, "
        f"{scaled[row, column]:.3g} training standard deviations from the training mean; "
        f"beyond {MAX_SCALED:g} the models' float32 sums overflow to inf, even for a kept "
        "outlier; correct the value or empty the cell to have it filled"
    )
