"""The data a forecaster learns from and is judged on: the series, its columns, splits, scaler
and windows, and the user's files checked against them.

References: Zhou et al., 2021, "Informer" (the ETTh1 split and the S, M and MS feature modes);
Wu et al., 2021, "Autoformer" (the 0.7/0.1/0.2 split of other series); seqlab.data.series (how
a CSV is read and repaired), seqlab.data.windows (splits and windows), seqlab.data.scaling (the
z-scores).

The series is the named data set ``etth1``, the user's CSV (``data.file``), or, for a model
written by ``seqlab retrain``, the series kept in its directory (TRAINING_DATA of
seqlab.model_dir). ``data.features``: "S", the target alone in and out; "M", every chosen column
in and all of them forecast; "MS", every chosen column in, the target out. ``data.calendar``
adds time of day and day of week as extra inputs, never forecast. The z-score scaler is fitted
on the training rows only.

Every series read, the training one and the user's later files alike, passes the same checks:
seqlab.data.series (cells that are numbers within float32's range, regular steps; gaps and
missing cells filled or, under ``data.strict``, refused), seqlab.data.outliers (values far from
the training rows' median refused, or kept and reported under ``data.outliers="keep"``; a value
whose z-score would overflow float32 always refused). What was repaired or kept is in each
series' report, and :meth:`ForecastingData.notes` gathers it for ``Task.data_notes``.

A :class:`ForecastingData` is built one of two ways, and says which by its constructor:
:meth:`ForecastingData.read` reads the training series at once and fits the scaler (a new run);
:meth:`ForecastingData.restored` starts from a trained model's columns, scaler and step, and
reads the training series only when :meth:`ForecastingData.training_series` is called (a split
of it evaluated, say), so a model directory forecasts without its training file.
:meth:`ForecastingData.with_evaluation_file` gives the same data with one split replaced by every
window of the user's file.

Shapes: N rows, F value columns, E calendar columns, T the input length (``input_length``),
``horizon`` the steps forecast, F_out the forecast columns.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from seqlab.data.outliers import (
    OutlierPolicy,
    OutlierReference,
    check_outliers,
    refuse_overflow,
)
from seqlab.data.scaling import StandardScaler
from seqlab.data.series import SeriesFrame, read_series
from seqlab.data.sources import dataset_checksum, file_sha256, resolve_file
from seqlab.data.windows import (
    CALENDAR_FEATURES,
    SplitBounds,
    SplitRange,
    WindowDataset,
    calendar_features,
    split_bounds,
)
from seqlab.errors import SeqlabError
from seqlab.tasks.forecasting.config import ForecastingDataConfig

SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class EvaluationFile:
    """The user's series evaluated as ``split``: every window of it."""

    split: str
    frame: SeriesFrame


def check_split(split: str) -> None:
    if split not in SPLITS:
        raise SeqlabError(f"forecasting has splits train, val and test, not '{split}'")


class ForecastingData:
    """The series, its columns (the target last), splits, scaler and windows.

    Build it with :meth:`read` or :meth:`restored`. columns: the value columns the model reads,
    the target last. scaler: z-score statistics of the training rows. outliers: each column's
    median and scale over the training rows, that every file is checked against
    (seqlab.data.outliers; None: the scaler's mean and std stand in). frequency: the training
    series' step (pandas' alias, "h"), or None when a restored model did not record it.
    training_data: the training series kept in a model directory, read instead of
    ``config.file`` (which then holds only its name).
    """

    def __init__(
        self,
        config: ForecastingDataConfig,
        *,
        columns: tuple[str, ...],
        scaler: StandardScaler,
        frequency: str | None,
        outliers: OutlierReference | None = None,
        training_data: Path | None = None,
        series: SeriesFrame | None = None,
        evaluation: EvaluationFile | None = None,
    ) -> None:
        self.config = config
        self.columns = tuple(columns)
        self.scaler = scaler
        self.outliers = outliers or OutlierReference.from_scaler(scaler, columns)
        self.frequency = frequency
        self.training_data = training_data
        self.evaluation = evaluation
        self._series = series
        self._bounds: SplitBounds | None = None
        self._windows: dict[str, WindowDataset] = {}

    # ---- the two ways to build it ----
    @classmethod
    def read(
        cls,
        config: ForecastingDataConfig,
        *,
        training_data: Path | None = None,
        columns: tuple[str, ...] | None = None,
        scaler: StandardScaler | None = None,
        frequency: str | None = None,
    ) -> ForecastingData:
        """Read and check the training series now. columns: the columns it must have (a
        model's, when ``seqlab retrain`` reads its joined series); None takes the file's. scaler:
        kept as given (a model's), else fitted on the training rows. frequency: the step new
        files must have; None takes the series'."""
        series, outliers = _read_training_series(
            config, columns=columns, training_data=training_data
        )
        if scaler is None:
            train = _split_bounds(config, len(series)).train
            scaler = StandardScaler.fit(series.values, rows=train.rows, columns=series.columns)
        refuse_overflow(series, scaler)
        return cls(
            config,
            columns=series.columns,
            scaler=scaler,
            outliers=outliers,
            frequency=frequency or series.report.frequency,
            training_data=training_data,
            series=series,
        )

    @classmethod
    def restored(
        cls,
        config: ForecastingDataConfig,
        *,
        columns: tuple[str, ...],
        scaler: StandardScaler,
        frequency: str | None,
        outliers: OutlierReference | None = None,
        training_data: Path | None = None,
    ) -> ForecastingData:
        """A trained model's data, from what its directory recorded; the training series is
        read when :meth:`training_series` is first called. outliers: None for a directory that
        recorded no outlier reference: its scaler's mean and std stand in."""
        return cls(
            config,
            columns=columns,
            scaler=scaler,
            outliers=outliers,
            frequency=frequency,
            training_data=training_data,
        )

    def with_evaluation_file(self, path: Path, *, split: str) -> ForecastingData:
        """The same data with ``split`` evaluated on every window of the user's file ``path``,
        read now and checked against the model's columns and step."""
        check_split(split)
        frequency = self.frequency or self.training_series().report.frequency
        frame = self.read_file(Path(path))
        return ForecastingData(
            self.config,
            columns=self.columns,
            scaler=self.scaler,
            outliers=self.outliers,
            frequency=frequency,
            training_data=self.training_data,
            series=self._series,
            evaluation=EvaluationFile(split=split, frame=frame),
        )

    # ---- columns ----
    @property
    def extra_inputs(self) -> int:
        """Trailing input-only columns: the calendar features, when on."""
        return len(CALENDAR_FEATURES) if self.config.calendar else 0

    @property
    def output_features(self) -> int:
        return len(self.columns) if self.config.features == "M" else 1

    @property
    def forecast_columns(self) -> tuple[str, ...]:
        return self.columns[len(self.columns) - self.output_features :]

    # ---- the training series ----
    def training_path(self) -> Path:
        """Where the training series is read from: the model directory's training data,
        data.file, or the named data set (resolved, or an error saying where to put it)."""
        return _training_path(self.config, self.training_data)

    def training_series(self) -> SeriesFrame:
        """The training series (all rows; the splits are row ranges of it), read and checked on
        first call."""
        if self._series is None:
            series, _ = _read_training_series(
                self.config, columns=self.columns, training_data=self.training_data
            )
            refuse_overflow(series, self.scaler)
            self._series = series
        return self._series

    def bounds(self) -> SplitBounds:
        """The training series' train, validation and test rows."""
        if self._bounds is None:
            self._bounds = _split_bounds(self.config, len(self.training_series()))
        return self._bounds

    def checksum(self) -> str:
        """SHA-256 of the training data: its file, or the named data set's recorded one."""
        if self.training_data is not None or self.config.file:
            return file_sha256(self.training_path())
        return dataset_checksum("etth1")

    def notes(self) -> list[str]:
        """What reading did to the series read so far, one line each (file, line, column): the
        training series' repairs and non-numeric columns passed over, then the evaluated file's;
        a training series not read yet (a restored model's) is not read for this."""
        lines = []
        frames = [self._series] if self._series is not None else []
        if self.evaluation is not None:
            frames.append(self.evaluation.frame)
        for frame in frames:
            lines.extend(frame.report.fixes())
            if frame.report.ignored_columns:
                ignored = ", ".join(frame.report.ignored_columns)
                lines.append(f"{frame.source}: not numeric, so not read as inputs: {ignored}")
        return lines

    # ---- the user's files ----
    def read_file(
        self,
        path: Path,
        *,
        name: str | None = None,
        timestamp_column: str | None = None,
        strict: bool = False,
        outliers: OutlierPolicy | None = None,
    ) -> SeriesFrame:
        """The user's CSV read with the model's columns, checked against them, its step and
        its training rows' outlier reference. strict: refuse gaps and missing cells even when
        the model's ``data.strict`` is off. outliers: the policy (None: ``data.outliers``)."""
        source = name or str(path)
        header = _header(path)
        if header is not None:
            missing = [column for column in self.columns if column not in header]
            if missing:
                raise SeqlabError(
                    f"{source}: no column {', '.join(repr(c) for c in missing)}; the model reads "
                    f"{', '.join(self.columns)} and the file has: {', '.join(header)}; give a "
                    "file with the model's columns"
                )
        frame = _read_csv(
            self.config,
            path,
            columns=self.columns,
            name=name,
            timestamp_column=timestamp_column,
            strict=strict or self.config.strict,
        )
        if frame.columns != self.columns:
            raise SeqlabError(
                f"{source}: columns {', '.join(frame.columns)} differ from the model's "
                f"{', '.join(self.columns)}"
            )
        trained = self.frequency or (
            self._series.report.frequency if self._series is not None else None
        )
        if trained is not None and frame.report.frequency != trained:
            raise SeqlabError(
                f"{source}: one row every '{frame.report.frequency}', the model was trained on "
                f"one row every '{trained}'; resample the data to '{trained}' steps"
            )
        frame = check_outliers(frame, self.outliers, policy=outliers or self.config.outliers)
        refuse_overflow(frame, self.scaler)
        return frame

    def evaluated_file(self, split: str) -> SeriesFrame | None:
        """The user's file when ``split`` is evaluated on it, else None."""
        if self.evaluation is not None and self.evaluation.split == split:
            return self.evaluation.frame
        return None

    # ---- scaling and windows ----
    def _prepared(self, frame: SeriesFrame) -> tuple[np.ndarray, np.ndarray | None]:
        """(scaled values (N, F) float32, calendar features (N, E) or None)."""
        values = self.scaler.transform(frame.values)  # (N, F)
        extra = calendar_features(frame.timestamps) if self.config.calendar else None  # (N, E)
        return values, extra

    def input_window(self, frame: SeriesFrame) -> torch.Tensor:
        """The model's input for the next forecast after ``frame``: its last input_length rows,
        scaled, with calendar features when on; (1, T, F + E)."""
        length = self.config.input_length
        if len(frame) < length:
            raise SeqlabError(
                f"{frame.source}: {len(frame)} rows, the model reads the last input_length = "
                f"{length} rows to forecast; give at least {length} rows"
            )
        values, extra = self._prepared(frame)
        window = values[-length:]  # (T, F)
        if extra is not None:
            window = np.concatenate([window, extra[-length:]], axis=1)  # (T, F + E)
        return torch.from_numpy(np.ascontiguousarray(window, dtype=np.float32))[None]

    def windows(self, split: str) -> WindowDataset:
        """Every window of ``split``: rows of the training series, or the whole evaluation
        file when one was given for this split."""
        check_split(split)
        if split not in self._windows:
            length, horizon = self.config.input_length, self.config.horizon
            frame = self.evaluated_file(split)
            if frame is not None:
                if len(frame) < length + horizon:
                    raise SeqlabError(
                        f"{frame.source}: {len(frame)} rows, one window needs input_length + "
                        f"horizon = {length} + {horizon} = {length + horizon}; give more rows"
                    )
                self._windows[split] = self.window_dataset(frame)
            else:
                rows = self.bounds()[split]
                self._windows[split] = self.window_dataset(self.training_series(), rows=rows)
        return self._windows[split]

    def window_dataset(
        self, frame: SeriesFrame, *, rows: range | SplitRange | None = None
    ) -> WindowDataset:
        """Every window of ``frame``'s ``rows`` (None: all of them), scaled with this model's
        scaler, with calendar features when on."""
        values, extra = self._prepared(frame)
        return WindowDataset(
            values,
            input_length=self.config.input_length,
            horizon=self.config.horizon,
            rows=rows,
            target_only=self.config.features != "M",
            extra_inputs=extra,
        )

    def to_original(self, values: np.ndarray) -> np.ndarray:
        """Forecast-column values (..., horizon, F_out) on the normalised scale -> the data's
        units."""
        if self.output_features == len(self.columns):
            return self.scaler.inverse_transform(values)
        return self.scaler.inverse_transform(values[..., 0], column=-1)[..., None]


def _training_path(config: ForecastingDataConfig, training_data: Path | None) -> Path:
    if training_data is not None:
        return training_data
    if config.file:
        return Path(config.file)
    return resolve_file("etth1", "ETTh1.csv")


def _read_training_series(
    config: ForecastingDataConfig,
    *,
    columns: tuple[str, ...] | None,
    training_data: Path | None,
) -> tuple[SeriesFrame, OutlierReference]:
    """The training series, checked for outliers against its own training rows, and their
    outlier reference; with ``columns`` (a trained model's), exactly those columns."""
    # A series kept in the model directory is named by its file name alone, so messages and
    # reports do not depend on where the directory was built or moved.
    name = None if training_data is None else training_data.name
    path = _training_path(config, training_data)
    series = _read_csv(config, path, columns=columns, name=name, strict=config.strict)
    if columns is not None and series.columns != columns:
        raise SeqlabError(
            f"{series.source}: columns {', '.join(series.columns)} differ from the model's "
            f"{', '.join(columns)}"
        )
    train = _split_bounds(config, len(series)).train
    reference = OutlierReference.fit(series.values, rows=train.rows, columns=series.columns)
    return check_outliers(series, reference, policy=config.outliers), reference


def _read_csv(
    config: ForecastingDataConfig,
    path: Path,
    *,
    columns: tuple[str, ...] | None,
    strict: bool,
    name: str | None = None,
    timestamp_column: str | None = None,
) -> SeriesFrame:
    """``path`` read by the data settings (``strict`` in place of ``config.strict``); with
    ``columns`` (a trained model's), the inputs read are exactly those before the target."""
    inputs: tuple[str, ...] | None = None
    if config.features != "S":
        inputs = config.inputs if columns is None else columns[:-1]
    return read_series(
        path,
        timestamp_column=timestamp_column or config.timestamp_column,
        target=config.target,
        inputs=inputs,
        features=config.features,
        strict=strict,
        fill=config.fill,
        name=name,
    )


def _split_bounds(config: ForecastingDataConfig, rows: int) -> SplitBounds:
    return split_bounds(
        rows,
        input_length=config.input_length,
        protocol=config.split_protocol,
        ratios=config.split_ratios,
        rows=config.split_rows,
    )


def _header(path: Path) -> list[str] | None:
    """The first non-blank row of a CSV, stripped; None when it cannot be read (read_series then
    says why, with the line)."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            for row in csv.reader(handle):
                if any(cell.strip() for cell in row):
                    return [cell.strip() for cell in row]
    except (OSError, UnicodeDecodeError, csv.Error):
        return None
    return None
