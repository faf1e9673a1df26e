"""Batches of a language model's token stream: random windows for a Transformer, contiguous
segments for a recurrent model trained by truncated back-propagation through time, and
non-overlapping windows that evaluate every token once.

References: nanoGPT's ``get_batch`` (Karpathy, 2022): ``ix = torch.randint(len(data) -
block_size, (batch_size,))``, ``x = data[i : i + block_size]``, ``y = data[i + 1 : i + 1 +
block_size]``; Zaremba, Sutskever and Vinyals, 2014, "Recurrent Neural Network Regularization",
and PyTorch's ``word_language_model`` example (``batchify``, ``get_batch``): the token stream is
cut into ``batch_size`` contiguous streams, read ``bptt`` steps at a time, the hidden state
carried from one segment to the next; Williams and Peng, 1990 (truncated BPTT); Merity, Keskar
and Socher, 2018, "Regularizing and Optimizing LSTM Language Models", section 4.1 (moving the
segment boundaries between epochs, which ``StreamBatches(seed=...)`` does in a simpler form).

Every batch is an :class:`LMBatch` ``(inputs, targets)`` of int64 tensors of shape (B, T),
``targets[b, t]`` the token after ``inputs[b, t]``. Batch ``index`` is a pure function of the
ids, the settings, the seed and ``index``, so a resumed run sees exactly the batches it would
have seen (the random draws use ``numpy.random.default_rng([seed, index])``, a SeedSequence:
independent, platform-stable streams, as seqlab.data.token_batches does).

- :class:`RandomWindows`: each row is a window of ``context + 1`` tokens starting anywhere in
  ``[0, len(ids) - context - 1]`` (uniform, with replacement), nanoGPT's batches.
- :class:`StreamBatches`: ``stream_length = len(ids) // batch_size`` (``seed=None``), row b of
  the streams is ``ids[b * stream_length : (b + 1) * stream_length]`` and the last
  ``len(ids) % batch_size`` tokens are not used. Segment k of an epoch has inputs = columns
  ``[k * bptt, (k + 1) * bptt)`` and targets one column later; the last segment of an epoch is
  shorter when ``stream_length - 1`` is not a multiple of ``bptt`` (T = the columns left, as in
  PyTorch's example), so an epoch has ``ceil((stream_length - 1) / bptt)`` segments and every
  token but the first of each stream is a target exactly once, in order. Global index i is
  segment ``i % segments_per_epoch`` of epoch ``i // segments_per_epoch``;
  :meth:`StreamBatches.starts_epoch` says when to reset the carried state (each stream jumps
  back to its start). With a ``seed``, epoch e starts the streams ``offset(e)`` tokens in, drawn
  uniformly from ``[0, bptt)`` by ``default_rng([seed, e])``, so segments do not cut the text at
  the same places every epoch; ``bptt - 1`` tokens are then kept in reserve
  (``stream_length = (len(ids) - bptt + 1) // batch_size``) so every epoch has the same number
  of segments.
- :func:`evaluation_windows`: windows of ``context`` inputs at ``0, context, 2 * context, ...``,
  ``batch_size`` windows a batch, then one shorter window for the targets left (a batch of its
  own, shape (1, r)): every target ``ids[1:]`` exactly once. Each window is read from its
  start, so the target at position t of a window is predicted from t + 1 tokens, not from a full
  context: the average context is about (context + 1) / 2 tokens, as in nanoGPT's
  ``estimate_loss``, whose random windows are read the same way. A sliding evaluation (every
  target with a full context) would give a lower loss at ``context`` times the cost.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import NamedTuple

import numpy as np
import torch

from seqlab.errors import SeqlabError

__all__ = [
    "LMBatch",
    "RandomWindows",
    "StreamBatches",
    "as_token_ids",
    "evaluation_windows",
]


class LMBatch(NamedTuple):
    """inputs: (B, T) int64 token ids. targets: (B, T) int64, the token after each input."""

    inputs: torch.Tensor
    targets: torch.Tensor


def as_token_ids(ids: torch.Tensor | np.ndarray | Sequence[int]) -> torch.Tensor:
    """``ids`` as a 1-D int64 CPU tensor (shared with a tensor or array when it already is one)."""
    tensor = torch.as_tensor(np.asarray(ids) if not isinstance(ids, torch.Tensor) else ids)
    if tensor.dim() != 1:
        raise ValueError(f"token ids must be 1-D, got shape {tuple(tensor.shape)}")
    return tensor.to(device="cpu", dtype=torch.int64)


def _at_least(name: str, value: int, minimum: int) -> None:
    if value < minimum:
        raise SeqlabError(f"{name} ({value}) must be at least {minimum}")


def _check_index(index: int) -> None:
    if index < 0:
        raise SeqlabError(f"batch index ({index}) must be >= 0")


class RandomWindows:
    """nanoGPT's training batches: ``batch_size`` windows at uniform random starts."""

    def __init__(
        self,
        ids: torch.Tensor | np.ndarray | Sequence[int],
        *,
        context: int,
        batch_size: int,
        seed: int,
    ) -> None:
        _at_least("context", context, 1)
        _at_least("batch_size", batch_size, 1)
        _at_least("seed", seed, 0)
        self.ids = as_token_ids(ids)
        if len(self.ids) < context + 1:
            raise SeqlabError(
                f"{len(self.ids):,} tokens cannot fill one window of context {context} (it needs "
                f"context + 1 = {context + 1} tokens); give more text or a shorter context"
            )
        self.context = context
        self.batch_size = batch_size
        self.seed = seed
        self._offsets = torch.arange(context + 1)  # (T + 1,)

    @property
    def start_count(self) -> int:
        """How many distinct window starts there are: ``len(ids) - context``."""
        return len(self.ids) - self.context

    def starts(self, index: int) -> np.ndarray:
        """(B,) the window starts of batch ``index``, each in ``[0, len(ids) - context - 1]``."""
        _check_index(index)
        rng = np.random.default_rng([self.seed, index])
        return rng.integers(0, self.start_count, size=self.batch_size)

    def batch(self, index: int) -> LMBatch:
        starts = torch.from_numpy(self.starts(index))  # (B,)
        windows = self.ids[starts.unsqueeze(1) + self._offsets]  # (B, T + 1)
        return LMBatch(inputs=windows[:, :-1], targets=windows[:, 1:])  # (B, T) each


class StreamBatches:
    """Truncated-BPTT segments of ``batch_size`` contiguous streams (see the module docstring)."""

    def __init__(
        self,
        ids: torch.Tensor | np.ndarray | Sequence[int],
        *,
        batch_size: int,
        bptt: int,
        seed: int | None = None,
    ) -> None:
        _at_least("batch_size", batch_size, 1)
        _at_least("bptt", bptt, 1)
        if seed is not None:
            _at_least("seed", seed, 0)
        self.ids = as_token_ids(ids)
        self.batch_size = batch_size
        self.bptt = bptt
        self.seed = seed
        reserve = bptt - 1 if seed is not None else 0
        self.stream_length = (len(self.ids) - reserve) // batch_size
        if self.stream_length < 2:
            extra = f" + bptt - 1 = {reserve} for the random offset" if reserve else ""
            raise SeqlabError(
                f"{len(self.ids):,} tokens cannot make {batch_size} streams of at least 2 tokens "
                f"(needs {2 * batch_size + reserve:,}: 2 x batch_size{extra}); give more text or "
                "a smaller batch_size"
            )
        self.segments_per_epoch = math.ceil((self.stream_length - 1) / bptt)

    def __len__(self) -> int:
        """Segments per epoch (the same every epoch)."""
        return self.segments_per_epoch

    @property
    def targets_per_epoch(self) -> int:
        """Tokens predicted in one epoch: ``batch_size * (stream_length - 1)``."""
        return self.batch_size * (self.stream_length - 1)

    def locate(self, index: int) -> tuple[int, int]:
        """(epoch, segment within the epoch) of global batch ``index``."""
        _check_index(index)
        return divmod(index, self.segments_per_epoch)

    def starts_epoch(self, index: int) -> bool:
        """True when batch ``index`` is an epoch's first segment: reset the carried state."""
        return self.locate(index)[1] == 0

    def offset(self, epoch: int) -> int:
        """Where the streams of ``epoch`` start in ``ids``: 0 without a seed."""
        if epoch < 0:
            raise SeqlabError(f"epoch ({epoch}) must be >= 0")
        if self.seed is None:
            return 0
        return int(np.random.default_rng([self.seed, epoch]).integers(0, self.bptt))

    def streams(self, epoch: int) -> torch.Tensor:
        """(B, stream_length) the token streams of ``epoch``, row b following row b's text."""
        start = self.offset(epoch)
        used = self.ids[start : start + self.batch_size * self.stream_length]
        return used.reshape(self.batch_size, self.stream_length)  # (B, stream_length)

    def batch(self, index: int) -> LMBatch:
        epoch, segment = self.locate(index)
        streams = self.streams(epoch)  # (B, stream_length)
        first = segment * self.bptt
        stop = min(first + self.bptt, self.stream_length - 1)
        return LMBatch(
            inputs=streams[:, first:stop].clone(),  # (B, T)
            targets=streams[:, first + 1 : stop + 1].clone(),  # (B, T)
        )


def evaluation_windows(
    ids: torch.Tensor | np.ndarray | Sequence[int], *, context: int, batch_size: int
) -> Iterator[LMBatch]:
    """Non-overlapping windows predicting every target ``ids[1:]`` once, in text order (see the
    module docstring): batches of (``batch_size``, context), then (1, r) for the r targets left."""
    _at_least("context", context, 1)
    _at_least("batch_size", batch_size, 1)
    tokens = as_token_ids(ids)
    if len(tokens) < 2:
        raise SeqlabError(
            f"{len(tokens)} token(s) leave nothing to predict; evaluation needs at least 2"
        )
    full_windows, left = divmod(len(tokens) - 1, context)
    offsets = torch.arange(context + 1)  # (T + 1,)
    for first in range(0, full_windows, batch_size):
        starts = torch.arange(first, min(first + batch_size, full_windows)) * context  # (B,)
        windows = tokens[starts.unsqueeze(1) + offsets]  # (B, T + 1)
        yield LMBatch(inputs=windows[:, :-1], targets=windows[:, 1:])
    if left:
        start = full_windows * context
        window = tokens[start:].unsqueeze(0)  # (1, r + 1)
        yield LMBatch(inputs=window[:, :-1].clone(), targets=window[:, 1:].clone())
