"""TrainConfig validation messages, and building it from dicts and overrides."""

from __future__ import annotations

import pytest

from seqlab.train import TrainConfig
from seqlab.utils.config import ConfigError, deep_merge, from_dict, parse_overrides, to_dict


def test_defaults_follow_the_study_material() -> None:
    config = TrainConfig()
    assert (config.warmup_steps, config.grad_clip, config.betas, config.eps) == (
        4000, 5.0, (0.9, 0.98), 1e-9
    )  # fmt: skip


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"lr": -1.0}, r"lr \(-1.0\) must be a positive finite number"),
        ({"steps": 0}, r"steps \(0\) must be at least 1"),
        ({"betas": (0.9, 1.0)}, r"betas\[1\] \(1.0\) must be below 1.0"),
        ({"grad_clip": 0.0}, r"grad_clip \(0.0\) must be a positive"),
        (
            {"schedule": "cosine", "steps": 100},
            r"warmup_steps \(4000\) must be below steps \(100\)",
        ),
        ({"schedule": "inverse_sqrt", "warmup_steps": 0}, r"warmup_steps \(0\) must be at least 1"),
        ({"amp": True, "device": "cpu"}, r"amp \(true\) needs a GPU"),
        ({"early_stopping_patience": 0}, r"early_stopping_patience \(0\) must be at least 1"),
        ({"min_lr_ratio": 1.5}, r"min_lr_ratio \(1.5\) must be in \[0, 1\]"),
        ({"steps": 10.0}, r"steps \(10.0\) must be an int"),
    ],
)
def test_invalid_values_name_the_field(changes: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        TrainConfig(**changes)


def test_round_trip_through_a_dict() -> None:
    config = TrainConfig(steps=300, schedule="cosine", warmup_steps=30, grad_clip=None)
    data = to_dict(config)
    assert data["betas"] == [0.9, 0.98] and data["grad_clip"] is None
    assert from_dict(TrainConfig, data) == config


def test_overrides_build_a_valid_config_whatever_their_order() -> None:
    base = {"train": to_dict(TrainConfig(steps=1000, schedule="cosine", warmup_steps=100))}

    def apply(overrides: list[str]) -> TrainConfig:
        layer = parse_overrides(overrides, sections=("train",))
        return from_dict(TrainConfig, deep_merge(base, layer)["train"])

    # warmup 2000 alone would exceed steps 1000; applied together they are valid.
    result = apply(["train.warmup_steps=2000", "train.steps=5000", "train.grad_clip=none"])
    assert (result.warmup_steps, result.steps, result.grad_clip) == (2000, 5000, None)
    with pytest.raises(ConfigError, match=r"warmup_steps \(2000\) must be below steps \(1000\)"):
        apply(["train.warmup_steps=2000"])
