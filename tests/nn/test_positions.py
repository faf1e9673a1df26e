"""Tests for seqlab.nn.positions: the sec. 3.5 sinusoidal table and learned positions."""

import math

import pytest
import torch
from torch.testing import assert_close

from seqlab.nn.positions import LearnedPositions, SinusoidalPositions


def test_sinusoidal_matches_hand_computed_values():
    d = 6
    table = SinusoidalPositions(16, d)(16)
    # pos 0: sin(0) = 0 in even columns, cos(0) = 1 in odd columns.
    assert_close(table[0], torch.tensor([0.0, 1.0, 0.0, 1.0, 0.0, 1.0]))
    assert_close(table[1, 0], torch.tensor(math.sin(1.0)))
    assert_close(table[1, 1], torch.tensor(math.cos(1.0)))
    assert_close(table[2, 2], torch.tensor(math.sin(2 / 10000 ** (2 / d))))
    assert_close(table[2, 3], torch.tensor(math.cos(2 / 10000 ** (2 / d))))
    assert_close(table[7, 5], torch.tensor(math.cos(7 / 10000 ** (4 / d))))


def test_sinusoidal_supports_odd_embed_dim():
    d = 5
    table = SinusoidalPositions(8, d)(8)
    assert table.shape == (8, 5)
    # The last column is a sine (index 4 = 2i with i = 2) without its cosine partner.
    assert_close(table[3, 4], torch.tensor(math.sin(3 / 10000 ** (4 / d))))
    assert_close(table[3, 3], torch.tensor(math.cos(3 / 10000 ** (2 / d))))


def test_sinusoidal_offset_continues_the_table():
    positions = SinusoidalPositions(10, 4)
    assert_close(positions(3, offset=5), positions(10)[5:8])


def test_sinusoidal_table_is_a_non_persistent_buffer():
    positions = SinusoidalPositions(10, 4)
    assert "table" in dict(positions.named_buffers())
    assert positions.state_dict() == {}
    assert list(positions.parameters()) == []
    assert positions.double()(2).dtype == torch.float64  # follows .to() all the same


def test_learned_positions_shape_offset_and_parameter_name():
    positions = LearnedPositions(10, 4)
    assert [name for name, _ in positions.named_parameters()] == ["weight"]
    out = positions(3, offset=2)
    assert out.shape == (3, 4)
    assert_close(out, positions.weight[2:5])


@pytest.mark.parametrize("cls", [SinusoidalPositions, LearnedPositions])
def test_positions_beyond_max_len_raise_naming_both(cls):
    positions = cls(8, 4)
    positions(8)  # exactly max_len is fine
    with pytest.raises(ValueError, match=r"positions up to 9 .* exceed max_len \(8\)"):
        positions(9)
    with pytest.raises(ValueError, match=r"positions up to 10 \(offset 6 \+ length 4\)"):
        positions(4, offset=6)
