"""Composing a run's configuration: task defaults, family defaults, a preset, a config file, and
``--set key=value`` overrides, in that order (later layers win); and reading it back.

The model section's dataclass depends on the family (``RecurrentConfig`` for rnn/lstm/gru,
``TransformerConfig`` for transformer), so the family is settled first, from ``--model`` or
``model.family`` in a file or an override.

Presets and family defaults come from the task's torch-free options
(``seqlab.tasks.task_options``); the layers are plain dicts merged by
``seqlab.utils.config.deep_merge`` and typed once, at the end, by ``from_dict``.

Data files: every path field of the data section (``file`` and each ``*_file``, whatever the
task) is made absolute against the current folder when the run is configured, so config.json
names the files the run read wherever a command runs later, and ``seqlab eval`` can check that
they are unchanged. Reading a config.json back (``run_config_from_dict``) changes no path: an
older directory's relative names are read from the current folder, as they always were.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from seqlab._version import __version__
from seqlab.model_dir import TRAINING_DATA
from seqlab.models.config import FAMILIES, PretrainedConfig, RecurrentConfig, TransformerConfig
from seqlab.tasks import task_class, task_options
from seqlab.tasks.base import RunConfig
from seqlab.tasks.options import TaskOptions
from seqlab.train import TrainConfig
from seqlab.utils.config import (
    ConfigError,
    deep_merge,
    from_dict,
    load_config_file,
    parse_overrides,
    to_dict,
)

SECTIONS = ("data", "model", "train")


def model_config_class(family: str) -> type:
    if family == "transformer":
        return TransformerConfig
    if family == "minilm":
        return PretrainedConfig
    if family in FAMILIES:
        return RecurrentConfig
    known = ", ".join((*FAMILIES, "minilm"))
    raise ConfigError(f"model family '{family}' is unknown; choose one of {known}")


def _model_config_class(options: TaskOptions, family: str) -> type:
    """The model section's dataclass: the task's own (an encoder-decoder's), or the shared one."""
    if options.model_config_class is not None and family in options.families:
        return options.model_config_class(family)
    return model_config_class(family)


def build_run_config(
    task: str,
    *,
    family: str | None = None,
    preset: str | None = None,
    config_file: str | Path | None = None,
    overrides: Sequence[str] = (),
    extra: Mapping[str, Any] | None = None,
) -> RunConfig:
    """The run configuration from the layers, in order: task defaults < family defaults < preset
    < config file < ``extra`` (command-line options) < ``--set`` overrides."""
    options = task_options(task)
    file_layer = _file_layer(config_file, task) if config_file is not None else {}
    override_layer = parse_overrides(overrides, sections=SECTIONS)
    extra_layer = dict(extra or {})
    if preset is not None and preset not in options.presets:
        names = ", ".join(sorted(options.presets)) or "none"
        raise ConfigError(f"unknown preset '{preset}' for task '{task}'; available: {names}")
    preset_layer = options.presets.get(preset, {}) if preset else {}

    # Settle the family first: it decides the model section's dataclass and its defaults.
    sources = (("preset", preset_layer), (str(config_file), file_layer),
               ("options", extra_layer), ("--set", override_layer))  # fmt: skip
    named = _family_named_last(sources, options.default_family)  # also checks each model section
    chosen = family if family is not None else named
    if chosen not in options.families:
        raise ConfigError(
            f"task '{task}' does not train model family '{chosen}'; choose one of "
            f"{', '.join(options.families)}"
        )
    merged: dict[str, Any] = {}
    for layer in (
        options.family_defaults(chosen),
        _preset_for_family(preset_layer, chosen),
        file_layer,
        extra_layer,
        override_layer,
    ):
        merged = deep_merge(merged, layer)
    merged.setdefault("model", {})["family"] = chosen
    run = run_config_from_dict({"task": task, **merged})
    return dataclasses.replace(run, data=absolute_data_paths(run.data))


# A data path that is the name of a model directory's own data file (the series seqlab retrain
# keeps there) means the directory's copy, which the task reads from the directory: it stays a
# name, as the directory may still move (retrain builds it under a temporary name).
_DIRECTORY_FILES = frozenset({TRAINING_DATA})


def absolute_data_paths(data: Any) -> Any:
    """``data`` (a task's data-config dataclass) with each file path field (``file`` and every
    ``*_file``) made absolute against the current folder; names of a model directory's own
    files (``_DIRECTORY_FILES``) and unset paths are kept as they are."""
    changes: dict[str, Any] = {}
    for field in dataclasses.fields(data):
        if field.name != "file" and not field.name.endswith("_file"):
            continue
        value = getattr(data, field.name)
        if not isinstance(value, str | os.PathLike) or not os.fspath(value):
            continue
        if os.fspath(value) in _DIRECTORY_FILES:
            continue
        absolute = os.path.abspath(value)
        changes[field.name] = absolute if isinstance(value, str) else Path(absolute)
    return dataclasses.replace(data, **changes) if changes else data


def _file_layer(config_file: str | Path, task: str) -> dict[str, Any]:
    """The sections of a config file, checked: only known sections, and no other task's."""
    layer = load_config_file(config_file)
    unknown = [key for key in layer if key not in (*SECTIONS, "task")]
    if unknown:
        raise ConfigError(
            f"{config_file}: unknown top-level key '{unknown[0]}'; use {', '.join(SECTIONS)}"
        )
    if layer.get("task", task) != task:
        raise ConfigError(
            f"{config_file} is for task '{layer['task']}', not '{task}'; "
            "pass a config for this task"
        )
    layer.pop("task", None)
    return layer


def _family_named_last(sources: Sequence[tuple[str, Mapping[str, Any]]], default: str) -> str:
    """The ``model.family`` of the last layer that names one (``sources``: in order, each layer
    beside the name its errors give), else ``default``."""
    chosen = default
    for source, layer in sources:
        model_section = layer.get("model", {})
        if not isinstance(model_section, Mapping):
            raise ConfigError(
                f"{source}: 'model' must be a mapping of keys to values (e.g. family: lstm), "
                f"got {model_section!r}"
            )
        chosen = model_section.get("family", chosen)
    return str(chosen)


def _preset_for_family(preset: Mapping[str, Any], family: str) -> dict[str, Any]:
    """A preset may hold per-family sections: ``model_by_family`` and ``train_by_family`` map a
    family to the values of that section which apply to it alone."""
    suffix = "_by_family"
    layer = {key: value for key, value in preset.items() if not key.endswith(suffix)}
    for key, by_family in preset.items():
        if key.endswith(suffix) and family in by_family:
            layer = deep_merge(layer, {key.removesuffix(suffix): by_family[family]})
    return layer


def run_config_from_dict(data: Mapping[str, Any]) -> RunConfig:
    """Rebuild a RunConfig from its dict form (config.json, or the merged layers)."""
    if "task" not in data:
        raise ConfigError("config has no 'task' key; name the task (memory, sentiment, ...)")
    options = task_options(str(data["task"]))
    unknown = [key for key in data if key not in (*SECTIONS, "task")]
    if unknown:
        raise ConfigError(f"unknown top-level config key '{unknown[0]}'; use {', '.join(SECTIONS)}")
    model_section = dict(data.get("model", {}))
    family = str(model_section.get("family", options.default_family))
    # The data section's dataclass is the one thing here that needs the task class itself.
    data_config_class = task_class(options.name).data_config_class
    return RunConfig(
        task=options.name,
        data=from_dict(data_config_class, data.get("data", {}), _path="data"),
        model=from_dict(_model_config_class(options, family), model_section, _path="model"),
        train=from_dict(TrainConfig, data.get("train", {}), _path="train"),
    )


def run_config_to_dict(run: RunConfig) -> dict[str, Any]:
    return {
        "task": run.task,
        "data": to_dict(run.data),
        "model": to_dict(run.model),
        "train": to_dict(run.train),
    }


def config_json(run: RunConfig, artifacts: Mapping[str, Any]) -> dict[str, Any]:
    """What config.json holds: the run config, the task's artifacts and the seqlab version."""
    return {"seqlab_version": __version__, **run_config_to_dict(run), "artifacts": dict(artifacts)}
