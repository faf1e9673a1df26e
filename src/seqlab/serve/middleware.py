"""What every request passes through, as one plain ASGI middleware (cheaper than Starlette's
BaseHTTPMiddleware, which costs a task per request):

- the body-size limit: a body over ``max_body_bytes`` (by Content-Length, or counted while it
  arrives) gets 413 before any route reads it;
- the optional API key on ``/v1`` routes, compared in constant time (``hmac.compare_digest``);
  the health routes, the metrics and the page stay open. A browser cannot put headers on a
  WebSocket, so a WebSocket may give the key as the ``api-key`` query parameter instead;
- one log line per request (method, path, status, milliseconds) on the ``seqlab.serve`` logger;
- the request counters and latency histograms, labelled by the route's template (``/v1/sentiment``),
  never by the raw path, so unknown paths cannot grow the metrics without bound.
"""

from __future__ import annotations

import hmac
import json
import logging
import time
from typing import Any
from urllib.parse import parse_qs

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from seqlab.serve.errors import ApiError
from seqlab.serve.state import ServiceState

LOG = logging.getLogger("seqlab.serve")

KEY_HEADERS = (b"x-api-key", b"ocp-apim-subscription-key")


class ServiceMiddleware:
    def __init__(self, app: ASGIApp, state: ServiceState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = {"code": 0}

        async def send_and_note(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            elif message["type"] == "websocket.accept":
                status["code"] = 101
            elif message["type"] == "websocket.close" and not status["code"]:
                status["code"] = 403  # closed before accepting: refused
            await send(message)

        refusal = self._refusal(scope)
        try:
            if refusal is not None:
                await _answer(scope, receive, send_and_note, refusal)
            elif scope["type"] == "http":
                body = await self._read_body(scope, receive)
                if isinstance(body, ApiError):
                    await _answer(scope, receive, send_and_note, body)
                else:
                    await self.app(scope, _replay(body, receive), send_and_note)
            else:
                await self.app(scope, receive, send_and_note)
        finally:
            self._note(scope, status["code"] or 500, time.perf_counter() - started)

    def _refusal(self, scope: Scope) -> ApiError | None:
        key = self.state.settings.api_key
        if key is None or not scope["path"].startswith("/v1"):
            return None
        headers = dict(scope.get("headers", []))
        given = next((headers[name] for name in KEY_HEADERS if name in headers), None)
        if given is None and scope["type"] == "websocket":
            query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
            given = query.get("api-key", [""])[0].encode("latin-1") or None
        if given is not None and hmac.compare_digest(given, key.encode()):
            return None
        self.state.metrics.rejections.labels(reason="unauthorized").inc()
        return ApiError(
            401,
            "Unauthorized",
            "this route needs the API key in the X-API-Key header",
            field="X-API-Key",
        )

    async def _read_body(self, scope: Scope, receive: Receive) -> bytes | ApiError:
        limit = self.state.settings.max_body_bytes
        too_large = ApiError(
            413,
            "PayloadTooLarge",
            f"the request body is over {limit} bytes; send fewer or shorter documents",
            field="body",
        )
        headers = dict(scope.get("headers", []))
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            self.state.metrics.rejections.labels(reason="too_large").inc()
            return too_large
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                self.state.metrics.rejections.labels(reason="too_large").inc()
                return too_large
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks)

    def _note(self, scope: Scope, status: int, seconds: float) -> None:
        route = scope.get("route")
        template = getattr(route, "path", None) or "unmatched"
        method = scope.get("method", "WS")
        metrics = self.state.metrics
        metrics.requests.labels(route=template, method=method, status=str(status)).inc()
        metrics.latency.labels(route=template).observe(seconds)
        LOG.info("%s %s %d %.1f ms", method, scope["path"], status, seconds * 1000)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A receive that gives the body already read, then passes on the real one's messages (a
    streamed response listens there for the client going away)."""
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed


async def _answer(scope: Scope, receive: Receive, send: Send, error: ApiError) -> None:
    if scope["type"] == "websocket":
        await receive()  # the websocket.connect message
        # 1008: policy violation. The reason is short: a close frame holds at most 123 bytes.
        await send({"type": "websocket.close", "code": 1008, "reason": error.code})
        return
    body = json.dumps(error.body()).encode()
    headers: list[Any] = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
    ]
    headers += [(k.lower().encode(), v.encode()) for k, v in error.headers.items()]
    await send({"type": "http.response.start", "status": error.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
