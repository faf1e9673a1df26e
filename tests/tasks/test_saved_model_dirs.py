"""Model directories written by an earlier seqlab still load and answer as they did.

tests/fixtures/model_dirs holds one tiny trained directory per task, written by seqlab 0.1.0
before its tasks became packages (make_fixtures.py there says how), with what that code answered:
predictions (expected.json), ``seqlab eval DIR --data FILE --json`` (expected_eval.json) and
``seqlab monitor`` (expected_monitor.json). The directories are copied to a temporary folder, so
a test can never write into the fixtures.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import shutil
from pathlib import Path
from typing import Any

import pytest
import torch

import seqlab
from seqlab import cli

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "model_dirs"


@pytest.fixture()
def saved(tmp_path: Path) -> Path:
    """A copy of the fixtures folder (model directories and their data files)."""
    target = tmp_path / "model_dirs"
    shutil.copytree(FIXTURES, target)
    return target


def _expected(model_dir: Path, name: str = "expected.json") -> Any:
    return json.loads((model_dir / name).read_text(encoding="utf-8"))


def _cli_json(*argv: str) -> tuple[int, dict[str, Any]]:
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        status = cli.main(list(argv))
    return status, json.loads(buffer.getvalue())


def _assert_same(actual: Any, expected: Any, *, where: str = "report") -> None:
    """Equal structure, equal strings and integers, floats equal to 1e-6 relative."""
    if isinstance(expected, dict):
        assert isinstance(actual, dict), where
        assert sorted(actual) == sorted(expected), where
        for key in expected:
            _assert_same(actual[key], expected[key], where=f"{where}.{key}")
    elif isinstance(expected, list):
        assert isinstance(actual, list) and len(actual) == len(expected), where
        for index, (a, e) in enumerate(zip(actual, expected, strict=True)):
            _assert_same(a, e, where=f"{where}[{index}]")
    elif isinstance(expected, float):
        assert math.isclose(actual, expected, rel_tol=1e-6, abs_tol=1e-9), (where, actual)
    else:
        assert actual == expected, where


def _without_paths(report: dict[str, Any]) -> dict[str, Any]:
    report = {key: value for key, value in report.items() if key not in ("model_dir", "source")}
    if isinstance(report.get("data"), dict):
        report["data"] = {key: value for key, value in report["data"].items() if key != "source"}
    return report


def test_saved_memory_directory_predicts_as_before(saved):
    model_dir = saved / "memory"
    expected = _expected(model_dir)
    predictions = seqlab.load(model_dir).predict(torch.tensor(expected["inputs"]))
    assert predictions.tolist() == expected["predictions"]


def test_saved_sentiment_directory_predicts_and_evaluates_as_before(saved):
    model_dir = saved / "sentiment"
    expected = _expected(model_dir)
    predictor = seqlab.load(model_dir)
    _assert_same(predictor.predict(expected["texts"]), expected["predictions"])
    status, report = _cli_json(
        "eval", str(model_dir), "--data", str(saved / "sentiment_eval.csv"), "--json"
    )
    assert status == 0
    _assert_same(_without_paths(report), _expected(model_dir, "expected_eval.json"))


def test_saved_forecasting_directory_forecasts_evaluates_and_monitors_as_before(saved):
    model_dir = saved / "forecasting"
    recent = saved / "forecasting_recent.csv"
    expected = _expected(model_dir)
    forecast = seqlab.load(model_dir).forecast(recent)
    assert [str(stamp) for stamp in forecast.index] == expected["timestamps"]
    _assert_same(forecast["temp"].tolist(), expected["temp"])
    status, report = _cli_json("eval", str(model_dir), "--data", str(recent), "--json")
    assert status == 0
    _assert_same(_without_paths(report), _expected(model_dir, "expected_eval.json"))
    status, report = _cli_json("monitor", str(model_dir), "--data", str(recent), "--json")
    monitored = _expected(model_dir, "expected_monitor.json")
    assert status == monitored["exit_status"]
    _assert_same(_without_paths(report), monitored["report"])


def _retrain(name: str, folder: Path, monkeypatch) -> Path:
    """The fixture's own training command (make_fixtures.py), run again by today's code in
    ``folder``."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_fixtures", FIXTURES / "make_fixtures.py")
    assert spec is not None and spec.loader is not None
    make_fixtures = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make_fixtures)
    monkeypatch.setattr(make_fixtures, "HERE", folder)
    monkeypatch.chdir(folder)
    torch.manual_seed(0)
    getattr(make_fixtures, name)()
    return folder / name


@pytest.mark.parametrize("name", ["memory", "sentiment", "forecasting"])
def test_training_the_fixture_again_gives_the_same_weights_bit_for_bit(name, tmp_path, monkeypatch):
    """Refactoring changes no result: the same command and seed train the same tensors."""
    from safetensors.torch import load_file

    retrained = _retrain(name, tmp_path, monkeypatch)
    saved = load_file(str(FIXTURES / name / "model.safetensors"))
    again = load_file(str(retrained / "model.safetensors"))
    assert sorted(again) == sorted(saved)
    for key, tensor in saved.items():
        assert torch.equal(again[key], tensor), key
    assert _expected(retrained) == _expected(FIXTURES / name)


def test_load_reads_config_json_once(saved, monkeypatch):
    """``seqlab.load`` reads config.json once and hands its contents to the task's predictor."""
    from seqlab.model_dir import ModelDir

    reads: list[Path] = []
    original = ModelDir.read_config

    def counting(self: ModelDir) -> dict[str, Any]:
        reads.append(self.path)
        return original(self)

    monkeypatch.setattr(ModelDir, "read_config", counting)
    for name in ("memory", "sentiment", "forecasting"):
        reads.clear()
        predictor = seqlab.load(saved / name)
        assert reads == [saved / name]
        assert predictor.config == json.loads((saved / name / "config.json").read_text())
        assert predictor.task_object.run.task == name
