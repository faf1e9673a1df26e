"""seqlab.tasks: one module per workload, each wiring data + model + loss + metrics + predictor.

Task modules are imported on demand (``task_class(name)``), so ``import seqlab`` stays light and
adding a workload means adding a module here and a line in ``_TASK_MODULES``.
"""

from __future__ import annotations

import importlib

from seqlab.errors import SeqlabError

TASK_NAMES: tuple[str, ...] = ("memory", "sentiment", "translation", "forecasting", "lm")

# Workloads that exist so far; the others are named in TASK_NAMES and arrive with their modules.
_TASK_MODULES = {
    "memory": "seqlab.tasks.memory",
    "sentiment": "seqlab.tasks.sentiment",
    "forecasting": "seqlab.tasks.forecasting",
}


def task_class(name: str) -> type:
    """The Task class of workload ``name``; a one-line error for an unknown or unbuilt task."""
    if name not in _TASK_MODULES:
        available = ", ".join(sorted(_TASK_MODULES))
        if name in TASK_NAMES:
            raise SeqlabError(
                f"task '{name}' is not available in this version of seqlab; available: {available}"
            )
        raise SeqlabError(f"unknown task '{name}'; choose one of: {available}")
    module = importlib.import_module(_TASK_MODULES[name])
    return module.TASK


def available_tasks() -> tuple[str, ...]:
    return tuple(sorted(_TASK_MODULES))
