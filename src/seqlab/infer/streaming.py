"""Streaming classification: the running label of a text as its tokens arrive.

A unidirectional recurrent classifier reads left to right, so each new token costs one step of
the carried state (the RNN's promise for streaming: O(1) work per token, no re-reading of the
prefix). A bidirectional recurrent model or a Transformer encoder needs the whole text at once,
so every update re-encodes the prefix: O(n) per token (O(n^2) attention inside the Transformer).
Both report their measured cost per token.

Tokenisation stays exact: text is committed only up to its last whitespace, so the committed
tokens are always a prefix of the whole text's tokens (WordPiece and BPE split words
independently); the unfinished last word is run on a copy of the state and never committed. The
result after every push therefore equals classifying the whole text so far.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Protocol

import torch


class StreamableClassifier(Protocol):
    """What a streaming classifier exposes (seqlab.models.classifier.SequenceClassifier)."""

    def start_stream(self) -> Any: ...

    def stream_step(self, ids: torch.Tensor, stream_state: Any) -> Any: ...

    def stream_logits(self, stream_state: Any) -> torch.Tensor: ...


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

    @property
    def seconds_per_token(self) -> float:
        return self.seconds / max(1, self.new_tokens)


class ClassifierStream:
    """``push(text)`` appends text and returns the running result; ``reset()`` starts again."""

    def __init__(
        self,
        *,
        model: torch.nn.Module,
        tokenize: Any,
        labels: list[str],
        max_length: int,
        classify_text: Any,
    ) -> None:
        self.model = model.eval()
        self.tokenize = tokenize  # text -> list of ids (no truncation)
        self.labels = labels
        self.max_length = max_length
        self.classify_text = classify_text  # text -> (C,) probabilities, the re-encoding path
        self.incremental = bool(getattr(model, "streams_incrementally", False))
        self.reset()

    def reset(self) -> None:
        self.text = ""
        self._committed_text = ""
        self._committed_ids: list[int] = []
        self._state = self.model.start_stream() if self.incremental else None
        self._last_count = 0

    @torch.no_grad()
    def push(self, text: str) -> StreamResult:
        started = time.perf_counter()
        self.text += text
        if self.incremental:
            probabilities, count = self._incremental()
            mode = "incremental"
        else:
            ids = self.tokenize(self.text)[: self.max_length]
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
        return StreamResult(self.text, count, label, scores, mode, new_tokens, seconds)

    def _incremental(self) -> tuple[torch.Tensor | None, int]:
        device = next(self.model.parameters()).device
        boundary = max(self.text.rfind(" "), self.text.rfind("\n"), self.text.rfind("\t"))
        committed_text = self.text[: boundary + 1]
        if committed_text != self._committed_text:
            ids = self.tokenize(committed_text)[: self.max_length]
            fresh = ids[len(self._committed_ids) :]
            if fresh:
                chunk = torch.tensor([fresh], device=device)  # (1, k)
                self._state = self.model.stream_step(chunk, self._state)
            self._committed_ids, self._committed_text = ids, committed_text
        all_ids = self.tokenize(self.text)[: self.max_length]
        tentative = all_ids[len(self._committed_ids) :]
        state = self._state
        if tentative:
            state = self.model.stream_step(torch.tensor([tentative], device=device), state)
        if not all_ids:
            return None, 0
        logits = self.model.stream_logits(state)  # (1, C)
        return torch.softmax(logits.float(), dim=-1)[0].cpu(), len(all_ids)
