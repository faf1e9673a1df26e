"""End to end through the command line: `seqlab train memory`, `seqlab eval`, `seqlab.load`.

Tiny settings (distance 5, 64 evaluation examples, tens of steps) so every run takes well under a
second of training. The checks are numbers: eval's accuracy equals metrics.json's exactly, the
predictor's answers equal an independently rebuilt model's argmax, two runs with one seed give the
same bytes, and a resumed run the same tensors as an uninterrupted one.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from torch.testing import assert_close

import seqlab
from seqlab import cli
from seqlab.tasks.configuration import run_config_from_dict
from seqlab.tasks.memory.options import OPTIONS
from seqlab.tasks.memory.predictor import MemoryPredictor
from seqlab.tasks.memory.task import MemoryTask

TINY_SETTINGS = (
    "data.distance=5",
    "data.eval_examples=64",
    "train.eval_every=10",
    "train.batch_size=16",
    "train.warmup_steps=2",
    "train.device=cpu",
)
TINY = [*(arg for setting in TINY_SETTINGS for arg in ("--set", setting)), "--quiet"]


def _train(out: Path, *options: str, model: str = "gru", steps: int = 30) -> int:
    return cli.main(
        [
            "train",
            "memory",
            "--model",
            model,
            "--preset",
            "cpu-small",
            "--steps",
            str(steps),
            *TINY,
            *options,
            "--out",
            str(out),
        ]
    )


def _weights(path: Path) -> dict[str, torch.Tensor]:
    return load_file(str(path))


def _assert_same_weights(first: Path, second: Path) -> None:
    a, b = _weights(first), _weights(second)
    assert sorted(a) == sorted(b)
    for name in a:
        assert_close(a[name], b[name], rtol=0, atol=0, msg=name)


def _metrics(run_dir: Path) -> dict:
    return json.loads((run_dir / "metrics.json").read_text(encoding="utf-8"))


def _rebuilt_model(run_dir: Path):
    """The model rebuilt from config.json and model.safetensors without seqlab.load."""
    config = json.loads((run_dir / "config.json").read_text(encoding="utf-8"))
    sections = {key: config[key] for key in ("task", "data", "model", "train")}
    task = MemoryTask(run_config_from_dict(sections))
    model = task.build_model()
    model.load_state_dict(_weights(run_dir / "model.safetensors"), strict=True)
    return task, model.eval()


@pytest.fixture(scope="module")
def recall_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("recall") / "gru"
    assert _train(out) == 0
    return out


# ---- the model directory -------------------------------------------------------------------


def test_model_directory_has_every_file(recall_run: Path) -> None:
    for name in ("config.json", "model.safetensors", "metrics.json", "log.jsonl"):
        assert (recall_run / name).is_file(), name
    assert (recall_run / "checkpoints" / "last" / "model.safetensors").is_file()
    assert (recall_run / "checkpoints" / "best" / "model.safetensors").is_file()
    config = json.loads((recall_run / "config.json").read_text(encoding="utf-8"))
    assert config["task"] == "memory" and config["model"]["family"] == "gru"
    assert config["seqlab_version"] == seqlab.__version__
    # The command line's settings reached the saved config.
    assert config["data"]["distance"] == 5 and config["train"]["steps"] == 30
    assert (
        config["model"]["hidden_size"]
        == OPTIONS.presets["cpu-small"]["model_by_family"]["gru"]["hidden_size"]
    )


def test_metrics_and_log_record_the_run(recall_run: Path) -> None:
    record = _metrics(recall_run)
    assert record["split"] == "test"
    assert set(record["metrics"]) == {"loss", "accuracy", "chance_accuracy"}
    assert record["metrics"]["chance_accuracy"] == pytest.approx(1 / 8)
    assert record["training"]["steps"] == 30 and record["training"]["stop_reason"] == "steps"
    _, model = _rebuilt_model(recall_run)
    assert record["parameters"] == sum(p.numel() for p in model.parameters())
    events = [json.loads(line) for line in (recall_run / "log.jsonl").read_text().splitlines()]
    assert events[0]["event"] == "start" and events[-1] == {
        "event": "stop",
        "step": 30,
        "reason": "steps",
    }
    assert [e["step"] for e in events if e["event"] == "eval"] == [10, 20, 30]
    # The best validation value in metrics.json is the best of the logged evaluations.
    logged = [e["metrics"]["accuracy"] for e in events if e["event"] == "eval"]
    assert record["training"]["best_val"] == {"accuracy": max(logged)}


def test_eval_json_matches_metrics_json(
    recall_run: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["eval", str(recall_run), "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)  # the whole output is one JSON object
    saved = _metrics(recall_run)["metrics"]
    assert {"accuracy", "loss", "chance_accuracy"} <= set(printed)
    assert printed["accuracy"] == saved["accuracy"]
    assert printed["loss"] == pytest.approx(saved["loss"], rel=1e-6)


def test_eval_on_val_reproduces_the_best_validation_value(
    recall_run: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # model.safetensors holds the best checkpoint's weights, so evaluating them on "val" gives
    # the best validation accuracy the run recorded.
    assert cli.main(["eval", str(recall_run), "--split", "val", "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["accuracy"] == _metrics(recall_run)["training"]["best_val"]["accuracy"]


def test_eval_table_lists_the_metrics(recall_run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["eval", str(recall_run)]) == 0
    out = capsys.readouterr().out
    accuracy = _metrics(recall_run)["metrics"]["accuracy"]
    assert "accuracy" in out and f"{accuracy:.4f}" in out


def test_load_predicts_the_rebuilt_models_argmax(recall_run: Path) -> None:
    predictor = seqlab.load(recall_run)
    assert isinstance(predictor, MemoryPredictor)
    task, model = _rebuilt_model(recall_run)
    correct = total = 0
    for batch in task.split_batches("test"):
        with torch.no_grad():
            expected = model(batch.inputs).argmax(dim=-1)  # (B,)
        predicted = predictor.predict(batch.inputs)
        assert torch.equal(predicted, expected)
        correct += int((predicted == batch.targets).sum())
        total += batch.targets.numel()
    # The predictor's answers reproduce the recorded test accuracy exactly.
    assert correct / total == _metrics(recall_run)["metrics"]["accuracy"]


def _header_and_data(path: Path) -> tuple[dict, bytes]:
    raw = path.read_bytes()
    size = int.from_bytes(raw[:8], "little")
    return json.loads(raw[8 : 8 + size]), raw[8 + size :]


def test_training_twice_with_one_seed_gives_identical_weights(
    recall_run: Path, tmp_path: Path
) -> None:
    assert _train(tmp_path / "again") == 0
    again = tmp_path / "again" / "model.safetensors"
    _assert_same_weights(again, recall_run / "model.safetensors")
    # The same header (names, shapes, offsets, metadata) and byte-identical tensor data.
    header, data = _header_and_data(again)
    assert (header, data) == _header_and_data(recall_run / "model.safetensors")
    assert _metrics(tmp_path / "again")["metrics"] == _metrics(recall_run)["metrics"]
    # ... and another seed trains another model.
    assert _train(tmp_path / "other", "--seed", "1") == 0
    a = _weights(recall_run / "model.safetensors")
    b = _weights(tmp_path / "other" / "model.safetensors")
    assert not torch.equal(a["head.weight"], b["head.weight"])


def test_model_file_bytes_are_reproducible(recall_run: Path, tmp_path: Path) -> None:
    from seqlab.utils.io import save_safetensors_atomic

    weights = _weights(recall_run / "model.safetensors")
    contents = set()
    for attempt in range(20):  # one order in 2**19 if the bug is there: this cannot pass by luck
        path = tmp_path / f"{attempt}.safetensors"
        # Exactly what train_run writes.
        save_safetensors_atomic(
            weights, path, metadata={"seqlab_version": seqlab.__version__, "task": "memory"}
        )
        contents.add(path.read_bytes())
    assert len(contents) == 1


# ---- resume --------------------------------------------------------------------------------


def test_resume_continues_to_the_same_weights_as_one_run(tmp_path: Path) -> None:
    # A schedule that does not depend on the step budget: 10 steps, then --resume to 20, equals
    # 20 steps in one go (final weights, best weights, and the test metrics).
    constant = ("--set", "train.schedule=constant")
    assert _train(tmp_path / "split", *constant, steps=10) == 0
    with warnings.catch_warnings():
        # A resume that only raises the budget of a constant schedule changes nothing that matters.
        warnings.filterwarnings("error", message="resuming with changed settings")
        assert (
            cli.main(
                [
                    "train",
                    "memory",
                    "--resume",
                    "--steps",
                    "20",
                    "--quiet",
                    "--out",
                    str(tmp_path / "split"),
                ]
            )
            == 0
        )
    assert _train(tmp_path / "whole", *constant, steps=20) == 0
    split, whole = tmp_path / "split", tmp_path / "whole"
    _assert_same_weights(
        split / "checkpoints" / "last" / "model.safetensors",
        whole / "checkpoints" / "last" / "model.safetensors",
    )
    _assert_same_weights(split / "model.safetensors", whole / "model.safetensors")
    assert _metrics(split)["metrics"] == _metrics(whole)["metrics"]
    assert _metrics(split)["training"]["steps"] == 20
    resumed = json.loads((split / "config.json").read_text())
    assert resumed["train"]["steps"] == 20 and resumed["train"]["schedule"] == "constant"
    events = [json.loads(line) for line in (split / "log.jsonl").read_text().splitlines()]
    assert {"event": "resume", "step": 10} in events


def test_resume_with_a_larger_budget_under_cosine_matches_or_warns(tmp_path: Path) -> None:
    split, whole = tmp_path / "split", tmp_path / "whole"
    assert _train(split, steps=10) == 0  # the family default schedule, cosine
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert (
            cli.main(
                ["train", "memory", "--resume", "--steps", "20", "--quiet", "--out", str(split)]
            )
            == 0
        )
    warned = any("resuming with changed settings" in str(w.message) for w in caught)
    assert _train(whole, steps=20) == 0
    if not warned:  # the promise: resumed == uninterrupted, or a warning saying it is not
        _assert_same_weights(
            split / "checkpoints" / "last" / "model.safetensors",
            whole / "checkpoints" / "last" / "model.safetensors",
        )


# ---- errors --------------------------------------------------------------------------------


def test_training_into_a_finished_run_without_resume_is_refused(
    recall_run: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = {
        name: (recall_run / name).read_bytes()
        for name in ("config.json", "model.safetensors", "metrics.json", "log.jsonl")
    }
    capsys.readouterr()
    assert _train(recall_run) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("seqlab: error: ")
    assert str(recall_run) in err and "--resume" in err
    for name, content in before.items():
        assert (recall_run / name).read_bytes() == content, f"{name} was touched"


def test_training_into_a_crashed_run_without_resume_is_a_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "crashed"
    assert _train(out, steps=10) == 0
    (out / "model.safetensors").unlink()  # as if the run died before its final save
    capsys.readouterr()
    code = _train(out, "--set", "train.lr=0.1", steps=10)
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "--resume" in err
    assert json.loads((out / "config.json").read_text())["train"]["lr"] != 0.1


def test_eval_of_a_missing_directory_names_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "no-such-run"
    assert cli.main(["eval", str(missing), "--json"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1 and captured.err.startswith("seqlab: error: ")
    assert f"'{missing}' does not exist" in captured.err


def test_eval_of_a_directory_without_config_names_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["eval", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "has no config.json" in err and str(tmp_path) in err


def test_a_step_budget_below_the_warm_up_is_a_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The family default warm-up (50 steps) with --steps 30 and no warm-up override.
    warmup = OPTIONS.family_defaults("gru")["train"]["warmup_steps"]
    code = cli.main(
        [
            "train",
            "memory",
            "--model",
            "gru",
            "--steps",
            "30",
            "--quiet",
            "--out",
            str(tmp_path / "run"),
        ]
    )
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert f"warmup_steps ({warmup}) must be below steps (30)" in err
    assert not (tmp_path / "run").exists()


# ---- other problems ------------------------------------------------------------------------


def test_adding_run_reports_mse_beside_the_trivial_baseline(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "adding"
    assert (
        cli.main(
            [
                "train",
                "memory",
                "--kind",
                "adding",
                "--distance",
                "6",
                "--model",
                "lstm",
                "--steps",
                "20",
                *TINY,
                "--out",
                str(out),
            ]
        )
        == 0
    )
    record = _metrics(out)
    metrics = record["metrics"]
    assert set(metrics) == {"loss", "mse", "chance_mse"}
    assert metrics["chance_mse"] == pytest.approx(1 / 6)
    assert metrics["loss"] == metrics["mse"]
    # --set data.distance=5 (in TINY) beats --distance 6: overrides are the last layer.
    config = json.loads((out / "config.json").read_text())
    assert config["data"]["kind"] == "adding" and config["data"]["distance"] == 5
    assert "mse" in record["training"]["best_val"]
    # The predictor returns the model's sums, and they reproduce the recorded test MSE.
    task, model = _rebuilt_model(out)
    predictor = seqlab.load(out)
    errors = []
    for batch in task.split_batches("test"):
        with torch.no_grad():
            expected = model(batch.inputs)
        predicted = predictor.predict(batch.inputs)
        assert_close(predicted, expected, rtol=0, atol=0)
        errors.append((predicted.double() - batch.targets.double()) ** 2)
    assert float(torch.cat(errors).mean()) == pytest.approx(metrics["mse"], rel=1e-5)
    capsys.readouterr()
    assert cli.main(["eval", str(out), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["mse"] == metrics["mse"]


def test_distance_option_sets_the_data_distance(tmp_path: Path) -> None:
    out = tmp_path / "distance"
    assert (
        cli.main(
            [
                "train",
                "memory",
                "--kind",
                "adding",
                "--distance",
                "6",
                "--steps",
                "3",
                "--set",
                "train.warmup_steps=1",
                "--set",
                "train.eval_every=3",
                "--set",
                "data.eval_examples=8",
                "--set",
                "train.batch_size=4",
                "--set",
                "model.hidden_size=8",
                "--quiet",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    config = json.loads((out / "config.json").read_text())
    assert (config["data"]["kind"], config["data"]["distance"]) == ("adding", 6)
    assert config["model"]["chrono_max_steps"] is None
    # Chrono's T_max is the sequence length, 6: every forget bias lies in [0, log 5].
    weights = _weights(out / "model.safetensors")
    hidden = 8
    forget = weights["backbone.rnn.bias_ih_l0"][hidden : 2 * hidden]
    assert forget.min() >= 0 and forget.max() <= torch.log(torch.tensor(5.0)) + 1e-6


def test_copy_transformer_run_predicts_strings(tmp_path: Path) -> None:
    out = tmp_path / "copy"
    assert (
        _train(
            out,
            "--set",
            "data.kind=copy",
            "--set",
            "data.string_length=3",
            model="transformer",
            steps=10,
        )
        == 0
    )
    metrics = _metrics(out)["metrics"]
    assert {"accuracy", "sequence_accuracy", "chance_accuracy"} <= set(metrics)
    task, model = _rebuilt_model(out)
    predictor = seqlab.load(out)
    hits = strings = total = 0
    for batch in task.split_batches("test"):
        with torch.no_grad():
            expected = model(batch.inputs).argmax(dim=-1)  # (B, S)
        predicted = predictor.predict(batch.inputs)
        assert torch.equal(predicted, expected)
        hits += int((predicted == batch.targets).sum())
        strings += int((predicted == batch.targets).all(dim=1).sum())
        total += batch.targets.shape[0]
    assert hits / (3 * total) == metrics["accuracy"]
    assert strings / total == metrics["sequence_accuracy"]
