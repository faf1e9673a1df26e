"""seqlab.train: the task-agnostic training engine.

``fit(model, task, config, out_dir)`` trains any model on any object implementing
``TrainableTask`` (see ``protocol.py``): AdamW, learning-rate schedules (``schedules.py``),
exact gradient accumulation, global-norm clipping, non-finite step skipping, evaluation with
best/last checkpoints (``checkpoint.py``), averaging of the last N evaluated checkpoints
(``checkpoint_averaging.py``), early stopping, step and wall-clock budgets, exact resume, and a
JSON-lines log. References are named in each module.

``loop.py`` holds ``fit``, which reads as the loop; the pieces it calls: ``session.py`` (set-up
and the state the pieces share), ``step.py`` (one optimizer step), ``evaluation.py`` (evaluate
and checkpoint), ``optim.py`` (AdamW and gradient averaging/clipping), ``run_state.py`` (the
counters a checkpoint saves), ``checkpoint.py`` with ``checkpoint_codec.py`` (the files).
"""

from seqlab.train.checkpoint import (
    checkpoint_path,
    drop_resume_state,
    load_best_weights,
    load_model_weights,
    load_training_checkpoint,
    save_training_checkpoint,
    save_weights_checkpoint,
)
from seqlab.train.checkpoint_averaging import CheckpointAverage, load_final_weights
from seqlab.train.config import TrainConfig
from seqlab.train.loop import FitResult, StopReason, fit
from seqlab.train.optim import build_optimizer
from seqlab.train.progress import (
    PlainProgress,
    ProgressReporter,
    QuietProgress,
    RichProgress,
    StepInfo,
    make_progress,
)
from seqlab.train.protocol import StepLoss, TrainableTask, detach_state, move_to
from seqlab.train.run_state import EvalRecord
from seqlab.train.schedules import build_scheduler, lr_multiplier, transformer_peak_lr
from seqlab.train.session import resolve_device
from seqlab.train.step import TrainingDiverged

__all__ = [
    "CheckpointAverage",
    "EvalRecord",
    "FitResult",
    "PlainProgress",
    "ProgressReporter",
    "QuietProgress",
    "RichProgress",
    "StepInfo",
    "StepLoss",
    "StopReason",
    "TrainConfig",
    "TrainableTask",
    "TrainingDiverged",
    "build_optimizer",
    "build_scheduler",
    "checkpoint_path",
    "detach_state",
    "drop_resume_state",
    "fit",
    "load_best_weights",
    "load_final_weights",
    "load_model_weights",
    "load_training_checkpoint",
    "lr_multiplier",
    "make_progress",
    "move_to",
    "resolve_device",
    "save_training_checkpoint",
    "save_weights_checkpoint",
    "transformer_peak_lr",
]
