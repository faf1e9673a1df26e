"""Polyak averaging of the weights (seqlab.train.averaging) against a hand-run recurrence."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from _toy_tasks import RegressionTask, flat_parameters, regression_model
from torch import nn

from seqlab.train import TrainConfig, fit, load_best_weights
from seqlab.train.averaging import WeightAverage
from seqlab.utils.config import ConfigError


def config(**changes: object) -> TrainConfig:
    base = dict(
        steps=8, batch_size=4, lr=0.05, schedule="constant", warmup_steps=0, grad_clip=None,
        eval_every=4, log_every=1, device="cpu", seed=3, weight_average_decay=0.5,
    )  # fmt: skip
    base.update(changes)
    return TrainConfig(**base)  # type: ignore[arg-type]


def test_update_follows_the_formula_with_its_ramp() -> None:
    layer = nn.Linear(2, 1)
    average = WeightAverage(layer, decay=0.9)
    start = layer.weight.detach().clone()
    expected = start.clone()
    for step, value in enumerate([1.0, -2.0, 3.0], start=1):
        with torch.no_grad():
            layer.weight.fill_(value)
        average.update(step)
        d = min(0.9, (1 + step) / (10 + step))  # 2/11, 3/12, 4/13: the ramp is below 0.9
        expected = d * expected + (1 - d) * value
    assert torch.allclose(average.state_tensors()["weight"], expected, atol=1e-7)
    assert average.decay_at(1000) == 0.9


def test_swapped_in_shows_the_average_and_restores_the_weights() -> None:
    layer = nn.Linear(3, 2)
    average = WeightAverage(layer, decay=0.5)
    with torch.no_grad():
        layer.weight.add_(1.0)
    own = layer.weight.detach().clone()
    with average.swapped_in():
        assert torch.equal(layer.weight, average.average[0])
        assert not torch.equal(layer.weight, own)
    assert torch.equal(layer.weight, own)


def test_evaluation_and_best_checkpoint_use_the_average(tmp_path: Path) -> None:
    model = regression_model(dropout=0.0)
    task = RegressionTask(scripted_val=[1.0, 0.5])  # the evaluation at step 8 is the best
    fit(model, task, config(), tmp_path, progress="quiet")
    final = flat_parameters(model)
    # task.seen[k] holds the weights before step k + 1; then the final weights.
    weights = [weights for _, weights in task.seen] + [final]
    expected, averages = weights[0].clone(), {}
    for step in range(1, 9):
        d = min(0.5, (1 + step) / (10 + step))
        expected = d * expected + (1 - d) * weights[step]
        averages[step] = expected.clone()
    assert torch.allclose(task.evaluated[0], averages[4], atol=1e-12)
    assert torch.allclose(task.evaluated[1], averages[8], atol=1e-12)
    best = regression_model(dropout=0.0, seed=99)
    load_best_weights(best, tmp_path)
    assert torch.allclose(flat_parameters(best), averages[8], atol=1e-12)
    # Training ran on the raw weights, which the model holds again after evaluating.
    assert not torch.allclose(final, averages[8], atol=1e-6)


def test_resume_restores_the_average(tmp_path: Path) -> None:
    straight = regression_model(dropout=0.3)
    fit(straight, RegressionTask(), config(steps=12), tmp_path / "straight", progress="quiet")
    first = regression_model(dropout=0.3)
    fit(first, RegressionTask(), config(steps=6), tmp_path / "resumed", progress="quiet")
    resumed = regression_model(dropout=0.3, seed=99)
    fit(resumed, RegressionTask(), config(steps=12), tmp_path / "resumed", resume=True,
        progress="quiet")  # fmt: skip
    a, b = regression_model(dropout=0.3, seed=1), regression_model(dropout=0.3, seed=2)
    load_best_weights(a, tmp_path / "straight")
    load_best_weights(b, tmp_path / "resumed")
    for pa, pb in zip(a.parameters(), b.parameters(), strict=True):
        assert torch.equal(pa, pb)


def test_decay_outside_zero_one_is_refused() -> None:
    with pytest.raises(ConfigError, match="weight_average_decay"):
        config(weight_average_decay=1.0)
