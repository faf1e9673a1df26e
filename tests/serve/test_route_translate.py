"""POST /v1/translate: each translation equals the predictor's own, in the Azure Translator v3
shape; a text over the model's max_length goes through the long-document path; languages, limits
and malformed bodies are 4xx naming their field."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import seqlab

SENTENCES = ["Eins zwei rot.", "Blau grün gelb schwarz.", "Drei vier fünf.", "Schwarz."]


def _count_translations(predictor: Any, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Which of the predictor's calls ran: "translate" (a batch) or "document"."""
    calls: list[str] = []
    translate, translate_document = predictor.translate, predictor.translate_document

    def batch(texts: list[str]) -> list[str]:
        calls.append("translate")
        return translate(texts)

    def document(text: str) -> Any:
        calls.append("document")
        return translate_document(text)

    monkeypatch.setattr(predictor, "translate", batch)
    monkeypatch.setattr(predictor, "translate_document", document)
    return calls


def test_translations_equal_the_predictor_called_directly(
    translation_dir: Path, serve_client: Any
) -> None:
    reference = seqlab.load(translation_dir)
    # Azure clients write "Text"; either spelling is read.
    body = [{"text": SENTENCES[0]}, {"Text": SENTENCES[1]}, *({"text": s} for s in SENTENCES[2:])]
    with serve_client([f"de-en={translation_dir}"]) as client:
        response = client.post("/v1/translate", json=body)
        with_languages = client.post("/v1/translate?from=de&to=en", json=body)
    assert response.status_code == 200
    expected = [reference.translate([sentence])[0] for sentence in SENTENCES]
    assert expected[0] == "One two."  # the tiny model learnt its word-for-word mapping
    assert response.json() == [{"translations": [{"text": text, "to": "en"}]} for text in expected]
    assert with_languages.json() == response.json()


def test_a_text_over_max_length_goes_through_the_long_document_path(
    translation_dir: Path, serve_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    reference = seqlab.load(translation_dir)
    document = " ".join(["Eins zwei rot blau."] * 40)  # 520 subwords, over max_length (128)
    assert reference.task_object.tokenizers.source.count_tokens(document) > reference.max_tokens
    expected = reference.translate_document(document).text
    assert expected == reference.translate([document])[0]
    with serve_client([translation_dir]) as client:
        calls = _count_translations(client.service_state.models["model"].predictor, monkeypatch)
        answer = client.post(
            "/v1/translate", json=[{"text": "Drei."}, {"text": document}, {"text": "  "}]
        ).json()
    assert calls == ["translate", "document"]  # the sentence batched, the document alone
    assert [item["translations"][0]["text"] for item in answer] == [
        reference.translate(["Drei."])[0],
        expected,
        "",  # a text without words translates to nothing, as Azure's does
    ]
    assert expected.count("One red two.") == 40  # nothing lost or repeated


@pytest.mark.parametrize(
    ("query", "body", "status", "field", "words"),
    [
        ("?to=fr", [{"text": "Eins."}], 400, "to", "translates into 'en' only"),
        ("?from=en", [{"text": "Eins."}], 400, "from", "translates from 'de' only"),
        ("", [], 422, "body", "send at least one text"),
        ("", [{"text": "Eins."}] * 4, 413, "body", "4 texts, over the limit of 3 per request"),
        ("", [{"text": "Eins."}, {"text": "x" * 41}], 413, "[1].text", "41 characters"),
        ("", [{"text": 5}], 422, "[0].text", "valid string"),
        ("", [{"txt": "Eins."}], 422, "[0].text", "Field required"),
        ("", {"text": "Eins."}, 422, "body", "valid list"),
        ("", ["Eins."], 422, "[0]", "valid dictionary"),
    ],
)
def test_malformed_and_oversized_requests_name_the_field(
    query: str,
    body: Any,
    status: int,
    field: str,
    words: str,
    translation_dir: Path,
    serve_client: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with serve_client([translation_dir], max_documents=3, max_chars=40) as client:
        calls = _count_translations(client.service_state.models["model"].predictor, monkeypatch)
        response = client.post(f"/v1/translate{query}", json=body)
    assert response.status_code == status
    assert response.json()["error"]["field"] == field
    assert words in response.json()["error"]["message"]
    assert calls == []  # refused before any model ran


def test_bad_json_unknown_model_and_no_model(
    translation_dir: Path, sentiment_lstm_dir: Path, serve_client: Any
) -> None:
    with serve_client([f"de-en={translation_dir}", f"reviews={sentiment_lstm_dir}"]) as client:
        not_json = client.post(
            "/v1/translate", content=b"[{", headers={"content-type": "application/json"}
        )
        unknown = client.post("/v1/translate?model=en-de", json=[{"text": "One."}])
        wrong_task = client.post("/v1/translate?model=reviews", json=[{"text": "One."}])
    assert not_json.status_code == 400
    assert unknown.status_code == 404
    assert "loaded: de-en (translation), reviews (sentiment)" in unknown.json()["error"]["message"]
    assert wrong_task.status_code == 404
    message = wrong_task.json()["error"]["message"]
    assert "'reviews' is a sentiment model, not translation" in message
    with serve_client([f"reviews={sentiment_lstm_dir}"]) as client:
        none_loaded = client.post("/v1/translate", json=[{"text": "Eins."}])
    assert none_loaded.status_code == 404
    assert none_loaded.json()["error"]["message"] == (
        "no translation model is loaded; loaded: reviews (sentiment)"
    )
