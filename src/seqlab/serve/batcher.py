"""Dynamic batching: concurrent requests for one model are gathered and run as one batch.

A model answers a batch of 32 texts in little more time than one (the matrix products are wider,
the Python around them is paid once), so a service that runs each request alone wastes most of
its CPU. The batcher keeps a bounded queue of items per model. Its worker takes the oldest item,
waits at most ``max_wait`` for others to join while the batch has room (``max_batch_size`` items,
and ``max_batch_tokens`` counted as a padded batch costs: the longest item's tokens times the
rows), runs the batch in the model executor (off the event loop, so the service keeps accepting
requests meanwhile) and hands each request its own results. While one batch runs the next one
fills, so under load batches grow by themselves and at low load an item waits at most
``max_wait``.

Back-pressure: an item that would take the queue past ``queue_size`` is refused at once
(``Overloaded``: the route answers 503 with Retry-After) rather than queued until memory runs out.
A request that gives up (its timeout, a closed connection) cancels its items, and the worker
skips them. If a batch fails, its items are run one by one, so one bad item fails only its own
request.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from seqlab.serve.metrics import ServiceMetrics

ItemT = TypeVar("ItemT")
ResultT = TypeVar("ResultT")


class Overloaded(Exception):
    """The queue has no room for the request's items (or the service is shutting down)."""


@dataclass(eq=False)
class _Entry(Generic[ItemT]):
    item: ItemT
    tokens: int
    future: asyncio.Future[Any]
    enqueued: float = field(default_factory=time.perf_counter)


class DynamicBatcher(Generic[ItemT, ResultT]):
    """run_batch(items) -> one result per item, in order; it runs in ``executor``.

    name: the model's name (the metrics' label). max_wait_s: how long the oldest item may wait
    for company. Batching off is ``max_batch_size=1, max_wait_s=0``."""

    def __init__(
        self,
        name: str,
        run_batch: Callable[[list[ItemT]], Sequence[ResultT]],
        *,
        executor: Executor,
        metrics: ServiceMetrics,
        max_batch_size: int,
        max_batch_tokens: int,
        max_wait_s: float,
        queue_size: int,
    ) -> None:
        self.name = name
        self.run_batch = run_batch
        self.executor = executor
        self.metrics = metrics
        self.max_batch_size = max_batch_size
        self.max_batch_tokens = max_batch_tokens
        self.max_wait_s = max_wait_s
        self.queue_size = queue_size
        self._pending: deque[_Entry[ItemT]] = deque()
        # Set by every submit: the idle worker waits on it. Resolved when the batch being
        # gathered is full: the gathering worker waits on it, or on max_wait.
        self._arrived: asyncio.Event | None = None
        self._filled: asyncio.Future[None] | None = None
        self._worker: asyncio.Task[None] | None = None
        self._closed = False

    @property
    def queued(self) -> int:
        return len(self._pending)

    async def submit(self, items: Sequence[ItemT], tokens: Sequence[int]) -> list[ResultT]:
        """The results of ``items`` (tokens: each item's length, for the token budget). Raises
        Overloaded when the queue has no room for all of them; cancelling the call withdraws
        the items that have not run yet."""
        if len(items) != len(tokens):
            raise ValueError(f"{len(items)} items but {len(tokens)} token counts")
        if self._closed or len(self._pending) + len(items) > self.queue_size:
            self.metrics.rejections.labels(reason="overloaded").inc()
            raise Overloaded(
                f"model {self.name!r} has {len(self._pending)} items queued "
                f"(at most {self.queue_size})"
            )
        self._start()
        loop = asyncio.get_running_loop()
        entries = [
            _Entry(item, count, loop.create_future())
            for item, count in zip(items, tokens, strict=True)
        ]
        self._pending.extend(entries)
        self.metrics.queue_depth.labels(model=self.name).set(len(self._pending))
        assert self._arrived is not None
        self._arrived.set()
        if self._filled is not None and len(self._pending) >= self.max_batch_size:
            _settle(self._filled)  # the batch being gathered is full: run it now
        try:
            if len(entries) == 1:  # most requests: no gathering future needed
                return [await entries[0].future]
            return list(await asyncio.gather(*(entry.future for entry in entries)))
        finally:
            for entry in entries:
                entry.future.cancel()  # a no-op for answered items; withdraws the others

    def _start(self) -> None:
        if self._worker is None:
            self._arrived = asyncio.Event()
            self._worker = asyncio.get_running_loop().create_task(self._work())

    async def close(self) -> None:
        """Stop the worker; items still queued are refused (Overloaded)."""
        self._closed = True
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
        while self._pending:
            entry = self._pending.popleft()
            if not entry.future.done():
                entry.future.set_exception(Overloaded("the service is shutting down"))

    async def _work(self) -> None:
        assert self._arrived is not None
        while True:
            self._drop_withdrawn()
            if not self._pending:
                self._arrived.clear()
                await self._arrived.wait()
                continue
            await self._gather_company()
            batch = self._take_batch()
            self.metrics.queue_depth.labels(model=self.name).set(len(self._pending))
            if batch:
                await self._run(batch)

    def _drop_withdrawn(self) -> None:
        while self._pending and self._pending[0].future.done():
            self._pending.popleft()

    async def _gather_company(self) -> None:
        """Wait until the batch is full or the oldest item has waited max_wait_s. One timer and
        one future per batch, which the arrival that fills the batch resolves early: waking at
        every arrival would cost the event loop a wait per request."""
        remaining = self._pending[0].enqueued + self.max_wait_s - time.perf_counter()
        if len(self._pending) >= self.max_batch_size or remaining <= 0:
            return
        loop = asyncio.get_running_loop()
        filled = self._filled = loop.create_future()
        timer = loop.call_later(remaining, _settle, filled)
        try:
            await filled
        finally:
            timer.cancel()
            self._filled = None

    def _take_batch(self) -> list[_Entry[ItemT]]:
        batch: list[_Entry[ItemT]] = []
        longest = 0
        while self._pending and len(batch) < self.max_batch_size:
            entry = self._pending[0]
            if entry.future.done():  # withdrawn by its request
                self._pending.popleft()
                continue
            padded = max(longest, entry.tokens) * (len(batch) + 1)
            if batch and padded > self.max_batch_tokens:
                break  # the first item always runs, however long: limits were checked before
            batch.append(self._pending.popleft())
            longest = max(longest, entry.tokens)
        return batch

    async def _run(self, batch: list[_Entry[ItemT]]) -> None:
        try:
            await self._run_isolating(batch)
        except asyncio.CancelledError:
            # close() stopped the worker while this batch ran: its requests get the refusal
            # the queued ones get, instead of waiting for an answer that will never come.
            for entry in batch:
                _settle(entry.future, error=Overloaded("the service is shutting down"))
            raise

    async def _run_isolating(self, batch: list[_Entry[ItemT]]) -> None:
        loop = asyncio.get_running_loop()
        self.metrics.batch_size.labels(model=self.name).observe(len(batch))
        try:
            results = await loop.run_in_executor(
                self.executor, self._call, [entry.item for entry in batch]
            )
        except Exception as error:
            if len(batch) == 1:
                _settle(batch[0].future, error=error)
                return
            for entry in batch:  # isolate the item at fault: each alone
                if not entry.future.done():  # unless its request gave up meanwhile
                    await self._run_isolating([entry])
            return
        for entry, result in zip(batch, results, strict=True):
            _settle(entry.future, result=result)

    def _call(self, items: list[ItemT]) -> list[ResultT]:
        results = list(self.run_batch(items))
        if len(results) != len(items):
            raise RuntimeError(f"run_batch gave {len(results)} results for {len(items)} items")
        return results


def _settle(
    future: asyncio.Future[Any], *, result: Any = None, error: BaseException | None = None
) -> None:
    if future.done():  # the request gave up meanwhile
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)
