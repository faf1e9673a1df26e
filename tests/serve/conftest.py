"""Model directories and clients for the service's tests.

The LSTM sentiment and forecasting models are the committed fixtures; the others (a Transformer
sentiment classifier, a translator, a language model) are trained once per test session, tiny, in
a few seconds each. ``serve_client(models, **settings)`` opens a TestClient on an application over
those directories (the lifespan runs, so the service is ready).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import pytest

pytest.importorskip(
    "fastapi", reason="the service needs the serve extra: pip install -e '.[serve]'"
)

from fastapi.testclient import TestClient  # noqa: E402

from seqlab.serve import ServeSettings, ServiceState, create_app, load_models  # noqa: E402

FIXTURES = Path(__file__).parent.parent / "fixtures" / "model_dirs"
sys.path.insert(0, str(Path(__file__).parent.parent / "tasks"))  # the tasks' tiny-run helpers

from _serve_models import (  # noqa: E402
    train_lm,
    train_sentiment_transformer,
    train_translation,
)


@pytest.fixture(scope="session")
def sentiment_lstm_dir() -> Path:
    return FIXTURES / "sentiment"


@pytest.fixture(scope="session")
def forecasting_dir() -> Path:
    return FIXTURES / "forecasting"


@pytest.fixture(scope="session")
def sentiment_transformer_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_sentiment_transformer(tmp_path_factory.mktemp("sentiment-transformer"))


@pytest.fixture(scope="session")
def translation_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_translation(tmp_path_factory.mktemp("translation"))


@pytest.fixture(scope="session")
def lm_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_lm(tmp_path_factory.mktemp("lm"))


ClientFactory = Callable[..., AbstractContextManager[TestClient]]


@pytest.fixture
def serve_client() -> ClientFactory:
    """``with serve_client(["name=DIR", ...], max_documents=3) as client:`` a ready service."""

    @contextmanager
    def open_client(specs: list[str | Path], **settings: object) -> Iterator[TestClient]:
        state = ServiceState(
            models=load_models([str(spec) for spec in specs]),
            settings=ServeSettings(**settings),  # type: ignore[arg-type]
        )
        with TestClient(create_app(state)) as client:
            client.service_state = state  # type: ignore[attr-defined]
            yield client

    return open_client
