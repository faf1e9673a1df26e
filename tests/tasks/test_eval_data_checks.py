"""``seqlab eval`` evaluates the data the run trained on, or says it cannot.

config.json records the training files as absolute paths, so ``seqlab eval DIR`` works from any
folder; and before a split cut from the training data is evaluated, the data's checksum is
compared with metrics.json's ``data_checksum``: a changed file (which would shift the held-out
rows and could put training rows into them) is refused in one line, or only warned about with
``--allow-changed-data``. ``--data FILE`` evaluates FILE itself, so no check applies.

Each test trains a tiny sentiment run (20 steps) on a generated CSV, from a working folder that
the test then leaves.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from _reviews import shuffled_reviews, write_csv
from seqlab import cli

SETTINGS = ["model.hidden_size=8", "model.embed_dim=8", "data.vocab_size=60",
            "train.eval_every=10", "train.batch_size=16", "train.warmup_steps=2",
            "train.device=cpu"]  # fmt: skip


@pytest.fixture()
def trained(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A sentiment run trained from ``tmp_path/work`` on ``reviews.csv`` named relatively; the
    test then runs from ``tmp_path/elsewhere``."""
    work, elsewhere = tmp_path / "work", tmp_path / "elsewhere"
    work.mkdir()
    elsewhere.mkdir()
    write_csv(work / "reviews.csv", shuffled_reviews(80, seed=0))
    monkeypatch.chdir(work)
    argv = ["train", "sentiment", "--model", "lstm", "--data", "reviews.csv", "--steps", "20",
            *(arg for setting in SETTINGS for arg in ("--set", setting)), "--quiet",
            "--out", "model"]  # fmt: skip
    assert cli.main(argv) == 0
    monkeypatch.chdir(elsewhere)
    return work / "model"


def _eval(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    status = cli.main(["eval", *argv])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_config_json_names_the_training_file_by_its_absolute_path(trained: Path) -> None:
    config = json.loads((trained / "config.json").read_text())
    assert config["data"]["train_file"] == str(trained.parent / "reviews.csv")
    assert config["data"]["dataset"] == "sst2"  # the named data set's name, kept beside it


def test_eval_works_from_another_folder(trained: Path, capsys) -> None:
    status, out, err = _eval(capsys, str(trained), "--json")
    assert status == 0, err
    recorded = json.loads((trained / "metrics.json").read_text())["metrics"]
    assert json.loads(out)["accuracy"] == recorded["accuracy"]  # test = the held-out rows


def test_changed_training_data_is_refused_or_warned_about(trained: Path, capsys) -> None:
    data = trained.parent / "reviews.csv"
    with data.open("a", encoding="utf-8") as handle:
        handle.write("one more row that shifts the held-out split,positive\n")
    reason = (
        f"the training data of '{trained}' changed since it was trained (its SHA-256 differs "
        f"from data_checksum in {trained / 'metrics.json'})"
    )
    status, out, err = _eval(capsys, str(trained), "--json")
    assert (status, out) == (2, "")
    assert err == (
        f"seqlab: error: {reason}; a split cut from changed data can hold rows the run trained "
        "on: restore the training data, evaluate another file with --data, or pass "
        "--allow-changed-data\n"
    )
    status, out, err = _eval(capsys, str(trained), "--json", "--allow-changed-data")
    assert status == 0 and "accuracy" in json.loads(out)
    assert f"seqlab: warning: {reason}; evaluating anyway (--allow-changed-data)\n" in err


def test_eval_on_a_file_of_its_own_needs_no_check(trained: Path, capsys) -> None:
    (trained.parent / "reviews.csv").write_text("text,label\nchanged,positive\n")
    other = write_csv(trained.parent / "other.csv", shuffled_reviews(20, seed=3))
    status, out, err = _eval(capsys, str(trained), "--data", str(other), "--json")
    assert status == 0, err
    assert json.loads(out)["examples"] == 20


def test_a_missing_training_file_is_one_line_naming_it(trained: Path, capsys) -> None:
    data = trained.parent / "reviews.csv"
    os.remove(data)
    status, _, err = _eval(capsys, str(trained))
    assert status == 2 and err.count("\n") == 1
    assert err.startswith(f"seqlab: error: {trained}: cannot read its training data")
    assert str(data) in err and "--data" in err


def test_without_metrics_json_the_data_cannot_be_checked(trained: Path, capsys) -> None:
    (trained / "metrics.json").unlink()
    status, _, err = _eval(capsys, str(trained), "--json")
    assert status == 2
    assert err.startswith(
        f"seqlab: error: '{trained}' has no metrics.json, so its training data cannot be checked;"
    )
    status, _, err = _eval(capsys, str(trained), "--json", "--allow-changed-data")
    assert status == 0 and "seqlab: warning: " in err


def test_generated_data_needs_no_checksum(tmp_path: Path, capsys) -> None:
    """A memory run's data is generated from its seed: nothing to check, metrics.json or not."""
    out = tmp_path / "memory"
    tiny = ["--set", "data.distance=5", "--set", "data.eval_examples=64", "--set",
            "train.warmup_steps=2", "--set", "train.device=cpu", "--quiet"]  # fmt: skip
    assert cli.main(["train", "memory", "--preset", "cpu-small", "--steps", "10", *tiny,
                     "--out", str(out)]) == 0  # fmt: skip
    (out / "metrics.json").unlink()
    status, _, err = _eval(capsys, str(out), "--json")
    assert status == 0 and err == ""
