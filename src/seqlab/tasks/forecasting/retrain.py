"""Retraining a forecaster on its old data plus new rows, judged on rows neither model saw.

References: Gama et al., 2014, "A Survey on Concept Drift Adaptation" (retrain on recent data,
then compare the old and the new model on the same most recent data before switching);
Tashman, 2000, "Out-of-sample tests of forecasting accuracy" (the hold-out is the most recent
stretch, after every row either model learned from).

What :func:`retrain` does, in order:

1. Reads the old model directory without writing to it, and its training series (``data.file``,
   the etth1 data set, or the TRAINING_DATA file of a directory written by retrain itself),
   checked against the checksum recorded in its metrics: the old rows must be the ones the
   model was trained on (:func:`load_old_model`).
2. Joins the new file to the old series in time order (seqlab.data.series.join_series). Rows at
   or before the old series' last timestamp must repeat it (same timestamps on its grid, same
   values): they are dropped. The rest must come after it on the same step; a gap between the
   two is filled by the training's fill policy and reported (refused under ``data.strict``).
3. Splits the joined series by row counts, in time order (:func:`plan_split`): training rows,
   then ``val_rows`` for validation (the checkpoint is chosen on them), then the ``holdout``
   newest rows, which neither model trains or validates on. Both hold-out and validation default
   to ``DEFAULT_HOLDOUT_HORIZONS`` x horizon rows (168 for the default horizon of 24: a week of
   an hourly series) and must lie within the new rows, leaving at least one new row to train on.
4. Keeps the old scaler. The model's weights were learned on inputs standardised with it: a
   refitted scaler would change what every input value means to the network, and the starting
   weights would no longer fit their inputs. How far the new rows' statistics moved from it is
   reported (``scaler.new_rows``), in the old standard deviations.
5. Continues training from the old weights with the same engine and configuration as
   ``seqlab train`` (``runner.train_run``): by default for min(500, the old run's step budget)
   steps, warm-up and evaluation interval shrunk to fit them (:func:`train_section`).
6. Evaluates the old and the new model on the same hold-out windows (the same scaled inputs,
   since the scaler is shared) and reports mse and mae on the normalised scale and in the data's
   units; the better model is the one with the lower normalised mse (the training objective),
   the old one on a tie.

The new directory is built in a temporary sibling folder and renamed into place at the end, so
a failure leaves no directory at ``out``; a killed run's folder is removed by the next retrain
to the same ``out``, which says so, or named in its error (seqlab.tasks.forecasting.work_folder).
The directory holds everything ``seqlab train`` writes, plus the joined series its splits refer
to (TRAINING_DATA, so ``seqlab eval NEW_DIR`` evaluates the hold-out) and the comparison under
``retrain`` in its metrics.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from torch import nn

from seqlab.data.series import (
    TIMESTAMP_COLUMN_CANDIDATES,
    JoinedSeries,
    SeriesFrame,
    fixed_step,
    join_series,
    write_series_csv,
)
from seqlab.errors import SeqlabError
from seqlab.model_dir import METRICS as METRICS_FILE
from seqlab.model_dir import TRAINING_DATA, ModelDir
from seqlab.tasks.base import RunConfig
from seqlab.tasks.configuration import build_run_config
from seqlab.tasks.forecasting.data import ForecastingData
from seqlab.tasks.forecasting.metrics import METRICS
from seqlab.tasks.forecasting.task import ForecastingTask
from seqlab.tasks.forecasting.work_folder import (
    make_work_folder,
    move_into_place,
    remove_stale_work_folders,
)
from seqlab.tasks.runner import TrainedRun, evaluate_split, load_trained, train_run
from seqlab.train.progress import ProgressKind, ProgressReporter

__all__ = [
    "DEFAULT_HOLDOUT_HORIZONS",
    "MAX_DEFAULT_STEPS",
    "OldModel",
    "RetrainSplit",
    "check_output_dir",
    "load_old_model",
    "plan_split",
    "retrain",
    "train_section",
]

DEFAULT_HOLDOUT_HORIZONS = 7
MAX_DEFAULT_STEPS = 500


@dataclass(frozen=True)
class OldModel:
    """The model being retrained, as read from its directory (which is never written to)."""

    directory: Path
    task: ForecastingTask
    model: nn.Module
    config: dict[str, Any]
    series: SeriesFrame  # the rows it was trained on

    @property
    def data(self) -> ForecastingData:
        return self.task.series_data


@dataclass(frozen=True)
class RetrainSplit:
    """Where the joined series is cut. holdout, validation: the newest rows, held out from both
    models, and the rows before them that choose the checkpoint. gap: missing steps between the
    old series' last row and the first new one (filled when the joined series is read back).
    new_rows: rows after the old series, the gap included; total: rows of the joined series."""

    holdout: int
    validation: int
    gap: int
    new_rows: int
    total: int
    old_last: pd.Timestamp
    first_new: pd.Timestamp

    @property
    def rows(self) -> tuple[int, int, int]:
        """Train, validation and hold-out row counts, in time order."""
        return (self.total - self.holdout - self.validation, self.validation, self.holdout)

    @property
    def trained_new(self) -> int:
        """New rows among the training rows."""
        return self.new_rows - self.holdout - self.validation


def retrain(
    model_dir: str | os.PathLike[str],
    data: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    steps: int | None = None,
    holdout: int | None = None,
    val_rows: int | None = None,
    overrides: Sequence[str] = (),
    progress: ProgressReporter | ProgressKind = "auto",
    say: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Write a model retrained on ``model_dir``'s data plus ``data`` at ``out``; returns the
    record saved under ``retrain`` in its metrics (see the module docstring). say: where a line
    about a stale temporary folder removed goes (None: standard error)."""
    model_dir, data = Path(model_dir), Path(data)
    target = check_output_dir(model_dir, Path(out))
    for line in remove_stale_work_folders(target):
        (say or _to_stderr)(line)
    for override in overrides:
        if not override.strip().startswith("train."):
            raise SeqlabError(
                f"--set {override}: retrain changes train.* settings only; the data and model "
                f"settings are those of {model_dir}"
            )
    old = load_old_model(model_dir)
    new_frame = old.data.read_file(data)
    joined = join_series(old.series, new_frame)
    split = plan_split(old, joined, data, holdout=holdout, val_rows=val_rows)
    timestamp_column = next(
        name for name in TIMESTAMP_COLUMN_CANDIDATES if name not in old.data.columns
    )
    run = _run_config(old.config, split, timestamp_column, steps=steps, overrides=overrides)

    target.parent.mkdir(parents=True, exist_ok=True)
    work = make_work_folder(target)
    try:
        record = _train_and_compare(
            ModelDir(work),
            run,
            old=old,
            new_frame=new_frame,
            joined=joined,
            split=split,
            timestamp_column=timestamp_column,
            progress=progress,
        )
        move_into_place(work, target)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return {"model_dir": str(target), **record}


# ---- 1. the old model and its data ----


def check_output_dir(model_dir: Path, out: Path) -> Path:
    """``out``, resolved, after refusing the old directory itself, a folder inside it, and an
    existing file or non-empty folder (which also covers any folder holding the old one)."""
    source, target = Path(model_dir).resolve(), Path(out).resolve()
    if target == source or source in target.parents:
        where = "is" if target == source else "is inside"
        raise SeqlabError(
            f"--out {out} {where} the old model directory {model_dir}, which retrain only "
            "reads; choose a new folder outside it"
        )
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise SeqlabError(f"--out {out} already exists; choose a new folder")
    return target


def load_old_model(model_dir: Path) -> OldModel:
    """The trained forecaster in ``model_dir`` and the series it was trained on, checked to be
    the very rows it learned from."""
    old_task, old_model, config = load_trained(model_dir)
    if config.get("task") != "forecasting" or not isinstance(old_task, ForecastingTask):
        raise SeqlabError(
            f"{model_dir} holds a '{config.get('task')}' model; retrain continues forecasting "
            "models"
        )
    _check_old_data(ModelDir(model_dir), old_task.series_data)
    series = old_task.series_data.training_series()
    return OldModel(model_dir, old_task, old_model, config, series)


def _check_old_data(model_dir: ModelDir, data: ForecastingData) -> None:
    """The old training series exists and is the one the model was trained on."""
    path = data.training_path()  # the named data set: resolved, or an error saying where to put it
    if not path.is_file():
        raise SeqlabError(
            f"{model_dir} was trained on {path}, which is not there; retrain trains on the old "
            "rows plus the new ones, so put that file back (a relative path is read from the "
            "current folder)"
        )
    try:
        recorded = model_dir.read_json(METRICS_FILE)
    except (SeqlabError, OSError):
        recorded = {}
    expected = recorded.get("data_checksum") if isinstance(recorded, dict) else None
    if expected is not None and data.checksum() != expected:
        raise SeqlabError(
            f"{path} differs from the file {model_dir} was trained on (its SHA-256 is not the one "
            f"in {model_dir.metrics_path}); retrain needs the rows the model learned from: "
            "restore that file, and give the new rows with --data"
        )


# ---- 3. the split and the run ----


def plan_split(
    old: OldModel,
    joined: JoinedSeries,
    data: Path,
    *,
    holdout: int | None,
    val_rows: int | None,
) -> RetrainSplit:
    """Where to cut ``joined`` (the old series and the new rows of ``data``): the hold-out and
    validation rows (default ``DEFAULT_HOLDOUT_HORIZONS`` x horizon each), checked to leave new
    rows to train on."""
    settings, old_series = old.data.config, old.series
    horizon = settings.horizon
    hold = DEFAULT_HOLDOUT_HORIZONS * horizon if holdout is None else holdout
    validation = hold if val_rows is None else val_rows
    for flag, value in (("--holdout", hold), ("--val-rows", validation)):
        if value < horizon:
            raise SeqlabError(
                f"{flag} ({value}) must be at least the horizon ({horizon}) so that one "
                "forecast fits in it"
            )
    old_last, first_new = old_series.timestamps[-1], joined.timestamps[len(old_series)]
    step = fixed_step(old_series)
    gap = 0 if step is None else int((first_new - old_last) / step) - 1  # missing steps between
    if gap and settings.strict:
        raise SeqlabError(
            f"{data}: its first new row ({first_new}) leaves {gap} missing step(s) after the "
            f"training data's last row ({old_last}); with data.strict the gap is not filled: "
            "give the rows in between"
        )
    if gap > len(joined.timestamps):
        raise SeqlabError(
            f"{data}: its first new row ({first_new}) is {gap} steps after the training data's "
            f"last row ({old_last}), more than all the rows there are; check the timestamps"
        )
    new_rows = joined.appended_rows + gap
    if new_rows - hold - validation < 1:
        raise SeqlabError(
            f"{data}: {new_rows} new row(s) after the training data's last row "
            f"({old_last}); holding out the last {hold} and validating on the "
            f"{validation} before them leaves none to train on; give more rows, or a smaller "
            "--holdout or --val-rows"
        )
    return RetrainSplit(
        holdout=hold,
        validation=validation,
        gap=gap,
        new_rows=new_rows,
        total=len(old_series) + new_rows,
        old_last=old_last,
        first_new=first_new,
    )


def train_section(old: dict[str, Any], steps: int | None) -> dict[str, Any]:
    """The old run's training settings, its budget replaced by ``steps`` (default: at most
    MAX_DEFAULT_STEPS) and its warm-up and evaluation interval shrunk to fit the budget."""
    budget = min(MAX_DEFAULT_STEPS, int(old["steps"])) if steps is None else steps
    if budget < 1:
        raise SeqlabError(f"--steps ({budget}) must be a positive number of steps")
    warmup = min(int(old["warmup_steps"]), budget // 10)
    if old.get("schedule") == "inverse_sqrt":
        warmup = max(1, warmup)  # its peak sits at step == warmup_steps
    evaluate_every = min(int(old["eval_every"]), max(1, budget // 5))
    return {**old, "steps": budget, "warmup_steps": warmup, "eval_every": evaluate_every}


def _run_config(
    config: dict[str, Any],
    split: RetrainSplit,
    timestamp_column: str,
    *,
    steps: int | None,
    overrides: Sequence[str],
) -> RunConfig:
    """The old run's configuration, reading the joined series kept in the new directory and
    split by row counts."""
    data = {
        **config["data"],
        "dataset": None,
        "file": TRAINING_DATA,
        "timestamp_column": timestamp_column,
        "split": "rows",
        "split_rows": list(split.rows),
    }
    return build_run_config(
        "forecasting",
        family=config["model"]["family"],
        extra={
            "data": data,
            "model": config["model"],
            "train": train_section(config["train"], steps),
        },
        overrides=overrides,
    )


# ---- 4 to 6. the new directory ----


def _train_and_compare(
    work: ModelDir,
    run: RunConfig,
    *,
    old: OldModel,
    new_frame: SeriesFrame,
    joined: JoinedSeries,
    split: RetrainSplit,
    timestamp_column: str,
    progress: ProgressReporter | ProgressKind,
) -> dict[str, Any]:
    """Train the new model in ``work`` from the old weights on the joined series, compare both
    on the hold-out, and add the record to the new directory's metrics; returns the record."""
    new_data = _write_training_data(work, run, old, joined, split, timestamp_column)
    # A residual or combined model keeps the baseline its weights hold (the initial weights
    # carry its map), not one chosen again on the new data.
    task = ForecastingTask(
        run,
        data=new_data,
        residual=old.task.residual_choice,
        combination=old.task.combination_choice,
    )
    initial = {name: tensor.detach().clone() for name, tensor in old.model.state_dict().items()}
    trained = train_run(run, work.path, progress=progress, task=task, initial_weights=initial)
    record = {
        "from": str(old.directory.resolve()),
        "data": _data_record(old, new_frame, joined, split, new_data.training_series()),
        "split": {
            "train_rows": split.rows[0],
            "val_rows": split.rows[1],
            "holdout_rows": split.rows[2],
            "new_rows_trained_on": split.trained_new,
        },
        "scaler": _scaler_record(old, joined),
        "holdout": _holdout_record(old, task, trained, split),
        "training": {
            "steps": trained.fit.steps,
            "best_step": trained.fit.best_step,
            "stop_reason": trained.fit.stop_reason,
        },
    }
    metrics = work.read_json(METRICS_FILE)
    metrics["retrain"] = record
    work.write_metrics(metrics)
    return record


def _write_training_data(
    work: ModelDir,
    run: RunConfig,
    old: OldModel,
    joined: JoinedSeries,
    split: RetrainSplit,
    timestamp_column: str,
) -> ForecastingData:
    """Write the joined series into the new directory and read it back as the new run's data,
    with the old model's columns, scaler and step."""
    path = work.file(TRAINING_DATA)
    columns = old.data.columns
    write_series_csv(
        path, joined.timestamps, joined.values, columns, timestamp_column=timestamp_column
    )
    data = ForecastingData.read(
        run.data,
        training_data=path,
        columns=columns,
        scaler=old.data.scaler,
        frequency=old.series.report.frequency,
    )
    series = data.training_series()
    if len(series) != split.total or not np.array_equal(
        series.values[: len(old.series)], old.series.values
    ):
        raise SeqlabError(
            f"{path.name} did not read back as written ({len(series)} rows, expected "
            f"{split.total}); please report this with the two data files"
        )
    return data


def _data_record(
    old: OldModel,
    new_frame: SeriesFrame,
    joined: JoinedSeries,
    split: RetrainSplit,
    new_series: SeriesFrame,
) -> dict[str, Any]:
    """Where the rows came from and what was repaired in them."""
    return {
        "old_source": old.series.source,
        "old_rows": len(old.series),
        "old_last": split.old_last.isoformat(),
        "new_source": new_frame.source,
        "new_file_rows": len(new_frame),
        "overlap_rows_dropped": joined.overlap_rows,
        "appended_rows": joined.appended_rows,
        "gap_rows_inserted": split.gap,
        "new_first": split.first_new.isoformat(),
        "new_last": joined.timestamps[-1].isoformat(),
        "rows": split.total,
        "training_data": TRAINING_DATA,
        "fixes": [*new_frame.report.fixes(), *new_series.report.fixes()],
    }


def _scaler_record(old: OldModel, joined: JoinedSeries) -> dict[str, Any]:
    """How far the new rows moved from the kept scaler, in its standard deviations."""
    scaler = old.data.scaler
    new_values = joined.values[len(old.series) :].astype(np.float64)  # (appended, F)
    return {
        "kept_from": str(old.directory.resolve()),
        "new_rows": {
            column: {
                "mean_shift_in_std": float(
                    (new_values[:, index].mean() - scaler.mean[index]) / scaler.std[index]
                ),
                "std_ratio": float(new_values[:, index].std() / scaler.std[index]),
            }
            for index, column in enumerate(old.data.columns)
        },
    }


def _holdout_record(
    old: OldModel, task: ForecastingTask, trained: TrainedRun, split: RetrainSplit
) -> dict[str, Any]:
    """The old and the new model (``task``'s, as ``trained``) on the same hold-out windows; the
    better one by mse."""
    series = task.series_data.training_series()
    # The full report, whose forecasts are checked: a non-finite one is an error naming its rows.
    old_report = evaluate_split(task, old.model, "test", detail=True)
    old_metrics = {name: old_report[name] for name in METRICS}
    new_metrics = {name: trained.metrics[name] for name in METRICS}
    better = "new" if new_metrics["mse"] < old_metrics["mse"] else "old"
    return {
        "rows": split.holdout,
        "windows": len(task.series_data.windows("test")),
        "first_target": series.timestamps[split.total - split.holdout].isoformat(),
        "last_target": series.timestamps[-1].isoformat(),
        "old": old_metrics,
        "new": new_metrics,
        "better": better,
        "decided_by": "mse",
        "mae_agrees": (new_metrics["mae"] < old_metrics["mae"]) == (better == "new"),
    }


def _to_stderr(line: str) -> None:
    print(line, file=sys.stderr)
