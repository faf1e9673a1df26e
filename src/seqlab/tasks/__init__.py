"""seqlab.tasks: one module per workload, each wiring data + model + loss + metrics + predictor.

Task modules are imported on demand (``task_class(name)``), so ``import seqlab`` stays light and
adding a workload means adding a package here and a line in ``_TASK_MODULES``. Each package's
``options`` module (``task_options(name)``) says what the command line needs without importing
torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from seqlab.errors import SeqlabError

if TYPE_CHECKING:
    from seqlab.tasks.base import Task
    from seqlab.tasks.options import TaskOptions

TASK_NAMES: tuple[str, ...] = ("memory", "sentiment", "translation", "forecasting", "lm")

# Workloads that exist so far; the others are named in TASK_NAMES and arrive with their modules.
_TASK_MODULES = {
    "memory": "seqlab.tasks.memory",
    "sentiment": "seqlab.tasks.sentiment",
    "forecasting": "seqlab.tasks.forecasting",
    "translation": "seqlab.tasks.translation",
    "lm": "seqlab.tasks.lm",
}


def _check_name(name: str) -> None:
    if name not in _TASK_MODULES:
        available = ", ".join(sorted(_TASK_MODULES))
        if name in TASK_NAMES:
            raise SeqlabError(
                f"task '{name}' is not available in this version of seqlab; available: {available}"
            )
        raise SeqlabError(f"unknown task '{name}'; choose one of: {available}")


def task_class(name: str) -> type[Task]:
    """The Task class of workload ``name``; a one-line error for an unknown or unbuilt task."""
    _check_name(name)
    module = importlib.import_module(f"{_TASK_MODULES[name]}.task")
    task: type[Task] = module.TASK
    return task


def task_options(name: str) -> TaskOptions:
    """Workload ``name``'s :class:`TaskOptions`, read without importing the task (or torch)."""
    _check_name(name)
    module = importlib.import_module(f"{_TASK_MODULES[name]}.options")
    options: TaskOptions = module.OPTIONS
    return options


def available_tasks() -> tuple[str, ...]:
    return tuple(sorted(_TASK_MODULES))
