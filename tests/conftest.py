"""Shared test set-up.

The tests use tiny tensors, for which one intra-op thread is faster than several (and far faster
on a busy 2-core machine), so the whole suite runs single-threaded and restores the setting.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch


@pytest.fixture(autouse=True, scope="session")
def _one_thread() -> Iterator[None]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
