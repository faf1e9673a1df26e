"""Seeding and RNG snapshots cover torch, Python's random and NumPy."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from seqlab.utils.seeding import capture_rng_state, restore_rng_state, seed_everything


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
