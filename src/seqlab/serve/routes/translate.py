"""``POST /v1/translate``: translation in the shape of the Azure Translator v3 ``translate`` call,
so a client written for that service can switch by changing its URL.

Request: a list ``[{"text": "..."}]`` (Azure's ``"Text"`` is read too), at most
``max_documents`` texts of at most ``max_chars`` characters; the query parameters ``from`` and
``to`` are optional and, when given, must be the model's source and target language (a model
translates one direction). Response: ``[{"translations": [{"text": "...", "to": "en"}]}]``, one
element per text in order. A text with no words gets an empty translation, as Azure's does.

A text of at most the model's ``data.max_length`` subwords is one sentence to the model: it goes
through the model's batcher, so sentences of concurrent requests share beam searches. A longer
text goes through the long-document path (``translate_document``: split at sentence boundaries,
translated window by window with context, stitched), one text at a time in the model executor.
Reference: Azure Translator REST API v3.0, "Translate" (request body, ``from``/``to``, response).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Query
from pydantic import AliasChoices, BaseModel, Field

from seqlab.serve.calls import run_batched, run_in_executor
from seqlab.serve.errors import ApiError
from seqlab.serve.limits import check_count, check_not_empty, check_text_length
from seqlab.serve.state import LoadedModel, ServiceState

TASK = "translation"


class TextItem(BaseModel):
    text: str = Field(validation_alias=AliasChoices("text", "Text"))


class Translation(BaseModel):
    text: str
    to: str


class TranslationResult(BaseModel):
    translations: list[Translation]


def model_languages(loaded: LoadedModel) -> tuple[str | None, str | None]:
    """(source, target) language codes the model's config names, None where it names none."""
    data = loaded.predictor.config.get("data", {})
    source, target = data.get("source_lang"), data.get("target_lang")
    return (str(source) if source else None, str(target) if target else None)


def _check_language(given: str | None, known: str | None, *, field: str, role: str) -> None:
    if given is not None and known is not None and given.lower() != known.lower():
        raise ApiError(
            400,
            "UnsupportedLanguage",
            f"{field}={given!r}: this model translates {role} {known!r} only; leave {field} out "
            "or pick a model of that direction (GET /v1/models)",
            field=field,
        )


def router(state: ServiceState) -> APIRouter:
    routes = APIRouter()

    @routes.post("/v1/translate", tags=["translation"], response_model=list[TranslationResult])
    async def translate(
        texts: list[TextItem],
        to: str | None = Query(None, description="the target language (the model's only)"),
        from_: str | None = Query(
            None, alias="from", description="the source language (the model's only)"
        ),
        model: str | None = Query(None, description="a loaded translation model's name"),
    ) -> list[TranslationResult]:
        """One translation per text, in order (Azure Translator v3 shape)."""
        loaded = state.model_for(TASK, model)
        settings = state.settings
        source_lang, target_lang = model_languages(loaded)
        _check_language(from_, source_lang, field="from", role="from")
        _check_language(to, target_lang, field="to", role="into")
        check_not_empty(len(texts), field="body", noun="text")
        check_count(
            len(texts), settings.max_documents, field="body", noun="text", setting="max_documents"
        )
        for index, item in enumerate(texts):
            check_text_length(item.text, settings.max_chars, field=f"[{index}].text")

        predictor = loaded.predictor
        count_tokens = predictor.task_object.tokenizers.source.count_tokens
        translations = [""] * len(texts)  # a text with no words translates to nothing
        sentences: list[int] = []
        documents: list[int] = []
        tokens: list[int] = []
        for index, item in enumerate(texts):
            if not item.text.strip():
                continue
            count = count_tokens(item.text)
            if count <= predictor.max_tokens:
                sentences.append(index)
                tokens.append(count)
            else:
                documents.append(index)
        if sentences:
            batcher = state.batcher(loaded, "translate", predictor.translate)
            found = await run_batched(
                state, batcher, [texts[index].text for index in sentences], tokens, field="body"
            )
            for index, translation in zip(sentences, found, strict=True):
                translations[index] = translation
        for index in documents:
            translations[index] = await run_in_executor(
                state, _document_work(predictor, texts[index].text), field=f"[{index}].text"
            )
        to_lang = target_lang or to or "und"  # BCP 47's "undetermined" when nobody says
        return [
            TranslationResult(translations=[Translation(text=text, to=to_lang)])
            for text in translations
        ]

    return routes


def _document_work(predictor: Any, text: str) -> Callable[[], str]:
    def work() -> str:
        return str(predictor.translate_document(text).text)

    return work
