"""``create_app(state)``: the FastAPI application over loaded models.

The routes come from ``routes/`` (each task adds its own there), the error handlers from
``errors.py``, and ``middleware.py`` wraps them all (body limit, API key, log line, metrics).
The lifespan marks the service ready once it is serving and, on shutdown (uvicorn's SIGTERM
handling lets in-flight requests finish first), stops the batchers and the model executor.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from seqlab._version import __version__
from seqlab.serve.errors import install_error_handlers
from seqlab.serve.middleware import ServiceMiddleware
from seqlab.serve.routes import routers
from seqlab.serve.state import ServiceState


def create_app(state: ServiceState) -> FastAPI:
    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        state.ready = True
        try:
            yield
        finally:
            state.ready = False
            await state.close()

    app = FastAPI(
        title="seqlab",
        version=__version__,
        description=(
            "Trained sequence models (sentiment, forecasting, translation, generation) behind "
            "one service. Pick a model with ?model=NAME (GET /v1/models lists them); "
            "without it the first loaded model of the route's task answers."
        ),
        lifespan=lifespan,
        # The service exports its own Prometheus metrics (metrics.py); FastAPI's OpenTelemetry
        # hooks would cost a check of the global providers on every request.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.service = state
    install_error_handlers(app)
    for router in routers(state):
        app.include_router(router)
    app.add_middleware(ServiceMiddleware, state=state)
    return app
