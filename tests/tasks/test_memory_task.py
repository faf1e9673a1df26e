"""The memory workload (seqlab.tasks.memory): losses as sums with counts, metrics, splits.

Losses are checked against cross-entropy / squared error written out from log-softmax on the same
outputs; metrics against stub models whose answers are known by construction (a perfect answerer
built from the inputs, a constant guess, an answerer wrong at one known position).
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.testing import assert_close

from seqlab.models.config import RecurrentConfig, TransformerConfig
from seqlab.tasks.base import RunConfig
from seqlab.tasks.memory.config import MemoryDataConfig
from seqlab.tasks.memory.predictor import MemoryPredictor
from seqlab.tasks.memory.task import MemoryTask
from seqlab.train import TrainConfig

ALPHABET, STRING = 5, 3


def _task(
    kind: str,
    *,
    family: str = "gru",
    distance: int = 6,
    eval_examples: int = 300,
    label_smoothing: float = 0.0,
    batch_size: int = 16,
    seed: int = 0,
    string_length: int = STRING,
) -> MemoryTask:
    model = (
        TransformerConfig(d_model=16, num_heads=2, num_layers=1, dim_feedforward=32, dropout=0.0)
        if family == "transformer"
        else RecurrentConfig(family=family, hidden_size=12)
    )
    run = RunConfig(
        task="memory",
        data=MemoryDataConfig(
            kind=kind,
            distance=distance,
            alphabet_size=ALPHABET,
            string_length=string_length,
            eval_examples=eval_examples,
            label_smoothing=label_smoothing,
        ),
        model=model,
        train=TrainConfig(batch_size=batch_size, seed=seed, device="cpu"),
    )
    return MemoryTask(run)


def _hand_cross_entropy(logits: torch.Tensor, targets: torch.Tensor, smoothing: float = 0.0):
    """Per-item smoothed cross-entropy: (1 - e) * (-log p_y) + e * mean_c(-log p_c)."""
    log_p = logits - torch.logsumexp(logits, dim=-1, keepdim=True)  # (..., C)
    nll = -log_p.gather(-1, targets.unsqueeze(-1)).squeeze(-1)  # (...)
    uniform = -log_p.mean(dim=-1)  # (...)
    return (1 - smoothing) * nll + smoothing * uniform


# ---- loss ----------------------------------------------------------------------------------


@pytest.mark.parametrize("family", ["gru", "transformer"])
def test_recall_loss_is_summed_cross_entropy_over_the_batch(family: str) -> None:
    task = _task("recall", family=family)
    torch.manual_seed(0)
    model = task.build_model().eval()
    batch = task.train_batch(3)
    step = task.loss(model, batch)
    logits = model(batch.inputs)  # (B, C)
    assert step.count == 16
    assert step.tokens == 16 * 6
    assert_close(step.loss_sum, _hand_cross_entropy(logits, batch.targets).sum())
    assert_close(step.loss_sum, F.cross_entropy(logits, batch.targets, reduction="sum"))
    assert step.loss_sum.requires_grad


def test_copy_loss_covers_every_string_position() -> None:
    task = _task("copy")
    model = task.build_model().eval()
    batch = task.train_batch(0)
    step = task.loss(model, batch)
    logits = model(batch.inputs)  # (B, S, C)
    assert step.count == 16 * STRING
    assert step.tokens == 16 * (STRING + 6 + STRING)
    assert_close(step.loss_sum, _hand_cross_entropy(logits, batch.targets).sum())


def test_copying_a_one_symbol_string_keeps_the_position_axis() -> None:
    """A string of one symbol is still a copy: (B, 1, C) logits against (B, 1) targets, so the
    accuracy is the share of right symbols (a (B, C) answer broadcast against (B, 1) targets
    gave accuracies above 1)."""
    task = _task("copy", string_length=1, eval_examples=64)
    torch.manual_seed(0)
    model = task.build_model().eval()
    batch = task.train_batch(0)
    logits = model(batch.inputs)
    assert logits.shape == (16, 1, ALPHABET)
    step = task.loss(model, batch)
    assert_close(step.loss_sum, _hand_cross_entropy(logits, batch.targets).sum())
    metrics = task.evaluate(model, "val")
    assert 0.0 <= metrics["accuracy"] <= 1.0
    assert metrics["accuracy"] == metrics["sequence_accuracy"]  # one symbol per string


def test_adding_loss_is_summed_squared_error() -> None:
    task = _task("adding")
    model = task.build_model().eval()
    batch = task.train_batch(1)
    step = task.loss(model, batch)
    with torch.no_grad():
        predictions = model(batch.inputs)  # (B,)
    expected = sum(
        (float(p) - float(t)) ** 2 for p, t in zip(predictions, batch.targets, strict=True)
    )
    assert step.count == 16
    assert float(step.loss_sum.detach()) == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("kind", ["recall", "copy"])
def test_label_smoothing_gives_the_hand_computed_smoothed_loss(kind: str) -> None:
    plain, smoothed = _task(kind), _task(kind, label_smoothing=0.2)
    torch.manual_seed(0)
    model = plain.build_model().eval()
    batch = plain.train_batch(0)
    logits = model(batch.inputs)
    hand = _hand_cross_entropy(logits, batch.targets, smoothing=0.2).sum()
    assert_close(smoothed.loss(model, batch).loss_sum, hand)
    # Smoothing changes the value (the model is not uniform at initialisation).
    difference = float(
        (smoothed.loss(model, batch).loss_sum - plain.loss(model, batch).loss_sum).detach()
    )
    assert abs(difference) > 1e-4


def test_evaluation_ignores_label_smoothing() -> None:
    task = _task("recall", label_smoothing=0.3)
    model = _Recall(answer_position=0, confidence=4.0)
    metrics = task.evaluate(model, "val")
    # Logit 4 on the right class, 0 on the 4 others: loss = log(1 + 4 e^-4), unsmoothed.
    assert metrics["loss"] == pytest.approx(math.log(1 + (ALPHABET - 1) * math.exp(-4.0)), rel=1e-6)


# ---- evaluation with stub models -----------------------------------------------------------


class _Recall(nn.Module):
    """Answers recall with one-hot logits of the symbol at ``answer_position``."""

    def __init__(self, *, answer_position: int, confidence: float = 10.0) -> None:
        super().__init__()
        self.anchor = nn.Parameter(torch.zeros(()))  # evaluate() reads the device from it
        self.answer_position, self.confidence = answer_position, confidence

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        symbols = inputs[:, self.answer_position]  # (B,)
        return F.one_hot(symbols, ALPHABET).float() * self.confidence  # (B, C)


class _Copy(nn.Module):
    """Answers copy with the string; when ``spoil_first`` it gets position 0 wrong."""

    def __init__(self, *, spoil_first: bool = False) -> None:
        super().__init__()
        self.anchor = nn.Parameter(torch.zeros(()))
        self.spoil_first = spoil_first

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        string = inputs[:, :STRING].clone()  # (B, S)
        if self.spoil_first:
            string[:, 0] = (string[:, 0] + 1) % ALPHABET
        return F.one_hot(string, ALPHABET).float() * 10.0  # (B, S, C)


class _Adding(nn.Module):
    """Always answers ``constant``; or, with constant None, the true sum from the markers."""

    def __init__(self, constant: float | None) -> None:
        super().__init__()
        self.anchor = nn.Parameter(torch.zeros(()))
        self.constant = constant

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        if self.constant is None:
            return (inputs[..., 0] * inputs[..., 1]).sum(dim=1)  # (B,)
        return torch.full((inputs.shape[0],), self.constant)  # (B,)


@pytest.mark.parametrize("split", ["val", "test"])
def test_perfect_recall_answerer_scores_one(split: str) -> None:
    metrics = _task("recall").evaluate(_Recall(answer_position=0), split)
    assert metrics["accuracy"] == 1.0
    assert metrics["chance_accuracy"] == pytest.approx(1 / ALPHABET)
    # float32 log-softmax of logits (10, 0, 0, 0, 0): loss log(1 + 4 e^-10) to about 1e-7.
    expected = math.log(1 + (ALPHABET - 1) * math.exp(-10.0))
    assert metrics["loss"] == pytest.approx(expected, abs=2e-7)
    assert set(metrics) == {"loss", "accuracy", "chance_accuracy"}


def test_recall_answerer_reading_the_wrong_step_scores_its_hit_rate() -> None:
    # Answering with the second symbol is right exactly when it equals the first.
    task = _task("recall")
    expected = sum(int((b.inputs[:, 1] == b.inputs[:, 0]).sum()) for b in task.split_batches("val"))
    metrics = task.evaluate(_Recall(answer_position=1), "val")
    assert metrics["accuracy"] == expected / 300
    assert metrics["accuracy"] == pytest.approx(1 / ALPHABET, abs=0.08)


def test_copy_accuracy_per_symbol_and_per_string() -> None:
    task = _task("copy")
    perfect = task.evaluate(_Copy(), "test")
    assert perfect["accuracy"] == 1.0 and perfect["sequence_accuracy"] == 1.0
    assert perfect["chance_accuracy"] == pytest.approx(1 / ALPHABET)
    spoiled = task.evaluate(_Copy(spoil_first=True), "test")
    assert spoiled["accuracy"] == pytest.approx((STRING - 1) / STRING)  # 2 of 3 per string
    assert spoiled["sequence_accuracy"] == 0.0  # no string is entirely right


def test_adding_constant_answer_has_chance_mse_and_perfect_answer_zero() -> None:
    task = _task("adding", distance=10, eval_examples=4096)
    constant = task.evaluate(_Adding(1.0), "val")
    # Hand computation on the same examples, and the theoretical 1/6.
    targets = torch.cat([batch.targets for batch in task.split_batches("val")]).double()
    assert constant["mse"] == pytest.approx(float(((targets - 1.0) ** 2).mean()), rel=1e-5)
    assert constant["mse"] == pytest.approx(1 / 6, abs=0.015)
    assert constant["loss"] == constant["mse"]
    assert constant["chance_mse"] == pytest.approx(1 / 6)
    assert "accuracy" not in constant
    assert task.evaluate(_Adding(None), "val")["mse"] < 1e-12
    assert task.monitor == ("mse", "min")
    assert _task("copy").monitor == ("accuracy", "max")


def test_split_sizes_follow_eval_examples() -> None:
    task = _task("recall", eval_examples=300)  # not a multiple of the evaluation batch
    batches = task.split_batches("val")
    assert sum(batch.inputs.shape[0] for batch in batches) == 300
    # A stub wrong on every example: accuracy 0 over exactly 300 answers, not a partial batch.
    assert task.evaluate(_Recall(answer_position=0, confidence=-10.0), "val")["accuracy"] == 0.0


def test_splits_are_fixed_distinct_and_disjoint_from_training() -> None:
    task = _task("recall", distance=12, batch_size=64)
    val = torch.cat([b.inputs for b in task.split_batches("val")])  # (300, T)
    test = torch.cat([b.inputs for b in task.split_batches("test")])
    train = torch.cat([task.train_batch(index).inputs for index in range(40)])  # (2560, T)
    # Fixed: a second task object built from the same config gives the same sets.
    again = _task("recall", distance=12, batch_size=64)
    assert torch.equal(torch.cat([b.inputs for b in again.split_batches("val")]), val)

    # Distinct: no example (12 symbols from 5, 2.4e8 possible rows) is shared.
    def rows(tensor: torch.Tensor) -> set[tuple[int, ...]]:
        return {tuple(row) for row in tensor.tolist()}

    assert len(rows(val) & rows(test)) == 0
    assert len(rows(val) & rows(train)) == 0
    assert len(rows(test) & rows(train)) == 0
    # Training batches depend on the index; another seed gives other evaluation sets.
    assert not torch.equal(task.train_batch(0).inputs, task.train_batch(1).inputs)
    other_seed = _task("recall", distance=12, batch_size=64, seed=1)
    assert (
        len(rows(torch.cat([b.inputs for b in other_seed.split_batches("val")])) & rows(val)) == 0
    )


def test_unknown_split_is_refused() -> None:
    with pytest.raises(ValueError, match=r"memory tasks have splits 'val' and 'test', not 'train'"):
        _task("recall").split_batches("train")


def test_data_config_validation_names_the_values() -> None:
    with pytest.raises(ValueError, match=r"data.distance \(1\) must be at least 2"):
        MemoryDataConfig(kind="adding", distance=1)
    MemoryDataConfig(kind="recall", distance=1)  # one symbol is a valid recall problem
    with pytest.raises(ValueError, match=r"data.alphabet_size \(1\) must be at least 2"):
        MemoryDataConfig(alphabet_size=1)
    with pytest.raises(ValueError, match=r"data.label_smoothing \(1.0\) must be in \[0, 1\)"):
        MemoryDataConfig(label_smoothing=1.0)


def test_build_model_outputs_per_kind_and_seeded_weights() -> None:
    recall, copy, adding = _task("recall"), _task("copy"), _task("adding")
    assert recall.build_model()(recall.train_batch(0).inputs).shape == (16, ALPHABET)
    assert copy.build_model()(copy.train_batch(0).inputs).shape == (16, STRING, ALPHABET)
    assert adding.build_model()(adding.train_batch(0).inputs).shape == (16,)
    # Chrono init from the run's seed: the same seed gives the same biases.
    first = _task("recall").build_model().backbone.rnn.bias_ih_l0
    second = _task("recall").build_model().backbone.rnn.bias_ih_l0
    update = slice(12, 24)  # the GRU update gate rows
    assert torch.equal(first[update], second[update])
    assert first[update].max() <= math.log(recall.length - 1) + 1e-6


def test_predictor_returns_argmax_and_sums() -> None:
    config = {"task": "memory", "data": {"kind": "recall"}, "model": {"family": "gru"}}
    predictor = MemoryPredictor(
        model=_Recall(answer_position=2), config=config, model_dir=Path("."), task_object=None
    )
    inputs = _task("recall").train_batch(0).inputs
    assert torch.equal(predictor.predict(inputs), inputs[:, 2])
    adding = {"task": "memory", "data": {"kind": "adding"}, "model": {"family": "gru"}}
    predictor = MemoryPredictor(
        model=_Adding(None), config=adding, model_dir=Path("."), task_object=None
    )
    batch = _task("adding").train_batch(0)
    assert_close(predictor.predict(batch.inputs), batch.targets)
