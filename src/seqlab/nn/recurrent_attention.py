"""Attention of a recurrent decoder over its encoder's states: the score functions, written once.

References:
- Bahdanau, Cho and Bengio 2015, "Neural Machine Translation by Jointly Learning to Align and
  Translate", sec. 3.1 and appendix A.1.2: the additive ("concat", "mlp") score
      e(q, k_s) = v^T tanh(W_q q + W_k k_s)
  (their W_a s_{i-1} + U_a h_j); W_k k_s does not depend on the query, so it is computed once per
  source sentence (`project_keys`), as the paper's appendix notes.
- Luong, Pham and Manning 2015, "Effective Approaches to Attention-based Neural Machine
  Translation", sec. 3.1, eq. 8: the multiplicative scores
      dot:      e(q, k_s) = q^T k_s                (query and key of one width)
      general:  e(q, k_s) = q^T W k_s  = q . (W k_s)   (W k_s computed once per sentence)
- Both: weights a_s = softmax_s e(q, k_s) over the real source positions only, and the context
  c = sum_s a_s k_s (Bahdanau eq. 5-6, Luong eq. 7).

No scaling by 1/sqrt(width) (that is the Transformer's, Vaswani et al. 2017, sec. 3.2.1): these
are the papers' scores as written. The weights are always returned, since alignment figures read
them. Masks follow seqlab's convention (seqlab.nn.masks): bool, True = real token. A query whose
sentence has no real key gets zero weights and a zero context (seqlab.nn.masks.guard_empty_rows).

Shape legend (the repository's): B batch, T queries (target steps; 1 for one decoding step),
S source (key) positions; the widths are written out: query_size, key_size, attention_size.
"""

from __future__ import annotations

from typing import Literal, NamedTuple

import torch
from torch import Tensor, nn

from seqlab.nn.masks import guard_empty_rows

__all__ = [
    "ATTENTION_KINDS",
    "AttentionKind",
    "RecurrentAttention",
    "RecurrentAttentionOutput",
    "additive_scores",
    "attention_context",
    "dot_scores",
    "masked_softmax",
]

AttentionKind = Literal["additive", "dot", "general"]
ATTENTION_KINDS: tuple[str, ...] = ("additive", "dot", "general")


def additive_scores(projected_query: Tensor, projected_keys: Tensor, v: Tensor) -> Tensor:
    """Bahdanau's e = v^T tanh(W_q q + W_k k_s), from the projections W_q q and W_k k_s.

    projected_query (B, T, attention_size), projected_keys (B, S, attention_size), v
    (attention_size,) -> scores (B, T, S).
    """
    summed = projected_query.unsqueeze(2) + projected_keys.unsqueeze(1)  # (B, T, S, attention_size)
    return torch.tanh(summed) @ v  # (B, T, S)


def dot_scores(query: Tensor, keys: Tensor) -> Tensor:
    """Luong's dot score e = q . k_s (and general's, with keys = W k_s).

    query (B, T, width), keys (B, S, width) -> scores (B, T, S).
    """
    if query.shape[-1] != keys.shape[-1]:
        raise ValueError(
            f"dot scores need queries and keys of one width, got query width {query.shape[-1]} "
            f"and key width {keys.shape[-1]}"
        )
    return query @ keys.transpose(1, 2)  # (B, T, S)


def masked_softmax(scores: Tensor, key_padding_mask: Tensor | None) -> Tensor:
    """softmax over the real source positions: scores (B, T, S), key_padding_mask (B, S) bool
    (True = real token) -> weights (B, T, S); masked positions get exactly 0, and a query row
    with no real key gets all zeros."""
    if key_padding_mask is None:
        return torch.softmax(scores, dim=-1)  # (B, T, S)
    if key_padding_mask.dtype != torch.bool:
        raise TypeError(
            f"key_padding_mask must be a bool tensor (True = real token), got dtype "
            f"{key_padding_mask.dtype}"
        )
    if key_padding_mask.shape != (scores.shape[0], scores.shape[2]):
        raise ValueError(
            f"key_padding_mask must be (B, S) = ({scores.shape[0]}, {scores.shape[2]}), got "
            f"{tuple(key_padding_mask.shape)}"
        )
    mask, row_has_key = guard_empty_rows(key_padding_mask[:, None, :])  # (B, 1, S), (B, 1, 1)
    weights = torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=-1)  # (B, T, S)
    return weights.masked_fill(~row_has_key, 0.0)  # (B, T, S)


def attention_context(weights: Tensor, values: Tensor) -> Tensor:
    """c_t = sum_s a_ts v_s: weights (B, T, S), values (B, S, key_size) -> (B, T, key_size)."""
    return weights @ values  # (B, T, key_size)


class RecurrentAttentionOutput(NamedTuple):
    context: Tensor  # (B, T, key_size)
    weights: Tensor  # (B, T, S), each real row sums to 1


class RecurrentAttention(nn.Module):
    """Attention from decoder states (queries) over encoder states (keys, also the values).

    kind "additive" (Bahdanau): `query_proj` W_q (attention_size, query_size), `key_proj` W_k
    (attention_size, key_size) and `v` (attention_size,), no biases, as in the paper's e_ij.
    kind "general" (Luong): `key_proj` W (query_size, key_size), no bias. kind "dot" (Luong): no
    parameters; query_size must equal key_size.

    `project_keys(keys)` gives what the scores read of the keys (W_k k, W k, or the keys
    themselves); a decoder computes it once per source sentence and passes it to every step.
    """

    def __init__(
        self,
        kind: str,
        *,
        query_size: int,
        key_size: int,
        attention_size: int | None = None,
    ) -> None:
        super().__init__()
        if kind not in ATTENTION_KINDS:
            raise ValueError(f"attention kind must be one of {ATTENTION_KINDS}, got {kind!r}")
        if kind == "dot" and query_size != key_size:
            raise ValueError(
                f"dot attention needs query_size ({query_size}) equal to key_size ({key_size}); "
                "use 'general' or 'additive' for different widths"
            )
        if attention_size is not None and kind != "additive":
            raise ValueError(f"attention_size is the additive score's width; {kind!r} has none")
        self.kind = kind
        self.query_size = query_size
        self.key_size = key_size
        if kind == "additive":
            width = attention_size or query_size
            self.query_proj = nn.Linear(query_size, width, bias=False)
            self.key_proj: nn.Linear | None = nn.Linear(key_size, width, bias=False)
            self.v = nn.Parameter(torch.empty(width))
            # The v of a Linear(width, 1): the same uniform +-1/sqrt(width) as the projections.
            nn.init.uniform_(self.v, -(width**-0.5), width**-0.5)
        elif kind == "general":
            self.key_proj = nn.Linear(key_size, query_size, bias=False)
        else:
            self.key_proj = None

    def project_keys(self, keys: Tensor) -> Tensor:
        """What the scores read of keys (B, S, key_size): (B, S, attention_size) for additive,
        (B, S, query_size) for general, the keys themselves for dot."""
        if self.key_proj is None:
            return keys  # (B, S, key_size)
        return self.key_proj(keys)  # (B, S, attention_size or query_size)

    def scores(self, query: Tensor, projected_keys: Tensor) -> Tensor:
        """e(q_t, k_s): query (B, T, query_size), projected_keys from `project_keys` ->
        (B, T, S)."""
        if self.kind == "additive":
            return additive_scores(self.query_proj(query), projected_keys, self.v)  # (B, T, S)
        return dot_scores(query, projected_keys)  # (B, T, S)

    def forward(
        self,
        query: Tensor,
        keys: Tensor,
        key_padding_mask: Tensor | None = None,
        *,
        projected_keys: Tensor | None = None,
    ) -> RecurrentAttentionOutput:
        """query (B, T, query_size) over keys (B, S, key_size); key_padding_mask (B, S) bool,
        True = real token. projected_keys: `project_keys(keys)` when already computed.
        Returns RecurrentAttentionOutput(context (B, T, key_size), weights (B, T, S))."""
        if query.dim() != 3 or keys.dim() != 3 or query.shape[0] != keys.shape[0]:
            raise ValueError(
                f"query must be (B, T, query_size) and keys (B, S, key_size), got "
                f"{tuple(query.shape)} and {tuple(keys.shape)}"
            )
        if projected_keys is None:
            projected_keys = self.project_keys(keys)  # (B, S, attention_size)
        scores = self.scores(query, projected_keys)  # (B, T, S)
        weights = masked_softmax(scores, key_padding_mask)  # (B, T, S)
        return RecurrentAttentionOutput(attention_context(weights, keys), weights)
