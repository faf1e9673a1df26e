"""The synthetic memory problems (seqlab.data.memory): layouts, targets, baselines, determinism.

Every expected value is computed by hand from the generated inputs (the answer the problem
definition implies), never read back from the generator's own targets.
"""

from __future__ import annotations

import pytest
import torch
from torch.testing import assert_close

from seqlab.data.memory import (
    MEMORY_KINDS,
    adding_batch,
    chance_level,
    copy_batch,
    memory_batch,
    recall_batch,
    sequence_length,
    vocabulary_size,
)


def _batch(
    kind: str,
    *,
    batch_size: int = 64,
    distance: int = 12,
    alphabet_size: int = 5,
    string_length: int = 4,
    seed: int = 3,
    index: int = 0,
):
    return memory_batch(
        kind,
        batch_size=batch_size,
        distance=distance,
        alphabet_size=alphabet_size,
        string_length=string_length,
        seed=seed,
        index=index,
    )


# ---- recall --------------------------------------------------------------------------------


def test_recall_target_is_the_first_symbol() -> None:
    batch = recall_batch(batch_size=200, distance=9, alphabet_size=6, seed=1, index=4)
    assert batch.inputs.dtype == torch.long and batch.inputs.shape == (200, 9)
    # The answer is the symbol at position 0, element by element.
    assert torch.equal(batch.targets, batch.inputs[:, 0])
    # Symbols are the alphabet 0..5, and all of them occur (a uniform draw of 1800 symbols).
    assert set(batch.inputs.unique().tolist()) == set(range(6))
    # Uniform first symbols: each class near 1/6 of 200 examples (binomial sd about 5.3).
    counts = torch.bincount(batch.targets, minlength=6).double()
    assert (counts - 200 / 6).abs().max() < 25


def test_recall_target_is_a_copy_not_a_view() -> None:
    batch = recall_batch(batch_size=4, distance=3, alphabet_size=4, seed=0, index=0)
    before = batch.targets.clone()
    batch.inputs[:, 0] = (batch.inputs[:, 0] + 1) % 4
    assert torch.equal(batch.targets, before)


# ---- adding --------------------------------------------------------------------------------


@pytest.mark.parametrize("distance", [2, 7, 10, 31])
def test_adding_has_one_marker_in_each_half_and_sums_the_marked_values(distance: int) -> None:
    batch = adding_batch(batch_size=300, distance=distance, seed=5, index=2)
    values, markers = batch.inputs[..., 0], batch.inputs[..., 1]  # (B, T) each
    assert batch.inputs.shape == (300, distance, 2)
    # Markers are exactly 0 or 1, exactly two per example.
    assert torch.all((markers == 0) | (markers == 1))
    assert torch.equal(markers.sum(dim=1), torch.full((300,), 2.0))
    half = distance // 2
    assert torch.equal(markers[:, :half].sum(dim=1), torch.ones(300))
    assert torch.equal(markers[:, half:].sum(dim=1), torch.ones(300))
    # Values are U(0, 1).
    assert values.min() >= 0.0 and values.max() < 1.0
    # The target is the sum of the two marked values, computed here one example at a time.
    expected = torch.tensor(
        [
            float(sum(values[b, t] for t in range(distance) if markers[b, t] == 1))
            for b in range(300)
        ]
    )
    assert_close(batch.targets, expected, rtol=0, atol=1e-6)


def test_adding_marker_positions_cover_both_halves() -> None:
    # Each marker position in each half is used (not always the first of the half, say).
    batch = adding_batch(batch_size=2000, distance=8, seed=0, index=0)
    markers = batch.inputs[..., 1]
    used = markers.sum(dim=0)  # (T,) how often each position is marked
    assert torch.all(used > 0)
    # Four positions per half, one marker per half: about 500 each (binomial sd about 19).
    assert_close(used, torch.full((8,), 500.0), rtol=0, atol=100)


def test_adding_trivial_predictor_has_mse_one_sixth() -> None:
    # Var(U1 + U2) = 2 / 12: always answering the mean sum 1.0 gives MSE 1/6 (sd of the
    # estimate over 20000 examples is about 0.0014).
    batch = adding_batch(batch_size=20_000, distance=10, seed=11, index=0)
    mse = float(((batch.targets - 1.0) ** 2).mean())
    assert mse == pytest.approx(1 / 6, abs=0.01)
    assert float(batch.targets.mean()) == pytest.approx(1.0, abs=0.01)
    assert chance_level("adding", alphabet_size=8) == pytest.approx(1 / 6)


def test_adding_needs_two_steps() -> None:
    with pytest.raises(ValueError, match=r"adding needs distance >= 2 to place two markers, got 1"):
        adding_batch(batch_size=2, distance=1, seed=0, index=0)
    with pytest.raises(ValueError, match=r"got 1"):
        _batch("adding", distance=1)


# ---- copy ----------------------------------------------------------------------------------


@pytest.mark.parametrize("distance", [1, 2, 9])
def test_copy_layout_string_blanks_delimiter_blanks(distance: int) -> None:
    alphabet, string_length, batch_size = 6, 5, 40
    batch = copy_batch(
        batch_size=batch_size,
        distance=distance,
        string_length=string_length,
        alphabet_size=alphabet,
        seed=2,
        index=1,
    )
    blank, delimiter = alphabet, alphabet + 1
    total = string_length + distance + string_length
    assert batch.inputs.shape == (batch_size, total)
    assert total == sequence_length("copy", distance=distance, string_length=string_length)
    # Build the expected row by hand from the targets, position by position.
    for row in range(batch_size):
        string = batch.targets[row].tolist()
        assert all(0 <= symbol < alphabet for symbol in string)
        expected = string + [blank] * (distance - 1) + [delimiter] + [blank] * string_length
        assert batch.inputs[row].tolist() == expected
    # The delimiter sits at position S + T - 1 and nowhere else.
    assert torch.equal(
        (batch.inputs == delimiter).nonzero()[:, 1],
        torch.full((batch_size,), string_length + distance - 1),
    )


def test_copy_needs_room_for_the_delimiter() -> None:
    with pytest.raises(
        ValueError, match=r"copy needs distance >= 1 \(room for the delimiter\), got 0"
    ):
        _batch("copy", distance=0)


# ---- the dispatcher, sizes and chance levels -----------------------------------------------


def test_memory_batch_dispatches_to_each_generator() -> None:
    recall = _batch("recall", seed=9, index=3)
    direct = recall_batch(batch_size=64, distance=12, alphabet_size=5, seed=9, index=3)
    assert torch.equal(recall.inputs, direct.inputs) and torch.equal(recall.targets, direct.targets)
    adding = _batch("adding", seed=9, index=3)
    direct = adding_batch(batch_size=64, distance=12, seed=9, index=3)
    assert torch.equal(adding.inputs, direct.inputs) and torch.equal(adding.targets, direct.targets)
    copy = _batch("copy", seed=9, index=3)
    direct = copy_batch(
        batch_size=64, distance=12, string_length=4, alphabet_size=5, seed=9, index=3
    )
    assert torch.equal(copy.inputs, direct.inputs) and torch.equal(copy.targets, direct.targets)


def test_unknown_kind_names_it_and_the_choices() -> None:
    with pytest.raises(
        ValueError, match=r"unknown memory task kind 'sorting'; choose one of recall, adding, copy"
    ):
        _batch("sorting")
    assert MEMORY_KINDS == ("recall", "adding", "copy")


@pytest.mark.parametrize("kind", MEMORY_KINDS)
def test_batches_are_a_pure_function_of_seed_and_index(kind: str) -> None:
    first = _batch(kind, seed=7, index=5)
    again = _batch(kind, seed=7, index=5)
    assert torch.equal(first.inputs, again.inputs)
    assert torch.equal(first.targets, again.targets)
    # Drawing other batches in between (or from torch's global generator) changes nothing.
    _batch(kind, seed=7, index=6)
    torch.rand(100)
    assert torch.equal(_batch(kind, seed=7, index=5).inputs, first.inputs)
    for other in (_batch(kind, seed=7, index=6), _batch(kind, seed=8, index=5)):
        assert not torch.equal(other.inputs, first.inputs)
        assert not torch.equal(other.targets, first.targets)


def test_sequence_length_and_vocabulary_size() -> None:
    assert sequence_length("recall", distance=13, string_length=4) == 13
    assert sequence_length("adding", distance=13, string_length=4) == 13
    assert sequence_length("copy", distance=13, string_length=4) == 4 + 13 + 4
    assert vocabulary_size("recall", alphabet_size=8) == 8
    assert vocabulary_size("copy", alphabet_size=8) == 10  # plus blank and delimiter
    assert vocabulary_size("adding", alphabet_size=8) == 0  # real-valued inputs
    # The copy inputs use exactly the ids vocabulary_size counts.
    batch = _batch("copy", batch_size=500, alphabet_size=3, distance=4)
    assert int(batch.inputs.max()) == vocabulary_size("copy", alphabet_size=3) - 1


@pytest.mark.parametrize("alphabet", [2, 8, 10])
def test_chance_levels(alphabet: int) -> None:
    assert chance_level("recall", alphabet_size=alphabet) == pytest.approx(1 / alphabet)
    assert chance_level("copy", alphabet_size=alphabet) == pytest.approx(1 / alphabet)
    assert chance_level("adding", alphabet_size=alphabet) == pytest.approx(2 / 12)


def test_recall_chance_level_matches_a_constant_guess() -> None:
    # Guessing symbol 0 always is right about 1/alphabet of the time.
    batch = _batch("recall", batch_size=20_000, alphabet_size=8)
    accuracy = float((batch.targets == 0).double().mean())
    assert accuracy == pytest.approx(chance_level("recall", alphabet_size=8), abs=0.01)
