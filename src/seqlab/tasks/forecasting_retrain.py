"""Retraining a forecaster on its old data plus new rows, judged on rows neither model saw.

References: Gama et al., 2014, "A Survey on Concept Drift Adaptation" (retrain on recent data,
then compare the old and the new model on the same most recent data before switching);
Tashman, 2000, "Out-of-sample tests of forecasting accuracy" (the hold-out is the most recent
stretch, after every row either model learned from).

What :func:`retrain` does, in order:

1. Reads the old model directory without writing to it, and its training series (``data.file``,
   the etth1 data set, or the training_data.csv of a directory written by retrain itself),
   checked against the checksum recorded in its metrics.json: the old rows must be the ones the
   model was trained on.
2. Joins the new file to the old series in time order (:func:`join_series`). Rows at or before
   the old series' last timestamp must repeat it (same timestamps on its grid, same values): they
   are dropped. The rest must come after it on the same step; a gap between the two is filled by
   the training's fill policy and reported (refused under ``data.strict``).
3. Splits the joined series by row counts, in time order: training rows, then ``val_rows`` for
   validation (the checkpoint is chosen on them), then the ``holdout`` newest rows, which neither
   model trains or validates on. Both hold-out and validation default to
   ``DEFAULT_HOLDOUT_HORIZONS`` x horizon rows (168 for the default horizon of 24: a week of an
   hourly series) and must lie within the new rows, leaving at least one new row to train on.
4. Keeps the old scaler. The model's weights were learned on inputs standardised with it: a
   refitted scaler would change what every input value means to the network, and the starting
   weights would no longer fit their inputs. How far the new rows' statistics moved from it is
   reported (``scaler.new_rows``), in the old standard deviations.
5. Continues training from the old weights with the same engine and configuration as
   ``seqlab train`` (``runner.train_run``): by default for min(500, the old run's step budget)
   steps, warm-up and evaluation interval shrunk to fit them.
6. Evaluates the old and the new model on the same hold-out windows (the same scaled inputs,
   since the scaler is shared) and reports mse and mae on the normalised scale and in the data's
   units; the better model is the one with the lower normalised mse (the training objective),
   the old one on a tie.

The new directory is built in a temporary sibling folder and renamed into place at the end, so
a failure leaves no directory at ``out``; it holds everything ``seqlab train`` writes, plus
training_data.csv (the joined series its splits refer to, so ``seqlab eval NEW_DIR`` evaluates
the hold-out) and the comparison under ``retrain`` in metrics.json.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from seqlab.data.series import TIMESTAMP_COLUMN_CANDIDATES, SeriesFrame
from seqlab.errors import SeqlabError
from seqlab.model_dir import METRICS as METRICS_FILE
from seqlab.model_dir import TRAINING_DATA
from seqlab.tasks.configuration import build_run_config
from seqlab.tasks.forecasting import ForecastingTask
from seqlab.tasks.runner import evaluate_split, load_trained, train_run
from seqlab.train.progress import ProgressKind, ProgressReporter
from seqlab.utils.io import atomic_write_json, atomic_write_text, fsync_dir

__all__ = [
    "DEFAULT_HOLDOUT_HORIZONS",
    "MAX_DEFAULT_STEPS",
    "TRAINING_DATA_FILE",
    "JoinedSeries",
    "check_output_dir",
    "join_series",
    "retrain",
]

TRAINING_DATA_FILE = TRAINING_DATA  # kept for the tests until the forecasting package lands
DEFAULT_HOLDOUT_HORIZONS = 7
MAX_DEFAULT_STEPS = 500
METRICS = ("mse", "mae", "mse_original", "mae_original")


@dataclass(frozen=True)
class JoinedSeries:
    """The old series followed by the new rows after its end (before any gap between is filled).

    timestamps: (N,); values: (N, F) float32 in the old series' columns; overlap_rows: new rows
    that repeated the old series and were dropped; appended_rows: new rows after its end.
    """

    timestamps: pd.DatetimeIndex
    values: np.ndarray
    overlap_rows: int
    appended_rows: int


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


def join_series(old: SeriesFrame, new: SeriesFrame) -> JoinedSeries:
    """``old`` followed by the rows of ``new`` after its last timestamp; ``new``'s rows at or
    before that timestamp must repeat ``old`` exactly (within float32 rounding)."""
    source = new.source
    if (old.timestamps.tz is None) != (new.timestamps.tz is None):
        have = "carry" if new.timestamps.tz is not None else "do not carry"
        raise SeqlabError(
            f"{source}: its timestamps {have} a time zone and the training data's do not "
            "match that; write them the same way"
        )
    old_first, old_last = old.timestamps[0], old.timestamps[-1]
    if new.timestamps[0] < old_first:
        raise SeqlabError(
            f"{source}: starts at {new.timestamps[0]}, before the training data's first row "
            f"({old_first}); give rows that continue the training data"
        )
    overlap = np.asarray(new.timestamps <= old_last)  # (M,)
    if overlap.any():
        positions = old.timestamps.get_indexer(new.timestamps[overlap])  # (K,) -1: not a row
        if (positions < 0).any():
            stamp = new.timestamps[overlap][int(np.argmax(positions < 0))]
            raise SeqlabError(
                f"{source}: timestamp {stamp} falls between rows of the training data (one every "
                f"'{old.report.frequency}'); give rows on the training data's time steps"
            )
        repeated = new.values[overlap].astype(np.float64)  # (K, F)
        known = old.values[positions].astype(np.float64)  # (K, F)
        differ = ~np.isclose(repeated, known, rtol=1e-5, atol=1e-6)  # (K, F)
        if differ.any():
            row, column = np.argwhere(differ)[0]
            stamp = new.timestamps[overlap][row]
            raise SeqlabError(
                f"{source}: at {stamp}, column '{old.columns[column]}' holds "
                f"{repeated[row, column]:.6g} where the training data holds "
                f"{known[row, column]:.6g}; rows up to the training data's last one ({old_last}) "
                "must repeat it; give only the rows after it, or correct the file"
            )
    appended = ~overlap
    if not appended.any():
        raise SeqlabError(
            f"{source}: every row (up to {new.timestamps[-1]}) is already in the training data, "
            f"which ends at {old_last}; give rows after it"
        )
    first_new = new.timestamps[appended][0]
    step = _fixed_step(old)
    if step is not None and (first_new - old_last) % step != pd.Timedelta(0):
        raise SeqlabError(
            f"{source}: {first_new} is not a whole number of steps ('{old.report.frequency}') "
            f"after the training data's last row ({old_last}); give rows on the same time steps"
        )
    return JoinedSeries(
        timestamps=old.timestamps.append(new.timestamps[appended]),
        values=np.concatenate([old.values, new.values[appended]], axis=0),  # (N, F)
        overlap_rows=int(overlap.sum()),
        appended_rows=int(appended.sum()),
    )


def _umask() -> int:
    # The umask can only be read by setting it: set it and put it back at once.
    umask = os.umask(0o022)
    os.umask(umask)
    return umask


def _fixed_step(frame: SeriesFrame) -> pd.Timedelta | None:
    """The series' step as a Timedelta, or None for calendar steps (months, business days)."""
    try:
        return pd.Timedelta(frame.frequency)
    except (TypeError, ValueError):
        return None


def _series_csv(joined: JoinedSeries, columns: Sequence[str], timestamp_column: str) -> str:
    """The joined series as CSV text. Values keep nine significant digits, which read back to
    the same float32 values."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([timestamp_column, *columns])
    for stamp, row in zip(joined.timestamps, joined.values, strict=True):
        writer.writerow([stamp.isoformat(), *(f"{value:.9g}" for value in row)])
    return buffer.getvalue()


def _check_old_data(model_dir: Path, task: ForecastingTask) -> None:
    """The old training series exists and is the one the model was trained on."""
    path = task.data_path  # the named data set: resolved, or an error saying where to put it
    if not path.is_file():
        raise SeqlabError(
            f"{model_dir} was trained on {path}, which is not there; retrain trains on the old "
            "rows plus the new ones, so put that file back (a relative path is read from the "
            "current folder)"
        )
    try:
        recorded = json.loads((model_dir / METRICS_FILE).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        recorded = {}
    expected = recorded.get("data_checksum") if isinstance(recorded, dict) else None
    if expected is not None and task.data_checksum() != expected:
        raise SeqlabError(
            f"{path} differs from the file {model_dir} was trained on (its SHA-256 is not the one "
            f"in {model_dir / METRICS_FILE}); retrain needs the rows the model learned from: "
            "restore that file, and give the new rows with --data"
        )


def _train_section(old: dict[str, Any], steps: int | None) -> dict[str, Any]:
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
) -> dict[str, Any]:
    """Write a model retrained on ``model_dir``'s data plus ``data`` at ``out``; returns the
    record saved under ``retrain`` in its metrics.json (see the module docstring)."""
    model_dir, data = Path(model_dir), Path(data)
    target = check_output_dir(model_dir, Path(out))
    for override in overrides:
        if not override.strip().startswith("train."):
            raise SeqlabError(
                f"--set {override}: retrain changes train.* settings only; the data and model "
                f"settings are those of {model_dir}"
            )
    old_task, old_model, config = load_trained(model_dir)
    if config.get("task") != "forecasting":
        raise SeqlabError(
            f"{model_dir} holds a '{config.get('task')}' model; retrain continues forecasting "
            "models"
        )
    assert isinstance(old_task, ForecastingTask)
    _check_old_data(model_dir, old_task)
    old_series = old_task.series
    new_frame = old_task.read_file(data)
    joined = join_series(old_series, new_frame)

    settings = old_task.data
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
    step = _fixed_step(old_series)
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
    trained_new = new_rows - hold - validation
    if trained_new < 1:
        raise SeqlabError(
            f"{data}: {new_rows} new row(s) after the training data's last row "
            f"({old_last}); holding out the last {hold} and validating on the "
            f"{validation} before them leaves none to train on; give more rows, or a smaller "
            "--holdout or --val-rows"
        )
    timestamp_column = next(
        name for name in TIMESTAMP_COLUMN_CANDIDATES if name not in old_task.columns
    )
    total = len(old_series) + new_rows
    split_rows = (total - hold - validation, validation, hold)
    run = build_run_config(
        "forecasting",
        family=config["model"]["family"],
        extra={
            "data": {
                **config["data"],
                "dataset": None,
                "file": TRAINING_DATA_FILE,
                "timestamp_column": timestamp_column,
                "split": "rows",
                "split_rows": list(split_rows),
            },  # fmt: skip
            "model": config["model"],
            "train": _train_section(config["train"], steps),
        },
        overrides=overrides,
    )

    target.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp"))
    try:
        # mkdtemp makes a private folder (0o700); the model directory gets a new folder's usual
        # mode, as 'seqlab train' gives it.
        os.chmod(work, 0o777 & ~_umask())
        csv_path = work / TRAINING_DATA_FILE
        atomic_write_text(csv_path, _series_csv(joined, old_task.columns, timestamp_column))
        task = ForecastingTask(
            run,
            scaler=old_task.scaler,
            columns=old_task.columns,
            frequency=old_series.report.frequency,
            training_data=csv_path,
        )
        series = task.series
        if len(series) != total or not np.array_equal(
            series.values[: len(old_series)], old_series.values
        ):
            raise SeqlabError(
                f"{csv_path.name} did not read back as written ({len(series)} rows, expected "
                f"{total}); please report this with the two data files"
            )
        initial = {name: tensor.detach().clone() for name, tensor in old_model.state_dict().items()}
        trained = train_run(run, work, progress=progress, task=task, initial_weights=initial)

        holdout_windows = task.windows("test")
        old_metrics = evaluate_split(task, old_model, "test")
        new_metrics = {name: trained.metrics[name] for name in METRICS}
        better = "new" if new_metrics["mse"] < old_metrics["mse"] else "old"
        new_values = joined.values[len(old_series) :].astype(np.float64)  # (appended, F)
        scaler = old_task.scaler
        record = {
            "from": str(model_dir.resolve()),
            "data": {
                "old_source": old_series.source,
                "old_rows": len(old_series),
                "old_last": old_last.isoformat(),
                "new_source": new_frame.source,
                "new_file_rows": len(new_frame),
                "overlap_rows_dropped": joined.overlap_rows,
                "appended_rows": joined.appended_rows,
                "gap_rows_inserted": gap,
                "new_first": first_new.isoformat(),
                "new_last": joined.timestamps[-1].isoformat(),
                "rows": total,
                "training_data": TRAINING_DATA_FILE,
                "fixes": [*new_frame.report.fixes(), *series.report.fixes()],
            },
            "split": {
                "train_rows": split_rows[0],
                "val_rows": split_rows[1],
                "holdout_rows": split_rows[2],
                "new_rows_trained_on": trained_new,
            },
            "scaler": {
                "kept_from": str(model_dir.resolve()),
                "new_rows": {
                    column: {
                        "mean_shift_in_std": float(
                            (new_values[:, index].mean() - scaler.mean[index]) / scaler.std[index]
                        ),
                        "std_ratio": float(new_values[:, index].std() / scaler.std[index]),
                    }
                    for index, column in enumerate(old_task.columns)
                },
            },
            "holdout": {
                "rows": hold,
                "windows": len(holdout_windows),
                "first_target": series.timestamps[total - hold].isoformat(),
                "last_target": series.timestamps[-1].isoformat(),
                "old": old_metrics,
                "new": new_metrics,
                "better": better,
                "decided_by": "mse",
                "mae_agrees": (new_metrics["mae"] < old_metrics["mae"]) == (better == "new"),
            },
            "training": {
                "steps": trained.fit.steps,
                "best_step": trained.fit.best_step,
                "stop_reason": trained.fit.stop_reason,
            },  # fmt: skip
        }
        metrics = json.loads((work / METRICS_FILE).read_text(encoding="utf-8"))
        metrics["retrain"] = record
        atomic_write_json(work / METRICS_FILE, metrics)
        try:
            # Renaming a folder is atomic; POSIX lets it replace an empty folder of that name.
            os.rename(work, target)
        except OSError as error:
            raise SeqlabError(f"cannot move the new model into --out {target}: {error}") from None
        fsync_dir(target.parent)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return {"model_dir": str(target), **record}
