"""Pooling a sequence of vectors into one vector per sequence, respecting padding.

Masks follow seqlab's one convention (True = real token). Every pool ignores padded positions
exactly, so appending padding never changes a pooled vector:

- mean: sum_t m_t x_t / sum_t m_t (the mean pooling of sentence-transformers, Reimers and
  Gurevych, 2019, "Sentence-BERT", sec. 3);
- max: max over real positions only (Collobert et al., 2011; Conneau et al., 2017, "InferSent");
- first: the vector at position 0 (BERT's [CLS], Devlin et al., 2019, sec. 3);
- last_state: a recurrent layer's final hidden state of its top layer, both directions
  concatenated for a bidirectional layer (the forward direction's state after its last real token,
  the reverse direction's after reading back to the first).
"""

from __future__ import annotations

import torch
from torch import Tensor


def _check(x: Tensor, mask: Tensor) -> None:
    if x.dim() != 3 or mask.shape != x.shape[:2]:
        raise ValueError(
            f"x must be (B, T, D) and mask (B, T); got x {tuple(x.shape)}, mask {tuple(mask.shape)}"
        )
    if mask.dtype != torch.bool:
        raise ValueError(f"mask must be boolean (True = real token), got {mask.dtype}")


def masked_mean(x: Tensor, mask: Tensor) -> Tensor:
    """Mean over real positions: (B, T, D), (B, T) -> (B, D)."""
    _check(x, mask)
    weights = mask.unsqueeze(-1).to(x.dtype)  # (B, T, 1)
    total = (x * weights).sum(dim=1)  # (B, D)
    count = weights.sum(dim=1).clamp(min=1.0)  # (B, 1): an empty row gives zeros, not NaN
    return total / count  # (B, D)


def masked_max(x: Tensor, mask: Tensor) -> Tensor:
    """Maximum over real positions: (B, T, D), (B, T) -> (B, D); an empty row gives zeros."""
    _check(x, mask)
    lowest = torch.finfo(x.dtype).min
    filled = x.masked_fill(~mask.unsqueeze(-1), lowest)  # (B, T, D)
    pooled = filled.max(dim=1).values  # (B, D)
    return torch.where(mask.any(dim=1, keepdim=True), pooled, torch.zeros_like(pooled))  # (B, D)


def first_position(x: Tensor) -> Tensor:
    """The vector at position 0 ([CLS]): (B, T, D) -> (B, D)."""
    return x[:, 0]  # (B, D)


def last_state(hidden: Tensor, *, num_directions: int) -> Tensor:
    """Top layer's final hidden state from a recurrent state h:
    (L*num_directions, B, hidden_size) -> (B, num_directions*hidden_size).

    h keeps torch's layer-major layout, row ``layer * num_directions + direction``; the top
    layer's rows are the last num_directions.
    """
    if hidden.dim() != 3 or hidden.shape[0] % num_directions:
        raise ValueError(
            f"hidden must be (L*num_directions, B, hidden_size) with a first dimension divisible "
            f"by num_directions ({num_directions}); got {tuple(hidden.shape)}"
        )
    top = hidden[-num_directions:]  # (num_directions, B, hidden_size)
    return top.transpose(0, 1).reshape(hidden.shape[1], -1)  # (B, num_directions*hidden_size)
