"""Write a synthetic hourly multivariate series in ETTh1's CSV format, the same bytes for a seed.

The series is a second test bed for the forecasting benchmark (``benchmarks/forecasting.py
--series FILE``), built to differ from ETTh1 where it matters to a forecaster: the size of its
daily and weekly cycles drifts, its level moves by a random walk, by regime changes and by one
large shift between the training and test periods, its noise is autocorrelated, and the target
is a lagged mixture of the other columns.

Layout: a ``date`` column (``YYYY-MM-DD HH:MM:SS``, hourly from 2019-01-01 00:00:00) and seven
numeric columns ``X1`` ... ``X6`` and ``OT`` (the target, last), ``ROWS`` = 17,420 rows by
default (ETTh1's length), values written with 4 decimals.

Equations, t = 0, 1, ..., N-1 hours, every random quantity drawn once from
``numpy.random.default_rng(seed)`` in a fixed order (U uniform, N normal):

Each driver i = 1..6::

    X_i(t) = mu_i + g_i t / N + D_i(t) + W_i(t) + R_i(t) + lambda_i J 1[t >= t*] + e_i(t)
    D_i(t) = a_i (1 + 0.6 sin(2 pi t / P_i + phi_i)) sin(2 pi t / 24 + theta_i)      daily cycle
           + b_i (1 + 0.6 sin(2 pi t / Q_i + psi_i)) sin(2 pi t / 168 + eta_i)      weekly cycle
    W_i(t) = W_i(t-1) + N(0, 0.015^2)                                             random walk
    R_i(t) = sum of the jumps N(0, 1.5^2) at change points before t, one per hour with
             probability 1/2500                                                   regimes
    e_i(t) = 0.7 e_i(t-1) + N(0, 0.5^2)                                           AR(1) noise

with mu_i ~ U(5, 20), g_i ~ U(-3, 3), a_i ~ U(1, 3), b_i ~ U(0.5, 1.5), P_i ~ U(1500, 4000),
Q_i ~ U(3000, 8000), the phases ~ U(0, 2 pi), lambda_i ~ U(0.5, 1). The common shift J = +-4
(sign at random) happens at t* ~ U(0.72 N, 0.78 N): after the training rows of a 70/10/20 split
and before its test rows, so a model fitted on the training rows meets a level it never saw.

The target::

    OT(t) = mu_0 + sum_i beta_i X_i(t - k_i) + D_0(t) + g_0 t / N + J 1[t >= t*] + e_0(t)
    e_0(t) = 0.8 e_0(t-1) + N(0, 0.5^2)

with beta = 0.8 w, w ~ Dirichlet(1, ..., 1) (positive weights summing to 0.8, so every
driver's share of the shift moves OT the same way as its own), lags k_i ~ U{1, ..., 12} hours,
D_0 a daily cycle as above (a_0 ~ U(1, 3), no weekly term), mu_0 ~ U(5, 20), g_0 ~ U(-3, 3).
The drivers are generated 12 hours longer than the series so every lag reads a real value.

What it is designed to show (tests/data/test_make_series.py checks each for the default seed):
OT's mean over the last 20% of rows lies more than 1.5 standard deviations of its first 60% away
from that 60%'s mean (2.7 for seed 0; 1.9 to 5.1 for seeds 0 to 11); the hourly changes of OT
correlate positively at a lag of 24 hours and negatively at 12 (the daily cycle; +0.48 and -0.48
for seed 0).

Usage: python benchmarks/make_series.py [OUT] [--seed 0] [--rows 17420]
OUT defaults to runs/series/synthetic_hourly.csv. Prints the path, the row count and the file's
SHA-256; the bytes depend only on the seed and the row count (with numpy's PCG64 streams).
"""

from __future__ import annotations

import argparse
import hashlib
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROWS = 17_420  # ETTh1's length
START = np.datetime64("2019-01-01T00:00:00", "s")
DRIVERS = 6
MAX_LAG = 12
COLUMNS = (*(f"X{i}" for i in range(1, DRIVERS + 1)), "OT")
DEFAULT_OUT = Path("runs/series/synthetic_hourly.csv")
REPOSITORY = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Series:
    """The generated series: ``timestamps`` (N,) datetime64[s]; ``values`` (N, 7), the columns
    of ``COLUMNS`` in order; ``shift_row`` (t*, the row of the common level shift) and ``lags``
    (k_i of each driver, hours), kept for checks."""

    timestamps: np.ndarray
    values: np.ndarray
    shift_row: int
    lags: tuple[int, ...]


def _ar1(rng: np.random.Generator, length: int, rho: float, scale: float) -> np.ndarray:
    """e(t) = rho e(t-1) + N(0, scale^2), started from its stationary law."""
    shocks = rng.normal(0.0, scale, length)  # (length,)
    noise = np.empty(length)
    noise[0] = shocks[0] / np.sqrt(1.0 - rho**2)
    for step in range(1, length):
        noise[step] = rho * noise[step - 1] + shocks[step]
    return noise


def _cycle(rng: np.random.Generator, t: np.ndarray, period: int, size: tuple[float, float],
           drift: tuple[float, float]) -> np.ndarray:  # fmt: skip
    """size (1 + 0.6 sin(2 pi t / drift_period + phase)) sin(2 pi t / period + phase'): a cycle
    whose amplitude wanders by +-60% over ``drift_period`` hours."""
    amplitude = rng.uniform(*size)
    drift_period = rng.uniform(*drift)
    drift_phase, phase = rng.uniform(0.0, 2 * np.pi, 2)
    envelope = amplitude * (1.0 + 0.6 * np.sin(2 * np.pi * t / drift_period + drift_phase))
    return envelope * np.sin(2 * np.pi * t / period + phase)


def _regimes(rng: np.random.Generator, length: int) -> np.ndarray:
    """A level that jumps by N(0, 1.5^2) at change points, one per hour with probability
    1/2500, and stays put between them."""
    changes = rng.random(length) < 1.0 / 2500
    jumps = np.where(changes, rng.normal(0.0, 1.5, length), 0.0)
    return np.cumsum(jumps)


def generate(seed: int = 0, rows: int = ROWS) -> Series:
    """The series of the module docstring for ``seed``, ``rows`` hours long."""
    if rows < 10 * MAX_LAG:
        raise ValueError(f"rows ({rows}) must be at least {10 * MAX_LAG}")
    rng = np.random.default_rng(seed)
    length = rows + MAX_LAG  # the drivers start MAX_LAG hours early, so every lag is real
    t = np.arange(length, dtype=np.float64) - MAX_LAG  # hour of each driver row; row 0 is t=0
    shift_row = int(rng.uniform(0.72, 0.78) * rows)
    shift = 4.0 * rng.choice([-1.0, 1.0])
    after_shift = (t >= shift_row).astype(np.float64)

    drivers = np.empty((length, DRIVERS))  # (N + MAX_LAG, 6)
    for column in range(DRIVERS):
        level = rng.uniform(5.0, 20.0)
        slope = rng.uniform(-3.0, 3.0)
        daily = _cycle(rng, t, 24, (1.0, 3.0), (1500.0, 4000.0))
        weekly = _cycle(rng, t, 168, (0.5, 1.5), (3000.0, 8000.0))
        walk = np.cumsum(rng.normal(0.0, 0.015, length))
        regimes = _regimes(rng, length)
        loading = rng.uniform(0.5, 1.0)
        noise = _ar1(rng, length, 0.7, 0.5)
        drivers[:, column] = (
            level + slope * t / rows + daily + weekly + walk + regimes
            + loading * shift * after_shift + noise
        )  # fmt: skip

    weights = 0.8 * rng.dirichlet(np.ones(DRIVERS))
    lags = tuple(int(lag) for lag in rng.integers(1, MAX_LAG + 1, DRIVERS))
    own = slice(MAX_LAG, None)  # the rows of the series itself
    mixture = sum(
        weights[column] * drivers[MAX_LAG - lags[column] : length - lags[column], column]
        for column in range(DRIVERS)
    )  # (N,)
    level = rng.uniform(5.0, 20.0)
    slope = rng.uniform(-3.0, 3.0)
    daily = _cycle(rng, t[own], 24, (1.0, 3.0), (1500.0, 4000.0))
    noise = _ar1(rng, rows, 0.8, 0.5)
    target = level + mixture + daily + slope * t[own] / rows + shift * after_shift[own] + noise

    values = np.column_stack([drivers[own], target])  # (N, 7)
    timestamps = START + np.arange(rows) * np.timedelta64(1, "h")
    return Series(timestamps=timestamps, values=values, shift_row=shift_row, lags=lags)


def csv_bytes(series: Series) -> bytes:
    """ETTh1's layout: a ``date`` header then one line per hour, 4 decimals, ``\\n`` endings."""
    lines = ["date," + ",".join(COLUMNS)]
    dates = np.datetime_as_string(series.timestamps, unit="s")
    for date, row in zip(dates, series.values, strict=True):
        lines.append(date.replace("T", " ") + "," + ",".join(f"{value:.4f}" for value in row))
    return ("\n".join(lines) + "\n").encode("ascii")


def write_series(path: Path, seed: int = 0, rows: int = ROWS) -> str:
    """Write the series for ``seed`` to ``path`` (making its folder); returns its SHA-256."""
    data = csv_bytes(generate(seed, rows))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return hashlib.sha256(data).hexdigest()


def tracked_by_git(path: Path) -> bool:
    """True when ``path`` lies in this repository and git does not ignore it: generated data
    belongs in an ignored folder (runs/), never among the project's tracked files."""
    resolved = path.resolve()
    if not resolved.is_relative_to(REPOSITORY):
        return False
    try:
        ignored = subprocess.run(
            ["git", "-C", str(REPOSITORY), "check-ignore", "-q", str(resolved)], check=False
        )
    except OSError:  # no git: only the runs/ folder is known to be ignored
        return not resolved.is_relative_to(REPOSITORY / "runs")
    return ignored.returncode != 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", nargs="?", type=Path, default=DEFAULT_OUT, help="the CSV to write")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    parser.add_argument("--rows", type=int, default=ROWS, help=f"hours (default: {ROWS})")
    args = parser.parse_args()
    if args.rows < 10 * MAX_LAG:
        parser.error(f"--rows {args.rows} must be at least {10 * MAX_LAG}")
    if tracked_by_git(args.out):
        parser.error(
            f"{args.out} is inside the repository and not ignored by git; write the series "
            f"under runs/ (the default, {DEFAULT_OUT}) or outside the repository"
        )
    checksum = write_series(args.out, args.seed, args.rows)
    print(f"wrote {args.out}: {args.rows} rows, seed {args.seed}, sha256 {checksum}")


if __name__ == "__main__":
    main()
