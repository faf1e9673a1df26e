"""The forecasting Task: the data object, the forecaster, the loss, the metrics and the report,
wired for the training engine and the commands.

References: Zhou et al., 2021, "Informer" (MSE and MAE on the z-scored data); Zeng et al.,
2023, "Are Transformers Effective for Time Series Forecasting?" (baselines beside every
network).

Loss: squared error on the normalised scale, summed over every forecast value of the batch, with
its count; with ``data.quantiles``, the pinball loss of every level instead, and the model a
QuantileForecaster whose forward is the point forecast (seqlab.tasks.forecasting.quantiles).
Metrics (seqlab.tasks.forecasting.metrics): ``mse`` and ``mae`` on the normalised scale,
``mse_original`` and ``mae_original`` in the data's units (of the point forecast; with quantiles
the validation metrics add ``pinball``, the mean pinball loss). ``report`` adds the errors per
horizon step, per forecast variable, the baselines on the same windows and what was repaired in
the data (seqlab.tasks.forecasting.report). The model directory gets, beside the weights, the
scaler, columns and step in its config's artifacts, the least-squares baselines (linear, nlinear,
dlinear: seqlab.tasks.forecasting.baselines) and,
once trained, what ``seqlab monitor`` compares recent data against (MONITOR_REFERENCE,
seqlab.tasks.forecasting.monitor). With ``model.residual_of`` the model learns the residual of a
baseline, chosen here on the run's validation windows when the model is first built
(seqlab.tasks.forecasting.residual); the choice and every candidate's validation mse go to the
artifacts (``residual``), the report (``residual``) and the summary, and the baseline's map to
the weights, so a loaded model rebuilds it from them. A model retrained by ``seqlab retrain``
keeps its training series in its own directory (TRAINING_DATA, named under
``artifacts.training_data``).

Shapes: B batch, T the input length, ``horizon`` the steps forecast, F_out the forecast columns.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import torch
from torch import nn

from seqlab.data.outliers import OutlierReference
from seqlab.data.scaling import StandardScaler
from seqlab.data.windows import WindowBatch
from seqlab.errors import SeqlabError
from seqlab.model_dir import MONITOR_REFERENCE, ModelDir
from seqlab.models.combined_forecaster import CombinedForecaster
from seqlab.tasks.base import RunConfig, Task
from seqlab.tasks.forecasting.baselines import (
    FittedBaseline,
    FittedBaselines,
    baseline_artifacts,
    fit_baselines,
    load_baselines,
    report_baselines,
    save_baselines,
)
from seqlab.tasks.forecasting.config import ForecastingDataConfig
from seqlab.tasks.forecasting.data import ForecastingData
from seqlab.tasks.forecasting.metrics import ErrorSums, as_outputs, forecasts, window_errors
from seqlab.tasks.forecasting.model import build_model
from seqlab.tasks.forecasting.monitor import build_reference
from seqlab.tasks.forecasting.options import OPTIONS
from seqlab.tasks.forecasting.quantiles import (
    QuantileForecaster,
    pinball_loss,
    quantile_forecasts,
)
from seqlab.tasks.forecasting.report import evaluation_report, summary
from seqlab.tasks.forecasting.residual import AffineMap, BaselineChoice, choose_baseline
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
        saved_baselines: Mapping[str, FittedBaseline] | None = None,
        residual: BaselineChoice | None = None,
        combination: BaselineChoice | None = None,
    ) -> None:
        """data: the series and what was learned from it (None: read ``run.data``'s training
        series now and fit the scaler). saved_baselines: the least-squares baselines a model
        directory saved, by name (those missing: fitted on the training windows when first
        needed). residual: the baseline a trained model learns the residual of, as its directory
        recorded it; the model's weights then hold that baseline's map, so build_model leaves
        it to them (None: chosen on this data when the model is built, if model.residual_of
        asks for one). combination: the same for model.combine_with's baseline."""
        super().__init__(run)
        if data is None:
            data = ForecastingData.read(run.data)
        elif data.config != run.data:
            raise ValueError("ForecastingTask: data.config differs from run.data")
        self.series_data = data
        self._saved_baselines = dict(saved_baselines or {})
        self._baselines: FittedBaselines | None = None
        self._epoch_order: tuple[int, np.ndarray] | None = None
        self._restored_residual = residual
        self._chosen_residual: tuple[BaselineChoice, AffineMap] | None = None
        self._restored_combination = combination
        self._chosen_combination: tuple[BaselineChoice, AffineMap] | None = None

    # ---- model and engine ----
    @property
    def monitor(self) -> tuple[str, Literal["min", "max"]]:
        return "mse", "min"

    def build_model(self) -> nn.Module:
        config = self.stack_model
        residual_map = combination_map = None
        if getattr(config, "residual_of", None) is not None and self._restored_residual is None:
            residual_map = self._residual()[1]
        restored = self._restored_combination
        if getattr(config, "combine_with", None) is not None and restored is None:
            combination_map = self._combination()[1]
        network = build_model(
            config,
            self.series_data,
            seed=self.run.train.seed,
            residual_map=residual_map,
            combination_map=combination_map,
        )
        levels = self.series_data.config.quantiles
        return network if levels is None else QuantileForecaster(network, levels)

    def _residual(self) -> tuple[BaselineChoice, AffineMap]:
        """model.residual_of's baseline, chosen on this data's rolling origins among the
        baselines fitted on its training windows (once: the same for every build)."""
        if self._chosen_residual is None:
            setting = getattr(self.stack_model, "residual_of", None)
            assert setting is not None
            self._chosen_residual = choose_baseline(setting, self.series_data, self.baselines())
        return self._chosen_residual

    def _combination(self) -> tuple[BaselineChoice, AffineMap]:
        """model.combine_with's baseline, chosen as model.residual_of's (once)."""
        if self._chosen_combination is None:
            setting = getattr(self.stack_model, "combine_with", None)
            assert setting is not None
            self._chosen_combination = choose_baseline(
                setting, self.series_data, self.baselines(), role="combination"
            )
        return self._chosen_combination

    @property
    def residual_choice(self) -> BaselineChoice | None:
        """The baseline the model learns the residual of (None: model.residual_of is off, or
        the directory did not record it)."""
        if self._restored_residual is not None:
            return self._restored_residual
        return self._chosen_residual[0] if self._chosen_residual is not None else None

    @property
    def combination_choice(self) -> BaselineChoice | None:
        """The baseline the model's forecast is averaged with (None: model.combine_with is
        off)."""
        if self._restored_combination is not None:
            return self._restored_combination
        return self._chosen_combination[0] if self._chosen_combination is not None else None

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
        tokens = batch.size * self.series_data.config.input_length
        truth = as_outputs(batch.targets)  # (B, horizon, F_out)
        if isinstance(model, QuantileForecaster):
            quantiles = model.quantile_forecast(batch.inputs)  # (B, horizon, F_out, Q)
            losses = pinball_loss(quantiles, truth, model.levels)  # (B, horizon, F_out, Q)
            return StepLoss(loss_sum=losses.sum(), count=losses.numel(), tokens=tokens)
        forecast = model(batch.inputs)  # (B, horizon, F_out)
        squared = (forecast - truth).square()  # (B, horizon, F_out)
        return StepLoss(loss_sum=squared.sum(), count=squared.numel(), tokens=tokens)

    @torch.no_grad()
    def evaluate(self, model: nn.Module, split: str) -> dict[str, float]:
        """mse, mae (and in the data's units) of the point forecast; with quantiles, also the
        mean pinball loss."""
        data = self.series_data
        sums = ErrorSums(data.config.horizon, data.output_features)
        windows = data.windows(split)
        batch_size = data.config.eval_batch_size
        if isinstance(model, QuantileForecaster):
            pinball, values = 0.0, 0
            for _, quantiles, truth in quantile_forecasts(model, windows, batch_size=batch_size):
                forecast = quantiles[..., model.point]  # (B, horizon, F_out)
                truth_original = data.to_original(truth)
                sums.add(forecast - truth, data.to_original(forecast) - truth_original)
                losses = pinball_loss(
                    torch.from_numpy(quantiles), torch.from_numpy(truth), model.levels
                )
                pinball, values = pinball + float(losses.sum()), values + losses.numel()
            return {**sums.metrics(), "pinball": pinball / values}
        for _, forecast, truth in forecasts(model, windows, batch_size=batch_size):
            sums.add(forecast - truth, data.to_original(forecast) - data.to_original(truth))
        return sums.metrics()

    # ---- what the commands ask for ----
    def baselines(self) -> FittedBaselines:
        """The least-squares baselines: those a model directory saved, the others fitted on the
        training windows on first call."""
        if self._baselines is None:
            self._baselines = fit_baselines(self.series_data, self._saved_baselines)
        return self._baselines

    def report(self, model: nn.Module, split: str) -> dict[str, Any]:
        fitted = self.baselines()
        baselines = report_baselines(self.series_data, fitted.linear, fitted.companions)
        result = evaluation_report(
            model,
            self.series_data,
            split,
            baselines=baselines,
            left_out=fitted.left_out,
            details=fitted.details(),
        )
        choice = self.residual_choice
        if choice is not None:
            result["residual"] = {**choice.to_json(), "summary": choice.summary()}
        combination = self.combination_choice
        if combination is not None:
            alone = self._network_alone(model, split)
            result["combination"] = {
                **combination.to_json(),
                "summary": combination.summary(),
                "network_alone": alone,
            }
        return result

    def _network_alone(self, model: nn.Module, split: str) -> dict[str, float]:
        """The metrics of the forecast a combined model averages, the network's alone (its
        share of the average set to 0 while it is evaluated)."""
        combined = model.network if isinstance(model, QuantileForecaster) else model
        if not isinstance(combined, CombinedForecaster):
            raise TypeError("model.combine_with is set but the model is no CombinedForecaster")
        share, combined.share = combined.share, 0.0
        try:
            return self.evaluate(model, split)
        finally:
            combined.share = share

    def summary(self, metrics: dict[str, Any]) -> list[str]:
        return summary(metrics)

    def data_notes(self) -> list[str]:
        """Every repair made to the series read so far (gaps inserted, cells filled, outliers
        kept, non-numeric columns passed over), with file, line and column: the first few of
        each kind in full, then a count."""
        return self.series_data.notes()

    def with_eval_file(self, path: Path, *, split: str) -> ForecastingTask:
        data = self.series_data.with_evaluation_file(Path(path), split=split)
        fitted = self._baselines.all() if self._baselines is not None else self._saved_baselines
        # The model exists already: its weights hold the residual's map.
        return ForecastingTask(
            self.run,
            data=data,
            saved_baselines=fitted,
            residual=self.residual_choice,
            combination=self.combination_choice,
        )

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
            **baseline_artifacts(),
        }
        if data.training_data is not None:
            artifacts["training_data"] = data.training_data.name
        if self.residual_choice is not None:
            artifacts["residual"] = self.residual_choice.to_json()
        if self.combination_choice is not None:
            artifacts["combination"] = self.combination_choice.to_json()
        return artifacts

    def save_files(self, model_dir: ModelDir) -> None:
        save_baselines(model_dir, self.baselines())

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
        saved = load_baselines(model_dir, artifacts, data)
        residual = _recorded_choice(run, model_dir, artifacts, "residual_of", "residual")
        combination = _recorded_choice(run, model_dir, artifacts, "combine_with", "combination")
        return cls(
            run, data=data, saved_baselines=saved, residual=residual, combination=combination
        )

    @classmethod
    def load_predictor(cls, model_dir: ModelDir, config: dict[str, Any]) -> ForecastingPredictor:
        from seqlab.tasks.forecasting.predictor import ForecastingPredictor
        from seqlab.tasks.runner import predictor_from_dir

        return predictor_from_dir(ForecastingPredictor, model_dir, config)


def _recorded_choice(
    run: RunConfig,
    model_dir: ModelDir,
    artifacts: dict[str, Any],
    field: str,
    key: Literal["residual", "combination"],
) -> BaselineChoice | None:
    """The baseline choice config.json records under ``artifacts[key]`` for ``model.{field}``
    (None when the model does not set it); a directory that sets it without the record is
    refused in one line."""
    if getattr(run.model, field, None) is None:
        return None
    if key not in artifacts:
        raise SeqlabError(
            f"{model_dir.config_path} sets model.{field} but has no '{key}' under artifacts; "
            "was it edited by hand? Retrain the model"
        )
    return BaselineChoice.from_json(artifacts[key], role=key)


TASK = ForecastingTask
