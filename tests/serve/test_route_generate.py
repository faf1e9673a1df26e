"""POST /v1/generate: a seeded generation equals the predictor's own, whole or streamed as
server-sent events; every step runs in the model executor; a client that goes away stops the
generation; limits and bad options are 4xx naming their field."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import seqlab
from seqlab.serve import ServeSettings, ServiceState, create_app, load_models


def _events(stream: str) -> list[tuple[str, dict[str, Any]]]:
    """Server-sent events as (name, data); an event without a name is a "message"."""
    events = []
    for block in stream.strip().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.split("\n"))
        events.append((fields.get("event", "message"), json.loads(fields["data"])))
    return events


def _record_steps(predictor: Any, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The thread that computed each token (and so each step of the model)."""
    threads: list[str] = []
    generate_ids = predictor.generate_ids

    def recorded(*args: Any, **kwargs: Any) -> Iterator[int]:
        threads.append(threading.current_thread().name)  # the prompt's pass
        for token in generate_ids(*args, **kwargs):
            threads.append(threading.current_thread().name)
            yield token

    monkeypatch.setattr(predictor, "generate_ids", recorded)
    return threads


@pytest.mark.parametrize(
    "options",
    [
        {"seed": 3, "temperature": 0.9, "top_k": 5},
        {"seed": 11, "temperature": 1.2, "top_p": 0.8},
        {"temperature": 0.0},  # greedy: the same text with or without a seed
    ],
)
def test_a_generation_equals_the_predictor_called_directly(
    options: dict[str, Any], lm_dir: Path, serve_client: Any
) -> None:
    reference = seqlab.load(lm_dir)
    expected = reference.generate("Seq", max_new_tokens=25, **options)
    with serve_client([f"tiny={lm_dir}"]) as client:
        response = client.post("/v1/generate", json={"prompt": "Seq", "max_tokens": 25, **options})
    assert response.status_code == 200
    # A character model without stop ids draws exactly max_tokens tokens.
    assert response.json() == {"text": expected, "tokens": 25, "prompt": "Seq"}
    if options["temperature"] == 0.0:
        assert expected == "lab models text; a tiny n"  # the line the model learnt by heart


def test_without_max_tokens_the_default_is_capped_by_the_service(
    lm_dir: Path, serve_client: Any
) -> None:
    expected = seqlab.load(lm_dir).generate("Seq", max_new_tokens=7, seed=2)
    with serve_client([lm_dir], max_generate_tokens=7) as client:
        response = client.post("/v1/generate", json={"prompt": "Seq", "seed": 2})
    assert response.json() == {"text": expected, "tokens": 7, "prompt": "Seq"}


def test_streaming_sends_each_piece_then_the_totals(
    lm_dir: Path, serve_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    reference = seqlab.load(lm_dir)
    expected = list(reference.generate("Seq", stream=True, max_new_tokens=12, seed=5))
    with serve_client([lm_dir]) as client:
        threads = _record_steps(client.service_state.models["model"].predictor, monkeypatch)
        body = {"prompt": "Seq", "max_tokens": 12, "seed": 5, "stream": True}
        with client.stream("POST", "/v1/generate", json=body) as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            events = _events(response.read().decode())
    assert events[:-1] == [("message", {"text": piece}) for piece in expected]
    assert events[-1] == ("done", {"text": "".join(expected), "tokens": 12, "prompt": "Seq"})
    # The prompt's pass and all 12 tokens were computed in the model executor's thread.
    assert len(threads) == 13
    assert all(name.startswith("seqlab-model") for name in threads), threads


def test_a_client_that_disconnects_stops_the_generation(
    lm_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The ASGI app driven directly: the client reads one event, then goes away. The stream is
    cancelled and the token iterator closed in the model thread, so far fewer than the 1000 tokens
    asked for are computed: after the response ended, at most the one step that was already
    running in the model thread when the client left (a running step cannot be interrupted)."""
    state = ServiceState(models=load_models([str(lm_dir)]), settings=ServeSettings())
    threads = _record_steps(state.models["model"].predictor, monkeypatch)
    app = create_app(state)
    body = json.dumps({"prompt": "Seq", "max_tokens": 1000, "stream": True}).encode()
    sent: list[dict[str, Any]] = []

    async def drive() -> int:
        first_event = asyncio.Event()
        request_sent = False

        async def receive() -> dict[str, Any]:
            nonlocal request_sent
            if not request_sent:
                request_sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            await first_event.wait()
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)
            if message["type"] == "http.response.body" and message.get("body"):
                first_event.set()

        scope = {
            "type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": "1.1", "method": "POST", "scheme": "http", "path": "/v1/generate",
            "raw_path": b"/v1/generate", "query_string": b"", "root_path": "",
            "headers": [(b"content-type", b"application/json"),
                        (b"content-length", str(len(body)).encode())],
            "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 8000),
        }  # fmt: skip
        await app(scope, receive, send)
        produced = len(threads)
        await asyncio.sleep(0.2)  # time for more tokens, had the generation gone on
        await state.close()
        return produced

    produced = asyncio.run(drive())
    assert sent[0]["status"] == 200
    assert 2 <= produced < 200  # the prompt's pass, at least one token, then it stopped
    assert produced <= len(threads) <= produced + 1
    assert all(name.startswith("seqlab-model") for name in threads)


@pytest.mark.parametrize(
    ("body", "status", "field", "words"),
    [
        ({"max_tokens": 51}, 422, "max_tokens", "over the service's limit of 50"),
        ({"max_tokens": -1}, 422, "max_tokens", "greater than or equal to 0"),
        ({"max_tokens": "many"}, 422, "max_tokens", "valid integer"),
        ({"prompt": "x" * 41}, 413, "prompt", "41 characters, over the limit of 40"),
        ({"prompt": 5}, 422, "prompt", "valid string"),
        ({"temperature": -0.5}, 422, "temperature", "greater than or equal to 0"),
        ({"top_k": 0}, 422, "top_k", "greater than or equal to 1"),
        ({"top_p": 1.5}, 422, "top_p", "less than or equal to 1"),
        ({"seed": -1}, 422, "seed", "greater than or equal to 0"),
        ({"seed": 2**64}, 422, "seed", "less than"),
        ({"stream": "sometimes"}, 422, "stream", "valid boolean"),
        (["Seq"], 422, "body", "valid dictionary"),
    ],
)
def test_bad_requests_name_the_field_before_any_model_runs(
    body: Any,
    status: int,
    field: str,
    words: str,
    lm_dir: Path,
    serve_client: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with serve_client([lm_dir], max_generate_tokens=50, max_chars=40) as client:
        steps = _record_steps(client.service_state.models["model"].predictor, monkeypatch)
        response = client.post("/v1/generate", json=body)
    assert response.status_code == status
    assert response.json()["error"]["field"] == field
    assert words in response.json()["error"]["message"]
    assert steps == []


def test_bad_json_unknown_model_and_no_model(
    lm_dir: Path, forecasting_dir: Path, serve_client: Any
) -> None:
    with serve_client([f"tiny={lm_dir}"]) as client:
        not_json = client.post(
            "/v1/generate", content=b"{prompt", headers={"content-type": "application/json"}
        )
        unknown = client.post("/v1/generate?model=big", json={"prompt": "a"})
        at_limit = client.post("/v1/generate", json={"prompt": "Seq", "max_tokens": 0})
    assert not_json.status_code == 400
    assert unknown.status_code == 404
    assert "no model named 'big'; loaded: tiny (lm)" in unknown.json()["error"]["message"]
    assert at_limit.json() == {"text": "", "tokens": 0, "prompt": "Seq"}
    with serve_client([f"energy={forecasting_dir}"]) as client:
        none_loaded = client.post("/v1/generate", json={"prompt": "a"})
    assert none_loaded.status_code == 404
    assert none_loaded.json()["error"]["message"] == (
        "no lm model is loaded; loaded: energy (forecasting)"
    )
