"""``POST /v1/sentiment``: document sentiment in the shape of the Azure AI Language sentiment API
(v3.x document shape), so a client written for that service can switch by changing its URL.

Request: ``{"documents": [{"id": "1", "text": "...", "language": "en"}]}`` (``language`` is
read and ignored: a model knows the one language it was trained on).
Response: ``{"documents": [{"id", "sentiment", "confidenceScores": {label: p}, "warnings"}],
"errors": [{"id", "error": {"code", "message"}}], "modelVersion"}``. Labels are the model's own
(negative/positive for SST-2), not necessarily Azure's four.

As in Azure, a document that cannot be scored (empty, over ``max_chars`` characters, or over
the token limit under ``long_text="refuse"``) goes to ``errors`` while the others are scored; a
request with no documents, more than ``max_documents`` of them or two of one id is refused whole.
The token limit is the smaller of the service's ``max_tokens`` and the model's
``data.max_length`` (the model reads no more); under ``long_text="truncate"`` a longer document
keeps its first tokens and carries a ``DocumentTruncated`` warning, Azure's code for it.

Scoring goes through the model's batcher, so documents of concurrent requests share batches.
Reference: Azure AI Language REST API, "Sentiment Analysis" (v3.0/v3.1), the response's
``documents``, ``errors`` and ``modelVersion``, and the per-document ``warnings``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from seqlab.serve.calls import run_batched
from seqlab.serve.limits import (
    check_count,
    check_not_empty,
    check_unique_ids,
    text_too_long,
    unpaired_surrogate,
)
from seqlab.serve.settings import LongTextPolicy
from seqlab.serve.state import ServiceState

TASK = "sentiment"


class SentimentDocument(BaseModel):
    id: str = Field(min_length=1, description="unique within the request")
    text: str
    language: str | None = Field(None, description="read and ignored")


class SentimentRequest(BaseModel):
    documents: list[SentimentDocument]


class DocumentWarning(BaseModel):
    code: str
    message: str


class DocumentSentiment(BaseModel):
    id: str
    sentiment: str
    confidenceScores: dict[str, float]
    warnings: list[DocumentWarning]


class ErrorDetail(BaseModel):
    code: str
    message: str


class DocumentError(BaseModel):
    id: str
    error: ErrorDetail


class SentimentResponse(BaseModel):
    documents: list[DocumentSentiment]
    errors: list[DocumentError]
    modelVersion: str


@dataclass(frozen=True)
class PreparedText:
    """What the model reads of one document: ``text`` (the document, or its first tokens),
    ``tokens`` (its length with special tokens: the batcher's token budget counts these) and
    ``warning`` (why it was cut, or None)."""

    text: str
    tokens: int
    warning: str | None = None


def prepare_text(
    predictor: Any, text: str, *, max_tokens: int, long_text: LongTextPolicy
) -> PreparedText | str:
    """The document as the model will read it, or why it cannot be scored (a str).

    A text longer than the limit is cut at the end of its last token that fits (the tokenizer's
    character offsets), and counted again: a BPE vocabulary may split a cut word differently."""
    text_data = predictor.task_object.text_data
    tokenizer = text_data.encoder.tokenizer
    specials = int(text_data.add_cls) + int(text_data.pretrained)  # [CLS], and [SEP] for BERT
    model_limit = int(text_data.config.max_length)
    limit = min(max_tokens, model_limit)
    source = "max_tokens" if max_tokens <= model_limit else "the model's data.max_length"
    read = text[: predictor.max_chars]  # the model reads no further
    encoding = tokenizer.encode(read, add_special_tokens=False)
    if not encoding.ids:
        return "the document has no word the model reads"
    count = len(encoding.ids) + specials
    if count <= limit and len(read) == len(text):
        return PreparedText(read, count)
    if count > limit:
        problem = f"the document has {count:,} tokens, over the limit of {limit:,} ({source})"
    else:
        problem = (
            f"the document has {len(text):,} characters and the model reads its first "
            f"{len(read):,} (the model's data.max_chars)"
        )
    room = limit - specials
    if long_text == "refuse" or room < 1:
        return f"{problem}; send a shorter text"
    room = min(room, len(encoding.ids))
    while room > 0:
        kept = read[: encoding.offsets[room - 1][1]]
        kept_count = len(tokenizer.encode(kept, add_special_tokens=False).ids) + specials
        if kept_count <= limit:
            warning = f"{problem}; only its first {kept_count:,} tokens were read"
            return PreparedText(kept, kept_count, warning)
        room -= 1
    return f"{problem}; send a shorter text"


def router(state: ServiceState) -> APIRouter:
    routes = APIRouter()

    @routes.post("/v1/sentiment", tags=["sentiment"], response_model=SentimentResponse)
    async def sentiment(
        request: SentimentRequest,
        model: str | None = Query(None, description="a loaded sentiment model's name"),
    ) -> SentimentResponse:
        """Each document's sentiment and confidence scores (Azure AI Language shape)."""
        loaded = state.model_for(TASK, model)
        settings = state.settings
        documents = request.documents
        check_not_empty(len(documents), field="documents", noun="document")
        check_count(
            len(documents),
            settings.max_documents,
            field="documents",
            noun="document",
            setting="max_documents",
        )
        check_unique_ids((document.id for document in documents), field="documents")

        predictor = loaded.predictor
        errors: list[DocumentError] = []
        scored: list[tuple[str, PreparedText]] = []
        for document in documents:
            problem = _refusal(document.text, settings.max_chars)
            prepared = problem or prepare_text(
                predictor,
                document.text,
                max_tokens=settings.max_tokens,
                long_text=settings.long_text,
            )
            if isinstance(prepared, str):
                detail = ErrorDetail(code="InvalidDocument", message=prepared)
                errors.append(DocumentError(id=document.id, error=detail))
            else:
                scored.append((document.id, prepared))

        results: list[dict[str, Any]] = []
        if scored:
            batcher = state.batcher(loaded, "predict", predictor.predict)
            results = await run_batched(
                state,
                batcher,
                [prepared.text for _, prepared in scored],
                [prepared.tokens for _, prepared in scored],
                field="documents",
            )
        answers = [
            DocumentSentiment(
                id=document_id,
                sentiment=result["sentiment"],
                confidenceScores=result["confidenceScores"],
                warnings=[]
                if prepared.warning is None
                else [DocumentWarning(code="DocumentTruncated", message=prepared.warning)],
            )
            for (document_id, prepared), result in zip(scored, results, strict=True)
        ]
        return SentimentResponse(documents=answers, errors=errors, modelVersion=loaded.name)

    return routes


def _refusal(text: str, max_chars: int) -> str | None:
    """Why a document is not scored before it is even tokenized: empty, no text, or too long."""
    if not text.strip():
        return "the document is empty; give it at least one word"
    return unpaired_surrogate(text) or text_too_long(text, max_chars)
