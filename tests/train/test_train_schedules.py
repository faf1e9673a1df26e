"""Learning-rate schedules against their equations at known steps (see schedules.py)."""

from __future__ import annotations

import math

import pytest
import torch

from seqlab.train.schedules import (
    build_scheduler,
    constant,
    cosine,
    inverse_sqrt,
    linear,
    lr_multiplier,
    transformer_peak_lr,
)


def test_constant_is_one_everywhere() -> None:
    assert [constant(step) for step in (1, 4, 8, 1000)] == [1.0, 1.0, 1.0, 1.0]


def test_inverse_sqrt_at_known_steps() -> None:
    # W = 4: min(s/4, sqrt(4/s))
    assert inverse_sqrt(1, warmup_steps=4) == 0.25
    assert inverse_sqrt(4, warmup_steps=4) == 1.0
    assert inverse_sqrt(8, warmup_steps=4) == pytest.approx(1 / math.sqrt(2), abs=1e-15)
    assert inverse_sqrt(16, warmup_steps=4) == 0.5


def test_inverse_sqrt_times_peak_is_the_papers_equation_3() -> None:
    d_model, warmup = 512, 4000
    peak = transformer_peak_lr(d_model=d_model, warmup_steps=warmup)
    assert peak == pytest.approx(6.9877e-4, rel=1e-4)
    for step in (1, 1000, 4000, 8000, 100_000):
        paper = d_model**-0.5 * min(step**-0.5, step * warmup**-1.5)
        assert peak * inverse_sqrt(step, warmup_steps=warmup) == pytest.approx(paper, rel=1e-12)


def test_cosine_at_known_steps() -> None:
    # W = 10, N = 110, r = 0.1; at s = 20 the progress is 0.1, at s = 60 it is 0.5.
    values = {
        s: cosine(s, warmup_steps=10, total_steps=110, min_lr_ratio=0.1)
        for s in (1, 10, 20, 60, 110, 500)
    }
    assert values[1] == pytest.approx(0.1)
    assert values[10] == 1.0
    assert values[20] == pytest.approx(0.1 + 0.9 * (1 + math.cos(0.1 * math.pi)) / 2)
    assert values[20] == pytest.approx(0.977975432, abs=1e-9)
    assert values[60] == pytest.approx(0.55, abs=1e-15)
    assert values[110] == pytest.approx(0.1, abs=1e-15)
    assert values[500] == pytest.approx(0.1, abs=1e-15)  # clamped after the budget


def test_linear_at_known_steps() -> None:
    values = {
        s: linear(s, warmup_steps=10, total_steps=110, min_lr_ratio=0.1)
        for s in (1, 10, 20, 60, 110)
    }
    assert values[1] == pytest.approx(0.1)
    assert values[10] == 1.0
    assert values[20] == pytest.approx(0.91, abs=1e-15)
    assert values[60] == pytest.approx(0.55, abs=1e-15)
    assert values[110] == pytest.approx(0.1, abs=1e-15)


def test_decays_without_warmup_start_at_the_peak() -> None:
    assert cosine(1, warmup_steps=0, total_steps=5, min_lr_ratio=0.0) == pytest.approx(
        (1 + math.cos(math.pi / 5)) / 2
    )
    assert linear(5, warmup_steps=0, total_steps=5, min_lr_ratio=0.0) == 0.0


def test_step_zero_is_rejected_with_the_numbering_rule() -> None:
    with pytest.raises(ValueError, match=r"step \(0\) must be at least 1; the first optimizer"):
        lr_multiplier(0, schedule="constant", warmup_steps=0, total_steps=5, min_lr_ratio=0.0)


@pytest.mark.parametrize("schedule", ["constant", "inverse_sqrt", "cosine", "linear"])
def test_lambda_lr_gives_step_s_the_rate_of_m_s(schedule: str) -> None:
    parameter = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([parameter], lr=0.5)
    scheduler = build_scheduler(
        optimizer, schedule=schedule, warmup_steps=3, total_steps=9, min_lr_ratio=0.2
    )
    used = []
    for _ in range(9):
        used.append(optimizer.param_groups[0]["lr"])  # the rate this optimizer step runs with
        optimizer.step()
        scheduler.step()
    expected = [
        0.5 * lr_multiplier(s, schedule=schedule, warmup_steps=3, total_steps=9, min_lr_ratio=0.2)
        for s in range(1, 10)
    ]
    assert used == pytest.approx(expected, abs=1e-15)
    if schedule != "constant":
        assert used[0] == pytest.approx(0.5 / 3) and used[2] == pytest.approx(0.5)


def test_builder_rejects_a_decay_shorter_than_its_warmup() -> None:
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    with pytest.raises(ValueError, match=r"total_steps \(5\) must exceed warmup_steps \(5\)"):
        build_scheduler(optimizer, schedule="cosine", warmup_steps=5, total_steps=5, min_lr_ratio=0)
