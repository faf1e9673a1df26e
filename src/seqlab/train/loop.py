"""The training loop: one explicit function, ``fit``, in plain PyTorch.

``fit`` reads as the loop it runs: set up (``session.py``: arguments, device, seeding, optimizer,
schedule, resume or fresh start), with ``eval_at_start`` an evaluation of the untrained model,
then until a budget or a stop reason ends it, one optimizer step (``step.py``) and every
``eval_every`` steps an evaluation with checkpoints (``evaluation.py``); then the final
evaluation and the result. The state those functions share is one explicit ``TrainingSession``.

References: Loshchilov & Hutter 2019 (AdamW); Vaswani et al. 2017, section 5.3 (warm-up
schedule, see ``schedules.py``); Pascanu et al. 2013 (clipping the global gradient norm);
Williams & Peng 1990 (truncated BPTT: carry the state, cut its graph); Micikevicius et al. 2018,
"Mixed Precision Training" (fp16 with loss scaling; bf16 needs none). DESIGN.md convention 8: no
hook framework, each feature is a few visible lines with the reason beside them.

One optimizer step, in order:
  1. ``grad_accum_steps`` micro-batches: forward via ``task.loss``, backward on the loss SUM;
  2. divide every gradient once by the total item count, so k accumulated micro-batches equal
     one k-times-larger batch exactly (a mean per micro-batch would weight items unequally);
  3. global-norm clipping; the pre-clip norm is logged;
  4. a non-finite loss or gradient skips the step: no optimizer or scheduler step, the carried
     state is rolled back, and ``max_nonfinite_steps`` skips in a row raise TrainingDiverged;
  5. AdamW step, then the schedule advances; with ``weight_average_decay`` the moving average of
     the weights is updated (``averaging.py``).
Every ``eval_every`` steps, at the end, and with ``eval_at_start`` at the start (step 0, before
the first step, only in a run with no evaluation yet: a resume never repeats it): evaluate
"val" (on the averaged weights when there are any; at step 0 they are the initial ones), save
``checkpoints/best`` on improvement and ``checkpoints/last`` always, and stop early after
``early_stopping_patience`` evaluations without improvement or once the monitored metric
reaches ``stop_at``. The step-0 evaluation counts like the others: it may be the best
(``best_step`` 0), patience counts from it, and an untrained model already at ``stop_at``
trains no step. With ``average_checkpoints`` N, each evaluation's weights after step 0 are kept
for the last N evaluations, and after the final one their mean (Vaswani et al. 2017, section
6.1) becomes the final model if it validates at least as well as the best checkpoint
(``checkpoint_averaging.py``).

Under ``torchrun`` every process runs ``fit`` (``distributed.py``): each trains on its share of
every batch, rank 0 alone evaluates, writes and reports, and the ranks agree on every stop.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch
from torch import nn

from seqlab.train.checkpoint import drop_resume_state
from seqlab.train.checkpoint_averaging import CheckpointAverage
from seqlab.train.config import TrainConfig
from seqlab.train.distributed import broadcast, distributed_training
from seqlab.train.evaluation import evaluate_and_checkpoint, evaluate_checkpoint_average
from seqlab.train.optim import average_and_clip_gradients, build_optimizer
from seqlab.train.progress import ProgressKind, ProgressReporter, StepInfo
from seqlab.train.protocol import TrainableTask
from seqlab.train.run_state import EvalRecord
from seqlab.train.session import TrainingSession, resolve_device, start_session
from seqlab.train.step import StepResult, TrainingDiverged, train_step

__all__ = [
    "EvalRecord",
    "FitResult",
    "StopReason",
    "TrainingDiverged",
    "average_and_clip_gradients",
    "build_optimizer",
    "fit",
    "resolve_device",
]

StopReason = Literal["steps", "max_seconds", "early_stopping", "target_reached"]


@dataclass(frozen=True)
class FitResult:
    """What ``fit`` did. ``seconds`` is this call's wall-clock time; ``history`` spans resumes;
    ``checkpoint_average`` what became of the checkpoint average (None without
    ``average_checkpoints``)."""

    steps: int
    best_metric: float | None
    best_step: int | None
    stop_reason: StopReason
    seconds: float
    final_train_loss: float | None
    history: tuple[EvalRecord, ...]
    monitor: str
    mode: Literal["min", "max"]
    checkpoint_average: CheckpointAverage | None = None


def fit(
    model: nn.Module,
    task: TrainableTask,
    config: TrainConfig,
    out_dir: str | Path,
    *,
    monitor: str = "loss",
    mode: Literal["min", "max"] = "min",
    resume: bool = False,
    progress: ProgressReporter | ProgressKind = "auto",
    keep_resume_state: bool = False,
) -> FitResult:
    """Train ``model`` on ``task`` per ``config``; logs and checkpoints go to ``out_dir``.

    monitor / mode: the metric of ``task.evaluate(model, "val")`` that decides the best
        checkpoint and early stopping, and whether lower ("min") or higher ("max") is better.
    resume: continue from ``out_dir/checkpoints/last`` (model, optimizer, scheduler, RNGs,
        counters, carried state). Without it, ``out_dir`` must not hold checkpoints yet.
    progress: a reporter, or "auto" (a bar on a terminal, lines otherwise), "rich", "plain",
        "quiet".
    keep_resume_state: keep ``checkpoints/last`` even when ``config.keep_checkpoints`` is false,
        for a caller that writes more of ``out_dir`` after fit and calls
        ``drop_resume_state`` once it is complete (``seqlab.tasks.runner.train_run``), so that a
        crash in between can still be resumed.

    Set-up seeds every generator with ``config.seed`` (seqlab.utils.seeding, point 2), so the
    run does not depend on what was drawn before the call; resume then restores the
    checkpoint's generator states. The model ends with its final weights;
    ``load_best_weights(model, out_dir)`` loads the best, and ``load_final_weights(model,
    out_dir)`` the run's final model (the checkpoint average when it was kept, else the best).
    ``max_seconds`` limits this call's wall-clock time (checked before each step; the final
    evaluation still runs). Raises TrainingDiverged after ``max_nonfinite_steps`` consecutive
    non-finite steps, leaving ``checkpoints/last`` as it was.

    Under ``torchrun`` (WORLD_SIZE > 1) it sets up the process group itself unless the caller
    did, and every process must call it alike (``seqlab.train.distributed``).
    """
    with distributed_training(config.device):
        return _fit(
            model, task, config, out_dir, monitor=monitor, mode=mode, resume=resume,
            progress=progress, keep_resume_state=keep_resume_state,
        )  # fmt: skip


def _fit(
    model: nn.Module,
    task: TrainableTask,
    config: TrainConfig,
    out_dir: str | Path,
    *,
    monitor: str,
    mode: Literal["min", "max"],
    resume: bool,
    progress: ProgressReporter | ProgressKind,
    keep_resume_state: bool,
) -> FitResult:
    """``fit``'s body, inside the process group when there is one."""
    session = start_session(
        model, task, config, out_dir, monitor=monitor, mode=mode, resume=resume, progress=progress
    )
    threads_before = torch.get_num_threads()
    if config.threads is not None:
        torch.set_num_threads(config.threads)
    try:
        stop_reason: StopReason | None = _evaluate_at_start(session)
        # Budgets are checked before a step, so a stop always falls between steps.
        while stop_reason is None and (stop_reason := _budget_spent(session)) is None:
            step = train_step(session)
            if step is None:
                continue  # skipped as non-finite: nothing to report or evaluate
            _report_step(session, step)
            if session.run.step % config.eval_every == 0:
                stop_reason = evaluate_and_checkpoint(session)
                session.window.restart()  # evaluation time is not training throughput
                if stop_reason is not None:
                    break
        # The end: evaluate unless this step was just evaluated (that also saved last).
        if session.run.last_eval_step != session.run.step:
            evaluate_and_checkpoint(session)
        checkpoint_average = evaluate_checkpoint_average(session)
        session.reporter.note(f"stopped at step {session.run.step}: {stop_reason}")
        session.log({"event": "stop", "step": session.run.step, "reason": stop_reason})
    finally:
        session.reporter.close()
        torch.set_num_threads(threads_before)
    if not keep_resume_state and session.world.is_main:
        drop_resume_state(session.directory.path, keep_checkpoints=config.keep_checkpoints)
    return _result(session, stop_reason, mode, checkpoint_average)


def _evaluate_at_start(session: TrainingSession) -> StopReason | None:
    """With ``eval_at_start``, evaluate the untrained model once (step 0, as any evaluation
    does: history, best/, last/, log, progress); its stop reason, else None.

    Only a run with no step and no evaluation yet: a resumed run has either trained or already
    recorded this evaluation, and one resumed from the checkpoint written before the first step
    evaluates it as the uninterrupted run would. Every rank sees the same counters, so all
    evaluate (rank 0) or wait (the others) alike."""
    run = session.run
    if not session.config.eval_at_start or run.step != 0 or run.last_eval_step is not None:
        return None
    stop_reason = evaluate_and_checkpoint(session)
    session.window.restart()  # evaluation time is not training throughput
    return stop_reason


def _budget_spent(session: TrainingSession) -> StopReason | None:
    """The budget that is used up ("steps" or "max_seconds"), or None."""
    config = session.config
    if session.run.step >= config.steps:
        return "steps"
    if config.max_seconds is not None:
        out_of_time = time.monotonic() - session.started >= config.max_seconds
        # Clocks differ between processes: rank 0's decides, so all stop at the same step.
        if broadcast(out_of_time, session.world):
            return "max_seconds"
    return None


def _report_step(session: TrainingSession, step: StepResult) -> None:
    """Progress after every applied step; a log line every ``log_every`` steps."""
    run, config, window = session.run, session.config, session.window
    # Throughput over the current window (restarted after logging and after evaluations).
    window.steps += 1
    window.tokens += step.tokens
    now = time.monotonic()
    window_seconds = max(now - window.start, 1e-9)
    info = StepInfo(
        step=run.step,
        total_steps=config.steps,
        loss=step.loss,
        lr=step.lr,
        grad_norm=step.grad_norm,
        tokens_per_second=window.tokens / window_seconds,
        elapsed_seconds=session.elapsed_before + (now - session.started),
        eta_seconds=(config.steps - run.step) * window_seconds / window.steps,
    )
    session.reporter.step(info)
    if run.step % config.log_every == 0:
        session.log(
            {"event": "train", "step": run.step, "loss": info.loss, "lr": step.lr,
             "grad_norm": step.grad_norm, "tokens_per_second": info.tokens_per_second,
             "elapsed": info.elapsed_seconds},
        )  # fmt: skip
        session.reporter.log(info)
        window.restart()


def _result(
    session: TrainingSession,
    stop_reason: StopReason,
    mode: Literal["min", "max"],
    checkpoint_average: CheckpointAverage | None,
) -> FitResult:
    """What the run did."""
    run = session.run
    return FitResult(
        steps=run.step,
        best_metric=run.best_metric,
        best_step=run.best_step,
        stop_reason=stop_reason,
        seconds=session.elapsed(),  # earlier calls of a resumed run included
        final_train_loss=run.last_train_loss,
        history=tuple(run.history),
        monitor=run.monitor,
        mode=mode,
        checkpoint_average=checkpoint_average,
    )
