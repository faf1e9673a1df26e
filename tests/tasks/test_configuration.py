"""Composing a run configuration (seqlab.tasks.configuration): the layers' order, errors, files.

Order: task defaults < family defaults < preset < config file < ``extra`` (command-line options)
< ``--set`` overrides. Expected values come from the task's own tables (its ``TaskOptions``) where
it has them, so a retuned default does not break the test, but a wrong layer order does.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from seqlab.errors import SeqlabError
from seqlab.models.config import RecurrentConfig, TransformerConfig
from seqlab.tasks import task_options
from seqlab.tasks.configuration import (
    build_run_config,
    config_json,
    run_config_from_dict,
    run_config_to_dict,
)
from seqlab.tasks.memory.config import MemoryDataConfig
from seqlab.train import TrainConfig
from seqlab.utils.config import ConfigError

MEMORY = task_options("memory")
PRESET = MEMORY.presets["cpu-small"]


def _write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


# ---- defaults ------------------------------------------------------------------------------


@pytest.mark.parametrize("family", ["rnn", "lstm", "gru", "transformer"])
def test_family_defaults_are_applied(family: str) -> None:
    run = build_run_config("memory", family=family)
    defaults = MEMORY.family_defaults(family)["train"]
    assert run.model.family == family
    for key, value in defaults.items():
        assert getattr(run.train, key) == value, key
    # They replace TrainConfig's own defaults (the Transformer paper's schedule).
    assert run.train.schedule == "cosine" != TrainConfig().schedule
    assert run.data == MemoryDataConfig()  # task defaults for the data section


def test_family_learning_rates_differ_as_documented() -> None:
    lstm, rnn = build_run_config("memory", family="lstm"), build_run_config("memory", family="rnn")
    assert lstm.train.lr == MEMORY.family_defaults("lstm")["train"]["lr"] == 3e-3
    assert rnn.train.lr == MEMORY.family_defaults("rnn")["train"]["lr"] == 1e-3
    transformer = build_run_config("memory", family="transformer")
    assert (rnn.train.grad_clip, transformer.train.grad_clip) == (5.0, 1.0)


def test_default_family_and_model_classes() -> None:
    run = build_run_config("memory")
    assert run.model.family == MEMORY.default_family == "lstm"
    assert isinstance(run.model, RecurrentConfig)
    assert isinstance(build_run_config("memory", family="transformer").model, TransformerConfig)


# ---- layer order ---------------------------------------------------------------------------


@pytest.mark.parametrize("family", ["lstm", "gru", "transformer"])
def test_preset_applies_its_sizes_per_family(family: str) -> None:
    run = build_run_config("memory", family=family, preset="cpu-small")
    assert run.data.distance == PRESET["data"]["distance"]
    assert run.data.eval_examples == PRESET["data"]["eval_examples"]
    for key, value in PRESET["train"].items():
        assert getattr(run.train, key) == value, key
    for key, value in PRESET["model_by_family"][family].items():
        assert getattr(run.model, key) == value, key
    # Family defaults the preset does not mention survive under it.
    assert run.train.lr == MEMORY.family_defaults(family)["train"]["lr"]


def test_preset_train_section_per_family() -> None:
    """Sentiment's cpu-small gives the fine-tuned encoder its own budget; the others keep the
    shared train section."""
    sentiment = task_options("sentiment")
    preset = sentiment.presets["cpu-small"]
    minilm = build_run_config("sentiment", family="minilm", preset="cpu-small")
    for key, value in preset["train_by_family"]["minilm"].items():
        assert getattr(minilm.train, key) == value, key
    assert minilm.train.schedule == sentiment.family_defaults("minilm")["train"]["schedule"]
    lstm = build_run_config("sentiment", family="lstm", preset="cpu-small")
    for key, value in preset["train_by_family"]["lstm"].items():
        assert getattr(lstm.train, key) == value, key
    assert lstm.train.steps == preset["train"]["steps"]  # the shared section still applies
    transformer = build_run_config("sentiment", family="transformer", preset="cpu-small")
    assert transformer.train.lr == preset["train_by_family"]["transformer"]["lr"]
    assert transformer.train.max_seconds is None


def test_composing_a_run_leaves_the_task_tables_unchanged() -> None:
    presets = copy.deepcopy(dict(MEMORY.presets))
    defaults = MEMORY.family_defaults("lstm")
    build_run_config("memory", family="lstm", preset="cpu-small")
    build_run_config("memory", family="lstm", preset="cpu-small", overrides=["model.hidden_size=9"])
    assert dict(MEMORY.presets) == presets and MEMORY.family_defaults("lstm") == defaults


def test_set_overrides_the_preset() -> None:
    run = build_run_config(
        "memory",
        family="gru",
        preset="cpu-small",
        overrides=["train.batch_size=7", "model.hidden_size=9", "data.distance=11"],
    )
    assert (run.train.batch_size, run.model.hidden_size, run.data.distance) == (7, 9, 11)
    assert run.train.steps == PRESET["train"]["steps"]  # untouched keys keep the preset


def test_extra_overrides_the_file_and_set_overrides_extra(tmp_path: Path) -> None:
    config = _write(
        tmp_path,
        "run.json",
        json.dumps({"train": {"steps": 500, "lr": 0.02}, "data": {"distance": 20}}),
    )
    extra = {"train": {"steps": 300, "seed": 4}, "data": {"distance": 30}}
    run = build_run_config(
        "memory", preset="cpu-small", config_file=config, extra=extra, overrides=["train.steps=200"]
    )
    assert run.train.steps == 200  # --set beats extra, which beat the file and the preset
    assert run.train.seed == 4  # extra, nobody later
    assert run.data.distance == 30  # extra beats the file and the preset
    assert run.train.lr == 0.02  # the file beats the family default
    without_set = build_run_config("memory", preset="cpu-small", config_file=config, extra=extra)
    assert without_set.train.steps == 300
    file_only = build_run_config("memory", preset="cpu-small", config_file=config)
    assert (file_only.train.steps, file_only.data.distance) == (500, 20)


def test_the_family_can_come_from_a_file_or_an_override(tmp_path: Path) -> None:
    config = _write(tmp_path, "rnn.yaml", "model:\n  family: rnn\n  hidden_size: 33\n")
    run = build_run_config("memory", config_file=config)
    assert run.model.family == "rnn" and run.model.hidden_size == 33
    assert run.train.lr == MEMORY.family_defaults("rnn")["train"]["lr"]  # rnn's, not lstm's
    # --model wins over the file, and the family's defaults follow it.
    gru = build_run_config("memory", family="gru", config_file=config)
    assert (
        gru.model.family == "gru" and gru.train.lr == MEMORY.family_defaults("gru")["train"]["lr"]
    )
    via_set = build_run_config("memory", preset="cpu-small", overrides=["model.family=transformer"])
    assert isinstance(via_set.model, TransformerConfig)
    assert via_set.model.d_model == PRESET["model_by_family"]["transformer"]["d_model"]
    assert via_set.train.grad_clip == MEMORY.family_defaults("transformer")["train"]["grad_clip"]


def test_override_values_are_typed() -> None:
    run = build_run_config(
        "memory",
        overrides=[
            "train.lr=3e-4",
            "train.betas=0.8,0.9",
            "model.bidirectional=true",
            "model.chrono_max_steps=none",
            "data.kind=copy",
            "train.grad_clip=null",
        ],
    )
    assert run.train.lr == 3e-4 and run.train.betas == (0.8, 0.9)
    assert run.model.bidirectional is True and run.model.chrono_max_steps is None
    assert run.data.kind == "copy" and run.train.grad_clip is None


# ---- errors --------------------------------------------------------------------------------


def test_unknown_key_names_the_key_and_suggests() -> None:
    with pytest.raises(
        ConfigError, match=r"unknown config key 'train.lrr' \(did you mean 'lr'\?\)"
    ):
        build_run_config("memory", overrides=["train.lrr=1"])
    with pytest.raises(ConfigError, match=r"unknown config key 'data.distanse'"):
        build_run_config("memory", overrides=["data.distanse=5"])
    # A key of another family's section is unknown for this one.
    with pytest.raises(ConfigError, match=r"unknown config key 'model.d_model'"):
        build_run_config("memory", family="lstm", overrides=["model.d_model=64"])


def test_unknown_section_and_malformed_override() -> None:
    with pytest.raises(
        ConfigError, match=r"unknown section 'optim'; use one of data, model, train"
    ):
        build_run_config("memory", overrides=["optim.lr=1"])
    with pytest.raises(ConfigError, match=r"override 'train.lr' must look like section.key=value"):
        build_run_config("memory", overrides=["train.lr"])
    with pytest.raises(ConfigError, match=r"override 'lr=1' must look like section.key=value"):
        build_run_config("memory", overrides=["lr=1"])


def test_unknown_preset_lists_the_available_ones() -> None:
    with pytest.raises(
        ConfigError, match=r"unknown preset 'gpu-huge' for task 'memory'; available: cpu-small"
    ):
        build_run_config("memory", preset="gpu-huge")


def test_family_the_task_does_not_train() -> None:
    with pytest.raises(
        ConfigError,
        match=r"task 'memory' does not train model family 'minilm'; choose one of rnn, lstm, gru, "
        r"transformer",
    ):
        build_run_config("memory", family="minilm")
    with pytest.raises(ConfigError, match=r"does not train model family 'cnn'"):
        build_run_config("memory", overrides=["model.family=cnn"])


def test_bad_values_name_the_key() -> None:
    with pytest.raises(ConfigError, match=r"train.steps: 'many' is not an int"):
        build_run_config("memory", overrides=["train.steps=many"])
    with pytest.raises(
        ConfigError, match=r"data.kind: 'sort' is not one of 'recall', 'adding', 'copy'"
    ):
        build_run_config("memory", overrides=["data.kind=sort"])
    with pytest.raises(ConfigError, match=r"data.distance \(1\) must be at least 2"):
        build_run_config("memory", overrides=["data.kind=adding", "data.distance=1"])
    with pytest.raises(
        ConfigError, match=r"model.d_model \(60\) must be divisible by model.num_heads"
    ):
        build_run_config(
            "memory", family="transformer", overrides=["model.d_model=60", "model.num_heads=8"]
        )


def test_unavailable_and_unknown_tasks(monkeypatch: pytest.MonkeyPatch) -> None:
    import seqlab.tasks

    # A task named in TASK_NAMES whose package is not installed in this version.
    modules = {name: module for name, module in seqlab.tasks._TASK_MODULES.items() if name != "lm"}
    monkeypatch.setattr(seqlab.tasks, "_TASK_MODULES", modules)
    with pytest.raises(SeqlabError, match=r"task 'lm' is not available in this version"):
        build_run_config("lm")
    monkeypatch.undo()
    with pytest.raises(
        SeqlabError,
        match=r"unknown task 'sorting'; choose one of: forecasting, lm, memory, sentiment, "
        r"translation",
    ):
        build_run_config("sorting")


# ---- files ---------------------------------------------------------------------------------


def test_yaml_and_json_files_give_the_same_run(tmp_path: Path) -> None:
    yaml_file = _write(
        tmp_path,
        "run.yaml",
        "task: memory\n"
        "data:\n  kind: adding\n  distance: 7\n"
        "model:\n  family: gru\n  hidden_size: 20\n  init: forget-bias-1\n"
        "train:\n  lr: 3e-4\n  betas: [0.8, 0.95]\n  steps: 123\n",  # YAML reads 3e-4 as text
    )
    json_file = _write(
        tmp_path,
        "run.json",
        json.dumps(
            {
                "task": "memory",
                "data": {"kind": "adding", "distance": 7},
                "model": {"family": "gru", "hidden_size": 20, "init": "forget-bias-1"},
                "train": {"lr": 0.0003, "betas": [0.8, 0.95], "steps": 123},
            }
        ),
    )
    from_yaml = build_run_config("memory", config_file=yaml_file)
    from_json = build_run_config("memory", config_file=json_file)
    assert from_yaml == from_json
    assert from_yaml.data == MemoryDataConfig(kind="adding", distance=7)
    assert from_yaml.model == RecurrentConfig(family="gru", hidden_size=20, init="forget-bias-1")
    assert (from_yaml.train.lr, from_yaml.train.betas, from_yaml.train.steps) == (
        3e-4,
        (0.8, 0.95),
        123,
    )
    # Keys the file leaves out keep the family defaults.
    assert from_yaml.train.schedule == MEMORY.family_defaults("gru")["train"]["schedule"]


def test_a_file_for_another_task_is_refused(tmp_path: Path) -> None:
    other = _write(tmp_path, "sst2.json", json.dumps({"task": "sentiment", "train": {"lr": 1}}))
    with pytest.raises(ConfigError, match=r"sst2.json is for task 'sentiment', not 'memory'"):
        build_run_config("memory", config_file=other)


def test_file_errors_name_the_key_or_the_file(tmp_path: Path) -> None:
    extra_key = _write(tmp_path, "extra.yaml", "optimizer:\n  lr: 1\n")
    with pytest.raises(ConfigError, match=r"extra.yaml: unknown top-level key 'optimizer'"):
        build_run_config("memory", config_file=extra_key)
    nested = _write(tmp_path, "nested.yaml", "train:\n  learning_rate: 1\n")
    with pytest.raises(ConfigError, match=r"unknown config key 'train.learning_rate'"):
        build_run_config("memory", config_file=nested)
    with pytest.raises(ConfigError, match=r"missing.yaml does not exist"):
        build_run_config("memory", config_file=tmp_path / "missing.yaml")


# ---- round trip ----------------------------------------------------------------------------


@pytest.mark.parametrize("family", ["lstm", "transformer"])
def test_dict_round_trip_including_json(family: str) -> None:
    run = build_run_config(
        "memory",
        family=family,
        preset="cpu-small",
        overrides=["data.kind=copy", "train.betas=0.8,0.9"],
    )
    as_dict = run_config_to_dict(run)
    assert run_config_from_dict(as_dict) == run
    # Through JSON text (tuples become lists, None null) it still comes back equal.
    assert run_config_from_dict(json.loads(json.dumps(as_dict))) == run
    assert as_dict["task"] == "memory" and as_dict["model"]["family"] == family
    saved = config_json(run, {"labels": ["a"]})
    assert saved["seqlab_version"] == __import__("seqlab").__version__
    assert saved["artifacts"] == {"labels": ["a"]}


def test_run_config_from_dict_errors() -> None:
    with pytest.raises(ConfigError, match=r"config has no 'task' key"):
        run_config_from_dict({"data": {}})
    with pytest.raises(ConfigError, match=r"unknown top-level config key 'trainer'"):
        run_config_from_dict({"task": "memory", "trainer": {}})


def test_a_model_section_that_is_not_a_mapping_is_a_config_error(tmp_path: Path) -> None:
    config = _write(tmp_path, "flat.yaml", "model: lstm\n")
    with pytest.raises(ConfigError, match=r"'model' must be a mapping"):
        build_run_config("memory", config_file=config)
    with pytest.raises(ConfigError, match=r"flat.yaml: 'model' must be a mapping"):
        build_run_config("memory", family="gru", config_file=config)  # --model does not skip it


# ---- data file paths ------------------------------------------------------------------------


def test_data_files_are_recorded_as_absolute_paths(tmp_path: Path, monkeypatch) -> None:
    """Every ``file`` / ``*_file`` of any task's data section becomes absolute when a run is
    configured; a name of the model directory's own training data stays a name."""
    from seqlab.model_dir import TRAINING_DATA

    monkeypatch.chdir(tmp_path)
    run = build_run_config("sentiment", overrides=["data.train_file=texts/train.csv",
                                                   "data.val_file=../val.csv"])  # fmt: skip
    assert run.data.train_file == str(tmp_path / "texts" / "train.csv")
    assert run.data.val_file == str(tmp_path.parent / "val.csv")
    assert run.data.test_file is None
    assert run.data.dataset == "sst2"
    absolute = str(tmp_path / "series.csv")
    run = build_run_config("forecasting", extra={"data": {"file": absolute, "dataset": None}})
    assert run.data.file == absolute
    run = build_run_config("forecasting", extra={"data": {"file": TRAINING_DATA}})
    assert run.data.file == TRAINING_DATA  # read from the model directory by its task


def test_reading_a_config_back_keeps_relative_paths(tmp_path: Path, monkeypatch) -> None:
    """An older config.json names its files relative to where it was trained: they are read
    from the current folder, as before, and not rewritten."""
    monkeypatch.chdir(tmp_path)
    run = run_config_from_dict({"task": "sentiment", "data": {"train_file": "old.csv"}})
    assert run.data.train_file == "old.csv"
