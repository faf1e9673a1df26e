"""Language-model batches: nanoGPT's random windows, truncated-BPTT streams, evaluation windows."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from seqlab.data.lm_batches import LMBatch, RandomWindows, StreamBatches, evaluation_windows
from seqlab.errors import SeqlabError

# Token ids equal to 100 + position: every value says where it came from.
_IDS = torch.arange(100, 150)


def test_random_windows_are_nanogpts_get_batch_with_a_seeded_generator() -> None:
    windows = RandomWindows(_IDS, context=8, batch_size=4, seed=7)
    inputs, targets = windows.batch(3)
    # nanoGPT: ix = randint(len(data) - block_size, (batch_size,)), here from SeedSequence([7, 3]).
    starts = np.random.default_rng([7, 3]).integers(0, 50 - 8, size=4)
    assert windows.starts(3).tolist() == starts.tolist()
    expected_inputs = torch.stack([_IDS[s : s + 8] for s in starts.tolist()])
    expected_targets = torch.stack([_IDS[s + 1 : s + 9] for s in starts.tolist()])
    torch.testing.assert_close(inputs, expected_inputs, rtol=0, atol=0)
    torch.testing.assert_close(targets, expected_targets, rtol=0, atol=0)
    assert inputs.dtype == torch.int64 and inputs.shape == (4, 8)


def test_random_windows_are_random_access_and_reproducible() -> None:
    first = RandomWindows(_IDS.numpy(), context=5, batch_size=3, seed=11)
    again = RandomWindows(_IDS.tolist(), context=5, batch_size=3, seed=11)
    for index in (0, 9, 1000):
        torch.testing.assert_close(first.batch(index), again.batch(index), rtol=0, atol=0)
    assert not torch.equal(first.batch(0).inputs, first.batch(1).inputs)
    other_seed = RandomWindows(_IDS, context=5, batch_size=3, seed=12)
    assert not torch.equal(first.batch(0).inputs, other_seed.batch(0).inputs)


def test_window_starts_cover_exactly_zero_to_len_minus_context_minus_one() -> None:
    # 6 tokens, context 4: starts 0 and 1 only (a start of 2 would need a 7th token as target).
    windows = RandomWindows(torch.arange(6), context=4, batch_size=64, seed=0)
    seen = set(np.concatenate([windows.starts(i) for i in range(4)]).tolist())
    assert seen == {0, 1}
    assert windows.batch(0).targets.max().item() == 5


def test_random_windows_need_context_plus_one_tokens() -> None:
    with pytest.raises(
        SeqlabError,
        match=r"5 tokens cannot fill one window of context 5 \(it needs context \+ 1 = 6 tokens\)",
    ):
        RandomWindows(torch.arange(5), context=5, batch_size=1, seed=0)
    with pytest.raises(SeqlabError, match=r"batch index \(-1\) must be >= 0"):
        RandomWindows(torch.arange(9), context=5, batch_size=1, seed=0).batch(-1)


def test_stream_batches_are_batchify_then_bptt_segments() -> None:
    # 23 tokens in 2 streams of 11 (token 22 unused); 10 targets per stream in segments of 4, 4, 2.
    ids = torch.arange(23)
    batches = StreamBatches(ids, batch_size=2, bptt=4)
    assert (batches.stream_length, len(batches), batches.targets_per_epoch) == (11, 3, 20)
    first = batches.batch(0)
    assert first.inputs.tolist() == [[0, 1, 2, 3], [11, 12, 13, 14]]
    assert first.targets.tolist() == [[1, 2, 3, 4], [12, 13, 14, 15]]
    assert batches.batch(1).inputs.tolist() == [[4, 5, 6, 7], [15, 16, 17, 18]]
    last = batches.batch(2)  # the partial last segment: 2 columns
    assert last.inputs.tolist() == [[8, 9], [19, 20]]
    assert last.targets.tolist() == [[9, 10], [20, 21]]
    # Epoch 1 repeats epoch 0 (no seed), and only its first segment starts an epoch.
    torch.testing.assert_close(batches.batch(3), first, rtol=0, atol=0)
    starts = [batches.starts_epoch(i) for i in range(7)]
    assert starts == [True, False, False, True, False, False, True]
    assert batches.locate(5) == (1, 2)


@pytest.mark.parametrize(("length", "batch_size", "bptt"), [(23, 2, 4), (40, 3, 13), (64, 4, 5)])
def test_each_epoch_predicts_every_stream_token_once_in_order(
    length: int, batch_size: int, bptt: int
) -> None:
    ids = torch.arange(1000, 1000 + length)
    batches = StreamBatches(ids, batch_size=batch_size, bptt=bptt)
    n = length // batch_size
    for epoch in range(2):
        segments = [batches.batch(epoch * len(batches) + k) for k in range(len(batches))]
        targets = torch.cat([segment.targets for segment in segments], dim=1)  # (B, n - 1)
        inputs = torch.cat([segment.inputs for segment in segments], dim=1)  # (B, n - 1)
        streams = ids[: batch_size * n].view(batch_size, n)
        torch.testing.assert_close(targets, streams[:, 1:], rtol=0, atol=0)
        torch.testing.assert_close(inputs, streams[:, :-1], rtol=0, atol=0)
        assert all(segment.inputs.shape[1] <= bptt for segment in segments)


def test_a_seed_moves_each_epochs_streams_by_a_drawn_offset() -> None:
    ids = torch.arange(500, 561)  # 61 tokens
    batches = StreamBatches(ids, batch_size=3, bptt=5, seed=4)
    # 5 - 1 = 4 tokens are kept for the offset: (61 - 4) // 3 = 19 per stream, 18 targets each.
    assert (batches.stream_length, len(batches)) == (19, 4)
    offsets = [int(np.random.default_rng([4, epoch]).integers(0, 5)) for epoch in range(6)]
    assert [batches.offset(epoch) for epoch in range(6)] == offsets
    assert len(set(offsets)) > 1
    for epoch, offset in enumerate(offsets):
        segments = [batches.batch(epoch * 4 + k) for k in range(4)]
        targets = torch.cat([segment.targets for segment in segments], dim=1)  # (B, 18)
        streams = ids[offset : offset + 3 * 19].view(3, 19)
        torch.testing.assert_close(targets, streams[:, 1:], rtol=0, atol=0)


def test_stream_batches_need_two_tokens_per_stream() -> None:
    with pytest.raises(SeqlabError, match=r"5 tokens cannot make 3 streams of at least 2 tokens"):
        StreamBatches(torch.arange(5), batch_size=3, bptt=4)
    with pytest.raises(SeqlabError, match=r"needs 10: 2 x batch_size \+ bptt - 1 = 4"):
        StreamBatches(torch.arange(9), batch_size=3, bptt=5, seed=0)
    with pytest.raises(SeqlabError, match=r"bptt \(0\) must be at least 1"):
        StreamBatches(torch.arange(9), batch_size=3, bptt=0)


def test_evaluation_windows_are_consecutive_and_batched() -> None:
    batches = list(evaluation_windows(torch.arange(12), context=3, batch_size=2))
    assert [tuple(batch.inputs.shape) for batch in batches] == [(2, 3), (1, 3), (1, 2)]
    assert all(isinstance(batch, LMBatch) for batch in batches)
    assert batches[0].inputs.tolist() == [[0, 1, 2], [3, 4, 5]]
    assert batches[0].targets.tolist() == [[1, 2, 3], [4, 5, 6]]
    assert batches[1].inputs.tolist() == [[6, 7, 8]]
    assert batches[1].targets.tolist() == [[7, 8, 9]]
    assert batches[2].inputs.tolist() == [[9, 10]]
    assert batches[2].targets.tolist() == [[10, 11]]


@pytest.mark.parametrize(
    ("length", "context", "batch_size"), [(2, 1, 1), (2, 5, 3), (31, 5, 2), (31, 6, 4), (64, 7, 3)]
)
def test_evaluation_windows_predict_every_target_exactly_once(
    length: int, context: int, batch_size: int
) -> None:
    ids = torch.arange(7, 7 + length)
    batches = list(evaluation_windows(ids, context=context, batch_size=batch_size))
    targets = torch.cat([batch.targets.reshape(-1) for batch in batches])
    inputs = torch.cat([batch.inputs.reshape(-1) for batch in batches])
    torch.testing.assert_close(targets, ids[1:], rtol=0, atol=0)
    torch.testing.assert_close(inputs, ids[:-1], rtol=0, atol=0)
    assert all(batch.inputs.shape[0] <= batch_size for batch in batches)
    assert all(batch.inputs.shape[1] <= context for batch in batches)


def test_evaluation_needs_two_tokens() -> None:
    with pytest.raises(SeqlabError, match="1 token\\(s\\) leave nothing to predict"):
        list(evaluation_windows([5], context=4, batch_size=2))
