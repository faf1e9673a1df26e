"""Streaming classification: the running label of a text as its tokens arrive.

A unidirectional recurrent classifier reads left to right, so each new token costs one step of
the carried state (the RNN's promise for streaming: O(1) work per token, no re-reading of the
prefix). A bidirectional recurrent model or a Transformer encoder needs the whole text at once,
so every update re-encodes the prefix: O(n) per token (O(n^2) attention inside the Transformer).
Both report their measured cost per token.

Tokenisation stays exact: text is committed only up to its last whitespace, so the committed
tokens are always a prefix of the whole text's tokens (the normaliser works per character, and
the pre-tokeniser splits at whitespace and punctuation before WordPiece or BPE split each word on
its own). Each push therefore tokenises only the newly committed words and the unfinished last
word, never the committed prefix; the unfinished word is run on a copy of the state and never
committed. The result after every push equals classifying the whole text so far.

Bounded: a text keeps at most ``max_chars`` characters (text pushed beyond them is dropped until
``reset`` and the result says ``clipped``), so an endless line cannot grow without limit. The
model reads only the first ``max_length`` tokens anyway.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol, Self, runtime_checkable

import torch


@runtime_checkable
class StreamableClassifier(Protocol):
    """The model a :class:`ClassifierStream` reads: a classifier (seqlab.models.classifier's
    SequenceClassifier, seqlab.models.pretrained's MiniLMClassifier) that says whether it can
    carry a state across pushes, and the calls the stream makes when it can.

    ``start_stream``, ``stream_step`` and ``stream_logits`` are called only when
    ``streams_incrementally`` is True; the stream state is the model's own summary of the prefix,
    opaque to the stream. ``eval`` and ``parameters`` are nn.Module's (evaluation mode, and the
    device the ids go to).
    """

    @property
    def streams_incrementally(self) -> bool:
        """True when one step per new token gives the same logits as re-reading the text."""
        ...

    def start_stream(self) -> Any:
        """The state of an empty prefix."""
        ...

    def stream_step(self, ids: torch.Tensor, stream: Any) -> Any:
        """The state after feeding ids (1, k) to ``stream``, which stays unchanged."""
        ...

    def stream_logits(self, stream: Any) -> torch.Tensor:
        """The logits (1, C) of the prefix ``stream`` summarises."""
        ...

    def eval(self) -> Self: ...

    def parameters(self) -> Iterator[torch.nn.Parameter]: ...


@dataclass(frozen=True)
class StreamResult:
    """The running prediction after a push."""

    text: str
    tokens: int
    label: str
    scores: dict[str, float]
    mode: str  # "incremental" (one recurrent step per new token) or "re-encode"
    new_tokens: int
    seconds: float
    clipped: bool = False  # the text reached max_chars and pushed text was dropped

    @property
    def seconds_per_token(self) -> float:
        return self.seconds / max(1, self.new_tokens)


class ClassifierStream:
    """``push(text)`` appends text and returns the running result; ``reset()`` starts again."""

    def __init__(
        self,
        *,
        model: StreamableClassifier,
        tokenize: Callable[[str], list[int]],
        labels: list[str],
        max_length: int,
        classify_text: Callable[[str], torch.Tensor],
        prefix_ids: list[int] | None = None,
        max_chars: int | None = None,
    ) -> None:
        self.model = model.eval()
        self.tokenize = tokenize  # text -> list of ids (no special tokens, no truncation)
        self.prefix_ids = list(prefix_ids or [])  # e.g. [CLS], put before the first token
        self.labels = labels
        self.max_length = max_length
        self.classify_text = classify_text  # text -> (C,) probabilities, the re-encoding path
        self.max_chars = max_chars  # None: no bound
        self.incremental = model.streams_incrementally
        self.device = next(model.parameters()).device
        self.reset()

    def reset(self) -> None:
        self.text = ""
        self._committed_chars = 0  # self.text[:_committed_chars] is in the carried state
        self._committed_ids: list[int] = []
        self._state = self.model.start_stream() if self.incremental else None
        self._last_count = 0

    def _with_prefix(self, ids: list[int]) -> list[int]:
        return self.prefix_ids + ids if ids else []

    @torch.no_grad()
    def push(self, text: str) -> StreamResult:
        started = time.perf_counter()
        clipped = False
        if self.max_chars is not None and len(self.text) + len(text) > self.max_chars:
            text, clipped = text[: max(0, self.max_chars - len(self.text))], True
        self.text += text
        if self.incremental:
            probabilities, count = self._incremental()
            mode = "incremental"
        else:
            ids = self._with_prefix(self.tokenize(self.text))[: self.max_length]
            count = len(ids)
            probabilities = self.classify_text(self.text) if ids else None
            mode = "re-encode"
        seconds = time.perf_counter() - started
        new_tokens = max(0, count - self._last_count)
        self._last_count = count
        if probabilities is None:
            scores = {label: 1.0 / len(self.labels) for label in self.labels}
        else:
            scores = {label: float(p) for label, p in zip(self.labels, probabilities, strict=True)}
        label = max(scores, key=scores.__getitem__)
        return StreamResult(self.text, count, label, scores, mode, new_tokens, seconds, clipped)

    def _step(self, ids: list[int], state: Any) -> Any:
        return self.model.stream_step(torch.tensor([ids], device=self.device), state)  # (1, k)

    def _incremental(self) -> tuple[torch.Tensor | None, int]:
        boundary = max(self.text.rfind(" "), self.text.rfind("\n"), self.text.rfind("\t")) + 1
        if boundary > self._committed_chars:
            fresh = self.tokenize(self.text[self._committed_chars : boundary])
            if not self._committed_ids:
                fresh = self._with_prefix(fresh)
            fresh = fresh[: max(0, self.max_length - len(self._committed_ids))]
            if fresh:
                self._state = self._step(fresh, self._state)
                self._committed_ids = self._committed_ids + fresh
            self._committed_chars = boundary
        tentative = self.tokenize(self.text[boundary:])
        if not self._committed_ids:
            tentative = self._with_prefix(tentative)
        tentative = tentative[: max(0, self.max_length - len(self._committed_ids))]
        state = self._step(tentative, self._state) if tentative else self._state
        count = len(self._committed_ids) + len(tentative)
        if count == 0:
            return None, 0
        logits = self.model.stream_logits(state)  # (1, C)
        return torch.softmax(logits.float(), dim=-1)[0].cpu(), count
