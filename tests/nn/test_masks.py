"""Tests for seqlab.nn.masks: the one mask convention (True = may attend) and its conversion."""

import pytest
import torch
from torch.testing import assert_close

from seqlab.nn.masks import (
    append_padding_mask,
    attention_mask,
    causal_mask,
    guard_empty_rows,
    padding_mask,
    to_torch_mask,
)

T, F = True, False


def test_padding_mask_marks_real_tokens():
    mask = padding_mask(torch.tensor([3, 1, 0]), 4)
    expected = torch.tensor([[T, T, T, F], [T, F, F, F], [F, F, F, F]])
    assert_close(mask, expected)


def test_padding_mask_defaults_to_longest_length():
    assert padding_mask(torch.tensor([2, 5])).shape == (2, 5)


def test_padding_mask_rejects_length_beyond_max_len():
    with pytest.raises(ValueError, match=r"a length \(5\) exceeds max_len \(4\)"):
        padding_mask(torch.tensor([2, 5]), 4)


def test_causal_mask_square_is_lower_triangle():
    assert_close(causal_mask(4), torch.ones(4, 4, dtype=torch.bool).tril())


def test_causal_mask_queries_are_the_last_positions_by_default():
    # 2 new queries over 4 keys: queries sit at positions 2 and 3.
    expected = torch.tensor([[T, T, T, F], [T, T, T, T]])
    assert_close(causal_mask(2, 4), expected)
    assert_close(causal_mask(2, 4, offset=2), expected)


def test_causal_mask_explicit_offset_zero_is_top_left():
    expected = torch.tensor([[T, F, F, F], [T, T, F, F]])
    assert_close(causal_mask(2, 4, offset=0), expected)


def test_causal_mask_more_queries_than_keys_needs_offset():
    with pytest.raises(ValueError, match=r"key_len \(2\) is shorter than query_len \(3\)"):
        causal_mask(3, 2)
    with pytest.raises(ValueError, match=r"offset \(-1\) must be >= 0"):
        causal_mask(2, 2, offset=-1)


def test_attention_mask_combines_padding_causal_and_explicit():
    key_padding = torch.tensor([[T, T, F], [T, F, F]])  # (B=2, S=3)
    explicit = torch.tensor([[T, T, T], [F, T, T], [T, T, T]])  # (T=3, S=3)
    mask = attention_mask(
        key_padding_mask=key_padding, attn_mask=explicit, causal=True, query_len=3, key_len=3
    )
    assert mask.shape == (2, 1, 3, 3)
    expected = key_padding[:, None, None, :] & explicit & causal_mask(3)
    assert_close(mask, expected)
    # Spelled out for the second sequence: only key 0 is real; query 1 is also barred from it.
    assert_close(mask[1, 0], torch.tensor([[T, F, F], [F, F, F], [T, F, F]]))


def test_attention_mask_explicit_masks_become_4d():
    per_batch = torch.rand(2, 3, 4) > 0.5  # (B, T, S): the same for every head
    assert_close(attention_mask(attn_mask=per_batch), per_batch[:, None])
    per_head = torch.rand(2, 2, 3, 4) > 0.5  # (B, H, T, S)
    assert_close(attention_mask(attn_mask=per_head), per_head)


def test_attention_mask_padding_only_broadcasts_over_queries():
    key_padding = torch.tensor([[T, F]])
    mask = attention_mask(key_padding_mask=key_padding)
    assert_close(mask, torch.tensor([[[[T, F]]]]))


def test_attention_mask_none_when_nothing_to_mask():
    assert attention_mask() is None


def test_attention_mask_rejects_float_masks_and_wrong_lengths():
    with pytest.raises(TypeError, match="key_padding_mask must be a bool tensor"):
        attention_mask(key_padding_mask=torch.ones(2, 3))
    with pytest.raises(ValueError, match=r"key_padding_mask covers 3 keys but there are 4"):
        attention_mask(key_padding_mask=torch.ones(2, 3, dtype=torch.bool), key_len=4)


def test_append_padding_mask_fills_missing_sides_with_real():
    new = torch.tensor([[F], [T]])
    out = append_padding_mask(None, new, cached_len=2, new_len=1, batch_size=2)
    assert_close(out, torch.tensor([[T, T, F], [T, T, T]]))
    assert append_padding_mask(None, None, cached_len=2, new_len=1, batch_size=2) is None


def test_guard_empty_rows_opens_only_empty_rows():
    mask = torch.tensor([[T, F], [F, F]])
    safe, has_key = guard_empty_rows(mask)
    assert_close(safe, torch.tensor([[T, F], [T, T]]))
    assert_close(has_key, torch.tensor([[T], [F]]))


def test_to_torch_mask_ignore_form_inverts():
    mask = torch.tensor([[T, F, T]])
    assert_close(to_torch_mask(mask), torch.tensor([[F, T, F]]))


def test_to_torch_mask_additive_form():
    mask = torch.tensor([[T, F]])
    out = to_torch_mask(mask, form="additive", dtype=torch.float64)
    assert_close(out, torch.tensor([[0.0, float("-inf")]], dtype=torch.float64))


def test_to_torch_mask_rejects_unknown_form():
    with pytest.raises(ValueError, match="form must be 'ignore' or 'additive', got 'bool'"):
        to_torch_mask(torch.ones(1, 1, dtype=torch.bool), form="bool")
