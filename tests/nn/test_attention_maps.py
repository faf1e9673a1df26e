"""Tests for seqlab.nn.attention_maps: recorded weights against torch.nn.MultiheadAttention fed
the same inputs, the properties of a softmax over masked keys, unchanged outputs, and every
module's path and hooks restored afterwards (also after an error)."""

import pytest
import torch
from torch import nn
from torch.testing import assert_close

from seqlab.nn import (
    MultiHeadAttention,
    TransformerDecoder,
    TransformerEncoder,
    padding_mask,
    recorded_attention,
)

B, T, S, D, H = 3, 5, 4, 8, 2
DTYPE = torch.float64
LENGTHS = torch.tensor([5, 3, 1])  # every sequence keeps its first key


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def _torch_weights(attention: nn.MultiheadAttention, x, memory=None, real=None):
    """torch's per-head weights (B, H, T, S); its key_padding_mask is True at padding."""
    keys = x if memory is None else memory
    pad = None if real is None else ~real
    _, weights = attention(
        x, keys, keys, key_padding_mask=pad, need_weights=True, average_attn_weights=False
    )
    return weights


def _torch_encoder(num_layers=2):
    layer = nn.TransformerEncoderLayer(D, H, 16, dropout=0.0, batch_first=True)
    return nn.TransformerEncoder(layer, num_layers, enable_nested_tensor=False).to(DTYPE).eval()


def test_multi_head_attention_weights_equal_torch():
    reference = nn.MultiheadAttention(D, H, batch_first=True).to(DTYPE).eval()
    nn.init.normal_(reference.in_proj_bias)  # non-zero biases, so they are checked too
    ours = MultiHeadAttention.from_torch(reference, impl="fused")
    x = torch.randn(B, T, D, dtype=DTYPE)
    real = padding_mask(LENGTHS, T)  # (B, T)
    with recorded_attention(ours) as records:
        ours(x, key_padding_mask=real)
    [(name, weights)] = records
    assert name == ""  # the module itself
    assert_close(weights, _torch_weights(reference, x, real=real))


def test_encoder_stack_records_every_layer_against_torch_fed_the_same_input():
    torch_stack = _torch_encoder()
    ours = TransformerEncoder.from_torch(torch_stack, impl="fused").eval()
    x = torch.randn(B, T, D, dtype=DTYPE)
    real = padding_mask(LENGTHS, T)
    with recorded_attention(ours) as records:
        ours(x, key_padding_mask=real)
    assert [name for name, _ in records] == ["layers.0.self_attn", "layers.1.self_attn"]
    layer_input = x
    for layer, (_, weights) in zip(torch_stack.layers, records, strict=True):
        expected = _torch_weights(layer.self_attn, layer_input, real=real)  # (B, H, T, T)
        assert_close(weights, expected)
        layer_input = layer(layer_input, src_key_padding_mask=~real)  # the next layer's input


def test_weights_are_a_softmax_over_the_real_keys_only():
    ours = TransformerEncoder.build(num_layers=2, d_model=D, num_heads=H, dropout=0.0).to(DTYPE)
    real = padding_mask(LENGTHS, T)  # (B, T)
    with recorded_attention(ours.eval()) as records:
        ours(torch.randn(B, T, D, dtype=DTYPE), key_padding_mask=real)
    for _, weights in records:
        assert weights.shape == (B, H, T, T)
        assert_close(weights.sum(dim=-1), torch.ones(B, H, T, dtype=DTYPE))
        padded_keys = ~real[:, None, None, :].expand_as(weights)  # (B, H, T, T)
        assert torch.all(weights[padded_keys] == 0)
        assert torch.all(weights[~padded_keys] > 0)


def test_decoder_records_self_and_cross_attention_in_call_order_against_torch():
    layer = nn.TransformerDecoderLayer(D, H, 16, dropout=0.0, batch_first=True)
    torch_decoder = nn.TransformerDecoder(layer, 2).to(DTYPE).eval()
    decoder = TransformerDecoder.from_torch(torch_decoder, impl="fused").eval()
    x, memory = torch.randn(B, T, D, dtype=DTYPE), torch.randn(B, S, D, dtype=DTYPE)
    memory_real = padding_mask(torch.tensor([4, 2, 1]), S)  # (B, S)
    with recorded_attention(decoder) as records:
        decoder(x, memory, memory_padding_mask=memory_real)
    assert [name for name, _ in records] == [
        "layers.0.self_attn",
        "layers.0.cross_attn",
        "layers.1.self_attn",
        "layers.1.cross_attn",
    ]
    future = torch.ones(T, T, dtype=torch.bool).triu(1)  # torch's mask: True = may not attend
    layer_input = x
    for index, torch_layer in enumerate(torch_decoder.layers):
        _, self_weights = torch_layer.self_attn(
            layer_input, layer_input, layer_input, attn_mask=future, average_attn_weights=False
        )
        assert_close(records[2 * index].weights, self_weights)  # (B, H, T, T)
        # Post-norm: cross-attention reads norm1(x + SelfAttention(x)).
        query = torch_layer.norm1(
            layer_input
            + torch_layer.self_attn(layer_input, layer_input, layer_input, attn_mask=future)[0]
        )
        cross = _torch_weights(torch_layer.multihead_attn, query, memory, real=memory_real)
        assert_close(records[2 * index + 1].weights, cross)  # (B, H, T, S)
        layer_input = torch_layer(
            layer_input, memory, tgt_mask=future, memory_key_padding_mask=~memory_real
        )
    assert torch.all(records[0].weights[..., future] == 0)  # no peeking ahead


def test_step_by_step_decoding_gives_one_record_per_call():
    decoder = TransformerDecoder.build(num_layers=1, d_model=D, num_heads=H, dropout=0.0).eval()
    memory = torch.randn(1, S, D)
    cache = decoder.new_cache()
    with recorded_attention(decoder) as records:
        for _ in range(3):
            decoder(torch.randn(1, 1, D), memory, cache=cache)
    self_shapes = [tuple(w.shape) for name, w in records if name.endswith("self_attn")]
    assert self_shapes == [(1, H, 1, 1), (1, H, 1, 2), (1, H, 1, 3)]  # the cache grows
    assert len(records) == 6


def test_outputs_are_unchanged_by_recording():
    stack = TransformerEncoder.from_torch(_torch_encoder(), impl="fused").eval()
    x = torch.randn(B, T, D, dtype=DTYPE)
    real = padding_mask(LENGTHS, T)
    fused = stack(x, key_padding_mask=real).output
    stack.impl = "reference"
    reference = stack(x, key_padding_mask=real).output
    stack.impl = "fused"
    with recorded_attention(stack):
        recorded = stack(x, key_padding_mask=real)
    assert recorded.self_attn_weights is None  # the caller asked for none and gets none
    assert_close(recorded.output, reference, rtol=0, atol=0)  # the same path, the same numbers
    assert_close(recorded.output, fused)


def test_a_caller_that_asks_for_weights_still_gets_them():
    stack = TransformerEncoder.build(num_layers=2, d_model=D, num_heads=H, dropout=0.0).eval()
    x = torch.randn(B, T, D)
    with recorded_attention(stack) as records:
        output = stack(x, need_weights=True)
    assert output.self_attn_weights is not None
    for given, (_, recorded) in zip(output.self_attn_weights, records, strict=True):
        assert_close(given, recorded, rtol=0, atol=0)


def test_impl_and_hooks_are_restored_also_after_an_error():
    stack = TransformerEncoder.build(num_layers=2, d_model=D, num_heads=H, dropout=0.0).eval()
    stack.layers[1].impl = "reference"  # a mixed model keeps its mix
    attentions = [layer.self_attn for layer in stack.layers]
    with recorded_attention(stack):
        assert [a.impl for a in attentions] == ["reference", "reference"]
    assert [a.impl for a in attentions] == ["fused", "reference"]
    with pytest.raises(RuntimeError, match="inside the block"), recorded_attention(stack):
        raise RuntimeError("inside the block")
    assert [a.impl for a in attentions] == ["fused", "reference"]
    for attention in attentions:
        assert not attention._forward_hooks and not attention._forward_pre_hooks


def test_a_model_without_attention_is_refused():
    lstm = nn.LSTM(4, 4)
    with (
        pytest.raises(ValueError, match="LSTM has no MultiHeadAttention"),
        recorded_attention(lstm),
    ):
        pass
