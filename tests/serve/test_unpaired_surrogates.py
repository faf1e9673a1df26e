"""JSON can escape half of a surrogate pair ("\\ud800"): no character, which tokenizers refuse
with a TypeError. Every text route answers it with a 4xx naming the field (a document error for
sentiment, which scores the other documents), never a 500."""

from __future__ import annotations

from pathlib import Path

import seqlab

HALF = b"\\ud800"  # the JSON escape, as a client sends it
JSON = {"content-type": "application/json"}


def _post(client, path: str, body: bytes):
    return client.post(path, content=body, headers=JSON)


def test_sentiment_reports_the_document_and_scores_the_others(serve_client, sentiment_lstm_dir):
    body = (
        b'{"documents": [{"id": "a", "text": "good ' + HALF + b'"}, {"id": "b", "text": "good"}]}'
    )
    with serve_client([sentiment_lstm_dir]) as client:
        answer = _post(client, "/v1/sentiment", body)
    assert answer.status_code == 200
    (error,) = answer.json()["errors"]
    assert error["id"] == "a" and "unpaired surrogate" in error["error"]["message"]
    (document,) = answer.json()["documents"]
    expected = seqlab.load(sentiment_lstm_dir).predict(["good"])[0]["confidenceScores"]
    for label, score in expected.items():
        assert abs(document["confidenceScores"][label] - score) < 1e-5


def test_every_other_text_route_answers_422_naming_the_field(
    serve_client, translation_dir: Path, lm_dir: Path, forecasting_dir: Path
) -> None:
    cases = [
        ("/v1/translate", b'[{"text": "eins ' + HALF + b'"}]', "[0].text"),
        ("/v1/generate", b'{"prompt": "' + HALF + b'", "max_tokens": 3}', "prompt"),
        ("/v1/forecast", b'{"csv": "date' + HALF + b',x\\n1,2\\n"}', "csv"),
        ("/v1/attention?model=translation", b'{"text": "' + HALF + b'"}', "text"),
    ]
    specs = [f"translation={translation_dir}", lm_dir, forecasting_dir]
    with serve_client(specs) as client:
        for path, body, field in cases:
            answer = _post(client, path, body)
            assert answer.status_code == 422, (path, answer.text)
            error = answer.json()["error"]
            assert error["field"] == field and "unpaired surrogate" in error["message"], path
