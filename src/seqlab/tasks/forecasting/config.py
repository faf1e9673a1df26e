"""The forecasting task's data settings: which series, which columns, which windows."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class ForecastingDataConfig:
    """Which series, which columns, and the windows cut from it.

    dataset: the named data set ("etth1"), used when ``file`` is not given. file: the user's CSV
    (one timestamp column, numeric columns). timestamp_column: None finds date, timestamp, time
    or datetime. target: the column forecast. inputs: with features "M"/"MS", the other columns
    read (None: every numeric column). split: "etth1" (the fixed 12/4/4-month rows), "ratio"
    (``split_ratios`` of the rows in time order), "rows" (``split_rows``: train, validation and
    test row counts in time order, summing to the series' rows; what ``seqlab retrain`` writes)
    or "auto" (etth1 for the named data set, ratio for a file). fill: how gaps and missing cells
    are filled ("interpolate" or "ffill"); strict: refuse them instead. outliers: "refuse" a
    value more than 1000 robust standard deviations from its column's median over the training
    rows, or "keep" it and report it (the rule: seqlab.data.outliers). quantiles: quantile
    levels, each in (0, 1), increasing, for prediction intervals (``--quantiles 0.1,0.5,0.9``):
    the forecaster then forecasts each level and trains with the pinball loss
    (seqlab.tasks.forecasting.quantiles); None, the default, forecasts one value per step.
    """

    dataset: str | None = "etth1"
    file: str | None = None
    timestamp_column: str | None = None
    target: str = "OT"
    inputs: tuple[str, ...] | None = None
    features: Literal["S", "M", "MS"] = "S"
    input_length: int = 168
    horizon: int = 24
    calendar: bool = False
    strict: bool = False
    fill: Literal["interpolate", "ffill"] = "interpolate"
    outliers: Literal["refuse", "keep"] = "refuse"
    split: Literal["auto", "etth1", "ratio", "rows"] = "auto"
    split_ratios: tuple[float, float, float] = (0.7, 0.1, 0.2)
    split_rows: tuple[int, int, int] | None = None
    eval_batch_size: int = 512
    quantiles: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        if self.dataset not in (None, "etth1"):
            raise ValueError(f"data.dataset ({self.dataset!r}) must be 'etth1' or null")
        if self.dataset is None and not self.file:
            raise ValueError("set data.file (your CSV, --data) or data.dataset (etth1)")
        if self.features == "S" and self.inputs is not None:
            raise ValueError(
                "data.inputs are read with data.features M or MS; features S reads the target "
                "alone (pass --features MS or M, or leave out --inputs)"
            )
        if self.outliers not in ("refuse", "keep"):
            raise ValueError(f"data.outliers ({self.outliers!r}) must be 'refuse' or 'keep'")
        if self.inputs is not None and not self.inputs:
            raise ValueError("data.inputs is empty; list columns, or null for every numeric one")
        for name in ("input_length", "horizon", "eval_batch_size"):
            value = getattr(self, name)
            if value < 1:
                raise ValueError(f"data.{name} ({value}) must be a positive integer")
        ratios = self.split_ratios
        if min(ratios) <= 0 or abs(sum(ratios) - 1.0) > 1e-6:
            raise ValueError(
                f"data.split_ratios {tuple(ratios)} must be three positive numbers (train, val, "
                "test) summing to 1"
            )
        if self.split == "rows":
            if self.split_rows is None or min(self.split_rows) < 1:
                raise ValueError(
                    f"data.split 'rows' needs data.split_rows, three positive row counts (train, "
                    f"val, test), got {self.split_rows}"
                )
        elif self.split_rows is not None:
            raise ValueError(
                f"data.split_rows is read with data.split 'rows', not '{self.split}'; set "
                "data.split=rows or leave split_rows null"
            )

        if self.quantiles is not None:
            check_quantiles(self.quantiles)

    @property
    def split_protocol(self) -> Literal["etth1", "ratio", "rows"]:
        if self.split != "auto":
            return self.split
        return "ratio" if self.file else "etth1"


def check_quantiles(levels: tuple[float, ...]) -> None:
    """A ValueError naming ``data.quantiles`` and the fix unless the levels are at least one,
    each in (0, 1), increasing and distinct."""
    example = "e.g. --quantiles 0.1,0.5,0.9"
    if not levels:
        raise ValueError(
            f"data.quantiles is empty; give at least one level in (0, 1), {example}, or null "
            "for a point forecast"
        )
    for level in levels:
        if not 0.0 < level < 1.0:  # also refuses NaN
            raise ValueError(
                f"data.quantiles: {level} is not a quantile level; give levels strictly "
                f"between 0 and 1, {example}"
            )
    for lower, upper in zip(levels, levels[1:], strict=False):
        if lower == upper:
            raise ValueError(f"data.quantiles lists {lower} twice; give each level once")
        if lower > upper:
            raise ValueError(
                f"data.quantiles {tuple(levels)} are not in increasing order; list them "
                f"sorted, {example}"
            )
