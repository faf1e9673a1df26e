"""Training state as tensors plus JSON: the carried recurrent state, the optimizer, the scheduler.

References: PyTorch ``Optimizer.state_dict`` layout (``state`` keyed by parameter index,
``param_groups`` holding hyper-parameters) and ``LRScheduler.state_dict``; the safetensors format
(Hugging Face, 2022), which stores flat name -> tensor maps and nothing else.

A checkpoint (``checkpoint.py``) stores tensors in safetensors files and everything else in
``trainer.json``, so loading never executes code. This module splits each piece of state into
those two halves and joins them back:

- a carried recurrent state (tensors nested in tuples, lists and dicts) -> tensors named
  ``<prefix>.<path>`` plus a JSON description of the nesting;
- an optimizer's state -> tensors named ``state.<param index>.<name>`` plus JSON for the
  param_groups and the non-tensor entries;
- a scheduler's state -> JSON (its learning-rate functions are rebuilt from the config).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

__all__ = [
    "decode_tree",
    "encode_tree",
    "join_optimizer_state",
    "json_value",
    "scheduler_json",
    "split_optimizer_state",
]


# ----------------------------------------------------------------------------------------------
# Nested structures of tensors (the carried recurrent state) <-> tensors + JSON
# ----------------------------------------------------------------------------------------------


def encode_tree(value: Any, prefix: str, tensors: dict[str, torch.Tensor]) -> dict[str, Any]:
    """The JSON description of ``value``; its tensors are added to ``tensors`` under ``prefix``."""
    if value is None:
        return {"kind": "none"}
    if isinstance(value, torch.Tensor):
        tensors[prefix] = value.detach()
        return {"kind": "tensor", "key": prefix}
    if isinstance(value, tuple | list):
        items = [encode_tree(item, f"{prefix}.{i}", tensors) for i, item in enumerate(value)]
        return {"kind": "tuple" if isinstance(value, tuple) else "list", "items": items}
    if isinstance(value, Mapping):
        if not all(isinstance(key, str) and "." not in key for key in value):
            raise TypeError(f"carried state dict keys must be str without '.', got {list(value)}")
        named = {k: encode_tree(item, f"{prefix}.{k}", tensors) for k, item in value.items()}
        return {"kind": "dict", "items": named}
    if isinstance(value, bool | int | float | str):
        return {"kind": "value", "value": value}
    raise TypeError(
        f"cannot checkpoint a carried state of type {type(value).__name__}; use tensors, "
        "tuples, lists, dicts or None"
    )


def decode_tree(spec: Mapping[str, Any], tensors: Mapping[str, torch.Tensor], device: Any) -> Any:
    """The value :func:`encode_tree` described, its tensors moved to ``device``."""
    kind = spec["kind"]
    if kind == "none":
        return None
    if kind == "tensor":
        return tensors[spec["key"]].to(device)
    if kind in ("tuple", "list"):
        items = [decode_tree(item, tensors, device) for item in spec["items"]]
        return tuple(items) if kind == "tuple" else items
    if kind == "dict":
        return {key: decode_tree(item, tensors, device) for key, item in spec["items"].items()}
    if kind == "value":
        return spec["value"]
    raise ValueError(f"unknown carried-state entry kind {kind!r} in checkpoint")


# ----------------------------------------------------------------------------------------------
# Optimizer and scheduler state <-> tensors + JSON
# ----------------------------------------------------------------------------------------------


def json_value(value: Any, *, where: str) -> Any:
    """``value`` as JSON (one-element tensors as numbers); ``where`` names it in the error."""
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        return value.item()
    if isinstance(value, tuple | list):
        return [json_value(item, where=where) for item in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    raise TypeError(f"{where} holds a {type(value).__name__}, which a checkpoint cannot store")


def split_optimizer_state(
    optimizer: torch.optim.Optimizer,
) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """The optimizer's tensors by name, and the JSON of its param_groups and scalar state."""
    state_dict = optimizer.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for index, entries in state_dict["state"].items():
        for name, value in entries.items():
            if isinstance(value, torch.Tensor):
                tensors[f"state.{index}.{name}"] = value
            else:
                where = f"optimizer state {index}.{name}"
                scalars.setdefault(str(index), {})[name] = json_value(value, where=where)
    groups = [
        {key: json_value(value, where=f"param group {i} '{key}'") for key, value in group.items()}
        for i, group in enumerate(state_dict["param_groups"])
    ]
    return tensors, {"param_groups": groups, "scalars": scalars}


def join_optimizer_state(
    optimizer: torch.optim.Optimizer, tensors: Mapping[str, torch.Tensor], info: Mapping[str, Any]
) -> dict[str, Any]:
    """The state dict that :func:`split_optimizer_state` took apart, for ``load_state_dict``."""
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


def scheduler_json(scheduler: torch.optim.lr_scheduler.LRScheduler) -> dict[str, Any]:
    """The scheduler's state dict as JSON; its learning-rate functions become None."""
    return {
        key: json_value(value, where=f"scheduler '{key}'")
        if key != "lr_lambdas"
        else [None] * len(value)  # functions are rebuilt from the config, never stored
        for key, value in scheduler.state_dict().items()
    }
