"""Pooling respects padding exactly, and last_state reads the right rows of torch's layout."""

from __future__ import annotations

import pytest
import torch
from torch.testing import assert_close

from seqlab.nn.pooling import first_position, last_state, masked_max, masked_mean
from seqlab.nn.recurrent import LSTM


def _batch() -> tuple[torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    x = torch.randn(3, 5, 4, dtype=torch.float64)  # (B, T, D)
    lengths = torch.tensor([5, 2, 3])
    mask = torch.arange(5)[None, :] < lengths[:, None]  # (B, T)
    return x, mask


def test_mean_and_max_equal_a_loop_over_each_sequence() -> None:
    x, mask = _batch()
    for row, length in enumerate(mask.sum(dim=1).tolist()):
        assert_close(masked_mean(x, mask)[row], x[row, :length].mean(dim=0))
        assert_close(masked_max(x, mask)[row], x[row, :length].max(dim=0).values)


def test_padding_never_changes_a_pool() -> None:
    x, mask = _batch()
    padded_x = torch.cat([x, 1e6 * torch.ones(3, 4, 4, dtype=x.dtype)], dim=1)  # (B, T + 4, D)
    padded_mask = torch.cat([mask, torch.zeros(3, 4, dtype=torch.bool)], dim=1)
    assert_close(masked_mean(padded_x, padded_mask), masked_mean(x, mask))
    assert_close(masked_max(padded_x, padded_mask), masked_max(x, mask))


def test_an_empty_row_pools_to_zeros() -> None:
    x, mask = _batch()
    mask[1] = False
    assert torch.equal(masked_mean(x, mask)[1], torch.zeros(4, dtype=x.dtype))
    assert torch.equal(masked_max(x, mask)[1], torch.zeros(4, dtype=x.dtype))


def test_first_position_is_cls() -> None:
    x, _ = _batch()
    assert torch.equal(first_position(x), x[:, 0])


def test_last_state_is_forward_end_and_reverse_start_for_a_bidirectional_stack() -> None:
    torch.manual_seed(1)
    lstm = LSTM(4, 6, num_layers=2, bidirectional=True).double()
    x, mask = _batch()
    lengths = mask.sum(dim=1)
    output, (h, _) = lstm(x, lengths=lengths)  # output (B, T, 2H)
    pooled = last_state(h, num_directions=2)  # (B, 2H)
    for row, length in enumerate(lengths.tolist()):
        assert_close(pooled[row, :6], output[row, length - 1, :6])  # forward: last real step
        assert_close(pooled[row, 6:], output[row, 0, 6:])  # reverse: back at the first step


def test_errors_name_the_shapes() -> None:
    x, mask = _batch()
    with pytest.raises(ValueError, match=r"x must be \(B, T, D\) and mask \(B, T\)"):
        masked_mean(x, mask[:, :3])
    with pytest.raises(ValueError, match="mask must be boolean"):
        masked_max(x, mask.int())
    with pytest.raises(ValueError, match="divisible by num_directions"):
        last_state(torch.zeros(3, 2, 4), num_directions=2)
