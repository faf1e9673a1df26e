"""The loop's pieces on their own: one optimizer step against a hand computation, a skipped
step leaving no trace, evaluate-and-checkpoint's bookkeeping, and where warnings point."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
import torch
from _toy_tasks import RegressionTask, flat_parameters, regression_model
from torch import nn

from seqlab.train import TrainConfig, fit, load_best_weights
from seqlab.train.evaluation import evaluate_and_checkpoint
from seqlab.train.schedules import inverse_sqrt
from seqlab.train.session import TrainingSession, start_session
from seqlab.train.step import train_step


def config(**changes: object) -> TrainConfig:
    base = dict(
        steps=6,
        batch_size=4,
        lr=0.05,
        weight_decay=0.1,
        schedule="inverse_sqrt",
        warmup_steps=3,
        grad_clip=0.5,
        grad_accum_steps=2,
        eval_every=4,
        log_every=1,
        device="cpu",
        seed=3,
    )
    base.update(changes)
    return TrainConfig(**base)  # type: ignore[arg-type]


def session_for(
    task: RegressionTask, out: Path, model: nn.Module | None = None, **changes: object
) -> TrainingSession:
    return start_session(
        model if model is not None else regression_model(),
        task,
        config(**changes),
        out,
        monitor="loss",
        mode="min",
        resume=False,
        progress="quiet",
    )


def reference_step(task: RegressionTask, settings: TrainConfig) -> tuple[nn.Module, float, float]:
    """One AdamW step over batches 0 and 1 written out: the mean loss over every unmasked item,
    its gradient clipped to a global norm of grad_clip. Returns (model, mean loss, pre-clip
    norm)."""
    model = regression_model()
    batches = [task.train_batch(index) for index in range(settings.grad_accum_steps)]
    squared = [((model(b.x) - b.y) ** 2).squeeze(-1) * b.mask for b in batches]  # (B,) each
    count = sum(int(b.mask.sum()) for b in batches)
    mean_loss = sum(terms.sum() for terms in squared) / count
    mean_loss.backward()
    parameters = list(model.parameters())
    norm = float(torch.linalg.vector_norm(torch.cat([p.grad.reshape(-1) for p in parameters])))
    assert settings.grad_clip is not None and norm > settings.grad_clip  # so clipping matters
    with torch.no_grad():
        for parameter in parameters:
            parameter.grad.mul_(settings.grad_clip / (norm + 1e-6))  # torch's clip coefficient
    lr = settings.lr * inverse_sqrt(1, warmup_steps=settings.warmup_steps)  # step 1's rate
    optimizer = torch.optim.AdamW(
        [
            {"params": [p for p in parameters if p.dim() >= 2], "weight_decay": 0.1},
            {"params": [p for p in parameters if p.dim() < 2], "weight_decay": 0.0},
        ],
        lr=lr,
        betas=settings.betas,
        eps=settings.eps,
    )
    optimizer.step()
    return model, float(mean_loss.detach()), norm


def test_one_step_equals_the_hand_computed_adamw_step(tmp_path: Path) -> None:
    task = RegressionTask(masked=True)
    session = session_for(task, tmp_path)
    reference = reference_step(RegressionTask(masked=True), session.config)
    expected_model, expected_loss, expected_norm = reference

    result = train_step(session)

    assert result is not None
    torch.testing.assert_close(
        flat_parameters(session.model), flat_parameters(expected_model), rtol=1e-12, atol=1e-14
    )
    assert result.loss == pytest.approx(expected_loss, rel=1e-12)
    assert result.grad_norm == pytest.approx(expected_norm, rel=1e-12)
    assert result.lr == pytest.approx(0.05 * inverse_sqrt(1, warmup_steps=3), rel=1e-15)
    assert result.tokens == 8  # two micro-batches of 4 rows
    assert [index for index, _ in task.seen] == [0, 1]
    assert (session.run.step, session.run.next_batch_index) == (1, 2)
    assert session.run.last_train_loss == result.loss
    assert session.optimizer.param_groups[0]["lr"] == pytest.approx(
        0.05 * inverse_sqrt(2, warmup_steps=3), rel=1e-15
    )  # the schedule moved on to the next step's rate


def test_a_skipped_step_changes_nothing_but_the_batch_index(tmp_path: Path) -> None:
    task = RegressionTask(nan_batches=frozenset({1}))
    session = session_for(task, tmp_path)
    before = flat_parameters(session.model)
    lr_before = session.optimizer.param_groups[0]["lr"]

    with pytest.warns(RuntimeWarning, match=r"step 1 skipped: .* batches 0\.\.1 \(1/10 in a row\)"):
        assert train_step(session) is None

    assert torch.equal(flat_parameters(session.model), before)
    assert session.optimizer.state_dict()["state"] == {}  # no AdamW moment was created
    assert session.optimizer.param_groups[0]["lr"] == lr_before
    assert all(p.grad is None for p in session.model.parameters())
    assert (session.run.step, session.run.next_batch_index) == (0, 2)
    assert session.nonfinite_in_a_row == 1
    result = train_step(session)  # the next step reads the next batches and resets the count
    assert result is not None and [index for index, _ in task.seen] == [0, 1, 2, 3]
    assert session.nonfinite_in_a_row == 0 and session.run.step == 1


def test_evaluate_and_checkpoint_tracks_best_patience_and_stop_reasons(tmp_path: Path) -> None:
    task = RegressionTask(scripted_val=[3.0, 2.0, 1.995, 1.99, 0.4])
    session = session_for(
        task, tmp_path, early_stopping_patience=2, early_stopping_min_delta=0.01, stop_at=0.5
    )
    initial = flat_parameters(session.model)
    outcomes = []
    for step in range(1, 6):
        session.run.step = step  # an evaluation follows the step it is told
        with torch.no_grad():
            next(session.model.parameters()).add_(1.0)  # each evaluation sees other weights
        stop = evaluate_and_checkpoint(session)
        run = session.run
        outcomes.append((stop, run.best_metric, run.best_step, run.evals_without_improvement))
    assert outcomes == [
        (None, 3.0, 1, 0),
        (None, 2.0, 2, 0),
        (None, 1.995, 3, 1),  # a new best, but by less than min_delta: patience runs on
        ("early_stopping", 1.99, 4, 2),
        ("target_reached", 0.4, 5, 0),
    ]
    assert [record.step for record in session.run.history] == [1, 2, 3, 4, 5]
    assert session.run.last_eval_step == 5
    model = regression_model(seed=42)
    load_best_weights(model, tmp_path)
    expected = initial.clone()
    expected[:24] += 5.0  # the first weight (8 x 3) as of the fifth evaluation, the last best
    assert torch.equal(flat_parameters(model), expected)


def test_every_warning_points_at_the_line_that_called_fit(tmp_path: Path) -> None:
    if torch.cuda.is_available():
        pytest.skip("the amp warning is for CPU-only machines")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit(
            regression_model(),
            RegressionTask(nan_batches=frozenset({0})),
            config(steps=2, warmup_steps=3, device="auto", amp=True),
            tmp_path,
            progress="quiet",
        )
        fit(
            regression_model(),
            RegressionTask(),
            config(steps=3, lr=0.01),
            tmp_path,
            resume=True,
            progress="quiet",
        )
    messages = [str(w.message).split(" ")[0:2] for w in caught]
    assert messages == [
        ["train.amp", "is"], ["warmup_steps", "(3)"], ["step", "1"], ["resuming", "with"]
    ]  # fmt: skip
    assert [Path(w.filename).name for w in caught] == [Path(__file__).name] * 4
