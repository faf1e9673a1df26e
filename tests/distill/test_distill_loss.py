"""The distillation loss against a hand computation, torch's own KL divergence, and its documented
one-hot limit."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch.testing import assert_close

from seqlab.distill.loss import distillation_loss

STUDENT = torch.tensor([[1.0, -0.5, 0.25], [0.0, 2.0, -1.0]], dtype=torch.float64)  # (B, C)
TEACHER = torch.tensor([[2.0, 0.0, -1.0], [0.5, 0.5, 1.5]], dtype=torch.float64)  # (B, C)
LABELS = torch.tensor([0, -1])  # the second item is unlabelled
HAS_LABEL = torch.tensor([True, False])


def _softmax(row: list[float], temperature: float) -> list[float]:
    exps = [math.exp(value / temperature) for value in row]
    return [e / sum(exps) for e in exps]


def _hand_kl(student: list[float], teacher: list[float], temperature: float) -> float:
    p_s, p_t = _softmax(student, temperature), _softmax(teacher, temperature)
    kl = sum(t * (math.log(t) - math.log(s)) for s, t in zip(p_s, p_t, strict=True))
    return temperature**2 * kl


def test_mse_is_the_squared_distance_of_the_logits() -> None:
    loss = distillation_loss(STUDENT, TEACHER, LABELS, HAS_LABEL, loss="mse")
    # (1-2)^2 + (-0.5-0)^2 + (0.25+1)^2 ; (0-0.5)^2 + (2-0.5)^2 + (-1-1.5)^2
    assert_close(loss, torch.tensor([1.0 + 0.25 + 1.5625, 0.25 + 2.25 + 6.25], dtype=torch.float64))


def test_kl_at_a_temperature_by_hand_and_by_torch() -> None:
    loss = distillation_loss(STUDENT, TEACHER, LABELS, HAS_LABEL, loss="kl", temperature=2.0)
    hand = [_hand_kl(s, t, 2.0) for s, t in zip(STUDENT.tolist(), TEACHER.tolist(), strict=True)]
    assert_close(loss, torch.tensor(hand, dtype=torch.float64))
    by_torch = 4.0 * F.kl_div(
        F.log_softmax(STUDENT / 2, -1), F.log_softmax(TEACHER / 2, -1),
        reduction="none", log_target=True,
    ).sum(-1)  # fmt: skip
    assert_close(loss, by_torch)


def test_the_label_term_counts_on_labelled_items_only() -> None:
    alpha = 0.3
    loss = distillation_loss(STUDENT, TEACHER, LABELS, HAS_LABEL, loss="mse", alpha=alpha)
    row = STUDENT[0].tolist()
    cross_entropy = -math.log(_softmax(row, 1.0)[0])
    expected = [alpha * cross_entropy + (1 - alpha) * 2.8125, (1 - alpha) * 8.75]
    assert_close(loss, torch.tensor(expected, dtype=torch.float64))
    # alpha = 1: the unlabelled item gives no loss and no gradient at all.
    student = STUDENT.clone().requires_grad_(True)
    only_labels = distillation_loss(student, TEACHER, LABELS, HAS_LABEL, loss="kl", alpha=1.0)
    assert only_labels[1].item() == 0.0
    only_labels.sum().backward()
    assert student.grad is not None and torch.count_nonzero(student.grad[1]) == 0


def test_kl_with_a_one_hot_teacher_is_the_cross_entropy() -> None:
    """With teacher logits 1e4 * onehot(y), p_t is onehot(y) to float64 precision, so the kl
    term is T^2 * CE(z_s / T, y), the plain cross-entropy at T = 1, and mixing it with the label
    term changes nothing on labelled items (seqlab.distill.loss, "The one-hot limit")."""
    labels = torch.tensor([2, 1])
    teacher = 1e4 * F.one_hot(labels, 3).to(torch.float64)  # (B, C)
    both = torch.tensor([True, True])
    plain = F.cross_entropy(STUDENT, labels, reduction="none")  # (B,)
    at_one = distillation_loss(STUDENT, teacher, labels, both, loss="kl", temperature=1.0)
    assert_close(at_one, plain, rtol=0, atol=1e-12)
    mixed = distillation_loss(STUDENT, teacher, labels, both, loss="kl", alpha=0.4)
    assert_close(mixed, plain, rtol=0, atol=1e-12)
    at_three = distillation_loss(STUDENT, teacher, labels, both, loss="kl", temperature=3.0)
    softened = F.cross_entropy(STUDENT / 3.0, labels, reduction="none")
    assert_close(at_three, 9.0 * softened, rtol=0, atol=1e-12)
