"""``GET /healthz`` (the process answers), ``GET /readyz`` (models loaded and serving),
``GET /v1/models`` (what is loaded) and ``GET /metrics`` (Prometheus text format).

The handlers are ``async``: they do no blocking work, and a plain function would cost a trip
through the thread pool on every probe."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse

from seqlab.serve.metrics import CONTENT_TYPE
from seqlab.serve.state import ServiceState


def router(state: ServiceState) -> APIRouter:
    routes = APIRouter()

    @routes.get("/healthz", tags=["service"])
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @routes.get("/readyz", tags=["service"])
    async def readyz() -> JSONResponse:
        ready = state.ready and bool(state.models)
        body = {"status": "ready" if ready else "not ready", "models": len(state.models)}
        return JSONResponse(body, status_code=200 if ready else 503)

    @routes.get("/v1/models", tags=["service"])
    async def models() -> dict[str, Any]:
        return {"models": [model.describe() for model in state.models.values()]}

    @routes.get("/metrics", tags=["service"], response_class=Response)
    async def metrics() -> Response:
        return Response(state.metrics.exposition(), media_type=CONTENT_TYPE)

    return routes
