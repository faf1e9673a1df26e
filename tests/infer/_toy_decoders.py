"""Toy incremental decoders shared by the decoding and sampling tests: models whose next-token
logits are known exactly, so searches can be checked against hand computations.

MarkovTable: the next token depends on the last one only (a table of probabilities); it counts
its decode steps (`steps`) and records the tokens fed (`fed`). PrefixToy: logits are a fixed
random function of (sentence, the whole prefix), so any row mixed up by a wrong reorder, or any
sentence decoded with another's rows, gives other numbers.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import torch
from torch import Tensor

PAD, BOS, EOS = 0, 1, 2
A, B_, C, D, E = 3, 4, 5, 6, 7  # the Markov table's words (B_ : B is the batch letter)
SPECIAL = {"bos_id": BOS, "eos_id": EOS, "pad_id": PAD}


@dataclass
class LastToken:
    last: Tensor  # (B,)


class MarkovTable:
    """logits = log P[last token]: the next token depends on the last one only."""

    def __init__(self, rows: dict[int, dict[int, float]], vocab: int = 8) -> None:
        probs = torch.full((vocab, vocab), 1.0 / vocab, dtype=torch.float64)  # any other row
        for token, row in rows.items():
            probs[token] = 0.0
            for nxt, p in row.items():
                probs[token, nxt] = p
        self.log_probs = probs.log()  # (V, V), -inf where P = 0
        self.steps = 0
        self.fed: list[int] = []

    def start(self, batch: int = 1) -> LastToken:
        return LastToken(torch.full((batch,), BOS))

    def decode_step(self, tokens: Tensor, state: LastToken) -> tuple[Tensor, LastToken]:
        self.steps += 1
        self.fed.extend(tokens[:, 0].tolist())
        return self.log_probs[tokens[:, 0]], LastToken(tokens[:, 0])

    def reorder_state(self, state: LastToken, indices: Tensor) -> LastToken:
        return LastToken(state.last.index_select(0, indices))


@dataclass
class Prefixes:
    sentence: Tensor  # (B,)
    prefix: Tensor  # (B, t)


class PrefixToy:
    """logits: a fixed random function of (sentence, the whole prefix); so any row mixed up by
    a wrong reorder, or any sentence decoded with another's rows, gives other numbers."""

    def __init__(self, vocab: int = 6, scale: float = 2.0) -> None:
        self.vocab, self.scale = vocab, scale

    def logits_of(self, sentence: int, prefix: tuple[int, ...]) -> Tensor:
        generator = torch.Generator().manual_seed(zlib.crc32(repr((sentence, prefix)).encode()))
        return torch.randn(self.vocab, generator=generator, dtype=torch.float64) * self.scale

    def start(self, sentences: list[int]) -> Prefixes:
        return Prefixes(torch.tensor(sentences), torch.empty(len(sentences), 0, dtype=torch.long))

    def decode_step(self, tokens: Tensor, state: Prefixes) -> tuple[Tensor, Prefixes]:
        prefix = torch.cat([state.prefix, tokens], dim=1)
        rows = zip(state.sentence.tolist(), prefix.tolist(), strict=True)
        logits = torch.stack([self.logits_of(s, tuple(p)) for s, p in rows])
        return logits, Prefixes(state.sentence, prefix)

    def reorder_state(self, state: Prefixes, indices: Tensor) -> Prefixes:
        return Prefixes(state.sentence[indices], state.prefix[indices])
