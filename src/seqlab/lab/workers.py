"""Independent training runs side by side, each in a spawned process of its own.

Small models leave most of a core idle in Python overhead, so two single-threaded runs side by
side finish sooner than two runs one after the other on two threads. Workers are spawned (not
forked): a fork after torch has started its thread pool can deadlock. Each run's function sets
its own thread count (one per worker) when it runs beside others.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Iterator, Sequence
from functools import partial
from typing import TypeVar

ItemT = TypeVar("ItemT")
ResultT = TypeVar("ResultT")


def run_side_by_side(
    function: Callable[[ItemT], ResultT], items: Sequence[ItemT], workers: int
) -> Iterator[tuple[int, ResultT]]:
    """(index, function(item)) for every item as each finishes: in this process when
    ``workers`` <= 1, else in ``workers`` spawned processes (``function`` must be a module-level
    function, so a worker can import it)."""
    if workers <= 1:
        for index, item in enumerate(items):
            yield index, function(item)
        return
    context = multiprocessing.get_context("spawn")
    with context.Pool(processes=workers) as pool:
        yield from pool.imap_unordered(partial(_indexed, function), list(enumerate(items)))


def _indexed(function: Callable[[ItemT], ResultT], item: tuple[int, ItemT]) -> tuple[int, ResultT]:
    index, value = item
    return index, function(value)
