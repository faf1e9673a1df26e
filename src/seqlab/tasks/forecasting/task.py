"""The forecasting Task: the data object, the forecaster, the loss, the metrics and the report,
wired for the training engine and the commands.

References: Zhou et al., 2021, "Informer" (MSE and MAE on the z-scored data); Zeng et al.,
2023, "Are Transformers Effective for Time Series Forecasting?" (baselines beside every
network).

Loss: squared error on the normalised scale, summed over every forecast value of the batch, with
its count. Metrics (seqlab.tasks.forecasting.metrics): ``mse`` and ``mae`` on the normalised
scale, ``mse_original`` and ``mae_original`` in the data's units. ``report`` adds the errors per
horizon step, per forecast variable, the baselines on the same windows and what was repaired in
the data (seqlab.tasks.forecasting.report). The model directory gets, beside the weights, the
scaler, columns and step in its config's artifacts, the linear baseline (LINEAR_BASELINE) and,
once trained, what ``seqlab monitor`` compares recent data against (MONITOR_REFERENCE,
seqlab.tasks.forecasting.monitor). A model retrained by ``seqlab retrain`` keeps its training
series in its own directory (TRAINING_DATA, named under ``artifacts.training_data``).

Shapes: B batch, T the input length, ``horizon`` the steps forecast, F_out the forecast columns.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import torch
from torch import nn

from seqlab.data.outliers import OutlierReference
from seqlab.data.scaling import StandardScaler
from seqlab.data.windows import WindowBatch
from seqlab.errors import SeqlabError
from seqlab.model_dir import LINEAR_BASELINE, MONITOR_REFERENCE, ModelDir
from seqlab.models.forecast_baselines import LinearBaseline
from seqlab.tasks.base import RunConfig, Task
from seqlab.tasks.forecasting.baselines import (
    fit_linear_baseline,
    load_linear_baseline,
    report_baselines,
    save_linear_baseline,
)
from seqlab.tasks.forecasting.config import ForecastingDataConfig
from seqlab.tasks.forecasting.data import ForecastingData
from seqlab.tasks.forecasting.metrics import ErrorSums, as_outputs, forecasts, window_errors
from seqlab.tasks.forecasting.model import build_model
from seqlab.tasks.forecasting.monitor import build_reference
from seqlab.tasks.forecasting.options import OPTIONS
from seqlab.tasks.forecasting.report import evaluation_report, summary
from seqlab.train import StepLoss

if TYPE_CHECKING:
    from seqlab.tasks.forecasting.predictor import ForecastingPredictor


class ForecastingTask(Task):
    """Forecast a time series (ETTh1 or your CSV), reported beside baselines."""

    options = OPTIONS
    data_config_class = ForecastingDataConfig

    def __init__(
        self,
        run: RunConfig,
        *,
        data: ForecastingData | None = None,
        linear: LinearBaseline | None = None,
    ) -> None:
        """data: the series and what was learned from it (None: read ``run.data``'s training
        series now and fit the scaler). linear: the linear baseline a model directory saved
        (None: fitted on the training windows when first needed)."""
        super().__init__(run)
        if data is None:
            data = ForecastingData.read(run.data)
        elif data.config != run.data:
            raise ValueError("ForecastingTask: data.config differs from run.data")
        self.series_data = data
        self._linear = linear
        self._epoch_order: tuple[int, np.ndarray] | None = None

    # ---- model and engine ----
    @property
    def monitor(self) -> tuple[str, Literal["min", "max"]]:
        return "mse", "min"

    def build_model(self) -> nn.Module:
        return build_model(self.stack_model, self.series_data, seed=self.run.train.seed)

    def train_batch(self, index: int) -> WindowBatch:
        """Batch ``index`` of a shuffled pass over the training windows; each epoch's order is
        a pure function of (seed, epoch), the same order as WindowDataset.batches."""
        windows = self.series_data.windows("train")
        batch_size = self.run.train.batch_size
        epoch, position = divmod(index, windows.num_batches(batch_size))
        if self._epoch_order is None or self._epoch_order[0] != epoch:
            order = np.random.default_rng((self.run.train.seed, epoch)).permutation(len(windows))
            self._epoch_order = (epoch, order)
        order = self._epoch_order[1]
        return windows.batch(order[position * batch_size : (position + 1) * batch_size])

    def loss(self, model: nn.Module, batch: WindowBatch, state: Any = None) -> StepLoss:
        forecast = model(batch.inputs)  # (B, horizon, F_out)
        squared = (forecast - as_outputs(batch.targets)).square()  # (B, horizon, F_out)
        return StepLoss(
            loss_sum=squared.sum(),
            count=squared.numel(),
            tokens=batch.size * self.series_data.config.input_length,
        )

    @torch.no_grad()
    def evaluate(self, model: nn.Module, split: str) -> dict[str, float]:
        data = self.series_data
        sums = ErrorSums(data.config.horizon, data.output_features)
        windows = data.windows(split)
        for _, forecast, truth in forecasts(model, windows, batch_size=data.config.eval_batch_size):
            sums.add(forecast - truth, data.to_original(forecast) - data.to_original(truth))
        return sums.metrics()

    # ---- what the commands ask for ----
    def linear_baseline(self) -> LinearBaseline:
        """The linear baseline: the one a model directory saved, else fitted on the training
        windows on first call."""
        if self._linear is None:
            self._linear = fit_linear_baseline(self.series_data)
        return self._linear

    def report(self, model: nn.Module, split: str) -> dict[str, Any]:
        baselines = report_baselines(self.series_data, self.linear_baseline())
        return evaluation_report(model, self.series_data, split, baselines=baselines)

    def summary(self, metrics: dict[str, Any]) -> list[str]:
        return summary(metrics)

    def data_notes(self) -> list[str]:
        """Every repair made to the series read so far (gaps inserted, cells filled, outliers
        kept, non-numeric columns passed over), with file, line and column: the first few of
        each kind in full, then a count."""
        return self.series_data.notes()

    def with_eval_file(self, path: Path, *, split: str) -> ForecastingTask:
        data = self.series_data.with_evaluation_file(Path(path), split=split)
        return ForecastingTask(self.run, data=data, linear=self._linear)

    def data_checksum(self) -> str | None:
        return self.series_data.checksum()

    # ---- the model directory ----
    def artifacts(self) -> dict[str, Any]:
        data = self.series_data
        series = data.training_series()
        artifacts = {
            "columns": list(data.columns),
            "forecast_columns": list(data.forecast_columns),
            "scaler": data.scaler.to_dict(),
            "outliers": data.outliers.to_dict(),
            "frequency": series.report.frequency,
            "train_windows": len(data.windows("train")),
            "data_fixes": series.report.fixes(),
            "linear_baseline": LINEAR_BASELINE,
        }
        if data.training_data is not None:
            artifacts["training_data"] = data.training_data.name
        return artifacts

    def save_files(self, model_dir: ModelDir) -> None:
        save_linear_baseline(model_dir, self.linear_baseline())

    def save_trained_files(self, model: nn.Module, model_dir: ModelDir) -> None:
        """MONITOR_REFERENCE: the trained model's per-window validation errors and each
        column's training distribution, for ``seqlab monitor``."""
        data = self.series_data
        was_training = model.training
        model.eval()
        try:
            errors = window_errors(
                model,
                data.windows("val"),
                batch_size=data.config.eval_batch_size,
                frame=data.training_series(),
            )
        finally:
            model.train(was_training)
        bounds = data.bounds()
        reference = build_reference(
            validation_errors=errors,
            training_values=data.training_series().values[bounds.train.slice],
            columns=data.columns,
            bounds=bounds,
        )
        model_dir.write_json(MONITOR_REFERENCE, reference)

    @classmethod
    def from_model_dir(
        cls, run: RunConfig, model_dir: ModelDir, artifacts: dict[str, Any]
    ) -> ForecastingTask:
        for key in ("scaler", "columns"):
            if key not in artifacts:
                raise SeqlabError(
                    f"{model_dir.config_path} has no '{key}' under artifacts; was it edited by "
                    "hand? Retrain the model"
                )
        training_data = None
        if "training_data" in artifacts:
            training_data = model_dir.file(str(artifacts["training_data"]))
        columns = tuple(artifacts["columns"])
        outliers = None  # a directory written before the reference was saved: the scaler's
        if "outliers" in artifacts:
            outliers = OutlierReference.from_dict(artifacts["outliers"], columns)
        data = ForecastingData.restored(
            run.data,
            columns=columns,
            scaler=StandardScaler.from_dict(artifacts["scaler"]),
            outliers=outliers,
            frequency=artifacts.get("frequency"),
            training_data=training_data,
        )
        return cls(run, data=data, linear=load_linear_baseline(model_dir, artifacts, data))

    @classmethod
    def load_predictor(cls, model_dir: ModelDir, config: dict[str, Any]) -> ForecastingPredictor:
        from seqlab.tasks.forecasting.predictor import ForecastingPredictor
        from seqlab.tasks.runner import predictor_from_dir

        return predictor_from_dir(ForecastingPredictor, model_dir, config)


TASK = ForecastingTask
