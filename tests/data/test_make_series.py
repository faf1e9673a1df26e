"""The synthetic series of benchmarks/make_series.py: the same bytes for a seed, ETTh1's layout
(read back by seqlab's own CSV reader), and the two properties it is built to have, computed
directly from the written file: a level shift between the training and test periods, and a daily
cycle in the target's hourly changes."""

from __future__ import annotations

import hashlib
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from seqlab.data.series import read_series

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "make_series.py"
COLUMNS = ["X1", "X2", "X3", "X4", "X5", "X6", "OT"]


def _load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_series", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


make_series = _load_script()


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """The default series (seed 0, 17,420 rows) written once, and the checksum returned."""
    path = tmp_path_factory.mktemp("series") / "synthetic_hourly.csv"
    return path, make_series.write_series(path, seed=0)


def _values(path: Path) -> np.ndarray:
    """(N, 7) the numeric columns of the file, parsed by numpy rather than by seqlab."""
    return np.loadtxt(path, delimiter=",", skiprows=1, usecols=range(1, 8))


def _autocorrelation(values: np.ndarray, lag: int) -> float:
    return float(np.corrcoef(values[:-lag], values[lag:])[0, 1])


def test_the_same_seed_writes_the_same_bytes_and_another_seed_others(written, tmp_path):
    path, checksum = written
    data = path.read_bytes()
    assert checksum == hashlib.sha256(data).hexdigest()
    again = tmp_path / "again.csv"
    assert make_series.write_series(again, seed=0) == checksum
    assert again.read_bytes() == data
    other = tmp_path / "other.csv"
    make_series.write_series(other, seed=1)
    assert other.read_bytes() != data


def test_the_file_has_etth1s_layout_and_seqlab_reads_it_without_repairs(written):
    path, _ = written
    lines = path.read_text().splitlines()
    assert lines[0] == "date," + ",".join(COLUMNS)
    assert len(lines) == 1 + 17_420
    assert lines[1].startswith("2019-01-01 00:00:00,")
    assert lines[25].startswith("2019-01-02 00:00:00,")
    # 17,419 hours after the first row: 725 days and 19 hours.
    assert lines[-1].startswith("2020-12-26 19:00:00,")

    frame = read_series(path, features="M")
    assert list(frame.columns) == COLUMNS and frame.target == "OT"
    assert len(frame) == 17_420 and frame.report.fixes() == []
    assert frame.timestamps[1] - frame.timestamps[0] == np.timedelta64(1, "h")
    np.testing.assert_allclose(frame.values, _values(path), rtol=1e-6, atol=1e-4)


def test_the_target_level_shifts_between_the_training_and_test_periods(written):
    path, _ = written
    target = _values(path)[:, -1]  # (N,)
    rows = len(target)
    early, late = target[: int(0.6 * rows)], target[int(0.8 * rows) :]
    # The common shift J = +-4 moves OT by about 4 + 0.8 x 0.75 x 4 = 6.4 (its own share and
    # the drivers'); seed 0 measures 6.42 against a standard deviation of 2.38 over the first
    # 60%, 2.7 standard deviations (seeds 0 to 11: 1.9 to 5.1). Without the shift the means
    # differ by the trends, walks and regimes alone, which seldom reach 1.5.
    assert abs(late.mean() - early.mean()) > 1.5 * early.std()
    shift_row = make_series.generate(seed=0).shift_row
    assert 0.7 * rows < shift_row < 0.8 * rows  # in the validation rows of a 70/10/20 split


def test_the_targets_hourly_changes_carry_a_daily_cycle(written):
    path, _ = written
    changes = np.diff(_values(path)[:, -1])  # (N - 1,)
    # The changes of a sine of period 24 correlate by cos(2 pi lag / 24): +1 at lag 24, -1 at
    # 12 and 0 at 18. The AR(1) noise, walks and regimes dilute the first two (seed 0 measures
    # +0.48 and -0.48); the changes of the noise alone correlate by -(1 - 0.8) / 2 x 0.8^(lag-1),
    # near 0 at these lags, so without the cycle all three would be near 0.
    assert _autocorrelation(changes, 24) > 0.3
    assert _autocorrelation(changes, 12) < -0.3
    assert abs(_autocorrelation(changes, 18)) < 0.1


def test_generation_refuses_too_few_rows():
    with pytest.raises(ValueError, match="rows"):
        make_series.generate(seed=0, rows=50)
