"""Config helpers: dataclasses from dicts, files and overrides, layers merged in order; errors
name the key."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pytest

from seqlab.errors import SeqlabError
from seqlab.utils.config import (
    ConfigError,
    coerce_value,
    deep_merge,
    from_dict,
    load_config_file,
    parse_overrides,
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


def _with_overrides(config: RunConfig, overrides: list[str]) -> RunConfig:
    """``config`` with ``--set``-style overrides applied, as the command line layers them."""
    layer = parse_overrides(overrides, sections=("model", "train"))
    return from_dict(RunConfig, deep_merge(to_dict(config), layer))


def test_override_text_is_typed_by_the_field_it_lands_in() -> None:
    config = _with_overrides(
        RunConfig(name="x"),
        [
            "train.lr=3e-4",
            "train.steps=1e3",
            "train.betas=0.8,0.9",
            "model.bidirectional=yes",
            "model.dropout=0.25",
            "model.family=rnn",
            "model.kernel=[1, 2, 3]",
        ],
    )
    assert config.train == TrainSection(lr=3e-4, betas=(0.8, 0.9), steps=1000)
    assert config.model == ModelSection(
        family="rnn", dropout=0.25, bidirectional=True, kernel=(1, 2, 3)
    )
    assert _with_overrides(config, ["model.dropout=None"]).model.dropout is None
    assert _with_overrides(config, ["model.kernel=()"]).model.kernel == ()
    assert from_dict(RunConfig, {"name": "'quoted'"}).name == "quoted"


def test_parse_overrides_nests_text_values_and_the_later_one_wins() -> None:
    layer = parse_overrides(
        ["train.lr= 3e-4 ", "model.sub.depth=2", "train.lr=1e-3", "model.sub=flat"],
        sections=("model", "train"),
    )
    assert layer == {"train": {"lr": "1e-3"}, "model": {"sub": "flat"}}
    assert parse_overrides(["model.sub=flat", "model.sub.depth=2"], sections=("model",)) == {
        "model": {"sub": {"depth": "2"}}
    }
    with pytest.raises(TypeError, match="not one string"):
        parse_overrides("train.lr=1", sections=("train",))


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("train.lr", "override 'train.lr' must look like section.key=value, e.g. train.lr=3e-4"),
        ("lr=1", "override 'lr=1' must look like section.key=value"),
        ("train..lr=1", "override 'train..lr=1' must look like section.key=value"),
        ("optim.lr=1", "override 'optim.lr=1': unknown section 'optim'; use one of model, train"),
    ],
)
def test_malformed_overrides_are_named(override: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_overrides([override], sections=("model", "train"))
    assert message in str(caught.value)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("train.steps=ten", "train.steps: 'ten' is not an int"),
        ("train.lr=fast", "train.lr: 'fast' is not a number"),
        ("model.family=transformer", "'transformer' is not one of 'rnn', 'lstm', 'gru'"),
        ("model.bidirectional=maybe", "'maybe' is not a bool; use true or false"),
        ("train.betas=0.9", "train.betas: expected 2 values (float, float), got 1"),
        ("model.dropout=lots", "model.dropout: 'lots' is not a number"),
        ("model.size=3", "unknown config key 'model.size'"),
        ("model.hidden_size=0", "model: hidden_size (0) must be at least 1"),
    ],
)
def test_bad_override_values_name_the_key_and_the_problem(override: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        _with_overrides(RunConfig(name="x"), [override])
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_a_section_given_one_value_is_named() -> None:
    with pytest.raises(ConfigError, match="'train' is a section"):
        from_dict(RunConfig, {"name": "x", "train": "3"})


def test_overrides_apply_together_before_validation() -> None:
    # hidden_size 0 alone is invalid; the later override fixes it before the dataclass checks.
    config = _with_overrides(RunConfig(name="x"), ["model.hidden_size=0", "model.hidden_size=8"])
    assert config.model.hidden_size == 8


def test_deep_merge_changes_only_the_given_keys() -> None:
    base = to_dict(RunConfig(name="x", train=TrainSection(lr=0.5, steps=7)))
    merged = from_dict(RunConfig, deep_merge(base, {"train": {"steps": "9"}}))
    assert merged.train == TrainSection(lr=0.5, steps=9) and merged.model == ModelSection()


def test_deep_merge_replaces_values_and_shares_no_section_with_its_inputs() -> None:
    preset = {"model": {"hidden_size": 64, "sub": {"depth": 2}}, "train": {"lr": 0.1}}
    layer = {"model": {"sub": {"width": 3}}, "train": 5}
    merged = deep_merge(preset, layer)
    assert merged == {"model": {"hidden_size": 64, "sub": {"depth": 2, "width": 3}}, "train": 5}
    only_preset = deep_merge({}, preset)
    only_preset["model"]["sub"]["depth"] = 99
    merged["model"]["hidden_size"] = 1
    assert preset == {"model": {"hidden_size": 64, "sub": {"depth": 2}}, "train": {"lr": 0.1}}
    assert layer == {"model": {"sub": {"width": 3}}, "train": 5}


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


def test_an_integer_too_large_for_a_float_is_a_config_error() -> None:
    """A config.json may hold any integer; float() of one past 1.8e308 would overflow."""
    with pytest.raises(ConfigError, match=r"^train.lr: the integer given is over 1.8e308"):
        from_dict(TrainSection, {"lr": 10**400}, _path="train")
    assert from_dict(TrainSection, {"lr": 3}).lr == 3.0


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
