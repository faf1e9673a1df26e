"""The routes, each task's in one place: ``TASK_ROUTES`` names the module that serves a task.

Every module here has ``router(state) -> APIRouter``. A task's route is mounted whether or not a
model of that task is loaded, so asking it without one answers 404 with the loaded models' list
(``ServiceState.model_for``) instead of a bare "Not Found".
"""

from __future__ import annotations

from importlib import import_module

from fastapi import APIRouter

from seqlab.serve.state import ServiceState

# task name -> module under seqlab.serve.routes
TASK_ROUTES: dict[str, str] = {
    "sentiment": "sentiment",
    "forecasting": "forecast",
    "translation": "translate",
    "lm": "generate",
}

# Routes of the service itself: health, models and metrics; the sentiment stream; the attention
# maps the page draws; the page.
SERVICE_ROUTES: tuple[str, ...] = ("health", "sentiment_stream", "attention", "page")


def routers(state: ServiceState) -> list[APIRouter]:
    names = [*SERVICE_ROUTES, *TASK_ROUTES.values()]
    return [import_module(f"seqlab.serve.routes.{name}").router(state) for name in names]
