"""Evaluate and checkpoint: what ``fit`` does every ``eval_every`` steps and at the end (and at
the start with ``train.eval_at_start``).

References: Polyak & Juditsky 1992 (evaluate the averaged weights, ``averaging.py``); Prechelt
1998, "Early Stopping - But When?" (stop after a number of evaluations without improvement);
Vaswani et al. 2017, section 6.1 (average the last checkpoints, ``checkpoint_averaging.py``).

One evaluation (with ``train.eval_at_start`` also one at step 0, before the first step): the
task's metrics on "val", in eval mode, without a graph, on the averaged weights when there are
any, with every random generator put back afterwards (so a run that evaluates more often still
trains exactly the same weights); ``checkpoints/best`` on a finite improvement of the monitored
metric (weights only, the evaluated ones); with ``average_checkpoints``, the evaluated weights
as ``checkpoints/recent/step-N`` too (for N > 0: untrained weights are never averaged);
``checkpoints/last`` always (the raw weights and the full training state); then the recent
checkpoints beyond the newest N are pruned; a log line and a progress note. It asks to stop when
the monitored metric reached ``stop_at`` or patience has run out.

After training, ``evaluate_checkpoint_average`` evaluates the mean of the recent checkpoints
and keeps it as the final model (``checkpoints/average``) when its monitored metric is at least
as good as the best checkpoint's.

With several processes (``distributed.py``) rank 0 alone evaluates and writes; the others wait
for its run state (best metric, patience, history) at a broadcast, so each rank's stop decision
is computed from the same numbers and all stop at the same step.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Literal

import torch
from torch import nn

from seqlab.train.averaging import WeightAverage
from seqlab.train.checkpoint import save_weights_checkpoint
from seqlab.train.checkpoint_averaging import (
    CheckpointAverage,
    at_least_as_good,
    average_checkpoint_files,
    drop_average,
    prune_recent_checkpoints,
    recent_checkpoints,
    save_average_checkpoint,
    save_recent_checkpoint,
)
from seqlab.train.config import TrainConfig
from seqlab.train.distributed import broadcast
from seqlab.train.protocol import TrainableTask
from seqlab.train.run_state import EvalRecord, RunState
from seqlab.train.session import TrainingSession
from seqlab.utils.seeding import capture_rng_state, restore_rng_state

__all__ = ["EVAL_SPLIT", "EvalStop", "evaluate_and_checkpoint", "evaluate_checkpoint_average"]

EVAL_SPLIT = "val"
EvalStop = Literal["early_stopping", "target_reached"]


def evaluate_and_checkpoint(session: TrainingSession) -> EvalStop | None:
    """Evaluate "val", save best/ on improvement, recent/ with ``average_checkpoints`` and last/
    always, log and report the metrics;
    a stop reason when training should end (patience has run out, or the monitored metric
    reached ``config.stop_at``)."""
    run, keep, world = session.run, session.config.average_checkpoints, session.world
    if world.is_main:
        with _averaged_weights(session.average):
            metrics = _evaluate(session.model, session.task, run.monitor)
            run.history.append(EvalRecord(step=run.step, split=EVAL_SPLIT, metrics=metrics))
            run.last_eval_step = run.step
            if _track_best(run, metrics[run.monitor], session.config):
                save_weights_checkpoint(
                    session.best_dir, model=session.model, progress=run.to_json()
                )
            if keep is not None and run.step > 0:
                # Before last/: a resume from last/ then finds every step it will not evaluate
                # again. Never step 0 (train.eval_at_start): the mean of the last checkpoints
                # smooths the noise of nearby points along one trajectory, and untrained weights
                # lie nowhere near it, so a mean with them is no model at all.
                save_recent_checkpoint(
                    session.directory.path, step=run.step, model=session.model, metrics=metrics
                )
    # The other ranks wait here for rank 0's evaluation and take its counters.
    run = session.run = broadcast(run, world)
    metrics = run.history[-1].metrics
    session.save_last()
    if keep is not None and world.is_main:
        # Pruned after last/: a crash before it leaves the older checkpoints that a resume
        # from the previous last/ still averages.
        prune_recent_checkpoints(session.directory.path, keep=keep)
    session.log(
        {"event": "eval", "step": run.step, "split": EVAL_SPLIT, "metrics": metrics,
         "elapsed": session.elapsed()},
    )  # fmt: skip
    shown = ", ".join(f"{name} {metric:.4g}" for name, metric in metrics.items())
    best = run.best_metric if run.best_metric is None else f"{run.best_metric:.4g}"
    session.reporter.note(
        f"eval step {run.step} [{EVAL_SPLIT}] {shown} | best {run.monitor} {best} "
        f"at step {run.best_step}"
    )
    return _stop_reason(run, metrics[run.monitor], session.config)


def evaluate_checkpoint_average(session: TrainingSession) -> CheckpointAverage | None:
    """With ``average_checkpoints``, after training: evaluate the mean of the recent checkpoints
    on "val" and save it as ``checkpoints/average`` when its monitored metric is at least as good
    as the best checkpoint's; log it and say so on the progress reporter either way. The model
    holds its own weights again afterwards. None when the setting is off."""
    keep = session.config.average_checkpoints
    if keep is None:
        return None
    outcome = _average_on_main(session, keep) if session.world.is_main else None
    return broadcast(outcome, session.world)


def _average_on_main(session: TrainingSession, keep: int) -> CheckpointAverage:
    """``evaluate_checkpoint_average``'s work, on rank 0: the mean of the last ``keep``."""
    run, out_dir = session.run, session.directory.path
    drop_average(out_dir)  # an earlier end of this run no longer decides
    recent = recent_checkpoints(out_dir)[-keep:]
    steps = tuple(step for step, _ in recent)
    if len(recent) < 2:
        outcome = _outcome(run, steps, {}, "best")
    else:
        outcome = _evaluate_average(session, recent)
    session.log(
        {"event": "checkpoint_average", "step": run.step, "split": EVAL_SPLIT,
         **outcome.to_json()},
    )  # fmt: skip
    session.reporter.note(_describe(outcome))
    return outcome


def _evaluate_average(
    session: TrainingSession, recent: list[tuple[int, Path]]
) -> CheckpointAverage:
    """Load the mean of ``recent`` into the model, evaluate it, save it as checkpoints/average
    when it is kept, and put the model's own weights back."""
    run = session.run
    steps = tuple(step for step, _ in recent)
    own = {name: t.detach().to("cpu", copy=True) for name, t in session.model.state_dict().items()}
    session.model.load_state_dict(average_checkpoint_files(folder for _, folder in recent))
    try:
        metrics = _evaluate(session.model, session.task, run.monitor)
        kept_average = at_least_as_good(metrics[run.monitor], run.best_metric, run.mode)
        outcome = _outcome(run, steps, metrics, "average" if kept_average else "best")
        if kept_average:
            save_average_checkpoint(session.directory.path, model=session.model, outcome=outcome)
    finally:
        session.model.load_state_dict(own)
    return outcome


def _outcome(
    run: RunState,
    steps: tuple[int, ...],
    metrics: dict[str, float],
    kept: Literal["average", "best"],
) -> CheckpointAverage:
    return CheckpointAverage(
        steps=steps,
        metrics=metrics,
        monitor=run.monitor,
        best_metric=run.best_metric,
        best_step=run.best_step,
        kept=kept,
    )


def _describe(outcome: CheckpointAverage) -> str:
    """The progress line: what was averaged, how it validated against the best, what was kept."""
    steps = ", ".join(str(step) for step in outcome.steps) or "none"
    best = "none" if outcome.best_metric is None else f"{outcome.best_metric:.4g}"
    best_part = f"best {outcome.monitor} {best} at step {outcome.best_step}"
    if outcome.metric is None:
        return (
            f"checkpoint average: fewer than 2 evaluations to average (steps {steps}); keeping "
            f"the best checkpoint ({best_part})"
        )
    kept = "the average" if outcome.kept == "average" else "the best checkpoint"
    return (
        f"checkpoint average of steps {steps} [{EVAL_SPLIT}] {outcome.monitor} "
        f"{outcome.metric:.4g} | {best_part} | keeping {kept}"
    )


def _averaged_weights(average: WeightAverage | None) -> AbstractContextManager[None]:
    return average.swapped_in() if average is not None else contextlib.nullcontext()


@contextlib.contextmanager
def _evaluation_mode(model: nn.Module) -> Iterator[None]:
    # Evaluation must not change training: eval mode (no dropout), no graph, and every RNG put
    # back afterwards, so a run evaluating more often still trains exactly the same weights.
    rng = capture_rng_state()
    model.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        model.train()
        restore_rng_state(rng)


def _evaluate(model: nn.Module, task: TrainableTask, monitor: str) -> dict[str, float]:
    with _evaluation_mode(model):
        raw = task.evaluate(model, EVAL_SPLIT)
    if not isinstance(raw, dict):
        raise TypeError(f"task.evaluate must return a dict of metrics, got {type(raw).__name__}")
    metrics = {str(name): float(value) for name, value in raw.items()}
    if monitor not in metrics:
        raise ValueError(
            f"monitored metric '{monitor}' is not among task.evaluate's metrics "
            f"({', '.join(sorted(metrics))}); pass monitor= one of them"
        )
    return metrics


def _improved(value: float, best: float | None, mode: str) -> bool:
    if not math.isfinite(value):
        return False
    if best is None:
        return True
    return value < best if mode == "min" else value > best


def _track_best(run: RunState, value: float, config: TrainConfig) -> bool:
    """Update the best metric and the patience count for ``value``; True on a new best."""
    if not _improved(value, run.best_metric, run.mode):
        run.evals_without_improvement += 1
        return False
    # Patience restarts only for a gain larger than min_delta, so evaluation noise that nudges
    # the best up by a hair does not keep a stalled run alive.
    gain = math.inf if run.best_metric is None else abs(value - run.best_metric)
    significant = gain > config.early_stopping_min_delta
    run.best_metric, run.best_step = value, run.step
    run.evals_without_improvement = 0 if significant else run.evals_without_improvement + 1
    return True


def _stop_reason(run: RunState, value: float, config: TrainConfig) -> EvalStop | None:
    target = config.stop_at
    if target is not None and math.isfinite(value) and not _improved(target, value, run.mode):
        return "target_reached"  # nothing left to learn: the value is at or past the target
    patience = config.early_stopping_patience
    if patience is not None and run.evals_without_improvement >= patience:
        return "early_stopping"
    return None
