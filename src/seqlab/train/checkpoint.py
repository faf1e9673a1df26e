"""Training checkpoints in safetensors + JSON (no pickle, so loading never executes code).

References: the safetensors format (Hugging Face, 2022); POSIX ``rename(2)`` for atomic
replacement. How optimizer, scheduler and carried state become tensors plus JSON is
``checkpoint_codec.py``; the progress counters are ``run_state.py``'s; the file names are
``seqlab.model_dir``'s.

Layout (``out_dir/checkpoints/``)::

    last/   full training state, enough to resume exactly
        model.safetensors      model.state_dict()
        optimizer.safetensors  optimizer tensors, keyed "state.<param index>.<name>"
        trainer.safetensors    torch RNG states ("rng.torch_cpu", "rng.torch_cuda.<i>") and the
                               carried recurrent state's tensors ("carried.<path>")
        trainer.json           progress counters (step, best metric, ...), the optimizer's
                               param_groups and non-tensor state, the scheduler, Python and NumPy
                               RNG states, the carried state's structure, the TrainConfig
    best/   weights of the best evaluation only (model.safetensors + trainer.json): resuming always
            starts from last/, so best/ needs no optimizer state, which halves its size.
    recent/, average/   with ``average_checkpoints``: the weights of the last evaluations and
            their mean, weights only (``checkpoint_averaging.py``).

Each folder is written complete under a temporary name (``.last.tmp``) and then renamed into
place. A directory cannot be renamed over a non-empty one, so the previous folder is first
renamed to ``.last.old`` and deleted after the swap; if a crash falls between those two renames,
readers fall back to ``.last.old``. An interrupted write therefore always leaves a loadable
checkpoint: the previous one or the new one.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file
from torch import nn

from seqlab.model_dir import (
    CHECKPOINT_OPTIMIZER,
    CHECKPOINT_TRAINER_JSON,
    CHECKPOINT_TRAINER_TENSORS,
    CHECKPOINT_WEIGHTS,
    CHECKPOINTS,
    CHECKPOINTS_RECENT,
    CheckpointName,
    ModelDir,
)
from seqlab.train.checkpoint_codec import (
    decode_tree,
    encode_tree,
    join_optimizer_state,
    scheduler_json,
    split_optimizer_state,
)
from seqlab.utils.io import atomic_write_json, fsync_dir, save_safetensors_atomic
from seqlab.utils.seeding import RngState, capture_rng_state, restore_rng_state

__all__ = [
    "LoadedCheckpoint",
    "checkpoint_path",
    "drop_resume_state",
    "find_checkpoint",
    "load_best_weights",
    "load_model_weights",
    "load_training_checkpoint",
    "save_training_checkpoint",
    "save_weights_checkpoint",
    "saved_step",
]

FORMAT_VERSION = 1
_AVERAGE_PREFIX = "average."  # averaged weights, stored among the trainer tensors


def checkpoint_path(out_dir: str | os.PathLike[str], which: CheckpointName) -> Path:
    """``out_dir/checkpoints/<which>`` (which may not exist)."""
    return ModelDir(Path(out_dir)).checkpoint_path(which)


def find_checkpoint(folder: str | os.PathLike[str]) -> Path | None:
    """The complete checkpoint folder to read for ``folder``, or None if there is none.

    Falls back to ``.<name>.old``, which exists alone only when a save crashed between its two
    renames (see the module docstring).
    """
    path = Path(folder)
    for candidate in (path, path.parent / f".{path.name}.old"):
        if (candidate / CHECKPOINT_TRAINER_JSON).is_file() and (
            candidate / CHECKPOINT_WEIGHTS
        ).is_file():
            return candidate
    return None


def _write_folder_atomically(folder: Path, write: Callable[[Path], None]) -> None:
    parent = folder.parent
    parent.mkdir(parents=True, exist_ok=True)
    temporary = parent / f".{folder.name}.tmp"
    previous = parent / f".{folder.name}.old"
    if temporary.exists():
        shutil.rmtree(temporary)  # left by a crashed save; never renamed into place
    temporary.mkdir()
    try:
        write(temporary)
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)
        raise
    fsync_dir(temporary)
    if folder.exists():
        if previous.exists():
            shutil.rmtree(previous)  # stale: ``folder`` is complete, so nothing needs it
        os.replace(folder, previous)
    os.replace(temporary, folder)
    fsync_dir(parent)
    if previous.exists():
        shutil.rmtree(previous)


# ----------------------------------------------------------------------------------------------
# Saving
# ----------------------------------------------------------------------------------------------


def _model_tensors(model: nn.Module) -> dict[str, torch.Tensor]:
    return dict(model.state_dict())


def save_training_checkpoint(
    folder: str | os.PathLike[str],
    *,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    progress: Mapping[str, Any],
    carried_state: Any = None,
    config: Mapping[str, Any] | None = None,
    averaged_weights: Mapping[str, torch.Tensor] | None = None,
) -> None:
    """Write the full training state to ``folder`` atomically; RNG states are captured now.

    ``progress`` is the loop's JSON-ready counters (step, best metric, ...), stored as given.
    ``averaged_weights`` (seqlab.train.averaging) are stored beside the raw weights.
    """
    rng = capture_rng_state()
    optimizer_tensors, optimizer_info = split_optimizer_state(optimizer)
    trainer_tensors: dict[str, torch.Tensor] = {"rng.torch_cpu": rng.torch_cpu}
    for index, cuda_state in enumerate(rng.torch_cuda):
        trainer_tensors[f"rng.torch_cuda.{index}"] = cuda_state
    carried_spec = encode_tree(carried_state, "carried", trainer_tensors)
    for name, tensor in (averaged_weights or {}).items():
        trainer_tensors[f"{_AVERAGE_PREFIX}{name}"] = tensor.detach().cpu().contiguous()
    scheduler_state = scheduler_json(scheduler)
    info = {
        "format": FORMAT_VERSION,
        "kind": "training",
        "progress": dict(progress),
        "optimizer": optimizer_info,
        "scheduler": scheduler_state,
        "rng": {"python": rng.python, "numpy": rng.numpy, "torch_cuda": len(rng.torch_cuda)},
        "carried_state": carried_spec,
        "config": dict(config) if config is not None else None,
    }

    def write(target: Path) -> None:
        save_safetensors_atomic(_model_tensors(model), target / CHECKPOINT_WEIGHTS)
        save_safetensors_atomic(optimizer_tensors, target / CHECKPOINT_OPTIMIZER)
        save_safetensors_atomic(trainer_tensors, target / CHECKPOINT_TRAINER_TENSORS)
        atomic_write_json(target / CHECKPOINT_TRAINER_JSON, info)  # last: marks the folder complete

    _write_folder_atomically(Path(folder), write)


def save_weights_checkpoint(
    folder: str | os.PathLike[str], *, model: nn.Module, progress: Mapping[str, Any]
) -> None:
    """Write only the model weights and ``progress`` to ``folder`` atomically (the best model)."""
    info = {"format": FORMAT_VERSION, "kind": "weights", "progress": dict(progress)}

    def write(target: Path) -> None:
        save_safetensors_atomic(_model_tensors(model), target / CHECKPOINT_WEIGHTS)
        atomic_write_json(target / CHECKPOINT_TRAINER_JSON, info)

    _write_folder_atomically(Path(folder), write)


# ----------------------------------------------------------------------------------------------
# Loading
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LoadedCheckpoint:
    """What :func:`load_training_checkpoint` returns besides filling the objects it was given."""

    folder: Path
    progress: dict[str, Any]
    carried_state: Any
    config: dict[str, Any] | None
    averaged_weights: dict[str, torch.Tensor]


def _read_info(folder: Path) -> dict[str, Any]:
    info = json.loads((folder / CHECKPOINT_TRAINER_JSON).read_text(encoding="utf-8"))
    if info.get("format") != FORMAT_VERSION:
        raise ValueError(
            f"checkpoint {folder} has format {info.get('format')!r}; this seqlab reads format "
            f"{FORMAT_VERSION}; resume with the seqlab version that wrote it"
        )
    return info


def _require(folder: str | os.PathLike[str]) -> Path:
    found = find_checkpoint(folder)
    if found is None:
        raise FileNotFoundError(
            f"no complete checkpoint at {folder} (expected {CHECKPOINT_WEIGHTS} and "
            f"{CHECKPOINT_TRAINER_JSON}); train first, or point to the run's out_dir"
        )
    return found


def saved_step(folder: str | os.PathLike[str]) -> int | str:
    """The optimizer step recorded in ``folder``'s trainer.json, or "unknown" when unreadable.

    For messages only (the step of the last good checkpoint), so it never raises.
    """
    try:
        info = json.loads((Path(folder) / CHECKPOINT_TRAINER_JSON).read_text(encoding="utf-8"))
        return int(info["progress"]["step"])
    except (OSError, ValueError, KeyError):
        return "unknown"


def load_model_weights(folder: str | os.PathLike[str], model: nn.Module) -> Path:
    """Load ``folder/model.safetensors`` into ``model`` (strict); returns the folder read."""
    found = _require(folder)
    tensors = load_file(str(found / CHECKPOINT_WEIGHTS), device="cpu")
    try:
        model.load_state_dict(tensors, strict=True)
    except RuntimeError as err:
        first_line = str(err).strip().splitlines()[0]
        raise RuntimeError(
            f"checkpoint {found / CHECKPOINT_WEIGHTS} does not fit this model ({first_line} ...); "
            "build the model from the config the run was trained with"
        ) from err
    return found


def load_training_checkpoint(
    folder: str | os.PathLike[str],
    *,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    device: torch.device | str = "cpu",
) -> LoadedCheckpoint:
    """Restore model, optimizer, scheduler and every RNG from ``folder``.

    Build the optimizer and scheduler exactly as for a fresh run, then call this. The carried
    recurrent state comes back on ``device``.
    """
    found = _require(folder)
    info = _read_info(found)
    if info.get("kind") != "training":
        raise ValueError(
            f"checkpoint {found} holds weights only (kind {info.get('kind')!r}); resume from "
            "checkpoints/last, which holds the optimizer state"
        )
    load_model_weights(found, model)
    optimizer_tensors = load_file(str(found / CHECKPOINT_OPTIMIZER), device="cpu")
    optimizer_state = join_optimizer_state(optimizer, optimizer_tensors, info["optimizer"])
    optimizer.load_state_dict(optimizer_state)
    scheduler_state = dict(info["scheduler"])
    scheduler.load_state_dict(scheduler_state)
    trainer_tensors = load_file(str(found / CHECKPOINT_TRAINER_TENSORS), device="cpu")
    cuda_count = int(info["rng"].get("torch_cuda", 0))
    restore_rng_state(
        RngState(
            torch_cpu=trainer_tensors["rng.torch_cpu"],
            torch_cuda=tuple(trainer_tensors[f"rng.torch_cuda.{i}"] for i in range(cuda_count)),
            python=info["rng"]["python"],
            numpy=info["rng"]["numpy"],
        )
    )
    carried = decode_tree(info["carried_state"], trainer_tensors, device)
    averaged = {
        name.removeprefix(_AVERAGE_PREFIX): tensor.to(device)
        for name, tensor in trainer_tensors.items()
        if name.startswith(_AVERAGE_PREFIX)
    }
    return LoadedCheckpoint(
        folder=found,
        progress=info["progress"],
        carried_state=carried,
        config=info.get("config"),
        averaged_weights=averaged,
    )


def drop_resume_state(out_dir: str | os.PathLike[str], *, keep_checkpoints: bool) -> None:
    """Remove ``checkpoints/last`` and ``checkpoints/recent`` unless checkpoints are kept or
    ``checkpoints/best`` is missing: the resume state (optimizer moments, RNGs, the weights a
    resumed run would still average) is the bulk, and best/ (or average/) keeps the final
    weights. Call it once nothing can need a resume any more."""
    if keep_checkpoints or find_checkpoint(checkpoint_path(out_dir, "best")) is None:
        return
    shutil.rmtree(checkpoint_path(out_dir, "last"), ignore_errors=True)
    shutil.rmtree(Path(out_dir) / CHECKPOINTS / CHECKPOINTS_RECENT, ignore_errors=True)


def load_best_weights(model: nn.Module, out_dir: str | os.PathLike[str]) -> Path:
    """Load the best weights of the run in ``out_dir`` into ``model``; returns the folder read.

    Uses ``checkpoints/best`` when present, else ``checkpoints/last`` (a run whose evaluations
    never produced a finite monitored metric has no best).
    """
    for which in ("best", "last"):
        folder = checkpoint_path(out_dir, which)
        if find_checkpoint(folder) is not None:
            return load_model_weights(folder, model)
    raise FileNotFoundError(
        f"no checkpoint under {Path(out_dir) / CHECKPOINTS} (neither best/ nor last/); "
        "train with seqlab.train.fit(..., out_dir) first"
    )
