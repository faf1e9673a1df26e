"""Scaled dot-product attention, multi-head attention and the key/value cache for decoding.

References:
- Vaswani et al. 2017, "Attention Is All You Need", sec. 3.2.1, eq. 1:
  Attention(Q, K, V) = softmax(Q K^T / sqrt(d_k)) V.
- Same paper, sec. 3.2.2: MultiHead(Q, K, V) = Concat(head_1, ..., head_h) W^O with
  head_i = Attention(Q W_i^Q, K W_i^K, V W_i^V), d_k = d_v = d_model / h.
- Same paper, sec. 3.2.3: masked (causal) self-attention in the decoder, encoder-decoder
  (cross-) attention whose keys and values come from the encoder output.
- Beltagy et al. 2020, "Longformer", sec. 3.1: sliding-window (local) self-attention, each query
  seeing only the keys within `window` positions of it (seqlab.nn.local_attention), selected with
  MultiHeadAttention's `window`.
- torch.nn.MultiheadAttention: parameter layout (`in_proj_weight` (3D, D), `in_proj_bias`,
  `out_proj`), copied so its state dict loads unchanged and `from_torch` is a plain copy.

Two paths, one set of weights (DESIGN.md): impl="reference" writes eq. 1 out and can return the
attention weights; impl="fused" calls torch.nn.functional.scaled_dot_product_attention and cannot,
so asking it for weights raises instead of silently falling back.

Deviations from the paper, stated here because they hold everywhere below:
- Dropout on the attention weights (used by the paper's reference code and by torch, not in eq. 1).
- Query rows with no allowed key (e.g. a sequence that is all padding) give zero output and zero
  weights in both paths, instead of NaN (see masks.guard_empty_rows).
- causal=True with T != S aligns the queries with the *last* T keys (incremental decoding);
  torch's is_causal aligns them with the first T keys.

Masks follow seqlab's convention (seqlab.nn.masks): bool, True = real token / may attend.
Shape legend (the repository's): B batch, H heads, T query (target) length, S key (source) length,
D model width, Dh head width; Dv is the value width, Dh in multi-head attention.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seqlab.nn.impl import ImplChoice, check_impl
from seqlab.nn.local_attention import (
    block_size_for,
    local_attention,
    window_mask,
    window_reach,
)
from seqlab.nn.masks import append_padding_mask, attention_mask, guard_empty_rows

__all__ = ["AttentionOutput", "KVCache", "MultiHeadAttention", "scaled_dot_product_attention"]


class AttentionOutput(NamedTuple):
    """What attention returns, with the same meaning whatever the flags."""

    output: Tensor  # (B, H, T, Dh) from scaled_dot_product_attention, (B, T, D) from MHA
    weights: Tensor | None  # (B, H, T, S) softmax probabilities if need_weights, else None


def scaled_dot_product_attention(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    mask: Tensor | None = None,
    causal: bool = False,
    dropout: float = 0.0,
    *,
    impl: str = "fused",
    need_weights: bool = False,
) -> AttentionOutput:
    """softmax(Q K^T / sqrt(d_k)) V (eq. 1) over q (B, H, T, Dh), k (B, H, S, Dh), v (B, H, S, Dv).

    mask: bool, broadcastable to (B, H, T, S), True = may attend. causal: query i (at position
    S - T + i) may attend keys <= its position. dropout: probability applied to the weights, only
    when > 0 (callers pass 0.0 in eval mode). need_weights: also return the (B, H, T, S) weights,
    before dropout; only impl="reference" can. Rows with no allowed key output zeros.
    """
    check_impl(impl)
    if need_weights and impl == "fused":
        raise ValueError(
            "need_weights=True needs impl='reference': the fused kernel "
            "(torch.nn.functional.scaled_dot_product_attention) does not return "
            "attention weights"
        )
    if q.dim() != 4 or k.dim() != 4 or v.dim() != 4:
        raise ValueError(
            f"q, k, v must be 4-D (B, H, T, Dh), got shapes {tuple(q.shape)}, "
            f"{tuple(k.shape)}, {tuple(v.shape)}"
        )
    if not 0.0 <= dropout <= 1.0:
        raise ValueError(f"dropout ({dropout}) must be in [0, 1]")
    if mask is not None and mask.dtype != torch.bool:
        raise TypeError(f"mask must be a bool tensor (True = may attend), got dtype {mask.dtype}")
    T, S = q.shape[-2], k.shape[-2]

    # The fused kernel's own is_causal is fastest, but only means our rule when T == S and no
    # other mask must be merged; everywhere else the causal rule joins the explicit mask.
    if causal and (mask is not None or T != S or impl == "reference"):
        mask = attention_mask(
            attn_mask=mask, causal=True, query_len=T, key_len=S, device=q.device
        )  # (B|1, H|1, T, S)
        causal = False
    row_has_key = None
    if mask is not None:
        mask, row_has_key = guard_empty_rows(mask)  # (.., T, S), (.., T, 1)

    if impl == "fused":
        out = F.scaled_dot_product_attention(
            q, k, v, attn_mask=mask, dropout_p=dropout, is_causal=causal
        )  # (B, H, T, Dv)
        if row_has_key is not None:
            out = out.masked_fill(~row_has_key, 0.0)  # (B, H, T, Dv)
        return AttentionOutput(out, None)

    scores = (q * q.shape[-1] ** -0.5) @ k.transpose(-2, -1)  # (B, H, T, S)  Q K^T / sqrt(d_k)
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))  # (B, H, T, S)
    weights = torch.softmax(scores, dim=-1)  # (B, H, T, S)
    if row_has_key is not None:
        weights = weights.masked_fill(~row_has_key, 0.0)  # (B, H, T, S)
    dropped = F.dropout(weights, p=dropout) if dropout > 0.0 else weights  # (B, H, T, S)
    out = dropped @ v  # (B, H, T, Dv)
    return AttentionOutput(out, weights if need_weights else None)


@dataclass(eq=False)
class KVCache:
    """Projected keys and values of one attention module, kept between decoding steps.

    Self-attention appends each call's new keys/values (and their padding mask); cross-attention
    fills the cache once from the encoder memory and reuses it, so memory is projected only once.
    A fresh KVCache() is empty; the module that first uses it decides which kind it is.
    """

    key: Tensor | None = None  # (B, H, S, Dh)
    value: Tensor | None = None  # (B, H, S, Dh)
    key_padding_mask: Tensor | None = None  # (B, S) bool, None = every key real
    is_cross: bool = False

    @property
    def length(self) -> int:
        """Number of cached key positions (the position offset of the next self-attention step)."""
        return 0 if self.key is None else self.key.shape[2]

    def append(
        self, key: Tensor, value: Tensor, key_padding_mask: Tensor | None
    ) -> tuple[Tensor, Tensor, Tensor | None]:
        """Add a self-attention step's (B, H, T, Dh) keys/values; return all of them so far."""
        if self.is_cross:
            raise ValueError(
                "this KVCache holds cross-attention memory; self-attention needs its own KVCache"
            )
        B, _, T, _ = key.shape
        self.key_padding_mask = append_padding_mask(
            self.key_padding_mask,
            key_padding_mask,
            cached_len=self.length,
            new_len=T,
            batch_size=B,
            device=key.device,
        )  # (B, S + T) or None
        if self.key is None or self.value is None:
            self.key, self.value = key, value  # (B, H, T, Dh)
        else:
            self.key = torch.cat([self.key, key], dim=2)  # (B, H, S + T, Dh)
            self.value = torch.cat([self.value, value], dim=2)  # (B, H, S + T, Dh)
        return self.key, self.value, self.key_padding_mask

    def fill(self, key: Tensor, value: Tensor, key_padding_mask: Tensor | None) -> None:
        """Store cross-attention keys/values projected from the memory, once."""
        if self.key is not None:
            raise ValueError("this KVCache is already filled")
        self.key, self.value, self.key_padding_mask = key, value, key_padding_mask
        self.is_cross = True

    def reorder(self, batch_index: Tensor) -> None:
        """Keep/reorder batch rows (beam search): row b becomes old row batch_index[b]."""
        if self.key is not None and self.value is not None:
            self.key = self.key.index_select(0, batch_index)  # (B', H, S, Dh)
            self.value = self.value.index_select(0, batch_index)  # (B', H, S, Dh)
        if self.key_padding_mask is not None:
            self.key_padding_mask = self.key_padding_mask.index_select(0, batch_index)  # (B', S)


class MultiHeadAttention(ImplChoice, nn.Module):
    """Multi-head attention (sec. 3.2.2), batch-first, with torch.nn.MultiheadAttention's weights.

    `in_proj_weight` (3D, D) stacks W^Q, W^K, W^V (all heads side by side) so self-attention is a
    single matmul, as in torch; cross-attention uses its row slices. `out_proj` is W^O.

    window: None (default) is full attention. An int w makes self-attention local (Longformer's
    sliding window, seqlab.nn.local_attention): with causal=True query p sees keys (p - w, p],
    otherwise the centred band [p - w//2, p + w//2]; positions count on after a cache's keys.
    The fused path without cached keys or an attn_mask computes it in blocks
    (seqlab.nn.local_attention: memory linear in T, no T x T matrix); after cached keys, or with an
    attn_mask (a T x S tensor already), it gives the band to the fused kernel as a mask, reading
    only the keys within reach. The reference path applies the band as a mask, so the weights it
    returns are zero outside the band. A module with a window is for self-attention only.
    """

    def __init__(
        self,
        embed_dim: int,
        num_heads: int,
        *,
        dropout: float = 0.0,
        bias: bool = True,
        impl: str = "fused",
        window: int | None = None,
    ) -> None:
        super().__init__()
        if window is not None and window < 1:
            raise ValueError(f"window ({window}) must be at least 1, or None for full attention")
        if num_heads <= 0 or embed_dim % num_heads != 0:
            raise ValueError(
                f"embed_dim ({embed_dim}) must be divisible by num_heads ({num_heads})"
            )
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout ({dropout}) must be in [0, 1)")
        self.embed_dim = embed_dim
        self.num_heads = num_heads
        self.head_dim = embed_dim // num_heads
        self.dropout = dropout
        self.impl = impl
        self.window = window
        self.in_proj_weight = nn.Parameter(torch.empty(3 * embed_dim, embed_dim))
        if bias:
            self.in_proj_bias = nn.Parameter(torch.empty(3 * embed_dim))
        else:
            self.register_parameter("in_proj_bias", None)
        self.out_proj = nn.Linear(embed_dim, embed_dim, bias=bias)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        # torch.nn.MultiheadAttention's initialisation, so both start from the same distribution.
        nn.init.xavier_uniform_(self.in_proj_weight)
        if self.in_proj_bias is not None:
            nn.init.zeros_(self.in_proj_bias)
            nn.init.zeros_(self.out_proj.bias)

    @classmethod
    def from_torch(
        cls, module: nn.MultiheadAttention, *, impl: str = "fused"
    ) -> MultiHeadAttention:
        """Copy a torch.nn.MultiheadAttention (batch_first or not: the weights are the same)."""
        if not module._qkv_same_embed_dim:
            raise ValueError(
                f"from_torch needs kdim == vdim == embed_dim ({module.embed_dim}), "
                f"got kdim {module.kdim}, vdim {module.vdim}"
            )
        if module.bias_k is not None or module.add_zero_attn:
            raise ValueError("from_torch does not support add_bias_kv or add_zero_attn")
        attn = cls(
            module.embed_dim,
            module.num_heads,
            dropout=module.dropout,
            bias=module.in_proj_bias is not None,
            impl=impl,
        )
        weight = module.in_proj_weight
        attn.to(device=weight.device, dtype=weight.dtype)
        attn.load_state_dict(module.state_dict())
        return attn

    def _split_heads(self, x: Tensor) -> Tensor:
        return x.unflatten(-1, (self.num_heads, self.head_dim)).transpose(1, 2)  # (B, H, T, Dh)

    def _project_key_value(self, key: Tensor, value: Tensor) -> tuple[Tensor, Tensor]:
        D, b = self.embed_dim, self.in_proj_bias
        if key is value:  # one matmul when keys and values come from the same tensor (memory)
            b_kv = None if b is None else b[D:]  # (2D,)
            kv = F.linear(key, self.in_proj_weight[D:], b_kv)  # (B, S, 2D)
            k, v = kv.unflatten(-1, (2, self.num_heads, self.head_dim)).permute(2, 0, 3, 1, 4)
            return k, v  # (B, H, S, Dh) each
        w_k, w_v = self.in_proj_weight[D : 2 * D], self.in_proj_weight[2 * D :]  # (D, D) each
        b_k, b_v = (None, None) if b is None else (b[D : 2 * D], b[2 * D :])  # (D,) each
        k = self._split_heads(F.linear(key, w_k, b_k))  # (B, H, S, Dh)
        v = self._split_heads(F.linear(value, w_v, b_v))  # (B, H, S, Dh)
        return k, v

    def forward(
        self,
        query: Tensor,
        key: Tensor | None = None,
        value: Tensor | None = None,
        *,
        key_padding_mask: Tensor | None = None,
        causal: bool = False,
        attn_mask: Tensor | None = None,
        cache: KVCache | None = None,
        need_weights: bool = False,
    ) -> AttentionOutput:
        """Attend from query (B, T, D) to key/value (B, S, D); key=None means self-attention.

        key_padding_mask: (B, S) bool, True = real key; with a self-attention cache it covers only
        this call's new keys (the cache keeps the earlier ones). causal: query i may attend keys up
        to its own position (positions continue after the cached ones). attn_mask: (T, S),
        (B, T, S) or (B, H, T, S) bool, True = may attend. cache: a KVCache to append to
        (self-attention) or to fill once and reuse (cross-attention; later calls may pass the same
        memory or any tensor, it is not read again). Returns AttentionOutput(output (B, T, D),
        weights (B, H, T, S) or None); weights need impl="reference". With a `window`, keys
        outside each query's band are masked as well (class docstring).
        """
        B, T, D = query.shape
        if self.embed_dim != D:
            raise ValueError(f"query width ({D}) must equal embed_dim ({self.embed_dim})")
        if key is not None and self.window is not None:
            raise ValueError(
                f"window ({self.window}) applies to self-attention (key=None); cross-attention "
                "needs a MultiHeadAttention without a window"
            )
        if key is None:
            if value is not None:
                raise ValueError(
                    "value given without key; pass both, or neither for self-attention"
                )
            # One matmul for Q, K and V, as torch; views split it without copying.
            qkv = F.linear(query, self.in_proj_weight, self.in_proj_bias)  # (B, T, 3D)
            qkv = qkv.unflatten(-1, (3, self.num_heads, self.head_dim))  # (B, T, 3, H, Dh)
            q, k, v = qkv.permute(2, 0, 3, 1, 4)  # (B, H, T, Dh) each
            if cache is not None:
                k, v, key_padding_mask = cache.append(k, v, key_padding_mask)  # (B, H, S, Dh)
        else:
            value = key if value is None else value
            b_q = None if self.in_proj_bias is None else self.in_proj_bias[:D]  # (D,)
            q = self._split_heads(F.linear(query, self.in_proj_weight[:D], b_q))  # (B, H, T, Dh)
            if cache is not None and cache.key is not None:
                if not cache.is_cross:
                    raise ValueError(
                        "this KVCache holds self-attention keys; cross-attention "
                        "needs its own KVCache"
                    )
                k, v = cache.key, cache.value  # (B, H, S, Dh) projected on the first step
                if key_padding_mask is None:
                    key_padding_mask = cache.key_padding_mask  # (B, S)
            else:
                k, v = self._project_key_value(key, value)  # (B, H, S, Dh) each
                if cache is not None:
                    cache.fill(k, v, key_padding_mask)

        dropout = self.dropout if self.training else 0.0
        if self.window is None:
            mask = attention_mask(
                key_padding_mask=key_padding_mask, attn_mask=attn_mask, key_len=k.shape[2]
            )  # (B|1, H|1, T|1, S) or None
            attn = scaled_dot_product_attention(
                q, k, v, mask, causal, dropout, impl=self.impl, need_weights=need_weights
            )  # (B, H, T, Dh)
        else:
            attn = self._windowed_attention(
                q, k, v, key_padding_mask, attn_mask, causal, dropout, need_weights=need_weights
            )  # (B, H, T, Dh)
        heads = attn.output.transpose(1, 2).reshape(B, T, D)  # (B, T, D)  Concat(head_1..head_h)
        return AttentionOutput(self.out_proj(heads), attn.weights)  # (B, T, D) W^O

    def _windowed_attention(
        self,
        q: Tensor,
        k: Tensor,
        v: Tensor,
        key_padding_mask: Tensor | None,
        attn_mask: Tensor | None,
        causal: bool,
        dropout: float,
        *,
        need_weights: bool,
    ) -> AttentionOutput:
        """Self-attention over q (B, H, T, Dh) and k, v (B, H, S, Dh) with each query limited to
        its window; the queries are the last T of the S key positions (S > T after a cache).

        With a cache, keys older than every query's window stay in the cache and are masked here,
        not dropped: the cache's length is the position counter of decoding (TransformerCache's
        offset places the next token's position encoding and the causal rule), and the reference
        path's weights keep their (B, H, T, S) shape. The fused path reads only the keys inside
        the reach, so a decoding step costs O(window), not O(S)."""
        window = self.window
        assert window is not None  # forward calls this only with a window
        T, S = q.shape[2], k.shape[2]
        if self.impl == "fused" and not need_weights and T == S and attn_mask is None:
            # No cached keys before these queries: the blocked kernel, never a T x T matrix.
            out = local_attention(
                q, k, v, window=window, causal=causal, key_padding_mask=key_padding_mask,
                dropout=dropout, block_size=block_size_for(window),
            )  # fmt: skip
            return AttentionOutput(out, None)  # (B, H, T, Dh)
        # Decoding steps after cached keys (T x S with T small), an explicit mask, or the
        # reference path: the band joins the other masks. The band already holds the causal rule
        # (no key after the query) when causal, so the kernel is called without it.
        mask = attention_mask(
            key_padding_mask=key_padding_mask, attn_mask=attn_mask, key_len=S
        )  # (B|1, H|1, T|1, S) or None
        band = window_mask(T, window, causal=causal, key_length=S, device=q.device)  # (T, S)
        mask = band[None, None] if mask is None else mask & band  # (B|1, H|1, T, S)
        if self.impl == "fused":
            # Keys before the earliest position any query's window reaches get zero weight.
            first = max(0, S - T - window_reach(window, causal)[0])
            k, v, mask = k[:, :, first:], v[:, :, first:], mask[..., first:]  # (.., S - first, .)
        return scaled_dot_product_attention(
            q, k, v, mask, False, dropout, impl=self.impl, need_weights=need_weights
        )  # (B, H, T, Dh)
