"""Sliding-window (local) self-attention computed in blocks: memory linear in the sequence length.

Full attention softmax(Q K^T / sqrt(d_k)) V (Vaswani et al. 2017, eq. 1) scores every pair of
positions, T^2 numbers per head. Local attention (Beltagy et al. 2020, Longformer, sec. 3.1) lets
query i see only the keys in a window around it:

    causal:  j in (i - w, i]                 (w keys: itself and the w - 1 before it)
    centred: j in [i - floor(w/2), i + floor(w/2)]

so each row of the score matrix has at most w non-zero weights. Computed as a masked T x T matrix
it would save nothing; here the queries are cut into blocks of b positions, and each block scores
only the keys its window can reach: the block itself plus ceil(reach / b) blocks on each side it
looks to. Keys are laid out by ``Tensor.unfold`` (a view, no copy), so the scores are
(B, H, T/b, b, span) with span = b (1 + before + after): about T (w + 2b) numbers, linear in T.

Padding follows seqlab's convention (bool, True = a real token, may be attended); a query whose
window holds no real key outputs zeros, as in ``scaled_dot_product_attention``. When the window
covers the whole sequence the result equals full attention (causal or not) within float
rounding: the same softmax over the same keys. A centred window of even width w reaches w / 2
keys on each side, the same band as w + 1.

Dropout on the attention weights (as in ``scaled_dot_product_attention``, a deviation from eq. 1
that the paper's code and torch make) acts on the blocked weights: a slot outside the band holds
weight 0 whether dropped or not, so it is the same distribution as dropout on the banded T x T
weights.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

__all__ = ["block_size_for", "local_attention", "window_mask", "window_reach"]


def window_reach(window: int, causal: bool) -> tuple[int, int]:
    """How many positions before and after a query its window reaches: (w - 1, 0) causal,
    (w // 2, w // 2) centred."""
    if causal:
        return window - 1, 0
    return window // 2, window // 2


def block_size_for(window: int) -> int:
    """A block size suited to ``window``: the window itself, kept within [16, 64]. Each block
    scores b (1 + ceil(before / b) + ceil(after / b)) keys per query, so a block much wider than
    the window scores mostly keys outside it (at T = 4,096 and w = 16, blocks of 64 take about
    four times as long as blocks of 16 on one CPU thread), while blocks under 16 queries are too
    many small matrix products."""
    return min(64, max(16, window))


def window_mask(
    length: int,
    window: int,
    *,
    causal: bool,
    key_length: int | None = None,
    device: torch.device | str | None = None,
) -> Tensor:
    """(T, S) bool, True where query i may attend key j under the window rule (the band the
    reference path uses, and what ``local_attention`` computes without materialising).

    length: T queries. key_length: S keys (default T); the queries are the last T of them, at
    positions S - T + i, as in incremental decoding after S - T cached keys (the alignment
    seqlab.nn.masks.causal_mask uses)."""
    if window < 1:
        raise ValueError(f"window ({window}) must be at least 1")
    key_length = length if key_length is None else key_length
    if key_length < length:
        raise ValueError(f"key_length ({key_length}) must be at least length ({length})")
    before, after = window_reach(window, causal)
    query_position = torch.arange(length, device=device) + (key_length - length)  # (T,)
    key_position = torch.arange(key_length, device=device)  # (S,)
    offset = key_position[None, :] - query_position[:, None]  # (T, S): key minus query
    return (offset >= -before) & (offset <= after)  # (T, S)


def local_attention(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    *,
    window: int,
    causal: bool,
    key_padding_mask: Tensor | None = None,
    dropout: float = 0.0,
    block_size: int = 64,
) -> Tensor:
    """Sliding-window self-attention over q, k (B, H, T, Dh) and v (B, H, T, Dv); returns
    (B, H, T, Dv). window: keys each query may see (see the module docstring); causal: the
    window ends at the query, else it is centred on it. key_padding_mask: (B, T) bool, True = real
    token. dropout: probability applied to the weights, only when > 0 (callers pass 0.0 in eval
    mode). block_size: queries per block (memory ~ T (window + 2 block_size) per head)."""
    if q.dim() != 4 or k.shape != q.shape or v.shape[:3] != q.shape[:3]:
        raise ValueError(
            f"q, k (B, H, T, Dh) must match and v must be (B, H, T, Dv); got {tuple(q.shape)}, "
            f"{tuple(k.shape)}, {tuple(v.shape)}"
        )
    if window < 1 or block_size < 1:
        raise ValueError(f"window ({window}) and block_size ({block_size}) must be at least 1")
    if not 0.0 <= dropout <= 1.0:
        raise ValueError(f"dropout ({dropout}) must be in [0, 1]")
    B, H, T, _ = q.shape
    if key_padding_mask is not None and key_padding_mask.shape != (B, T):
        raise ValueError(
            f"key_padding_mask must be (B, T) = {(B, T)}, got {tuple(key_padding_mask.shape)}"
        )
    b = min(block_size, T)
    before, after = window_reach(window, causal)
    blocks_before, blocks_after = math.ceil(before / b), math.ceil(after / b)
    blocks = math.ceil(T / b)
    span = b * (blocks_before + 1 + blocks_after)
    padded_length = blocks * b
    lead, trail = blocks_before * b, blocks_after * b + padded_length - T

    def keys_by_block(x: Tensor) -> Tensor:
        """(B, H, T, D) -> (B, H, blocks, span, D): for query block n, the keys from position
        (n - blocks_before) b on, zero beyond the sequence (masked below)."""
        padded = torch.nn.functional.pad(x, (0, 0, lead, trail))  # (B, H, lead + T + trail, D)
        return padded.unfold(2, span, b).transpose(-1, -2)  # (B, H, blocks, span, D)

    # The scale goes on the queries (a T x Dh tensor) rather than on the (T, span) scores, and
    # the scores are masked in place: the score block is the only large tensor, made twice
    # (scores, then weights) and never copied beyond that.
    queries = torch.nn.functional.pad(q / math.sqrt(q.shape[-1]), (0, 0, 0, padded_length - T))
    queries = queries.view(B, H, blocks, b, q.shape[-1])  # (B, H, blocks, b, Dh)
    scores = queries @ keys_by_block(k).transpose(-1, -2)  # (B, H, blocks, b, span)

    query_position = torch.arange(padded_length, device=q.device).view(blocks, b, 1)
    key_position = (
        torch.arange(blocks, device=q.device).view(blocks, 1, 1) * b
        - lead
        + torch.arange(span, device=q.device).view(1, 1, span)
    )  # (blocks, 1, span)
    offset = key_position - query_position  # (blocks, b, span)
    allowed = (offset >= -before) & (offset <= after) & (key_position >= 0) & (key_position < T)
    allowed = allowed.expand(B, 1, blocks, b, span)  # (B, 1, blocks, b, span)
    if key_padding_mask is not None:
        real = torch.nn.functional.pad(key_padding_mask, (lead, trail))  # (B, lead + T + trail)
        real_keys = real.unfold(1, span, b)  # (B, blocks, span)
        allowed = allowed & real_keys[:, None, :, None, :]
    # A query with no allowed key attends every slot (finite softmax) and is zeroed after, as
    # scaled_dot_product_attention does (masks.guard_empty_rows).
    row_has_key = allowed.any(dim=-1, keepdim=True)  # (B, 1, blocks, b, 1)
    scores.masked_fill_(~(allowed | ~row_has_key), float("-inf"))
    weights = torch.softmax(scores, dim=-1)  # (B, H, blocks, b, span)
    del scores
    if dropout > 0.0:
        weights = torch.nn.functional.dropout(weights, p=dropout)  # (B, H, blocks, b, span)
    output = (weights @ keys_by_block(v)) * row_has_key  # (B, H, blocks, b, Dv)
    return output.reshape(B, H, padded_length, v.shape[-1])[:, :, :T]  # (B, H, T, Dv)
