"""``POST /v1/attention``: what a model attends to while it reads one text (the page's heatmaps).

- A Transformer sentiment model (families transformer and minilm): every layer's self-attention
  weights per head over the tokens it reads, and its prediction from the same pass
  (``SentimentPredictor.attention``; Vaswani et al. 2017, eq. 1, recorded on the reference path).
- A translation model: its translation and the cross-attention alignment, where each target
  subword looked in the source (``TranslationPredictor.alignment``; Bahdanau et al. 2015, fig. 3).
- A recurrent sentiment model has no attention: 422 naming ``model``.

The model is picked with ``?model=NAME``; without it, the first loaded model that has attention
(a Transformer sentiment model, else a translation model). The text's limits are checked before
any model runs: ``max_chars`` characters (413, as on every route) and ``max_tokens`` tokens
(422; the maps grow as tokens squared). The work is not batched (one text; its answer dwarfs the
model call) and runs in the model executor, the answer's JSON included: the largest maps are
megabytes of numbers, which must not hold up the event loop. Weights are rounded to 4 decimals,
finer than a heatmap shows.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, Literal

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, Field

from seqlab.errors import SeqlabError
from seqlab.serve.calls import run_in_executor
from seqlab.serve.errors import ApiError
from seqlab.serve.limits import check_text_length
from seqlab.serve.state import LoadedModel, ServiceState

DECIMALS = 4  # of the attention weights in the answer


class AttentionRequest(BaseModel):
    text: str = Field(description="one text: a review for sentiment, a sentence for translation")


class LayerAttention(BaseModel):
    name: str = Field(description="the attention module's name in the model")
    heads: list[list[list[float]]] = Field(
        description="heads[h][i][j]: the weight token i gives token j in head h (rows sum to 1)"
    )


class AttentionResponse(BaseModel):
    model: str
    task: Literal["sentiment", "translation"]
    kind: Literal["self-attention", "cross-attention"]
    # sentiment (self-attention)
    tokens: list[str] | None = Field(None, description="the tokens the model reads")
    truncated: bool | None = Field(None, description="the model read only part of the text")
    layers: list[LayerAttention] | None = None
    sentiment: str | None = None
    confidenceScores: dict[str, float] | None = None  # camelCase as in POST /v1/sentiment
    # translation (cross-attention)
    translation: str | None = None
    sourceTokens: list[str] | None = None
    targetTokens: list[str] | None = None
    alignment: list[list[float]] | None = Field(
        None, description="alignment[t][s]: attention target subword t paid to source subword s"
    )


def router(state: ServiceState) -> APIRouter:
    routes = APIRouter()

    @routes.post(
        "/v1/attention",
        tags=["models"],
        response_model=AttentionResponse,
        summary="Attention maps of a Transformer sentiment model, or a translation's alignment",
    )
    async def attention(
        request: AttentionRequest,
        model: str | None = Query(None, description="a loaded model's name (GET /v1/models)"),
    ) -> Response:
        chosen = _model_with_attention(state, model)
        text = _checked_text(state, request.text)
        if chosen.task == "sentiment":
            work = _sentiment_maps(state, chosen, text)
        else:
            work = _translation_alignment(state, chosen, text)
        body = await run_in_executor(state, work, field="text")
        return Response(body, media_type="application/json")

    return routes


def _model_with_attention(state: ServiceState, name: str | None) -> LoadedModel:
    loaded = state.loaded_summary(families=True)
    if name is None:
        candidates = [m for m in state.models.values() if _has_attention(m)]
        candidates.sort(key=lambda m: m.task != "sentiment")  # stable: load order within a task
        if not candidates:
            raise ApiError(
                404,
                "ModelNotFound",
                f"no Transformer sentiment model or translation model is loaded; {loaded}",
            )
        return candidates[0]
    chosen = state.models.get(name)
    if chosen is None:
        raise ApiError(404, "ModelNotFound", f"no model named {name!r}; {loaded}", field="model")
    if chosen.task == "sentiment" and not _has_attention(chosen):
        raise ApiError(
            422,
            "NoAttention",
            f"model {name!r} ({chosen.family}) has no attention: it is a recurrent model; "
            "attention maps need a Transformer sentiment model or a translation model",
            field="model",
        )
    if chosen.task not in ("sentiment", "translation"):
        raise ApiError(
            422,
            "NoAttention",
            f"model {name!r} is a {chosen.task} model; attention maps are drawn for Transformer "
            "sentiment models and translation models",
            field="model",
        )
    return chosen


def _has_attention(model: LoadedModel) -> bool:
    if model.task == "sentiment":
        return bool(model.predictor.has_attention)
    return model.task == "translation"


def _checked_text(state: ServiceState, text: str) -> str:
    if not text.strip():
        raise ApiError(
            422, "InvalidArgument", "text is empty; give at least one word", field="text"
        )
    check_text_length(text, state.settings.max_chars, field="text")
    return text


def _sentiment_maps(state: ServiceState, model: LoadedModel, text: str) -> Callable[[], bytes]:
    def work() -> bytes:
        maps = model.predictor.attention(text, max_tokens=state.settings.max_tokens)
        layers = [
            {"name": layer["name"], "heads": [_rounded(head) for head in layer["heads"]]}
            for layer in maps["layers"]
        ]
        return _json(
            {
                "model": model.name,
                "task": "sentiment",
                "kind": "self-attention",
                **maps,
                "layers": layers,
            }
        )

    return work


def _translation_alignment(
    state: ServiceState, model: LoadedModel, text: str
) -> Callable[[], bytes]:
    predictor = model.predictor

    def work() -> bytes:
        count = predictor.task_object.tokenizers.source.count_tokens(text)
        limit = state.settings.max_tokens
        if count > limit:
            raise SeqlabError(
                f"text has {count} subwords, more than max_tokens ({limit}); an alignment is "
                "drawn for one sentence: send a shorter one"
            )
        alignment = predictor.alignment(text)
        return _json(
            {
                "model": model.name,
                "task": "translation",
                "kind": "cross-attention",
                "translation": alignment.translation,
                "sourceTokens": alignment.source_tokens,
                "targetTokens": alignment.target_tokens,
                "alignment": _rounded(alignment.weights),
            }
        )

    return work


def _rounded(matrix: list[list[float]]) -> list[list[float]]:
    return [[round(weight, DECIMALS) for weight in row] for row in matrix]


def _json(body: dict[str, Any]) -> bytes:
    return json.dumps(body, separators=(",", ":"), allow_nan=False).encode()
