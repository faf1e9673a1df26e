"""WS /v1/sentiment/stream: every answer equals the push of a ``predictor.stream()`` made
directly (a unidirectional LSTM carrying its state, the bidirectional LSTM fixture and a
Transformer re-encoding); one stream per connection; pushes run in the model executor; the
connection limit (1013), the idle timeout (1000), malformed messages answered without closing,
an unknown model, the API key, and the open-connections gauge.

The unidirectional LSTM is trained here (a few seconds): the committed LSTM fixture is
bidirectional, which re-encodes, and only a unidirectional model shows a state carried per
connection.
"""

from __future__ import annotations

import csv
import threading
import time
from pathlib import Path

import pytest
from starlette.websockets import WebSocketDisconnect

import seqlab
from seqlab import cli

PIECES = ["the mov", "ie was ", "really ", "wonderful", " and the plot was bad"]
PATH = "/v1/sentiment/stream"


@pytest.fixture(scope="module")
def sentiment_unidirectional_dir(tmp_path_factory) -> Path:
    """A tiny unidirectional LSTM classifier: it streams incrementally (one step per token)."""
    from _reviews import alternating_reviews

    folder = tmp_path_factory.mktemp("lstm-unidirectional")
    data = folder / "reviews.csv"
    with data.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        writer.writerows(alternating_reviews(80))
    settings = ["model.bidirectional=false", "model.hidden_size=16", "model.embed_dim=16",
                "model.pooling=mean", "data.vocab_size=100", "train.batch_size=16",
                "train.warmup_steps=2"]  # fmt: skip
    out = folder / "model"
    args = ["train", "sentiment", "--model", "lstm", "--data", str(data), "--steps", "20",
            *(arg for s in settings for arg in ("--set", s)),
            "--quiet", "--out", str(out)]  # fmt: skip
    assert cli.main(args) == 0
    return out


def _expected(result) -> dict:
    return {
        "label": result.label,
        "scores": result.scores,
        "tokens": result.tokens,
        "mode": result.mode,
        "clipped": result.clipped,
    }


def _same(answer: dict, expected: dict) -> None:
    assert set(answer) == {*expected, "seconds"}
    assert answer["seconds"] >= 0
    for key in ("label", "tokens", "mode", "clipped"):
        assert answer[key] == expected[key], key
    assert list(answer["scores"]) == list(expected["scores"])
    for label, score in expected["scores"].items():
        assert answer["scores"][label] == pytest.approx(score, abs=1e-6)


def _gauge(client) -> float:
    registry = client.service_state.metrics.registry
    return registry.get_sample_value("seqlab_stream_connections")


@pytest.mark.parametrize(
    ("fixture", "mode"),
    [
        ("sentiment_unidirectional_dir", "incremental"),
        ("sentiment_lstm_dir", "re-encode"),
        ("sentiment_transformer_dir", "re-encode"),
    ],
)
def test_answers_equal_direct_stream_pushes(serve_client, request, fixture, mode):
    model_dir = request.getfixturevalue(fixture)
    direct = seqlab.load(model_dir).stream()
    with (
        serve_client([f"m={model_dir}"]) as client,
        client.websocket_connect(f"{PATH}?model=m") as socket,
    ):
        for piece in PIECES:
            socket.send_json({"text": piece})
            expected = _expected(direct.push(piece))
            assert expected["mode"] == mode
            _same(socket.receive_json(), expected)
        socket.send_json({"reset": True})
        direct.reset()
        _same(socket.receive_json(), _expected(direct.push("")))  # the empty text
        socket.send_json({"reset": True, "text": "so boring"})
        direct.reset()
        _same(socket.receive_json(), _expected(direct.push("so boring")))


def test_each_connection_carries_its_own_state(serve_client, sentiment_unidirectional_dir):
    predictor = seqlab.load(sentiment_unidirectional_dir)
    first, second = predictor.stream(), predictor.stream()
    with serve_client([f"m={sentiment_unidirectional_dir}"]) as client:
        with (
            client.websocket_connect(PATH) as socket_a,
            client.websocket_connect(PATH) as socket_b,
        ):
            assert _gauge(client) == 2
            for piece_a, piece_b in zip(PIECES, reversed(PIECES), strict=True):
                socket_a.send_json({"text": piece_a})
                socket_b.send_json({"text": piece_b})
                _same(socket_b.receive_json(), _expected(second.push(piece_b)))
                _same(socket_a.receive_json(), _expected(first.push(piece_a)))
        _wait_for(lambda: _gauge(client) == 0)


def test_every_push_runs_in_the_model_executor(serve_client, sentiment_lstm_dir):
    threads = []
    with serve_client([f"m={sentiment_lstm_dir}"]) as client:
        predictor = client.service_state.models["m"].predictor
        make_stream = predictor.stream

        def recording_stream():
            stream = make_stream()
            push = stream.push

            def recorded_push(text):
                threads.append(threading.current_thread().name)
                return push(text)

            stream.push = recorded_push
            return stream

        predictor.stream = recording_stream
        with client.websocket_connect(PATH) as socket:
            for piece in PIECES[:3]:
                socket.send_json({"text": piece})
                socket.receive_json()
    assert len(threads) == 3
    assert all(name.startswith("seqlab-model") for name in threads), threads


def test_connections_over_the_limit_are_closed_with_1013(serve_client, sentiment_lstm_dir):
    with serve_client([f"m={sentiment_lstm_dir}"], max_stream_connections=1) as client:
        registry = client.service_state.metrics.registry
        with client.websocket_connect(PATH) as first:
            first.send_json({"text": "good"})
            first.receive_json()
            with client.websocket_connect(PATH) as refused:
                closing = refused.receive()
            assert closing["type"] == "websocket.close"
            assert closing["code"] == 1013
            assert "1 streams are open; try again later" in closing["reason"]
            assert _gauge(client) == 1
            assert (
                registry.get_sample_value("seqlab_rejections_total", {"reason": "stream_limit"})
                == 1
            )
            first.send_json({"text": " film"})  # the open one goes on
            assert first.receive_json()["tokens"] > 0
        _wait_for(lambda: _gauge(client) == 0)
        with client.websocket_connect(PATH) as again:  # room again once it closed
            again.send_json({"text": "good"})
            assert again.receive_json()["tokens"] > 0


def test_an_idle_connection_is_closed_with_a_reason(serve_client, sentiment_lstm_dir):
    with serve_client([f"m={sentiment_lstm_dir}"], stream_idle_timeout_s=0.2) as client:
        with client.websocket_connect(PATH) as socket:
            socket.send_json({"text": "good"})
            socket.receive_json()  # a message resets the clock
            started = time.perf_counter()
            closing = socket.receive()
            waited = time.perf_counter() - started
        assert closing == {
            "type": "websocket.close",
            "code": 1000,
            "reason": "idle for 0.2 s; connect again to go on",
        }
        assert 0.15 < waited < 5
        _wait_for(lambda: _gauge(client) == 0)


MALFORMED = [
    ("not json", "InvalidJson", "message", "not valid JSON"),
    ("[1, 2]", "InvalidArgument", "message", "must be a JSON object"),
    ('{"text": 5}', "InvalidArgument", "text", "text must be a string, got a number"),
    ('{"text": null}', "InvalidArgument", "text", "got null"),
    ('{"reset": "yes"}', "InvalidArgument", "reset", "reset must be true or false"),
    ('{"txt": "good"}', "InvalidArgument", "txt", "unknown field 'txt'"),
    ("{}", "InvalidArgument", "text", "the message has no text"),
    ('{"text": "' + "x" * 41 + '"}', "TextTooLong", "text", "over the limit of 40 (max_chars)"),
    ('{"text": "\\ud800 good"}', "InvalidArgument", "text", "unpaired surrogate"),
]


def test_malformed_messages_are_answered_without_closing(serve_client, sentiment_lstm_dir):
    direct = seqlab.load(sentiment_lstm_dir).stream()
    with (
        serve_client([f"m={sentiment_lstm_dir}"], max_chars=40) as client,
        client.websocket_connect(PATH) as socket,
    ):
        socket.send_json({"text": "the film "})
        _same(socket.receive_json(), _expected(direct.push("the film ")))
        for raw, code, field, message in MALFORMED:
            socket.send_text(raw)
            error = socket.receive_json()["error"]
            assert (error["code"], error["field"]) == (code, field), raw
            assert message in error["message"], raw
        socket.send_bytes(b"\xff\xfe")
        assert socket.receive_json()["error"]["field"] == "message"
        socket.send_bytes(b'{"text": "was good"}')  # UTF-8 JSON in a binary frame is fine
        # The refused messages changed nothing: the text goes on where it was.
        _same(socket.receive_json(), _expected(direct.push("was good")))


def test_an_unknown_model_is_answered_then_closed(
    serve_client, sentiment_lstm_dir, forecasting_dir
):
    with serve_client([f"m={sentiment_lstm_dir}", f"f={forecasting_dir}"]) as client:
        for name, expected in (("nope", "no model named 'nope'"), ("f", "not sentiment")):
            with client.websocket_connect(f"{PATH}?model={name}") as socket:
                error = socket.receive_json()["error"]
                closing = socket.receive()
            assert error["field"] == "model" and expected in error["message"]
            assert closing["type"] == "websocket.close" and closing["code"] == 1008
        _wait_for(lambda: _gauge(client) == 0)


def test_the_api_key_may_come_as_a_query_parameter(serve_client, sentiment_lstm_dir):
    with serve_client([f"m={sentiment_lstm_dir}"], api_key="secret") as client:
        with pytest.raises(WebSocketDisconnect) as refused, client.websocket_connect(PATH):
            pass
        assert refused.value.code == 1008
        with client.websocket_connect(f"{PATH}?api-key=secret") as socket:
            socket.send_json({"text": "good"})
            assert socket.receive_json()["tokens"] > 0


def _wait_for(condition, seconds: float = 5.0) -> None:
    """The server side of a closed connection finishes just after the client's; wait for it."""
    deadline = time.perf_counter() + seconds
    while not condition():
        assert time.perf_counter() < deadline, "condition not met in time"
        time.sleep(0.01)
