"""Attention masks: seqlab's one mask convention, and the one conversion to torch's forms.

Convention (DESIGN.md, rule 4): a mask is a bool tensor and True means "real token / may attend".
Every mask the networks build (seqlab.nn, seqlab.models) is built in this module: attention's
padding, causal and combined masks, the padding masks the models make from lengths, and the
real-step mask of the recurrent layers' reference path. Two masks come from elsewhere, with the
same convention: `seqlab.data.batching` builds each batch's padding mask while it pads the batch
(the data layer may not import seqlab.nn), with the same rule as `padding_mask`, t < lengths[b];
and `seqlab.models.pretrained.MiniLMSentenceEncoder.tokenize` takes the mask its tokenizer returns.
`to_torch_mask` is the only place that turns a mask into the forms torch.nn modules take.

References:
- Vaswani et al. 2017, "Attention Is All You Need", sec. 3.2.3: the decoder's self-attention
  prevents leftward information flow "by masking out (setting to -inf) all values in the input of
  the softmax which correspond to illegal connections" (`causal_mask`), and batching sequences of
  different lengths needs the padded keys masked the same way (`padding_mask`).
- torch.nn.MultiheadAttention / torch.nn.Transformer*Layer take bool masks with the opposite
  meaning (True = ignore) or float masks added to the scores; see `to_torch_mask`.
  torch.nn.functional.scaled_dot_product_attention's bool `attn_mask` means True = attend, as
  ours does.

Shape legend (the repository's): B batch, H heads, T query (target) length, S key (source)
length; S = T in self-attention without a cache. A padding mask of one sequence batch is (B, T).
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor

__all__ = [
    "padding_mask",
    "causal_mask",
    "attention_mask",
    "append_padding_mask",
    "guard_empty_rows",
    "to_torch_mask",
]


def _check_bool(mask: Tensor, name: str) -> None:
    # A float or int mask would be silently read with some other convention, so refuse it.
    if mask.dtype != torch.bool:
        raise TypeError(
            f"{name} must be a bool tensor (True = real token / may attend), got dtype {mask.dtype}"
        )


def padding_mask(lengths: Tensor, max_len: int | None = None) -> Tensor:
    """Mask of real tokens for right-padded sequences: (B,) lengths -> (B, T) bool, T = max_len.

    Position t of sequence b is True when t < lengths[b]. `max_len` defaults to the longest length.
    """
    if lengths.dim() != 1:
        raise ValueError(f"lengths must have shape (B,), got {tuple(lengths.shape)}")
    longest = int(lengths.max()) if lengths.numel() else 0
    shortest = int(lengths.min()) if lengths.numel() else 0
    if shortest < 0:
        raise ValueError(f"lengths must be >= 0, got {shortest}")
    if max_len is None:
        max_len = longest
    elif longest > max_len:
        raise ValueError(f"a length ({longest}) exceeds max_len ({max_len})")
    positions = torch.arange(max_len, device=lengths.device)  # (T,)
    return positions[None, :] < lengths[:, None]  # (B, T)


def causal_mask(
    query_len: int,
    key_len: int | None = None,
    *,
    offset: int | None = None,
    device: torch.device | str | None = None,
) -> Tensor:
    """Which keys each query may attend: (T, S) bool, True where key j <= query i's position.

    Query i sits at absolute position `offset + i`; keys sit at positions 0..S-1. `offset`
    defaults to S - T, so the queries are the last T positions of the keys: T == S gives the
    usual lower triangle, and one new query over S cached keys (incremental decoding) sees them
    all.
    Note torch's `is_causal=True` aligns top-left instead (offset 0) when T != S.
    """
    if key_len is None:
        key_len = query_len
    if offset is None:
        offset = key_len - query_len
        if offset < 0:
            raise ValueError(
                f"key_len ({key_len}) is shorter than query_len ({query_len}); "
                "pass offset= to say at which position the queries start"
            )
    elif offset < 0:
        raise ValueError(f"offset ({offset}) must be >= 0")
    query_pos = torch.arange(query_len, device=device)[:, None] + offset  # (T, 1)
    key_pos = torch.arange(key_len, device=device)[None, :]  # (1, S)
    return key_pos <= query_pos  # (T, S)


def _as_4d(attn_mask: Tensor) -> Tensor:
    # Explicit masks come as (T, S), (B, T, S) or (B, H, T, S); attention wants 4-D.
    if attn_mask.dim() == 2:
        return attn_mask[None, None]  # (1, 1, T, S)
    if attn_mask.dim() == 3:
        return attn_mask[:, None]  # (B, 1, T, S)
    if attn_mask.dim() == 4:
        return attn_mask  # (B, H, T, S)
    raise ValueError(
        f"attn_mask must have shape (T, S), (B, T, S) or (B, H, T, S), got {tuple(attn_mask.shape)}"
    )


def attention_mask(
    *,
    key_padding_mask: Tensor | None = None,
    attn_mask: Tensor | None = None,
    causal: bool = False,
    query_len: int | None = None,
    key_len: int | None = None,
    offset: int | None = None,
    device: torch.device | str | None = None,
) -> Tensor | None:
    """Combine a key padding mask, an explicit mask and the causal rule into one attention mask.

    Returns a bool mask broadcastable to (B, H, T, S): (B, 1, 1, S) for padding alone, up to
    (B, H, T, S); True where query i may attend key j under every rule given. Returns None when
    nothing is masked, so the caller can take the unmasked (fastest) kernel.

    key_padding_mask: (B, S) bool, True = real key. attn_mask: (T, S), (B, T, S) or
    (B, H, T, S) bool. causal: apply `causal_mask(query_len, key_len, offset=offset)`.
    """
    mask = None
    if key_padding_mask is not None:
        _check_bool(key_padding_mask, "key_padding_mask")
        if key_padding_mask.dim() != 2:
            raise ValueError(
                f"key_padding_mask must have shape (B, S), got {tuple(key_padding_mask.shape)}"
            )
        if key_len is not None and key_padding_mask.shape[1] != key_len:
            raise ValueError(
                f"key_padding_mask covers {key_padding_mask.shape[1]} keys but there are {key_len}"
            )
        mask = key_padding_mask[:, None, None, :]  # (B, 1, 1, S)
        device = device or key_padding_mask.device
    if attn_mask is not None:
        _check_bool(attn_mask, "attn_mask")
        explicit = _as_4d(attn_mask)  # (B|1, H|1, T, S)
        mask = explicit if mask is None else mask & explicit  # (B|1, H|1, T, S)
        device = device or attn_mask.device
    if causal:
        if query_len is None or key_len is None:
            raise ValueError("causal=True needs query_len and key_len")
        future = causal_mask(query_len, key_len, offset=offset, device=device)[None, None]
        mask = future if mask is None else mask & future  # (B|1, H|1, T, S); future (1, 1, T, S)
    return mask  # (B|1, H|1, T|1, S) or None


def append_padding_mask(
    cached: Tensor | None,
    new: Tensor | None,
    *,
    cached_len: int,
    new_len: int,
    batch_size: int,
    device: torch.device | str | None = None,
) -> Tensor | None:
    """Key padding mask of cached keys followed by new keys: (B, S - T) + (B, T) -> (B, S) bool.

    None stands for "all real" on either side, and stays None when both are None, so unpadded
    incremental decoding never builds a mask.
    """
    if cached is None and new is None:
        return None
    if cached is None:
        cached = torch.ones(batch_size, cached_len, dtype=torch.bool, device=device)  # (B, S - T)
    if new is None:
        new = torch.ones(batch_size, new_len, dtype=torch.bool, device=device)  # (B, T)
    _check_bool(new, "key_padding_mask")
    return torch.cat([cached, new], dim=1)  # (B, S)


def guard_empty_rows(mask: Tensor) -> tuple[Tensor, Tensor]:
    """Make every query row attend something, and say which rows had no allowed key at all.

    A row with no allowed key would be softmax over all -inf: NaN in the reference path and,
    depending on torch version and backend, NaN or zeros in the fused one. seqlab's policy is the
    same in both paths: such a row's output and weights are zeros (and its gradient is zero).
    Returns (safe_mask, row_has_key): empty rows opened to every key so the kernels stay finite,
    and a (..., T, 1) bool the caller uses to zero those rows afterwards.
    """
    row_has_key = mask.any(dim=-1, keepdim=True)  # (..., T, 1)
    return mask | ~row_has_key, row_has_key  # (..., T, S), (..., T, 1)


def to_torch_mask(
    mask: Tensor,
    *,
    form: Literal["ignore", "additive"] = "ignore",
    dtype: torch.dtype = torch.float32,
) -> Tensor:
    """The one conversion from a seqlab mask (True = may attend) to torch's forms.

    form="ignore": bool with True = ignore, what torch.nn.MultiheadAttention's `key_padding_mask`
    and `attn_mask` and torch.nn.Transformer*Layer's `*_key_padding_mask` / `*_mask` take.
    form="additive": float of `dtype`, 0 where attending is allowed and -inf where not, added to the
    scores (torch's float `attn_mask`). torch.nn.functional.scaled_dot_product_attention's bool mask
    already means True = attend, so seqlab masks go to it unchanged.
    """
    _check_bool(mask, "mask")
    if form == "ignore":
        return ~mask  # mask's shape
    if form == "additive":
        additive = torch.zeros(mask.shape, dtype=dtype, device=mask.device)  # mask's shape
        return additive.masked_fill(~mask, float("-inf"))  # mask's shape
    raise ValueError(f"form must be 'ignore' or 'additive', got {form!r}")
