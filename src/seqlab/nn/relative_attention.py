"""Relative multi-head self-attention over a segment and a memory of the segments before it.

References:
- Dai et al. 2019, "Transformer-XL: Attentive Language Models Beyond a Fixed-Length Context",
  sec. 3.2 (segment-level recurrence: the keys and values of a segment's self-attention also
  cover the cached hidden states of the previous segment, the queries only the segment), sec.
  3.3 (relative positional encodings) and appendix B (computing the positional term for every
  pair at once by a "relative shift").
- Vaswani et al. 2017, "Attention Is All You Need", sec. 3.2 (multi-head attention, the
  projections W^Q, W^K, W^V, W^O as seqlab.nn.MultiHeadAttention holds them) and sec. 3.5 (the
  sinusoid table R, seqlab.nn.SinusoidalPositions).

The equations (sec. 3.3, one head; Dh the head width). The segment has T positions, the memory
M, so there are S = M + T keys, [memory; segment]: key j sits at position j, query i at position
M + i, and their distance is M + i - j. With q_i = W_q h_i, k_j = W_{k,E} h_j (h the layer's
input) and R_d the sinusoid encoding of a distance d:

    A_{i,j} =   q_i^T k_j                       (a) content
              + q_i^T W_{k,R} R_{M+i-j}         (b) content-dependent position
              + u^T k_j                         (c) global content bias
              + v^T W_{k,R} R_{M+i-j}           (d) global position bias
            = (q_i + u)^T k_j + (q_i + v)^T W_{k,R} R_{M+i-j}

    weights_{i,:} = softmax_j(A_{i,j} / sqrt(Dh)) over j <= M + i (causal over [memory; segment])
    output_i = sum_j weights_{i,j} v_j,   v_j = W_v h_j;   heads concatenated, then W^O.

u and v (``content_bias``, ``position_bias``) are learned per head and shared by every query;
W_{k,R} (``pos_proj``) projects R. No absolute position enters anywhere, so a key keeps its
meaning when the segment moves on and it becomes memory: positions stay right across the
boundary.

The relative shift (appendix B). Computing (b) + (d) pair by pair would need a (T, S, Dh) tensor
of R rows. Instead, score every query against every distance once: BD_raw[i, r] = (q_i + v)^T
W_{k,R} R_{S-1-r} for r = 0..S-1 (the distances in descending order, S-1 down to 0), a (T, S)
matrix product. The entry wanted at (i, j) is distance M + i - j, i.e. r = j + (T - 1 - i): row i
must move left by T - 1 - i. Padding one zero column on the left, viewing the (T, S + 1) result
as (S + 1, T), dropping its first row and viewing the rest as (T, S) does exactly that: entry
(i, j) of the result is flat element T + i S + j of the padded matrix, which is row i, column
j + T - i, i.e. BD_raw[i, j + T - 1 - i]. This holds for every j <= M + i; the entries above
(future keys) are filler that the causal mask removes.

Two paths, one set of weights (DESIGN.md): impl="reference" writes the scores out and can return
the weights; impl="fused" passes q + u and the positional term (scaled, with the causal mask as
-inf, converted by seqlab.nn.masks.to_torch_mask) as an additive mask to
torch.nn.functional.scaled_dot_product_attention, and cannot return weights.

Deviations from the paper: no dropout on R (the paper's code drops the position embeddings
too); u and v start at zero (the paper's code draws them like the other weights), so at
initialisation the scores are (a) + (b).

Shape legend (the repository's): B batch, H heads, T segment (query) length, M memory length,
S = M + T key length, D model width, Dh head width.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seqlab.nn.attention import AttentionOutput, MultiHeadAttention
from seqlab.nn.masks import causal_mask, to_torch_mask
from seqlab.nn.positions import SinusoidalPositions

__all__ = ["RelativeMultiHeadAttention", "RelativePositions", "relative_shift"]


class RelativePositions(nn.Module):
    """R for the distances S-1, S-2, ..., 0 (descending, the order ``relative_shift`` expects):
    rows of the sinusoid table (Vaswani et al. sec. 3.5), no parameters. max_distance + 1 rows
    exist; a longer S raises, naming the limit."""

    def __init__(self, max_distance: int, embed_dim: int) -> None:
        super().__init__()
        self.table = SinusoidalPositions(max_distance + 1, embed_dim)

    def forward(self, key_len: int) -> Tensor:
        """(S, D): row r encodes distance key_len - 1 - r."""
        return self.table(key_len).flip(0)  # (S, D)


def relative_shift(scores: Tensor) -> Tensor:
    """(..., T, S) scores against distances S-1..0 -> (..., T, S) scores against keys: entry
    (i, j) becomes scores[..., i, j + T - 1 - i], valid for j <= S - T + i (module docstring)."""
    *lead, T, S = scores.shape
    padded = F.pad(scores, (1, 0))  # (..., T, S + 1) a zero column on the left
    padded = padded.reshape(*lead, S + 1, T)  # (..., S + 1, T) the same numbers, re-read
    return padded[..., 1:, :].reshape(*lead, T, S)  # (..., T, S)


class RelativeMultiHeadAttention(MultiHeadAttention):
    """Transformer-XL's self-attention (module docstring): MultiHeadAttention's projections
    (`in_proj_weight` W^Q, W^K, W^V; `out_proj` W^O), plus `pos_proj` W_{k,R}, `content_bias` u
    and `position_bias` v, each (H, Dh).

    A subclass so that whatever reads every MultiHeadAttention of a model (seqlab.nn's
    recorded_attention, a layer's `impl` switch, an initialiser) reads this one too; it is
    self-attention only, always causal, so its forward takes the segment, its memory and R
    instead of MultiHeadAttention's query/key/value.
    """

    def __init__(
        self,
        embed_dim: int,
        num_heads: int,
        *,
        dropout: float = 0.0,
        bias: bool = True,
        impl: str = "fused",
    ) -> None:
        super().__init__(embed_dim, num_heads, dropout=dropout, bias=bias, impl=impl)
        self.pos_proj = nn.Linear(embed_dim, embed_dim, bias=False)  # W_{k,R}
        nn.init.xavier_uniform_(self.pos_proj.weight)  # as W^Q, W^K, W^V
        self.content_bias = nn.Parameter(torch.zeros(num_heads, self.head_dim))  # u (H, Dh)
        self.position_bias = nn.Parameter(torch.zeros(num_heads, self.head_dim))  # v (H, Dh)

    @classmethod
    def from_torch(
        cls, module: nn.MultiheadAttention, *, impl: str = "fused"
    ) -> MultiHeadAttention:
        raise ValueError(
            "RelativeMultiHeadAttention has no torch.nn counterpart to copy (torch has no "
            "relative attention)"
        )

    def forward(  # type: ignore[override]  # self-attention with memory, not query/key/value
        self,
        x: Tensor,
        *,
        positions: Tensor,
        memory: Tensor | None = None,
        need_weights: bool = False,
    ) -> AttentionOutput:
        """x (B, T, D) the segment; memory (B, M, D) the cached states before it (None: M = 0);
        positions (S, D) = R for distances S-1..0 (RelativePositions(S)), S = M + T. Returns
        AttentionOutput(output (B, T, D), weights (B, H, T, S) or None); weights need
        impl="reference"."""
        B, T, D = x.shape
        if self.embed_dim != D:
            raise ValueError(f"x width ({D}) must equal embed_dim ({self.embed_dim})")
        if need_weights and self.impl == "fused":
            raise ValueError(
                "need_weights=True needs impl='reference': the fused kernel "
                "(torch.nn.functional.scaled_dot_product_attention) does not return "
                "attention weights"
            )
        keys_in = x if memory is None else torch.cat([memory, x], dim=1)  # (B, S, D)
        S = keys_in.shape[1]
        if positions.shape != (S, D):
            raise ValueError(
                f"positions must be R for the {S} keys, shape ({S}, {D}), got "
                f"{tuple(positions.shape)}"
            )
        w_q, w_kv = self.in_proj_weight[:D], self.in_proj_weight[D:]  # (D, D), (2D, D)
        b = self.in_proj_bias
        q = self._split_heads(F.linear(x, w_q, None if b is None else b[:D]))  # (B, H, T, Dh)
        kv = F.linear(keys_in, w_kv, None if b is None else b[D:])  # (B, S, 2D)
        k, v = kv.unflatten(-1, (2, self.num_heads, self.head_dim)).permute(2, 0, 3, 1, 4)
        r = self.pos_proj(positions).unflatten(-1, (self.num_heads, self.head_dim))  # (S, H, Dh)
        r = r.permute(1, 2, 0)  # (H, Dh, S)  W_{k,R} R_{S-1..0}, per head

        u = self.content_bias[None, :, None, :]  # (1, H, 1, Dh)
        pos_bias = self.position_bias[None, :, None, :]  # (1, H, 1, Dh)
        bd = relative_shift((q + pos_bias) @ r)  # (B, H, T, S)  terms (b) + (d)
        scale = self.head_dim**-0.5
        allowed = causal_mask(T, S, device=x.device)  # (T, S) key j <= M + i
        dropout = self.dropout if self.training else 0.0

        if self.impl == "fused":
            bias = bd * scale + to_torch_mask(allowed, form="additive", dtype=bd.dtype)
            out = F.scaled_dot_product_attention(
                q + u, k, v, attn_mask=bias, dropout_p=dropout
            )  # (B, H, T, Dh)
            weights = None
        else:
            ac = (q + u) @ k.transpose(-2, -1)  # (B, H, T, S)  terms (a) + (c)
            scores = (ac + bd) * scale  # (B, H, T, S)  A / sqrt(Dh)
            scores = scores.masked_fill(~allowed, float("-inf"))  # (B, H, T, S)
            weights = torch.softmax(scores, dim=-1)  # (B, H, T, S)
            dropped = F.dropout(weights, p=dropout) if dropout > 0.0 else weights
            out = dropped @ v  # (B, H, T, Dh)
        heads = out.transpose(1, 2).reshape(B, T, D)  # (B, T, D)  Concat(head_1..head_h)
        return AttentionOutput(self.out_proj(heads), weights if need_weights else None)
