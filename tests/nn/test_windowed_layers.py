"""Local (sliding-window) self-attention in MultiHeadAttention and the Transformer layers and
stacks, against the same modules with full attention and the band written out as an explicit
mask (seqlab.nn.local_attention.window_mask), in float64."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import Tensor, nn

from seqlab.nn import (
    KVCache,
    MultiHeadAttention,
    TransformerDecoder,
    TransformerDecoderLayer,
    TransformerEncoder,
    TransformerEncoderLayer,
    recorded_attention,
    window_mask,
)

D, H = 16, 4


def _inputs(B: int = 2, T: int = 13, seed: int = 0) -> Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(B, T, D, generator=generator, dtype=torch.float64)  # (B, T, D)


def _padding(B: int, T: int, lengths: list[int]) -> Tensor:
    return torch.arange(T)[None, :] < torch.tensor(lengths)[:, None]  # (B, T)


def _layer(cls: type, *, window: int | None, impl: str = "fused", seed: int = 0, **kwargs):
    torch.manual_seed(seed)
    layer = cls(D, H, 32, 0.0, window=window, impl=impl, **kwargs).double()
    return layer.eval()


class _BandedAttention(nn.Module):
    """Full self-attention with the band passed as an explicit attn_mask: the windowed module's
    reference."""

    def __init__(self, attn: MultiHeadAttention, band: Tensor) -> None:
        super().__init__()
        self.attn, self.band = attn, band

    def forward(self, query: Tensor, **kwargs):
        return self.attn(query, attn_mask=self.band, **kwargs)


def _full_with_band(layer: nn.Module, band: Tensor) -> nn.Module:
    """A copy of ``layer`` whose self-attention has no window but the band as a mask."""
    full = copy.deepcopy(layer)
    full.self_attn.window = None
    full.self_attn = _BandedAttention(full.self_attn, band)
    return full


def _grads(module: nn.Module) -> list[Tensor]:
    return [p.grad.clone() for p in module.parameters()]


@pytest.mark.parametrize("causal", [True, False])
@pytest.mark.parametrize("impl", ["fused", "reference"])
def test_windowed_encoder_layer_equals_full_attention_with_the_band(causal, impl) -> None:
    T, window = 13, 4
    layer = _layer(TransformerEncoderLayer, window=window, impl=impl, norm_first=True)
    full = _full_with_band(layer, window_mask(T, window, causal=causal))
    padding = _padding(2, T, [13, 9])
    x = _inputs(T=T).requires_grad_(True)
    x_full = x.detach().clone().requires_grad_(True)
    out = layer(x, key_padding_mask=padding, causal=causal).output  # (B, T, D)
    expected = full(x_full, key_padding_mask=padding, causal=causal).output  # (B, T, D)
    torch.testing.assert_close(out, expected, rtol=1e-10, atol=1e-12)
    out[padding].square().sum().backward()
    expected[padding].square().sum().backward()
    torch.testing.assert_close(x.grad, x_full.grad, rtol=1e-10, atol=1e-12)
    for got, want in zip(_grads(layer), _grads(full), strict=True):
        torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-12)
    # The band matters here: full attention without it gives something else.
    unwindowed = copy.deepcopy(layer)
    unwindowed.self_attn.window = None
    plain = unwindowed(x.detach(), key_padding_mask=padding, causal=causal).output
    assert (plain - out.detach())[padding].abs().max() > 1e-3


@pytest.mark.parametrize("causal", [True, False])
def test_fused_equals_reference_values_and_gradients(causal) -> None:
    fused = _layer(TransformerEncoderLayer, window=3)
    reference = copy.deepcopy(fused)
    reference.impl = "reference"
    padding = _padding(2, 21, [21, 15])
    x = _inputs(T=21)
    outputs = []
    for layer in (fused, reference):
        out = layer(x, key_padding_mask=padding, causal=causal).output  # (B, T, D)
        out[padding].sum().backward()
        outputs.append(out)
    torch.testing.assert_close(outputs[0], outputs[1], rtol=1e-10, atol=1e-12)
    for got, want in zip(_grads(fused), _grads(reference), strict=True):
        torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize(("causal", "window"), [(True, 11), (True, 30), (False, 21), (False, 40)])
@pytest.mark.parametrize("impl", ["fused", "reference"])
def test_a_window_covering_the_sequence_equals_full_attention(causal, window, impl) -> None:
    """Causal: w >= T reaches back to the first token; centred: w // 2 >= T - 1 both ways."""
    windowed = _layer(TransformerEncoderLayer, window=window, impl=impl)
    full = _layer(TransformerEncoderLayer, window=None, impl=impl)
    x = _inputs(T=11).float()
    padding = _padding(2, 11, [11, 6])
    got = windowed.float()(x, key_padding_mask=padding, causal=causal).output
    expected = full.float()(x, key_padding_mask=padding, causal=causal).output
    torch.testing.assert_close(got, expected, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("causal", [True, False])
def test_padded_keys_change_nothing(causal) -> None:
    """Changing the padded positions' inputs leaves every real position's output unchanged, and a
    padded batch row equals the same sequence run alone, unpadded."""
    layer = _layer(TransformerEncoderLayer, window=5)
    x = _inputs(T=17)
    padding = _padding(2, 17, [17, 10])
    out = layer(x, key_padding_mask=padding, causal=causal).output  # (B, T, D)
    noisy = x.clone()
    noisy[1, 10:] = 100.0 * torch.randn(7, D, dtype=torch.float64)
    out_noisy = layer(noisy, key_padding_mask=padding, causal=causal).output
    torch.testing.assert_close(out_noisy[padding], out[padding], rtol=1e-12, atol=1e-12)
    alone = layer(x[1:, :10], causal=causal).output  # (1, 10, D)
    torch.testing.assert_close(out[1:, :10], alone, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("causal", [True, False])
def test_reference_weights_show_the_band(causal) -> None:
    layer = _layer(TransformerEncoderLayer, window=4, impl="reference")
    T = 12
    padding = _padding(2, T, [12, 8])
    weights = layer(_inputs(T=T), key_padding_mask=padding, causal=causal, need_weights=True)[1]
    assert weights is not None and weights.shape == (2, H, T, T)
    allowed = window_mask(T, 4, causal=causal)[None, None] & padding[:, None, None, :]  # (B,1,T,T)
    assert torch.equal(weights.masked_fill(allowed, 0.0), torch.zeros_like(weights))
    assert (weights.masked_select(allowed) > 0).all()
    # Each row with a real key in its window sums to 1; a row whose window is all padding (the
    # padded queries far past the end) is zeros, as in full attention.
    row_sums = allowed.any(-1).expand(2, H, T).double()  # (B, H, T)
    assert row_sums[1, 0, -1] == 0  # such a row exists here
    torch.testing.assert_close(weights.sum(-1), row_sums, rtol=1e-12, atol=1e-12)


def test_fused_path_refuses_to_return_weights() -> None:
    layer = _layer(TransformerEncoderLayer, window=4)
    with pytest.raises(ValueError, match="need_weights=True needs impl='reference'"):
        layer(_inputs(), need_weights=True)


@pytest.mark.parametrize("impl", ["fused", "reference"])
@pytest.mark.parametrize("prefill", [1, 5])
def test_cached_decoding_with_a_window_equals_the_full_forward(impl, prefill) -> None:
    """A causal decoder stack with a window: a prefix (the blocked kernel) then one token at a
    time through the cache (the band over cached keys) equals one forward over everything."""
    torch.manual_seed(0)
    decoder = TransformerDecoder.build(
        num_layers=2, d_model=D, num_heads=H, dim_feedforward=32, dropout=0.0, window=3,
        impl=impl,
    ).double().eval()  # fmt: skip
    T, S = 11, 7
    x, memory = _inputs(T=T), _inputs(T=S, seed=1)
    memory_padding = _padding(2, S, [7, 4])
    target_padding = _padding(2, T, [11, 9])
    full = decoder(
        x, memory, target_padding_mask=target_padding, memory_padding_mask=memory_padding
    ).output  # (B, T, D)
    cache = decoder.new_cache()
    steps = [(0, prefill), *((t, t + 1) for t in range(prefill, T))]
    pieces = [
        decoder(
            x[:, start:stop], memory, target_padding_mask=target_padding[:, start:stop],
            memory_padding_mask=memory_padding, cache=cache,
        ).output
        for start, stop in steps
    ]  # fmt: skip
    assert cache.offset == T  # every key kept (masked when old), so positions count on
    real = target_padding
    torch.testing.assert_close(torch.cat(pieces, dim=1)[real], full[real], rtol=1e-10, atol=1e-12)
    # The window is in force: the same stack with full self-attention differs.
    for layer in decoder.layers:
        layer.self_attn.window = None
    unwindowed = decoder(
        x, memory, target_padding_mask=target_padding, memory_padding_mask=memory_padding
    ).output
    assert (unwindowed - full)[real].abs().max() > 1e-3


def test_a_cached_step_sees_only_the_last_window_keys() -> None:
    """One query after 9 cached keys with window 3 weights keys 7, 8 and itself (9) only, and the
    fused path (which reads only those keys) gives the reference path's output."""
    outputs = {}
    for impl in ("reference", "fused"):
        torch.manual_seed(0)
        attn = MultiHeadAttention(D, H, window=3, impl=impl).double().eval()
        cache = KVCache()
        x = _inputs(B=1, T=10)
        attn(x[:, :9], causal=True, cache=cache)
        need_weights = impl == "reference"
        outputs[impl] = attn(x[:, 9:], causal=True, cache=cache, need_weights=need_weights)
    weights = outputs["reference"].weights  # (1, H, 1, 10)
    assert weights is not None and weights.shape == (1, H, 1, 10)
    assert torch.equal(weights[..., :7], torch.zeros(1, H, 1, 7, dtype=torch.float64))
    assert (weights[..., 7:] > 0).all()
    torch.testing.assert_close(weights.sum(-1), torch.ones(1, H, 1, dtype=torch.float64))
    torch.testing.assert_close(
        outputs["fused"].output, outputs["reference"].output, rtol=1e-10, atol=1e-12
    )


def test_build_gives_every_layer_the_window_and_cross_attention_none() -> None:
    encoder = TransformerEncoder.build(num_layers=2, d_model=D, num_heads=H, window=5)
    decoder = TransformerDecoder.build(num_layers=2, d_model=D, num_heads=H, window=5)
    assert [layer.window for layer in encoder.layers] == [5, 5]
    assert [layer.self_attn.window for layer in decoder.layers] == [5, 5]
    assert [layer.cross_attn.window for layer in decoder.layers] == [None, None]
    plain = TransformerEncoder.build(num_layers=1, d_model=D, num_heads=H)
    assert plain.layers[0].window is None


def test_window_none_is_bit_for_bit_todays_layer() -> None:
    torch.manual_seed(0)
    before = TransformerDecoderLayer(D, H, 32, 0.0).eval()
    torch.manual_seed(0)
    after = TransformerDecoderLayer(D, H, 32, 0.0, window=None).eval()
    x, memory = _inputs(T=9).float(), _inputs(T=5, seed=1).float()
    assert torch.equal(before(x, memory).output, after(x, memory).output)


def test_bad_windows_are_refused() -> None:
    with pytest.raises(ValueError, match=r"window \(0\) must be at least 1"):
        MultiHeadAttention(D, H, window=0)
    attn = MultiHeadAttention(D, H, window=3)
    x = torch.randn(1, 4, D)
    with pytest.raises(ValueError, match=r"window \(3\) applies to self-attention"):
        attn(x, x)


def test_recorded_attention_shows_the_band_of_a_fused_windowed_stack() -> None:
    """recorded_attention switches to the reference path, whose weights carry the band; the
    stack's output is the fused path's and its impl comes back."""
    torch.manual_seed(0)
    encoder = TransformerEncoder.build(
        num_layers=2, d_model=D, num_heads=H, dim_feedforward=32, dropout=0.0, window=5
    ).double().eval()  # fmt: skip
    x = _inputs(T=10)
    plain = encoder(x).output
    with recorded_attention(encoder) as records:
        recorded = encoder(x).output
    assert encoder.impl == "fused" and len(records) == 2
    torch.testing.assert_close(recorded, plain, rtol=1e-10, atol=1e-12)
    outside = ~window_mask(10, 5, causal=False)  # (T, T)
    for record in records:
        assert torch.equal(
            record.weights[..., outside], torch.zeros_like(record.weights[..., outside])
        )
        assert (record.weights[..., ~outside] > 0).all()


@pytest.mark.parametrize("impl", ["fused", "reference"])
def test_an_explicit_mask_joins_the_band(impl) -> None:
    """attn_mask and window together: the keys both allow, as full attention with their AND."""
    torch.manual_seed(0)
    windowed = MultiHeadAttention(D, H, window=6, impl=impl).double().eval()
    full = copy.deepcopy(windowed)
    full.window = None
    T = 15
    explicit = torch.rand(T, T, generator=torch.Generator().manual_seed(4)) > 0.3  # (T, T)
    x = _inputs(T=T)
    got = windowed(x, attn_mask=explicit).output  # (B, T, D)
    expected = full(x, attn_mask=explicit & window_mask(T, 6, causal=False)).output
    torch.testing.assert_close(got, expected, rtol=1e-10, atol=1e-12)
    assert (full(x, attn_mask=explicit).output - got).abs().max() > 1e-3
