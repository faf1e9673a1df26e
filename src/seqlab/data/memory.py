"""Synthetic long-range memory problems, generated on the fly from a seed.

Each problem puts the information the answer needs ``distance`` steps before the step where the
answer is read, so training a model on it at several distances measures how far back it can learn
to remember.

- recall: ``distance`` random symbols; the answer, read after the last one, is the first symbol.
  Chance accuracy is 1 / alphabet size.
- adding (Hochreiter and Schmidhuber, 1997, "Long Short-Term Memory", experiment 4; the form of
  Le et al., 2015): ``distance`` values drawn from U(0, 1), each with a marker channel; exactly two
  are marked, one in each half, and the answer is their sum. Predicting the mean sum 1.0 always
  gives MSE = Var(U1 + U2) = 2/12 ≈ 0.167, the trivial baseline.
- copy (Arjovsky, Shah and Bengio, 2016, "Unitary Evolution Recurrent Neural Networks", sec. 4.1):
  ``string_length`` random symbols, then ``distance`` blanks whose last is replaced by a delimiter,
  then ``string_length`` blanks during which the model must reproduce the string. Chance accuracy
  per symbol is 1 / alphabet size.

Every batch is a pure function of (seed, index), so a resumed run sees exactly the batches it
would have seen, and evaluation sets are fixed for a seed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch

MemoryKind = Literal["recall", "adding", "copy"]
MEMORY_KINDS: tuple[str, ...] = ("recall", "adding", "copy")


@dataclass(frozen=True)
class MemoryBatch:
    """One batch of a memory problem.

    inputs: (B, T) symbol ids for recall and copy; (B, T, 2) (value, marker) for adding.
    targets: (B,) class ids for recall; (B,) sums for adding; (B, S) symbol ids for copy, the
    string the model must emit at the last S steps.
    """

    inputs: torch.Tensor
    targets: torch.Tensor


def sequence_length(kind: str, *, distance: int, string_length: int) -> int:
    """Total input length T of one example."""
    if kind == "copy":
        return string_length + distance + string_length
    return distance


def vocabulary_size(kind: str, *, alphabet_size: int) -> int:
    """Number of input symbol ids: the alphabet, plus blank and delimiter for copy; 0 for adding."""
    if kind == "recall":
        return alphabet_size
    if kind == "copy":
        return alphabet_size + 2
    return 0


def chance_level(kind: str, *, alphabet_size: int) -> float:
    """The metric a model that learned nothing gets: accuracy for recall/copy, MSE for adding."""
    if kind == "adding":
        return 1.0 / 6.0
    return 1.0 / alphabet_size


def _generator(seed: int, index: int) -> torch.Generator:
    # Mix seed and batch index into one 63-bit seed; distinct (seed, index) pairs give distinct
    # streams, and the same pair always gives the same batch.
    generator = torch.Generator()
    generator.manual_seed((seed * 1_000_003 + index * 7_919 + 12_345) % (2**63 - 1))
    return generator


def recall_batch(
    *, batch_size: int, distance: int, alphabet_size: int, seed: int, index: int
) -> MemoryBatch:
    generator = _generator(seed, index)
    symbols = torch.randint(alphabet_size, (batch_size, distance), generator=generator)  # (B, T)
    return MemoryBatch(inputs=symbols, targets=symbols[:, 0].clone())  # targets (B,)


def adding_batch(*, batch_size: int, distance: int, seed: int, index: int) -> MemoryBatch:
    if distance < 2:
        raise ValueError(f"adding needs distance >= 2 to place two markers, got {distance}")
    generator = _generator(seed, index)
    values = torch.rand(batch_size, distance, generator=generator)  # (B, T)
    half = distance // 2
    first = torch.randint(half, (batch_size,), generator=generator)  # (B,)
    second = half + torch.randint(distance - half, (batch_size,), generator=generator)  # (B,)
    markers = torch.zeros(batch_size, distance)  # (B, T)
    rows = torch.arange(batch_size)
    markers[rows, first] = 1.0
    markers[rows, second] = 1.0
    inputs = torch.stack([values, markers], dim=-1)  # (B, T, 2)
    targets = values[rows, first] + values[rows, second]  # (B,)
    return MemoryBatch(inputs=inputs, targets=targets)


def copy_batch(
    *,
    batch_size: int,
    distance: int,
    string_length: int,
    alphabet_size: int,
    seed: int,
    index: int,
) -> MemoryBatch:
    if distance < 1:
        raise ValueError(f"copy needs distance >= 1 (room for the delimiter), got {distance}")
    generator = _generator(seed, index)
    blank, delimiter = alphabet_size, alphabet_size + 1
    string = torch.randint(
        alphabet_size, (batch_size, string_length), generator=generator
    )  # (B, S)
    total = string_length + distance + string_length
    inputs = torch.full((batch_size, total), blank, dtype=torch.long)  # (B, S + T + S)
    inputs[:, :string_length] = string
    inputs[:, string_length + distance - 1] = delimiter
    return MemoryBatch(inputs=inputs, targets=string.clone())


def memory_batch(
    kind: str,
    *,
    batch_size: int,
    distance: int,
    alphabet_size: int,
    string_length: int,
    seed: int,
    index: int,
) -> MemoryBatch:
    """Batch number ``index`` of the stream for ``seed``."""
    if kind == "recall":
        return recall_batch(
            batch_size=batch_size,
            distance=distance,
            alphabet_size=alphabet_size,
            seed=seed,
            index=index,
        )
    if kind == "adding":
        return adding_batch(batch_size=batch_size, distance=distance, seed=seed, index=index)
    if kind == "copy":
        return copy_batch(
            batch_size=batch_size,
            distance=distance,
            string_length=string_length,
            alphabet_size=alphabet_size,
            seed=seed,
            index=index,
        )
    raise ValueError(f"unknown memory task kind {kind!r}; choose one of {', '.join(MEMORY_KINDS)}")
