"""POST /v1/sentiment: each document's scores equal the predictor's own, in the Azure AI Language
shape; documents that cannot be scored go to ``errors``; every limit and malformed body is a 4xx
naming its field, checked before the model runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import seqlab

TEXTS = [
    "a great movie",
    "an awful , boring film",
    "the plot was wonderful but the acting was poor",
    "superb",
]


def _documents(texts: list[str]) -> dict[str, Any]:
    return {"documents": [{"id": str(index), "text": text} for index, text in enumerate(texts)]}


def _assert_scores_equal(answer: dict[str, Any], reference: dict[str, Any]) -> None:
    assert answer["sentiment"] == reference["sentiment"]
    assert answer["confidenceScores"].keys() == reference["confidenceScores"].keys()
    for label, score in reference["confidenceScores"].items():
        assert answer["confidenceScores"][label] == pytest.approx(score, abs=1e-5)


def _count_predictions(predictor: Any, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many texts reach the model, call by call."""
    calls: list[int] = []
    predict = predictor.predict

    def counted(texts: list[str]) -> list[dict[str, Any]]:
        calls.append(len(texts))
        return predict(texts)

    monkeypatch.setattr(predictor, "predict", counted)
    return calls


@pytest.mark.parametrize("fixture", ["sentiment_lstm_dir", "sentiment_transformer_dir"])
def test_scores_equal_the_predictor_called_directly(
    fixture: str, request: pytest.FixtureRequest, serve_client: Any
) -> None:
    model_dir: Path = request.getfixturevalue(fixture)
    reference = seqlab.load(model_dir)
    with serve_client([f"reviews={model_dir}"]) as client:
        body = _documents(TEXTS)
        body["documents"][0]["language"] = "en"  # read and ignored, as Azure clients send it
        response = client.post("/v1/sentiment", json=body)
    assert response.status_code == 200
    answer = response.json()
    assert answer["errors"] == []
    assert answer["modelVersion"] == "reviews"
    assert [document["id"] for document in answer["documents"]] == ["0", "1", "2", "3"]
    for document, text in zip(answer["documents"], TEXTS, strict=True):
        (expected,) = reference.predict([text])
        _assert_scores_equal(document, expected)
        assert document["warnings"] == []
        assert sum(document["confidenceScores"].values()) == pytest.approx(1.0, abs=1e-5)


def test_empty_and_overlong_documents_go_to_errors_while_the_others_are_scored(
    sentiment_lstm_dir: Path, serve_client: Any
) -> None:
    reference = seqlab.load(sentiment_lstm_dir)
    texts = ["a great movie", "   ", "x" * 41, "awful"]
    with serve_client([sentiment_lstm_dir], max_chars=40) as client:
        answer = client.post("/v1/sentiment", json=_documents(texts)).json()
    assert [document["id"] for document in answer["documents"]] == ["0", "3"]
    _assert_scores_equal(answer["documents"][0], reference.predict(["a great movie"])[0])
    _assert_scores_equal(answer["documents"][1], reference.predict(["awful"])[0])
    errors = {error["id"]: error["error"] for error in answer["errors"]}
    assert set(errors) == {"1", "2"}
    assert errors["1"]["code"] == "InvalidDocument"
    assert "empty" in errors["1"]["message"]
    assert "41 characters, over the limit of 40 (max_chars)" in errors["2"]["message"]


def test_a_text_over_max_tokens_is_truncated_and_says_so(
    sentiment_lstm_dir: Path, sentiment_transformer_dir: Path, serve_client: Any
) -> None:
    lstm, transformer = seqlab.load(sentiment_lstm_dir), seqlab.load(sentiment_transformer_dir)
    long_text = "the movie was great the acting was awful"
    with serve_client([f"lstm={sentiment_lstm_dir}", f"tf={sentiment_transformer_dir}"],
                      max_tokens=4) as client:  # fmt: skip
        by_lstm = client.post("/v1/sentiment?model=lstm", json=_documents([long_text])).json()
        by_tf = client.post("/v1/sentiment?model=tf", json=_documents([long_text])).json()
    # The LSTM reads words alone: its first 4 tokens. The Transformer reads [CLS] first, so 3.
    (lstm_answer,) = by_lstm["documents"]
    _assert_scores_equal(lstm_answer, lstm.predict(["the movie was great"])[0])
    (warning,) = lstm_answer["warnings"]
    assert warning["code"] == "DocumentTruncated"
    assert "8 tokens, over the limit of 4 (max_tokens)" in warning["message"]
    (tf_answer,) = by_tf["documents"]
    _assert_scores_equal(tf_answer, transformer.predict(["the movie was"])[0])
    assert "9 tokens, over the limit of 4" in tf_answer["warnings"][0]["message"]


def test_the_models_own_max_length_is_a_limit_too(
    sentiment_lstm_dir: Path, serve_client: Any
) -> None:
    """A text over the model's data.max_length (128) but under max_tokens: the model reads its
    first 128 tokens, as the predictor does by itself, and the answer says so."""
    reference = seqlab.load(sentiment_lstm_dir)
    text = " ".join(["great", "awful", "boring"] * 50)  # 150 words
    with serve_client([sentiment_lstm_dir], max_tokens=1000) as client:
        (answer,) = client.post("/v1/sentiment", json=_documents([text])).json()["documents"]
    _assert_scores_equal(answer, reference.predict([text])[0])
    message = answer["warnings"][0]["message"]
    assert "150 tokens, over the limit of 128 (the model's data.max_length)" in message


def test_a_text_over_max_tokens_is_refused_under_long_text_refuse(
    sentiment_lstm_dir: Path, serve_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    reference = seqlab.load(sentiment_lstm_dir)
    with serve_client([sentiment_lstm_dir], max_tokens=4, long_text="refuse") as client:
        calls = _count_predictions(client.service_state.models["sentiment"].predictor,
                                   monkeypatch)  # fmt: skip
        texts = ["the movie was great the acting was awful", "a great movie"]
        answer = client.post("/v1/sentiment", json=_documents(texts)).json()
    assert calls == [1]  # only the short document reached the model
    (scored,) = answer["documents"]
    assert scored["id"] == "1"
    _assert_scores_equal(scored, reference.predict(["a great movie"])[0])
    (error,) = answer["errors"]
    assert error["id"] == "0"
    message = error["error"]["message"]
    assert "8 tokens, over the limit of 4 (max_tokens); send a shorter text" in message


@pytest.mark.parametrize(
    ("body", "status", "field", "words"),
    [
        ({"documents": []}, 422, "documents", "send at least one document"),
        ({}, 422, "documents", "Field required"),
        ({"documents": [{"id": "1", "text": "a"}] * 1}, 200, None, ""),
        (
            {"documents": [{"id": str(i), "text": "a"} for i in range(4)]},
            413,
            "documents",
            "4 documents, over the limit of 3 per request (max_documents)",
        ),
        (
            {"documents": [{"id": id_, "text": "x"} for id_ in ("a", "b", "a")]},
            422,
            "documents[2].id",
            "is the id of documents[0] too",
        ),
        ({"documents": [{"id": "1", "text": 5}]}, 422, "documents[0].text", "valid string"),
        ({"documents": [{"id": "1"}]}, 422, "documents[0].text", "Field required"),
        ({"documents": [{"id": "", "text": "a"}]}, 422, "documents[0].id", "at least 1"),
        ({"documents": "a great movie"}, 422, "documents", "valid list"),
        (["a great movie"], 422, "body", "valid dictionary"),
    ],
)
def test_malformed_and_oversized_requests_name_the_field(
    body: Any,
    status: int,
    field: str | None,
    words: str,
    sentiment_lstm_dir: Path,
    serve_client: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with serve_client([sentiment_lstm_dir], max_documents=3) as client:
        calls = _count_predictions(client.service_state.models["sentiment"].predictor,
                                   monkeypatch)  # fmt: skip
        response = client.post("/v1/sentiment", json=body)
    assert response.status_code == status
    if status == 200:
        assert calls == [1]
        return
    error = response.json()["error"]
    assert error["field"] == field
    assert words in error["message"]
    assert calls == []  # refused before any model ran


def test_a_body_that_is_not_json_is_400(sentiment_lstm_dir: Path, serve_client: Any) -> None:
    with serve_client([sentiment_lstm_dir]) as client:
        json_type = {"content-type": "application/json"}
        response = client.post("/v1/sentiment", content=b'{"documents": [', headers=json_type)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "InvalidJson"
    assert response.json()["error"]["field"] == "body"


def test_an_unknown_model_is_404_listing_the_loaded_ones(
    sentiment_lstm_dir: Path, forecasting_dir: Path, serve_client: Any
) -> None:
    with serve_client([f"reviews={sentiment_lstm_dir}", f"energy={forecasting_dir}"]) as client:
        unknown = client.post("/v1/sentiment?model=nope", json=_documents(["good"]))
        wrong_task = client.post("/v1/sentiment?model=energy", json=_documents(["good"]))
    assert unknown.status_code == 404
    assert unknown.json()["error"]["field"] == "model"
    assert "no model named 'nope'" in unknown.json()["error"]["message"]
    assert "loaded: reviews (sentiment), energy (forecasting)" in unknown.json()["error"]["message"]
    assert wrong_task.status_code == 404
    assert "'energy' is a forecasting model, not sentiment" in wrong_task.json()["error"]["message"]


def test_without_a_sentiment_model_the_route_is_404(
    forecasting_dir: Path, serve_client: Any
) -> None:
    with serve_client([f"energy={forecasting_dir}"]) as client:
        response = client.post("/v1/sentiment", json=_documents(["good"]))
    assert response.status_code == 404
    assert response.json()["error"] == {
        "code": "ModelNotFound",
        "message": "no sentiment model is loaded; loaded: energy (forecasting)",
    }
