"""Batches of sentence pairs by token budget: length-bucketed for training, in order for
evaluation, with teacher-forcing targets.

References: Vaswani et al., 2017, "Attention Is All You Need", section 5.1 ("sentence pairs were
batched together by approximate sequence length; each training batch contained ... approximately
25000 source tokens and 25000 target tokens"); fairseq's ``batch_by_size`` (Ott et al., 2019):
sort by length, fill batches greedily under a token budget, shuffle the order of the batches
every epoch. Deviations from fairseq: it sorts by source length first and counts a batch as
``B * max(S, T)``; here pairs sort by target length first and a batch counts ``B * (S + T)``,
since encoder and decoder positions both take memory.

Cost of a batch: ``B * (S + T)``, padding included, where S is its longest source and T its
longest target input (a target of n subwords gives T = n + 1: BOS + y, or y + EOS). A batch never
costs more than ``max_tokens``, except a pair that alone costs more: it is a batch by itself and
listed in ``oversized`` (train on it, or drop it first with
``ParallelCorpus.without_long_pairs``).

Training order (:class:`TokenBudgetBatches`) is a pure function of (seed, global batch index),
so a resumed run continues exactly. Per epoch, with a generator seeded by (seed, epoch): permute
the pairs at random, sort them stably by (target length, source length), cut the sorted sequence
at the batch boundaries, shuffle the order of the batches. Any sort of the same lengths gives the
same sequence of lengths, so the boundaries are computed once and every epoch has the same
number of batches (global index k is batch k mod n of epoch k // n), while pairs of equal lengths
change batch from epoch to epoch. Every pair is in exactly one batch per epoch.

Sources are batched as given (a model that wants EOS on its source adds it before batching);
padding is on the right with ``pad_id``, so ``mask[b, s] == (s < source_lengths[b])``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from seqlab.errors import SeqlabError

__all__ = [
    "OrderedPairBatches",
    "PairBatch",
    "TokenBudgetBatches",
    "pack_by_budget",
    "pair_padding_fraction",
]


@dataclass(frozen=True)
class PairBatch:
    """A padded batch of sentence pairs for teacher forcing.

    source_ids: (B, S) long, right-padded with the pad id. source_lengths: (B,) long.
    target_input: (B, T) long, BOS + y. target_output: (B, T) long, y + EOS (what position t of
    target_input predicts). target_lengths: (B,) long, len(y) + 1. indices: (B,) long, each
    pair's position in the lists the batches were made from.
    """

    source_ids: torch.Tensor
    source_lengths: torch.Tensor
    target_input: torch.Tensor
    target_output: torch.Tensor
    target_lengths: torch.Tensor
    indices: torch.Tensor

    @property
    def size(self) -> int:
        return int(self.source_ids.shape[0])

    @property
    def cost(self) -> int:
        """B * (S + T): the positions the batch occupies, padding included."""
        return self.size * (int(self.source_ids.shape[1]) + int(self.target_input.shape[1]))

    @property
    def real_tokens(self) -> int:
        """Source and target positions that are not padding."""
        return int(self.source_lengths.sum()) + int(self.target_lengths.sum())

    def to(self, device: torch.device | str) -> PairBatch:
        """The same batch on ``device`` (a new object)."""
        return PairBatch(
            source_ids=self.source_ids.to(device),
            source_lengths=self.source_lengths.to(device),
            target_input=self.target_input.to(device),
            target_output=self.target_output.to(device),
            target_lengths=self.target_lengths.to(device),
            indices=self.indices.to(device),
        )


def pair_padding_fraction(batches: Sequence[PairBatch]) -> float:
    """Share of all positions over ``batches`` that are padding (0 = no waste)."""
    total = sum(batch.cost for batch in batches)
    real = sum(batch.real_tokens for batch in batches)
    return 0.0 if total == 0 else (total - real) / total


def pack_by_budget(
    source_lengths: np.ndarray,
    target_lengths: np.ndarray,
    order: np.ndarray,
    *,
    max_tokens: int,
    max_pairs: int | None = None,
) -> list[tuple[int, int]]:
    """Cut ``order`` into consecutive batches, greedily, as (start, end) positions in ``order``.

    A batch grows while ``count * (max source length + max target length) <= max_tokens`` (and
    ``count <= max_pairs``); ``target_lengths`` are the T of each pair (len(y) + 1). A pair that
    alone exceeds the budget closes the batch before it and is a batch by itself.
    """
    bounds: list[tuple[int, int]] = []
    sources = source_lengths[order].tolist()
    targets = target_lengths[order].tolist()
    limit = max_pairs if max_pairs is not None else len(sources)
    start, widest_source, widest_target = 0, 0, 0
    for position, (source, target) in enumerate(zip(sources, targets, strict=True)):
        count = position - start
        wider_source = max(widest_source, source)
        wider_target = max(widest_target, target)
        if count > 0 and (
            count >= limit or (count + 1) * (wider_source + wider_target) > max_tokens
        ):
            bounds.append((start, position))
            start, wider_source, wider_target = position, source, target
        widest_source, widest_target = wider_source, wider_target
    if sources:
        bounds.append((start, len(sources)))
    return bounds


class _Pairs:
    """Validated source and target ids shared by both batch orders."""

    def __init__(
        self,
        source_ids: Sequence[Sequence[int]],
        target_ids: Sequence[Sequence[int]],
        *,
        max_tokens: int,
        max_pairs: int | None,
        bos_id: int,
        eos_id: int,
        pad_id: int,
    ) -> None:
        if len(source_ids) != len(target_ids):
            raise SeqlabError(
                f"{len(source_ids)} sources for {len(target_ids)} targets; give one target each"
            )
        if not source_ids:
            raise SeqlabError("no sentence pairs to batch; check that the data split is not empty")
        if max_tokens < 2:
            raise SeqlabError(f"max_tokens ({max_tokens}) must be at least 2")
        if max_pairs is not None and max_pairs < 1:
            raise SeqlabError(f"max_pairs ({max_pairs}) must be at least 1")
        self.source_ids = source_ids
        self.target_ids = target_ids
        self.max_tokens = max_tokens
        self.max_pairs = max_pairs
        self.bos_id, self.eos_id, self.pad_id = bos_id, eos_id, pad_id
        self.source_lengths = np.fromiter((len(ids) for ids in source_ids), dtype=np.int64)
        self.target_lengths = np.fromiter((len(ids) + 1 for ids in target_ids), dtype=np.int64)
        if self.source_lengths.min() == 0:
            empty = int(np.argmin(self.source_lengths))
            raise SeqlabError(
                f"pair {empty} has an empty source; drop empty pairs before batching (the "
                "parallel readers skip them)"
            )
        costs = self.source_lengths + self.target_lengths
        self.oversized: tuple[int, ...] = tuple(np.flatnonzero(costs > max_tokens).tolist())

    def pack(self, order: np.ndarray) -> list[tuple[int, int]]:
        return pack_by_budget(
            self.source_lengths,
            self.target_lengths,
            order,
            max_tokens=self.max_tokens,
            max_pairs=self.max_pairs,
        )

    def collate(self, members: Sequence[int]) -> PairBatch:
        sources = [self.source_ids[i] for i in members]
        targets = [self.target_ids[i] for i in members]
        source_lengths = torch.tensor([len(ids) for ids in sources])  # (B,)
        target_lengths = torch.tensor([len(ids) + 1 for ids in targets])  # (B,)
        width_s, width_t = int(source_lengths.max()), int(target_lengths.max())
        source_real = torch.arange(width_s).unsqueeze(0) < source_lengths.unsqueeze(1)  # (B, S)
        target_real = torch.arange(width_t).unsqueeze(0) < target_lengths.unsqueeze(1)  # (B, T)
        # Boolean-mask assignment fills row by row, left to right: the concatenated sequences
        # land exactly on the real positions.
        source_ids = torch.full((len(members), width_s), self.pad_id)  # (B, S)
        source_ids[source_real] = torch.tensor([token for ids in sources for token in ids])
        target_input = torch.full((len(members), width_t), self.pad_id)  # (B, T)
        target_input[target_real] = torch.tensor(
            [token for ids in targets for token in (self.bos_id, *ids)]
        )
        target_output = torch.full((len(members), width_t), self.pad_id)  # (B, T)
        target_output[target_real] = torch.tensor(
            [token for ids in targets for token in (*ids, self.eos_id)]
        )
        return PairBatch(
            source_ids=source_ids,
            source_lengths=source_lengths,
            target_input=target_input,
            target_output=target_output,
            target_lengths=target_lengths,
            indices=torch.tensor(list(members), dtype=torch.long),  # (B,)
        )

    def oversized_notes(self) -> list[str]:
        if not self.oversized:
            return []
        first = self.oversized[0]
        cost = int(self.source_lengths[first] + self.target_lengths[first])
        return [
            f"{len(self.oversized)} pair(s) alone exceed the batch budget of {self.max_tokens:,} "
            f"tokens and form batches of one (first: pair {first}, {cost:,} tokens); raise "
            "max_tokens or drop over-long pairs before batching"
        ]


class TokenBudgetBatches:
    """Training batches under a token budget, length-bucketed, addressable by global index.

    See the module docstring for the order. ``oversized`` lists the pairs that alone exceed
    ``max_tokens`` (each is a batch by itself); ``notes()`` says so for a person.
    """

    def __init__(
        self,
        source_ids: Sequence[Sequence[int]],
        target_ids: Sequence[Sequence[int]],
        *,
        max_tokens: int,
        bos_id: int,
        eos_id: int,
        pad_id: int,
        seed: int,
        max_pairs: int | None = None,
    ) -> None:
        self._pairs = _Pairs(
            source_ids,
            target_ids,
            max_tokens=max_tokens,
            max_pairs=max_pairs,
            bos_id=bos_id,
            eos_id=eos_id,
            pad_id=pad_id,
        )
        self.seed = seed
        self.oversized = self._pairs.oversized
        self._bounds = self._pairs.pack(self._sorted(np.arange(len(source_ids))))
        self.batches_per_epoch = len(self._bounds)
        self._plan_epoch: int | None = None
        self._plan: list[np.ndarray] = []

    def __len__(self) -> int:
        """Batches per epoch (the same every epoch)."""
        return self.batches_per_epoch

    def _sorted(self, order: np.ndarray) -> np.ndarray:
        """``order`` sorted stably by (target length, source length)."""
        pairs = self._pairs
        return order[np.lexsort((pairs.source_lengths[order], pairs.target_lengths[order]))]

    def epoch_plan(self, epoch: int) -> list[np.ndarray]:
        """The pair indices of each batch of ``epoch``, in training order."""
        if epoch < 0:
            raise SeqlabError(f"epoch ({epoch}) must be >= 0")
        if self._plan_epoch != epoch:  # one epoch cached: training walks indices in order
            # SeedSequence([seed, epoch]): independent, platform-stable streams per epoch.
            rng = np.random.default_rng([self.seed, epoch])
            order = self._sorted(rng.permutation(len(self._pairs.source_lengths)))
            batches = [order[start:end] for start, end in self._bounds]
            self._plan = [batches[i] for i in rng.permutation(len(batches))]
            self._plan_epoch = epoch
        return self._plan

    def locate(self, index: int) -> tuple[int, int]:
        """(epoch, position within the epoch) of global batch ``index``."""
        if index < 0:
            raise SeqlabError(f"batch index ({index}) must be >= 0")
        return divmod(index, self.batches_per_epoch)

    def batch(self, index: int) -> PairBatch:
        """Global batch ``index`` (0, 1, 2, ... across epochs)."""
        epoch, position = self.locate(index)
        return self._pairs.collate(self.epoch_plan(epoch)[position].tolist())

    def epoch(self, epoch: int) -> Iterator[PairBatch]:
        """The batches of one epoch, in order."""
        for members in self.epoch_plan(epoch):
            yield self._pairs.collate(members.tolist())

    def notes(self) -> list[str]:
        """The pairs that alone exceed the budget, for a person (none: an empty list)."""
        return self._pairs.oversized_notes()


class OrderedPairBatches:
    """Evaluation batches under a token budget in a fixed order: every pair once.

    Pairs stay in their given order unless ``sort_by_length`` (less padding; each batch's
    ``indices`` put outputs back in order). Batches are cut greedily as in training.
    """

    def __init__(
        self,
        source_ids: Sequence[Sequence[int]],
        target_ids: Sequence[Sequence[int]],
        *,
        max_tokens: int,
        bos_id: int,
        eos_id: int,
        pad_id: int,
        sort_by_length: bool = False,
        max_pairs: int | None = None,
    ) -> None:
        self._pairs = _Pairs(
            source_ids,
            target_ids,
            max_tokens=max_tokens,
            max_pairs=max_pairs,
            bos_id=bos_id,
            eos_id=eos_id,
            pad_id=pad_id,
        )
        self.oversized = self._pairs.oversized
        order = np.arange(len(source_ids))
        if sort_by_length:
            pairs = self._pairs
            order = np.lexsort((pairs.source_lengths, pairs.target_lengths))
        self._plan = [order[start:end] for start, end in self._pairs.pack(order)]

    def __len__(self) -> int:
        return len(self._plan)

    def __getitem__(self, position: int) -> PairBatch:
        if not -len(self._plan) <= position < len(self._plan):
            raise IndexError(f"batch {position} of {len(self._plan)}")
        return self._pairs.collate(self._plan[position].tolist())

    def __iter__(self) -> Iterator[PairBatch]:
        for members in self._plan:
            yield self._pairs.collate(members.tolist())

    def notes(self) -> list[str]:
        return self._pairs.oversized_notes()
