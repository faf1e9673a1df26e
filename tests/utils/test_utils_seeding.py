"""Seeding and RNG snapshots cover torch, Python's random and NumPy."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from seqlab.utils.seeding import (
    capture_rng_state,
    init_generator,
    restore_rng_state,
    seed_everything,
)


def draws() -> tuple[list[float], float, float]:
    return torch.rand(3).tolist(), random.random(), float(np.random.rand())


def test_same_seed_same_draws_in_all_three_generators() -> None:
    seed_everything(11)
    first = draws()
    seed_everything(11)
    assert draws() == first
    seed_everything(12)
    assert draws() != first


def test_restore_continues_every_generator_where_capture_left_it() -> None:
    seed_everything(5)
    random.gauss(0, 1)  # leaves a cached Gaussian in Python's generator
    snapshot = capture_rng_state()
    expected = draws(), random.gauss(0, 1)
    seed_everything(99)
    restore_rng_state(snapshot)
    assert (draws(), random.gauss(0, 1)) == expected


def test_bad_seed_is_named() -> None:
    with pytest.raises(ValueError, match=r"seed \(-1\) must be an int in \[0, 4294967295\]"):
        seed_everything(-1)


def test_init_generator_gives_the_seeded_stream_and_leaves_the_global_ones_alone() -> None:
    seed_everything(5)
    global_draws = draws()
    seed_everything(5)
    generator = init_generator(11)
    ours = torch.rand(4, generator=generator)
    assert draws() == global_draws  # drawing from it moved no global generator
    expected = torch.rand(4, generator=torch.Generator().manual_seed(11))
    assert torch.equal(ours, expected)
    torch.manual_seed(11)
    assert torch.equal(ours, torch.rand(4))  # the global CPU stream after torch.manual_seed(11)
    assert torch.equal(torch.rand(4, generator=init_generator(11)), expected)  # a fresh start


def test_init_generator_checks_the_seed_like_seed_everything() -> None:
    with pytest.raises(
        ValueError, match=r"seed \(4294967296\) must be an int in \[0, 4294967295\]"
    ):
        init_generator(2**32)
