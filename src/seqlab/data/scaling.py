"""Per-column z-score scaling, fitted on the training rows only and stored with the model.

References: the z-score x' = (x - mean) / std, as in scikit-learn's ``StandardScaler`` (population
standard deviation, ddof = 0; a column with std 0 is divided by 1) and as the Informer/Autoformer
forecasting code applies it to ETTh1: statistics from the training rows only, applied to every
split, and forecasts mapped back with x = x' * std + mean before errors are reported in the
data's units (when they are).

Why train rows only: validation and test values must not shape anything the model sees; a mean
taken over the test rows would leak their level into every input.

The statistics are kept in float64 and written to the model directory's config as plain floats
(:meth:`StandardScaler.to_dict`); Python writes a float with the shortest text that reads back
to the same number, so a reloaded scaler is bit-for-bit the trained one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

import numpy as np
import torch

from seqlab.errors import SeqlabError

__all__ = ["StandardScaler"]

ArrayT = TypeVar("ArrayT", np.ndarray, torch.Tensor)

_KIND = "standard"


class StandardScaler:
    """z-score scaling per column: ``transform`` subtracts the mean and divides by the std.

    mean, std: (F,) float64, one entry per column of the values it was fitted on; every std > 0.
    columns: the column names (for the model directory's config and error messages), or None.

    ``transform`` and ``inverse_transform`` take NumPy arrays or torch tensors whose last axis is
    the F columns (any leading shape: (N, F), (B, T, F)), or, with ``column=k``, arrays of column
    k's values alone (any shape: a (B, horizon) batch of target forecasts is ``column=-1``).
    Floating inputs keep their dtype (and device); integer inputs come back as float64.
    """

    def __init__(
        self,
        mean: Sequence[float] | np.ndarray,
        std: Sequence[float] | np.ndarray,
        *,
        columns: Sequence[str] | None = None,
    ) -> None:
        mean_array = np.asarray(mean, dtype=np.float64).reshape(-1)  # (F,)
        std_array = np.asarray(std, dtype=np.float64).reshape(-1)  # (F,)
        if mean_array.shape != std_array.shape or mean_array.size == 0:
            raise SeqlabError(
                f"scaler mean ({mean_array.size} values) and std ({std_array.size} values) must "
                "have the same, non-zero length"
            )
        if not (np.isfinite(mean_array).all() and np.isfinite(std_array).all()):
            raise SeqlabError("scaler mean and std must be finite numbers; refit the scaler")
        if (std_array <= 0).any():
            bad = int(np.argmax(std_array <= 0))
            raise SeqlabError(f"scaler std[{bad}] ({std_array[bad]}) must be positive")
        if columns is not None and len(columns) != mean_array.size:
            raise SeqlabError(
                f"scaler has {mean_array.size} columns but {len(columns)} column names"
            )
        self.mean = mean_array
        self.std = std_array
        self.columns = None if columns is None else tuple(columns)

    @classmethod
    def fit(
        cls,
        values: np.ndarray,
        *,
        rows: range | slice | None = None,
        columns: Sequence[str] | None = None,
    ) -> StandardScaler:
        """Mean and population std of each column of ``values`` (N, F) over ``rows``.

        ``rows`` are the training rows (``SplitBounds.train.slice``); None means all of
        ``values``, for when the caller has already cut the training rows out. A std of 0 (a
        constant column) becomes 1, so the column scales to zeros instead of dividing by zero.
        """
        array = np.asarray(values, dtype=np.float64)  # (N, F)
        if array.ndim != 2:
            raise SeqlabError(f"scaler fits (N, F) values, got shape {tuple(array.shape)}")
        if rows is not None:
            array = array[slice(rows.start, rows.stop) if isinstance(rows, range) else rows]
        if array.shape[0] == 0:
            raise SeqlabError("scaler has no rows to fit on; check the training split")
        if not np.isfinite(array).all():
            row, column = np.argwhere(~np.isfinite(array))[0]
            raise SeqlabError(f"scaler fit: value at row {row}, column {column} is not finite")
        mean = array.mean(axis=0)  # (F,)
        std = array.std(axis=0)  # (F,) ddof=0
        return cls(mean, np.where(std == 0, 1.0, std), columns=columns)

    @property
    def num_columns(self) -> int:
        return int(self.mean.shape[0])

    def transform(self, values: ArrayT, *, column: int | None = None) -> ArrayT:
        """(values - mean) / std; see the class docstring for shapes and ``column``."""
        mean, std = self._statistics(values, column)
        if isinstance(values, torch.Tensor):
            data = values if values.is_floating_point() else values.double()
            return (data - _like(mean, data)) / _like(std, data)
        data = np.asarray(values)
        out_dtype = data.dtype if np.issubdtype(data.dtype, np.floating) else np.float64
        return ((data - mean) / std).astype(out_dtype, copy=False)

    def inverse_transform(self, values: ArrayT, *, column: int | None = None) -> ArrayT:
        """values * std + mean: scaled values (or forecasts) back in the data's units."""
        mean, std = self._statistics(values, column)
        if isinstance(values, torch.Tensor):
            data = values if values.is_floating_point() else values.double()
            return data * _like(std, data) + _like(mean, data)
        data = np.asarray(values)
        out_dtype = data.dtype if np.issubdtype(data.dtype, np.floating) else np.float64
        return (data * std + mean).astype(out_dtype, copy=False)

    def _statistics(self, values: Any, column: int | None) -> tuple[np.ndarray, np.ndarray]:
        """(mean, std) that broadcast against ``values``: (F,) or, for one column, scalars."""
        if column is not None:
            if not -self.num_columns <= column < self.num_columns:
                raise SeqlabError(
                    f"column ({column}) is out of range for a scaler of {self.num_columns} columns"
                )
            return self.mean[column], self.std[column]
        width = values.shape[-1] if len(values.shape) else 0
        if width != self.num_columns:
            raise SeqlabError(
                f"values have {width} columns in the last axis, the scaler has "
                f"{self.num_columns}; pass column=k to scale one column's values"
            )
        return self.mean, self.std

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready statistics for the model directory's config (plain floats, read back by
        :meth:`from_dict`)."""
        return {
            "kind": _KIND,
            "columns": None if self.columns is None else list(self.columns),
            "mean": [float(x) for x in self.mean],
            "std": [float(x) for x in self.std],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StandardScaler:
        """The scaler :meth:`to_dict` described; unknown or missing keys are named in the error."""
        if not isinstance(data, dict):
            raise SeqlabError(f"scaler statistics must be a JSON object, got {type(data).__name__}")
        known = {"kind", "columns", "mean", "std"}
        unknown = sorted(set(data) - known)
        if unknown:
            raise SeqlabError(f"unknown scaler key '{unknown[0]}'; the keys are {sorted(known)}")
        for key in ("mean", "std"):
            if key not in data:
                raise SeqlabError(f"scaler statistics lack '{key}'; re-save the model directory")
        if data.get("kind", _KIND) != _KIND:
            raise SeqlabError(f"scaler kind '{data['kind']}' is not '{_KIND}'")
        return cls(data["mean"], data["std"], columns=data.get("columns"))

    def __repr__(self) -> str:
        return f"StandardScaler(columns={self.num_columns}, names={self.columns})"


def _like(statistic: np.ndarray | np.floating, tensor: torch.Tensor) -> torch.Tensor:
    """A statistic as a tensor of ``tensor``'s dtype on its device."""
    return torch.as_tensor(statistic, dtype=tensor.dtype, device=tensor.device)
