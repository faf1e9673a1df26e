"""POST /v1/forecast: the forecast of rows sent as records or CSV equals the predictor's own of
the same rows, with ISO timestamps at the data's frequency; what reading repaired is noted with
the records it was about; every limit and refusal is a 4xx naming its field."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import seqlab

RECENT = Path(__file__).parent.parent / "fixtures" / "model_dirs" / "forecasting_recent.csv"


@pytest.fixture(scope="module")
def recent() -> pd.DataFrame:
    """96 hourly rows of the forecasting fixture's columns (date, load, wind, temp)."""
    return pd.read_csv(RECENT)


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """The frame as JSON records, a missing value as null."""
    return [
        {key: (None if isinstance(value, float) and np.isnan(value) else value)
         for key, value in row.items()}
        for row in frame.to_dict(orient="records")
    ]  # fmt: skip


def _assert_forecast_equals(answer: dict[str, Any], expected: pd.DataFrame) -> None:
    assert answer["columns"] == list(expected.columns) == ["temp"]
    assert answer["horizon"] == len(expected) == 6
    timestamps = [row["timestamp"] for row in answer["forecast"]]
    assert timestamps == [stamp.isoformat() for stamp in expected.index]
    values = np.array([[row[column] for column in answer["columns"]] for row in answer["forecast"]])
    np.testing.assert_allclose(values, expected.to_numpy(), rtol=0, atol=1e-9)


def test_records_and_csv_give_the_predictors_forecast(
    forecasting_dir: Path, recent: pd.DataFrame, serve_client: Any
) -> None:
    expected = seqlab.load(forecasting_dir).forecast(recent)
    with serve_client([forecasting_dir]) as client:
        by_records = client.post("/v1/forecast", json={"records": _records(recent)})
        by_csv = client.post("/v1/forecast", json={"csv": RECENT.read_text()})
    for response in (by_records, by_csv):
        assert response.status_code == 200
        _assert_forecast_equals(response.json(), expected)
        assert response.json()["notes"] == []
    # The step after the last row (2024-02-04 23:00), one hour apart.
    assert by_records.json()["forecast"][0]["timestamp"] == "2024-02-05T00:00:00"
    assert by_records.json()["forecast"][-1]["timestamp"] == "2024-02-05T05:00:00"


def test_repairs_are_noted_by_record_and_forecast_as_the_predictor_does(
    forecasting_dir: Path, recent: pd.DataFrame, serve_client: Any
) -> None:
    holes = recent.copy()
    holes.loc[5, "load"] = np.nan  # a missing value in records[5]
    holes = holes.drop(index=[10])  # a missing hour: records[9] is 09:00, records[10] 11:00
    expected = seqlab.load(forecasting_dir).forecast(holes)
    with serve_client([forecasting_dir]) as client:
        answer = client.post("/v1/forecast", json={"records": _records(holes)}).json()
        refused = client.post("/v1/forecast", json={"records": _records(holes), "strict": True})
    _assert_forecast_equals(answer, expected)
    notes = " ".join(answer["notes"])
    assert "1 missing row(s) inserted" in notes
    assert "(before records[10])" in notes
    assert "records[5], column 'load' (interpolated in time)" in notes
    assert "line " not in notes  # lines of a CSV the client never saw are not mentioned
    assert refused.status_code == 422
    assert refused.json()["error"]["field"].startswith("records")


def test_predictor_refusals_are_422_naming_the_record(
    forecasting_dir: Path, recent: pd.DataFrame, serve_client: Any
) -> None:
    bad_value = _records(recent)
    bad_value[5]["load"] = "abc"
    outlier = _records(recent)
    outlier[7]["wind"] = 1e9
    with serve_client([forecasting_dir]) as client:
        answers = {
            "value": client.post("/v1/forecast", json={"records": bad_value}),
            "outlier": client.post("/v1/forecast", json={"records": outlier}),
            "kept": client.post("/v1/forecast", json={"records": outlier, "outliers": "keep"}),
            "few": client.post("/v1/forecast", json={"records": _records(recent.head(10))}),
            "column": client.post(
                "/v1/forecast", json={"records": _records(recent.drop(columns=["wind"]))}
            ),
            "csv": client.post("/v1/forecast", json={"csv": "date,load,wind,temp\nx,1,2,3\n"}),
        }
    errors = {name: response.json().get("error") for name, response in answers.items()}
    assert {name: response.status_code for name, response in answers.items()} == {
        "value": 422, "outlier": 422, "kept": 200, "few": 422, "column": 422, "csv": 422,
    }  # fmt: skip
    assert errors["value"]["field"] == "records[5].load"
    assert errors["value"]["message"].startswith("records[5]: column 'load' holds 'abc'")
    assert errors["outlier"]["field"] == "records[7].wind"
    assert "an outlier" in errors["outlier"]["message"]
    assert errors["few"]["field"] == "records"
    assert "records: 10 rows" in errors["few"]["message"]
    assert "give at least 24 rows" in errors["few"]["message"]
    assert errors["column"]["field"] == "records"
    assert "no column 'wind'" in errors["column"]["message"]
    assert errors["csv"]["field"] == "csv"
    assert errors["csv"]["message"].startswith("csv:2: cannot parse timestamp 'x'")


@pytest.mark.parametrize(
    ("body", "status", "field", "words"),
    [
        ({}, 422, "records", "not neither"),
        ({"records": [], "csv": "date,load\n"}, 422, "records", "not both"),
        ({"records": []}, 422, "records", "send at least one row"),
        ({"csv": "date,load,wind,temp\n"}, 422, "csv", "send at least one row"),
        (
            {"records": [{"date": "2024-01-01", "load": 1}] * 31},
            413,
            "records",
            "31 rows, over the limit of 30 per request (max_forecast_rows)",
        ),
        ({"csv": "date,load,wind,temp\n" + "2024-01-01,1,2,3\n" * 31}, 413, "csv", "31 rows"),
        ({"records": [{"load": True}]}, 422, "records[0].load", "not bool"),
        ({"records": [{"load": [1]}]}, 422, "records[0].load", "not list"),
        ({"records": "date,load"}, 422, "records", "valid list"),
        ({"csv": 5}, 422, "csv", "valid string"),
        ({"csv": "a", "outliers": "drop"}, 422, "outliers", "'refuse' or 'keep'"),
    ],
)
def test_malformed_and_oversized_requests_name_the_field(
    body: Any, status: int, field: str, words: str, forecasting_dir: Path, serve_client: Any
) -> None:
    with serve_client([forecasting_dir], max_forecast_rows=30) as client:
        response = client.post("/v1/forecast", json=body)
    assert response.status_code == status
    assert response.json()["error"]["field"] == field
    assert words in response.json()["error"]["message"]


def test_bad_json_unknown_model_and_no_model(
    forecasting_dir: Path, sentiment_lstm_dir: Path, serve_client: Any
) -> None:
    with serve_client([f"energy={forecasting_dir}"]) as client:
        not_json = client.post(
            "/v1/forecast", content=b"{records", headers={"content-type": "application/json"}
        )
        unknown = client.post("/v1/forecast?model=weather", json={"csv": "a"})
    assert not_json.status_code == 400
    assert not_json.json()["error"]["field"] == "body"
    assert unknown.status_code == 404
    message = unknown.json()["error"]["message"]
    assert "no model named 'weather'; loaded: energy (forecasting)" in message
    with serve_client([f"reviews={sentiment_lstm_dir}"]) as client:
        none_loaded = client.post("/v1/forecast", json={"csv": "a"})
    assert none_loaded.status_code == 404
    assert none_loaded.json()["error"]["message"] == (
        "no forecasting model is loaded; loaded: reviews (sentiment)"
    )
