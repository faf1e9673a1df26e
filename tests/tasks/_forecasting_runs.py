"""A generated hourly series and the arguments of a tiny forecasting run, shared by the monitor
and retrain tests.

The series: a daily cycle plus noise in ``load``, pure noise in ``wind``, and ``temp`` (the
target) following the cycle three hours late plus a fifth of ``load``. One long series is
generated and cut, so every later file continues the training file exactly.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

INPUT_LENGTH = 48
HORIZON = 12
TRAIN_ROWS = 24 * 50
NEW_ROWS = 24 * 10


def hourly_series(
    rows: int = TRAIN_ROWS + NEW_ROWS,
    *,
    seed: int = 0,
    noise: float = 0.2,
    start: str = "2024-01-01",
    timestamp_column: str = "date",
    time_format: str = "%Y-%m-%d %H:%M",
) -> pd.DataFrame:
    """Hourly rows: a daily cycle plus noise in three columns, the target ``temp`` last."""
    rng = np.random.default_rng(seed)
    hours = np.arange(rows)
    load = 10 + 3 * np.sin(2 * np.pi * hours / 24) + rng.normal(0, noise, rows)
    wind = 4 + rng.normal(0, 1.0, rows)
    temp = 20 + 5 * np.sin(2 * np.pi * (hours - 3) / 24) + 0.2 * load + rng.normal(0, noise, rows)
    stamps = pd.date_range(start, periods=rows, freq="h")
    return pd.DataFrame(
        {
            timestamp_column: stamps.strftime(time_format),
            "load": load.round(4),
            "wind": wind.round(4),
            "temp": temp.round(4),
        }
    )


def train_args(data: Path, out: Path, *, steps: int = 200) -> list[str]:
    """`seqlab train forecasting` of a small LSTM, every column in and ``temp`` out (MS)."""
    settings = ["model.hidden_size=16", "train.batch_size=32", "train.lr=3e-3",
                "train.warmup_steps=10", "train.eval_every=50", "train.device=cpu"]  # fmt: skip
    return [
        "train", "forecasting", "--model", "lstm", "--data", str(data), "--target", "temp",
        "--features", "MS", "--input-length", str(INPUT_LENGTH), "--horizon", str(HORIZON),
        "--steps", str(steps), *(arg for setting in settings for arg in ("--set", setting)),
        "--quiet", "--out", str(out),
    ]  # fmt: skip
