"""Checkpoint averaging: the element-wise mean of the weights of the last N evaluations.

References: Vaswani et al. 2017, "Attention Is All You Need", section 6.1 (the base models are
the average of the last 5 checkpoints, written at 10-minute intervals; the big models of the last
20); Polyak & Juditsky 1992 (averaging the iterates cancels much of the noise of the last steps,
the idea ``averaging.py`` applies in its exponential form). Over the newest N evaluation steps
s_1 < ... < s_N:

    theta_avg = (theta_{s_1} + ... + theta_{s_N}) / N

Floating tensors are summed in float64, oldest first, and the sum divided by N and cast back to
the tensor's type; non-floating buffers (counters such as BatchNorm's ``num_batches_tracked``)
are taken from the newest checkpoint, since a mean of counts or indices means nothing.

Files, under ``out_dir/checkpoints/`` (the names are seqlab.model_dir's)::

    recent/step-0000500/   weights only: those evaluated at step 500, the same ones best/ would
                           save (the exponential average when weight_average_decay is on)
    average/               weights only: the mean, present only while it is the run's final model

Each folder is written atomically like every checkpoint (``checkpoint.py``). At an evaluation,
recent/step-N is written before ``last/`` and the older folders are pruned after it, so whatever
a crash interrupts, recent/ holds every step a resume from ``last/`` needs; the resume drops
those newer than ``last/`` (the resumed run writes them again, from the same weights) and
average/ (the run is no longer finished). Hence a resumed run averages exactly the checkpoints an
uninterrupted one would.
"""

from __future__ import annotations

import math
import os
import re
import shutil
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch
from safetensors.torch import load_file
from torch import nn

from seqlab.model_dir import (
    CHECKPOINT_AVERAGE,
    CHECKPOINT_WEIGHTS,
    CHECKPOINTS,
    CHECKPOINTS_RECENT,
    RECENT_STEP_PREFIX,
)
from seqlab.train.checkpoint import (
    find_checkpoint,
    load_best_weights,
    load_model_weights,
    save_weights_checkpoint,
)
from seqlab.train.run_state import float_to_json

__all__ = [
    "CheckpointAverage",
    "at_least_as_good",
    "average_checkpoint_files",
    "average_state_dicts",
    "discard_recent_after",
    "drop_average",
    "load_final_weights",
    "prune_recent_checkpoints",
    "recent_checkpoints",
    "save_average_checkpoint",
    "save_recent_checkpoint",
]

# "step-0000500", or ".step-0000500.old" when a save crashed between its two renames.
_RECENT_NAME = re.compile(rf"\.?({re.escape(RECENT_STEP_PREFIX)}(\d+))(\.old)?")


@dataclass(frozen=True)
class CheckpointAverage:
    """What the end of training did with the recent checkpoints.

    steps: the evaluation steps averaged, oldest first (a single step: nothing to average).
    metrics: the average's metrics on "val" (empty when nothing was averaged).
    monitor / best_metric / best_step: the monitored metric and the best checkpoint's value.
    kept: "average" when the mean validates at least as well as the best checkpoint, and is
        therefore the final model (checkpoints/average), else "best".
    """

    steps: tuple[int, ...]
    metrics: dict[str, float]
    monitor: str
    best_metric: float | None
    best_step: int | None
    kept: Literal["average", "best"]

    @property
    def metric(self) -> float | None:
        """The average's monitored metric (None when nothing was averaged)."""
        return self.metrics.get(self.monitor)

    def to_json(self) -> dict[str, Any]:
        """The strict-JSON record metrics.json and log.jsonl keep (non-finite floats as text)."""
        return {
            "steps": list(self.steps),
            "val": {name: float_to_json(value) for name, value in self.metrics.items()},
            "best_val": {self.monitor: float_to_json(self.best_metric)},
            "best_step": self.best_step,
            "kept": self.kept,
        }


def at_least_as_good(value: float, best: float | None, mode: str) -> bool:
    """Whether ``value`` is finite and no worse than ``best`` (lower for "min", higher for "max");
    any finite value beats a run that never had a finite best."""
    if not math.isfinite(value):
        return False
    if best is None:
        return True
    return value <= best if mode == "min" else value >= best


# ----------------------------------------------------------------------------------------------
# The recent checkpoints
# ----------------------------------------------------------------------------------------------


def _recent_dir(out_dir: str | os.PathLike[str]) -> Path:
    return Path(out_dir) / CHECKPOINTS / CHECKPOINTS_RECENT


def _average_dir(out_dir: str | os.PathLike[str]) -> Path:
    return Path(out_dir) / CHECKPOINTS / CHECKPOINT_AVERAGE


def save_recent_checkpoint(
    out_dir: str | os.PathLike[str], *, step: int, model: nn.Module, metrics: Mapping[str, float]
) -> Path:
    """Write ``model``'s weights as ``checkpoints/recent/step-<step>`` atomically; returns it.

    ``metrics`` (the evaluation of these weights) go to its trainer.json beside the step."""
    folder = _recent_dir(out_dir) / f"{RECENT_STEP_PREFIX}{step:07d}"
    progress = {"step": step, "metrics": {k: float_to_json(v) for k, v in metrics.items()}}
    save_weights_checkpoint(folder, model=model, progress=progress)
    return folder


def _recent_folders(out_dir: str | os.PathLike[str]) -> dict[int, Path]:
    """Every recent folder by step, complete or not, under its name without ``.``/``.old``."""
    folder = _recent_dir(out_dir)
    if not folder.is_dir():
        return {}
    found: dict[int, Path] = {}
    for entry in folder.iterdir():
        match = _RECENT_NAME.fullmatch(entry.name)
        if match is None or (entry.name.startswith(".") != bool(match.group(3))):
            continue  # a temporary ".step-N.tmp" or a file that is not ours
        found[int(match.group(2))] = folder / match.group(1)
    return found


def recent_checkpoints(out_dir: str | os.PathLike[str]) -> list[tuple[int, Path]]:
    """The complete recent checkpoints as (step, folder to read), oldest first."""
    complete = []
    for step, folder in sorted(_recent_folders(out_dir).items()):
        readable = find_checkpoint(folder)  # the folder, or its ".old" after a crashed save
        if readable is not None:
            complete.append((step, readable))
    return complete


def _remove_recent(folder: Path) -> None:
    for path in (folder, folder.parent / f".{folder.name}.old"):
        shutil.rmtree(path, ignore_errors=True)


def prune_recent_checkpoints(out_dir: str | os.PathLike[str], *, keep: int) -> None:
    """Remove all recent checkpoints but the newest ``keep``."""
    folders = sorted(_recent_folders(out_dir).items())
    for _, folder in folders[: max(len(folders) - keep, 0)]:
        _remove_recent(folder)


def discard_recent_after(out_dir: str | os.PathLike[str], step: int) -> None:
    """For a resume from ``step``: remove the recent checkpoints of later steps (a crash fell
    between writing one and writing ``last/``; the resumed run writes it again) and
    ``checkpoints/average`` (the run is no longer finished)."""
    for saved, folder in _recent_folders(out_dir).items():
        if saved > step:
            _remove_recent(folder)
    drop_average(out_dir)


# ----------------------------------------------------------------------------------------------
# The average
# ----------------------------------------------------------------------------------------------


def average_state_dicts(
    state_dicts: Iterable[Mapping[str, torch.Tensor]],
) -> dict[str, torch.Tensor]:
    """The element-wise mean of floating tensors (summed in float64, in the given order), and
    every other tensor from the last state dict; all must hold the same names and shapes."""
    sums: dict[str, torch.Tensor] = {}
    newest: Mapping[str, torch.Tensor] = {}
    count = 0
    for state in state_dicts:
        if count and sorted(state) != sorted(newest):
            raise ValueError(
                "the checkpoints to average hold different tensors; they must come from one run"
            )
        for name, tensor in state.items():
            if tensor.is_floating_point():
                value = tensor.detach().to("cpu", torch.float64)
                sums[name] = value.clone() if count == 0 else sums[name].add_(value)
        newest, count = state, count + 1
    if count == 0:
        raise ValueError("no checkpoints to average")
    return {
        name: (sums[name] / count).to(tensor.dtype) if name in sums else tensor.detach().cpu()
        for name, tensor in newest.items()
    }


def average_checkpoint_files(folders: Iterable[Path]) -> dict[str, torch.Tensor]:
    """The mean (``average_state_dicts``) of the weights in ``folders``, oldest first, read one
    at a time so that only one checkpoint and the sums are in memory."""
    return average_state_dicts(
        load_file(str(folder / CHECKPOINT_WEIGHTS), device="cpu") for folder in folders
    )


def save_average_checkpoint(
    out_dir: str | os.PathLike[str], *, model: nn.Module, outcome: CheckpointAverage
) -> None:
    """Write ``model``'s weights (the average, loaded) as ``checkpoints/average`` atomically."""
    save_weights_checkpoint(_average_dir(out_dir), model=model, progress=outcome.to_json())


def drop_average(out_dir: str | os.PathLike[str]) -> None:
    """Remove ``checkpoints/average`` (and what a crashed save of it left)."""
    folder = _average_dir(out_dir)
    for path in (
        folder,
        folder.parent / f".{folder.name}.old",
        folder.parent / f".{folder.name}.tmp",
    ):
        shutil.rmtree(path, ignore_errors=True)


def load_final_weights(model: nn.Module, out_dir: str | os.PathLike[str]) -> Path:
    """Load the run's final model into ``model``; returns the folder read.

    ``checkpoints/average`` when the end of training kept the checkpoint average, else what
    ``load_best_weights`` loads (best/, or last/ for a run without a finite evaluation).
    """
    if find_checkpoint(_average_dir(out_dir)) is not None:
        return load_model_weights(_average_dir(out_dir), model)
    return load_best_weights(model, out_dir)
