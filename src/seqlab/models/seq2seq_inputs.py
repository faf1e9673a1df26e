"""The checks both encoder-decoders run on their token inputs, written once.

A batch of sentences is right-padded token ids (B, S) with their true lengths (B,), each length
in [1, S] (an empty sentence has nothing to encode; the task adds EOS to every source). The
padding masks made from the lengths follow seqlab.nn.masks (True = real token).

Shape legend (the repository's): B batch, S or T sequence length.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["check_tokens"]


def check_tokens(name: str, ids: Tensor, lengths: Tensor) -> None:
    """ids (B, S) integer token ids and lengths (B,) in [1, S]; errors name `name`."""
    if ids.dim() != 2 or ids.dtype.is_floating_point or ids.dtype == torch.bool:
        raise ValueError(
            f"{name}_ids must be integer token ids of shape (B, length), got dtype {ids.dtype} "
            f"and shape {tuple(ids.shape)}"
        )
    if tuple(lengths.shape) != (ids.shape[0],):
        raise ValueError(
            f"{name}_lengths must have shape (B,) = ({ids.shape[0]},), got {tuple(lengths.shape)}"
        )
    if ids.shape[0] == 0:
        raise ValueError(f"{name}_ids holds no sentence (B = 0)")
    shortest, longest = int(lengths.min()), int(lengths.max())
    if shortest < 1 or longest > ids.shape[1]:
        raise ValueError(
            f"every {name} length must be in [1, {ids.shape[1]}] (the padded length), got min "
            f"{shortest} and max {longest}"
        )
