"""Translating lists of encoded sentences: batches under a token budget, the model's encoder
once per batch, then greedy or beam search (seqlab.infer.decoding) over its decoder.

Sentences are sorted longest first so each batch holds similar lengths (little padding) and
the first batch shows at once whether the budget fits in memory; results come back in input
order. A batch's cost is counted as decoding would spend it: rows (sentences x beam) times
(longest source + its output limit).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

import torch
from torch import nn

from seqlab.infer.decoding import Hypothesis, beam_search, greedy_search, max_output_lengths
from seqlab.models.seq2seq import Seq2SeqModel


@dataclass(frozen=True)
class SearchSettings:
    """How to decode: beam_size (1: greedy), length_penalty (GNMT's alpha), the output limit
    ``max_length_a * source length + max_length_b``, the batch budget in tokens, and whether the
    Transformer decoder reads its key/value cache (False: recompute the prefix every step)."""

    beam_size: int = 4
    length_penalty: float = 1.0
    max_length_a: float = 1.5
    max_length_b: int = 10
    max_tokens: int = 12_000
    use_cache: bool = True


def _output_limit(model: nn.Module) -> int | None:
    """The most tokens the model can emit before EOS: a Transformer's position table holds
    BOS plus max_len - 1 outputs; a recurrent decoder has no limit."""
    config = getattr(model, "config", None)
    max_len = getattr(config, "max_len", None)
    return None if max_len is None else int(max_len) - 1


def _batches(
    lengths: Sequence[int], limits: Sequence[int], rows: int, max_tokens: int
) -> list[list[int]]:
    """Sentence indices in batches, longest first, each under ``max_tokens`` (a sentence over
    it alone is a batch by itself)."""
    order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
    batches: list[list[int]] = []
    current: list[int] = []
    widest = 0
    for index in order:
        width = max(widest, lengths[index] + limits[index])
        if current and (len(current) + 1) * rows * width > max_tokens:
            batches.append(current)
            current, width = [], lengths[index] + limits[index]
        current.append(index)
        widest = width
    if current:
        batches.append(current)
    return batches


@torch.no_grad()
def translate_ids(
    model: nn.Module,
    sources: Sequence[Sequence[int]],
    settings: SearchSettings,
    *,
    bos_id: int,
    eos_id: int,
    pad_id: int,
) -> list[Hypothesis]:
    """The best hypothesis for each source (ids with EOS), in input order."""
    if not sources:
        return []
    network = cast(Seq2SeqModel, model)
    device = next(model.parameters()).device
    lengths = [len(source) for source in sources]
    limit = _output_limit(model)
    limits = max_output_lengths(
        torch.tensor(lengths),
        max_length_a=settings.max_length_a,
        max_length_b=settings.max_length_b,
    )  # (N,)
    if limit is not None:
        limits = limits.clamp(max=limit)
    results: list[Hypothesis | None] = [None] * len(sources)
    for members in _batches(lengths, limits.tolist(), settings.beam_size, settings.max_tokens):
        longest = max(lengths[i] for i in members)
        source_ids = torch.full((len(members), longest), pad_id, dtype=torch.long)  # (B, S)
        for row, index in enumerate(members):
            source_ids[row, : lengths[index]] = torch.tensor(sources[index])
        source_lengths = torch.tensor([lengths[i] for i in members])  # (B,)
        state = network.start_decoding(
            source_ids.to(device), source_lengths.to(device), use_cache=settings.use_cache
        )
        search: dict[str, Any] = {
            "max_lengths": limits[members].to(device),
            "bos_id": bos_id,
            "eos_id": eos_id,
            "pad_id": pad_id,
            "length_penalty": settings.length_penalty,
        }
        if settings.beam_size == 1:
            found = greedy_search(network, state, **search)
        else:
            found = beam_search(network, state, beam_size=settings.beam_size, **search)
        for index, hypothesis in zip(members, found, strict=True):
            results[index] = hypothesis
    return [hypothesis for hypothesis in results if hypothesis is not None]
