"""Schema-driven fuzzing: schemathesis reads the service's own ``/openapi.json`` and sends every
operation requests its schema allows (positive) and requests it forbids (negative); no answer
may be a 5xx (schemathesis's ``not_a_server_error`` check), whatever the route.

The run covers whatever routes the schema lists, over one model of every task, in process (the
ASGI transport), with a fixed, derandomized set of examples per operation so it takes seconds
and fails the same way every time.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

schemathesis = pytest.importorskip("schemathesis", reason="the fuzz test needs serve-test")

from hypothesis import HealthCheck, Phase, given, settings  # noqa: E402
from hypothesis.errors import Unsatisfiable  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.python.asgi import shutdown_lifespans  # noqa: E402

from seqlab.serve import ServeSettings, ServiceState, create_app, load_models  # noqa: E402

EXAMPLES_PER_MODE = 8
MODES = (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE)
# Small limits keep each example cheap; what goes over them must still be a 4xx, not a 5xx.
LIMITS = {
    "max_documents": 4,
    "max_chars": 200,
    "max_tokens": 32,
    "max_generate_tokens": 16,
    "max_forecast_rows": 400,
    "request_timeout_s": 20.0,
}


@pytest.fixture
def app(
    sentiment_lstm_dir: Path, forecasting_dir: Path, translation_dir: Path, lm_dir: Path
) -> Iterator[Any]:
    specs = [f"sentiment={sentiment_lstm_dir}", f"forecasting={forecasting_dir}",
             f"translation={translation_dir}", f"lm={lm_dir}"]  # fmt: skip
    state = ServiceState(
        models=load_models(specs),
        settings=ServeSettings(**LIMITS),  # type: ignore[arg-type]
    )
    yield create_app(state)
    # schemathesis starts the application's lifespan on its first request and keeps it for the
    # process; end it here, so the model executor stops with the test.
    shutdown_lifespans()


def fuzz(operation: Any, mode: Any) -> list[str]:
    """The failures of one operation's examples in one generation mode, each with its request."""
    failures: list[str] = []

    @settings(
        max_examples=EXAMPLES_PER_MODE,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(operation.as_strategy(generation_mode=mode))
    def example(case: Any) -> None:
        try:
            response = case.call()
            case.validate_response(response, checks=[not_a_server_error])
        except Exception as error:  # every failure is reported, with the request that caused it
            failures.append(f"{operation.label} ({mode.value}): {error}\n{case.as_curl_command()}")

    try:
        example()
    except Unsatisfiable:
        # An operation that takes no input (GET /healthz) has no request its schema forbids.
        if mode is not schemathesis.GenerationMode.NEGATIVE:
            raise
    return failures


def test_no_operation_answers_a_server_error(app: Any) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    labels = {operation.label for operation in operations}
    assert {"GET /healthz", "GET /readyz", "GET /v1/models", "GET /metrics"} <= labels
    assert "POST /v1/sentiment" in labels
    failures = [failure for op in operations for mode in MODES for failure in fuzz(op, mode)]
    assert not failures, "\n\n".join(failures)
