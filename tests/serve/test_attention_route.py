"""POST /v1/attention: a Transformer sentiment model's maps and prediction equal its predictor's
own ``attention`` (to the 4 decimals the route keeps), a translation's alignment equals
``TranslationPredictor.alignment``; a recurrent model, another task, an unknown model, an empty or
oversized text (or one holding half a surrogate pair) are refused with 4xx naming the field,
before any model runs."""

from __future__ import annotations

import pytest

import seqlab

TEXT = "the acting was wonderful"


def _close(answer, expected, tolerance=5e-5):
    """Nested lists of floats equal within ``tolerance`` (the route rounds to 4 decimals)."""
    if isinstance(expected, list):
        assert isinstance(answer, list) and len(answer) == len(expected)
        for a, e in zip(answer, expected, strict=True):
            _close(a, e, tolerance)
    else:
        assert answer == pytest.approx(expected, abs=tolerance)


def test_transformer_maps_and_prediction_equal_the_predictor(
    serve_client, sentiment_transformer_dir, sentiment_lstm_dir
):
    # The LSTM is loaded first: without ?model= the route picks the model that has attention.
    specs = [f"lstm={sentiment_lstm_dir}", f"transformer={sentiment_transformer_dir}"]
    with serve_client(specs) as client:
        response = client.post("/v1/attention", json={"text": TEXT})
        named = client.post("/v1/attention?model=transformer", json={"text": TEXT})
    assert response.status_code == 200, response.text
    assert named.json() == response.json()
    answer = response.json()
    predictor = seqlab.load(sentiment_transformer_dir)
    expected = predictor.attention(TEXT)
    assert (answer["model"], answer["task"], answer["kind"]) == (
        "transformer",
        "sentiment",
        "self-attention",
    )
    assert answer["tokens"] == expected["tokens"]
    assert answer["truncated"] is False
    assert [layer["name"] for layer in answer["layers"]] == [
        layer["name"] for layer in expected["layers"]
    ]
    assert len(answer["layers"]) == 2 and len(answer["layers"][0]["heads"]) == 2
    _close([layer["heads"] for layer in answer["layers"]], [l["heads"] for l in expected["layers"]])
    plain = predictor.predict([TEXT])[0]
    assert answer["sentiment"] == plain["sentiment"]
    _close(list(answer["confidenceScores"].values()), list(plain["confidenceScores"].values()))
    assert list(answer["confidenceScores"]) == list(plain["confidenceScores"])


def test_translation_alignment_equals_the_predictor(serve_client, translation_dir):
    predictor = seqlab.load(translation_dir)
    text = "one red two"
    with serve_client([f"translator={translation_dir}"]) as client:
        response = client.post("/v1/attention?model=translator", json={"text": text})
    assert response.status_code == 200, response.text
    answer = response.json()
    expected = predictor.alignment(text)
    assert (answer["task"], answer["kind"]) == ("translation", "cross-attention")
    assert answer["translation"] == expected.translation
    assert answer["sourceTokens"] == expected.source_tokens
    assert answer["targetTokens"] == expected.target_tokens
    _close(answer["alignment"], expected.weights)
    assert "layers" not in answer  # only the fields of its kind


def test_a_recurrent_model_is_refused_naming_the_model(serve_client, sentiment_lstm_dir):
    with serve_client([f"lstm={sentiment_lstm_dir}"]) as client:
        named = client.post("/v1/attention?model=lstm", json={"text": TEXT})
        unnamed = client.post("/v1/attention", json={"text": TEXT})
    assert named.status_code == 422
    error = named.json()["error"]
    assert error["code"] == "NoAttention" and error["field"] == "model"
    assert "has no attention: it is a recurrent model" in error["message"]
    assert unnamed.status_code == 404  # nothing loaded has attention
    assert "lstm (sentiment, lstm)" in unnamed.json()["error"]["message"]


def test_other_tasks_and_unknown_models_are_refused(
    serve_client, sentiment_transformer_dir, forecasting_dir
):
    specs = [f"transformer={sentiment_transformer_dir}", f"forecaster={forecasting_dir}"]
    with serve_client(specs) as client:
        forecaster = client.post("/v1/attention?model=forecaster", json={"text": TEXT})
        unknown = client.post("/v1/attention?model=nope", json={"text": TEXT})
    assert forecaster.status_code == 422
    assert forecaster.json()["error"]["field"] == "model"
    assert "is a forecasting model" in forecaster.json()["error"]["message"]
    assert unknown.status_code == 404
    assert unknown.json()["error"]["field"] == "model"
    assert "transformer (sentiment, transformer)" in unknown.json()["error"]["message"]


def test_text_limits_are_checked_before_the_model_runs(serve_client, sentiment_transformer_dir):
    predictor_calls = []
    with serve_client([f"t={sentiment_transformer_dir}"], max_chars=30, max_tokens=4) as client:
        model = client.service_state.models["t"].predictor.model
        model.register_forward_pre_hook(lambda *_: predictor_calls.append(1))
        long_text = client.post("/v1/attention", json={"text": "good " * 10})
        many_tokens = client.post("/v1/attention", json={"text": "the acting was so good"})
        empty = client.post("/v1/attention", json={"text": "   "})
        missing = client.post("/v1/attention", json={"words": TEXT})
        not_json = client.post(
            "/v1/attention", content=b"{", headers={"content-type": "application/json"}
        )
        surrogate = client.post(
            "/v1/attention",
            content=b'{"text": "\\ud800 good"}',
            headers={"content-type": "application/json"},
        )
        fine = client.post("/v1/attention", json={"text": "good"})
    assert long_text.status_code == 413
    assert long_text.json()["error"]["field"] == "text"
    assert long_text.json()["error"]["code"] == "TextTooLong"
    assert "50 characters, over the limit of 30 (max_chars)" in long_text.json()["error"]["message"]
    assert many_tokens.status_code == 422
    assert many_tokens.json()["error"]["field"] == "text"
    assert "more than 4" in many_tokens.json()["error"]["message"]
    assert empty.status_code == 422 and empty.json()["error"]["field"] == "text"
    assert missing.status_code == 422 and missing.json()["error"]["field"] == "text"
    assert not_json.status_code == 400
    assert surrogate.status_code == 422 and surrogate.json()["error"]["field"] == "text"
    assert "unpaired surrogate" in surrogate.json()["error"]["message"]
    assert fine.status_code == 200
    assert predictor_calls == [1]  # only the text within the limits reached the model
