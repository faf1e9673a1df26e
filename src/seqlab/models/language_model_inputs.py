"""The checks both language models run on their token inputs, written once.

A batch is a rectangle of token ids (B, T), B >= 1 rows of the same length T >= 1 (a language
model has no padding: the task cuts its stream into equal segments, and a batch of prompts
shares one length). Decoding feeds one token per row, (B, 1).

Shape legend (the repository's): B batch, T time (target) length.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["check_ids", "check_step_tokens"]


def check_ids(name: str, ids: Tensor) -> None:
    """ids (B, T) integer token ids with B >= 1 and T >= 1; errors name `name`."""
    if ids.dim() != 2 or ids.dtype.is_floating_point or ids.dtype == torch.bool:
        raise ValueError(
            f"{name} must be integer token ids of shape (B, T), got dtype {ids.dtype} and shape "
            f"{tuple(ids.shape)}"
        )
    if ids.shape[0] == 0 or ids.shape[1] == 0:
        raise ValueError(
            f"{name} must hold at least one token per row, got shape {tuple(ids.shape)}"
        )


def check_step_tokens(tokens: Tensor, batch_size: int) -> None:
    """tokens (B, 1): the next token of every one of the state's batch_size rows."""
    if tokens.dim() != 2 or tokens.shape != (batch_size, 1):
        raise ValueError(f"tokens must be (B, 1) = ({batch_size}, 1), got {tuple(tokens.shape)}")
    if tokens.dtype.is_floating_point or tokens.dtype == torch.bool:
        raise ValueError(f"tokens must be integer token ids, got dtype {tokens.dtype}")
