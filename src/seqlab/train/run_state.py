"""The training loop's counters and evaluation history, and their JSON form in a checkpoint.

References: RFC 8259 (JSON has no NaN or infinity, so ``seqlab.utils.io`` writes strict JSON and
non-finite floats are stored here as the text ``float()`` reads back).

A run's state travels in ``trainer.json`` of every checkpoint (``checkpoint.py``), so a resumed
``fit`` continues the step count, the batch index, the best metric, the patience count, the
summed wall-clock time and the evaluation history exactly where the interrupted call stopped.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

__all__ = ["EvalRecord", "RunState"]


@dataclass(frozen=True)
class EvalRecord:
    """One evaluation: the optimizer step it followed, the split and its metrics."""

    step: int
    split: str
    metrics: dict[str, float]


@dataclass
class RunState:
    """The loop's counters; saved in every checkpoint so resume continues them."""

    monitor: str
    mode: str
    step: int = 0
    next_batch_index: int = 0  # skipped steps consume batches too, so this is not step * accum
    best_metric: float | None = None
    best_step: int | None = None
    evals_without_improvement: int = 0
    last_eval_step: int | None = None
    elapsed_seconds: float = 0.0  # summed over every fit call of this run
    last_train_loss: float | None = None
    history: list[EvalRecord] = field(default_factory=list)
    # Processes the run trains on (seqlab.train.distributed); a stateful task's checkpoint
    # carries one recurrent state per process, so its resume needs the same number.
    world_size: int = 1

    def to_json(self) -> dict[str, Any]:
        """A strict-JSON object (non-finite floats as text) that :meth:`from_json` reads back."""
        data: dict[str, Any] = {
            "monitor": self.monitor,
            "mode": self.mode,
            "step": self.step,
            "next_batch_index": self.next_batch_index,
            "best_metric": float_to_json(self.best_metric),
            "best_step": self.best_step,
            "evals_without_improvement": self.evals_without_improvement,
            "last_eval_step": self.last_eval_step,
            "elapsed_seconds": self.elapsed_seconds,
            "last_train_loss": float_to_json(self.last_train_loss),
            "history": [
                {
                    "step": record.step,
                    "split": record.split,
                    "metrics": {k: float_to_json(v) for k, v in record.metrics.items()},
                }
                for record in self.history
            ],
        }
        if self.world_size != 1:  # one process writes what it always wrote
            data["world_size"] = self.world_size
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RunState:
        history = [
            EvalRecord(
                step=int(item["step"]),
                split=str(item["split"]),
                metrics={k: float_from_json(v) for k, v in item["metrics"].items()},
            )
            for item in data["history"]
        ]
        return cls(
            monitor=data["monitor"],
            mode=data["mode"],
            step=int(data["step"]),
            next_batch_index=int(data["next_batch_index"]),
            best_metric=_optional_float(data["best_metric"]),
            best_step=data["best_step"],
            evals_without_improvement=int(data["evals_without_improvement"]),
            last_eval_step=data["last_eval_step"],
            elapsed_seconds=float(data["elapsed_seconds"]),
            last_train_loss=_optional_float(data["last_train_loss"]),
            history=history,
            world_size=int(data.get("world_size", 1)),
        )


def float_to_json(value: float | None) -> float | str | None:
    """``value`` as strict JSON: finite floats and None as they are, NaN and infinities as text."""
    # Strict JSON has no NaN/inf, but a diverging metric is worth keeping: store it as text.
    if value is None or math.isfinite(value):
        return value
    return repr(value)  # "nan", "inf" or "-inf", which float() reads back


def float_from_json(value: float | str) -> float:
    """The float :func:`float_to_json` stored."""
    return float(value)


def _optional_float(value: float | str | None) -> float | None:
    return None if value is None else float_from_json(value)
