"""``POST /v1/generate``: the text a language model writes after a prompt.

Request: ``{"prompt", "max_tokens", "temperature", "top_k", "top_p", "seed", "stream"}``; the
sampling settings are seqlab.infer.sampling's (temperature 0 is greedy; a seed makes the answer
repeatable), ``max_tokens`` new tokens (100 unless given) at most ``max_generate_tokens``, the
prompt at most ``max_chars`` characters. Without ``stream``: ``{"text", "tokens", "prompt"}``,
``text`` being what follows the prompt and ``tokens`` how many were drawn. With
``"stream": true``: server-sent events (``text/event-stream``), one ``data: {"text": piece}``
per piece of text as it is produced, then ``event: done`` with ``{"text", "tokens", "prompt"}``;
a failure after the stream began is an ``event: error`` with the usual error body.

Every step of the model runs in the model executor, never on the event loop: reading the prompt,
then each ``next()`` of the token iterator, one executor call per token, so a long generation
takes turns with other models' batches instead of holding the model thread (the request timeout
bounds each step; ``max_tokens`` bounds the steps). A client that goes away stops the
generation: the response's task is cancelled between tokens and the iterator is closed, so no
token is computed for nobody.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from seqlab.errors import SeqlabError
from seqlab.infer.sampling import SamplingSettings
from seqlab.serve.calls import run_in_executor
from seqlab.serve.errors import ApiError
from seqlab.serve.limits import check_at_most, check_text_length
from seqlab.serve.state import ServiceState

TASK = "lm"

DEFAULT_MAX_TOKENS = 100

_OPTION_FIELDS = ("temperature", "top_k", "top_p", "max_new_tokens")


class GenerateRequest(BaseModel):
    prompt: str = Field("", description="the text to continue (empty: start a new line)")
    max_tokens: int | None = Field(
        None,
        ge=0,
        description=f"new tokens at most (default {DEFAULT_MAX_TOKENS}, or the "
        "service's max_generate_tokens when that is lower)",
    )
    temperature: float = Field(1.0, ge=0, allow_inf_nan=False, description="0: greedy")
    top_k: int | None = Field(None, ge=1, description="draw from the k most likely tokens")
    top_p: float | None = Field(None, gt=0, le=1, description="nucleus sampling's p")
    seed: int | None = Field(None, ge=0, lt=2**63, description="the same seed, the same text")
    stream: bool = Field(False, description="answer with server-sent events, piece by piece")


class GenerateResponse(BaseModel):
    text: str
    tokens: int
    prompt: str


class _Generation:
    """One generation's pieces of text and how many tokens they took. ``start`` (the prompt's
    pass through the model) and each ``step`` run in the model executor."""

    def __init__(self, predictor: Any, request: GenerateRequest) -> None:
        self.predictor = predictor
        self.request = request
        self.tokens = 0
        self.pieces: Iterator[str] | None = None

    def start(self) -> None:
        """Read the prompt; the predictor's refusals become 422s naming the option."""
        request = self.request
        try:
            ids = self.predictor.generate_ids(
                request.prompt,
                max_new_tokens=request.max_tokens,
                temperature=request.temperature,
                top_k=request.top_k,
                top_p=request.top_p,
                seed=request.seed,
            )
        except (SeqlabError, ValueError) as error:
            message = str(error)
            raise ApiError(422, "InvalidArgument", message, field=_option_field(message)) from None
        # The predictor's own piece rule (a piece never ends inside a character), over the ids
        # counted on their way through.
        self.pieces = self.predictor.pieces(self._counted(ids))

    def _counted(self, ids: Iterator[int]) -> Iterator[int]:
        for token in ids:
            self.tokens += 1
            yield token

    def step(self) -> str | None:
        """The next piece of text, or None at the end."""
        assert self.pieces is not None
        return next(self.pieces, None)

    def close(self) -> None:
        close = getattr(self.pieces, "close", None)  # a generator's: it computes nothing more
        if close is not None:
            close()


def check_options(request: GenerateRequest) -> None:
    """The sampling settings as seqlab.infer.sampling checks them, before any model runs; the
    error names the option its message starts with."""
    try:
        SamplingSettings(temperature=request.temperature, top_k=request.top_k, top_p=request.top_p)
    except ValueError as error:
        message = str(error)
        raise ApiError(422, "InvalidArgument", message, field=_option_field(message)) from None


def router(state: ServiceState) -> APIRouter:
    routes = APIRouter()

    @routes.post(
        "/v1/generate",
        tags=["generation"],
        response_model=GenerateResponse,
        responses={200: {"content": {"text/event-stream": {}}}},
    )
    async def generate(
        request: GenerateRequest,
        model: str | None = Query(None, description="a loaded language model's name"),
    ) -> Any:
        """The text after the prompt, whole or (``stream``) as server-sent events."""
        loaded = state.model_for(TASK, model)
        settings = state.settings
        check_text_length(request.prompt, settings.max_chars, field="prompt")
        if request.max_tokens is None:
            default = min(DEFAULT_MAX_TOKENS, settings.max_generate_tokens)
            request = request.model_copy(update={"max_tokens": default})
        else:
            check_at_most(
                request.max_tokens,
                settings.max_generate_tokens,
                field="max_tokens",
                setting="max_generate_tokens",
            )
        check_options(request)
        generation = _Generation(loaded.predictor, request)
        try:
            await run_in_executor(state, generation.start)
        except BaseException:
            _close_later(state, generation)
            raise
        if request.stream:
            return StreamingResponse(
                _events(state, generation),
                media_type="text/event-stream",
                headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
            )
        try:
            text = "".join([piece async for piece in _pieces(state, generation)])
        finally:
            _close_later(state, generation)
        return GenerateResponse(text=text, tokens=generation.tokens, prompt=request.prompt)

    return routes


async def _pieces(state: ServiceState, generation: _Generation) -> AsyncIterator[str]:
    """The generation's pieces, each ``next()`` one call in the model executor."""
    step: Callable[[], str | None] = generation.step
    while True:
        piece = await run_in_executor(state, step)
        if piece is None:
            return
        yield piece


async def _events(state: ServiceState, generation: _Generation) -> AsyncIterator[str]:
    """Server-sent events: ``data`` per piece, then ``done`` (or ``error``). Cancelled when the
    client goes away; the iterator is then closed in the model executor, after the step that
    may still be running there (one thread: its calls run in order)."""
    request = generation.request
    text: list[str] = []
    try:
        async for piece in _pieces(state, generation):
            text.append(piece)
            yield _event({"text": piece})
        totals = {"text": "".join(text), "tokens": generation.tokens, "prompt": request.prompt}
        yield _event(totals, name="done")
    except ApiError as error:  # a step timed out or was refused after the stream began
        yield _event(error.body(), name="error")
    finally:
        _close_later(state, generation)


def _event(data: dict[str, Any], *, name: str | None = None) -> str:
    head = f"event: {name}\n" if name is not None else ""
    return f"{head}data: {json.dumps(data, ensure_ascii=False)}\n\n"


def _close_later(state: ServiceState, generation: _Generation) -> None:
    """Close the generation in the model executor, after any step of it still running there
    (one thread: its calls run in order); without an executor (shut down) nothing runs there."""
    try:
        state.executor.submit(generation.close)
    except RuntimeError:  # the executor is shut down: no step of it can be running
        generation.close()


def _option_field(message: str) -> str | None:
    """The request field a sampling error is about (its message starts with the option)."""
    name = next((name for name in _OPTION_FIELDS if message.startswith(name)), None)
    return "max_tokens" if name == "max_new_tokens" else name
