"""Blocked sliding-window attention against full attention with the band written out as a mask
(seqlab's reference path), and its memory against the T x T matrix it avoids."""

from __future__ import annotations

from functools import partial

import pytest
import torch

from seqlab.lab.claims.peak_memory import peak_bytes
from seqlab.nn import scaled_dot_product_attention
from seqlab.nn.local_attention import local_attention, window_mask


def _qkv(B: int = 2, H: int = 3, T: int = 37, D: int = 8, seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    return [torch.randn(B, H, T, D, generator=generator, dtype=torch.float64) for _ in range(3)]


def _banded_reference(q, k, v, *, window, causal, padding=None):
    T = q.shape[-2]
    mask = window_mask(T, window, causal=causal)[None, None]  # (1, 1, T, T)
    if padding is not None:
        mask = mask & padding[:, None, None, :]
    return scaled_dot_product_attention(q, k, v, mask, impl="reference").output


def test_the_window_rule_by_hand() -> None:
    causal = window_mask(5, 3, causal=True)
    assert causal[4].tolist() == [False, False, True, True, True]  # itself and the 2 before
    assert causal[0].tolist() == [True, False, False, False, False]
    centred = window_mask(5, 3, causal=False)
    assert centred[2].tolist() == [False, True, True, True, False]  # one on each side


@pytest.mark.parametrize("causal", [True, False])
@pytest.mark.parametrize(("window", "block_size"), [(1, 4), (5, 4), (9, 8), (16, 5), (40, 64)])
def test_equals_full_attention_with_the_band_as_a_mask(causal, window, block_size) -> None:
    q, k, v = _qkv()
    expected = _banded_reference(q, k, v, window=window, causal=causal)
    got = local_attention(q, k, v, window=window, causal=causal, block_size=block_size)
    torch.testing.assert_close(got, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("causal", [True, False])
def test_a_window_covering_the_sequence_is_full_attention(causal) -> None:
    q, k, v = _qkv(T=20)
    window = 2 * 20 + 1
    full = scaled_dot_product_attention(q, k, v, causal=causal, impl="reference").output
    got = local_attention(q, k, v, window=window, causal=causal, block_size=6)
    torch.testing.assert_close(got, full, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("causal", [True, False])
def test_padding_is_respected_and_a_window_of_padding_outputs_zeros(causal) -> None:
    q, k, v = _qkv(T=30)
    padding = torch.ones(2, 30, dtype=torch.bool)
    padding[0, 22:] = False  # the first sequence is 22 tokens long
    padding[1, 3:12] = False  # a run of masked keys longer than the window
    expected = _banded_reference(q, k, v, window=4, causal=causal, padding=padding)
    got = local_attention(q, k, v, window=4, causal=causal, key_padding_mask=padding, block_size=8)
    torch.testing.assert_close(got, expected, rtol=1e-12, atol=1e-12)
    if causal:  # positions 6 to 11 of sequence 1 see only masked keys: zeros, not NaN
        assert torch.equal(got[1, :, 6:12], torch.zeros_like(got[1, :, 6:12]))


def test_gradients_equal_the_reference() -> None:
    q, k, v = (x.requires_grad_(True) for x in _qkv(T=19))
    local_attention(q, k, v, window=5, causal=True, block_size=4).square().sum().backward()
    local = [x.grad.clone() for x in (q, k, v)]
    for x in (q, k, v):
        x.grad = None
    _banded_reference(q, k, v, window=5, causal=True).square().sum().backward()
    for got, expected in zip(local, (q.grad, k.grad, v.grad), strict=True):
        torch.testing.assert_close(got, expected, rtol=1e-10, atol=1e-12)


def test_peak_memory_grows_linearly_and_stays_far_below_the_full_matrix() -> None:
    """Measured with the claims' live-tensor counter: doubling T doubles the peak (within the
    block rounding), and at T = 2,048 it is a small fraction of one full T x T score matrix."""
    peaks = {}
    for T in (512, 1024, 2048):
        q = torch.randn(1, 1, T, 8)  # (B, H, T, Dh)
        with torch.no_grad():
            peaks[T] = peak_bytes(
                partial(local_attention, q, q, q, window=16, causal=True, block_size=16),
                device="cpu",
            )
    assert peaks[2048] / peaks[1024] == pytest.approx(2.0, rel=0.05)
    assert peaks[1024] / peaks[512] == pytest.approx(2.0, rel=0.05)
    full_scores = 2048 * 2048 * 4  # one float32 T x T matrix
    assert peaks[2048] < full_scores / 10


def test_bad_arguments_are_refused_with_the_shapes() -> None:
    q, k, v = _qkv(T=8)
    with pytest.raises(ValueError, match="window \\(0\\)"):
        local_attention(q, k, v, window=0, causal=True)
    with pytest.raises(ValueError, match="key_padding_mask must be"):
        local_attention(q, k, v, window=2, causal=True, key_padding_mask=torch.ones(2, 7).bool())


def test_window_mask_after_cached_keys_places_the_queries_last() -> None:
    """Two queries after four cached keys sit at positions 4 and 5: rows 4 and 5 of the band."""
    band = window_mask(2, 3, causal=True, key_length=6)
    assert band.tolist() == [
        [False, False, True, True, True, False],
        [False, False, False, True, True, True],
    ]
    for causal in (True, False):
        assert torch.equal(
            window_mask(3, 4, causal=causal, key_length=9), window_mask(9, 4, causal=causal)[-3:]
        )


def test_dropout_on_the_weights_is_applied_and_unbiased() -> None:
    """Each draw differs from the output without dropout; the mean over 4,000 draws (one batch
    of copies) is that output: dropout scales the kept weights by 1 / (1 - p)."""
    q, k, v = (x[:1, :1].expand(4000, 1, 9, 8) for x in _qkv(T=9))  # (4000, 1, T, Dh)
    plain = local_attention(q[:1], k[:1], v[:1], window=3, causal=False, block_size=4)
    torch.manual_seed(0)
    dropped = local_attention(q, k, v, window=3, causal=False, dropout=0.5, block_size=4)
    assert (dropped[0] - plain[0]).abs().max() > 0.1
    torch.testing.assert_close(dropped.mean(0, keepdim=True), plain, rtol=0.0, atol=0.06)
