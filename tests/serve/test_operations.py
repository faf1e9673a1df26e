"""How the service behaves around the models: the API key, the body limit, the metrics it
exposes, readiness, unknown paths and methods, back-pressure (503 with Retry-After, then
recovery) and the request timeout (504)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi", reason="the service needs the serve extra")

from fastapi.testclient import TestClient  # noqa: E402
from prometheus_client.parser import text_string_to_metric_families  # noqa: E402
from starlette.websockets import WebSocketDisconnect  # noqa: E402

import seqlab  # noqa: E402
from seqlab.serve import ServeSettings, ServiceState, create_app, load_models  # noqa: E402

KEY = "k3y-for-tests"
TEXT = "the movie was wonderful"


def documents(*texts: str) -> dict[str, Any]:
    return {"documents": [{"id": str(i), "text": text} for i, text in enumerate(texts)]}


def expected_scores(model_dir: Path, texts: list[str]) -> list[dict[str, Any]]:
    """What the predictor itself answers: the reference every route answer is checked against."""
    return [
        {"sentiment": r["sentiment"], "confidenceScores": r["confidenceScores"]}
        for r in seqlab.load(model_dir).predict(texts)
    ]


def answered_scores(body: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {"sentiment": d["sentiment"], "confidenceScores": d["confidenceScores"]}
        for d in body["documents"]
    ]


Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(client: TestClient) -> Samples:
    """Every sample of GET /metrics, parsed as Prometheus parses it."""
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    samples: Samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def requests_counted(samples: Samples, route: str, method: str, status: int) -> float:
    return value(samples, "seqlab_requests_total", route=route, method=method, status=str(status))


# ---- the API key ----
def test_without_a_key_the_v1_routes_are_open(
    serve_client: Callable[..., Any], sentiment_lstm_dir: Path
) -> None:
    with serve_client([sentiment_lstm_dir]) as client:
        assert client.get("/v1/models").status_code == 200
        response = client.post("/v1/sentiment", json=documents(TEXT))
        assert response.status_code == 200
        assert answered_scores(response.json()) == expected_scores(sentiment_lstm_dir, [TEXT])


def test_with_a_key_every_v1_route_needs_it_and_the_service_routes_stay_open(
    serve_client: Callable[..., Any], sentiment_lstm_dir: Path
) -> None:
    with serve_client([sentiment_lstm_dir], api_key=KEY) as client:
        refused = [
            client.get("/v1/models"),
            client.post("/v1/sentiment", json=documents(TEXT)),
            client.get("/v1/models", headers={"X-API-Key": KEY[:-1] + "?"}),  # wrong, same length
            client.get("/v1/models", headers={"X-API-Key": KEY + "-and-more"}),
            client.get("/v1/models", headers={"Authorization": f"Bearer {KEY}"}),
            client.post("/v1/no-such-route", headers={"X-API-Key": "nope"}),
        ]
        for response in refused:
            assert response.status_code == 401
            assert response.json() == {
                "error": {
                    "code": "Unauthorized",
                    "message": "this route needs the API key in the X-API-Key header",
                    "field": "X-API-Key",
                }
            }

        by_header = client.post("/v1/sentiment", json=documents(TEXT), headers={"X-API-Key": KEY})
        assert by_header.status_code == 200
        assert answered_scores(by_header.json()) == expected_scores(sentiment_lstm_dir, [TEXT])
        # Azure clients send the key in this header; it opens the routes too.
        azure = client.get("/v1/models", headers={"Ocp-Apim-Subscription-Key": KEY})
        assert azure.status_code == 200
        assert azure.json() == {
            "models": [
                {"name": "sentiment", "task": "sentiment", "family": "lstm", "dtype": "float32"}
            ]
        }

        for path in ("/healthz", "/readyz", "/openapi.json"):
            assert client.get(path).status_code == 200, path
        assert client.get("/").status_code != 401  # the page
        samples = scrape(client)
        assert value(samples, "seqlab_rejections_total", reason="unauthorized") == len(refused)
        assert requests_counted(samples, "unmatched", "GET", 401) == 4


def test_a_websocket_without_the_key_is_closed_as_a_policy_violation(
    serve_client: Callable[..., Any], sentiment_lstm_dir: Path
) -> None:
    with serve_client([sentiment_lstm_dir], api_key=KEY) as client:
        for url in ("/v1/sentiment/stream", "/v1/sentiment/stream?api-key=wrong"):
            with pytest.raises(WebSocketDisconnect) as closed, client.websocket_connect(url):
                pass
            assert (closed.value.code, closed.value.reason) == (1008, "Unauthorized")


# ---- the body limit ----
def test_a_body_over_the_limit_gets_413_by_content_length_and_when_chunked(
    serve_client: Callable[..., Any], sentiment_lstm_dir: Path
) -> None:
    limit = 300
    small = documents(TEXT)
    large = documents(*[TEXT] * 20)  # about 700 bytes of JSON
    with serve_client([sentiment_lstm_dir], max_body_bytes=limit) as client:
        assert client.post("/v1/sentiment", json=small).status_code == 200

        by_length = client.post("/v1/sentiment", json=large)

        def chunks() -> Iterator[bytes]:  # no Content-Length: the body is counted as it comes
            yield b'{"documents": ['
            for index in range(20):
                yield (b", " if index else b"") + b'{"id": "%d", "text": "%s"}' % (
                    index,
                    TEXT.encode(),
                )
            yield b"]}"

        chunked = client.post(
            "/v1/sentiment", content=chunks(), headers={"content-type": "application/json"}
        )
        assert "content-length" not in chunked.request.headers
        for response in (by_length, chunked):
            assert response.status_code == 413
            assert response.json()["error"] == {
                "code": "PayloadTooLarge",
                "message": f"the request body is over {limit} bytes; send fewer or shorter "
                "documents",
                "field": "body",
            }
        samples = scrape(client)
        assert value(samples, "seqlab_rejections_total", reason="too_large") == 2
        # Refused before any model ran: only the small request made a batch.
        assert value(samples, "seqlab_batch_size_count", model="sentiment/predict") == 1


# ---- metrics ----
def test_metrics_count_exactly_the_requests_made_by_route_and_status(
    serve_client: Callable[..., Any], sentiment_lstm_dir: Path
) -> None:
    with serve_client([sentiment_lstm_dir], max_documents=2) as client:
        before = scrape(client)
        for _ in range(3):
            assert client.get("/healthz").status_code == 200
        for text in ("good", "a terrible film"):
            assert client.post("/v1/sentiment", json=documents(text)).status_code == 200
        assert client.post("/v1/sentiment", json={"documents": "no"}).status_code == 422
        assert client.post("/v1/sentiment", json=documents("a", "b", "c")).status_code == 413
        assert client.get("/no/such/path").status_code == 404
        after = scrape(client)

    def delta(route: str, method: str, status: int) -> float:
        return requests_counted(after, route, method, status) - requests_counted(
            before, route, method, status
        )

    assert delta("/healthz", "GET", 200) == 3
    assert delta("/v1/sentiment", "POST", 200) == 2
    assert delta("/v1/sentiment", "POST", 422) == 1
    assert delta("/v1/sentiment", "POST", 413) == 1
    assert delta("unmatched", "GET", 404) == 1  # labelled by template, never by the raw path
    assert delta("/metrics", "GET", 200) == 1  # the first scrape, counted once it was answered
    assert not any("/no/such/path" in str(labels) for _, labels in after)

    def latency_count(samples: Samples, route: str) -> float:
        return value(samples, "seqlab_request_seconds_count", route=route)

    assert latency_count(after, "/healthz") - latency_count(before, "/healthz") == 3
    assert latency_count(after, "/v1/sentiment") - latency_count(before, "/v1/sentiment") == 4
    # Every latency sample fell in some bucket; +Inf holds them all.
    assert value(after, "seqlab_request_seconds_bucket", route="/v1/sentiment", le="+Inf") == 4
    assert value(after, "seqlab_batch_size_count", model="sentiment/predict") == 2
    assert value(after, "seqlab_batch_size_sum", model="sentiment/predict") == 2
    assert value(after, "seqlab_queue_depth", model="sentiment/predict") == 0


# ---- readiness, unknown paths and methods ----
def test_readyz_answers_ready_only_while_the_lifespan_runs(sentiment_lstm_dir: Path) -> None:
    state = ServiceState(models=load_models([str(sentiment_lstm_dir)]), settings=ServeSettings())
    app = create_app(state)
    before = TestClient(app).get("/readyz")  # no `with`: the lifespan has not started
    assert (before.status_code, before.json()) == (503, {"status": "not ready", "models": 1})
    with TestClient(app) as client:
        during = client.get("/readyz")
        assert (during.status_code, during.json()) == (200, {"status": "ready", "models": 1})
        assert client.get("/healthz").json() == {"status": "ok"}
    assert state.ready is False  # the lifespan's shutdown ran
    after = TestClient(app).get("/readyz")
    assert after.status_code == 503


def test_readyz_without_models_is_not_ready() -> None:
    with TestClient(create_app(ServiceState(models={}, settings=ServeSettings()))) as client:
        response = client.get("/readyz")
        assert (response.status_code, response.json()) == (
            503,
            {"status": "not ready", "models": 0},
        )


def test_unknown_paths_and_wrong_methods_get_json_errors(
    serve_client: Callable[..., Any], sentiment_lstm_dir: Path
) -> None:
    with serve_client([sentiment_lstm_dir]) as client:
        missing = client.get("/v1/no-such-thing")
        assert missing.status_code == 404
        assert missing.json() == {
            "error": {
                "code": "NotFound",
                "message": "no route /v1/no-such-thing; GET /docs lists the routes",
            }
        }
        wrong = client.get("/v1/sentiment")
        assert wrong.status_code == 405
        assert wrong.headers["allow"] == "POST"
        assert wrong.json() == {
            "error": {
                "code": "MethodNotAllowed",
                "message": "GET is not allowed on /v1/sentiment; use POST",
            }
        }
        assert client.delete("/healthz").status_code == 405


# ---- back-pressure and the request timeout ----
def block_executor(state: ServiceState) -> threading.Event:
    """Keep the model executor's one thread busy until the returned event is set, as a long
    model call would."""
    release = threading.Event()
    started = threading.Event()

    def busy() -> None:
        started.set()
        release.wait(timeout=30)

    state.executor.submit(busy)
    assert started.wait(timeout=5)
    return release


def wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 10
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.005)


def test_a_full_queue_answers_503_with_retry_after_and_the_service_recovers(
    serve_client: Callable[..., Any], sentiment_lstm_dir: Path
) -> None:
    texts = ["good", "bad", "a fine film", "dull"]
    with (
        serve_client([sentiment_lstm_dir], queue_size=2, max_batch_size=8, retry_after_s=3) as c,
        ThreadPoolExecutor(max_workers=3) as senders,
    ):
        state: ServiceState = c.service_state
        release = block_executor(state)

        def batches() -> float:
            count = state.metrics.registry.get_sample_value(
                "seqlab_batch_size_count", {"model": "sentiment/predict"}
            )
            return count or 0.0

        def send(text: str) -> Future[Any]:
            return senders.submit(c.post, "/v1/sentiment", json=documents(text))

        try:
            first = send(texts[0])
            wait_for(lambda: batches() == 1, "the first request's batch to wait for the model")
            queued = [send(text) for text in texts[1:3]]
            wait_for(lambda: state.batchers[("sentiment", "predict")].queued == 2, "a full queue")

            refused = [
                c.post("/v1/sentiment", json=documents(texts[3])),
                c.post("/v1/sentiment", json=documents("one", "two")),
            ]
            for response in refused:
                assert response.status_code == 503
                assert response.headers["retry-after"] == "3"
                error = response.json()["error"]
                assert error["code"] == "ServiceUnavailable"
                assert "retry after 3 s" in error["message"]
            samples = scrape(c)
            assert value(samples, "seqlab_rejections_total", reason="overloaded") == 2
            assert value(samples, "seqlab_queue_depth", model="sentiment/predict") == 2
            assert requests_counted(samples, "/v1/sentiment", "POST", 503) == 2
        finally:
            release.set()

        answers = [future.result(timeout=30) for future in (first, *queued)]
        assert [a.status_code for a in answers] == [200, 200, 200]
        got = [answered_scores(a.json())[0] for a in answers]
        assert got == expected_scores(sentiment_lstm_dir, texts[:3])
        # Recovered: the request refused a moment ago is answered now.
        again = c.post("/v1/sentiment", json=documents(texts[3]))
        assert again.status_code == 200
        assert answered_scores(again.json()) == expected_scores(sentiment_lstm_dir, texts[3:])


def test_requests_that_wait_past_their_timeout_get_504_and_queued_items_are_withdrawn(
    serve_client: Callable[..., Any], sentiment_lstm_dir: Path
) -> None:
    settings = {"request_timeout_s": 0.3, "max_batch_size": 1}
    with (
        serve_client([sentiment_lstm_dir], **settings) as client,
        ThreadPoolExecutor(max_workers=2) as senders,
    ):
        state: ServiceState = client.service_state
        release = block_executor(state)
        try:
            started = time.perf_counter()
            # One item is handed to the busy executor, the other waits in the queue.
            sent = [
                senders.submit(client.post, "/v1/sentiment", json=documents(text))
                for text in ("good", "bad")
            ]
            responses = [future.result(timeout=30) for future in sent]
            waited = time.perf_counter() - started
        finally:
            release.set()
        for response in responses:
            assert response.status_code == 504
            error = response.json()["error"]
            assert error["code"] == "Timeout"
            assert error["message"] == "no answer within 0.3 s; retry, or send less"
        assert 0.3 <= waited < 5.0
        recovered = client.post("/v1/sentiment", json=documents(TEXT))
        assert recovered.status_code == 200
        assert answered_scores(recovered.json()) == expected_scores(sentiment_lstm_dir, [TEXT])
        samples = scrape(client)
        assert value(samples, "seqlab_rejections_total", reason="timeout") == 2
        assert requests_counted(samples, "/v1/sentiment", "POST", 504) == 2
        # The executor ran the handed-over item and then the recovery's; the queued item was
        # withdrawn when its request gave up, so it never ran.
        assert value(samples, "seqlab_batch_size_count", model="sentiment/predict") == 2
