"""Sampling the next token (temperature, top-k, top-p), batched and streamed.

The same task-free models as seqlab.infer.decoding (`IncrementalDecoder`): `sample_search` draws
whole outputs for a batch through greedy search's token-by-token loop (so the length limits, EOS
forcing, scores and dropping of ended rows are that loop's); `stream_tokens` yields the tokens of
one output as they are drawn, for a language model that has already read its prompt.

References:
- Ackley, Hinton and Sejnowski 1985, "A Learning Algorithm for Boltzmann Machines"; Hinton,
  Vinyals and Dean 2015, "Distilling the Knowledge in a Neural Network": the temperature,
  p_i = exp(z_i / T) / sum_j exp(z_j / T). T < 1 sharpens the distribution, T > 1 flattens it;
  T -> 0 tends to the argmax, so T = 0 here means greedy choice.
- Fan, Lewis and Dauphin 2018, "Hierarchical Neural Story Generation", sec. 5.4: top-k sampling,
  drawing from the k most likely tokens only, renormalised.
- Holtzman et al. 2020, "The Curious Case of Neural Text Degeneration", sec. 3.1 (eq. 2-3):
  top-p (nucleus) sampling, drawing from the smallest set V(p) of most likely tokens with
  sum_{x in V(p)} P(x) >= p, renormalised.

The distribution (`next_token_distribution`), row by row, in float64 whatever the logits' dtype:
1. forbidden tokens (a model's BOS and pad) get logit -inf, so probability 0 before any filter
   (top-k counts only the other tokens);
2. temperature: z / T, computed as (z - max z) / T, which has the same softmax and cannot
   overflow for a small T. T = 0 gives the one-hot distribution on the argmax (the lowest token
   id among equal maxima, as torch.argmax), whatever top_k and top_p say;
3. top-k: the k largest scaled logits are kept and the others set to -inf. Ties at the k-th value
   keep the lower token ids, so exactly k tokens remain (all of them when k >= V);
4. softmax;
5. top-p: tokens sorted by probability, descending, equal probabilities by ascending token id;
   the smallest prefix whose cumulative probability reaches p is kept (the token that crosses p
   is kept; the most likely token always is), the others get probability 0, and the kept ones are
   renormalised. A cumulative sum counts as reaching p when it is within 1e-10 of it: float64 sums
   of V probabilities carry rounding errors of up to about V * 2^-53 (6e-12 for V = 50,000), so
   a prefix that reaches p exactly (0.5 + 0.3 for p = 0.8) may add up to a hair below p. p = 1
   keeps every token.
A row in which every token is forbidden or has logit -inf has nothing to draw: ValueError.

Drawing (`choose_tokens`): the argmax at T = 0; otherwise torch.multinomial on that distribution
with the caller's torch.Generator, which must be on the logits' device. The same generator state,
settings and logits give the same tokens.

What `sample_search` scores is greedy search's rule (seqlab.infer.decoding's module docstring):
log_prob is the model's own log P(Y | X) of the drawn tokens (at T = 1, unfiltered, the final EOS
included), so scores compare across decoding rules; temperature and filters only decide what is
drawn.

Shape legend (the repository's): B rows (sentences), V vocabulary.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from seqlab.infer.decoding import Hypothesis, IncrementalDecoder, StateT, _token_by_token

__all__ = [
    "SamplingSettings",
    "choose_tokens",
    "next_token_distribution",
    "sample_search",
    "stream_tokens",
]

# How far below p a cumulative probability may fall and still count as reaching it (step 5 of the
# module docstring: float64 rounding of the sums, never a probability mass a draw could notice).
_TOP_P_TOLERANCE = 1e-10


@dataclass(frozen=True)
class SamplingSettings:
    """How the next token is drawn (the rules are the module docstring's).

    temperature: T >= 0, finite; 0 means greedy (argmax), whatever top_k and top_p.
    top_k: keep the k most likely tokens (k >= 1), or None for no top-k filter.
    top_p: keep the smallest set of most likely tokens whose probability reaches p (0 < p <= 1),
    or None for no top-p filter. Both filters may be given: top-k first, then top-p.
    """

    temperature: float = 1.0
    top_k: int | None = None
    top_p: float | None = None

    def __post_init__(self) -> None:
        temperature = self.temperature
        if not _is_number(temperature) or not math.isfinite(temperature) or temperature < 0:
            raise ValueError(
                f"temperature must be a finite number >= 0 (0: greedy), got {temperature!r}"
            )
        top_k = self.top_k
        if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, int)):
            raise ValueError(f"top_k must be an int >= 1 or None (no top-k filter), got {top_k!r}")
        if top_k is not None and top_k < 1:
            raise ValueError(f"top_k must be an int >= 1 or None (no top-k filter), got {top_k!r}")
        top_p = self.top_p
        if top_p is not None and not (_is_number(top_p) and 0 < top_p <= 1):
            raise ValueError(
                f"top_p must be a number in (0, 1] or None (no top-p filter), got {top_p!r}"
            )

    @property
    def greedy(self) -> bool:
        """True at temperature 0, where the most likely token is taken instead of drawn."""
        return self.temperature == 0


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def next_token_distribution(
    logits: Tensor, settings: SamplingSettings, *, forbidden: Collection[int] = ()
) -> Tensor:
    """logits (B, V) -> the probabilities (B, V), float64, that tokens are drawn with (steps 1-5
    of the module docstring); rows sum to 1."""
    _check_settings(settings)
    scores = _allowed_scores(logits, forbidden)  # (B, V) float64
    if settings.greedy:
        best = scores.argmax(dim=-1, keepdim=True)  # (B, 1)
        return torch.zeros_like(scores).scatter_(1, best, 1.0)  # (B, V)
    best_score = scores.max(dim=-1, keepdim=True).values  # (B, 1)
    scaled = (scores - best_score) / settings.temperature  # (B, V), max 0
    if settings.top_k is not None:
        scaled = _keep_top_k(scaled, settings.top_k)  # (B, V)
    probabilities = torch.softmax(scaled, dim=-1)  # (B, V)
    if settings.top_p is not None and settings.top_p < 1:
        probabilities = _keep_top_p(probabilities, settings.top_p)  # (B, V)
    return probabilities


def choose_tokens(
    logits: Tensor,
    settings: SamplingSettings,
    generator: torch.Generator,
    *,
    forbidden: Collection[int] = (),
) -> Tensor:
    """logits (B, V) -> one token id per row (B,), int64: the argmax at temperature 0, otherwise a
    draw from next_token_distribution with `generator` (on the logits' device)."""
    _check_settings(settings)
    _check_generator(generator, logits.device)
    if settings.greedy:
        return _allowed_scores(logits, forbidden).argmax(dim=-1)  # (B,)
    probabilities = next_token_distribution(logits, settings, forbidden=forbidden)  # (B, V)
    return torch.multinomial(probabilities, 1, generator=generator).squeeze(1)  # (B,)


def sample_search(
    model: IncrementalDecoder[StateT],
    state: StateT,
    *,
    max_lengths: Tensor,
    bos_id: int,
    eos_id: int,
    pad_id: int,
    settings: SamplingSettings,
    generator: torch.Generator,
    length_penalty: float = 0.0,
) -> list[Hypothesis]:
    """One drawn output per sentence, in input order, through greedy search's loop.

    Arguments as seqlab.infer.decoding.greedy_search's (the first tokens fed, BOS, are made on
    max_lengths' device), plus the settings and the generator (on the model's logits' device).
    Each step draws the next token of every row not at its limit; a row at its limit gets EOS.
    BOS and pad are never drawn. At temperature 0 the result is greedy_search's, bit for bit.
    """
    _check_settings(settings)
    if not isinstance(generator, torch.Generator):
        raise ValueError(f"generator must be a torch.Generator, got {type(generator).__name__}")

    def draw(log_probs: Tensor) -> Tensor:
        return choose_tokens(log_probs, settings, generator)  # (rows,)

    return _token_by_token(
        model,
        state,
        choose=draw,
        max_lengths=max_lengths,
        bos_id=bos_id,
        eos_id=eos_id,
        pad_id=pad_id,
        length_penalty=length_penalty,
    )


def stream_tokens(
    model: IncrementalDecoder[StateT],
    state: StateT,
    logits: Tensor,
    *,
    max_new_tokens: int,
    settings: SamplingSettings,
    generator: torch.Generator,
    stop_ids: Collection[int] = (),
    forbidden: Collection[int] = (),
) -> Iterator[int]:
    """Yield the tokens of one output (batch 1) as they are chosen.

    logits (1, V) or (V,): the next-token logits after the prompt, and state the model's state
    there (the caller prefills the prompt). Each token is chosen from the current logits (in
    log-probabilities, as sample_search's loop computes them, so the same seed draws the same
    tokens), yielded, and, unless it is a stop id or the max_new_tokens-th, fed through
    model.decode_step for the next logits: the model is never run for a token nobody will read.
    Arguments are checked at the call, not at the first token.
    """
    _check_settings(settings)
    if isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, int):
        raise ValueError(f"max_new_tokens must be an int >= 0, got {max_new_tokens!r}")
    if max_new_tokens < 0:
        raise ValueError(f"max_new_tokens must be an int >= 0, got {max_new_tokens!r}")
    if logits.dim() == 1:
        logits = logits[None, :]  # (1, V)
    if logits.dim() != 2 or logits.shape[0] != 1:
        raise ValueError(
            f"logits must have shape (1, V) or (V,) (one sequence), got {tuple(logits.shape)}"
        )
    _check_generator(generator, logits.device)
    return _stream(
        model,
        state,
        logits,
        max_new_tokens=max_new_tokens,
        settings=settings,
        generator=generator,
        stop_ids=frozenset(stop_ids),
        forbidden=sorted(set(forbidden)),
    )


def _stream(
    model: IncrementalDecoder[StateT],
    state: StateT,
    logits: Tensor,
    *,
    max_new_tokens: int,
    settings: SamplingSettings,
    generator: torch.Generator,
    stop_ids: frozenset[int],
    forbidden: Sequence[int],
) -> Iterator[int]:
    for produced in range(1, max_new_tokens + 1):
        log_probs = torch.log_softmax(logits.double(), dim=-1)  # (1, V)
        token = int(choose_tokens(log_probs, settings, generator, forbidden=forbidden)[0])
        yield token
        if token in stop_ids or produced == max_new_tokens:
            return
        fed = torch.tensor([[token]], device=logits.device)  # (1, 1)
        # no_grad around the step only: a `with` around the loop would stay active in the
        # caller's code while the generator is suspended at `yield`.
        with torch.no_grad():
            logits, state = model.decode_step(fed, state)  # (1, V)


def _check_settings(settings: SamplingSettings) -> None:
    if not isinstance(settings, SamplingSettings):
        raise ValueError(f"settings must be a SamplingSettings, got {type(settings).__name__}")


def _check_generator(generator: torch.Generator, device: torch.device) -> None:
    if not isinstance(generator, torch.Generator):
        raise ValueError(f"generator must be a torch.Generator, got {type(generator).__name__}")
    if torch.device(generator.device).type != device.type:
        raise ValueError(
            f"generator is on {generator.device} but the logits are on {device}: make it with "
            f"torch.Generator(device={str(device)!r})"
        )


def _allowed_scores(logits: Tensor, forbidden: Collection[int]) -> Tensor:
    """Step 1: logits (B, V) in float64 (a copy), with forbidden tokens at -inf."""
    if logits.dim() != 2 or logits.shape[1] == 0:
        raise ValueError(f"logits must have shape (B, V) with V >= 1, got {tuple(logits.shape)}")
    scores = logits.to(torch.float64, copy=True)  # (B, V)
    if bool((torch.isnan(scores) | (scores == math.inf)).any()):
        raise ValueError("logits must not hold NaN or +inf")
    vocabulary = scores.shape[1]
    ids = sorted(set(forbidden))
    outside = [token for token in ids if not 0 <= token < vocabulary]
    if outside:
        raise ValueError(f"forbidden token ids {outside} must lie in [0, {vocabulary})")
    scores[:, ids] = -math.inf
    nothing_left = scores.max(dim=-1).values == -math.inf  # (B,)
    if bool(nothing_left.any()):
        rows = nothing_left.nonzero().flatten().tolist()
        raise ValueError(
            f"no token can be chosen in row(s) {rows}: every token is forbidden or has logit -inf"
        )
    return scores


def _keep_top_k(scaled: Tensor, k: int) -> Tensor:
    """Step 3: scaled logits (B, V) with all but the k largest of each row at -inf; a stable sort
    puts equal values in token order, so ties at the k-th value keep the lower ids."""
    order = torch.sort(scaled, dim=-1, descending=True, stable=True).indices  # (B, V)
    kept = order[:, : min(k, scaled.shape[1])]  # (B, k)
    keep = torch.zeros_like(scaled, dtype=torch.bool).scatter_(1, kept, True)  # (B, V)
    return scaled.masked_fill(~keep, -math.inf)  # (B, V)


def _keep_top_p(probabilities: Tensor, p: float) -> Tensor:
    """Step 5: probabilities (B, V) restricted to each row's nucleus, renormalised."""
    ranked, order = torch.sort(probabilities, dim=-1, descending=True, stable=True)  # (B, V)
    reached = torch.cumsum(ranked, dim=-1)  # (B, V) probability of the prefix up to each token
    before = torch.cat([torch.zeros_like(reached[:, :1]), reached[:, :-1]], dim=1)  # (B, V)
    # A token is kept while the tokens ranked above it have not reached p, so the one that
    # crosses p is kept; the most likely token always is (for a p below the tolerance too).
    keep_ranked = before < p - _TOP_P_TOLERANCE  # (B, V)
    keep_ranked[:, 0] = True
    keep = torch.zeros_like(keep_ranked).scatter_(1, order, keep_ranked)  # (B, V)
    nucleus = probabilities.masked_fill(~keep, 0.0)  # (B, V)
    return nucleus / nucleus.sum(dim=-1, keepdim=True)  # (B, V)
