"""Sentence-pair batches by token budget (seqlab.data.token_batches): teacher-forcing layout,
budget, every pair once per epoch, random access, padding against random batching.

Lengths are drawn from a seeded generator shaped like Multi30k's subword lengths (source and
target of 8 to 40 tokens, correlated), so every number below is exact for that seed.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
import torch

from seqlab.data.token_batches import (
    OrderedPairBatches,
    PairBatch,
    TokenBudgetBatches,
    pack_by_budget,
    pair_padding_fraction,
)
from seqlab.errors import SeqlabError

PAD, BOS, EOS = 0, 2, 3


def _corpus(count: int, seed: int = 0) -> tuple[list[list[int]], list[list[int]]]:
    """Pairs whose ids encode (pair index, position), so a batch row can be traced back."""
    rng = np.random.default_rng(seed)
    source_lengths = rng.integers(8, 41, size=count)
    target_lengths = np.clip(source_lengths + rng.integers(-4, 5, size=count), 5, 44)
    sources = [[10 + (k * 7 + t) % 990 for t in range(n)] for k, n in enumerate(source_lengths)]
    targets = [[10 + (k * 11 + t) % 990 for t in range(n)] for k, n in enumerate(target_lengths)]
    return sources, targets


def _batches(sources, targets, **kwargs) -> TokenBudgetBatches:
    settings = {"max_tokens": 1000, "bos_id": BOS, "eos_id": EOS, "pad_id": PAD, "seed": 7}
    return TokenBudgetBatches(sources, targets, **(settings | kwargs))


def test_a_batch_holds_source_and_shifted_targets_right_padded():
    sources = [[11, 12, 13], [21]]
    targets = [[31, 32], [41, 42, 43, 44]]
    batch = OrderedPairBatches(
        sources, targets, max_tokens=100, bos_id=BOS, eos_id=EOS, pad_id=PAD
    )[0]
    expected = PairBatch(
        source_ids=torch.tensor([[11, 12, 13], [21, PAD, PAD]]),
        source_lengths=torch.tensor([3, 1]),
        target_input=torch.tensor([[BOS, 31, 32, PAD, PAD], [BOS, 41, 42, 43, 44]]),
        target_output=torch.tensor([[31, 32, EOS, PAD, PAD], [41, 42, 43, 44, EOS]]),
        target_lengths=torch.tensor([3, 5]),
        indices=torch.tensor([0, 1]),
    )
    for name in ("source_ids", "source_lengths", "target_input", "target_output"):
        torch.testing.assert_close(getattr(batch, name), getattr(expected, name), rtol=0, atol=0)
    torch.testing.assert_close(batch.target_lengths, expected.target_lengths, rtol=0, atol=0)
    torch.testing.assert_close(batch.indices, expected.indices, rtol=0, atol=0)
    assert batch.source_ids.dtype == batch.target_input.dtype == torch.long
    assert (batch.cost, batch.real_tokens) == (2 * (3 + 5), 3 + 1 + 3 + 5)


def test_every_pair_exactly_once_per_epoch_and_rows_match_their_pairs():
    sources, targets = _corpus(3000)
    batches = _batches(sources, targets)
    for epoch in range(3):
        seen: Counter[int] = Counter()
        for batch in batches.epoch(epoch):
            for row, index in enumerate(batch.indices.tolist()):
                seen[index] += 1
                length = int(batch.source_lengths[row])
                assert batch.source_ids[row, :length].tolist() == sources[index]
                target_length = int(batch.target_lengths[row])
                assert batch.target_output[row, : target_length - 1].tolist() == targets[index]
        assert sorted(seen) == list(range(3000))
        assert set(seen.values()) == {1}


def test_no_batch_over_budget_and_the_number_of_batches_is_fixed():
    sources, targets = _corpus(3000)
    batches = _batches(sources, targets, max_tokens=1000)
    assert batches.oversized == ()
    assert len(batches) == 159  # exact for this corpus and budget
    for epoch in range(3):
        costs = [batch.cost for batch in batches.epoch(epoch)]
        assert len(costs) == 159
        assert max(costs) <= 1000
        # Greedy filling of sorted pairs leaves little of the budget unused: 967.6 on average.
        assert np.mean(costs) == pytest.approx(967.58, abs=0.01)


def test_a_pair_over_the_budget_is_alone_and_reported():
    sources, targets = _corpus(200)
    sources[17] = list(range(10, 110))  # 100 source tokens
    targets[17] = list(range(10, 70))  # 60 target tokens: with EOS, 161 in all
    batches = _batches(sources, targets, max_tokens=150)
    assert batches.oversized == (17,)
    alone = [b for b in batches.epoch(0) if 17 in b.indices.tolist()]
    assert len(alone) == 1 and alone[0].size == 1 and alone[0].cost == 161
    others = [b.cost for b in batches.epoch(0) if 17 not in b.indices.tolist()]
    assert max(others) <= 150
    assert batches.notes() == [
        "1 pair(s) alone exceed the batch budget of 150 tokens and form batches of one (first: "
        "pair 17, 161 tokens); raise max_tokens or drop over-long pairs before batching"
    ]


def test_batch_i_is_a_pure_function_of_seed_and_index():
    sources, targets = _corpus(1000)
    first = _batches(sources, targets)
    count = len(first)
    # A fresh object (a resumed run) asked for indices out of order, across epochs.
    second = _batches(sources, targets)
    for index in (3 * count + 5, 0, count - 1, count, 2 * count + 1, 7):
        a, b = first.batch(index), second.batch(index)
        torch.testing.assert_close(a.source_ids, b.source_ids, rtol=0, atol=0)
        torch.testing.assert_close(a.target_output, b.target_output, rtol=0, atol=0)
        torch.testing.assert_close(a.indices, b.indices, rtol=0, atol=0)
    assert first.locate(2 * count + 1) == (2, 1)
    # The global index walks epoch by epoch.
    assert [first.batch(count + i).indices.tolist() for i in range(count)] == [
        batch.indices.tolist() for batch in first.epoch(1)
    ]


def test_epochs_differ_and_seeds_differ():
    sources, targets = _corpus(1000)
    batches = _batches(sources, targets)
    epoch0 = [tuple(b.indices.tolist()) for b in batches.epoch(0)]
    epoch1 = [tuple(b.indices.tolist()) for b in batches.epoch(1)]
    assert epoch0 != epoch1
    # Pairs of equal lengths change batch between epochs, not just the batch order.
    assert set(map(frozenset, epoch0)) != set(map(frozenset, epoch1))
    other = [tuple(b.indices.tolist()) for b in _batches(sources, targets, seed=8).epoch(0)]
    assert epoch0 != other


def test_padding_is_far_below_random_batching():
    sources, targets = _corpus(3000)
    bucketed = _batches(sources, targets, max_tokens=1000)
    bucketed_padding = pair_padding_fraction(list(bucketed.epoch(0)))
    # The baseline: the same greedy budget over a random order (no sorting).
    lengths_s = np.array([len(s) for s in sources])
    lengths_t = np.array([len(t) + 1 for t in targets])
    order = np.random.default_rng(7).permutation(3000)
    random_cost = sum(
        (end - start) * (lengths_s[order[start:end]].max() + lengths_t[order[start:end]].max())
        for start, end in pack_by_budget(lengths_s, lengths_t, order, max_tokens=1000)
    )
    random_padding = 1 - (lengths_s.sum() + lengths_t.sum()) / random_cost
    # 3.2 % of the positions are padding against 36.3 %: an eleventh. The fraction is the same
    # every epoch, since only pairs of equal lengths trade places.
    assert bucketed_padding == pytest.approx(0.03205, abs=1e-5)
    assert pair_padding_fraction(list(bucketed.epoch(1))) == pytest.approx(0.03205, abs=1e-5)
    assert random_padding == pytest.approx(0.36311, abs=1e-5)


def test_max_pairs_caps_the_batch_size():
    sources, targets = _corpus(500)
    batches = _batches(sources, targets, max_tokens=100_000, max_pairs=64)
    sizes = [batch.size for batch in batches.epoch(0)]
    assert max(sizes) == 64 and sum(sizes) == 500 and len(sizes) == 8


def test_evaluation_batches_keep_order_or_sort_with_indices():
    sources, targets = _corpus(500)
    in_order = OrderedPairBatches(
        sources, targets, max_tokens=1000, bos_id=BOS, eos_id=EOS, pad_id=PAD
    )
    assert [i for b in in_order for i in b.indices.tolist()] == list(range(500))
    assert max(b.cost for b in in_order) <= 1000
    assert in_order[-1].indices.tolist() == list(in_order)[-1].indices.tolist()
    by_length = OrderedPairBatches(
        sources, targets, max_tokens=1000, bos_id=BOS, eos_id=EOS, pad_id=PAD, sort_by_length=True
    )
    assert sorted(i for b in by_length for i in b.indices.tolist()) == list(range(500))
    assert pair_padding_fraction(list(in_order)) == pytest.approx(0.35701, abs=1e-5)
    assert pair_padding_fraction(list(by_length)) == pytest.approx(0.07183, abs=1e-5)
    with pytest.raises(IndexError):
        in_order[len(in_order)]


def test_bad_inputs_are_errors():
    with pytest.raises(SeqlabError, match="2 sources for 1 targets"):
        _batches([[5], [6]], [[7]])
    with pytest.raises(SeqlabError, match="pair 1 has an empty source"):
        _batches([[5], []], [[7], [8]])
    with pytest.raises(SeqlabError, match="no sentence pairs to batch"):
        _batches([], [])
    with pytest.raises(SeqlabError, match=r"max_tokens \(1\) must be at least 2"):
        _batches([[5]], [[7]], max_tokens=1)
    # An empty target is allowed: BOS in, EOS out.
    batch = _batches([[5]], [[]]).batch(0)
    assert batch.target_input.tolist() == [[BOS]] and batch.target_output.tolist() == [[EOS]]
