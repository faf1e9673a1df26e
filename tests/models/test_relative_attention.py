"""Transformer-XL's relative attention (seqlab.nn.relative_attention) against the paper's
equations computed here pair by pair, the relative shift against direct indexing, the two paths
against each other, and the layer stack's memory (seqlab.nn.relative_transformer).

References for the expected values: Dai et al. 2019, sec. 3.3, A_{i,j} = (a) + (b) + (c) + (d)
with R_d the sinusoid of Vaswani et al. 2017 sec. 3.5 (written out here from its formula, not
read from seqlab's table), softmax over the keys j <= M + i; appendix B, the shift.
Everything runs in float64, so comparisons are exact up to rounding.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch import Tensor
from torch.testing import assert_close

from seqlab.nn.attention_maps import recorded_attention
from seqlab.nn.relative_attention import (
    RelativeMultiHeadAttention,
    RelativePositions,
    relative_shift,
)
from seqlab.nn.relative_transformer import RelativeTransformerEncoder, next_memory

D, H = 12, 3
DH = D // H


def _sinusoid(distance: int, width: int) -> Tensor:
    """PE(d, 2i) = sin(d / 10000^(2i / D)), PE(d, 2i + 1) = cos(the same), float64 (width,)."""
    row = torch.zeros(width, dtype=torch.float64)
    for column in range(width):
        angle = distance / 10000.0 ** ((column - column % 2) / width)
        row[column] = math.sin(angle) if column % 2 == 0 else math.cos(angle)
    return row


def _attention(seed: int = 0, **kwargs) -> RelativeMultiHeadAttention:
    torch.manual_seed(seed)
    attention = RelativeMultiHeadAttention(D, H, **kwargs).double().eval()
    with torch.no_grad():  # u, v and the biases start at zero; make every term count
        attention.content_bias.normal_()
        attention.position_bias.normal_()
        if attention.in_proj_bias is not None:
            attention.in_proj_bias.normal_(std=0.1)
            attention.out_proj.bias.normal_(std=0.1)
    return attention


def _naive(
    attention: RelativeMultiHeadAttention, x: Tensor, memory: Tensor | None
) -> tuple[Tensor, Tensor]:
    """(output (B, T, D), weights (B, H, T, S)) from sec. 3.3's four terms, one (i, j) at a
    time: query i at position M + i, key j at position j, distance M + i - j."""
    B, T, _ = x.shape
    keys_in = x if memory is None else torch.cat([memory, x], dim=1)  # (B, S, D)
    M, S = keys_in.shape[1] - T, keys_in.shape[1]
    w, b = attention.in_proj_weight, attention.in_proj_bias
    bias = torch.zeros(3 * D, dtype=x.dtype) if b is None else b
    q = x @ w[:D].T + bias[:D]  # (B, T, D)
    k = keys_in @ w[D : 2 * D].T + bias[D : 2 * D]  # (B, S, D)
    v = keys_in @ w[2 * D :].T + bias[2 * D :]  # (B, S, D)
    u, pos_bias = attention.content_bias, attention.position_bias  # (H, Dh)
    w_r = attention.pos_proj.weight  # (D, D)
    weights = torch.zeros(B, H, T, S, dtype=x.dtype)
    heads = torch.zeros(B, T, D, dtype=x.dtype)
    for batch in range(B):
        for h in range(H):
            cols = slice(h * DH, (h + 1) * DH)
            for i in range(T):
                scores = torch.full((S,), -math.inf, dtype=x.dtype)
                for j in range(M + i + 1):
                    # R as seqlab stores it: the float64 sinusoid rounded to float32.
                    r_d = _sinusoid(M + i - j, D).float().double()  # (D,)
                    r = (w_r @ r_d)[cols]  # W_{k,R} R_{M+i-j}, head h
                    qi, kj = q[batch, i, cols], k[batch, j, cols]
                    a = qi @ kj
                    b_term = qi @ r
                    c = u[h] @ kj
                    d = pos_bias[h] @ r
                    scores[j] = (a + b_term + c + d) / math.sqrt(DH)
                weights[batch, h, i] = torch.softmax(scores, dim=0)
                heads[batch, i, cols] = weights[batch, h, i] @ v[batch, :, cols]
    return attention.out_proj(heads), weights


@pytest.mark.parametrize("memory_length", [0, 3])
@pytest.mark.parametrize("bias", [True, False])
def test_relative_attention_equals_the_four_terms_computed_pair_by_pair(memory_length, bias):
    attention = _attention(bias=bias, impl="reference")
    generator = torch.Generator().manual_seed(1)
    x = torch.randn(2, 5, D, generator=generator, dtype=torch.float64)  # (B, T, D)
    memory = None
    if memory_length:
        memory = torch.randn(2, memory_length, D, generator=generator, dtype=torch.float64)
    positions = RelativePositions(16, D).double()(5 + memory_length)  # (S, D)
    out = attention(x, positions=positions, memory=memory, need_weights=True)
    expected_out, expected_weights = _naive(attention, x, memory)
    assert out.weights is not None
    assert_close(out.weights, expected_weights, rtol=0, atol=1e-12)
    assert_close(out.output, expected_out, rtol=0, atol=1e-12)
    attention.impl = "fused"
    fused = attention(x, positions=positions, memory=memory)
    assert fused.weights is None
    assert_close(fused.output, expected_out, rtol=0, atol=1e-12)


def test_the_relative_shift_moves_row_i_left_by_t_minus_one_minus_i():
    T, S = 4, 7  # M = 3
    scores = torch.arange(2 * T * S, dtype=torch.float64).reshape(2, 1, T, S)  # (B, H, T, S)
    shifted = relative_shift(scores)
    for i in range(T):
        for j in range(S - T + i + 1):  # every key query i may see
            assert shifted[:, :, i, j].tolist() == scores[:, :, i, j + T - 1 - i].tolist()


def test_r_rows_are_the_sinusoids_of_the_distances_in_descending_order():
    rows = RelativePositions(10, D).double()(6)  # (S, D)
    expected = torch.stack([_sinusoid(5 - r, D) for r in range(6)])
    assert_close(rows, expected.float().double(), rtol=0, atol=0)  # float32, correctly rounded
    with pytest.raises(ValueError, match="exceed max_len"):
        RelativePositions(10, D)(12)


def test_the_fused_path_has_the_reference_gradients():
    generator = torch.Generator().manual_seed(2)
    x = torch.randn(2, 4, D, generator=generator, dtype=torch.float64)
    memory = torch.randn(2, 3, D, generator=generator, dtype=torch.float64)
    positions = RelativePositions(8, D).double()(7)
    grads = {}
    for impl in ("reference", "fused"):
        attention = _attention(impl=impl)
        attention(x, positions=positions, memory=memory).output.square().sum().backward()
        grads[impl] = {name: p.grad for name, p in attention.named_parameters()}
    for name, grad in grads["reference"].items():
        assert grad is not None and grad.abs().max() > 0, name
        assert_close(grads["fused"][name], grad, rtol=0, atol=1e-12, msg=name)


def test_weights_need_the_reference_path_and_the_recorder_reads_them():
    attention = _attention(impl="fused")
    x = torch.randn(1, 3, D, dtype=torch.float64)
    positions = RelativePositions(4, D).double()(3)
    with pytest.raises(ValueError, match="need_weights=True needs impl='reference'"):
        attention(x, positions=positions, need_weights=True)
    with pytest.raises(ValueError, match=r"positions must be R for the 3 keys"):
        attention(x, positions=positions[:2])
    with recorded_attention(attention) as records:
        output = attention(x, positions=positions).output
    assert attention.impl == "fused"
    _, expected = _naive(attention, x, None)
    assert [name for name, _ in records] == [""]
    assert_close(records[0].weights, expected, rtol=0, atol=1e-12)
    assert_close(output, _naive(attention, x, None)[0], rtol=0, atol=1e-12)


@pytest.mark.parametrize("norm_first", [True, False])
def test_a_stack_with_memory_equals_one_pass_when_the_memory_holds_the_whole_past(norm_first):
    torch.manual_seed(3)
    stack = RelativeTransformerEncoder.build(
        num_layers=2, d_model=D, num_heads=H, max_length=12, dim_feedforward=20, dropout=0.0,
        norm_first=norm_first,
    ).double().eval()  # fmt: skip
    x = torch.randn(2, 9, D, dtype=torch.float64)  # (B, T, D)
    whole = stack(x)
    first = stack(x[:, :4])
    memory = next_memory(None, first.layer_inputs, memory_length=8)  # all 4 positions
    second = stack(x[:, 4:], memory=memory)
    assert_close(torch.cat([first.output, second.output], dim=1), whole.output, rtol=0,
                 atol=1e-12)  # fmt: skip
    assert_close(second.layer_inputs, whole.layer_inputs[:, :, 4:], rtol=0, atol=1e-12)
    assert (stack(x[:, 4:]).output - second.output).abs().max() > 1e-3  # the memory matters


def test_next_memory_keeps_the_last_states_detached():
    old = torch.randn(2, 1, 3, D)
    new = torch.randn(2, 1, 4, D, requires_grad=True)
    kept = next_memory(old, new, memory_length=5)
    assert not kept.requires_grad
    assert torch.equal(kept, torch.cat([old, new.detach()], dim=2)[:, :, -5:])
    assert torch.equal(next_memory(None, new, memory_length=9), new.detach())
    with pytest.raises(ValueError, match=r"memory_length \(0\) must be at least 1"):
        next_memory(None, new, memory_length=0)
