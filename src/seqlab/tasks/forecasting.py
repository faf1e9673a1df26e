"""Forecasting: ETTh1 or any CSV time series, recurrent and Transformer forecasters, always
reported beside the baselines.

References: Zhou et al., 2021, "Informer" (the ETTh1 data set, its 12/4/4-month split, the S, M
and MS feature modes, and MSE and MAE reported on the z-scored data); Wu et al., 2021,
"Autoformer" (the 0.7/0.1/0.2 split of other series); Zeng et al., 2023, "Are Transformers
Effective for Time Series Forecasting?" (repeat and linear baselines beside every network);
Hyndman and Athanasopoulos, "Forecasting: Principles and Practice", 3rd ed., sec. 5.2 (seasonal
naive).

Data (seqlab.data.series, seqlab.data.windows): the named data set ``etth1`` or the user's CSV
(``data.file``), read with its gaps and missing cells filled and reported (``data.strict``
refuses them instead). ``data.features``: "S", the target alone in and out; "M", every chosen
column in and all of them forecast (the published multivariate ETTh1 setting, whose MSE averages
over all 7 variables); "MS", every chosen column in, the target out. ``data.calendar`` adds time
of day and day of week as extra inputs, never forecast. The z-score scaler is fitted on the
training rows only and saved in config.json; the linear baseline, fitted by least squares on the
training windows, is saved beside the weights (linear_baseline.safetensors), so an evaluation on
another file reports it without the training data. After training, monitor_reference.json records
what ``seqlab monitor`` compares recent data against (seqlab.tasks.forecasting_monitor): the
per-window validation errors of the trained model and each column's training distribution. A
model retrained by ``seqlab retrain`` keeps its training series in its own directory
(training_data.csv, named under ``artifacts.training_data``) and its split as row counts
(``data.split`` "rows").

Loss: squared error on the normalised scale, summed over every forecast value of the batch, with
its count. Metrics: ``mse`` and ``mae`` on the normalised scale (as published), ``mse_original``
and ``mae_original`` in the data's units, over the forecast columns (under "M" these average
variables of different units; ``per_variable`` in the report gives each alone). Every window of a
split counts; the last batch is short rather than dropped. ``report`` adds the errors per horizon
step, per forecast variable (when there are several), the baselines on the same windows, and
what was repaired in the data.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from seqlab.data.scaling import StandardScaler
from seqlab.data.series import SeriesFrame, read_series
from seqlab.data.sources import dataset_checksum, file_sha256, resolve_file
from seqlab.data.windows import (
    CALENDAR_FEATURES,
    SplitBounds,
    SplitRange,
    WindowBatch,
    WindowDataset,
    calendar_features,
    split_bounds,
)
from seqlab.errors import SeqlabError
from seqlab.model_dir import LINEAR_BASELINE, ModelDir
from seqlab.models.config import RecurrentConfig, TransformerConfig
from seqlab.models.forecast_baselines import LinearBaseline, repeat_last, seasonal_naive
from seqlab.models.forecaster import (
    ChannelIndependent,
    RecurrentForecaster,
    TransformerForecaster,
)
from seqlab.tasks.base import RunConfig, Task
from seqlab.train import StepLoss

SPLITS = ("train", "val", "test")
# Seasonal naive periods, in steps: a day and a week of an hourly series.
SEASONAL_PERIODS = (24, 168)
METRICS = ("mse", "mae", "mse_original", "mae_original")


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
    are filled ("interpolate" or "ffill").
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
    split: Literal["auto", "etth1", "ratio", "rows"] = "auto"
    split_ratios: tuple[float, float, float] = (0.7, 0.1, 0.2)
    split_rows: tuple[int, int, int] | None = None
    eval_batch_size: int = 512

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

    @property
    def split_protocol(self) -> Literal["etth1", "ratio", "rows"]:
        if self.split != "auto":
            return self.split
        return "ratio" if self.file else "etth1"


class _ErrorSums:
    """Squared and absolute errors summed over windows, per (horizon step, forecast column), on
    the normalised scale and in the data's units."""

    def __init__(self, horizon: int, outputs: int) -> None:
        self.sums = {name: np.zeros((horizon, outputs)) for name in METRICS}  # (H, O) each
        self.windows = 0

    def add(self, error: np.ndarray, error_original: np.ndarray) -> None:
        """error, error_original: (B, H, O) forecast minus truth, float64."""
        self.sums["mse"] += np.square(error).sum(axis=0)  # (H, O)
        self.sums["mae"] += np.abs(error).sum(axis=0)  # (H, O)
        self.sums["mse_original"] += np.square(error_original).sum(axis=0)  # (H, O)
        self.sums["mae_original"] += np.abs(error_original).sum(axis=0)  # (H, O)
        self.windows += int(error.shape[0])

    def metrics(self) -> dict[str, float]:
        """Each metric averaged over every forecast value of every window."""
        return {
            name: float(total.sum() / (self.windows * total.size))
            for name, total in self.sums.items()
        }

    def per_horizon(self) -> dict[str, list[float]]:
        """Each metric per horizon step (index 0 is one step ahead)."""
        return {
            name: (total.sum(axis=1) / (self.windows * total.shape[1])).tolist()
            for name, total in self.sums.items()
        }

    def per_column(self, columns: tuple[str, ...]) -> dict[str, dict[str, float]]:
        return {
            column: {
                name: float(total[:, index].sum() / (self.windows * total.shape[0]))
                for name, total in self.sums.items()
            }
            for index, column in enumerate(columns)
        }


class ForecastingTask(Task):
    """forecast a time series (ETTh1 or your CSV), reported beside baselines"""

    name = "forecasting"
    data_config_class = ForecastingDataConfig
    default_family = "lstm"
    families = ("rnn", "lstm", "gru", "transformer")

    def __init__(
        self,
        run: RunConfig,
        *,
        scaler: StandardScaler | None = None,
        columns: tuple[str, ...] | None = None,
        frequency: str | None = None,
        linear: LinearBaseline | None = None,
        eval_file: Path | None = None,
        eval_split: str | None = None,
        training_data: Path | None = None,
    ) -> None:
        """training_data: the training series kept in a model directory (``seqlab retrain``
        writes it); read instead of ``data.file``, which then holds only its name."""
        super().__init__(run)
        self._scaler = scaler
        self._columns = None if columns is None else tuple(columns)
        self._frequency = frequency  # the training series' step, when rebuilt from a directory
        self._linear = linear
        self._eval_file = eval_file
        self._eval_split = eval_split
        self._training_data = None if training_data is None else Path(training_data)
        self._series: SeriesFrame | None = None
        self._eval_series: SeriesFrame | None = None
        self._windows: dict[str, WindowDataset] = {}
        self._epoch_order: tuple[int, np.ndarray] | None = None

    # ---- data ----
    @property
    def data(self) -> ForecastingDataConfig:
        return self.run.data

    @property
    def extra_inputs(self) -> int:
        """Trailing input-only columns: the calendar features, when on."""
        return len(CALENDAR_FEATURES) if self.data.calendar else 0

    @property
    def columns(self) -> tuple[str, ...]:
        """The value columns the model reads, the target last."""
        if self._columns is None:
            self._columns = self.series.columns
        return self._columns

    @property
    def output_features(self) -> int:
        return len(self.columns) if self.data.features == "M" else 1

    @property
    def forecast_columns(self) -> tuple[str, ...]:
        return self.columns[len(self.columns) - self.output_features :]

    @property
    def data_path(self) -> Path:
        """Where the training series is read from: the model directory's training_data.csv,
        data.file, or the named data set (resolved, or an error saying where to put it)."""
        return self._data_path()

    def _data_path(self) -> Path:
        if self._training_data is not None:
            return self._training_data
        if self.data.file:
            return Path(self.data.file)
        return resolve_file("etth1", "ETTh1.csv")

    def _inputs_to_read(self) -> tuple[str, ...] | None:
        if self.data.features == "S":
            return None
        if self._columns is not None:  # a trained model reads exactly its own columns
            return self._columns[:-1]
        return self.data.inputs

    def _read(
        self, path: Path, *, name: str | None = None, timestamp_column: str | None = None
    ) -> SeriesFrame:
        return read_series(
            path,
            timestamp_column=timestamp_column or self.data.timestamp_column,
            target=self.data.target,
            inputs=self._inputs_to_read(),
            features=self.data.features,
            strict=self.data.strict,
            fill=self.data.fill,
            name=name,
        )

    @property
    def series(self) -> SeriesFrame:
        """The training series (all rows; the splits are row ranges of it)."""
        if self._series is None:
            # A series kept in the model directory is named by its file name alone, so messages
            # and reports do not depend on where the directory was built or moved.
            name = None if self._training_data is None else self._training_data.name
            self._series = self._read(self._data_path(), name=name)
            if self._columns is not None and self._series.columns != self._columns:
                raise SeqlabError(
                    f"{self._series.source}: columns {', '.join(self._series.columns)} differ "
                    f"from the model's {', '.join(self._columns)}"
                )
        return self._series

    def read_file(
        self, path: Path, *, name: str | None = None, timestamp_column: str | None = None
    ) -> SeriesFrame:
        """The user's CSV read with this model's columns, checked against them and its step."""
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
        frame = self._read(path, name=name, timestamp_column=timestamp_column)
        if frame.columns != self.columns:
            raise SeqlabError(
                f"{source}: columns {', '.join(frame.columns)} differ from the model's "
                f"{', '.join(self.columns)}"
            )
        trained = self._frequency or (self.series.report.frequency if self._series else None)
        if trained is not None and frame.report.frequency != trained:
            raise SeqlabError(
                f"{source}: one row every '{frame.report.frequency}', the model was trained on "
                f"one row every '{trained}'; resample the data to '{trained}' steps"
            )
        return frame

    @property
    def eval_series(self) -> SeriesFrame:
        if self._eval_file is None:
            raise SeqlabError("no evaluation file was given")
        if self._eval_series is None:
            self._eval_series = self.read_file(self._eval_file)
        return self._eval_series

    @property
    def bounds(self) -> SplitBounds:
        return split_bounds(
            len(self.series),
            input_length=self.data.input_length,
            protocol=self.data.split_protocol,
            ratios=self.data.split_ratios,
            rows=self.data.split_rows,
        )

    @property
    def scaler(self) -> StandardScaler:
        """z-score statistics of the training rows only (seqlab.data.scaling)."""
        if self._scaler is None:
            self._scaler = StandardScaler.fit(
                self.series.values, rows=self.bounds.train.rows, columns=self.series.columns
            )
        return self._scaler

    def _prepared(self, frame: SeriesFrame) -> tuple[np.ndarray, np.ndarray | None]:
        """(scaled values (N, F) float32, calendar features (N, E) or None)."""
        values = self.scaler.transform(frame.values)  # (N, F)
        extra = calendar_features(frame.timestamps) if self.data.calendar else None  # (N, E)
        return values, extra

    def input_window(self, frame: SeriesFrame) -> torch.Tensor:
        """The model's input for the next forecast after ``frame``: its last input_length rows,
        scaled, with calendar features when on; (1, L, F_in)."""
        length = self.data.input_length
        if len(frame) < length:
            raise SeqlabError(
                f"{frame.source}: {len(frame)} rows, the model reads the last input_length = "
                f"{length} rows to forecast; give at least {length} rows"
            )
        values, extra = self._prepared(frame)
        window = values[-length:]  # (L, F)
        if extra is not None:
            window = np.concatenate([window, extra[-length:]], axis=1)  # (L, F + E)
        return torch.from_numpy(np.ascontiguousarray(window, dtype=np.float32))[None]

    def windows(self, split: str) -> WindowDataset:
        """Every window of ``split``: rows of the training series, or the whole evaluation
        file when one was given for this split."""
        if split not in SPLITS:
            raise SeqlabError(f"forecasting has splits train, val and test, not '{split}'")
        if split not in self._windows:
            length, horizon = self.data.input_length, self.data.horizon
            if self._eval_file is not None and split == self._eval_split:
                frame = self.eval_series
                if len(frame) < length + horizon:
                    raise SeqlabError(
                        f"{frame.source}: {len(frame)} rows, one window needs input_length + "
                        f"horizon = {length} + {horizon} = {length + horizon}; give more rows"
                    )
                self._windows[split] = self.window_dataset(frame)
            else:
                self._windows[split] = self.window_dataset(self.series, rows=self.bounds[split])
        return self._windows[split]

    def window_dataset(
        self, frame: SeriesFrame, *, rows: range | SplitRange | None = None
    ) -> WindowDataset:
        """Every window of ``frame``'s ``rows`` (None: all of them), scaled with this model's
        scaler, with calendar features when on."""
        values, extra = self._prepared(frame)
        return WindowDataset(
            values,
            input_length=self.data.input_length,
            horizon=self.data.horizon,
            rows=rows,
            target_only=self.data.features != "M",
            extra_inputs=extra,
        )

    def to_original(self, values: np.ndarray) -> np.ndarray:
        """Forecast-column values (..., H, O) on the normalised scale -> the data's units."""
        if self.output_features == len(self.columns):
            return self.scaler.inverse_transform(values)
        return self.scaler.inverse_transform(values[..., 0], column=-1)[..., None]

    # ---- model and engine ----
    @property
    def monitor(self) -> tuple[str, Literal["min", "max"]]:
        return "mse", "min"

    def build_model(self) -> nn.Module:
        config = self.run.model
        if not isinstance(config, (TransformerConfig, RecurrentConfig)):
            raise SeqlabError(f"forecasting does not train model family '{config.family}'")
        features = len(self.columns) + self.extra_inputs
        every_column_forecast = self.output_features == len(self.columns)
        independent = config.channel_independent
        if independent is None:
            # With one column (features S) the wrapper would change nothing but the weight names.
            independent = every_column_forecast and len(self.columns) > 1
        if not independent:
            return self._build_forecaster(
                config, input_features=features, output_features=self.output_features
            )
        if not every_column_forecast:
            raise SeqlabError(
                f"model.channel_independent forecasts each column from itself alone, so with "
                f"data.features {self.data.features} the {len(self.columns) - 1} input columns "
                "besides the target would be dropped; use --features M or S, or set "
                "model.channel_independent=false"
            )
        inner = self._build_forecaster(config, input_features=1 + self.extra_inputs,
                                       output_features=1)  # fmt: skip
        return ChannelIndependent(
            inner,
            input_features=features,
            output_features=self.output_features,
            extra_inputs=self.extra_inputs,
        )

    def _build_forecaster(
        self,
        config: TransformerConfig | RecurrentConfig,
        *,
        input_features: int,
        output_features: int,
    ) -> nn.Module:
        length, horizon = self.data.input_length, self.data.horizon
        patch = config.patch_length or 1
        if length % patch:
            raise SeqlabError(
                f"data.input_length ({length}) must be divisible by model.patch_length "
                f"({patch}); set model.patch_length to a divisor of it, or null to read one "
                "time step at a time"
            )
        if isinstance(config, TransformerConfig):
            if length // patch > config.max_len:
                raise SeqlabError(
                    f"{length // patch} tokens (input_length {length} / patch_length {patch}) "
                    f"exceed model.max_len ({config.max_len}); raise model.max_len or "
                    "model.patch_length"
                )
            return TransformerForecaster(
                config,
                input_features=input_features,
                input_length=length,
                horizon=horizon,
                output_features=output_features,
                patch_length=config.patch_length,
                instance_norm=config.instance_norm,
                extra_inputs=self.extra_inputs,
            )
        return RecurrentForecaster(
            config,
            input_features=input_features,
            horizon=horizon,
            output_features=output_features,
            head=config.forecast_head,
            input_length=length,
            last_values_in_head=config.last_values_in_head,
            instance_norm=config.instance_norm,
            extra_inputs=self.extra_inputs,
            patch_length=config.patch_length,
            generator=torch.Generator().manual_seed(self.run.train.seed),
        )

    def train_batch(self, index: int) -> WindowBatch:
        """Batch ``index`` of a shuffled pass over the training windows; each epoch's order is
        a pure function of (seed, epoch), the same order as WindowDataset.batches."""
        data = self.windows("train")
        batch_size = self.run.train.batch_size
        epoch, position = divmod(index, data.num_batches(batch_size))
        if self._epoch_order is None or self._epoch_order[0] != epoch:
            order = np.random.default_rng((self.run.train.seed, epoch)).permutation(len(data))
            self._epoch_order = (epoch, order)
        order = self._epoch_order[1]
        return data.batch(order[position * batch_size : (position + 1) * batch_size])

    @staticmethod
    def _as_outputs(targets: torch.Tensor) -> torch.Tensor:
        """Targets (B, H) of one column or (B, H, F) -> (B, H, O), the forecast's shape."""
        return targets.unsqueeze(-1) if targets.dim() == 2 else targets

    def loss(self, model: nn.Module, batch: WindowBatch, state: Any = None) -> StepLoss:
        forecast = model(batch.inputs)  # (B, H, O)
        squared = (forecast - self._as_outputs(batch.targets)).square()  # (B, H, O)
        return StepLoss(
            loss_sum=squared.sum(),
            count=squared.numel(),
            tokens=batch.size * self.data.input_length,
        )

    def _forecasts(
        self, model: nn.Module, split: str | WindowDataset
    ) -> Iterator[tuple[WindowBatch, np.ndarray, np.ndarray]]:
        """(batch, forecast (B, H, O), truth (B, H, O)) for every window of ``split`` (a split's
        name, or windows made by :meth:`window_dataset`), in time order, as float64 arrays on
        the normalised scale."""
        device = next(model.parameters()).device
        windows = self.windows(split) if isinstance(split, str) else split
        for batch in windows.batches(self.data.eval_batch_size):
            forecast = model(batch.inputs.to(device))  # (B, H, O)
            truth = self._as_outputs(batch.targets)  # (B, H, O)
            yield batch, forecast.double().cpu().numpy(), truth.double().numpy()

    @torch.no_grad()
    def window_errors(self, model: nn.Module, windows: str | WindowDataset) -> np.ndarray:
        """Each window's mean squared error on the normalised scale, over its H x O forecast
        values: (W,) float64 in time order. Their mean is ``evaluate``'s mse (every window
        covers the same number of values). Call it with the model in eval mode."""
        errors = [
            np.square(forecast - truth).mean(axis=(1, 2))  # (B,)
            for _, forecast, truth in self._forecasts(model, windows)
        ]
        return np.concatenate(errors)  # (W,)

    @torch.no_grad()
    def evaluate(self, model: nn.Module, split: str) -> dict[str, float]:
        sums = _ErrorSums(self.data.horizon, self.output_features)
        for _, forecast, truth in self._forecasts(model, split):
            sums.add(forecast - truth, self.to_original(forecast) - self.to_original(truth))
        return sums.metrics()

    @property
    def linear_baseline(self) -> LinearBaseline:
        """DLinear's Linear fitted by least squares on every training window (normalised)."""
        if self._linear is None:
            train = self.windows("train")
            everything = train.batch(np.arange(len(train)))
            self._linear = LinearBaseline(
                output_features=self.output_features, extra_inputs=self.extra_inputs
            ).fit(everything.inputs, self._as_outputs(everything.targets))
        return self._linear

    def baselines(self) -> dict[str, Callable[[np.ndarray], np.ndarray]]:
        """name -> forecast function of windows (B, L, F_in) -> (B, H, O), normalised scale."""
        shape = {"horizon": self.data.horizon, "output_features": self.output_features,
                 "extra_inputs": self.extra_inputs}  # fmt: skip
        chosen: dict[str, Callable[[np.ndarray], np.ndarray]] = {
            "repeat": partial(repeat_last, **shape)
        }
        for period in SEASONAL_PERIODS:
            if self.data.input_length >= period:  # the window must hold one whole period
                chosen[f"seasonal_{period}"] = partial(seasonal_naive, period=period, **shape)
        chosen["linear"] = self.linear_baseline.predict
        return chosen

    @torch.no_grad()
    def report(self, model: nn.Module, split: str) -> dict[str, Any]:
        horizon, outputs = self.data.horizon, self.output_features
        baselines = self.baselines()
        sums = _ErrorSums(horizon, outputs)
        baseline_sums = {name: _ErrorSums(horizon, outputs) for name in baselines}
        for batch, forecast, truth in self._forecasts(model, split):
            truth_original = self.to_original(truth)
            sums.add(forecast - truth, self.to_original(forecast) - truth_original)
            windows = batch.inputs.numpy().astype(np.float64)  # (B, L, F_in)
            for name, predict in baselines.items():
                guess = np.asarray(predict(windows), dtype=np.float64)  # (B, H, O)
                baseline_sums[name].add(guess - truth, self.to_original(guess) - truth_original)
        result: dict[str, Any] = {**sums.metrics(), "windows": sums.windows}
        result["per_horizon"] = sums.per_horizon()
        if outputs > 1:
            result["per_variable"] = sums.per_column(self.forecast_columns)
        result["baselines"] = {name: total.metrics() for name, total in baseline_sums.items()}
        result["data"] = self._data_report(split)
        return result

    def _data_report(self, split: str) -> dict[str, Any]:
        """Where the evaluated windows came from and what was repaired in that data."""
        on_file = self._eval_file is not None and split == self._eval_split
        frame = self.eval_series if on_file else self.series
        report = frame.report
        section: dict[str, Any] = {
            "source": frame.source,
            "rows": len(frame),
            "frequency": report.frequency,
            "columns": list(frame.columns),
            "forecast_columns": list(self.forecast_columns),
            "features": self.data.features,
            "input_length": self.data.input_length,
            "horizon": self.data.horizon,
        }
        if on_file:
            section["split"] = "whole file"
            section["windows"] = {split: len(self.windows(split))}
        else:
            bounds = self.bounds
            section["split"] = bounds.protocol
            section["target_rows"] = {part.name: [part.first_target, part.stop] for part in bounds}
            section["windows"] = {part.name: part.num_windows(self.data.horizon) for part in bounds}
        section.update(
            gaps=report.gaps,
            rows_inserted=report.rows_inserted,
            missing_values=report.missing_values,
            ignored_columns=list(report.ignored_columns),
            fixes=report.fixes(),
        )
        return section

    def summary(self, metrics: dict[str, Any]) -> list[str]:
        data = metrics.get("data", {})
        lines = [f"data: {line}" for line in data.get("fixes", [])]
        if data.get("ignored_columns"):
            ignored = ", ".join(data["ignored_columns"])
            lines.append(f"data: not numeric, so not read as inputs: {ignored}")
        baselines = metrics.get("baselines", {})
        if baselines:
            shown = [f"model {metrics['mse']:.4g}"] + [
                f"{name} {values['mse']:.4g}" for name, values in baselines.items()
            ]
            lines.append(f"mse on the same {metrics['windows']} windows: " + ", ".join(shown))
        return lines

    # ---- the model directory ----
    def artifacts(self) -> dict[str, Any]:
        artifacts = {
            "columns": list(self.columns),
            "forecast_columns": list(self.forecast_columns),
            "scaler": self.scaler.to_dict(),
            "frequency": self.series.report.frequency,
            "train_windows": len(self.windows("train")),
            "data_fixes": self.series.report.fixes(),
            "linear_baseline": LINEAR_BASELINE,
        }
        if self._training_data is not None:
            artifacts["training_data"] = self._training_data.name
        return artifacts

    def save_files(self, model_dir: ModelDir) -> None:
        linear = self.linear_baseline
        model_dir.write_tensors(
            LINEAR_BASELINE,
            {"weight": torch.from_numpy(linear.weight), "bias": torch.from_numpy(linear.bias)},
        )

    def save_trained_files(self, model: nn.Module, model_dir: ModelDir) -> None:
        """monitor_reference.json: the trained model's per-window validation errors and each
        column's training distribution, for ``seqlab monitor``."""
        from seqlab.model_dir import MONITOR_REFERENCE
        from seqlab.tasks.forecasting_monitor import build_reference

        was_training = model.training
        model.eval()
        try:
            reference = build_reference(self, model)
        finally:
            model.train(was_training)
        model_dir.write_json(MONITOR_REFERENCE, reference)

    def data_checksum(self) -> str | None:
        if self._training_data is not None or self.data.file:
            return file_sha256(self._data_path())
        return dataset_checksum("etth1")

    def with_eval_file(self, path: Path, *, split: str) -> ForecastingTask:
        if split not in SPLITS:
            raise SeqlabError(f"forecasting has splits train, val and test, not '{split}'")
        return ForecastingTask(
            self.run,
            scaler=self.scaler,
            columns=self.columns,
            frequency=self._frequency or self.series.report.frequency,
            linear=self._linear,
            eval_file=Path(path),
            eval_split=split,
            training_data=self._training_data,
        )

    @classmethod
    def from_model_dir(
        cls, run: RunConfig, model_dir: ModelDir, artifacts: dict[str, Any]
    ) -> ForecastingTask:
        for key in ("scaler", "columns"):
            if key not in artifacts:
                raise SeqlabError(
                    f"{model_dir}/config.json has no '{key}' under artifacts; was it edited by "
                    "hand? Retrain the model"
                )
        columns = tuple(artifacts["columns"])
        training_data = None
        if "training_data" in artifacts:
            training_data = model_dir.file(str(artifacts["training_data"]))
        task = cls(
            run,
            scaler=StandardScaler.from_dict(artifacts["scaler"]),
            columns=columns,
            frequency=artifacts.get("frequency"),
            training_data=training_data,
        )
        linear_name = str(artifacts.get("linear_baseline", LINEAR_BASELINE))
        if model_dir.file(linear_name).exists():
            saved = model_dir.read_arrays(linear_name)
            linear = LinearBaseline(
                output_features=task.output_features, extra_inputs=task.extra_inputs
            )
            linear.weight, linear.bias = saved["weight"], saved["bias"]
            linear.input_features = len(columns) + task.extra_inputs
            task._linear = linear
        return task

    @classmethod
    def load_predictor(cls, model_dir: ModelDir, config: dict[str, Any]) -> Any:
        from seqlab.tasks.forecasting_predictor import ForecastingPredictor
        from seqlab.tasks.runner import predictor_from_dir

        return predictor_from_dir(ForecastingPredictor, model_dir, config)

    # ---- configuration ----
    @classmethod
    def presets(cls) -> dict[str, dict[str, Any]]:
        # Segments of a day (SegRNN). With features M, channel independence (on by default) then
        # runs 7 series a window: on ETTh1 M-168-24 the LSTM's test MSE fell from 0.444 (64 units,
        # per step, channels mixed) to 0.302, and to 0.295 with 128 units.
        recurrent = {"hidden_size": 128, "num_layers": 1, "patch_length": 24}
        return {
            "cpu-small": {
                # A step budget, early stopping on validation MSE, and a wall-clock cap as a
                # safety net. On ETTh1, one CPU thread: 0.5 to 2.5 minutes a model.
                "train": {"steps": 1500, "batch_size": 64, "eval_every": 100, "log_every": 50,
                          "warmup_steps": 50, "early_stopping_patience": 4, "max_seconds": 240},
                "model_by_family": {
                    "rnn": recurrent, "lstm": recurrent, "gru": recurrent,
                    "transformer": {"d_model": 64, "num_heads": 4, "num_layers": 2,
                                    "dim_feedforward": 128, "patch_length": 24},
                },
            }
        }  # fmt: skip

    @classmethod
    def family_defaults(cls, family: str) -> dict[str, Any]:
        train = {"steps": 5000, "batch_size": 64, "eval_every": 250, "schedule": "cosine",
                 "warmup_steps": 100, "min_lr_ratio": 0.05, "betas": (0.9, 0.999),
                 "weight_decay": 0.01, "early_stopping_patience": 6}  # fmt: skip
        if family == "transformer":
            # Patches of a day (PatchTST); RevIN against ETTh1's drift in level between seasons.
            return {
                "train": {**train, "lr": 5e-4, "grad_clip": 1.0},
                "model": {"patch_length": 24, "instance_norm": True},
            }
        # Dropout 0.2 and clipping at 5.0: the study material's forecaster and RNN values.
        return {
            "train": {**train, "lr": 1e-3, "grad_clip": 5.0},
            "model": {"dropout": 0.2, "instance_norm": True},
        }

    @classmethod
    def cli_options(cls) -> list[tuple[str, str, str, dict[str, Any]]]:
        return [
            ("--data", "data", "file",
             {"metavar": "CSV", "help": "your CSV time series (default: the etth1 data set)"}),
            ("--target", "data", "target", {"help": "the column to forecast (default: OT)"}),
            ("--inputs", "data", "inputs",
             {"help": "comma-separated input columns for --features M/MS (default: every "
                      "numeric column)"}),
            ("--features", "data", "features",
             {"choices": ("S", "M", "MS"),
              "help": "S: the target alone; M: every column in and forecast; MS: every column "
                      "in, the target forecast (default: S)"}),
            ("--input-length", "data", "input_length",
             {"type": int, "help": "steps the model reads (default: 168)"}),
            ("--horizon", "data", "horizon",
             {"type": int, "help": "steps the model forecasts (default: 24)"}),
            ("--calendar", "data", "calendar",
             {"action": "store_true", "default": None,
              "help": "add time of day and day of week as inputs"}),
            ("--timestamp-column", "data", "timestamp_column",
             {"help": "the timestamp column (default: date, timestamp, time or datetime)"}),
            ("--strict", "data", "strict",
             {"action": "store_true", "default": None,
              "help": "fail on gaps and missing values instead of filling them"}),
        ]  # fmt: skip


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


TASK = ForecastingTask
