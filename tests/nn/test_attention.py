"""Tests for seqlab.nn.attention: both paths of eq. 1 against each other, a hand softmax and torch;
MultiHeadAttention against torch.nn.MultiheadAttention; padding, causality and the KV cache."""

import pytest
import torch
import torch.nn.functional as F
from torch.testing import assert_close

from seqlab.nn.attention import KVCache, MultiHeadAttention, scaled_dot_product_attention
from seqlab.nn.masks import causal_mask, padding_mask, to_torch_mask

B, H, T, Dh = 3, 2, 5, 4
D = H * Dh
DTYPE = torch.float64


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def _qkv(tq=T, tk=T, requires_grad=False):
    shapes = [(B, H, tq, Dh), (B, H, tk, Dh), (B, H, tk, Dh)]
    return [torch.randn(s, dtype=DTYPE, requires_grad=requires_grad) for s in shapes]


LENGTHS = torch.tensor([5, 3, 1])  # every sequence keeps its first key, so no row is empty
TRIL = torch.ones(T, T, dtype=torch.bool).tril()  # built by hand, not by seqlab.nn.masks


def _case(name):
    """(mask, causal) for seqlab, and the same rule as one explicit bool mask for torch."""
    pad = padding_mask(LENGTHS, T)  # (B, T)
    pad4 = pad[:, None, None, :]  # (B, 1, 1, T)
    return {
        "none": (None, False, None),
        "padding": (pad4, False, pad4),
        "causal": (None, True, TRIL),
        "padding+causal": (pad4, True, pad4 & TRIL),
    }[name]


def _hand_attention(q, k, v, allowed):
    # Eq. 1 with the softmax spelled out as exp / sum over the allowed keys only.
    scores = q @ k.transpose(-2, -1) / Dh**0.5
    scores = scores - scores.max(dim=-1, keepdim=True).values
    exp = torch.exp(scores) * allowed
    weights = exp / exp.sum(dim=-1, keepdim=True)
    return weights @ v, weights


CASES = ["none", "padding", "causal", "padding+causal"]


@pytest.mark.parametrize("case", CASES)
def test_sdpa_reference_fused_torch_and_hand_agree(case):
    q, k, v = _qkv()
    mask, causal, explicit = _case(case)
    reference, weights = scaled_dot_product_attention(
        q, k, v, mask, causal, impl="reference", need_weights=True
    )
    fused, no_weights = scaled_dot_product_attention(q, k, v, mask, causal, impl="fused")
    torch_out = F.scaled_dot_product_attention(q, k, v, attn_mask=explicit)
    allowed = torch.ones(T, T, dtype=torch.bool) if explicit is None else explicit
    hand_out, hand_weights = _hand_attention(q, k, v, allowed)
    assert no_weights is None
    assert_close(reference, fused)
    assert_close(reference, torch_out)
    assert_close(reference, hand_out)
    assert_close(weights, hand_weights)


@pytest.mark.parametrize("case", CASES)
def test_sdpa_weights_sum_to_one_over_allowed_keys(case):
    q, k, v = _qkv()
    mask, causal, explicit = _case(case)
    weights = scaled_dot_product_attention(
        q, k, v, mask, causal, impl="reference", need_weights=True
    ).weights
    allowed = torch.ones(T, T, dtype=torch.bool) if explicit is None else explicit
    allowed = allowed.expand(B, H, T, T)
    assert_close(weights.sum(-1), torch.ones(B, H, T, dtype=DTYPE))
    assert_close(weights[~allowed], torch.zeros_like(weights[~allowed]))
    assert (weights[allowed] > 0).all()


@pytest.mark.parametrize("case", CASES)
def test_sdpa_gradients_equal_between_paths_and_torch(case):
    mask, causal, explicit = _case(case)
    grads = []
    for run in ("reference", "fused", "torch"):
        torch.manual_seed(1)
        q, k, v = _qkv(requires_grad=True)
        if run == "torch":
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=explicit)
        else:
            out = scaled_dot_product_attention(q, k, v, mask, causal, impl=run).output
        (out * torch.randn_like(out)).sum().backward()
        grads.append((q.grad, k.grad, v.grad))
    assert_close(grads[0], grads[1])
    assert_close(grads[0], grads[2])


def test_sdpa_fully_masked_rows_give_zeros_and_finite_equal_gradients():
    lengths = torch.tensor([0, 2, 5])  # the first sequence has no real key at all
    mask = padding_mask(lengths, T)[:, None, None, :]  # (B, 1, 1, T)
    results = {}
    for impl in ("reference", "fused"):
        torch.manual_seed(1)
        q, k, v = _qkv(requires_grad=True)
        out, weights = scaled_dot_product_attention(
            q, k, v, mask, impl=impl, need_weights=impl == "reference"
        )
        (out * torch.randn_like(out)).sum().backward()
        results[impl] = (out, q.grad, k.grad, v.grad)
        assert_close(out[0], torch.zeros(H, T, Dh, dtype=DTYPE))
        if weights is not None:
            assert_close(weights[0], torch.zeros(H, T, T, dtype=DTYPE))
        assert all(torch.isfinite(g).all() for g in (q.grad, k.grad, v.grad))
    assert_close(results["reference"], results["fused"])
    # The empty sequence receives and sends no gradient.
    assert_close(results["fused"][1][0], torch.zeros(H, T, Dh, dtype=DTYPE))


def test_sdpa_causal_with_fewer_queries_aligns_them_with_the_last_keys():
    q, k, v = _qkv(tq=2, tk=T)
    explicit = causal_mask(2, T, offset=T - 2)[None, None]  # (1, 1, 2, T)
    expected = F.scaled_dot_product_attention(q, k, v, attn_mask=explicit)
    for impl in ("reference", "fused"):
        out = scaled_dot_product_attention(q, k, v, causal=True, impl=impl).output
        assert_close(out, expected)


def test_sdpa_dropout_acts_on_output_not_on_returned_weights():
    q, k, v = _qkv()
    plain = scaled_dot_product_attention(q, k, v, impl="reference", need_weights=True)
    dropped = scaled_dot_product_attention(
        q, k, v, dropout=0.5, impl="reference", need_weights=True
    )
    assert_close(dropped.weights, plain.weights)
    assert not torch.allclose(dropped.output, plain.output)


def test_sdpa_errors_name_the_problem():
    q, k, v = _qkv()
    with pytest.raises(ValueError, match="need_weights=True needs impl='reference'"):
        scaled_dot_product_attention(q, k, v, impl="fused", need_weights=True)
    with pytest.raises(ValueError, match="impl must be 'reference' or 'fused', got 'flash'"):
        scaled_dot_product_attention(q, k, v, impl="flash")
    with pytest.raises(TypeError, match="mask must be a bool tensor"):
        scaled_dot_product_attention(q, k, v, torch.ones(T, T, dtype=DTYPE))


# --- MultiHeadAttention -------------------------------------------------------------------------


def _torch_mha():
    # Train mode with dropout 0: torch's eval-mode fast path has other padding rules.
    return torch.nn.MultiheadAttention(D, H, dropout=0.0, batch_first=True, dtype=DTYPE).train()


@pytest.mark.parametrize("impl", ["reference", "fused"])
def test_mha_self_attention_equals_torch(impl):
    torch_mha = _torch_mha()
    mha = MultiHeadAttention.from_torch(torch_mha, impl=impl)
    x = torch.randn(B, T, D, dtype=DTYPE, requires_grad=True)
    x_torch = x.detach().clone().requires_grad_()
    pad = padding_mask(LENGTHS, T)
    ours = mha(x, key_padding_mask=pad, need_weights=impl == "reference")
    expected, expected_weights = torch_mha(
        x_torch,
        x_torch,
        x_torch,
        key_padding_mask=to_torch_mask(pad),
        need_weights=True,
        average_attn_weights=False,
    )
    assert_close(ours.output, expected)
    if impl == "reference":
        assert_close(ours.weights, expected_weights)
    grad = torch.randn_like(expected)
    (ours.output * grad).sum().backward()
    (expected * grad).sum().backward()
    assert_close(x.grad, x_torch.grad)
    assert_close(mha.in_proj_weight.grad, torch_mha.in_proj_weight.grad)
    assert_close(mha.in_proj_bias.grad, torch_mha.in_proj_bias.grad)
    assert_close(mha.out_proj.weight.grad, torch_mha.out_proj.weight.grad)


@pytest.mark.parametrize("impl", ["reference", "fused"])
@pytest.mark.parametrize("same_key_value", [True, False])
def test_mha_cross_attention_equals_torch(impl, same_key_value):
    torch_mha = _torch_mha()
    mha = MultiHeadAttention.from_torch(torch_mha, impl=impl)
    S = 7
    query = torch.randn(B, T, D, dtype=DTYPE)
    key = torch.randn(B, S, D, dtype=DTYPE)
    value = key if same_key_value else torch.randn(B, S, D, dtype=DTYPE)
    pad = padding_mask(torch.tensor([7, 4, 2]), S)
    ours = mha(query, key, value, key_padding_mask=pad, need_weights=impl == "reference")
    expected, expected_weights = torch_mha(
        query, key, value, key_padding_mask=to_torch_mask(pad), average_attn_weights=False
    )
    assert_close(ours.output, expected)
    if impl == "reference":
        assert_close(ours.weights, expected_weights)


@pytest.mark.parametrize("impl", ["reference", "fused"])
def test_mha_causal_and_explicit_masks_equal_torch(impl):
    torch_mha = _torch_mha()
    mha = MultiHeadAttention.from_torch(torch_mha, impl=impl)
    x = torch.randn(B, T, D, dtype=DTYPE)
    pad = padding_mask(LENGTHS, T)
    explicit = torch.rand(T, T) > 0.3
    explicit.fill_diagonal_(True)  # keep every row non-empty, where torch would give NaN
    ours = mha(x, key_padding_mask=pad, causal=True, attn_mask=explicit).output
    combined = causal_mask(T) & explicit
    expected, _ = torch_mha(
        x,
        x,
        x,
        key_padding_mask=to_torch_mask(pad),
        attn_mask=to_torch_mask(combined),
        need_weights=False,
    )
    assert_close(ours, expected)


@pytest.mark.parametrize("impl", ["reference", "fused"])
def test_mha_padding_invariance(impl):
    mha = MultiHeadAttention(D, H, impl=impl).double()
    x = torch.randn(B, T, D, dtype=DTYPE)
    pad = padding_mask(LENGTHS, T)
    garbage = torch.randn(B, 3, D, dtype=DTYPE)  # appended positions, all padding
    x_long = torch.cat([x, garbage], dim=1)
    pad_long = torch.cat([pad, torch.zeros(B, 3, dtype=torch.bool)], dim=1)
    short = mha(x, key_padding_mask=pad).output
    long = mha(x_long, key_padding_mask=pad_long).output
    real = pad[..., None].expand(B, T, D)
    assert_close(long[:, :T][real], short[real])


@pytest.mark.parametrize("impl", ["reference", "fused"])
def test_mha_causal_leaks_nothing_from_the_future(impl):
    mha = MultiHeadAttention(D, H, impl=impl).double()
    x = torch.randn(B, T, D, dtype=DTYPE)
    changed = x.clone()
    changed[:, 3] = torch.randn(B, D, dtype=DTYPE)
    before = mha(x, causal=True).output
    after = mha(changed, causal=True).output
    assert_close(after[:, :3], before[:, :3])
    assert not torch.allclose(after[:, 3:], before[:, 3:])


@pytest.mark.parametrize("impl", ["reference", "fused"])
@pytest.mark.parametrize("chunks", [[1, 1, 1, 1, 1], [2, 1, 2]])
def test_mha_kv_cache_decoding_equals_full_causal_pass(impl, chunks):
    mha = MultiHeadAttention(D, H, impl=impl).double()
    x = torch.randn(B, T, D, dtype=DTYPE)
    full = mha(x, causal=True).output
    cache = KVCache()
    steps, start = [], 0
    for size in chunks:
        steps.append(mha(x[:, start : start + size], causal=True, cache=cache).output)
        start += size
    assert cache.length == T
    assert_close(torch.cat(steps, dim=1), full)


def test_mha_kv_cache_keeps_the_padding_of_earlier_steps():
    mha = MultiHeadAttention(D, H).double()
    x = torch.randn(B, T, D, dtype=DTYPE)
    # Left-padded prompts of length 2 (the first key of the second and third rows is padding).
    pad = torch.ones(B, T, dtype=torch.bool)
    pad[1:, 0] = False
    full = mha(x, key_padding_mask=pad, causal=True).output
    cache = KVCache()
    prompt = mha(x[:, :2], key_padding_mask=pad[:, :2], causal=True, cache=cache).output
    steps = [mha(x[:, t : t + 1], causal=True, cache=cache).output for t in range(2, T)]
    decoded = torch.cat([prompt, *steps], dim=1)
    assert_close(decoded, full)
    # A padded query that may attend nothing (left padding + causal) gives zero attention, so
    # only the output projection's bias is left.
    assert_close(decoded[1:, 0], mha.out_proj.bias.expand(B - 1, D))


def test_mha_cross_attention_cache_projects_memory_once():
    mha = MultiHeadAttention(D, H).double()
    query = torch.randn(B, T, D, dtype=DTYPE)
    memory = torch.randn(B, 7, D, dtype=DTYPE)
    pad = padding_mask(torch.tensor([7, 4, 2]), 7)
    full = mha(query, memory, key_padding_mask=pad).output
    cache = KVCache()
    first = mha(query[:, :1], memory, key_padding_mask=pad, cache=cache).output
    # Later steps reuse the cached keys, values and padding: the memory passed is not read again.
    later = [
        mha(query[:, t : t + 1], torch.zeros_like(memory), cache=cache).output for t in range(1, T)
    ]
    assert_close(torch.cat([first, *later], dim=1), full)


def test_kv_cache_reorder_selects_batch_rows():
    mha = MultiHeadAttention(D, H).double()
    x = torch.randn(B, T, D, dtype=DTYPE)
    index = torch.tensor([2, 0])
    full = mha(x[index], causal=True).output
    cache = KVCache()
    first = mha(x[:, :3], causal=True, cache=cache).output[index]
    cache.reorder(index)
    rest = mha(x[index, 3:], causal=True, cache=cache).output
    assert_close(torch.cat([first, rest], dim=1), full)


def test_kv_cache_kinds_do_not_mix():
    mha = MultiHeadAttention(D, H).double()
    x = torch.randn(B, T, D, dtype=DTYPE)
    cache = KVCache()
    mha(x, x, cache=cache)  # filled as cross-attention
    with pytest.raises(ValueError, match="holds cross-attention memory"):
        mha(x, cache=cache)


def test_mha_eval_mode_turns_attention_dropout_off():
    torch_mha = torch.nn.MultiheadAttention(D, H, dropout=0.5, batch_first=True, dtype=DTYPE)
    mha = MultiHeadAttention.from_torch(torch_mha).eval()
    torch_mha.dropout = 0.0  # the same weights without dropout, for the expected output
    x = torch.randn(B, T, D, dtype=DTYPE, requires_grad=True)  # grad keeps torch off its fast path
    expected, _ = torch_mha.train()(x, x, x, need_weights=False)
    assert_close(mha(x).output, expected)


def test_mha_errors_name_the_values():
    with pytest.raises(ValueError, match=r"embed_dim \(100\) must be divisible by num_heads \(8\)"):
        MultiHeadAttention(100, 8)
    with pytest.raises(ValueError, match="impl must be 'reference' or 'fused', got 'fast'"):
        MultiHeadAttention(D, H, impl="fast")
    mha = MultiHeadAttention(D, H)
    with pytest.raises(ValueError, match="impl must be 'reference' or 'fused', got 'fast'"):
        mha.impl = "fast"
    x = torch.randn(B, T, D)
    with pytest.raises(ValueError, match="need_weights=True needs impl='reference'"):
        mha(x, need_weights=True)
    with pytest.raises(ValueError, match=r"query width \(6\) must equal embed_dim \(8\)"):
        mha(torch.randn(B, T, 6))
    odd = torch.nn.MultiheadAttention(D, H, kdim=6, vdim=6, batch_first=True)
    with pytest.raises(ValueError, match=r"from_torch needs kdim == vdim == embed_dim \(8\)"):
        MultiHeadAttention.from_torch(odd)


def test_mha_from_torch_sequence_first_module():
    # The weights do not depend on batch_first, so a sequence-first module copies just the same.
    torch_mha = torch.nn.MultiheadAttention(D, H, batch_first=False, dtype=DTYPE).train()
    mha = MultiHeadAttention.from_torch(torch_mha)
    x = torch.randn(B, T, D, dtype=DTYPE)
    x_seq_first = x.transpose(0, 1)
    expected, _ = torch_mha(x_seq_first, x_seq_first, x_seq_first, need_weights=False)
    assert_close(mha(x).output, expected.transpose(0, 1))


def test_mha_state_dict_loads_from_torch_unchanged():
    torch_mha = _torch_mha()
    mha = MultiHeadAttention(D, H).double()
    mha.load_state_dict(torch_mha.state_dict())  # strict: every name and shape must match
    x = torch.randn(B, T, D, dtype=DTYPE)
    assert_close(mha(x).output, torch_mha(x, x, x, need_weights=False)[0])
