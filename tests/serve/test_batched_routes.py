"""Dynamic batching through the routes: concurrent requests (asyncio against the ASGI app) are each
answered with their own results, equal to unbatched calls of the predictor, while the metrics
show that they ran in shared batches; with batching off, every batch holds one item."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import torch
from prometheus_client.parser import text_string_to_metric_families

import seqlab
from seqlab.serve import ServeSettings, ServiceState, create_app, load_models

REVIEWS = [
    "a great movie", "awful", "the plot was boring", "wonderful acting", "a terrible film",
    "lovely", "poor and boring", "superb story", "the movie was great", "bad",
    "this film was lovely", "the acting was awful",
]  # fmt: skip
SENTENCES = ["Eins zwei.", "Rot blau grün.", "Drei.", "Gelb schwarz vier fünf.", "Zwei rot.",
             "Blau.", "Fünf vier drei zwei eins.", "Grün gelb."]  # fmt: skip


@asynccontextmanager
async def _service(specs: list[str], **settings: Any) -> AsyncIterator[httpx.AsyncClient]:
    state = ServiceState(models=load_models(specs), settings=ServeSettings(**settings))
    transport = httpx.ASGITransport(app=create_app(state))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://service") as client:
            yield client
    finally:
        await state.close()


def _batch_sizes(exposition: str, model: str) -> tuple[int, int]:
    """(batches, batches of one item) in the seqlab_batch_size histogram of ``model``."""
    batches = single = 0
    for family in text_string_to_metric_families(exposition):
        if family.name != "seqlab_batch_size":
            continue
        for sample in family.samples:
            if sample.labels.get("model") != model:
                continue
            if sample.name == "seqlab_batch_size_count":
                batches = int(sample.value)
            elif sample.name == "seqlab_batch_size_bucket" and sample.labels["le"] == "1.0":
                single = int(sample.value)
    return batches, single


async def _score_concurrently(client: httpx.AsyncClient) -> list[httpx.Response]:
    """One request per review, plus one request of three documents, all at once."""
    requests = [
        client.post("/v1/sentiment", json={"documents": [{"id": "only", "text": text}]})
        for text in REVIEWS
    ]
    several = {"documents": [{"id": f"d{i}", "text": t} for i, t in enumerate(REVIEWS[:3])]}
    requests.append(client.post("/v1/sentiment", json=several))
    return list(await asyncio.gather(*requests))


def _assert_own_scores(responses: list[httpx.Response], reference: Any) -> None:
    for response, text in zip(responses, REVIEWS, strict=False):
        assert response.status_code == 200
        (document,) = response.json()["documents"]
        (expected,) = reference.predict([text])
        assert document["sentiment"] == expected["sentiment"]
        for label, score in expected["confidenceScores"].items():
            assert document["confidenceScores"][label] == pytest.approx(score, abs=1e-5)
    several = responses[-1].json()["documents"]
    assert [document["id"] for document in several] == ["d0", "d1", "d2"]
    for document, text in zip(several, REVIEWS[:3], strict=True):
        (expected,) = reference.predict([text])
        for label, score in expected["confidenceScores"].items():
            assert document["confidenceScores"][label] == pytest.approx(score, abs=1e-5)


def test_concurrent_sentiment_requests_share_batches_and_get_their_own_scores(
    sentiment_lstm_dir: Path,
) -> None:
    reference = seqlab.load(sentiment_lstm_dir)

    async def run() -> tuple[list[httpx.Response], str]:
        # A wait long enough that all requests, sent at once, gather in one or two batches.
        async with _service([f"reviews={sentiment_lstm_dir}"], max_wait_ms=50.0) as client:
            responses = await _score_concurrently(client)
            return responses, (await client.get("/metrics")).text

    responses, exposition = asyncio.run(run())
    _assert_own_scores(responses, reference)
    batches, single = _batch_sizes(exposition, "reviews/predict")
    assert batches >= 1
    assert batches - single >= 1  # at least one batch of more than one item
    assert batches < len(REVIEWS) + 3  # fewer model calls than items


def test_with_batching_off_every_batch_holds_one_item(sentiment_lstm_dir: Path) -> None:
    reference = seqlab.load(sentiment_lstm_dir)

    async def run() -> tuple[list[httpx.Response], str]:
        async with _service([f"reviews={sentiment_lstm_dir}"], batching=False) as client:
            responses = await _score_concurrently(client)
            return responses, (await client.get("/metrics")).text

    responses, exposition = asyncio.run(run())
    _assert_own_scores(responses, reference)
    assert _batch_sizes(exposition, "reviews/predict") == (len(REVIEWS) + 3, len(REVIEWS) + 3)


def test_concurrent_translations_share_beam_searches_and_get_their_own_text(
    translation_dir: Path,
) -> None:
    reference = seqlab.load(translation_dir)

    async def run() -> tuple[list[httpx.Response], str]:
        async with _service([f"de-en={translation_dir}"], max_wait_ms=50.0) as client:
            responses = await asyncio.gather(
                *(client.post("/v1/translate", json=[{"text": text}]) for text in SENTENCES)
            )
            return list(responses), (await client.get("/metrics")).text

    responses, exposition = asyncio.run(run())
    for response, sentence in zip(responses, SENTENCES, strict=True):
        assert response.status_code == 200
        assert response.json() == [
            {"translations": [{"text": reference.translate([sentence])[0], "to": "en"}]}
        ]
    batches, single = _batch_sizes(exposition, "de-en/translate")
    assert batches - single >= 1
    assert batches < len(SENTENCES)


def test_a_transformer_scores_a_mixed_length_batch_as_each_text_alone(
    sentiment_transformer_dir: Path,
) -> None:
    # The predictor runs a Transformer's batch in groups of similar length (data.batching's
    # length_groups); each text must still get the probabilities it gets alone, in order.
    predictor = seqlab.load(sentiment_transformer_dir)
    texts = ["good", "the acting was wonderful and the story was great", "bad", "the plot was"]
    together = predictor.probabilities(texts)  # (N, C)
    alone = torch.cat([predictor.probabilities([text]) for text in texts])  # (N, C)
    torch.testing.assert_close(together, alone, rtol=1e-5, atol=1e-6)
