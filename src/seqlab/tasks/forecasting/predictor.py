"""Forecasting with a trained model directory: the next ``horizon`` steps after recent data.

The data is a CSV path or a pandas DataFrame holding the model's columns (a DatetimeIndex or a
timestamp column), read by the same checks as training (seqlab.data.series: gaps and missing
cells filled, or refused under ``data.strict`` or ``strict=True``; seqlab.data.outliers: values
far outside the training rows refused unless kept). A DataFrame is written to a CSV and read
back, so messages name its rows by their line in that CSV: line 2 is its first row. The
forecast starts after the data's LAST row: the model reads its last ``input_length`` rows,
scaled with the statistics saved at training, and the result comes back in the data's own
units, one row per future step at the data's frequency (last timestamp + k * step,
k = 1..horizon). What the reading repaired is in the result's ``attrs["notes"]`` (one line per
kind of repair, with lines and columns; empty when nothing was); a forecast that is not finite
is an error naming the rows the model read, never a result. A model trained with quantile levels
(``--quantiles``) forecasts its point forecast (the 0.5 level, else the middle one) with
``forecast`` and every level with ``quantile_forecast`` (seqlab.tasks.forecasting.quantiles).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from seqlab.data.outliers import OutlierPolicy
from seqlab.data.series import SeriesFrame
from seqlab.errors import SeqlabError
from seqlab.infer import Predictor
from seqlab.tasks.forecasting.metrics import refuse_nonfinite
from seqlab.tasks.forecasting.quantiles import QuantileForecaster, quantile_column, to_original
from seqlab.tasks.forecasting.task import ForecastingTask


class ForecastingPredictor(Predictor[ForecastingTask]):
    """Forecasts the next ``horizon`` steps: ``forecast(csv_path_or_dataframe)``."""

    @property
    def columns(self) -> tuple[str, ...]:
        """The columns the model reads, the target last."""
        return self.task_object.series_data.columns

    @property
    def forecast_columns(self) -> tuple[str, ...]:
        return self.task_object.series_data.forecast_columns

    @property
    def input_length(self) -> int:
        return self.task_object.series_data.config.input_length

    @property
    def horizon(self) -> int:
        return self.task_object.series_data.config.horizon

    @property
    def quantiles(self) -> tuple[float, ...] | None:
        """The quantile levels the model forecasts (None: a point forecast only)."""
        return self.model.levels if isinstance(self.model, QuantileForecaster) else None

    def read(
        self,
        data: pd.DataFrame | str | os.PathLike[str],
        *,
        strict: bool = False,
        outliers: OutlierPolicy | None = None,
    ) -> SeriesFrame:
        """The data as a checked, regular series with the model's columns. strict: refuse gaps
        and missing cells instead of filling them. outliers: "refuse" or "keep" (None: the
        model's ``data.outliers``)."""
        if isinstance(data, SeriesFrame):
            return data
        if isinstance(data, pd.DataFrame):
            return self._read_frame(data, strict=strict, outliers=outliers)
        if isinstance(data, str | os.PathLike):
            return self.task_object.series_data.read_file(
                Path(data), strict=strict, outliers=outliers
            )
        raise TypeError(
            f"forecast takes a CSV path or a pandas DataFrame, not {type(data).__name__}"
        )

    def _read_frame(
        self, frame: pd.DataFrame, *, strict: bool, outliers: OutlierPolicy | None
    ) -> SeriesFrame:
        # Through a CSV, so a DataFrame passes exactly the checks and repairs a file does.
        series_data = self.task_object.series_data
        timestamp_column = None
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "data.csv"
            if isinstance(frame.index, pd.DatetimeIndex):
                timestamp_column = series_data.config.timestamp_column or "timestamp"
                if timestamp_column in frame.columns:
                    raise SeqlabError(
                        f"the DataFrame has a DatetimeIndex and a column '{timestamp_column}'; "
                        "keep the timestamps in one of them"
                    )
                frame.to_csv(path, index=True, index_label=timestamp_column)
            else:
                frame.to_csv(path, index=False)
            return series_data.read_file(
                path,
                name="the DataFrame",
                timestamp_column=timestamp_column,
                strict=strict,
                outliers=outliers,
            )

    @torch.no_grad()
    def forecast(
        self,
        data: pd.DataFrame | str | os.PathLike[str],
        *,
        strict: bool = False,
        outliers: OutlierPolicy | None = None,
    ) -> pd.DataFrame:
        """The next ``horizon`` steps after the data's last row: a DataFrame indexed by their
        timestamps, one column per forecast variable, in the data's units; ``attrs["notes"]``
        lists what reading the data repaired. strict, outliers: as :meth:`read` takes them."""
        series_data = self.task_object.series_data
        frame = self.read(data, strict=strict, outliers=outliers)
        window = series_data.input_window(frame)  # (1, T, F_in)
        forecast = self.model(window.to(self.device))  # (1, horizon, F_out)
        values = series_data.to_original(forecast.double().cpu().numpy())  # (1, horizon, F_out)
        return self._frame(values[0], list(self.forecast_columns), frame)

    @torch.no_grad()
    def quantile_forecast(
        self,
        data: pd.DataFrame | str | os.PathLike[str],
        *,
        strict: bool = False,
        outliers: OutlierPolicy | None = None,
    ) -> pd.DataFrame:
        """Every quantile level's forecast of the next ``horizon`` steps, in the data's units:
        a DataFrame indexed by their timestamps with one column per forecast variable and level,
        ``<column>_q<level>`` (``temp_q0.1``), the levels of each variable in increasing order;
        the values never decrease along them. For a model trained with ``--quantiles`` only.
        strict, outliers: as :meth:`read` takes them."""
        if not isinstance(self.model, QuantileForecaster):
            raise SeqlabError(
                f"{self.model_dir} forecasts one value per step, no quantiles; train it with "
                "--quantiles 0.1,0.5,0.9 for prediction intervals"
            )
        series_data = self.task_object.series_data
        frame = self.read(data, strict=strict, outliers=outliers)
        window = series_data.input_window(frame)  # (1, T, F_in)
        forecast = self.model.quantile_forecast(window.to(self.device))  # (1, horizon, F_out, Q)
        # (1, horizon, F_out, Q)
        values = to_original(series_data, forecast.double().cpu().numpy())
        columns = [
            quantile_column(column, level)
            for column in self.forecast_columns
            for level in self.model.levels
        ]
        # (horizon, F_out * Q), each variable's levels side by side
        return self._frame(values[0].reshape(self.horizon, -1), columns, frame)

    def _frame(self, values: np.ndarray, columns: list[str], frame: SeriesFrame) -> pd.DataFrame:
        """values (horizon, columns) after ``frame``'s last row, checked to be finite."""
        first = len(frame) - self.input_length
        refuse_nonfinite(
            values[None], torch.tensor([first]), frame=frame, input_length=self.input_length
        )
        last = frame.timestamps[-1]
        steps = [last + step * frame.frequency for step in range(1, self.horizon + 1)]
        index = pd.DatetimeIndex(steps, name="timestamp")
        result = pd.DataFrame(values, index=index, columns=columns)
        result.attrs["notes"] = frame.report.fixes()
        return result
