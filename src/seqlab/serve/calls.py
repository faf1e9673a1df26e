"""Running model work for a route: through the model's batcher, within the request's timeout,
with the batcher's refusals turned into HTTP answers.

- the queue is full (``Overloaded``): 503 with ``Retry-After``;
- the request's ``request_timeout_s`` passed: 504 (its queued items are withdrawn);
- the model refused an input (``SeqlabError`` or ``ValueError``, raised by a predictor's own
  checks): 422 with the predictor's message, naming ``field`` when the route knows it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from seqlab.errors import SeqlabError
from seqlab.serve.batcher import DynamicBatcher, Overloaded
from seqlab.serve.errors import ApiError
from seqlab.serve.state import ServiceState

T = TypeVar("T")


async def run_batched(
    state: ServiceState,
    batcher: DynamicBatcher[Any, T],
    items: Sequence[Any],
    tokens: Sequence[int],
    *,
    field: str | None = None,
) -> list[T]:
    """The items' results from ``batcher``, or the ApiError that answers the request."""
    try:
        # asyncio.timeout, not wait_for: it cancels the awaited call in place instead of running
        # it as a task of its own, a saving paid on every request.
        async with asyncio.timeout(state.settings.request_timeout_s):
            return await batcher.submit(items, tokens)
    except Overloaded as error:
        raise overloaded(state, str(error)) from None
    except TimeoutError:
        state.metrics.rejections.labels(reason="timeout").inc()
        raise ApiError(
            504,
            "Timeout",
            f"no answer within {state.settings.request_timeout_s:g} s; retry, or send less",
        ) from None
    except (SeqlabError, ValueError) as error:
        raise ApiError(422, "InvalidArgument", str(error), field=field) from None


async def run_in_executor(
    state: ServiceState, work: Callable[[], T], *, field: str | None = None
) -> T:
    """One piece of unbatched model work (a generation step, a stream push) in the model
    executor, with the same answers for a timeout or a refused input as ``run_batched``."""
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(state.settings.request_timeout_s):
            return await loop.run_in_executor(state.executor, work)
    except TimeoutError:
        state.metrics.rejections.labels(reason="timeout").inc()
        raise ApiError(
            504, "Timeout", f"no answer within {state.settings.request_timeout_s:g} s"
        ) from None
    except (SeqlabError, ValueError) as error:
        raise ApiError(422, "InvalidArgument", str(error), field=field) from None


def overloaded(state: ServiceState, reason: str) -> ApiError:
    seconds = state.settings.retry_after_s
    return ApiError(
        503,
        "ServiceUnavailable",
        f"the service is busy ({reason}); retry after {seconds} s",
        headers={"Retry-After": str(seconds)},
    )
