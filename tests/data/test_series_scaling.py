"""z-score scaling (seqlab.data.scaling): train-only statistics, round trips, config.json form."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from seqlab.data.scaling import StandardScaler
from seqlab.data.windows import split_bounds
from seqlab.errors import SeqlabError


@pytest.fixture
def values() -> np.ndarray:
    return np.random.default_rng(7).normal(loc=3.0, scale=2.0, size=(50, 3))  # (N, F) float64


def test_hand_computed_statistics_and_transform():
    scaler = StandardScaler.fit(np.array([[1.0, 2.0], [3.0, 6.0]]))
    np.testing.assert_array_equal(scaler.mean, [2.0, 4.0])
    np.testing.assert_array_equal(scaler.std, [1.0, 2.0])  # population std (ddof = 0)
    np.testing.assert_array_equal(
        scaler.transform(np.array([[1.0, 2.0], [3.0, 6.0], [4.0, 0.0]])),
        [[-1.0, -1.0], [1.0, 1.0], [2.0, -2.0]],
    )


def test_fitted_on_train_rows_only(values):
    bounds = split_bounds(50, input_length=5)  # train rows [0, 35)
    scaler = StandardScaler.fit(values, rows=bounds.train.rows)
    np.testing.assert_allclose(scaler.mean, values[:35].mean(axis=0), rtol=0, atol=0)
    np.testing.assert_allclose(scaler.std, values[:35].std(axis=0), rtol=0, atol=0)
    shifted = values.copy()
    shifted[35:] += 1000.0  # a level shift in the validation and test rows
    again = StandardScaler.fit(shifted, rows=bounds.train.rows)
    np.testing.assert_array_equal(again.mean, scaler.mean)
    np.testing.assert_array_equal(again.std, scaler.std)
    by_slice = StandardScaler.fit(values, rows=bounds.train.slice)
    np.testing.assert_array_equal(by_slice.mean, scaler.mean)
    assert not np.allclose(StandardScaler.fit(shifted).mean, scaler.mean)


def test_constant_column_divides_by_one():
    data = np.array([[5.0, 1.0], [5.0, 2.0], [5.0, 3.0]])
    scaler = StandardScaler.fit(data)
    np.testing.assert_array_equal(scaler.std, [1.0, np.sqrt(2.0 / 3.0)])
    np.testing.assert_array_equal(scaler.transform(data)[:, 0], [0.0, 0.0, 0.0])


def test_inverse_round_trip_numpy_and_torch(values):
    scaler = StandardScaler.fit(values[:35])
    scaled = scaler.transform(values)
    np.testing.assert_allclose(scaler.inverse_transform(scaled), values, rtol=0, atol=1e-12)
    batch = torch.from_numpy(values.reshape(5, 10, 3))  # (B, T, F) float64
    back = scaler.inverse_transform(scaler.transform(batch))
    assert isinstance(back, torch.Tensor) and back.dtype == torch.float64
    torch.testing.assert_close(back, batch, rtol=0, atol=1e-12)
    as_float32 = scaler.transform(values.astype(np.float32))
    assert as_float32.dtype == np.float32
    np.testing.assert_allclose(as_float32, scaled, rtol=0, atol=1e-6)


def test_inverse_of_target_only_forecasts(values):
    scaler = StandardScaler.fit(values[:35])
    # (B, horizon): the target column
    target_scaled = scaler.transform(values)[:, -1].reshape(5, 10)
    expected = values[:, -1].reshape(5, 10)
    got = scaler.inverse_transform(target_scaled, column=-1)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)
    manual = target_scaled * values[:35, -1].std() + values[:35, -1].mean()
    np.testing.assert_allclose(got, manual, rtol=0, atol=1e-12)
    forecasts = torch.from_numpy(target_scaled).float()  # (B, horizon) float32, as a model emits
    torch.testing.assert_close(
        scaler.inverse_transform(forecasts, column=2), torch.from_numpy(expected).float()
    )


def test_dict_round_trip_through_json(values):
    scaler = StandardScaler.fit(values[:35], columns=["a", "b", "OT"])
    stored = json.loads(json.dumps(scaler.to_dict()))
    assert stored["kind"] == "standard" and stored["columns"] == ["a", "b", "OT"]
    assert all(type(x) is float for x in stored["mean"] + stored["std"])
    loaded = StandardScaler.from_dict(stored)
    np.testing.assert_array_equal(loaded.mean, scaler.mean)  # bit for bit
    np.testing.assert_array_equal(loaded.std, scaler.std)
    assert loaded.columns == ("a", "b", "OT")
    np.testing.assert_array_equal(loaded.transform(values), scaler.transform(values))


def test_errors_name_the_problem(values):
    scaler = StandardScaler.fit(values)
    with pytest.raises(SeqlabError) as caught:
        scaler.transform(values[:, :2])
    assert str(caught.value) == (
        "values have 2 columns in the last axis, the scaler has 3; pass column=k to scale one "
        "column's values"
    )
    with pytest.raises(SeqlabError, match=r"column \(3\) is out of range for a scaler of 3"):
        scaler.inverse_transform(values[:, 0], column=3)
    with pytest.raises(SeqlabError, match="unknown scaler key 'scale'"):
        StandardScaler.from_dict({"mean": [0.0], "std": [1.0], "scale": 2})
    with pytest.raises(SeqlabError, match="scaler statistics lack 'std'"):
        StandardScaler.from_dict({"mean": [0.0]})
    with pytest.raises(SeqlabError, match=r"scaler std\[1\] \(0\.0\) must be positive"):
        StandardScaler(mean=[0.0, 0.0], std=[1.0, 0.0])
    with pytest.raises(SeqlabError, match="scaler has no rows to fit on"):
        StandardScaler.fit(values, rows=range(0, 0))
