"""Length-bucketed batches of token ids, padded, with masks; random access for exact resumption.

References: the "bucket iterator" of torchtext and fairseq (Ott et al., 2019, "fairseq: A Fast,
Extensible Toolkit for Sequence Modeling", batching by length) and the sort-within-a-pool scheme
of the tensor2tensor / Annotated Transformer ``rebatch`` (Rush, 2018): shuffle, cut into pools of
many batches, sort each pool by length, cut it into batches, shuffle the batches. Sorting only
within pools keeps the batches random across an epoch while most sequences share a batch with
others of nearly their length, so little compute goes to padding.

Mask convention (DESIGN.md, convention 4): boolean, True = real token. Padding sits at the end of
each row (right padding), so ``mask[b, t] == (t < lengths[b])``.

Training order is a pure function of (seed, epoch): :meth:`BucketedBatches.batch` maps a global
batch index k to (epoch, position) = divmod(k, batches_per_epoch), and a fresh object built from
the same data and seed returns the same batch for the same k, which is what resuming needs.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from seqlab.errors import SeqlabError

__all__ = [
    "BucketedBatches",
    "OrderedBatches",
    "TokenBatch",
    "pad_batch",
    "padding_fraction",
]


@dataclass(frozen=True)
class TokenBatch:
    """A padded batch of token sequences.

    ids: (B, T) long, right-padded with the pad id; T is the longest sequence in the batch.
    lengths: (B,) long, real tokens per row (each >= 1).
    labels: (B,) long class ids, or None for unlabelled text.
    mask: (B, T) bool, True = real token.
    indices: (B,) long, each row's position in the example list the batches were made from (eval
    batches can be length-sorted; predictions are put back in file order with these).
    """

    ids: torch.Tensor
    lengths: torch.Tensor
    labels: torch.Tensor | None
    mask: torch.Tensor
    indices: torch.Tensor

    @property
    def size(self) -> int:
        return int(self.ids.shape[0])

    def to(self, device: torch.device | str) -> TokenBatch:
        """The same batch on ``device`` (a new object; this one stays where it is)."""
        return TokenBatch(
            ids=self.ids.to(device),
            lengths=self.lengths.to(device),
            labels=None if self.labels is None else self.labels.to(device),
            mask=self.mask.to(device),
            indices=self.indices.to(device),
        )


def pad_batch(
    sequences: Sequence[Sequence[int]],
    *,
    pad_id: int,
    labels: Sequence[int] | None = None,
    indices: Sequence[int] | None = None,
) -> TokenBatch:
    """Pad ``sequences`` on the right into one :class:`TokenBatch`.

    ``indices`` default to 0..B-1. Empty sequences are an error: a recurrent network cannot pack a
    length-0 row, and attention over no key gives NaN.
    """
    if not sequences:
        raise SeqlabError("cannot make a batch of no sequences")
    lengths_list = [len(seq) for seq in sequences]
    if min(lengths_list) == 0:
        empty = lengths_list.index(0)
        raise SeqlabError(
            f"sequence {empty if indices is None else indices[empty]} has no tokens; drop empty "
            "texts before batching or encode them with add_cls=True"
        )
    if labels is not None and len(labels) != len(sequences):
        raise SeqlabError(f"{len(labels)} labels for {len(sequences)} sequences; give one each")
    lengths = torch.tensor(lengths_list, dtype=torch.long)  # (B,)
    width = int(lengths.max())
    mask = torch.arange(width).unsqueeze(0) < lengths.unsqueeze(1)  # (B, T)
    ids = torch.full((len(sequences), width), pad_id, dtype=torch.long)  # (B, T)
    # Boolean-mask assignment fills row by row, left to right: the concatenated sequences land
    # exactly on the True positions. One tensor copy instead of B small ones.
    ids[mask] = torch.tensor([token for seq in sequences for token in seq], dtype=torch.long)
    return TokenBatch(
        ids=ids,
        lengths=lengths,
        labels=None if labels is None else torch.tensor(list(labels), dtype=torch.long),  # (B,)
        mask=mask,
        indices=torch.tensor(
            list(indices) if indices is not None else range(len(sequences)), dtype=torch.long
        ),  # (B,)
    )


def length_groups(lengths: Sequence[int], *, max_padding: float = 0.2) -> list[list[int]]:
    """Indices of ``lengths`` cut into groups of similar length, for one model call each: sorted
    by length, a group closes when the next sequence would make its padded cells exceed
    ``(1 + max_padding)`` times its real tokens. A Transformer computes every padded cell (masked
    keys are still multiplied), so a batch of 32 SST-2 sentences padded to its longest spends
    about 44% of its work on padding; cut this way it spends at most ``max_padding``, at the cost
    of a few more, smaller calls (on a MiniLM, 0.2 took a 32-sentence batch from 440 to 290 ms).
    """
    if max_padding < 0:
        raise ValueError(f"max_padding must be >= 0, got {max_padding}")
    groups: list[list[int]] = []
    group: list[int] = []
    real = 0
    for index in sorted(range(len(lengths)), key=lengths.__getitem__):
        length = lengths[index]
        if group and length * (len(group) + 1) > (1 + max_padding) * (real + length):
            groups.append(group)
            group, real = [], 0
        group.append(index)
        real += length
    if group:
        groups.append(group)
    return groups


def padding_fraction(batches: Sequence[TokenBatch]) -> float:
    """Share of all (B x T) positions over ``batches`` that are padding (0 = no waste)."""
    total = sum(batch.mask.numel() for batch in batches)
    real = sum(int(batch.lengths.sum()) for batch in batches)
    return 0.0 if total == 0 else (total - real) / total


class _Examples:
    """Validated sequences and labels shared by both batch orders."""

    def __init__(
        self,
        sequences: Sequence[Sequence[int]],
        labels: Sequence[int] | None,
        *,
        batch_size: int,
        pad_id: int,
    ) -> None:
        if batch_size < 1:
            raise SeqlabError(f"batch_size ({batch_size}) must be at least 1")
        if not sequences:
            raise SeqlabError("no examples to batch; check that the data split is not empty")
        if labels is not None and len(labels) != len(sequences):
            raise SeqlabError(
                f"{len(labels)} labels for {len(sequences)} sequences; give one label each"
            )
        self.sequences = sequences
        self.labels = labels
        self.batch_size = batch_size
        self.pad_id = pad_id
        self.lengths = np.fromiter((len(seq) for seq in sequences), dtype=np.int64)
        if self.lengths.min() == 0:
            empty = int(np.argmin(self.lengths))
            raise SeqlabError(
                f"example {empty} has no tokens; drop empty texts before batching or encode them "
                "with add_cls=True"
            )

    def collate(self, members: Sequence[int]) -> TokenBatch:
        return pad_batch(
            [self.sequences[i] for i in members],
            pad_id=self.pad_id,
            labels=None if self.labels is None else [self.labels[i] for i in members],
            indices=members,
        )


class BucketedBatches:
    """Training batches, length-bucketed, reshuffled every epoch, addressable by global index.

    Per epoch, with a generator seeded by (seed, epoch): shuffle all examples; cut them into
    pools of ``pool_batches * batch_size``; sort each pool by length (stable); cut each pool into
    batches of ``batch_size``; shuffle the order of all the epoch's batches. Every example is in
    exactly one batch per epoch; only the last pool can leave one short batch, which is kept
    unless ``drop_last``. ``pool_batches=1`` is plain random batching (sorting within one batch
    changes nothing), the baseline the padding test compares against.
    """

    def __init__(
        self,
        sequences: Sequence[Sequence[int]],
        labels: Sequence[int] | None = None,
        *,
        batch_size: int,
        pad_id: int,
        seed: int,
        pool_batches: int = 50,
        drop_last: bool = False,
    ) -> None:
        if pool_batches < 1:
            raise SeqlabError(f"pool_batches ({pool_batches}) must be at least 1")
        self._examples = _Examples(sequences, labels, batch_size=batch_size, pad_id=pad_id)
        self.seed = seed
        self.pool_batches = pool_batches
        self.drop_last = drop_last
        count = len(sequences)
        self.batches_per_epoch = count // batch_size if drop_last else math.ceil(count / batch_size)
        if self.batches_per_epoch == 0:
            raise SeqlabError(
                f"{count} examples make no full batch of {batch_size} with drop_last=True; "
                "lower batch_size or set drop_last=False"
            )
        self._plan_epoch: int | None = None
        self._plan: list[np.ndarray] = []

    def __len__(self) -> int:
        """Batches per epoch."""
        return self.batches_per_epoch

    def epoch_plan(self, epoch: int) -> list[np.ndarray]:
        """The example indices of each batch of ``epoch``, in training order."""
        if epoch < 0:
            raise SeqlabError(f"epoch ({epoch}) must be >= 0")
        if self._plan_epoch != epoch:  # one epoch cached: training walks indices in order
            self._plan = self._make_plan(epoch)
            self._plan_epoch = epoch
        return self._plan

    def _make_plan(self, epoch: int) -> list[np.ndarray]:
        # SeedSequence([seed, epoch]) gives independent, platform-stable streams per epoch.
        rng = np.random.default_rng([self.seed, epoch])
        examples = self._examples
        order = rng.permutation(len(examples.lengths))
        pool_size = examples.batch_size * self.pool_batches
        batches: list[np.ndarray] = []
        for start in range(0, len(order), pool_size):
            pool = order[start : start + pool_size]
            pool = pool[np.argsort(examples.lengths[pool], kind="stable")]
            batches.extend(
                pool[i : i + examples.batch_size] for i in range(0, len(pool), examples.batch_size)
            )
        if self.drop_last and len(batches[-1]) < examples.batch_size:
            batches.pop()
        return [batches[i] for i in rng.permutation(len(batches))]

    def locate(self, index: int) -> tuple[int, int]:
        """(epoch, position within the epoch) of global batch ``index``."""
        if index < 0:
            raise SeqlabError(f"batch index ({index}) must be >= 0")
        return divmod(index, self.batches_per_epoch)

    def batch(self, index: int) -> TokenBatch:
        """Global batch ``index`` (0, 1, 2, ... across epochs)."""
        epoch, position = self.locate(index)
        return self._examples.collate(self.epoch_plan(epoch)[position].tolist())

    def epoch(self, epoch: int) -> Iterator[TokenBatch]:
        """The batches of one epoch, in order."""
        for members in self.epoch_plan(epoch):
            yield self._examples.collate(members.tolist())


class OrderedBatches:
    """Evaluation batches in a fixed order: every example exactly once, the last batch kept.

    By default examples stay in their given order; ``sort_by_length=True`` groups similar lengths
    (much less padding on a large split), and each batch's ``indices`` put predictions back in
    order.
    """

    def __init__(
        self,
        sequences: Sequence[Sequence[int]],
        labels: Sequence[int] | None = None,
        *,
        batch_size: int,
        pad_id: int,
        sort_by_length: bool = False,
    ) -> None:
        self._examples = _Examples(sequences, labels, batch_size=batch_size, pad_id=pad_id)
        count = len(sequences)
        order = (
            np.argsort(self._examples.lengths, kind="stable")
            if sort_by_length
            else np.arange(count)
        )
        self._plan = [order[i : i + batch_size] for i in range(0, count, batch_size)]

    def __len__(self) -> int:
        return len(self._plan)

    def __getitem__(self, position: int) -> TokenBatch:
        if not -len(self._plan) <= position < len(self._plan):
            raise IndexError(f"batch {position} of {len(self._plan)}")
        return self._examples.collate(self._plan[position].tolist())

    def __iter__(self) -> Iterator[TokenBatch]:
        for members in self._plan:
            yield self._examples.collate(members.tolist())
