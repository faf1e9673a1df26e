"""The dynamic batcher on its own, with a plain Python ``run_batch`` (no model): batch sizes and
the padded token budget, results to the right callers in order, the bounded wait, withdrawn
items, a failing batch isolated item by item, the bounded queue and closing."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import pytest

pytest.importorskip("prometheus_client", reason="the service needs the serve extra")

from seqlab.serve.batcher import DynamicBatcher, Overloaded  # noqa: E402
from seqlab.serve.metrics import ServiceMetrics  # noqa: E402

T = TypeVar("T")


class Recorder:
    """run_batch: remembers every batch it is given and answers each item with ``item * 10``;
    an item named in ``refuse`` makes the whole batch fail with ValueError."""

    def __init__(self, refuse: tuple[int, ...] = ()) -> None:
        self.batches: list[list[int]] = []
        self.refuse = refuse

    def __call__(self, items: list[int]) -> list[int]:
        self.batches.append(list(items))
        bad = [item for item in items if item in self.refuse]
        if bad:
            raise ValueError(f"item {bad[0]} is refused")
        return [item * 10 for item in items]


class CountingExecutor(ThreadPoolExecutor):
    """One thread, as the service's model executor; counts the calls handed to it, so a test
    knows when the batcher has taken a batch and handed it over."""

    def __init__(self) -> None:
        super().__init__(max_workers=1)
        self.submitted = 0

    def submit(self, fn, /, *args, **kwargs):  # type: ignore[no-untyped-def,override]
        self.submitted += 1
        return super().submit(fn, *args, **kwargs)


@pytest.fixture
def executor() -> Iterator[CountingExecutor]:
    pool = CountingExecutor()
    yield pool
    pool.shutdown(wait=True)


def make_batcher(
    run_batch: Callable[[list[int]], list[int]],
    executor: CountingExecutor,
    *,
    max_batch_size: int = 32,
    max_batch_tokens: int = 10_000,
    max_wait_s: float = 0.0,
    queue_size: int = 100,
) -> DynamicBatcher[int, int]:
    return DynamicBatcher(
        "toy/predict",
        run_batch,
        executor=executor,
        metrics=ServiceMetrics(),
        max_batch_size=max_batch_size,
        max_batch_tokens=max_batch_tokens,
        max_wait_s=max_wait_s,
        queue_size=queue_size,
    )


def run(coroutine: Callable[[], Awaitable[T]]) -> T:
    return asyncio.run(asyncio.wait_for(coroutine(), timeout=20))  # type: ignore[arg-type]


def block(executor: CountingExecutor) -> threading.Event:
    """Occupy the executor's one thread until the returned event is set: batches queue behind
    it, as they do behind a long model call."""
    release = threading.Event()
    started = threading.Event()

    def wait() -> None:
        started.set()
        release.wait(timeout=20)

    executor.submit(wait)
    assert started.wait(timeout=5)
    return release


async def until(condition: Callable[[], bool]) -> None:
    for _ in range(2000):
        if condition():
            return
        await asyncio.sleep(0.001)
    raise AssertionError("the condition never held")


def sample_value(batcher: DynamicBatcher[int, int], name: str, **labels: str) -> float:
    value = batcher.metrics.registry.get_sample_value(name, labels)
    return 0.0 if value is None else value


def test_batches_stop_at_max_batch_size_and_callers_get_their_own_results_in_order(
    executor: CountingExecutor,
) -> None:
    recorder = Recorder()
    batcher = make_batcher(recorder, executor, max_batch_size=4)

    async def scenario() -> list[list[int]]:
        # Ten requests arrive together, the fourth with three items of its own.
        requests = [[0], [1], [2], [3, 4, 5], [6], [7], [8], [9], [10], [11]]
        return await asyncio.gather(*(batcher.submit(r, [1] * len(r)) for r in requests))

    answers = run(scenario)
    assert answers == [[0], [10], [20], [30, 40, 50], [60], [70], [80], [90], [100], [110]]
    assert recorder.batches == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11]]
    assert sample_value(batcher, "seqlab_batch_size_count", model="toy/predict") == 3
    assert sample_value(batcher, "seqlab_batch_size_sum", model="toy/predict") == 12


def test_the_padded_token_budget_splits_batches_and_an_over_budget_item_runs_alone(
    executor: CountingExecutor,
) -> None:
    recorder = Recorder()
    batcher = make_batcher(recorder, executor, max_batch_size=10, max_batch_tokens=20)
    tokens = {0: 5, 1: 5, 2: 5, 3: 20, 4: 3, 5: 50, 6: 2, 7: 2}

    async def scenario() -> list[list[int]]:
        return await asyncio.gather(*(batcher.submit([i], [t]) for i, t in tokens.items()))

    assert run(scenario) == [[i * 10] for i in tokens]
    # 5,5,5 pads to 15 (a fourth, 20 long, would pad to 80); 20 then 3 would pad to 40; the
    # 50-token item is over the budget by itself and still runs, alone.
    assert recorder.batches == [[0, 1, 2], [3], [4], [5], [6, 7]]
    for batch in recorder.batches:
        padded = max(tokens[i] for i in batch) * len(batch)
        assert padded <= 20 or len(batch) == 1


def test_an_item_waits_at_most_max_wait_for_company(executor: CountingExecutor) -> None:
    recorder = Recorder()

    async def lone() -> float:
        batcher = make_batcher(recorder, executor, max_batch_size=8, max_wait_s=0.3)
        started = time.perf_counter()
        assert await batcher.submit([1], [1]) == [10]
        return time.perf_counter() - started

    waited = run(lone)
    assert 0.3 <= waited < 1.3, waited  # the wait, plus scheduling slack on a busy machine
    assert recorder.batches == [[1]]

    async def late_companion() -> float:
        batcher = make_batcher(recorder, executor, max_batch_size=8, max_wait_s=0.3)
        started = time.perf_counter()
        first = asyncio.ensure_future(batcher.submit([2], [1]))
        await asyncio.sleep(0.1)
        second = asyncio.ensure_future(batcher.submit([3], [1]))
        assert await first == [20] and await second == [30]
        return time.perf_counter() - started

    waited = run(late_companion)
    # The batch left when the first item had waited max_wait, not max_wait after the second.
    assert 0.3 <= waited < 0.4 + 1.0, waited
    assert recorder.batches[-1] == [2, 3]


def test_a_full_batch_does_not_wait(executor: CountingExecutor) -> None:
    recorder = Recorder()

    async def pair(gap: float) -> float:
        batcher = make_batcher(recorder, executor, max_batch_size=2, max_wait_s=30.0)
        started = time.perf_counter()
        first = asyncio.ensure_future(batcher.submit([1], [1]))
        await asyncio.sleep(gap)  # 0: together; 0.1: the worker is already waiting for company
        assert await batcher.submit([2], [1]) == [20]
        assert await first == [10]
        return time.perf_counter() - started

    for gap in (0.0, 0.1):
        assert run(lambda gap=gap: pair(gap)) < 5.0  # far under max_wait (30 s)
    assert recorder.batches == [[1, 2], [1, 2]]


def test_batching_off_runs_every_item_alone(executor: CountingExecutor) -> None:
    recorder = Recorder()
    batcher = make_batcher(recorder, executor, max_batch_size=1, max_wait_s=0.0)

    async def scenario() -> list[list[int]]:
        return await asyncio.gather(*(batcher.submit([i], [1]) for i in range(5)))

    assert run(scenario) == [[0], [10], [20], [30], [40]]
    assert recorder.batches == [[0], [1], [2], [3], [4]]


def test_withdrawn_items_are_skipped(executor: CountingExecutor) -> None:
    recorder = Recorder()
    batcher = make_batcher(recorder, executor, max_batch_size=8)

    async def scenario() -> list[int]:
        release = block(executor)
        running = asyncio.ensure_future(batcher.submit([1], [1]))
        await until(lambda: executor.submitted == 2)  # taken, and waiting for the thread
        gives_up = asyncio.ensure_future(batcher.submit([2, 3], [1, 1]))
        times_out = asyncio.ensure_future(asyncio.wait_for(batcher.submit([4], [1]), 0.05))
        stays = asyncio.ensure_future(batcher.submit([5], [1]))
        await until(lambda: batcher.queued == 4)
        gives_up.cancel()
        with pytest.raises(asyncio.TimeoutError):
            await times_out
        release.set()
        with pytest.raises(asyncio.CancelledError):
            await gives_up
        return [*await running, *await stays]

    assert run(scenario) == [10, 50]
    assert recorder.batches == [[1], [5]]


def test_a_failing_batch_is_retried_item_by_item_so_only_the_bad_item_fails(
    executor: CountingExecutor,
) -> None:
    recorder = Recorder(refuse=(2,))
    batcher = make_batcher(recorder, executor, max_batch_size=8)

    async def scenario() -> list[object]:
        return await asyncio.gather(
            batcher.submit([1], [1]),
            batcher.submit([2], [1]),
            batcher.submit([3, 4], [1, 1]),
            return_exceptions=True,
        )

    first, second, third = run(scenario)
    assert first == [10] and third == [30, 40]
    assert isinstance(second, ValueError) and str(second) == "item 2 is refused"
    assert recorder.batches == [[1, 2, 3, 4], [1], [2], [3], [4]]


def test_a_run_batch_with_the_wrong_number_of_results_fails_its_callers(
    executor: CountingExecutor,
) -> None:
    batcher = make_batcher(lambda items: items[:-1], executor)

    async def scenario() -> BaseException:
        with pytest.raises(RuntimeError) as caught:
            await batcher.submit([1], [1])
        return caught.value

    assert str(run(scenario)) == "run_batch gave 0 results for 1 items"
    with pytest.raises(ValueError, match="2 items but 1 token counts"):
        run(lambda: batcher.submit([1, 2], [1]))


def test_a_full_queue_refuses_at_once_with_overloaded(executor: CountingExecutor) -> None:
    recorder = Recorder()
    batcher = make_batcher(recorder, executor, max_batch_size=1, queue_size=3)

    async def scenario() -> list[list[int]]:
        release = block(executor)
        running = asyncio.ensure_future(batcher.submit([0], [1]))
        await until(lambda: executor.submitted == 2)
        queued = [asyncio.ensure_future(batcher.submit([i], [1])) for i in (1, 2)]
        await until(lambda: batcher.queued == 2)
        with pytest.raises(Overloaded, match="2 items queued \\(at most 3\\)"):
            await batcher.submit([3, 4], [1, 1])  # two more would make 4
        queued.append(asyncio.ensure_future(batcher.submit([3], [1])))  # one more fits
        await until(lambda: batcher.queued == 3)
        assert sample_value(batcher, "seqlab_queue_depth", model="toy/predict") == 3
        with pytest.raises(Overloaded):
            await batcher.submit([4], [1])
        release.set()
        return [await running, *[await future for future in queued]]

    assert run(scenario) == [[0], [10], [20], [30]]
    assert sample_value(batcher, "seqlab_rejections_total", reason="overloaded") == 2
    assert recorder.batches == [[0], [1], [2], [3]]


def test_close_refuses_queued_and_running_items_and_later_submissions(
    executor: CountingExecutor,
) -> None:
    recorder = Recorder()
    batcher = make_batcher(recorder, executor, max_batch_size=1)

    async def scenario() -> list[object]:
        release = block(executor)
        running = asyncio.ensure_future(batcher.submit([1], [1]))
        await until(lambda: executor.submitted == 2)
        queued = asyncio.ensure_future(batcher.submit([2], [1]))
        await until(lambda: batcher.queued == 1)
        await batcher.close()
        release.set()
        answers = await asyncio.gather(running, queued, return_exceptions=True)
        with pytest.raises(Overloaded):
            await batcher.submit([3], [1])
        return answers

    running, queued = run(scenario)
    assert isinstance(running, Overloaded) and str(running) == "the service is shutting down"
    assert isinstance(queued, Overloaded) and str(queued) == "the service is shutting down"
    assert [2] not in recorder.batches and [3] not in recorder.batches
