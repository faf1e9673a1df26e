"""TrainConfig: every knob of the training engine, validated where it is built.

References: Vaswani et al. 2017, "Attention Is All You Need", section 5.3 (Adam with
beta1 = 0.9, beta2 = 0.98, eps = 1e-9, warm-up 4,000 steps, 100,000 steps for the base model);
Loshchilov & Hutter 2019, "Decoupled Weight Decay Regularization" (AdamW); Pascanu et al. 2013,
"On the difficulty of training recurrent neural networks" (clipping the global gradient norm;
the study material clips RNNs at 5.0); Vaswani et al. 2017, section 6.1 (the base models average
the last 5 checkpoints).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from seqlab.utils.config import ConfigError

__all__ = ["Schedule", "TrainConfig"]

Schedule = Literal["constant", "inverse_sqrt", "cosine", "linear"]
_SCHEDULES: tuple[str, ...] = ("constant", "inverse_sqrt", "cosine", "linear")
_DEVICES: tuple[str, ...] = ("auto", "cpu", "cuda")
_MAX_SEED = 2**32 - 1


@dataclass(frozen=True)
class TrainConfig:
    """How to train, independent of the task.

    The engine counts optimizer steps: ``steps`` is the budget, and every ``*_every`` and
    ``warmup_steps`` is in optimizer steps. One optimizer step consumes ``grad_accum_steps``
    micro-batches, each of ``batch_size`` items built by the task, so the effective batch is
    ``batch_size * grad_accum_steps``. A step skipped because its loss or gradient was not finite
    does not count toward ``steps``.

    ``eval_at_start`` adds one evaluation at step 0, before the first optimizer step, that
    counts like any other: it is the first candidate for ``checkpoints/best`` (so ``best_step``
    may be 0), the first evaluation early stopping's patience counts from, and it may end the
    run at once when the untrained model already reaches ``stop_at``. Its weights are never
    among those ``average_checkpoints`` averages. It changes no trained weight (evaluation puts
    every random generator back).
    """

    steps: int = 100_000
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 0.01
    betas: tuple[float, float] = (0.9, 0.98)
    eps: float = 1e-9
    schedule: Schedule = "inverse_sqrt"
    warmup_steps: int = 4000
    min_lr_ratio: float = 0.0
    grad_clip: float | None = 5.0
    grad_accum_steps: int = 1
    eval_every: int = 1000
    # Also evaluate (and checkpoint) before the first step, so the untrained model is the first
    # candidate for checkpoints/best: a model that starts at a baseline's answer (a residual
    # forecaster) then keeps that start unless training beats it on "val". Only a run at step 0
    # with no evaluation yet does this; a resumed run never evaluates step 0 again.
    eval_at_start: bool = False
    early_stopping_patience: int | None = None
    early_stopping_min_delta: float = 0.0
    stop_at: float | None = None
    max_seconds: float | None = None
    seed: int = 0
    device: Literal["auto", "cpu", "cuda"] = "auto"
    amp: bool = False
    log_every: int = 50
    max_nonfinite_steps: int = 10
    keep_checkpoints: bool = True
    # Polyak averaging: evaluate and keep an exponential moving average of the weights
    # (seqlab.train.averaging); None trains and keeps the raw weights.
    weight_average_decay: float | None = None
    # Checkpoint averaging (Vaswani et al. 2017, section 6.1: the mean of the last 5
    # checkpoints): keep the weights evaluated at the last N evaluations and, after training,
    # use their element-wise mean if it validates at least as well as the best checkpoint
    # (seqlab.train.checkpoint_averaging); None keeps the best checkpoint alone.
    average_checkpoints: int | None = None
    # CPU threads for torch's kernels (None: torch's default, one per core). On a machine shared
    # with other jobs, 1 avoids threads spinning while they wait for each other.
    threads: int | None = None

    def __post_init__(self) -> None:
        # A fixed order: with several bad values, the same one is always reported.
        _check_batches_and_optimizer(self)
        _check_schedule(self)
        _check_gradients(self)
        _check_run(self)


def _check_batches_and_optimizer(config: TrainConfig) -> None:
    """Check steps, batch_size and the AdamW settings."""
    _positive_int("steps", config.steps)
    _positive_int("batch_size", config.batch_size)
    _positive_float("lr", config.lr)
    _number("weight_decay", config.weight_decay, minimum=0.0)
    if not isinstance(config.betas, tuple) or len(config.betas) != 2:
        raise ConfigError(f"betas ({config.betas!r}) must be a pair (beta1, beta2)")
    for index, beta in enumerate(config.betas):
        _number(f"betas[{index}]", beta, minimum=0.0)
        if beta >= 1.0:
            raise ConfigError(f"betas[{index}] ({beta}) must be below 1.0, e.g. 0.98")
    _positive_float("eps", config.eps)


def _check_schedule(config: TrainConfig) -> None:
    """Check the learning-rate schedule and its warm-up."""
    if config.schedule not in _SCHEDULES:
        allowed = ", ".join(_SCHEDULES)
        raise ConfigError(f"schedule ({config.schedule!r}) must be one of {allowed}")
    _int("warmup_steps", config.warmup_steps, minimum=0)
    if config.schedule == "inverse_sqrt" and config.warmup_steps < 1:
        raise ConfigError(
            "warmup_steps (0) must be at least 1 for schedule 'inverse_sqrt' "
            "(its peak sits at step == warmup_steps); use schedule 'constant' for no warm-up"
        )
    if config.schedule in ("cosine", "linear") and config.warmup_steps >= config.steps:
        raise ConfigError(
            f"warmup_steps ({config.warmup_steps}) must be below steps ({config.steps}) for "
            f"schedule '{config.schedule}', or the decay never starts; lower warmup_steps"
        )
    _number("min_lr_ratio", config.min_lr_ratio, minimum=0.0)
    if config.min_lr_ratio > 1.0:
        raise ConfigError(f"min_lr_ratio ({config.min_lr_ratio}) must be in [0, 1]")


def _check_gradients(config: TrainConfig) -> None:
    """Check clipping and accumulation."""
    if config.grad_clip is not None:
        _positive_float("grad_clip", config.grad_clip)
    _positive_int("grad_accum_steps", config.grad_accum_steps)


def _check_run(config: TrainConfig) -> None:
    """Check evaluation, stopping, budgets, seed, device, logging and checkpoints."""
    _positive_int("eval_every", config.eval_every)
    if not isinstance(config.eval_at_start, bool):
        raise ConfigError(f"eval_at_start ({config.eval_at_start!r}) must be true or false")
    if config.early_stopping_patience is not None:
        _positive_int("early_stopping_patience", config.early_stopping_patience)
    _number("early_stopping_min_delta", config.early_stopping_min_delta, minimum=0.0)
    if config.stop_at is not None and not math.isfinite(config.stop_at):
        raise ConfigError(f"stop_at ({config.stop_at}) must be a finite number or null")
    if config.max_seconds is not None:
        _positive_float("max_seconds", config.max_seconds)
    if config.threads is not None:
        _positive_int("threads", config.threads)
    if config.weight_average_decay is not None and not 0.0 < config.weight_average_decay < 1.0:
        raise ConfigError(
            f"weight_average_decay ({config.weight_average_decay}) must be in (0, 1), e.g. "
            "0.999, or null for no averaging"
        )
    _check_average_checkpoints(config.average_checkpoints)
    _int("seed", config.seed, minimum=0)
    if config.seed > _MAX_SEED:
        raise ConfigError(f"seed ({config.seed}) must be at most {_MAX_SEED}")
    if config.device not in _DEVICES:
        raise ConfigError(f"device ({config.device!r}) must be one of {', '.join(_DEVICES)}")
    if not isinstance(config.amp, bool):
        raise ConfigError(f"amp ({config.amp!r}) must be true or false")
    if config.amp and config.device == "cpu":
        raise ConfigError(
            "amp (true) needs a GPU but device is 'cpu'; set amp=false or device=cuda/auto"
        )
    _positive_int("log_every", config.log_every)
    _positive_int("max_nonfinite_steps", config.max_nonfinite_steps)
    if not isinstance(config.keep_checkpoints, bool):
        raise ConfigError(f"keep_checkpoints ({config.keep_checkpoints!r}) must be true/false")


def _check_average_checkpoints(value: object) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 2:
        raise ConfigError(
            f"average_checkpoints ({value!r}) must be an int of at least 2 (how many of the last "
            "evaluations' weights to average, e.g. 5), or null for no averaging"
        )


def _int(name: str, value: object, *, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{name} ({value!r}) must be an int")
    if value < minimum:
        raise ConfigError(f"{name} ({value}) must be at least {minimum}")


def _positive_int(name: str, value: object) -> None:
    _int(name, value, minimum=1)


def _number(name: str, value: object, *, minimum: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{name} ({value!r}) must be a number")
    if not math.isfinite(value) or value < minimum:
        raise ConfigError(f"{name} ({value}) must be a finite number >= {minimum}")


def _positive_float(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{name} ({value!r}) must be a number")
    if not math.isfinite(value) or value <= 0:
        raise ConfigError(f"{name} ({value}) must be a positive finite number")
