"""Checkpoint averaging (seqlab.train.checkpoint_averaging) against means computed by hand.

The tiny regression task of ``_toy_tasks`` evaluates every 2 steps; its scripted validation
values choose the best checkpoint and how the average validates, so the kept-or-not rule is
tested in both directions for both modes. The hand computation reads the saved files with
safetensors directly and sums them in float64, oldest first: (a + b + c) / 3.
"""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import pytest
import torch
from _toy_tasks import RegressionTask, flat_parameters, regression_model
from safetensors.torch import load_file, save_file
from torch import nn

from seqlab.train import PlainProgress, TrainConfig, fit
from seqlab.train.checkpoint_averaging import average_state_dicts, load_final_weights
from seqlab.utils.config import ConfigError, from_dict, to_dict

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "model_dirs"


def config(**changes: object) -> TrainConfig:
    base = dict(
        steps=8, batch_size=4, lr=0.05, schedule="constant", warmup_steps=0, grad_clip=None,
        eval_every=2, log_every=1, device="cpu", seed=3, average_checkpoints=3,
    )  # fmt: skip
    base.update(changes)
    return TrainConfig(**base)  # type: ignore[arg-type]


def recent_names(out_dir: Path) -> list[str]:
    return sorted(path.name for path in (out_dir / "checkpoints" / "recent").iterdir())


def saved_weights(folder: Path) -> dict[str, torch.Tensor]:
    return load_file(str(folder / "model.safetensors"))


def hand_mean(folders: list[Path]) -> dict[str, torch.Tensor]:
    tensors = [saved_weights(folder) for folder in folders]
    return {name: sum(t[name] for t in tensors) / len(tensors) for name in tensors[0]}


def as_flat(weights: dict[str, torch.Tensor]) -> torch.Tensor:
    model = regression_model(seed=77)
    model.load_state_dict(weights, strict=True)
    return flat_parameters(model)


def task_mse(task: RegressionTask, weights: dict[str, torch.Tensor]) -> float:
    model = regression_model(seed=77)
    model.load_state_dict(weights)
    with torch.no_grad():
        return float(((model(task.val_x) - task.val_y) ** 2).mean())


def read_log(out_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (out_dir / "log.jsonl").read_text().splitlines()]


# --------------------------------------------------------------------------------------------
# The average
# --------------------------------------------------------------------------------------------


def test_the_kept_average_is_the_elementwise_mean_of_the_saved_files(tmp_path: Path) -> None:
    # Evaluations at steps 2, 4, 6, 8 score 1.0, 0.9, 0.8, 0.7; the average scores 0.1.
    task = RegressionTask(scripted_val=[1.0, 0.9, 0.8, 0.7, 0.1])
    model = regression_model()
    settings = config(weight_average_decay=0.5)
    result = fit(model, task, settings, tmp_path, progress="quiet")
    recent = tmp_path / "checkpoints" / "recent"
    assert recent_names(tmp_path) == ["step-0000004", "step-0000006", "step-0000008"]
    folders = [recent / name for name in recent_names(tmp_path)]
    # Each holds the weights evaluated at its step: the exponential average, not the raw ones.
    for folder, evaluated in zip(folders, task.evaluated[1:4], strict=True):
        assert torch.equal(as_flat(saved_weights(folder)), evaluated)
    raw = as_flat(saved_weights(tmp_path / "checkpoints" / "last"))
    assert not torch.allclose(raw, task.evaluated[3], atol=1e-6)
    expected = hand_mean(folders)
    average = saved_weights(tmp_path / "checkpoints" / "average")
    assert sorted(average) == sorted(expected)
    for name, tensor in expected.items():
        assert torch.equal(average[name], tensor), name
    assert torch.equal(task.evaluated[4], as_flat(expected))  # what the task evaluated
    outcome = result.checkpoint_average
    assert outcome is not None
    assert (outcome.steps, outcome.kept, outcome.metric) == ((4, 6, 8), "average", 0.1)
    assert (outcome.best_metric, outcome.best_step) == (0.7, 8)
    final = regression_model(seed=5)
    assert load_final_weights(final, tmp_path).name == "average"
    assert torch.equal(flat_parameters(final), as_flat(expected))
    # fit leaves the model with its own final (raw) weights, as without averaging.
    assert torch.equal(flat_parameters(model), raw)
    events = read_log(tmp_path)
    assert events[-1]["event"] == "stop"
    assert events[-2] == {
        "event": "checkpoint_average", "step": 8, "split": "val", "steps": [4, 6, 8],
        "val": {"loss": 0.1, "accuracy": -0.1, "mse": pytest.approx(task_mse(task, expected))},
        "best_val": {"loss": 0.7}, "best_step": 8, "kept": "average",
    }  # fmt: skip


def test_only_the_newest_n_are_kept_at_every_evaluation(tmp_path: Path) -> None:
    recent = tmp_path / "checkpoints" / "recent"

    class Watching(RegressionTask):
        def __init__(self) -> None:
            super().__init__()
            self.listed: list[list[str]] = []

        def evaluate(self, model: nn.Module, split: str) -> dict[str, float]:
            self.listed.append(sorted(p.name for p in recent.iterdir()) if recent.is_dir() else [])
            return super().evaluate(model, split)

    task = Watching()
    fit(regression_model(), task, config(steps=10, average_checkpoints=2), tmp_path,
        progress="quiet")  # fmt: skip
    step = "step-{:07d}".format
    assert task.listed == [
        [], [step(2)], [step(2), step(4)], [step(4), step(6)], [step(6), step(8)],
        [step(8), step(10)],  # the average's evaluation, after training
    ]  # fmt: skip


def test_non_floating_tensors_come_from_the_newest_checkpoint() -> None:
    half = torch.float16
    states = [
        {
            "w": torch.tensor([1.0, 2.0]),
            "count": torch.tensor(3),
            "h": torch.tensor([0.5], dtype=half),
        },
        {
            "w": torch.tensor([2.0, 5.0]),
            "count": torch.tensor(7),
            "h": torch.tensor([0.25], dtype=half),
        },
        {
            "w": torch.tensor([4.0, -1.0]),
            "count": torch.tensor(9),
            "h": torch.tensor([1.0], dtype=half),
        },
    ]
    mean = average_state_dicts(states)
    assert torch.equal(mean["w"], torch.tensor([7.0 / 3.0, 2.0]))
    assert mean["w"].dtype == torch.float32
    assert torch.equal(mean["count"], torch.tensor(9))  # BatchNorm's num_batches_tracked, say
    assert mean["h"].dtype == torch.float16
    assert torch.equal(mean["h"], torch.tensor([1.75 / 3.0], dtype=torch.float16))
    with pytest.raises(ValueError, match="different tensors"):
        average_state_dicts([states[0], {"w": torch.zeros(2)}])


# --------------------------------------------------------------------------------------------
# Kept or not
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("monitor", "mode", "average_value", "kept"),
    [
        # Evaluations score 1.0, 0.5, 0.7, 0.9 (loss; accuracy is minus that): best at step 4.
        ("loss", "min", 0.5, "average"),  # a tie keeps the average
        ("loss", "min", 0.4, "average"),
        ("loss", "min", 0.6, "best"),
        ("loss", "min", float("nan"), "best"),
        ("accuracy", "max", 0.5, "average"),  # accuracy -0.5 ties -0.5
        ("accuracy", "max", 0.4, "average"),  # accuracy -0.4 beats -0.5
        ("accuracy", "max", 0.6, "best"),  # accuracy -0.6 is worse
    ],
)
def test_the_average_is_kept_only_when_at_least_as_good_as_the_best(
    tmp_path: Path, monitor: str, mode: str, average_value: float, kept: str
) -> None:
    task = RegressionTask(scripted_val=[1.0, 0.5, 0.7, 0.9, average_value])
    stream = io.StringIO()
    reporter = PlainProgress(stream=stream)
    result = fit(regression_model(), task, config(), tmp_path, monitor=monitor, mode=mode,
                 progress=reporter)  # fmt: skip
    outcome = result.checkpoint_average
    assert outcome is not None and outcome.kept == kept and outcome.steps == (4, 6, 8)
    assert outcome.best_step == 4
    final = regression_model(seed=5)
    assert load_final_weights(final, tmp_path).name == kept
    assert (tmp_path / "checkpoints" / "average").exists() == (kept == "average")
    if kept == "best":
        assert torch.equal(flat_parameters(final), task.evaluated[1])  # the step-4 weights
    lines = [line for line in stream.getvalue().splitlines() if "checkpoint average" in line]
    assert len(lines) == 1
    assert "steps 4, 6, 8" in lines[0]
    ending = "keeping the average" if kept == "average" else "keeping the best checkpoint"
    assert lines[0].endswith(ending)


def test_one_evaluation_is_not_averaged(tmp_path: Path) -> None:
    stream = io.StringIO()
    result = fit(regression_model(), RegressionTask(), config(steps=2), tmp_path,
                 progress=PlainProgress(stream=stream))  # fmt: skip
    outcome = result.checkpoint_average
    assert outcome is not None
    assert (outcome.steps, outcome.metrics, outcome.kept) == ((2,), {}, "best")
    assert "fewer than 2 evaluations to average (steps 2)" in stream.getvalue()
    assert not (tmp_path / "checkpoints" / "average").exists()
    assert load_final_weights(regression_model(), tmp_path).name == "best"


# --------------------------------------------------------------------------------------------
# Resume, settings, files
# --------------------------------------------------------------------------------------------


def test_resume_averages_what_an_uninterrupted_run_averages(tmp_path: Path) -> None:
    # Evaluations at steps 2, 4, ..., 12, then the average's (0.5: kept over the best, 0.9).
    script = [5.0, 4.0, 3.0, 2.0, 1.0, 0.9, 0.5]
    settings = config(steps=12, average_checkpoints=4)
    straight = fit(regression_model(dropout=0.3), RegressionTask(scripted_val=script), settings,
                   tmp_path / "straight", progress="quiet")  # fmt: skip
    resumed_dir = tmp_path / "resumed"
    fit(regression_model(dropout=0.3), RegressionTask(scripted_val=[*script[:3], 0.1]),
        config(steps=6, average_checkpoints=4), resumed_dir, progress="quiet")  # fmt: skip
    # That run ended with its own average (0.1, kept); the resumed run decides again.
    assert (resumed_dir / "checkpoints" / "average").is_dir()
    # As if a crash fell between writing a recent checkpoint after step 6 and writing last/:
    # the resume must drop it (zero weights, to be seen if it were averaged).
    recent = resumed_dir / "checkpoints" / "recent"
    shutil.copytree(recent / "step-0000006", recent / "step-0000007")
    zeros = {
        name: torch.zeros_like(t) for name, t in saved_weights(recent / "step-0000006").items()
    }
    save_file(zeros, recent / "step-0000007" / "model.safetensors")
    resumed = fit(regression_model(dropout=0.3, seed=99), RegressionTask(scripted_val=script[3:]),
                  settings, resumed_dir, resume=True, progress="quiet")  # fmt: skip
    assert recent_names(resumed_dir) == [f"step-{s:07d}" for s in (6, 8, 10, 12)]
    for name in recent_names(resumed_dir):
        for key, tensor in saved_weights(recent / name).items():
            straight_folder = tmp_path / "straight" / "checkpoints" / "recent" / name
            assert torch.equal(tensor, saved_weights(straight_folder)[key]), (name, key)
    assert straight.checkpoint_average is not None
    assert straight.checkpoint_average.kept == "average"
    assert resumed.checkpoint_average == straight.checkpoint_average  # its real mse included
    a, b = regression_model(dropout=0.3, seed=1), regression_model(dropout=0.3, seed=2)
    assert load_final_weights(a, tmp_path / "straight").name == "average"
    assert load_final_weights(b, resumed_dir).name == "average"
    for (name, pa), (_, pb) in zip(a.state_dict().items(), b.state_dict().items(), strict=True):
        assert torch.equal(pa, pb), name


@pytest.mark.parametrize("value", [1, 0, -3, True, 2.5, "5"])
def test_an_invalid_count_is_a_one_line_error_naming_the_field(value: object) -> None:
    message = (
        r"^average_checkpoints \(.+\) must be an int of at least 2 .*or null for no averaging$"
    )
    with pytest.raises(ConfigError, match=message):
        config(average_checkpoints=value)


def test_an_old_config_without_the_field_loads_unchanged() -> None:
    saved = json.loads((FIXTURES / "memory" / "config.json").read_text(encoding="utf-8"))["train"]
    assert "average_checkpoints" not in saved
    loaded = from_dict(TrainConfig, saved)
    assert loaded.average_checkpoints is None and loaded.eval_at_start is False
    newer = ("average_checkpoints", "eval_at_start")  # fields added after the fixture
    assert {k: v for k, v in to_dict(loaded).items() if k not in newer} == saved
    assert from_dict(TrainConfig, {**saved, "average_checkpoints": 5}).average_checkpoints == 5


def test_by_default_nothing_is_averaged_or_written(tmp_path: Path) -> None:
    result = fit(regression_model(), RegressionTask(), config(average_checkpoints=None), tmp_path,
                 progress="quiet")  # fmt: skip
    assert result.checkpoint_average is None
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == ["best", "last"]
    assert all(line["event"] != "checkpoint_average" for line in read_log(tmp_path))
    assert load_final_weights(regression_model(), tmp_path).name == "best"


def test_without_kept_checkpoints_the_average_stays_and_recent_goes(tmp_path: Path) -> None:
    task = RegressionTask(scripted_val=[1.0, 0.9, 0.8, 0.7, 0.1])
    fit(regression_model(), task, config(keep_checkpoints=False), tmp_path, progress="quiet")
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == ["average", "best"]
    final = regression_model(seed=5)
    assert load_final_weights(final, tmp_path).name == "average"
    assert torch.equal(flat_parameters(final), task.evaluated[4])


def test_a_fresh_run_refuses_a_folder_with_recent_checkpoints(tmp_path: Path) -> None:
    fit(regression_model(), RegressionTask(), config(), tmp_path / "a", progress="quiet")
    (tmp_path / "b" / "checkpoints").mkdir(parents=True)
    shutil.copytree(
        tmp_path / "a" / "checkpoints" / "recent", tmp_path / "b" / "checkpoints" / "recent"
    )
    with pytest.raises(FileExistsError, match=r"already holds a run \(recent\)"):
        fit(regression_model(), RegressionTask(), config(), tmp_path / "b", progress="quiet")


# --------------------------------------------------------------------------------------------
# The model directory (seqlab.tasks.runner): model.safetensors and metrics.json
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("steps", "eval_every", "kept"),
    [
        (30, 10, "best"),  # the mean of steps 20 and 30 validates worse than step 20
        (20, 5, "average"),  # the mean of steps 15 and 20 ties step 20's accuracy
    ],
)
def test_a_trained_directory_records_the_average_and_holds_the_kept_weights(
    tmp_path: Path, steps: int, eval_every: int, kept: str
) -> None:
    from seqlab import cli

    out = tmp_path / "memory"
    settings = ("data.distance=5", "data.eval_examples=64", f"train.eval_every={eval_every}",
                "train.batch_size=16", "train.warmup_steps=2", "train.device=cpu",
                "train.average_checkpoints=2")  # fmt: skip
    options = [arg for setting in settings for arg in ("--set", setting)]
    status = cli.main(["train", "memory", "--model", "gru", "--preset", "cpu-small", "--steps",
                       str(steps), *options, "--quiet", "--out", str(out)])  # fmt: skip
    assert status == 0
    record = json.loads((out / "metrics.json").read_text(encoding="utf-8"))["training"]
    logged = [line for line in read_log(out) if line["event"] == "checkpoint_average"]
    assert len(logged) == 1
    average = record["checkpoint_average"]
    averaged_steps = [steps - eval_every, steps]
    assert average["steps"] == averaged_steps and average["kept"] == kept
    assert average["best_val"] == record["best_val"]
    assert {key: logged[0][key] for key in average} == average
    accuracy, best = average["val"]["accuracy"], record["best_val"]["accuracy"]
    assert (accuracy >= best) == (kept == "average")
    recent = out / "checkpoints" / "recent"
    expected = (
        hand_mean([recent / f"step-{step:07d}" for step in averaged_steps])
        if kept == "average"
        else saved_weights(out / "checkpoints" / "best")
    )
    weights = saved_weights(out)
    assert sorted(weights) == sorted(expected)
    for name, tensor in expected.items():
        assert torch.equal(weights[name], tensor), name
