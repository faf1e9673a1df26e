"""Task-free decoding: greedy search and beam search over any model that decodes a token a step.

The model is anything with `decode_step` and `reorder_state` (`IncrementalDecoder`): an
encoder-decoder (seqlab.models.seq2seq) whose state holds the encoded source, or a language model
whose state holds only its own past. Both searches are batched over sentences and drop a
sentence's rows from the batch (through reorder_state) as soon as its search is over. Sampling
(seqlab.infer.sampling) runs through the same token-by-token loop as greedy search.

References:
- Sutskever, Vinyals and Le 2014, "Sequence to Sequence Learning with Neural Networks", sec. 3.1:
  left-to-right beam search over partial hypotheses, a hypothesis leaving the beam when it emits
  EOS.
- Wu et al. 2016, "Google's Neural Machine Translation System" (GNMT), sec. 7: the length
  penalty lp(Y) = ((5 + |Y|) / 6)^alpha and the score s(Y, X) = log P(Y | X) / lp(Y). Their
  coverage penalty is not used (beta = 0).
- fairseq's SequenceGenerator (Ott et al. 2019): the candidate rule (2K candidates a step; EOS
  among the best K finishes a hypothesis, the best K others continue), the stop rule (K finished
  hypotheses) and the length limit a * source_length + b.

What is scored (both searches): a hypothesis Y = y_1 .. y_n EOS has |Y| = n + 1 (its final EOS
counts), log P(Y | X) = sum of the |Y| log-probabilities log softmax(logits)[y_t], and
score = log P(Y | X) / lp(|Y|), alpha = `length_penalty` (0: the plain log-probability, which
favours short outputs; larger alpha favours longer ones). Returned tokens are y_1 .. y_n: no BOS,
no EOS. BOS and pad are never generated (their log-probabilities are set to -inf after the
softmax, so every score is still the model's log-probability); a sentence given max_length n gets
at most n tokens, and at that point EOS is forced (its own log-probability is still scored).
Log-probabilities are computed and summed in float64, whatever the model's dtype.

Beam search with beam size K, every step and every sentence:
1. each of the K live hypotheses is extended by every token; the 2K candidates with the highest
   log P (not yet length-normalised: all have the same length) are taken;
2. a candidate ending in EOS ranked among the best K finishes (it joins the sentence's finished
   hypotheses with its score); the best K candidates not ending in EOS are the next live beam;
3. the sentence's search ends when it has K finished hypotheses, or earlier when no live
   hypothesis can still beat its best finished one: any completion of a live hypothesis has
   log P <= the live log P <= 0 and |Y| <= max_length + 1, so for alpha >= 0 its score is at most
   live log P / lp(max_length + 1); stopping on this bound never changes the answer the
   K-finished rule gives;
4. the answer is the finished hypothesis with the highest score (the earliest among equals).
With K = 1 this is exactly greedy search.

Shape legend (the repository's): B sentences, K beam size, V vocabulary, t tokens so far.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from itertools import count
from typing import NamedTuple, Protocol, TypeVar

import torch
from torch import Tensor

__all__ = [
    "Hypothesis",
    "IncrementalDecoder",
    "beam_search",
    "greedy_search",
    "length_penalty_factor",
    "max_output_lengths",
]

StateT = TypeVar("StateT")


class IncrementalDecoder(Protocol[StateT]):
    """A model that decodes one token a step from a state of its own making.

    The first step feeds BOS to a state the model made (an encoder-decoder's start_decoding).
    A state passed to either call must not be used again: use the one returned.
    """

    def decode_step(self, tokens: Tensor, state: StateT) -> tuple[Tensor, StateT]:
        """tokens (B, 1), the latest token of each row -> (logits (B, V) of the next token, the
        new state)."""
        ...

    def reorder_state(self, state: StateT, indices: Tensor) -> StateT:
        """Row b of the result is row indices[b] of state; indices (B',) may select, repeat
        and drop rows."""
        ...


@dataclass(frozen=True)
class Hypothesis:
    """One decoded sentence (see the module docstring for what is scored)."""

    tokens: tuple[int, ...]  # y_1 .. y_n, without BOS and EOS
    log_prob: float  # log P(Y | X), the final EOS's log-probability included
    score: float  # log_prob / lp(n + 1)


def length_penalty_factor(length: int, alpha: float) -> float:
    """GNMT's lp(|Y|) = ((5 + |Y|) / 6)^alpha; |Y| counts the final EOS."""
    return ((5.0 + length) / 6.0) ** alpha


def max_output_lengths(source_lengths: Tensor, *, max_length_a: float, max_length_b: int) -> Tensor:
    """Each sentence's length limit, floor(max_length_a * source_length + max_length_b): (B,)
    int64 on source_lengths' device. A language model passes max_length_a = 0."""
    if max_length_a < 0 or max_length_b < 0:
        raise ValueError(
            f"max_length_a ({max_length_a}) and max_length_b ({max_length_b}) must be >= 0"
        )
    limits = torch.floor(source_lengths.double() * max_length_a + max_length_b)  # (B,)
    return limits.long()  # (B,)


def _check_search(max_lengths: Tensor, length_penalty: float, vocabulary: dict[str, int]) -> None:
    if max_lengths.dim() != 1 or max_lengths.numel() == 0:
        raise ValueError(
            f"max_lengths must have shape (B,) with B >= 1, got {tuple(max_lengths.shape)}"
        )
    if max_lengths.dtype.is_floating_point or max_lengths.dtype == torch.bool:
        raise ValueError(f"max_lengths must hold integers, got dtype {max_lengths.dtype}")
    if int(max_lengths.min()) < 0:
        raise ValueError(f"max_lengths must be >= 0, got {max_lengths.tolist()}")
    if length_penalty < 0:
        raise ValueError(
            f"length_penalty ({length_penalty}) must be >= 0 (GNMT's alpha; 0 switches it off)"
        )
    for name, token in vocabulary.items():
        if token < 0:
            raise ValueError(f"{name} ({token}) must be a token id >= 0")


def _next_log_probs(
    logits: Tensor, *, forbidden: list[int], eos_id: int, at_limit: Tensor
) -> Tensor:
    """log softmax of logits (rows, V) in float64, with `forbidden` tokens at -inf, and only EOS
    left where at_limit (rows,) is True."""
    log_probs = torch.log_softmax(logits.double(), dim=-1)  # (rows, V)
    log_probs[:, forbidden] = float("-inf")
    not_eos = torch.ones(log_probs.shape[1], dtype=torch.bool, device=log_probs.device)  # (V,)
    not_eos[eos_id] = False
    blocked = at_limit[:, None] & not_eos[None, :]  # (rows, V)
    return log_probs.masked_fill(blocked, float("-inf"))  # (rows, V)


def _forbidden(bos_id: int, eos_id: int, pad_id: int) -> list[int]:
    # A model whose BOS is also its EOS (one boundary token) must still be able to end.
    return sorted({bos_id, pad_id} - {eos_id})


def _most_likely(log_probs: Tensor) -> Tensor:
    return log_probs.argmax(dim=-1)  # (rows,)


def greedy_search(
    model: IncrementalDecoder[StateT],
    state: StateT,
    *,
    max_lengths: Tensor,
    bos_id: int,
    eos_id: int,
    pad_id: int,
    length_penalty: float = 0.0,
) -> list[Hypothesis]:
    """The most likely next token, every step: one Hypothesis per sentence, in input order.

    state: the model's state for B sentences (rows); max_lengths (B,): each sentence's limit
    (max_output_lengths); the first tokens fed (BOS) are made on max_lengths' device.
    length_penalty only normalises the reported score (greedy choices ignore it).
    """
    return _token_by_token(
        model,
        state,
        choose=_most_likely,
        max_lengths=max_lengths,
        bos_id=bos_id,
        eos_id=eos_id,
        pad_id=pad_id,
        length_penalty=length_penalty,
    )


def _token_by_token(
    model: IncrementalDecoder[StateT],
    state: StateT,
    *,
    choose: Callable[[Tensor], Tensor],
    max_lengths: Tensor,
    bos_id: int,
    eos_id: int,
    pad_id: int,
    length_penalty: float,
) -> list[Hypothesis]:
    """One hypothesis per sentence, extended by `choose`(log-probabilities (rows, V)) -> the
    chosen tokens (rows,) until EOS: greedy search chooses the most likely token, and
    seqlab.infer.sampling's sample_search draws one instead; everything else (limits, EOS forcing,
    scores, dropping ended rows) is this loop. `choose` is given only the rows not at their limit,
    with BOS and pad already at -inf.
    """
    _check_search(
        max_lengths, length_penalty, {"bos_id": bos_id, "eos_id": eos_id, "pad_id": pad_id}
    )
    device = max_lengths.device
    limits = max_lengths  # (B,) of the sentences still decoding
    sentences = torch.arange(len(max_lengths), device=device)  # (B,) each row's sentence
    results: dict[int, Hypothesis] = {}
    forbidden = _forbidden(bos_id, eos_id, pad_id)
    tokens = torch.full((len(max_lengths), 1), bos_id, device=device)  # (B, 1)
    generated = torch.empty(len(max_lengths), 0, dtype=torch.long, device=device)  # (B, 0)
    log_prob = torch.zeros(len(max_lengths), dtype=torch.float64, device=device)  # (B,)
    with torch.no_grad():
        for step in count():
            logits, state = model.decode_step(tokens, state)  # (B, V)
            at_limit = limits == step  # (B,)
            log_probs = _next_log_probs(
                logits, forbidden=forbidden, eos_id=eos_id, at_limit=at_limit
            )  # (B, V)
            # At the limit EOS is the only choice, even where the model gives it probability 0;
            # `choose` sees only the other rows, so a sampler never draws for a row whose token is
            # fixed (nor from a row that may have no probability left).
            chosen = torch.full_like(sentences, eos_id)  # (B,)
            free = ~at_limit  # (B,)
            if bool(free.any()):
                chosen[free] = choose(log_probs[free])  # (B',)
            log_prob = log_prob + log_probs.gather(1, chosen[:, None]).squeeze(1)  # (B,)
            generated = torch.cat([generated, chosen[:, None]], dim=1)  # (B, t)
            ended = chosen == eos_id  # (B,)
            for row in ended.nonzero().flatten().tolist():
                total = float(log_prob[row])
                results[int(sentences[row])] = Hypothesis(
                    tuple(generated[row, :-1].tolist()),
                    total,
                    total / length_penalty_factor(step + 1, length_penalty),
                )
            if bool(ended.all()):
                break
            if bool(ended.any()):
                keep = (~ended).nonzero().flatten()  # (B',)
                state = model.reorder_state(state, keep)
                sentences, limits = sentences[keep], limits[keep]  # (B',)
                generated, log_prob, chosen = generated[keep], log_prob[keep], chosen[keep]
            tokens = chosen[:, None]  # (B, 1)
    return [results[sentence] for sentence in range(len(max_lengths))]


def beam_search(
    model: IncrementalDecoder[StateT],
    state: StateT,
    *,
    beam_size: int,
    max_lengths: Tensor,
    bos_id: int,
    eos_id: int,
    pad_id: int,
    length_penalty: float = 0.0,
) -> list[Hypothesis]:
    """Beam search (the rule is the module docstring's): the best Hypothesis per sentence, in
    input order.

    state: the model's state for B sentences (one row each; the search repeats each row K times
    through reorder_state); max_lengths (B,): each sentence's limit (max_output_lengths); the
    first tokens fed (BOS) are made on max_lengths' device. length_penalty: GNMT's alpha >= 0.
    """
    _check_search(
        max_lengths, length_penalty, {"bos_id": bos_id, "eos_id": eos_id, "pad_id": pad_id}
    )
    if isinstance(beam_size, bool) or not isinstance(beam_size, int) or beam_size < 1:
        raise ValueError(f"beam_size must be a positive int, got {beam_size!r}")
    K, B, device = beam_size, len(max_lengths), max_lengths.device
    forbidden = _forbidden(bos_id, eos_id, pad_id)
    limits = max_lengths  # (B,) of the sentences still searching
    sentences = list(range(B))  # each searching sentence's input position
    finished: list[list[Hypothesis]] = [[] for _ in range(B)]
    rows = torch.arange(B, device=device).repeat_interleave(K)  # (B*K,)
    live = torch.full((B, K), float("-inf"), dtype=torch.float64, device=device)  # (B, K)
    live[:, 0] = 0.0  # one live hypothesis (BOS) per sentence, so no beam repeats another
    tokens = torch.full((B * K, 1), bos_id, device=device)  # (B*K, 1)
    generated = torch.empty(B * K, 0, dtype=torch.long, device=device)  # (B*K, 0)
    with torch.no_grad():
        state = model.reorder_state(state, rows)
        for step in count():
            logits, state = model.decode_step(tokens, state)  # (B*K, V)
            at_limit = (limits == step).repeat_interleave(K)  # (B*K,)
            log_probs = _next_log_probs(
                logits, forbidden=forbidden, eos_id=eos_id, at_limit=at_limit
            )  # (B*K, V)
            best = _best_candidates(live, log_probs)  # (B, 2K) each
            for i, row, total in _finishing(best, eos_id=eos_id, beam_size=K):
                score = total / length_penalty_factor(step + 1, length_penalty)
                finished[sentences[i]].append(
                    Hypothesis(tuple(generated[row].tolist()), total, score)
                )
            going_on = _continuing(best, eos_id=eos_id, beam_size=K)  # (B, K) each
            live = going_on.log_prob  # (B, K)
            searching = [
                i
                for i, sentence in enumerate(sentences)
                if not _search_over(finished[sentence], live[i], int(limits[i]), K, length_penalty)
            ]
            if not searching:
                break
            keep = torch.tensor(searching, device=device)  # (B',)
            selected = going_on.parent[keep].flatten()  # (B'*K,)
            state = model.reorder_state(state, selected)
            tokens = going_on.token[keep].view(-1, 1)  # (B'*K, 1)
            generated = torch.cat([generated[selected], tokens], dim=1)  # (B'*K, t)
            live, limits = live[keep], limits[keep]  # (B', K), (B',)
            sentences = [sentences[i] for i in searching]
    return [_best(hypotheses) for hypotheses in finished]


class _Candidates(NamedTuple):
    """Extensions of the live hypotheses, best first in each sentence's row."""

    log_prob: Tensor  # (B, N) log P of the extended hypothesis
    parent: Tensor  # (B, N) the batch row (b * K + beam) it extends
    token: Tensor  # (B, N) the token it adds


def _best_candidates(live: Tensor, log_probs: Tensor) -> _Candidates:
    """Step 1: live (B, K) log P and next-token log_probs (B*K, V) -> the 2K best extensions."""
    B, K = live.shape
    V = log_probs.shape[1]
    candidates = (live.view(-1, 1) + log_probs).view(B, K * V)  # (B, K*V)
    top, index = candidates.topk(min(2 * K, K * V), dim=1)  # (B, 2K)
    first_row = torch.arange(B, device=live.device)[:, None] * K  # (B, 1)
    return _Candidates(top, first_row + index // V, index % V)  # (B, 2K) each


def _finishing(best: _Candidates, *, eos_id: int, beam_size: int) -> list[tuple[int, int, float]]:
    """Step 2's finished hypotheses: (sentence index in the batch, parent row, log P) of each
    finite candidate ending in EOS among the best beam_size."""
    ranks = torch.arange(best.token.shape[1], device=best.token.device)  # (2K,)
    ending = (best.token == eos_id) & (ranks < beam_size) & torch.isfinite(best.log_prob)
    return [
        (i, int(best.parent[i, j]), float(best.log_prob[i, j]))
        for i, j in ending.nonzero().tolist()
    ]


def _continuing(best: _Candidates, *, eos_id: int, beam_size: int) -> _Candidates:
    """Step 2's next live beam: the best beam_size candidates not ending in EOS, (B, K) each.
    There are enough: each live hypothesis has one EOS candidate, so 2K hold K others."""
    not_eos_first = torch.sort((best.token == eos_id).to(torch.int8), dim=1, stable=True)
    chosen = not_eos_first.indices[:, :beam_size]  # (B, K), rank order kept by the stable sort
    return _Candidates(*(part.gather(1, chosen) for part in best))  # (B, K) each


def _search_over(
    finished: list[Hypothesis], live: Tensor, limit: int, beam_size: int, alpha: float
) -> bool:
    """Step 3 of the module docstring, for one sentence: live (K,) log P of its live beam."""
    best_live = float(live.max())
    if len(finished) >= beam_size or best_live == float("-inf"):
        return True
    if not finished:
        return False
    bound = best_live / length_penalty_factor(limit + 1, alpha)
    return max(hypothesis.score for hypothesis in finished) >= bound


def _best(finished: list[Hypothesis]) -> Hypothesis:
    if not finished:
        raise RuntimeError(
            "beam search finished no hypothesis: the model gives EOS probability 0 even where "
            "the length limit forces it"
        )
    return max(finished, key=lambda hypothesis: hypothesis.score)
