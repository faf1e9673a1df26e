"""One optimizer step of ``fit``, numbered as in ``seqlab.train.loop``'s docstring.

References: Williams & Peng 1990 (truncated BPTT: carry the state, cut its graph); Pascanu et
al. 2013 (clipping the global gradient norm, ``optim.py``); Micikevicius et al. 2018, "Mixed
Precision Training" (fp16 loss scaling: scale before backward, unscale before clipping, and
lower the scale after an overflow).

``train_step`` reads and updates the ``TrainingSession`` it is given: the micro-batches come
from ``run.next_batch_index`` on, the carried recurrent state moves on with them, and an
applied step advances ``run.step`` and the schedule. A skipped step leaves no trace in the
weights, the optimizer, the schedule or the carried state.

On several processes (``distributed.py``) each rank runs its share of every micro-batch (an
empty share runs nothing), the loss sums and counts are summed over the ranks, and the summed
gradients are all-reduced before step 2 divides them by the global count: every rank then holds
the single-process gradient of the global batch.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import torch

from seqlab.errors import SeqlabError
from seqlab.train.checkpoint import find_checkpoint, saved_step
from seqlab.train.distributed import (
    all_reduce_gradients,
    share_of_batch,
    step_seed,
    sum_over_ranks,
)
from seqlab.train.optim import average_and_clip_gradients
from seqlab.train.protocol import StepLoss, detach_state, move_to
from seqlab.train.session import TrainingSession

__all__ = ["StepResult", "TrainingDiverged", "train_step"]

# The non-finite warning points at the line that called fit: stack level 1 is _skip_step,
# 2 train_step, 3 loop._fit, 4 fit, 5 fit's caller.
_FIT_CALLER = 5


class TrainingDiverged(SeqlabError, RuntimeError):
    """The loss or gradients stayed non-finite for ``max_nonfinite_steps`` steps in a row.

    A SeqlabError: the command line prints its one-line message (what happened, where the last
    good checkpoint is, what to change) instead of a traceback.
    """


@dataclass(frozen=True)
class StepResult:
    """An applied optimizer step, as the progress and the log report it."""

    loss: float  # mean training loss over every item of the step's micro-batches
    lr: float  # the learning rate the step used
    grad_norm: float  # global gradient norm before clipping
    tokens: int  # tokens the micro-batches processed, for throughput


@dataclass(frozen=True)
class _Accumulated:
    """The micro-batches of one step: their loss sums added up, item and token counts."""

    loss_sum: float
    count: int
    tokens: int
    first_batch: int


def train_step(session: TrainingSession) -> StepResult | None:
    """One optimizer step (steps 1-5 of the loop); None when it was skipped as non-finite.

    Raises TrainingDiverged when ``max_nonfinite_steps`` steps in a row were skipped.
    """
    state_before = session.carried
    accumulated = _accumulate_micro_batches(session)
    grad_norm = math.nan
    finite = math.isfinite(accumulated.loss_sum)
    if finite:
        grad_norm = _average_and_clip(session, accumulated)
        finite = math.isfinite(grad_norm)
    if not finite:
        _skip_step(session, accumulated, grad_norm=grad_norm, state_before=state_before)
        return None
    return _apply_step(session, accumulated, grad_norm=grad_norm)


def _accumulate_micro_batches(session: TrainingSession) -> _Accumulated:
    """1. ``grad_accum_steps`` micro-batches: forward via ``task.loss``, backward on the SUM."""
    task, run, scaler, world = session.task, session.run, session.scaler, session.world
    accum_steps = session.config.grad_accum_steps
    session.optimizer.zero_grad(set_to_none=True)
    first_batch = run.next_batch_index
    if world.distributed:
        torch.manual_seed(step_seed(session.config.seed, world.rank, first_batch))
    loss_sum = torch.zeros((), device=session.device, dtype=torch.float64)
    count = tokens = 0
    for micro in range(accum_steps):
        batch = task.train_batch(first_batch + micro)
        if world.distributed:
            batch = share_of_batch(batch, world)
            if batch is None:
                continue  # fewer rows than ranks: this rank adds nothing to the step
        batch = move_to(batch, session.device)
        with session.autocast():
            step_loss = task.loss(
                session.model, batch, session.carried if session.stateful else None
            )
        _check_step_loss(step_loss)
        if session.stateful:
            # Truncated BPTT: keep the state's values, drop its graph.
            session.carried = detach_state(step_loss.state)
        if scaler is not None:
            scaler.scale(step_loss.loss_sum).backward()
        else:
            step_loss.loss_sum.backward()
        loss_sum += step_loss.loss_sum.detach().to(torch.float64)
        count += step_loss.count
        tokens += step_loss.tokens
    # The batches are consumed even if the step is skipped, so a bad batch is not retried.
    run.next_batch_index = first_batch + accum_steps
    total = float(loss_sum)  # one device sync per step
    if world.distributed:
        summed = sum_over_ranks([total, count, tokens], device=session.device)
        total, count, tokens = summed[0], int(summed[1]), int(summed[2])
    return _Accumulated(loss_sum=total, count=count, tokens=tokens, first_batch=first_batch)


def _check_step_loss(step_loss: object) -> None:
    if not isinstance(step_loss, StepLoss):
        raise TypeError(f"task.loss must return a StepLoss, got {type(step_loss).__name__}")
    if not step_loss.loss_sum.requires_grad:
        raise ValueError(
            "StepLoss.loss_sum does not require grad; compute it from the model's "
            "output in training mode, not under torch.no_grad()"
        )


def _average_and_clip(session: TrainingSession, accumulated: _Accumulated) -> float:
    """2-3. Average over every item of every micro-batch, clip the global norm; the pre-clip
    norm."""
    if accumulated.count <= 0:
        raise ValueError(
            f"task.loss reported count 0 for all {session.config.grad_accum_steps} "
            f"micro-batches of batches {accumulated.first_batch}.."
            f"{session.run.next_batch_index - 1}; "
            "count must be the number of items the loss sum covers"
        )
    if session.world.distributed:
        all_reduce_gradients(session.parameters)  # the sums over every rank's items
    if session.scaler is not None:
        session.scaler.unscale_(session.optimizer)
    return average_and_clip_gradients(
        session.parameters, count=accumulated.count, grad_clip=session.config.grad_clip
    )


def _skip_step(
    session: TrainingSession, accumulated: _Accumulated, *, grad_norm: float, state_before: object
) -> None:
    """4. A non-finite loss or gradient: skip the step and leave no trace of it."""
    run, config = session.run, session.config
    session.optimizer.zero_grad(set_to_none=True)
    if session.scaler is not None and math.isfinite(accumulated.loss_sum):
        session.scaler.update()  # lowers the fp16 loss scale after an overflow
    session.carried = state_before  # a NaN state would poison every later segment
    session.nonfinite_in_a_row += 1
    in_a_row = session.nonfinite_in_a_row
    batches = f"{accumulated.first_batch}..{run.next_batch_index - 1}"
    warnings.warn(
        f"step {run.step + 1} skipped: loss sum {accumulated.loss_sum} / gradient norm "
        f"{grad_norm} not finite on batches {batches} "
        f"({in_a_row}/{config.max_nonfinite_steps} in a row)",
        RuntimeWarning,
        stacklevel=_FIT_CALLER,
    )
    session.log(
        {"event": "nonfinite", "step": run.step + 1, "batches": batches,
         "loss": accumulated.loss_sum, "grad_norm": grad_norm, "in_a_row": in_a_row},
    )  # fmt: skip
    if in_a_row >= config.max_nonfinite_steps:
        saved = find_checkpoint(session.last_dir)
        step = run.step if saved is None else saved_step(saved)
        raise TrainingDiverged(
            f"training diverged: loss or gradient not finite for {in_a_row} "
            f"steps in a row (after step {run.step}, batches up to "
            f"{run.next_batch_index - 1}); the last good checkpoint in {session.last_dir} "
            f"(step {step}) is intact; lower train.lr, set train.grad_clip, "
            "or check the data"
        )


def _apply_step(
    session: TrainingSession, accumulated: _Accumulated, *, grad_norm: float
) -> StepResult:
    """5. AdamW step, the schedule's next rate, and the weight average's update."""
    run, optimizer, scaler = session.run, session.optimizer, session.scaler
    lr = optimizer.param_groups[0]["lr"]
    if scaler is not None:
        scaler.step(optimizer)
        scaler.update()
    else:
        optimizer.step()
    session.scheduler.step()
    run.step += 1
    if session.average is not None:
        session.average.update(run.step)
    session.nonfinite_in_a_row = 0
    run.last_train_loss = accumulated.loss_sum / accumulated.count
    return StepResult(
        loss=run.last_train_loss, lr=lr, grad_norm=grad_norm, tokens=accumulated.tokens
    )
