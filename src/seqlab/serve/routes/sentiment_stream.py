"""``WS /v1/sentiment/stream?model=NAME``: the running sentiment of a text while it is typed.

The client sends JSON messages, each answered by one message:

- ``{"text": "more typed text"}`` appends to the connection's text;
- ``{"reset": true}`` starts an empty text (``{"reset": true, "text": "..."}``: start again with
  that text);
- the answer is ``{"label", "scores", "tokens", "mode", "seconds", "clipped"}``: the prediction
  for the whole text so far (``SentimentPredictor.stream().push``, seqlab.infer.streaming), how
  many tokens the model read, ``mode`` "incremental" (a unidirectional recurrent model carries
  its state: one step per new token) or "re-encode" (the whole text is read again), and the
  model's seconds for the push;
- a malformed message is answered with ``{"error": {"code", "message", "field"}}`` (the shape of
  the HTTP errors) and the connection stays open.

Each connection has its own stream, so a recurrent model's state belongs to one connection; every
push runs in the model executor (one thread: a stream's state is never touched by two threads).
Limits: at most ``max_stream_connections`` open streams (the next one is accepted and closed at
once with 1013, "try again later", and the reason); ``max_chars`` characters per message (the
error's code is TextTooLong, as in the HTTP routes' 413); a connection idle for
``stream_idle_timeout_s`` is closed with 1000 and the reason. A browser cannot put headers on a
WebSocket, so the API key may come as ``?api-key=`` (middleware.py).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any

from fastapi import APIRouter, Query, WebSocket, WebSocketDisconnect
from starlette.websockets import WebSocketState

from seqlab.infer.streaming import ClassifierStream, StreamResult
from seqlab.serve.calls import run_in_executor
from seqlab.serve.errors import ApiError
from seqlab.serve.limits import text_too_long, unpaired_surrogate
from seqlab.serve.state import ServiceState

# WebSocket close codes (RFC 6455, sec. 7.4.1, and the IANA registry).
NORMAL_CLOSURE = 1000
POLICY_VIOLATION = 1008
TRY_AGAIN_LATER = 1013
MAX_REASON_BYTES = 123  # a close frame's reason (RFC 6455, sec. 5.5: control frames <= 125 bytes)


@dataclass(frozen=True)
class StreamMessage:
    """One client message, checked: start again first (``reset``), then append ``text``."""

    text: str
    reset: bool


def router(state: ServiceState) -> APIRouter:
    routes = APIRouter()
    open_streams = 0  # this application's open connections

    @routes.websocket("/v1/sentiment/stream")
    async def sentiment_stream(
        websocket: WebSocket,
        model: str | None = Query(None, description="a loaded sentiment model's name"),
    ) -> None:
        nonlocal open_streams
        await websocket.accept()
        if open_streams >= state.settings.max_stream_connections:
            state.metrics.rejections.labels(reason="stream_limit").inc()
            limit = state.settings.max_stream_connections
            await _close(websocket, TRY_AGAIN_LATER, f"{limit} streams are open; try again later")
            return
        open_streams += 1
        state.metrics.stream_connections.inc()
        try:
            await _serve(websocket, state, model)
        except WebSocketDisconnect:
            pass  # the client left
        finally:
            open_streams -= 1
            state.metrics.stream_connections.dec()

    return routes


async def _serve(websocket: WebSocket, state: ServiceState, model_name: str | None) -> None:
    try:
        chosen = state.model_for("sentiment", model_name)
        stream: ClassifierStream = await run_in_executor(state, chosen.predictor.stream)
    except ApiError as error:
        await websocket.send_json(error.body())
        await _close(websocket, POLICY_VIOLATION, error.message)
        return
    idle = state.settings.stream_idle_timeout_s
    while True:
        try:
            message = await asyncio.wait_for(websocket.receive(), timeout=idle)
        except TimeoutError:
            await _close(websocket, NORMAL_CLOSURE, f"idle for {idle:g} s; connect again to go on")
            return
        if message["type"] == "websocket.disconnect":
            return
        try:
            checked = _parse(message, max_chars=state.settings.max_chars)
            result = await run_in_executor(state, partial(_push, stream, checked), field="text")
        except ApiError as error:
            await websocket.send_json(error.body())
            continue
        await websocket.send_json(_answer(result))


def _push(stream: ClassifierStream, message: StreamMessage) -> StreamResult:
    if message.reset:
        stream.reset()
    return stream.push(message.text)


def _answer(result: StreamResult) -> dict[str, Any]:
    return {
        "label": result.label,
        "scores": result.scores,
        "tokens": result.tokens,
        "mode": result.mode,
        "seconds": result.seconds,
        "clipped": result.clipped,
    }


def _invalid(message: str, field: str) -> ApiError:
    return ApiError(422, "InvalidArgument", message, field=field)


def _parse(message: Mapping[str, Any], *, max_chars: int) -> StreamMessage:
    """A received WebSocket message -> StreamMessage, or the ApiError naming the field at fault."""
    raw = message.get("text")
    if raw is None:
        data = message.get("bytes") or b""
        try:
            raw = data.decode("utf-8")
        except UnicodeDecodeError:
            raise _invalid("the message is not UTF-8 text; send JSON", "message") from None
    try:
        body = json.loads(raw)
    except json.JSONDecodeError as error:
        raise ApiError(
            400, "InvalidJson", f"the message is not valid JSON: {error.msg}", field="message"
        ) from None
    if not isinstance(body, dict):
        raise _invalid(
            'the message must be a JSON object: {"text": "..."} or {"reset": true}', "message"
        )
    unknown = sorted(set(body) - {"text", "reset"})
    if unknown:
        raise _invalid(
            f"unknown field {unknown[0]!r}; a message has only text and reset", unknown[0]
        )
    if "text" not in body and "reset" not in body:
        raise _invalid('the message has no text; send {"text": "..."} or {"reset": true}', "text")
    reset = body.get("reset", False)
    if not isinstance(reset, bool):
        raise _invalid(f"reset must be true or false, got {_json_type(reset)}", "reset")
    text = body.get("text", "")
    if not isinstance(text, str):
        raise _invalid(f"text must be a string, got {_json_type(text)}", "text")
    broken = unpaired_surrogate(text)
    if broken is not None:
        raise _invalid(broken, "text")
    too_long = text_too_long(text, max_chars)
    if too_long is not None:
        raise ApiError(413, "TextTooLong", f"text: {too_long}", field="text")
    return StreamMessage(text=text, reset=reset)


def _json_type(value: Any) -> str:
    """The JSON name of a decoded value's type, as the client wrote it."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "an array" if isinstance(value, list) else "an object"


async def _close(websocket: WebSocket, code: int, reason: str) -> None:
    if WebSocketState.DISCONNECTED in (websocket.application_state, websocket.client_state):
        return
    encoded = reason.encode()[:MAX_REASON_BYTES].decode("utf-8", errors="ignore")
    await websocket.close(code=code, reason=encoded)
