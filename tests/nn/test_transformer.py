"""Tests for seqlab.nn.transformer: layers and stacks against torch.nn, in both norm placements
and both activations; padding, causality, the per-layer decoding cache and attention weights."""

import pytest
import torch
from torch.testing import assert_close

from seqlab.nn.masks import causal_mask, padding_mask, to_torch_mask
from seqlab.nn.transformer import (
    TransformerDecoder,
    TransformerDecoderLayer,
    TransformerEncoder,
    TransformerEncoderLayer,
)

B, T, S, D, H, FF = 3, 5, 6, 8, 2, 16
DTYPE = torch.float64
TARGET_LENGTHS = torch.tensor([5, 3, 1])
MEMORY_LENGTHS = torch.tensor([6, 2, 4])
VARIANTS = [
    (norm_first, activation) for norm_first in (False, True) for activation in ("relu", "gelu")
]


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def _perturb(module):
    # LayerNorms start at ones/zeros; jitter every parameter so a swapped norm1/norm2 shows.
    with torch.no_grad():
        for p in module.parameters():
            p.add_(0.1 * torch.randn_like(p))
    return module


def _torch_encoder_layer(norm_first=False, activation="relu"):
    # Train mode with dropout 0.0 keeps torch off its eval-mode fast path (other padding rules).
    layer = torch.nn.TransformerEncoderLayer(
        D,
        H,
        FF,
        dropout=0.0,
        activation=activation,
        norm_first=norm_first,
        batch_first=True,
        dtype=DTYPE,
    )
    return _perturb(layer).train()


def _torch_decoder_layer(norm_first=False, activation="relu"):
    layer = torch.nn.TransformerDecoderLayer(
        D,
        H,
        FF,
        dropout=0.0,
        activation=activation,
        norm_first=norm_first,
        batch_first=True,
        dtype=DTYPE,
    )
    return _perturb(layer).train()


def _inputs():
    x = torch.randn(B, T, D, dtype=DTYPE)
    memory = torch.randn(B, S, D, dtype=DTYPE)
    return x, memory, padding_mask(TARGET_LENGTHS, T), padding_mask(MEMORY_LENGTHS, S)


# --- equality with torch.nn ---------------------------------------------------------------------


@pytest.mark.parametrize("impl", ["reference", "fused"])
@pytest.mark.parametrize(("norm_first", "activation"), VARIANTS)
def test_encoder_layer_equals_torch(norm_first, activation, impl):
    torch_layer = _torch_encoder_layer(norm_first, activation)
    layer = TransformerEncoderLayer.from_torch(torch_layer, impl=impl)
    assert (layer.norm_first, layer.activation_name) == (norm_first, activation)
    x, _, pad, _ = _inputs()
    expected = torch_layer(x, src_key_padding_mask=to_torch_mask(pad))
    assert_close(layer(x, key_padding_mask=pad).output, expected)


@pytest.mark.parametrize("impl", ["reference", "fused"])
@pytest.mark.parametrize(("norm_first", "activation"), VARIANTS)
def test_decoder_layer_equals_torch(norm_first, activation, impl):
    torch_layer = _torch_decoder_layer(norm_first, activation)
    layer = TransformerDecoderLayer.from_torch(torch_layer, impl=impl)
    x, memory, target_pad, memory_pad = _inputs()
    expected = torch_layer(
        x,
        memory,
        tgt_mask=to_torch_mask(causal_mask(T)),
        tgt_key_padding_mask=to_torch_mask(target_pad),
        memory_key_padding_mask=to_torch_mask(memory_pad),
    )
    ours = layer(x, memory, target_padding_mask=target_pad, memory_padding_mask=memory_pad)
    assert_close(ours.output, expected)


def test_encoder_layer_without_bias_equals_torch():
    torch_layer = torch.nn.TransformerEncoderLayer(
        D, H, FF, dropout=0.0, bias=False, batch_first=True, dtype=DTYPE
    )
    layer = TransformerEncoderLayer.from_torch(_perturb(torch_layer).train())
    assert layer.linear1.bias is None and layer.norm1.bias is None
    x, _, pad, _ = _inputs()
    expected = torch_layer(x, src_key_padding_mask=to_torch_mask(pad))
    assert_close(layer(x, key_padding_mask=pad).output, expected)


def test_encoder_layer_gradients_equal_torch():
    torch_layer = _torch_encoder_layer(norm_first=True, activation="gelu")
    layer = TransformerEncoderLayer.from_torch(torch_layer)
    x, _, pad, _ = _inputs()
    x_ours, x_torch = x.clone().requires_grad_(), x.clone().requires_grad_()
    out = layer(x_ours, key_padding_mask=pad).output
    expected = torch_layer(x_torch, src_key_padding_mask=to_torch_mask(pad))
    grad = torch.randn_like(expected)
    (out * grad).sum().backward()
    (expected * grad).sum().backward()
    assert_close(x_ours.grad, x_torch.grad)
    ours_grads = {name: p.grad for name, p in layer.named_parameters()}
    torch_grads = {name: p.grad for name, p in torch_layer.named_parameters()}
    assert_close(ours_grads, torch_grads)


def test_encoder_layer_equals_torch_in_eval_mode_without_fast_path():
    torch_layer = _torch_encoder_layer().eval()
    layer = TransformerEncoderLayer.from_torch(torch_layer).eval()
    x, _, pad, _ = _inputs()
    enabled = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        with torch.no_grad():
            expected = torch_layer(x, src_key_padding_mask=to_torch_mask(pad))
    finally:
        torch.backends.mha.set_fastpath_enabled(enabled)
    real = pad[..., None].expand(B, T, D)
    assert_close(layer(x, key_padding_mask=pad).output[real], expected[real])


@pytest.mark.parametrize("norm_first", [False, True])
def test_stacks_equal_torch(norm_first):
    norm = torch.nn.LayerNorm(D, dtype=DTYPE)
    torch_encoder = torch.nn.TransformerEncoder(
        _torch_encoder_layer(norm_first), 2, norm=norm, enable_nested_tensor=False
    )
    torch_decoder = torch.nn.TransformerDecoder(_torch_decoder_layer(norm_first), 2, norm=norm)
    _perturb(torch_encoder), _perturb(torch_decoder)  # the stacked copies start out identical
    encoder = TransformerEncoder.from_torch(torch_encoder)
    decoder = TransformerDecoder.from_torch(torch_decoder)
    x, memory, target_pad, memory_pad = _inputs()
    expected_memory = torch_encoder(memory, src_key_padding_mask=to_torch_mask(memory_pad))
    ours_memory = encoder(memory, key_padding_mask=memory_pad).output
    assert_close(ours_memory, expected_memory)
    expected = torch_decoder(
        x,
        expected_memory,
        tgt_mask=to_torch_mask(causal_mask(T)),
        tgt_key_padding_mask=to_torch_mask(target_pad),
        memory_key_padding_mask=to_torch_mask(memory_pad),
    )
    ours = decoder(x, ours_memory, target_padding_mask=target_pad, memory_padding_mask=memory_pad)
    assert_close(ours.output, expected)


# --- padding, causality, caches -----------------------------------------------------------------


@pytest.mark.parametrize("norm_first", [False, True])
def test_encoder_layer_padding_invariance(norm_first):
    layer = TransformerEncoderLayer(D, H, FF, dropout=0.0, norm_first=norm_first).double()
    x, _, pad, _ = _inputs()
    x_long = torch.cat([x, torch.randn(B, 4, D, dtype=DTYPE)], dim=1)
    pad_long = torch.cat([pad, torch.zeros(B, 4, dtype=torch.bool)], dim=1)
    short = layer(x, key_padding_mask=pad).output
    long = layer(x_long, key_padding_mask=pad_long).output
    real = pad[..., None].expand(B, T, D)
    assert_close(long[:, :T][real], short[real])


def _decoder_stack(impl="fused", norm_first=True):
    return TransformerDecoder.build(
        num_layers=2,
        d_model=D,
        num_heads=H,
        dim_feedforward=FF,
        dropout=0.0,
        norm_first=norm_first,
        impl=impl,
    ).double()


@pytest.mark.parametrize("target", ["layer", "stack"])
def test_decoder_causal_leaks_nothing_from_the_future(target):
    decoder = _decoder_stack()
    if target == "layer":
        decoder = decoder.layers[0]
    x, memory, _, memory_pad = _inputs()
    changed = x.clone()
    changed[:, 3] = torch.randn(B, D, dtype=DTYPE)  # not a constant shift: LayerNorm removes those
    before = decoder(x, memory, memory_padding_mask=memory_pad).output
    after = decoder(changed, memory, memory_padding_mask=memory_pad).output
    assert_close(after[:, :3], before[:, :3])
    assert not torch.allclose(after[:, 3:], before[:, 3:])


@pytest.mark.parametrize("impl", ["reference", "fused"])
@pytest.mark.parametrize("norm_first", [False, True])
def test_decoder_stack_cache_decoding_equals_full_pass(impl, norm_first):
    decoder = _decoder_stack(impl, norm_first).eval()
    x, memory, _, memory_pad = _inputs()
    full = decoder(x, memory, memory_padding_mask=memory_pad).output
    cache = decoder.new_cache()
    steps = []
    for t in range(T):
        assert cache.offset == t
        steps.append(
            decoder(x[:, t : t + 1], memory, memory_padding_mask=memory_pad, cache=cache).output
        )
    assert_close(torch.cat(steps, dim=1), full)
    assert [layer.cross_attn.length for layer in cache.layers] == [S, S]


def test_decoder_layer_cache_decoding_equals_full_pass():
    layer = _decoder_stack().layers[1]
    cache = _decoder_stack().new_cache().layers[0]
    x, memory, _, memory_pad = _inputs()
    full = layer(x, memory, memory_padding_mask=memory_pad).output
    steps = [layer(x[:, :1], memory, memory_padding_mask=memory_pad, cache=cache).output]
    # Memory and its padding are projected and stored on the first step only: later steps may
    # pass anything there, it is not read again.
    steps += [
        layer(x[:, t : t + 1], torch.zeros_like(memory), cache=cache).output for t in range(1, T)
    ]
    assert cache.length == T and cache.cross_attn.length == S
    assert_close(torch.cat(steps, dim=1), full)


def test_encoder_stack_cache_decoding_equals_full_causal_pass():
    # A decoder-only (GPT-style) model: encoder layers with causal self-attention and a cache.
    encoder = TransformerEncoder.build(
        num_layers=2, d_model=D, num_heads=H, dim_feedforward=FF, dropout=0.0, norm_first=True
    ).double()
    assert encoder.final_norm is not None  # pre-norm stacks get a final LayerNorm by default
    assert TransformerEncoder.build(num_layers=1, d_model=D, num_heads=H).final_norm is None
    x = torch.randn(B, T, D, dtype=DTYPE)
    full = encoder(x, causal=True).output
    cache = encoder.new_cache()
    prompt = encoder(x[:, :2], causal=True, cache=cache).output
    steps = [encoder(x[:, t : t + 1], causal=True, cache=cache).output for t in range(2, T)]
    assert_close(torch.cat([prompt, *steps], dim=1), full)


# --- attention weights and the two paths --------------------------------------------------------


def test_encoder_returns_every_layers_weights():
    encoder = TransformerEncoder.build(
        num_layers=3, d_model=D, num_heads=H, dim_feedforward=FF, dropout=0.0, impl="reference"
    ).double()
    x, _, pad, _ = _inputs()
    out = encoder(x, key_padding_mask=pad, need_weights=True)
    assert len(out.self_attn_weights) == 3
    h = x
    for layer, weights in zip(encoder.layers, out.self_attn_weights, strict=True):
        expected = layer.self_attn(h, key_padding_mask=pad, need_weights=True).weights  # post-norm
        assert_close(weights, expected)
        h = layer(h, key_padding_mask=pad).output
    assert encoder(x).self_attn_weights is None


def test_decoder_paths_agree_and_reference_returns_weights():
    decoder = _decoder_stack("fused")
    x, memory, target_pad, memory_pad = _inputs()
    fused = decoder(x, memory, target_padding_mask=target_pad, memory_padding_mask=memory_pad)
    with pytest.raises(ValueError, match="need_weights=True needs impl='reference'"):
        decoder(x, memory, need_weights=True)
    decoder.impl = "reference"  # switches every attention module in the stack
    assert {layer.cross_attn.impl for layer in decoder.layers} == {"reference"}
    ref = decoder(
        x, memory, target_padding_mask=target_pad, memory_padding_mask=memory_pad, need_weights=True
    )
    assert_close(ref.output, fused.output)
    assert fused.self_attn_weights is None and fused.cross_attn_weights is None
    assert [w.shape for w in ref.self_attn_weights] == [(B, H, T, T)] * 2
    assert [w.shape for w in ref.cross_attn_weights] == [(B, H, T, S)] * 2
    for weights in ref.cross_attn_weights:
        assert_close(weights.sum(-1), torch.ones(B, H, T, dtype=DTYPE))
        assert_close(
            weights[~memory_pad[:, None, None, :].expand(B, H, T, S)].abs().sum(),
            torch.tensor(0.0, dtype=DTYPE),
        )


def test_errors_name_the_values():
    with pytest.raises(ValueError, match="activation must be 'relu' or 'gelu', got 'tanh'"):
        TransformerEncoderLayer(D, H, activation="tanh")
    with pytest.raises(ValueError, match=r"embed_dim \(9\) must be divisible by num_heads \(2\)"):
        TransformerDecoderLayer(9, H)
    decoder = _decoder_stack()
    x, memory, _, _ = _inputs()
    cache = TransformerDecoder.build(num_layers=3, d_model=D, num_heads=H).new_cache()
    with pytest.raises(ValueError, match="cache has 3 layers but the stack has 2"):
        decoder(x, memory, cache=cache)
    torch_layer = torch.nn.TransformerEncoderLayer(D, H, activation=torch.tanh, batch_first=True)
    with pytest.raises(ValueError, match="from_torch supports relu or gelu"):
        TransformerEncoderLayer.from_torch(torch_layer)


@pytest.mark.parametrize(
    ("ours_class", "torch_class"),
    [
        (TransformerEncoderLayer, torch.nn.TransformerEncoderLayer),
        (TransformerDecoderLayer, torch.nn.TransformerDecoderLayer),
    ],
)
def test_layer_init_draws_torchs_tensors_from_the_same_seed(ours_class, torch_class):
    """Both layer kinds make their submodules in torch's order, so one seed gives one set of
    weights (the decoder's cross-attention is made right after its self-attention)."""
    torch.manual_seed(7)
    theirs = torch_class(D, H, FF, batch_first=True)
    torch.manual_seed(7)
    ours = ours_class(D, H, FF)
    expected = {
        name.replace("multihead_attn.", "cross_attn.", 1): tensor
        for name, tensor in theirs.state_dict().items()
    }
    assert list(ours.state_dict()) == list(expected)
    assert_close(ours.state_dict(), expected, rtol=0, atol=0)


@pytest.mark.parametrize("stack_class", [TransformerEncoder, TransformerDecoder])
def test_stacks_build_layers_of_their_kind_and_refuse_no_layers(stack_class):
    stack = stack_class.build(num_layers=2, d_model=D, num_heads=H, dim_feedforward=FF)
    assert [type(layer) for layer in stack.layers] == [stack_class.layer_class] * 2
    with pytest.raises(ValueError, match=f"{stack_class.__name__} needs at least one layer"):
        stack_class([])
