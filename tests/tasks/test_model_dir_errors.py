"""A damaged or misused model directory gives one line naming the directory, the file and the fix.

Cases, each with its own test: model.safetensors truncated, empty or not safetensors; weights
whose shapes no longer match config.json, or from another directory; config.json without
artifacts, a JSON list, a section of another kind, an artifact key missing; tokenizer.json, the
linear baseline and the monitor reference damaged; file names in config.json leading out of the
directory (absolute, ``..``, a link); ``--device cuda`` without CUDA; ``--resume`` on a missing
or empty directory; and, with ``train.keep_checkpoints=false``, a crash after training but before
the directory is complete, which must still resume.

The directories are copies of tests/fixtures/model_dirs (written by seqlab 0.1.0) or tiny memory
runs; commands run in-process through ``seqlab.cli.main``.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import torch

import seqlab
from seqlab import cli
from seqlab.errors import SeqlabError
from seqlab.model_dir import ModelDir
from seqlab.tasks.runner import load_trained

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "model_dirs"
RESTORE = "restore it from the run that wrote the directory, or retrain"
TINY = ["--preset", "cpu-small", "--steps", "20", "--quiet",
        *(arg for setting in ("data.distance=5", "data.eval_examples=64", "train.eval_every=10",
                              "train.batch_size=16", "train.warmup_steps=2", "train.device=cpu")
          for arg in ("--set", setting))]  # fmt: skip


@pytest.fixture()
def saved(tmp_path: Path) -> Path:
    """A copy of the fixtures folder (model directories and their data files)."""
    target = tmp_path / "model_dirs"
    shutil.copytree(FIXTURES, target)
    return target


def _load_error(model_dir: Path) -> str:
    """The one-line message ``seqlab.load`` and ``load_trained`` both raise for ``model_dir``."""
    with pytest.raises(SeqlabError) as caught:
        seqlab.load(model_dir)
    message = str(caught.value)
    with pytest.raises(SeqlabError) as again:
        load_trained(model_dir)
    assert str(again.value) == message
    assert "\n" not in message
    return message


def _cli_error(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    capsys.readouterr()
    assert cli.main(list(argv)) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("seqlab: error: "), err
    return err.removeprefix("seqlab: error: ").strip()


def _edit_config(model_dir: Path, edit: Any) -> None:
    path = model_dir / "config.json"
    path.write_text(json.dumps(edit(json.loads(path.read_text()))), encoding="utf-8")


# ---- model.safetensors ----


@pytest.mark.parametrize(
    ("damage", "detail"),
    [
        (lambda data: data[: len(data) // 2], "incomplete metadata, file not fully covered"),
        (lambda data: b"", "header too small"),
        (lambda data: b"not a safetensors file, just text", "header too large"),
    ],
    ids=["truncated", "empty", "not-safetensors"],
)
def test_damaged_weights_name_the_file_and_the_fix(saved, capsys, damage, detail) -> None:
    weights = saved / "sentiment" / "model.safetensors"
    weights.write_bytes(damage(weights.read_bytes()))
    message = _load_error(saved / "sentiment")
    assert message == (
        f"{weights}: not a readable safetensors file (Error while deserializing header: "
        f"{detail}); it is damaged or truncated: {RESTORE}"
    )
    assert _cli_error(capsys, "eval", str(saved / "sentiment"), "--json") == message


def test_weights_of_another_shape_than_the_config_name_the_tensor(saved) -> None:
    _edit_config(saved / "memory", lambda c: {**c, "model": {**c["model"], "hidden_size": 75}})
    message = _load_error(saved / "memory")
    weights = saved / "memory" / "model.safetensors"
    assert message.startswith(
        f"{weights}: tensor 'input_encoder.weight' has shape (8, 74), the model its "
        "config.json describes needs (8, 75); "
    )
    assert message.endswith("the two files come from different runs: restore both from the same "
                            "run, or retrain")  # fmt: skip


def test_weights_of_another_directory_are_refused(saved) -> None:
    shutil.copyfile(
        saved / "memory" / "model.safetensors", saved / "sentiment" / "model.safetensors"
    )
    message = _load_error(saved / "sentiment")
    assert message.startswith(
        f"{saved / 'sentiment' / 'model.safetensors'} does not match the model its config.json "
        "describes (missing: backbone.rnn.weight_ih_l0_reverse"
    )
    assert "restore both from the same run, or retrain" in message


def test_missing_weights_say_whether_the_run_can_resume(saved, tmp_path) -> None:
    (saved / "memory" / "model.safetensors").unlink()  # the fixtures keep no checkpoints
    assert _load_error(saved / "memory") == (
        f"'{saved / 'memory'}' has no model.safetensors and no checkpoint to resume from; "
        "restore model.safetensors from the run that wrote the directory, or retrain"
    )
    out = tmp_path / "run"
    assert cli.main(["train", "memory", *TINY, "--out", str(out)]) == 0
    (out / "model.safetensors").unlink()  # as if the run died before its final save
    assert _load_error(out) == (
        f"'{out}' has no model.safetensors: its training did not finish; resume it with "
        f"'seqlab train memory --out {out} --resume'"
    )


# ---- config.json ----


def test_a_config_without_artifacts_names_the_section(saved, capsys) -> None:
    model_dir = saved / "sentiment"
    _edit_config(model_dir, lambda c: {k: v for k, v in c.items() if k != "artifacts"})
    message = _load_error(model_dir)
    assert message == (
        f"{model_dir / 'config.json'}: no 'artifacts' section; restore config.json from the run "
        "that wrote the directory, or retrain"
    )
    assert _cli_error(capsys, "eval", str(model_dir)) == message


def test_a_config_that_is_a_list_says_so(saved) -> None:
    (saved / "memory" / "config.json").write_text("[1, 2]")
    assert _load_error(saved / "memory") == (
        f"{saved / 'memory' / 'config.json'}: holds a JSON list, not an object of settings; "
        f"{RESTORE}"
    )


def test_a_config_that_is_not_json_gives_its_line(saved) -> None:
    (saved / "memory" / "config.json").write_text('{\n  "task": ')
    assert _load_error(saved / "memory") == (
        f"{saved / 'memory' / 'config.json'}: line 2: not valid JSON (Expecting value); {RESTORE}"
    )


def test_a_section_of_another_kind_is_named(saved) -> None:
    _edit_config(saved / "memory", lambda c: {**c, "model": ["gru"]})
    assert _load_error(saved / "memory") == (
        f"{saved / 'memory' / 'config.json'}: 'model' must be an object, not ['gru']; restore "
        "config.json from the run that wrote the directory, or retrain"
    )


def test_a_value_of_another_type_names_its_key(saved) -> None:
    _edit_config(saved / "memory", lambda c: {**c, "train": {**c["train"], "steps": "many"}})
    message = _load_error(saved / "memory")
    assert message.startswith(f"{saved / 'memory' / 'config.json'}: train.steps: 'many' is not an")


def test_an_unknown_task_is_named(saved) -> None:
    _edit_config(saved / "memory", lambda c: {**c, "task": "chess"})
    message = _load_error(saved / "memory")
    assert message.startswith(f"{saved / 'memory' / 'config.json'}: unknown task 'chess'")


def test_a_missing_artifact_key_names_the_key(saved) -> None:
    model_dir = saved / "sentiment"
    _edit_config(model_dir, lambda c: {**c, "artifacts": {**c["artifacts"], "labels": None}})
    message = _load_error(model_dir)
    assert message.startswith(f"{model_dir / 'config.json'}: ")
    assert "labels must be a list of strings" in message
    _edit_config(
        model_dir,
        lambda c: {**c, "artifacts": {k: v for k, v in c["artifacts"].items() if k != "labels"}},
    )
    assert _load_error(model_dir) == (
        f"{model_dir / 'config.json'}: cannot rebuild the sentiment task: 'labels' is missing "
        "from its artifacts or from a file they name; restore config.json from the run that "
        "wrote the directory, or retrain"
    )


# ---- the task's own files ----


@pytest.mark.parametrize(
    ("damage", "detail"),
    [
        (lambda path: path.write_text(path.read_text()[:200]), "not a tokenizers tokenizer.json"),
        (lambda path: path.write_bytes(b"\xff\xfe" * 8), "cannot be read as a tokenizer.json"),
        (lambda path: (path.unlink(), path.mkdir()), "cannot be read as a tokenizer.json"),
    ],
    ids=["truncated", "not-utf8", "a-folder"],
)
def test_a_damaged_tokenizer_names_the_file(saved, damage, detail) -> None:
    tokenizer = saved / "sentiment" / "tokenizer.json"
    damage(tokenizer)
    message = _load_error(saved / "sentiment")
    assert message.startswith(f"{tokenizer}: {detail}")
    assert message.endswith("retrain")


def test_a_damaged_linear_baseline_names_the_file(saved, capsys) -> None:
    baseline = saved / "forecasting" / "linear_baseline.safetensors"
    baseline.write_bytes(baseline.read_bytes()[:40])
    message = _load_error(saved / "forecasting")
    assert message.startswith(f"{baseline}: not a readable safetensors file (")
    assert message.endswith(f"it is damaged or truncated: {RESTORE}")
    recent = saved / "forecasting_recent.csv"
    assert _cli_error(capsys, "eval", str(saved / "forecasting"), "--data", str(recent)) == message


@pytest.mark.parametrize("content", ['{"format": ', "[]"], ids=["not-json", "a-list"])
def test_a_damaged_monitor_reference_names_the_file(saved, capsys, content) -> None:
    reference = saved / "forecasting" / "monitor_reference.json"
    reference.write_text(content)
    message = _cli_error(
        capsys,
        "monitor",
        str(saved / "forecasting"),
        "--data",
        str(saved / "forecasting_recent.csv"),
    )
    assert message.startswith(f"{reference}")
    assert "retrain" in message.lower()


# ---- file names that leave the directory ----


@pytest.mark.parametrize("name", ["/etc/hostname", "../memory/model.safetensors", ".."])
def test_file_names_leading_out_of_the_directory_are_refused(saved, name) -> None:
    directory = ModelDir(saved / "sentiment")
    with pytest.raises(SeqlabError) as caught:
        directory.file(name)
    assert str(caught.value) == (
        f"{directory.config_path}: the file {name!r} lies outside the model directory "
        f"'{directory}' (an absolute path, '..' or a link out of it); a model directory reads "
        "only its own files: copy the file into it and name it there"
    )
    assert directory.file("sub/../tokenizer.json") == directory.path / "sub/../tokenizer.json"


def test_an_artifact_naming_a_file_outside_is_refused_on_load(saved) -> None:
    model_dir = saved / "sentiment"
    _edit_config(
        model_dir,
        lambda c: {**c, "artifacts": {**c["artifacts"], "tokenizer": str(saved / "x.json")}},
    )
    message = _load_error(model_dir)
    assert message.startswith(f"{model_dir / 'config.json'}: the file '{saved / 'x.json'}' lies")


def test_a_link_out_of_the_directory_is_refused(saved) -> None:
    tokenizer = saved / "sentiment" / "tokenizer.json"
    outside = saved / "tokenizer-elsewhere.json"
    tokenizer.rename(outside)
    tokenizer.symlink_to(outside)
    message = _load_error(saved / "sentiment")
    assert message.startswith(
        f"{saved / 'sentiment' / 'config.json'}: the file 'tokenizer.json' lies outside the model "
        f"directory '{saved / 'sentiment'}'"
    )


# ---- training: the device and --resume ----


def test_cuda_without_cuda_is_one_line_and_writes_nothing(tmp_path, capsys, monkeypatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    out = tmp_path / "run"
    # --set wins over --device, and TINY sets train.device=cpu: ask for cuda the same way.
    cuda = ["--set", "train.device=cuda"]
    message = _cli_error(capsys, "train", "memory", *TINY, *cuda, "--out", str(out))
    assert message == (
        "train.device is 'cuda' but torch finds no CUDA device on this machine "
        "(torch.cuda.is_available() is False); pass --device cpu or --device auto "
        "(train.device=cpu or auto)"
    )
    assert not out.exists()


def test_resume_of_a_missing_directory_is_refused(tmp_path, capsys) -> None:
    out = tmp_path / "never-trained"
    message = _cli_error(capsys, "train", "memory", *TINY, "--resume", "--out", str(out))
    assert message == (
        f"'{out}' does not exist, so there is no run to resume; drop --resume to start a new run "
        "there"
    )
    assert not out.exists()


def test_resume_of_an_empty_directory_is_refused_and_writes_nothing(tmp_path, capsys) -> None:
    out = tmp_path / "empty"
    out.mkdir()
    message = _cli_error(capsys, "train", "memory", *TINY, "--resume", "--out", str(out))
    assert message == (
        f"'{out}' holds no run to resume (no {out / 'checkpoints' / 'last' / 'trainer.json'}); "
        "drop --resume to start a new run there"
    )
    assert list(out.iterdir()) == []


def test_resume_of_a_finished_run_without_checkpoints_is_refused(tmp_path, capsys) -> None:
    out = tmp_path / "run"
    keep = ["--set", "train.keep_checkpoints=false"]
    assert cli.main(["train", "memory", *TINY, *keep, "--out", str(out)]) == 0
    before = (out / "config.json").read_bytes()
    message = _cli_error(capsys, "train", "memory", *TINY, "--resume", "--out", str(out))
    assert message.startswith(f"'{out}' holds a finished run whose checkpoints/last was not kept")
    assert (out / "config.json").read_bytes() == before


def test_without_kept_checkpoints_a_crash_before_the_end_can_still_resume(
    tmp_path, capsys, monkeypatch
) -> None:
    """checkpoints/last goes only once metrics.json is written: a crash before that resumes."""
    out = tmp_path / "run"
    keep = ["--set", "train.keep_checkpoints=false"]

    def disk_full(self: ModelDir, record: Any) -> None:
        raise SeqlabError("disk full")

    with monkeypatch.context() as patch:
        patch.setattr(ModelDir, "write_metrics", disk_full)
        assert _cli_error(capsys, "train", "memory", *TINY, *keep, "--out", str(out)) == (
            "disk full"
        )
    assert (out / "model.safetensors").is_file() and not (out / "metrics.json").exists()
    assert (out / "checkpoints" / "last" / "trainer.json").is_file()
    assert cli.main(["train", "memory", *TINY, *keep, "--resume", "--out", str(out)]) == 0
    assert (out / "metrics.json").is_file()
    assert not (out / "checkpoints" / "last").exists()
    assert (out / "checkpoints" / "best" / "model.safetensors").is_file()


def test_a_config_json_number_python_cannot_read_names_the_file(saved) -> None:
    path = saved / "memory" / "config.json"
    path.write_text('{"task": "memory", "seed": ' + "9" * 5000 + "}")
    message = _load_error(saved / "memory")
    assert message.startswith(f"{path}: not JSON seqlab can read (Exceeds the limit")
    assert message.endswith(RESTORE)


def test_a_model_directory_that_is_a_file_says_so(saved) -> None:
    path = saved / "sentiment_eval.csv"
    assert _load_error(path) == (
        f"'{path}' is a file, not a model directory; pass the folder written by 'seqlab train'"
    )
