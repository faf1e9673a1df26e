"""Composing a run's configuration: task defaults, family defaults, a preset, a config file, and
``--set key=value`` overrides, in that order (later layers win); and reading it back.

The model section's dataclass depends on the family (``RecurrentConfig`` for rnn/lstm/gru,
``TransformerConfig`` for transformer), so the family is settled first, from ``--model`` or
``model.family`` in a file or an override.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from seqlab._version import __version__
from seqlab.models.config import FAMILIES, PretrainedConfig, RecurrentConfig, TransformerConfig
from seqlab.tasks import task_class
from seqlab.tasks.base import RunConfig
from seqlab.train import TrainConfig
from seqlab.utils.config import ConfigError, from_dict, load_config_file, to_dict

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


def _deep_merge(base: dict[str, Any], layer: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in layer.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _deep_merge(dict(merged[key]), value)
        else:
            merged[key] = value
    return merged


def _parse_overrides(overrides: Sequence[str]) -> dict[str, Any]:
    """``["train.lr=3e-4"]`` -> ``{"train": {"lr": "3e-4"}}``; values stay text until typed."""
    nested: dict[str, Any] = {}
    for override in overrides:
        key, sep, value = override.partition("=")
        parts = key.strip().split(".")
        if not sep or any(not part for part in parts) or len(parts) < 2:
            raise ConfigError(
                f"override '{override}' must look like section.key=value, e.g. train.lr=3e-4"
            )
        if parts[0] not in SECTIONS:
            raise ConfigError(
                f"override '{override}': unknown section '{parts[0]}'; use one of "
                f"{', '.join(SECTIONS)}"
            )
        section = nested
        for part in parts[:-1]:
            section = section.setdefault(part, {})
        section[parts[-1]] = value.strip()
    return nested


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
    cls = task_class(task)
    file_layer: dict[str, Any] = {}
    if config_file is not None:
        file_layer = load_config_file(config_file)
        unknown = [key for key in file_layer if key not in (*SECTIONS, "task")]
        if unknown:
            raise ConfigError(
                f"{config_file}: unknown top-level key '{unknown[0]}'; use {', '.join(SECTIONS)}"
            )
        if file_layer.get("task", task) != task:
            raise ConfigError(
                f"{config_file} is for task '{file_layer['task']}', not '{task}'; "
                "pass a config for this task"
            )
        file_layer.pop("task", None)
    override_layer = _parse_overrides(overrides)
    extra_layer = dict(extra or {})

    presets = cls.presets()
    if preset is not None and preset not in presets:
        names = ", ".join(sorted(presets)) or "none"
        raise ConfigError(f"unknown preset '{preset}' for task '{task}'; available: {names}")
    preset_layer = presets.get(preset, {}) if preset else {}

    # Settle the family first: it decides the model section's dataclass and its defaults.
    chosen = cls.default_family
    for source, layer in (("preset", preset_layer), (str(config_file), file_layer),
                          ("options", extra_layer), ("--set", override_layer)):  # fmt: skip
        model_section = layer.get("model", {})
        if not isinstance(model_section, Mapping):
            raise ConfigError(
                f"{source}: 'model' must be a mapping of keys to values (e.g. family: lstm), "
                f"got {model_section!r}"
            )
        chosen = model_section.get("family", chosen)
    if family is not None:
        chosen = family
    if chosen not in cls.families:
        raise ConfigError(
            f"task '{task}' does not train model family '{chosen}'; choose one of "
            f"{', '.join(cls.families)}"
        )
    merged: dict[str, Any] = {}
    for layer in (
        cls.family_defaults(chosen),
        _preset_for_family(preset_layer, chosen),
        file_layer,
        extra_layer,
        override_layer,
    ):
        merged = _deep_merge(merged, layer)
    merged.setdefault("model", {})["family"] = chosen
    return run_config_from_dict({"task": task, **merged})


def _preset_for_family(preset: Mapping[str, Any], family: str) -> dict[str, Any]:
    """A preset may hold per-family sections: ``model_by_family`` and ``train_by_family`` map a
    family to the values of that section which apply to it alone."""
    suffix = "_by_family"
    layer = {key: value for key, value in preset.items() if not key.endswith(suffix)}
    for key, by_family in preset.items():
        if key.endswith(suffix) and family in by_family:
            layer = _deep_merge(layer, {key.removesuffix(suffix): by_family[family]})
    return layer


def run_config_from_dict(data: Mapping[str, Any]) -> RunConfig:
    """Rebuild a RunConfig from its dict form (config.json, or the merged layers)."""
    if "task" not in data:
        raise ConfigError("config has no 'task' key; name the task (memory, sentiment, ...)")
    cls = task_class(str(data["task"]))
    unknown = [key for key in data if key not in (*SECTIONS, "task")]
    if unknown:
        raise ConfigError(f"unknown top-level config key '{unknown[0]}'; use {', '.join(SECTIONS)}")
    model_section = dict(data.get("model", {}))
    family = str(model_section.get("family", cls.default_family))
    return RunConfig(
        task=cls.name,
        data=from_dict(cls.data_config_class, data.get("data", {}), _path="data"),
        model=from_dict(model_config_class(family), model_section, _path="model"),
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
