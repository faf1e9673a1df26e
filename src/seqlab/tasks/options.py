"""What the command line and the configuration need to know of a task, without importing it.

Each workload's package has a module ``seqlab.tasks.<name>.options`` that imports neither torch
nor the task itself and defines ``OPTIONS``, a :class:`TaskOptions`: its one-line description,
its model families, its presets and per-family defaults (plain dicts, layered by
``seqlab.tasks.configuration``), and the flags it adds to ``seqlab train TASK``. So
``seqlab train --help`` lists every task's flags in a fraction of a second, and the Task class
reads the same object (one source for both).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

# (flag, config section, config key, argparse keyword arguments): the flag sets ``section.key``.
CliOption = tuple[str, str, str, dict[str, Any]]


def _no_family_defaults(family: str) -> dict[str, Any]:
    return {}


@dataclass(frozen=True)
class TaskOptions:
    """name: the task's name on the command line. description: one line for ``--help``.
    families: the model families it trains, ``default_family`` among them. presets: name ->
    partial config (``{"data": ..., "model": ..., "train": ..., "model_by_family": ...,
    "train_by_family": ...}``). family_defaults: family -> the partial config applied when it is
    chosen, before the preset. cli_options: the flags of ``seqlab train TASK``. batches_by_rows:
    True when a training batch is ``train.batch_size`` rows (so under torchrun it must divide
    evenly among the processes); False when batches are filled to a token budget instead
    (translation's ``data.max_tokens``): ``train.batch_size`` is unused and the processes take
    uneven shares, which the engine sums exactly."""

    name: str
    description: str
    families: tuple[str, ...]
    default_family: str
    presets: Mapping[str, dict[str, Any]] = field(default_factory=dict)
    family_defaults: Callable[[str], dict[str, Any]] = _no_family_defaults
    cli_options: tuple[CliOption, ...] = ()
    model_config_class: Callable[[str], type] | None = None
    batches_by_rows: bool = True

    def __post_init__(self) -> None:
        if self.default_family not in self.families:
            raise ValueError(
                f"task '{self.name}': default_family ({self.default_family!r}) is not one of "
                f"its families {self.families}"
            )
