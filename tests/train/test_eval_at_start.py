"""train.eval_at_start: one evaluation of the untrained model, at step 0, before the first step.

Against references: the step-0 metrics equal the task's evaluation of a copy of the initial model
(and the mean squared error computed by hand); the trained weights equal those of the same run
without the setting, bit for bit, with dropout drawing from the generator evaluation also draws
from; a run that only gets worse keeps the initial weights as checkpoints/best.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import torch
from _toy_tasks import RegressionTask, flat_parameters, regression_model, small_train_config
from torch import nn

from seqlab.tasks import TASK_NAMES
from seqlab.tasks.configuration import build_run_config
from seqlab.train import TrainConfig, fit, load_best_weights
from seqlab.train.progress import StepInfo
from seqlab.utils.config import ConfigError


def config(**changes: object) -> TrainConfig:
    """The toy run, evaluated every 2 steps and at the start."""
    return small_train_config(**{"eval_every": 2, "eval_at_start": True, **changes})


# A learning rate so large that AdamW's first step (about lr per weight, whatever the gradient)
# throws the small network far from any fit: every later validation loss is worse than the start.
DIVERGING = dict(lr=100.0, schedule="constant", warmup_steps=0, grad_clip=None)


def read_log(out_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (out_dir / "log.jsonl").read_text().splitlines()]


def hand_mse(model: nn.Module, task: RegressionTask) -> float:
    """The validation mean squared error of ``model`` in eval mode (no dropout)."""
    reference = copy.deepcopy(model).eval()
    with torch.no_grad():
        return float(((reference(task.val_x) - task.val_y) ** 2).mean())


class RecordingProgress:
    """A progress reporter that keeps its notes and the steps it was shown, in order."""

    def __init__(self) -> None:
        self.events: list[str] = []

    def start(self, *, total_steps: int, initial_step: int) -> None:
        self.events.append(f"start {initial_step}")

    def step(self, info: StepInfo) -> None:
        self.events.append(f"step {info.step}")

    def log(self, info: StepInfo) -> None:
        return None

    def note(self, text: str) -> None:
        self.events.append(text)

    def close(self) -> None:
        return None


# --------------------------------------------------------------------------------------------
# The step-0 evaluation
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("weight_average_decay", [None, 0.9])
def test_step_zero_metrics_are_the_initial_models(
    tmp_path: Path, weight_average_decay: float | None
) -> None:
    # With weight averaging the averaged weights at step 0 are the initial ones: the same number.
    model = regression_model(dropout=0.3)
    initial = copy.deepcopy(model)
    with torch.no_grad():
        expected = RegressionTask().evaluate(copy.deepcopy(initial).eval(), "val")
    task = RegressionTask()
    result = fit(
        model, task, config(weight_average_decay=weight_average_decay), tmp_path,
        progress="quiet",
    )  # fmt: skip
    first = result.history[0]
    assert first.step == 0 and first.split == "val"
    assert first.metrics == expected
    assert first.metrics["loss"] == hand_mse(initial, task)
    assert torch.equal(task.evaluated[0], flat_parameters(initial))
    assert [record.step for record in result.history] == [0, 2, 4, 6]
    evals = [line for line in read_log(tmp_path) if line["event"] == "eval"]
    assert [line["step"] for line in evals] == [0, 2, 4, 6]
    assert evals[0]["metrics"] == expected


def test_the_trained_weights_do_not_change(tmp_path: Path) -> None:
    # Dropout draws from torch's global generator, and RegressionTask.evaluate draws from it too:
    # only if evaluation puts the generator back do both runs see the same dropout masks.
    plain, evaluated = regression_model(dropout=0.3), regression_model(dropout=0.3)
    without = fit(plain, RegressionTask(), config(eval_at_start=False), tmp_path / "a",
                  progress="quiet")  # fmt: skip
    with_start = fit(evaluated, RegressionTask(), config(), tmp_path / "b", progress="quiet")
    assert not torch.equal(flat_parameters(plain), flat_parameters(regression_model(dropout=0.3)))
    for (name, a), (_, b) in zip(
        plain.state_dict().items(), evaluated.state_dict().items(), strict=True
    ):
        assert torch.equal(a, b), name
    assert evaluated.training  # left in train mode, as training needs
    # The later evaluations are the same numbers: the step-0 one is only added in front.
    assert with_start.history[1:] == without.history
    assert with_start.final_train_loss == without.final_train_loss


def test_a_run_that_only_gets_worse_keeps_the_initial_weights_as_best(tmp_path: Path) -> None:
    model = regression_model()
    initial = copy.deepcopy(model)
    task = RegressionTask()
    result = fit(model, task, config(**DIVERGING), tmp_path / "start", progress="quiet")
    initial_loss = hand_mse(initial, task)
    assert all(record.metrics["loss"] > initial_loss for record in result.history[1:])
    assert (result.best_step, result.best_metric) == (0, initial_loss)
    best = regression_model(seed=8)
    assert load_best_weights(best, tmp_path / "start").name == "best"
    for (name, a), (_, b) in zip(best.state_dict().items(), initial.state_dict().items(),
                                 strict=True):  # fmt: skip
        assert torch.equal(a, b), name
    # Without the setting the same run can only pick among trained weights.
    without = fit(regression_model(), RegressionTask(), config(eval_at_start=False, **DIVERGING),
                  tmp_path / "plain", progress="quiet")  # fmt: skip
    assert without.best_step != 0 and without.best_metric > initial_loss


def test_the_progress_reporter_shows_the_evaluation_before_the_first_step(tmp_path: Path) -> None:
    model, task, progress = regression_model(), RegressionTask(), RecordingProgress()
    loss = hand_mse(model, task)
    fit(model, task, config(steps=2, warmup_steps=1), tmp_path, progress=progress)
    assert progress.events[:3] == [
        "start 0",
        f"eval step 0 [val] loss {loss:.4g}, mse {loss:.4g} | best loss {loss:.4g} at step 0",
        "step 1",
    ]


# --------------------------------------------------------------------------------------------
# Stopping and budgets
# --------------------------------------------------------------------------------------------


def test_early_stopping_counts_the_step_zero_evaluation(tmp_path: Path) -> None:
    # Scripted: 0.5 at step 0 (best), then 0.9, 0.8, 0.7, ... never better: patience 2 runs out
    # at step 2. Without the step-0 evaluation the run would stop only at step 3 (best at 1).
    task = RegressionTask(scripted_val=[0.5, 0.9, 0.8, 0.7, 0.6, 0.55])
    result = fit(regression_model(), task, config(steps=50, eval_every=1,
                 early_stopping_patience=2), tmp_path, progress="quiet")  # fmt: skip
    assert result.stop_reason == "early_stopping"
    assert (result.steps, result.best_step, result.best_metric) == (2, 0, 0.5)
    assert [record.step for record in result.history] == [0, 1, 2]


def test_early_stopping_after_a_diverging_start(tmp_path: Path) -> None:
    # Real numbers: every trained model validates worse than the initial one, so patience 3
    # counts the evaluations at steps 1, 2 and 3 and stops there.
    result = fit(regression_model(), RegressionTask(),
                 config(steps=50, eval_every=1, early_stopping_patience=3, **DIVERGING),
                 tmp_path, progress="quiet")  # fmt: skip
    assert result.stop_reason == "early_stopping"
    assert (result.steps, result.best_step) == (3, 0)
    assert [record.step for record in result.history] == [0, 1, 2, 3]


def test_an_initial_model_at_the_target_trains_no_step(tmp_path: Path) -> None:
    model = regression_model()
    initial = flat_parameters(model)
    task = RegressionTask()
    initial_loss = hand_mse(model, task)
    result = fit(model, task, config(stop_at=initial_loss), tmp_path, progress="quiet")
    assert (result.stop_reason, result.steps, result.best_step) == ("target_reached", 0, 0)
    assert [record.step for record in result.history] == [0]  # no second evaluation at the end
    assert torch.equal(flat_parameters(model), initial)
    assert not [line for line in read_log(tmp_path) if line["event"] == "train"]


def test_a_spent_time_budget_still_records_step_zero_once(tmp_path: Path) -> None:
    result = fit(regression_model(), RegressionTask(), config(max_seconds=1e-9), tmp_path,
                 progress="quiet")  # fmt: skip
    assert (result.stop_reason, result.steps, result.best_step) == ("max_seconds", 0, 0)
    assert [record.step for record in result.history] == [0]


# --------------------------------------------------------------------------------------------
# Checkpoint averaging and resume
# --------------------------------------------------------------------------------------------


def test_checkpoint_averaging_leaves_the_initial_weights_out(tmp_path: Path) -> None:
    # 5 slots but only 3 trained evaluations (steps 2, 4, 6): step 0 must not fill a fourth.
    result = fit(regression_model(), RegressionTask(), config(average_checkpoints=5), tmp_path,
                 progress="quiet")  # fmt: skip
    assert result.checkpoint_average is not None
    assert result.checkpoint_average.steps == (2, 4, 6)
    assert [record.step for record in result.history] == [0, 2, 4, 6]


def test_resume_does_not_evaluate_step_zero_again(tmp_path: Path) -> None:
    straight = regression_model(dropout=0.3)
    fit(straight, RegressionTask(), config(steps=8), tmp_path / "straight", progress="quiet")
    first = regression_model(dropout=0.3)
    fit(first, RegressionTask(), config(steps=4), tmp_path / "resumed", progress="quiet")
    resumed = regression_model(dropout=0.3, seed=99)  # other weights: all come from disk
    task = RegressionTask()
    result = fit(resumed, task, config(steps=8), tmp_path / "resumed", resume=True,
                 progress="quiet")  # fmt: skip
    assert [record.step for record in result.history] == [0, 2, 4, 6, 8]
    assert len(task.evaluated) == 2  # steps 6 and 8 only
    evals = [line["step"] for line in read_log(tmp_path / "resumed") if line["event"] == "eval"]
    assert evals == [0, 2, 4, 6, 8]
    assert torch.equal(flat_parameters(resumed), flat_parameters(straight))


def test_resume_of_a_run_stopped_at_step_zero_does_not_evaluate_it_again(tmp_path: Path) -> None:
    # The time budget ends the first call right after the step-0 evaluation: the resumed call
    # starts at step 0 with that evaluation recorded, and must not repeat it.
    straight = regression_model()
    fit(straight, RegressionTask(), config(), tmp_path / "straight", progress="quiet")
    fit(regression_model(), RegressionTask(), config(max_seconds=1e-9), tmp_path / "resumed",
        progress="quiet")  # fmt: skip
    task, resumed = RegressionTask(), regression_model(seed=99)
    result = fit(resumed, task, config(), tmp_path / "resumed", resume=True, progress="quiet")
    assert [record.step for record in result.history] == [0, 2, 4, 6]
    assert len(task.evaluated) == 3
    assert torch.equal(flat_parameters(resumed), flat_parameters(straight))


def test_resume_of_a_run_without_it_does_not_add_step_zero(tmp_path: Path) -> None:
    fit(regression_model(), RegressionTask(), config(steps=4, eval_at_start=False), tmp_path,
        progress="quiet")  # fmt: skip
    task = RegressionTask()
    with pytest.warns(RuntimeWarning, match="eval_at_start False -> True"):
        result = fit(regression_model(), task, config(steps=6), tmp_path, resume=True,
                     progress="quiet")  # fmt: skip
    assert [record.step for record in result.history] == [2, 4, 6]
    assert len(task.evaluated) == 1


# --------------------------------------------------------------------------------------------
# Configuration
# --------------------------------------------------------------------------------------------


def test_eval_at_start_must_be_a_bool() -> None:
    with pytest.raises(ConfigError, match=r"eval_at_start \('yes'\) must be true or false"):
        TrainConfig(eval_at_start="yes")  # type: ignore[arg-type]
    assert TrainConfig().eval_at_start is False


@pytest.mark.parametrize("task", TASK_NAMES)
def test_the_command_line_override_reaches_every_task(task: str) -> None:
    run = build_run_config(task, overrides=["train.eval_at_start=true"])
    assert run.train.eval_at_start is True
    assert build_run_config(task).train.eval_at_start is False
