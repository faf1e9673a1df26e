"""Training checkpoints in safetensors + JSON (no pickle, so loading never executes code).

References: the safetensors format (Hugging Face, 2022); PyTorch ``Optimizer.state_dict`` layout
(``state`` keyed by parameter index, ``param_groups`` holding hyper-parameters); POSIX
``rename(2)`` for atomic replacement.

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
from typing import Any, Literal

import torch
from safetensors.torch import load_file
from torch import nn

from seqlab.utils.io import atomic_write_json, fsync_dir, save_safetensors_atomic
from seqlab.utils.seeding import RngState, capture_rng_state, restore_rng_state

__all__ = [
    "CHECKPOINTS_DIR",
    "LoadedCheckpoint",
    "checkpoint_path",
    "find_checkpoint",
    "load_best_weights",
    "load_model_weights",
    "load_training_checkpoint",
    "save_training_checkpoint",
    "save_weights_checkpoint",
]

CHECKPOINTS_DIR = "checkpoints"
FORMAT_VERSION = 1
_MODEL_FILE = "model.safetensors"
_OPTIMIZER_FILE = "optimizer.safetensors"
_TRAINER_TENSORS_FILE = "trainer.safetensors"
_TRAINER_JSON_FILE = "trainer.json"
_AVERAGE_PREFIX = "average."  # averaged weights, stored among the trainer tensors


def checkpoint_path(out_dir: str | os.PathLike[str], which: Literal["last", "best"]) -> Path:
    """``out_dir/checkpoints/<which>`` (which may not exist)."""
    if which not in ("last", "best"):
        raise ValueError(f"which ({which!r}) must be 'last' or 'best'")
    return Path(out_dir) / CHECKPOINTS_DIR / which


def find_checkpoint(folder: str | os.PathLike[str]) -> Path | None:
    """The complete checkpoint folder to read for ``folder``, or None if there is none.

    Falls back to ``.<name>.old``, which exists alone only when a save crashed between its two
    renames (see the module docstring).
    """
    path = Path(folder)
    for candidate in (path, path.parent / f".{path.name}.old"):
        if (candidate / _TRAINER_JSON_FILE).is_file() and (candidate / _MODEL_FILE).is_file():
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
# Nested structures of tensors (the carried recurrent state) <-> tensors + JSON
# ----------------------------------------------------------------------------------------------


def _encode_tree(value: Any, prefix: str, tensors: dict[str, torch.Tensor]) -> dict[str, Any]:
    if value is None:
        return {"kind": "none"}
    if isinstance(value, torch.Tensor):
        tensors[prefix] = value.detach()
        return {"kind": "tensor", "key": prefix}
    if isinstance(value, tuple | list):
        items = [_encode_tree(item, f"{prefix}.{i}", tensors) for i, item in enumerate(value)]
        return {"kind": "tuple" if isinstance(value, tuple) else "list", "items": items}
    if isinstance(value, Mapping):
        if not all(isinstance(key, str) and "." not in key for key in value):
            raise TypeError(f"carried state dict keys must be str without '.', got {list(value)}")
        items = {k: _encode_tree(item, f"{prefix}.{k}", tensors) for k, item in value.items()}
        return {"kind": "dict", "items": items}
    if isinstance(value, bool | int | float | str):
        return {"kind": "value", "value": value}
    raise TypeError(
        f"cannot checkpoint a carried state of type {type(value).__name__}; use tensors, "
        "tuples, lists, dicts or None"
    )


def _decode_tree(spec: Mapping[str, Any], tensors: Mapping[str, torch.Tensor], device: Any) -> Any:
    kind = spec["kind"]
    if kind == "none":
        return None
    if kind == "tensor":
        return tensors[spec["key"]].to(device)
    if kind in ("tuple", "list"):
        items = [_decode_tree(item, tensors, device) for item in spec["items"]]
        return tuple(items) if kind == "tuple" else items
    if kind == "dict":
        return {key: _decode_tree(item, tensors, device) for key, item in spec["items"].items()}
    if kind == "value":
        return spec["value"]
    raise ValueError(f"unknown carried-state entry kind {kind!r} in checkpoint")


# ----------------------------------------------------------------------------------------------
# Optimizer and scheduler state <-> tensors + JSON
# ----------------------------------------------------------------------------------------------


def _json_value(value: Any, *, where: str) -> Any:
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        return value.item()
    if isinstance(value, tuple | list):
        return [_json_value(item, where=where) for item in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    raise TypeError(f"{where} holds a {type(value).__name__}, which a checkpoint cannot store")


def _split_optimizer_state(
    optimizer: torch.optim.Optimizer,
) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    state_dict = optimizer.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for index, entries in state_dict["state"].items():
        for name, value in entries.items():
            if isinstance(value, torch.Tensor):
                tensors[f"state.{index}.{name}"] = value
            else:
                where = f"optimizer state {index}.{name}"
                scalars.setdefault(str(index), {})[name] = _json_value(value, where=where)
    groups = [
        {key: _json_value(value, where=f"param group {i} '{key}'") for key, value in group.items()}
        for i, group in enumerate(state_dict["param_groups"])
    ]
    return tensors, {"param_groups": groups, "scalars": scalars}


def _join_optimizer_state(
    optimizer: torch.optim.Optimizer, tensors: Mapping[str, torch.Tensor], info: Mapping[str, Any]
) -> dict[str, Any]:
    state: dict[int, dict[str, Any]] = {}
    for key, tensor in tensors.items():
        _, index, name = key.split(".", 2)
        state.setdefault(int(index), {})[name] = tensor
    for index, entries in info["scalars"].items():
        state.setdefault(int(index), {}).update(entries)
    groups = []
    for saved, current in zip(info["param_groups"], optimizer.param_groups, strict=False):
        # JSON has no tuples; give back the types the optimizer uses (betas is a tuple).
        groups.append(
            {
                key: tuple(value) if isinstance(current.get(key), tuple) else value
                for key, value in saved.items()
            }
        )
    groups.extend(info["param_groups"][len(groups) :])  # let load_state_dict report the mismatch
    return {"state": state, "param_groups": groups}


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
    optimizer_tensors, optimizer_info = _split_optimizer_state(optimizer)
    trainer_tensors: dict[str, torch.Tensor] = {"rng.torch_cpu": rng.torch_cpu}
    for index, cuda_state in enumerate(rng.torch_cuda):
        trainer_tensors[f"rng.torch_cuda.{index}"] = cuda_state
    carried_spec = _encode_tree(carried_state, "carried", trainer_tensors)
    for name, tensor in (averaged_weights or {}).items():
        trainer_tensors[f"{_AVERAGE_PREFIX}{name}"] = tensor.detach().cpu().contiguous()
    scheduler_state = {
        key: _json_value(value, where=f"scheduler '{key}'")
        if key != "lr_lambdas"
        else [None] * len(value)  # functions are rebuilt from the config, never stored
        for key, value in scheduler.state_dict().items()
    }
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
        save_safetensors_atomic(_model_tensors(model), target / _MODEL_FILE)
        save_safetensors_atomic(optimizer_tensors, target / _OPTIMIZER_FILE)
        save_safetensors_atomic(trainer_tensors, target / _TRAINER_TENSORS_FILE)
        atomic_write_json(target / _TRAINER_JSON_FILE, info)  # last: marks the folder complete

    _write_folder_atomically(Path(folder), write)


def save_weights_checkpoint(
    folder: str | os.PathLike[str], *, model: nn.Module, progress: Mapping[str, Any]
) -> None:
    """Write only the model weights and ``progress`` to ``folder`` atomically (the best model)."""
    info = {"format": FORMAT_VERSION, "kind": "weights", "progress": dict(progress)}

    def write(target: Path) -> None:
        save_safetensors_atomic(_model_tensors(model), target / _MODEL_FILE)
        atomic_write_json(target / _TRAINER_JSON_FILE, info)

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
    info = json.loads((folder / _TRAINER_JSON_FILE).read_text(encoding="utf-8"))
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
            f"no complete checkpoint at {folder} (expected {_MODEL_FILE} and "
            f"{_TRAINER_JSON_FILE}); train first, or point to the run's out_dir"
        )
    return found


def load_model_weights(folder: str | os.PathLike[str], model: nn.Module) -> Path:
    """Load ``folder/model.safetensors`` into ``model`` (strict); returns the folder read."""
    found = _require(folder)
    tensors = load_file(str(found / _MODEL_FILE), device="cpu")
    try:
        model.load_state_dict(tensors, strict=True)
    except RuntimeError as err:
        first_line = str(err).strip().splitlines()[0]
        raise RuntimeError(
            f"checkpoint {found / _MODEL_FILE} does not fit this model ({first_line} ...); build "
            "the model from the config the run was trained with"
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
    optimizer_tensors = load_file(str(found / _OPTIMIZER_FILE), device="cpu")
    optimizer_state = _join_optimizer_state(optimizer, optimizer_tensors, info["optimizer"])
    optimizer.load_state_dict(optimizer_state)
    scheduler_state = dict(info["scheduler"])
    scheduler.load_state_dict(scheduler_state)
    trainer_tensors = load_file(str(found / _TRAINER_TENSORS_FILE), device="cpu")
    cuda_count = int(info["rng"].get("torch_cuda", 0))
    restore_rng_state(
        RngState(
            torch_cpu=trainer_tensors["rng.torch_cpu"],
            torch_cuda=tuple(trainer_tensors[f"rng.torch_cuda.{i}"] for i in range(cuda_count)),
            python=info["rng"]["python"],
            numpy=info["rng"]["numpy"],
        )
    )
    carried = _decode_tree(info["carried_state"], trainer_tensors, device)
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


def load_best_weights(model: nn.Module, out_dir: str | os.PathLike[str]) -> Path:
    """Load the best weights of the run in ``out_dir`` into ``model``; returns the folder read.

    Uses ``checkpoints/best`` when present, else ``checkpoints/last`` (a run whose evaluations
    never produced a finite monitored metric has no best).
    """
    for which in ("best", "last"):
        folder = checkpoint_path(out_dir, which)  # type: ignore[arg-type]
        if find_checkpoint(folder) is not None:
            return load_model_weights(folder, model)
    raise FileNotFoundError(
        f"no checkpoint under {Path(out_dir) / CHECKPOINTS_DIR} (neither best/ nor last/); "
        "train with seqlab.train.fit(..., out_dir) first"
    )
