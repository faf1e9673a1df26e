"""Tests for seqlab.nn.recurrent_attention: Bahdanau's additive and Luong's dot and general
scores against the papers' formulas written out per (query, key) pair, the masked softmax, and
the context vector."""

import math

import pytest
import torch
from torch.testing import assert_close

from seqlab.nn.recurrent_attention import (
    RecurrentAttention,
    additive_scores,
    dot_scores,
    masked_softmax,
)

B, T, S = 3, 2, 5
DTYPE = torch.float64
LENGTHS = [5, 3, 1]


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def _mask():
    return torch.tensor([[s < length for s in range(S)] for length in LENGTHS])  # (B, S)


@torch.no_grad()
def _hand_attention(score, query, keys, lengths):
    """softmax over the real keys and the weighted sum, one (b, t) pair at a time."""
    weights = torch.zeros(B, T, S, dtype=DTYPE)
    context = torch.zeros(B, T, keys.shape[-1], dtype=DTYPE)
    for b in range(B):
        for t in range(T):
            e = [score(query[b, t], keys[b, s]).item() for s in range(lengths[b])]
            top = max(e)
            exp = [math.exp(value - top) for value in e]
            for s in range(lengths[b]):
                weights[b, t, s] = exp[s] / sum(exp)
                context[b, t] += weights[b, t, s] * keys[b, s]
    return context, weights


def _inputs(query_size, key_size):
    query = torch.randn(B, T, query_size, dtype=DTYPE)
    keys = torch.randn(B, S, key_size, dtype=DTYPE)
    return query, keys


def test_additive_is_v_tanh_wq_q_plus_wk_k():
    attention = RecurrentAttention("additive", query_size=3, key_size=4, attention_size=6).double()
    W_q, W_k, v = attention.query_proj.weight, attention.key_proj.weight, attention.v
    assert W_q.shape == (6, 3) and W_k.shape == (6, 4) and v.shape == (6,)
    query, keys = _inputs(3, 4)

    def bahdanau(q, k):
        return v @ torch.tanh(W_q @ q + W_k @ k)

    context, weights = attention(query, keys, _mask())
    hand_context, hand_weights = _hand_attention(bahdanau, query, keys, LENGTHS)
    assert_close(weights, hand_weights)
    assert_close(context, hand_context)


def test_dot_is_q_dot_k():
    attention = RecurrentAttention("dot", query_size=4, key_size=4).double()
    assert list(attention.parameters()) == []
    query, keys = _inputs(4, 4)
    context, weights = attention(query, keys, _mask())
    hand_context, hand_weights = _hand_attention(torch.dot, query, keys, LENGTHS)
    assert_close(weights, hand_weights)
    assert_close(context, hand_context)


def test_general_is_q_w_k():
    attention = RecurrentAttention("general", query_size=3, key_size=4).double()
    W = attention.key_proj.weight  # (query_size, key_size)
    assert W.shape == (3, 4)
    query, keys = _inputs(3, 4)
    context, weights = attention(query, keys, _mask())
    hand_context, hand_weights = _hand_attention(lambda q, k: q @ W @ k, query, keys, LENGTHS)
    assert_close(weights, hand_weights)
    assert_close(context, hand_context)


@pytest.mark.parametrize("kind", ["additive", "dot", "general"])
def test_masked_positions_get_zero_weight_and_rows_sum_to_one(kind):
    attention = RecurrentAttention(kind, query_size=4, key_size=4).double()
    query, keys = _inputs(4, 4)
    # Huge values at the padded keys would dominate if the mask leaked.
    keys = keys.masked_fill(~_mask()[..., None], 1e3)
    _, weights = attention(query, keys, _mask())
    padded = weights.masked_select(~_mask()[:, None, :])
    assert padded.numel() == T * sum(S - length for length in LENGTHS)
    assert torch.equal(padded, torch.zeros_like(padded))
    assert_close(weights.sum(-1), torch.ones(B, T, dtype=DTYPE))


@pytest.mark.parametrize("kind", ["additive", "dot", "general"])
def test_precomputed_keys_give_the_same_output(kind):
    attention = RecurrentAttention(kind, query_size=4, key_size=4).double()
    query, keys = _inputs(4, 4)
    once = attention(query, keys, _mask())
    again = attention(query, keys, _mask(), projected_keys=attention.project_keys(keys))
    assert torch.equal(once.context, again.context) and torch.equal(once.weights, again.weights)


def test_score_functions_on_numbers():
    query = torch.tensor([[[1.0, 2.0]]], dtype=DTYPE)  # (1, 1, 2)
    keys = torch.tensor([[[3.0, -1.0], [0.5, 0.5]]], dtype=DTYPE)  # (1, 2, 2)
    assert_close(dot_scores(query, keys), torch.tensor([[[1.0, 1.5]]], dtype=DTYPE))
    v = torch.tensor([2.0, -1.0], dtype=DTYPE)
    expected = [2 * math.tanh(4.0) + math.tanh(-1.0), 2 * math.tanh(1.5) - math.tanh(2.5)]
    assert_close(additive_scores(query, keys, v), torch.tensor([[expected]], dtype=DTYPE))


def test_a_sentence_with_no_real_key_gets_zero_weights_and_context():
    scores = torch.randn(2, 1, 3, dtype=DTYPE)
    mask = torch.tensor([[True, True, False], [False, False, False]])
    weights = masked_softmax(scores, mask)
    assert torch.equal(weights[1], torch.zeros(1, 3, dtype=DTYPE))
    hand = torch.exp(scores[0, 0, :2]) / torch.exp(scores[0, 0, :2]).sum()
    assert_close(weights[0, 0], torch.cat([hand, torch.zeros(1, dtype=DTYPE)]))


def test_without_a_mask_every_key_counts():
    scores = torch.randn(2, 3, 4, dtype=DTYPE)
    assert_close(masked_softmax(scores, None), torch.softmax(scores, dim=-1))


def test_bad_arguments_name_the_values():
    with pytest.raises(ValueError, match=r"query_size \(3\) equal to key_size \(4\)"):
        RecurrentAttention("dot", query_size=3, key_size=4)
    with pytest.raises(ValueError, match="attention kind must be one of"):
        RecurrentAttention("concat", query_size=3, key_size=3)
    with pytest.raises(ValueError, match="attention_size is the additive score's width"):
        RecurrentAttention("general", query_size=3, key_size=3, attention_size=8)
    with pytest.raises(TypeError, match="bool tensor"):
        masked_softmax(torch.zeros(1, 1, 2), torch.ones(1, 2))
    with pytest.raises(ValueError, match=r"key_padding_mask must be \(B, S\) = \(1, 2\)"):
        masked_softmax(torch.zeros(1, 1, 2), torch.ones(1, 3, dtype=torch.bool))
