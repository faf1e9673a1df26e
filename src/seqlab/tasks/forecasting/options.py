"""The forecasting task's command-line face: its description, families, presets and flags.

Torch-free (seqlab.tasks.options), so ``seqlab train --help`` never loads a model.
"""

from __future__ import annotations

from typing import Any

from seqlab.tasks.options import TaskOptions


def presets() -> dict[str, dict[str, Any]]:
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


def family_defaults(family: str) -> dict[str, Any]:
    train = {"steps": 5000, "batch_size": 64, "eval_every": 250, "schedule": "cosine",
             "warmup_steps": 100, "min_lr_ratio": 0.05, "betas": (0.9, 0.999),
             "weight_decay": 0.01, "early_stopping_patience": 6}  # fmt: skip
    # The forecast averages the network's with the baseline chosen on rolling origins
    # (seqlab.models.combined_forecaster). Measured with cpu-small, 3 seeds (README): on ETTh1
    # the average beat the network alone and the best baseline in 10 of 12 families and
    # settings each; on three synthetic series with a level shift, where the networks alone
    # fell 0.6-13% short of NLinear, the averages lay between 0.2% better and 3.5% worse.
    combine = {"combine_with": "auto"}
    if family == "transformer":
        # Patches of a day (PatchTST); RevIN against ETTh1's drift in level between seasons.
        return {
            "train": {**train, "lr": 5e-4, "grad_clip": 1.0},
            "model": {"patch_length": 24, "instance_norm": True, **combine},
        }
    # Dropout 0.2 and clipping at 5.0: the study material's forecaster and RNN values.
    return {
        "train": {**train, "lr": 1e-3, "grad_clip": 5.0},
        "model": {"dropout": 0.2, "instance_norm": True, **combine},
    }


def cli_options() -> list[tuple[str, str, str, dict[str, Any]]]:
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
        ("--outliers", "data", "outliers",
         {"choices": ("refuse", "keep"),
          "help": "refuse (default) or keep and report a value more than 1000 robust standard "
                  "deviations (1.4826 x MAD) from its column's median over the training rows"}),
        ("--quantiles", "data", "quantiles",
         {"metavar": "LEVELS",
          "help": "comma-separated quantile levels in (0, 1), e.g. 0.1,0.5,0.9: forecast each "
                  "(trained with the pinball loss) for prediction intervals; the point "
                  "forecast is the 0.5 level, else the middle one (default: a point forecast)"}),
    ]  # fmt: skip


OPTIONS = TaskOptions(
    name="forecasting",
    description="forecast a time series (ETTh1 or your CSV), reported beside baselines",
    families=("rnn", "lstm", "gru", "transformer"),
    default_family="lstm",
    presets=presets(),
    family_defaults=family_defaults,
    cli_options=tuple(cli_options()),
)
