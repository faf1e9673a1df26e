"""The HTTP service: every trained model behind one FastAPI application, and its web page.

``seqlab serve DIR [DIR ...]`` loads model directories of any task and answers on loopback:

- ``POST /v1/sentiment`` (Azure AI Language sentiment shape), ``POST /v1/forecast``,
  ``POST /v1/translate`` (Azure Translator shape), ``POST /v1/generate`` (server-sent events with
  ``"stream": true``), ``WS /v1/sentiment/stream`` (the running sentiment while a person types);
- ``GET /v1/models``, ``GET /healthz``, ``GET /readyz``, ``GET /metrics`` (Prometheus), and the
  page at ``GET /``.

Concurrent requests for one model are gathered into batches (``batcher.py``) off the event loop;
the queue is bounded, so overload answers 503 with Retry-After instead of growing. Every limit
(``settings.py``) is checked before a model runs, and every malformed request gets a 4xx JSON
error naming its field (``errors.py``). Each task contributes its route in one place
(``routes/__init__.py``). This package needs the ``serve`` extra (FastAPI, uvicorn,
prometheus-client): ``pip install 'seqlab[serve]'``.
"""

from __future__ import annotations

from seqlab.serve.app import create_app
from seqlab.serve.settings import ServeSettings
from seqlab.serve.state import LoadedModel, ServiceState, load_models

__all__ = ["LoadedModel", "ServeSettings", "ServiceState", "create_app", "load_models"]
