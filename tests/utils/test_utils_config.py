"""Config helpers: dataclasses from dicts, files and overrides; errors name the key."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pytest

from seqlab.errors import SeqlabError
from seqlab.utils.config import (
    ConfigError,
    apply_overrides,
    coerce_value,
    from_dict,
    load_config_file,
    merge,
    to_dict,
)


@dataclass(frozen=True)
class ModelSection:
    hidden_size: int = 32
    family: Literal["rnn", "lstm", "gru"] = "lstm"
    dropout: float | None = None
    bidirectional: bool = False
    kernel: tuple[int, ...] = (3, 5)

    def __post_init__(self) -> None:
        if self.hidden_size < 1:
            raise ConfigError(f"hidden_size ({self.hidden_size}) must be at least 1")


@dataclass(frozen=True)
class TrainSection:
    lr: float = 1e-3
    betas: tuple[float, float] = (0.9, 0.98)
    steps: int = 100


@dataclass(frozen=True)
class RunConfig:
    name: str
    model: ModelSection = field(default_factory=ModelSection)
    train: TrainSection = field(default_factory=TrainSection)


def test_from_dict_builds_nested_sections_with_defaults() -> None:
    config = from_dict(RunConfig, {"name": "x", "model": {"hidden_size": 64, "family": "gru"}})
    assert config == RunConfig(name="x", model=ModelSection(hidden_size=64, family="gru"))


def test_unknown_key_names_the_key_and_lists_the_valid_ones() -> None:
    with pytest.raises(ConfigError) as caught:
        from_dict(RunConfig, {"name": "x", "train": {"lrr": 0.1}})
    message = str(caught.value)
    assert "unknown config key 'train.lrr' (did you mean 'lr'?)" in message
    assert "valid keys under 'train': betas, lr, steps" in message


def test_missing_required_key_is_named() -> None:
    with pytest.raises(ConfigError, match="missing required config key\\(s\\) 'name'"):
        from_dict(RunConfig, {})


def test_overrides_coerce_strings_to_the_field_types() -> None:
    config = apply_overrides(
        RunConfig(name="x"),
        [
            "train.lr=3e-4",
            "train.steps=1e3",
            "train.betas=0.8,0.9",
            "model.bidirectional=yes",
            "model.dropout=0.25",
            "model.family=rnn",
            "model.kernel=[1, 2, 3]",
            "name='quoted'",
        ],
    )
    assert config.train == TrainSection(lr=3e-4, betas=(0.8, 0.9), steps=1000)
    assert config.model == ModelSection(
        family="rnn", dropout=0.25, bidirectional=True, kernel=(1, 2, 3)
    )
    assert config.name == "quoted"
    assert apply_overrides(config, ["model.dropout=None"]).model.dropout is None
    assert apply_overrides(config, ["model.kernel=()"]).model.kernel == ()


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("train.steps=ten", "in override 'train.steps=ten': train.steps: 'ten' is not an int"),
        ("train.lr=fast", "train.lr: 'fast' is not a number"),
        ("model.family=transformer", "'transformer' is not one of 'rnn', 'lstm', 'gru'"),
        ("model.bidirectional=maybe", "'maybe' is not a bool; use true or false"),
        ("train.betas=0.9", "train.betas: expected 2 values (float, float), got 1"),
        ("model.dropout=lots", "model.dropout: 'lots' is not a number"),
        ("model.size=3", "unknown config key 'model.size'"),
        ("train=3", "'train' is a section"),
        ("name.first=3", "'name' is a single value, not a section"),
        ("train.lr", "must look like section.key=value"),
        ("model.hidden_size=0", "model: hidden_size (0) must be at least 1"),
    ],
)
def test_bad_overrides_name_the_override_and_the_problem(override: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        apply_overrides(RunConfig(name="x"), [override])
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_merge_changes_only_the_given_keys() -> None:
    base = RunConfig(name="x", train=TrainSection(lr=0.5, steps=7))
    merged = merge(base, {"train": {"steps": "9"}})
    assert merged.train == TrainSection(lr=0.5, steps=9) and merged.model == base.model


def test_to_dict_round_trips() -> None:
    config = RunConfig(name="x", model=ModelSection(kernel=(1,)))
    data = to_dict(config)
    assert data["model"]["kernel"] == [1] and data["train"]["betas"] == [0.9, 0.98]
    assert from_dict(RunConfig, data) == config


def test_coercion_keeps_exact_types_and_rejects_bools_as_numbers() -> None:
    assert coerce_value(3, int | float, key="k") == 3 and isinstance(
        coerce_value(3, int | float, key="k"), int
    )
    with pytest.raises(ConfigError, match="k: True is a bool, not an int"):
        coerce_value(True, int, key="k")
    with pytest.raises(ConfigError, match="k: 2.5 is not an int"):
        coerce_value(2.5, int, key="k")


def test_config_error_is_one_line_and_a_seqlab_error() -> None:
    error = ConfigError("first\nsecond  line")
    assert str(error) == "first second line"
    assert isinstance(error, SeqlabError) and isinstance(error, ValueError)


def test_yaml_and_json_files_load(tmp_path: Path) -> None:
    yaml_file = tmp_path / "run.yaml"
    # PyYAML reads 3e-4 (no dot) as a string; from_dict turns it into a float.
    yaml_file.write_text("name: demo\ntrain:\n  lr: 3e-4\n  betas: [0.9, 0.95]\n")
    config = from_dict(RunConfig, load_config_file(yaml_file))
    assert config.train == TrainSection(lr=3e-4, betas=(0.9, 0.95))
    json_file = tmp_path / "run.json"
    json_file.write_text('{"name": "demo", "model": {"family": "gru"}}')
    assert from_dict(RunConfig, load_config_file(json_file)).model.family == "gru"
    empty = tmp_path / "empty.yml"
    empty.write_text("")
    assert load_config_file(empty) == {}


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("bad.json", '{\n  "name": "x",\n  "train": {lr: 1}\n}', "bad.json:3:13: invalid JSON"),
        ("bad.yaml", "name: x\ntrain:\n  lr: [1, 2\n", "bad.yaml:4:1: invalid YAML"),
        ("dup.yaml", "name: x\nname: y\n", "dup.yaml:2:1: duplicate key 'name'"),
        ("dup.json", '{"name": "x", "name": "y"}', "dup.json: invalid JSON: duplicate key 'name'"),
        (
            "list.yaml",
            "- a\n- b\n",
            "must hold a mapping (key: value) at the top level, not a list",
        ),
        ("run.toml", "", "must end in .json, .yaml or .yml, not '.toml'"),
    ],
)
def test_file_errors_name_the_file_and_line(
    tmp_path: Path, name: str, text: str, message: str
) -> None:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_config_file(path)
    assert message in str(caught.value)
    assert str(tmp_path) in str(caught.value)


def test_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="nope.yaml does not exist"):
        load_config_file(tmp_path / "nope.yaml")
