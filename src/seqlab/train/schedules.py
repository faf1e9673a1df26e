"""Learning-rate schedules as multipliers of the base learning rate.

Step numbering: ``step`` is the number of the optimizer step about to be taken; the first
optimizer step uses ``step = 1``. Each function returns m(step), and that step runs with
``lr = base_lr * m(step)``. W is ``warmup_steps``, N is ``total_steps`` (the step budget), r is
``min_lr_ratio``.

- constant:      m(s) = 1                      (no warm-up; ``warmup_steps`` is ignored)
- inverse_sqrt:  m(s) = min(s / W, sqrt(W / s))
    Vaswani et al. 2017, "Attention Is All You Need", eq. (3):
    lrate = d_model^-0.5 * min(s^-0.5, s * W^-1.5). Dividing by its peak d_model^-0.5 * W^-0.5
    (reached at s = W) gives m(s) above, so ``base_lr`` is the peak learning rate. The paper's own
    peak for d_model = 512 and W = 4000 is :func:`transformer_peak_lr` (about 7.0e-4).
- cosine:        m(s) = s / W                                  for s <= W
                 m(s) = r + (1 - r) * (1 + cos(pi * p)) / 2    for s > W,  p = (s - W) / (N - W)
    Loshchilov & Hutter 2017, "SGDR", eq. (5) without restarts, after a linear warm-up
    (Goyal et al. 2017). m(W) = 1, m(N) = r; p is clamped to [0, 1] past the budget.
- linear:        m(s) = s / W for s <= W, then m(s) = r + (1 - r) * (1 - p), same p.

With W = 0 the cosine and linear schedules start at their peak (no warm-up).
"""

from __future__ import annotations

import functools
import math

import torch

from seqlab.train.config import Schedule

__all__ = [
    "build_scheduler",
    "constant",
    "cosine",
    "inverse_sqrt",
    "linear",
    "lr_multiplier",
    "transformer_peak_lr",
]


def constant(step: int) -> float:
    """m(s) = 1."""
    _check_step(step)
    return 1.0


def inverse_sqrt(step: int, *, warmup_steps: int) -> float:
    """m(s) = min(s / W, sqrt(W / s)): the Transformer schedule normalized to peak 1 at s = W."""
    _check_step(step)
    if warmup_steps < 1:
        raise ValueError(f"warmup_steps ({warmup_steps}) must be at least 1 for inverse_sqrt")
    return min(step / warmup_steps, math.sqrt(warmup_steps / step))


def _check_decay(warmup_steps: int, total_steps: int) -> None:
    if warmup_steps < 0 or total_steps <= warmup_steps:
        raise ValueError(
            f"total_steps ({total_steps}) must exceed warmup_steps ({warmup_steps}) >= 0 for a "
            "decay schedule; lower warmup_steps"
        )


def _decay_progress(step: int, warmup_steps: int, total_steps: int) -> float:
    return min(1.0, max(0.0, (step - warmup_steps) / (total_steps - warmup_steps)))


def cosine(step: int, *, warmup_steps: int, total_steps: int, min_lr_ratio: float) -> float:
    """Linear warm-up to 1 at s = W, then cosine decay to ``min_lr_ratio`` at s = N."""
    _check_step(step)
    _check_decay(warmup_steps, total_steps)
    if step <= warmup_steps:
        return step / warmup_steps
    progress = _decay_progress(step, warmup_steps, total_steps)
    return min_lr_ratio + (1.0 - min_lr_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))


def linear(step: int, *, warmup_steps: int, total_steps: int, min_lr_ratio: float) -> float:
    """Linear warm-up to 1 at s = W, then linear decay to ``min_lr_ratio`` at s = N."""
    _check_step(step)
    _check_decay(warmup_steps, total_steps)
    if step <= warmup_steps:
        return step / warmup_steps
    progress = _decay_progress(step, warmup_steps, total_steps)
    return min_lr_ratio + (1.0 - min_lr_ratio) * (1.0 - progress)


def lr_multiplier(
    step: int,
    *,
    schedule: Schedule,
    warmup_steps: int,
    total_steps: int,
    min_lr_ratio: float,
) -> float:
    """m(step) for the named schedule (see the module docstring)."""
    if schedule == "constant":
        return constant(step)
    if schedule == "inverse_sqrt":
        return inverse_sqrt(step, warmup_steps=warmup_steps)
    if schedule == "cosine":
        return cosine(
            step, warmup_steps=warmup_steps, total_steps=total_steps, min_lr_ratio=min_lr_ratio
        )
    if schedule == "linear":
        return linear(
            step, warmup_steps=warmup_steps, total_steps=total_steps, min_lr_ratio=min_lr_ratio
        )
    raise ValueError(f"schedule ({schedule!r}) must be constant, inverse_sqrt, cosine or linear")


def transformer_peak_lr(*, d_model: int = 512, warmup_steps: int = 4000) -> float:
    """The paper's peak learning rate d_model^-0.5 * W^-0.5 (eq. 3 at s = W)."""
    return d_model**-0.5 * warmup_steps**-0.5


def _multiplier_for_epoch(
    epoch: int, *, schedule: Schedule, warmup_steps: int, total_steps: int, min_lr_ratio: float
) -> float:
    # LambdaLR calls this with its counter, 0 before the first optimizer step; that step is
    # step 1 in our numbering, hence + 1.
    return lr_multiplier(
        epoch + 1,
        schedule=schedule,
        warmup_steps=warmup_steps,
        total_steps=total_steps,
        min_lr_ratio=min_lr_ratio,
    )


def build_scheduler(
    optimizer: torch.optim.Optimizer,
    *,
    schedule: Schedule,
    warmup_steps: int,
    total_steps: int,
    min_lr_ratio: float,
) -> torch.optim.lr_scheduler.LambdaLR:
    """A LambdaLR giving optimizer step s the rate base_lr * m(s); call ``.step()`` after each
    ``optimizer.step()``.
    """
    # Evaluate once now so a bad combination fails here, not at the first decay step.
    lr_multiplier(
        max(total_steps, 1),
        schedule=schedule,
        warmup_steps=warmup_steps,
        total_steps=total_steps,
        min_lr_ratio=min_lr_ratio,
    )
    # A functools.partial (not a lambda) so the scheduler's state_dict stays JSON-ready.
    function = functools.partial(
        _multiplier_for_epoch,
        schedule=schedule,
        warmup_steps=warmup_steps,
        total_steps=total_steps,
        min_lr_ratio=min_lr_ratio,
    )
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda=function)


def _check_step(step: int) -> None:
    if step < 1:
        raise ValueError(f"step ({step}) must be at least 1; the first optimizer step is step 1")
