"""The distillation objective: the student's logits against the teacher's, mixed with the
label cross-entropy where a label counts.

References: Tang et al., 2019, "Distilling Task-Specific Knowledge from BERT into Simple Neural
Networks", sec. 3.1, eqs. 1-2 (the squared distance between logits, and the mix with the label
loss by alpha); Hinton, Vinyals and Dean, 2015, "Distilling the Knowledge in a Neural Network",
sec. 2 (the KL divergence of temperature-softened distributions, scaled by T^2 so that its
gradients keep their size as T changes).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from seqlab.distill.settings import DistillLoss


def distillation_loss(
    student_logits: torch.Tensor,
    teacher_logits: torch.Tensor,
    labels: torch.Tensor,
    has_label: torch.Tensor,
    *,
    loss: DistillLoss,
    temperature: float = 1.0,
    alpha: float = 0.0,
) -> torch.Tensor:
    """Per-item loss (B,) of a batch; the caller sums it (convention 7).

    For item i with student logits z_s, teacher logits z_t (each (C,)) and class y:

        mse:  D_i = sum_c (z_s[c] - z_t[c])^2                          (Tang et al., eq. 2)
        kl:   D_i = T^2 * sum_c p_t[c] * (log p_t[c] - log p_s[c]),
              p_t = softmax(z_t / T), p_s = softmax(z_s / T)          (Hinton et al., sec. 2)
        CE_i  = -log softmax(z_s)[y]
        L_i   = alpha * w_i * CE_i + (1 - alpha) * D_i

    w_i = 1 where ``has_label`` (a labelled original text), else 0: augmented copies and
    unlabelled texts learn from the teacher alone, since a copy may no longer say what its
    original's label says. Summed over a batch, the label term's weight is alpha times the share
    of originals in it.

    The one-hot limit: with z_t = M * onehot(y) and M -> infinity, p_t -> onehot(y) and
    sum_c p_t log p_t -> 0, so the kl term D_i -> T^2 * CE(z_s / T, y); at T = 1 it is the plain
    cross-entropy CE_i, and L_i = CE_i for a labelled item whatever alpha.

    student_logits, teacher_logits: (B, C). labels: (B,) class ids (any value where
    ``has_label`` is False, -1 included). has_label: (B,) bool.
    """
    if student_logits.shape != teacher_logits.shape:
        raise ValueError(
            f"student logits {tuple(student_logits.shape)} and teacher logits "
            f"{tuple(teacher_logits.shape)} must have one shape (B, C)"
        )
    teacher_logits = teacher_logits.to(student_logits.dtype)
    if loss == "mse":
        distilled = (student_logits - teacher_logits).pow(2).sum(dim=-1)  # (B,)
    elif loss == "kl":
        log_p_student = F.log_softmax(student_logits / temperature, dim=-1)  # (B, C)
        log_p_teacher = F.log_softmax(teacher_logits / temperature, dim=-1)  # (B, C)
        kl = (log_p_teacher.exp() * (log_p_teacher - log_p_student)).sum(dim=-1)  # (B,)
        distilled = temperature**2 * kl  # (B,)
    else:
        raise ValueError(f"loss ({loss!r}) must be 'mse' or 'kl'")
    if alpha == 0.0:
        return distilled
    # Items without a label get class 0 and weight 0: cross_entropy needs a valid index.
    targets = torch.where(has_label, labels, torch.zeros_like(labels))  # (B,)
    label_loss = F.cross_entropy(student_logits, targets, reduction="none")  # (B,)
    weight = has_label.to(student_logits.dtype)  # (B,)
    return alpha * weight * label_loss + (1.0 - alpha) * distilled  # (B,)
