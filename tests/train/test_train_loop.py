"""The training loop against hand computations and against itself (equivalence tier)."""

from __future__ import annotations

import json
import math
import random
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from _toy_tasks import (
    RegressionTask,
    StreamModel,
    StreamTask,
    flat_parameters,
    regression_model,
)
from torch import nn

from seqlab.errors import SeqlabError
from seqlab.train import (
    TrainConfig,
    TrainingDiverged,
    drop_resume_state,
    fit,
    load_best_weights,
    load_training_checkpoint,
    resolve_device,
)
from seqlab.train.loop import average_and_clip_gradients, build_optimizer
from seqlab.train.schedules import build_scheduler, inverse_sqrt


def config(**changes: object) -> TrainConfig:
    base = dict(
        steps=6,
        batch_size=4,
        lr=0.05,
        schedule="inverse_sqrt",
        warmup_steps=3,
        grad_clip=1.0,
        eval_every=4,
        log_every=1,
        device="cpu",
        seed=3,
    )
    base.update(changes)
    return TrainConfig(**base)  # type: ignore[arg-type]


def read_log(out_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (out_dir / "log.jsonl").read_text().splitlines()]


def assert_same_weights(a: nn.Module, b: nn.Module) -> None:
    for (name, pa), (_, pb) in zip(a.state_dict().items(), b.state_dict().items(), strict=True):
        assert torch.equal(pa, pb), name


# --------------------------------------------------------------------------------------------
# Gradient arithmetic
# --------------------------------------------------------------------------------------------


def test_clipping_scales_global_norm_to_grad_clip_and_returns_pre_clip_norm() -> None:
    a = nn.Parameter(torch.zeros(2, dtype=torch.float64))
    b = nn.Parameter(torch.zeros(1, dtype=torch.float64))
    a.grad = torch.tensor([30.0, 40.0], dtype=torch.float64)  # sums over 2 items
    b.grad = torch.tensor([0.0], dtype=torch.float64)
    norm = average_and_clip_gradients([a, b], count=2, grad_clip=5.0)
    assert norm == pytest.approx(25.0, abs=1e-12)  # ||(15, 20, 0)|| before clipping
    after = torch.linalg.vector_norm(torch.cat([a.grad, b.grad]))
    torch.testing.assert_close(after, torch.tensor(5.0, dtype=torch.float64), rtol=0, atol=1e-6)
    torch.testing.assert_close(
        a.grad, torch.tensor([3.0, 4.0], dtype=torch.float64), atol=1e-6, rtol=0
    )


def test_clipping_leaves_small_gradients_alone() -> None:
    a = nn.Parameter(torch.zeros(2, dtype=torch.float64))
    a.grad = torch.tensor([0.3, 0.4], dtype=torch.float64)
    assert average_and_clip_gradients([a], count=1, grad_clip=5.0) == pytest.approx(0.5)
    torch.testing.assert_close(a.grad, torch.tensor([0.3, 0.4], dtype=torch.float64))


def test_logged_grad_norm_is_the_pre_clip_norm_of_the_mean_loss(tmp_path: Path) -> None:
    task = RegressionTask(masked=True)
    model = regression_model()
    reference = regression_model()
    batch = task.train_batch(0)
    squared = ((reference(batch.x) - batch.y) ** 2).squeeze(-1) * batch.mask
    (squared.sum() / batch.mask.sum()).backward()
    expected = math.sqrt(sum(float((p.grad**2).sum()) for p in reference.parameters()))
    assert expected > 0.01  # so the run below really clips
    fit(model, task, config(steps=1, warmup_steps=1, grad_clip=0.01), tmp_path, progress="quiet")
    train_lines = [line for line in read_log(tmp_path) if line["event"] == "train"]
    assert train_lines[0]["grad_norm"] == pytest.approx(expected, rel=1e-12)


def test_accumulation_equals_one_big_batch(tmp_path: Path) -> None:
    # Masked items make the two micro-batches of a step cover different counts, which is where
    # averaging per micro-batch would go wrong.
    task_small = RegressionTask(batch_size=4, masked=True)
    counts = [int(task_small.train_batch(i).mask.sum()) for i in range(4)]
    assert len(set(counts)) > 1
    accumulated = regression_model()
    big = regression_model()
    start = flat_parameters(big)
    fit(accumulated, task_small, config(grad_accum_steps=2), tmp_path / "a", progress="quiet")
    fit(big, RegressionTask(batch_size=8, masked=True), config(), tmp_path / "b", progress="quiet")
    assert not torch.equal(flat_parameters(big), start)
    torch.testing.assert_close(
        flat_parameters(accumulated), flat_parameters(big), atol=1e-6, rtol=0
    )
    norms_a = [x["grad_norm"] for x in read_log(tmp_path / "a") if x["event"] == "train"]
    norms_b = [x["grad_norm"] for x in read_log(tmp_path / "b") if x["event"] == "train"]
    assert norms_a == pytest.approx(norms_b, abs=1e-9)


# --------------------------------------------------------------------------------------------
# Determinism and resume
# --------------------------------------------------------------------------------------------


def test_same_seed_same_weights_and_other_seed_differs(tmp_path: Path) -> None:
    models = []
    for name, seed in (("a", 3), ("b", 3), ("c", 4)):
        model = regression_model(dropout=0.3)
        fit(model, RegressionTask(), config(seed=seed), tmp_path / name, progress="quiet")
        models.append(model)
    assert_same_weights(models[0], models[1])
    assert not torch.equal(flat_parameters(models[0]), flat_parameters(models[2]))


def test_training_does_not_depend_on_draws_made_before_fit(tmp_path: Path) -> None:
    # fit seeds every generator itself (seqlab.utils.seeding, point 2): building a bigger model,
    # or drawing anything, before the call changes no dropout mask and so no trained weight.
    models = []
    for name, draws in (("none", 0), ("many", 1000)):
        model = regression_model(dropout=0.3)
        torch.rand(draws)
        np.random.rand(draws)
        random.random()
        fit(model, RegressionTask(), config(), tmp_path / name, progress="quiet")
        models.append(model)
    assert_same_weights(models[0], models[1])
    assert not torch.equal(flat_parameters(models[0]), flat_parameters(regression_model()))


def test_resume_reaches_the_same_weights_as_an_uninterrupted_run(tmp_path: Path) -> None:
    # Dropout draws from the torch RNG, so equality needs the RNG state restored exactly; evals
    # fall on different steps in the two runs (6 vs 4, 8), which must not matter either.
    straight = regression_model(dropout=0.3)
    fit(straight, RegressionTask(), config(steps=12), tmp_path / "straight", progress="quiet")

    first = regression_model(dropout=0.3)
    fit(first, RegressionTask(), config(steps=6), tmp_path / "resumed", progress="quiet")
    resumed = regression_model(dropout=0.3, seed=99)  # other initial weights: all come from disk
    task = RegressionTask()
    result = fit(
        resumed, task, config(steps=12), tmp_path / "resumed", resume=True, progress="quiet"
    )
    assert task.seen[0][0] == 6  # continued at the next batch index
    assert result.steps == 12 and result.stop_reason == "steps"
    assert_same_weights(straight, resumed)
    assert [record.step for record in result.history] == [4, 6, 8, 12]
    events = [line["event"] for line in read_log(tmp_path / "resumed")]
    assert events.count("resume") == 1 and events[0] == "start"


def test_fresh_run_refuses_a_directory_with_checkpoints(tmp_path: Path) -> None:
    fit(
        regression_model(),
        RegressionTask(),
        config(steps=1, warmup_steps=1),
        tmp_path,
        progress="quiet",
    )
    with pytest.raises(FileExistsError, match="resume=True"):
        fit(
            regression_model(),
            RegressionTask(),
            config(steps=1, warmup_steps=1),
            tmp_path,
            progress="quiet",
        )


def test_resume_without_checkpoint_names_the_folder(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="checkpoints/last"):
        fit(regression_model(), RegressionTask(), config(), tmp_path, resume=True, progress="quiet")


# --------------------------------------------------------------------------------------------
# Truncated BPTT
# --------------------------------------------------------------------------------------------


def test_carried_state_is_detached_between_steps(tmp_path: Path) -> None:
    task = StreamTask()
    fit(StreamModel(), task, config(steps=4, grad_accum_steps=2), tmp_path, progress="quiet")
    assert task.incoming[0] is None
    assert len(task.incoming) == 8
    for received, produced in zip(task.incoming[1:], task.outgoing[:-1], strict=True):
        assert produced.grad_fn is not None  # the task's output was part of a graph ...
        assert received.grad_fn is None and not received.requires_grad  # ... cut before reuse
        torch.testing.assert_close(received, produced.detach(), rtol=0, atol=0)


def test_stateful_resume_restores_the_carried_state(tmp_path: Path) -> None:
    straight = StreamModel()
    fit(straight, StreamTask(), config(steps=8), tmp_path / "straight", progress="quiet")
    first_task = StreamTask()
    fit(StreamModel(), first_task, config(steps=4), tmp_path / "resumed", progress="quiet")
    model = StreamModel()
    optimizer = build_optimizer(model, config())
    scheduler = build_scheduler(
        optimizer, schedule="inverse_sqrt", warmup_steps=3, total_steps=8, min_lr_ratio=0.0
    )
    loaded = load_training_checkpoint(
        tmp_path / "resumed" / "checkpoints" / "last",
        model=model,
        optimizer=optimizer,
        scheduler=scheduler,
    )
    torch.testing.assert_close(
        loaded.carried_state, first_task.outgoing[-1].detach(), rtol=0, atol=0
    )

    resumed_task = StreamTask()
    resumed = StreamModel()
    fit(resumed, resumed_task, config(steps=8), tmp_path / "resumed", resume=True, progress="quiet")
    torch.testing.assert_close(resumed_task.incoming[0], loaded.carried_state, rtol=0, atol=0)
    assert_same_weights(straight, resumed)


# --------------------------------------------------------------------------------------------
# Non-finite steps
# --------------------------------------------------------------------------------------------


def test_one_nan_step_is_skipped_and_the_run_continues(tmp_path: Path) -> None:
    task = RegressionTask(nan_batches=frozenset({2}))
    with pytest.warns(RuntimeWarning, match="step 3 skipped"):
        result = fit(regression_model(), task, config(steps=5), tmp_path, progress="quiet")
    assert result.steps == 5
    weights = dict(task.seen)
    assert [index for index, _ in task.seen] == [0, 1, 2, 3, 4, 5]  # one extra batch consumed
    assert not torch.equal(weights[1], weights[2])  # normal steps change the weights
    assert torch.equal(weights[2], weights[3])  # the NaN step did not
    lines = read_log(tmp_path)
    assert [line["step"] for line in lines if line["event"] == "nonfinite"] == [3]
    # The schedule did not advance on the skipped step: step k still runs at lr * m(k).
    lrs = [line["lr"] for line in lines if line["event"] == "train"]
    assert lrs == pytest.approx([0.05 * inverse_sqrt(s, warmup_steps=3) for s in range(1, 6)])


def test_a_skipped_step_rolls_the_carried_state_back(tmp_path: Path) -> None:
    task = StreamTask(nan_batches=frozenset({2}))
    with pytest.warns(RuntimeWarning, match="step 3 skipped"):
        fit(StreamModel(), task, config(steps=4), tmp_path, progress="quiet")
    # Batch 3 starts from the state batch 2 started from, not from the skipped batch's output.
    torch.testing.assert_close(task.incoming[3], task.incoming[2], rtol=0, atol=0)
    assert not torch.equal(task.incoming[3], task.outgoing[2])


def test_persistent_nan_raises_training_diverged_and_keeps_last_checkpoint(tmp_path: Path) -> None:
    task = RegressionTask(nan_from=5)
    model = regression_model()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        with pytest.raises(TrainingDiverged) as caught:
            fit(model, task, config(steps=20, eval_every=2, max_nonfinite_steps=3), tmp_path,
                progress="quiet")  # fmt: skip
    message = str(caught.value)
    assert isinstance(caught.value, SeqlabError)  # the command line prints it as one line
    assert "\n" not in message
    assert "3 steps in a row" in message and "(step 4) is intact" in message
    assert str(tmp_path / "checkpoints" / "last") in message
    assert len(task.seen) == 5 + 3  # steps 1-5 on batches 0-4, then 3 NaN attempts
    restored = regression_model(seed=42)
    optimizer = build_optimizer(restored, config())
    scheduler = build_scheduler(
        optimizer, schedule="inverse_sqrt", warmup_steps=3, total_steps=20, min_lr_ratio=0.0
    )
    loaded = load_training_checkpoint(
        tmp_path / "checkpoints" / "last", model=restored, optimizer=optimizer, scheduler=scheduler
    )
    assert loaded.progress["step"] == 4
    assert torch.equal(flat_parameters(restored), task.evaluated[-1])  # the step-4 weights


def test_nan_from_the_first_step_still_leaves_a_loadable_checkpoint(tmp_path: Path) -> None:
    model = regression_model()
    initial = flat_parameters(model)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        with pytest.raises(TrainingDiverged, match=r"\(step 0\) is intact"):
            fit(model, RegressionTask(nan_from=0), config(max_nonfinite_steps=2), tmp_path,
                progress="quiet")  # fmt: skip
    restored = regression_model(seed=5)
    load_best_weights(restored, tmp_path)  # no best yet: falls back to last
    assert torch.equal(flat_parameters(restored), initial)


# --------------------------------------------------------------------------------------------
# Evaluation, early stopping, budgets, logs
# --------------------------------------------------------------------------------------------


def test_early_stopping_after_patience_and_best_checkpoint(tmp_path: Path) -> None:
    # Evaluations after steps 1..: 1.0 (best), 0.5 (best), 0.5 (a tie is no improvement), 0.7
    # -> patience 2 runs out at step 4.
    task = RegressionTask(scripted_val=[1.0, 0.5, 0.5, 0.7, 0.1, 0.1])
    model = regression_model()
    result = fit(
        model, task, config(steps=50, eval_every=1, early_stopping_patience=2), tmp_path,
        progress="quiet",
    )  # fmt: skip
    assert result.stop_reason == "early_stopping"
    assert result.steps == 4
    assert (result.best_metric, result.best_step) == (0.5, 2)
    assert [record.metrics["loss"] for record in result.history] == [1.0, 0.5, 0.5, 0.7]
    best = regression_model(seed=8)
    assert load_best_weights(best, tmp_path).name == "best"
    assert torch.equal(flat_parameters(best), task.evaluated[1])  # weights after step 2


def test_gains_below_min_delta_do_not_restart_patience(tmp_path: Path) -> None:
    # 1.0 (best), 0.99 (best, but a gain of 0.01 <= 0.05: patience 1), 0.98 (same: patience 2)
    # -> stop at step 3 with patience 2, and the best checkpoint is still the lowest loss.
    task = RegressionTask(scripted_val=[1.0, 0.99, 0.98, 0.5, 0.4])
    result = fit(
        regression_model(), task,
        config(steps=5, eval_every=1, early_stopping_patience=2, early_stopping_min_delta=0.05),
        tmp_path, progress="quiet",
    )  # fmt: skip
    assert result.stop_reason == "early_stopping"
    assert (result.steps, result.best_metric, result.best_step) == (3, 0.98, 3)


@pytest.mark.parametrize(
    ("mode", "monitor", "stop_at", "expected_steps"),
    [("min", "loss", 0.5, 2), ("min", "loss", 0.45, 6), ("max", "accuracy", -0.7, 2)],
)
def test_stop_at_ends_training_once_the_target_is_reached(
    tmp_path: Path, mode: str, monitor: str, stop_at: float, expected_steps: int
) -> None:
    # Scripted validation losses 1.0, 0.5, 0.7, ...: a target of 0.5 is met (not beaten) at
    # step 2; 0.45 is never met, so the step budget (6) ends the run. accuracy = -loss.
    task = RegressionTask(scripted_val=[1.0, 0.5, 0.7, 0.6, 0.9, 0.8])
    result = fit(
        regression_model(), task, config(steps=6, eval_every=1, stop_at=stop_at), tmp_path,
        monitor=monitor, mode=mode, progress="quiet",
    )  # fmt: skip
    assert result.steps == expected_steps
    assert result.stop_reason == ("target_reached" if expected_steps == 2 else "steps")


def test_mode_max_tracks_the_largest_metric(tmp_path: Path) -> None:
    task = RegressionTask(scripted_val=[1.0, 0.5, 0.6, 2.0])  # accuracy = -loss
    result = fit(
        regression_model(), task, config(steps=4, eval_every=1), tmp_path,
        monitor="accuracy", mode="max", progress="quiet",
    )  # fmt: skip
    assert (result.best_metric, result.best_step) == (-0.5, 2)


def test_unknown_monitor_names_the_available_metrics(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="'bleu' is not among .*loss, mse"):
        fit(regression_model(), RegressionTask(), config(), tmp_path, monitor="bleu",
            progress="quiet")  # fmt: skip


def test_wall_clock_budget_stops_cleanly(tmp_path: Path) -> None:
    task = RegressionTask(sleep_seconds=0.02)
    result = fit(
        regression_model(), task, config(steps=10_000, max_seconds=0.25, eval_every=1000),
        tmp_path, progress="quiet",
    )  # fmt: skip
    assert result.stop_reason == "max_seconds"
    assert 1 <= result.steps < 50
    assert result.seconds >= 0.25
    assert result.history[-1].step == result.steps  # final evaluation still ran
    assert read_log(tmp_path)[-1] == {
        "event": "stop",
        "step": result.steps,
        "reason": "max_seconds",
    }


def test_log_jsonl_lines_parse_and_hold_the_fields(tmp_path: Path) -> None:
    fit(regression_model(), RegressionTask(), config(steps=6, log_every=2), tmp_path,
        progress="quiet")  # fmt: skip
    lines = read_log(tmp_path)
    train = [line for line in lines if line["event"] == "train"]
    evals = [line for line in lines if line["event"] == "eval"]
    assert [line["step"] for line in train] == [2, 4, 6]
    for line in train:
        assert set(line) == {
            "event", "step", "loss", "lr", "grad_norm", "tokens_per_second", "elapsed"
        }  # fmt: skip
        assert line["loss"] > 0 and line["tokens_per_second"] > 0 and line["elapsed"] > 0
    assert [(line["step"], line["split"]) for line in evals] == [(4, "val"), (6, "val")]
    assert set(evals[0]["metrics"]) == {"loss", "mse"}


def test_keep_checkpoints_false_removes_last_but_keeps_best(tmp_path: Path) -> None:
    fit(regression_model(), RegressionTask(), config(keep_checkpoints=False), tmp_path,
        progress="quiet")  # fmt: skip
    assert not (tmp_path / "checkpoints" / "last").exists()
    assert (tmp_path / "checkpoints" / "best" / "model.safetensors").is_file()


def test_keep_resume_state_leaves_last_until_the_caller_drops_it(tmp_path: Path) -> None:
    """A caller that writes more files after fit keeps the resume state until it is done."""
    settings = config(keep_checkpoints=False)
    fit(regression_model(), RegressionTask(), settings, tmp_path, progress="quiet",
        keep_resume_state=True)  # fmt: skip
    last = tmp_path / "checkpoints" / "last"
    assert (last / "trainer.json").is_file()
    drop_resume_state(tmp_path, keep_checkpoints=True)
    assert (last / "trainer.json").is_file()
    drop_resume_state(tmp_path, keep_checkpoints=False)
    assert not last.exists()
    assert (tmp_path / "checkpoints" / "best" / "model.safetensors").is_file()


def test_cuda_on_a_machine_without_it_is_a_one_line_error(monkeypatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(SeqlabError, match=r"^train.device is 'cuda' but torch finds no CUDA"):
        resolve_device("cuda")
    assert resolve_device("auto") == torch.device("cpu")


def test_threads_apply_during_training_and_are_restored(tmp_path: Path, monkeypatch) -> None:
    # A stand-in for torch's thread setting: a real second thread would only slow this suite.
    current = [torch.get_num_threads()]
    monkeypatch.setattr(torch, "get_num_threads", lambda: current[0])
    monkeypatch.setattr(torch, "set_num_threads", lambda n: current.__setitem__(0, n))
    seen: list[int] = []

    class Counting(RegressionTask):
        def loss(self, model, batch, state=None):  # type: ignore[override]
            seen.append(torch.get_num_threads())
            return super().loss(model, batch, state)

    before = current[0]
    fit(regression_model(), Counting(), config(threads=before + 3), tmp_path, progress="quiet")
    assert set(seen) == {before + 3}
    assert current[0] == before
