"""Tests for seqlab.infer.sampling: the next-token distribution against hand computations
(temperature, top-k, top-p, forbidden tokens, ties), draws against that distribution, the
batched sampler against greedy search, the streamed sampler against the batched one, seeds, and
the messages of bad arguments."""

from __future__ import annotations

import math

import pytest
import torch
from _toy_decoders import (
    B_,
    BOS,
    EOS,
    PAD,
    SPECIAL,
    A,
    C,
    D,
    E,
    MarkovTable,
    PrefixToy,
)
from torch import Tensor
from torch.testing import assert_close

from seqlab.infer.decoding import greedy_search
from seqlab.infer.sampling import (
    SamplingSettings,
    choose_tokens,
    next_token_distribution,
    sample_search,
    stream_tokens,
)

# A five-token distribution used by the hand computations below.
FIVE = [0.4, 0.1, 0.3, 0.05, 0.15]


def _logits(probabilities: list[float]) -> Tensor:
    return torch.tensor([probabilities], dtype=torch.float64).log()  # (1, V)


def _seeded(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _distribution(probabilities: list[float], **settings: float | int | None) -> list[float]:
    logits = _logits(probabilities)
    return next_token_distribution(logits, SamplingSettings(**settings))[0].tolist()  # type: ignore[arg-type]


def test_temperature_scales_the_logits_before_the_softmax():
    logits = torch.tensor([[2.0, -1.0, 0.5, 3.0], [0.0, 0.0, 1.0, -4.0]])  # float32 in
    for temperature in (0.5, 1.0, 2.5):
        result = next_token_distribution(logits, SamplingSettings(temperature=temperature))
        assert result.dtype == torch.float64
        assert_close(result, torch.softmax(logits.double() / temperature, dim=-1))
    # By hand for one row: T = 2 turns logits log(4), log(1) into 2 and 1 -> 2/3, 1/3.
    halved = next_token_distribution(_logits([0.8, 0.2]), SamplingSettings(temperature=2.0))
    assert_close(halved, torch.tensor([[2 / 3, 1 / 3]], dtype=torch.float64))


def test_a_tiny_temperature_does_not_overflow_and_tends_to_the_argmax():
    logits = torch.tensor([[1.0, 3.0, 2.0]], dtype=torch.float64)
    result = next_token_distribution(logits, SamplingSettings(temperature=1e-300))
    assert result.tolist() == [[0.0, 1.0, 0.0]]


def test_temperature_zero_is_the_argmax_whatever_the_filters():
    logits = torch.tensor([[0.1, 2.0, 2.0, -1.0], [5.0, 1.0, 0.0, 4.0]])
    settings = SamplingSettings(temperature=0.0, top_k=3, top_p=0.2)
    chosen = choose_tokens(logits, settings, _seeded(0))
    assert chosen.tolist() == [1, 0]  # ties: the lower id, as torch.argmax
    assert chosen.tolist() == logits.argmax(dim=-1).tolist()
    expected = torch.tensor([[0, 1, 0, 0], [1, 0, 0, 0]], dtype=torch.float64)
    assert_close(next_token_distribution(logits, settings), expected)
    # Forbidden tokens are out of the argmax too.
    assert choose_tokens(logits, settings, _seeded(0), forbidden=[0, 1]).tolist() == [2, 3]


def test_top_k_keeps_the_k_most_likely_renormalised():
    # k = 3 keeps 0.4, 0.3 and 0.15 (tokens 0, 2, 4), which sum to 0.85.
    result = _distribution(FIVE, top_k=3)
    assert_close(result, [0.4 / 0.85, 0.0, 0.3 / 0.85, 0.0, 0.15 / 0.85])
    # With a temperature: softmax of logits / T over the kept three only.
    logits = _logits(FIVE)
    scaled = next_token_distribution(logits, SamplingSettings(temperature=0.5, top_k=3))
    kept = torch.tensor([0, 2, 4])
    expected = torch.zeros(1, 5, dtype=torch.float64)
    expected[0, kept] = torch.softmax(logits[0, kept] / 0.5, dim=0)  # 0.4^2 : 0.3^2 : 0.15^2
    assert_close(scaled, expected)
    assert_close(expected[0, kept], torch.tensor([16, 9, 2.25], dtype=torch.float64) / 27.25)
    # k at or above V keeps everything.
    assert_close(_distribution(FIVE, top_k=5), FIVE)
    assert_close(_distribution(FIVE, top_k=50), FIVE)


def test_top_k_ties_at_the_kth_value_keep_the_lower_token_ids():
    logits = torch.tensor([[1.0, 2.0, 2.0, 2.0, 0.0, 2.0]], dtype=torch.float64)
    result = next_token_distribution(logits, SamplingSettings(top_k=2))
    assert result.tolist() == [[0.0, 0.5, 0.5, 0.0, 0.0, 0.0]]  # exactly k = 2 remain


def test_top_k_never_draws_outside_the_k_most_likely():
    logits = _logits(FIVE).expand(20_000, 5)  # 20,000 draws in one call
    drawn = choose_tokens(logits, SamplingSettings(top_k=2), _seeded(3))
    assert set(drawn.tolist()) == {0, 2}


def test_top_p_keeps_the_smallest_set_that_reaches_p():
    four = [0.5, 0.3, 0.15, 0.05]
    # 0.5 + 0.3 reaches 0.8 exactly: the first two; 0.81 needs the third.
    assert_close(_distribution(four, top_p=0.8), [0.5 / 0.8, 0.3 / 0.8, 0.0, 0.0])
    assert_close(_distribution(four, top_p=0.81), [0.5 / 0.95, 0.3 / 0.95, 0.15 / 0.95, 0.0])
    # The token that crosses p is kept: 0.5 < 0.6, so 0.3 joins.
    assert_close(_distribution(four, top_p=0.6), [0.5 / 0.8, 0.3 / 0.8, 0.0, 0.0])
    # The most likely token is always kept, even when it alone exceeds p.
    assert _distribution(four, top_p=0.1) == [1.0, 0.0, 0.0, 0.0]
    assert _distribution(four, top_p=0.5) == [1.0, 0.0, 0.0, 0.0]
    # p = 1 keeps every token, the least likely included.
    assert_close(_distribution(four, top_p=1.0), four)
    # The order is by probability, not by token id.
    shuffled = [0.15, 0.05, 0.5, 0.3]
    assert_close(_distribution(shuffled, top_p=0.8), [0.0, 0.0, 0.5 / 0.8, 0.3 / 0.8])


def test_top_p_ties_are_ranked_by_token_id():
    flat = [0.25, 0.25, 0.25, 0.25]
    assert_close(_distribution(flat, top_p=0.5), [0.5, 0.5, 0.0, 0.0])
    assert_close(_distribution(flat, top_p=0.6), [1 / 3, 1 / 3, 1 / 3, 0.0])
    # Ties straddling p: tokens 1 and 3 tie at 0.2 after 0.6; p = 0.7 takes token 1 only.
    assert_close(_distribution([0.6, 0.2, 0.0, 0.2], top_p=0.7), [0.75, 0.25, 0.0, 0.0])


def test_top_k_then_top_p_and_forbidden_tokens_before_both():
    # top-k 3: 0.4, 0.3, 0.15 over 0.85 = 0.4706, 0.3529, 0.1765; p = 0.8 is crossed by the
    # second (0.8235): 0.4 : 0.3 -> 4/7, 3/7.
    assert_close(_distribution(FIVE, top_k=3, top_p=0.8), [4 / 7, 0.0, 3 / 7, 0.0, 0.0])
    # Forbidding token 0 before top-k 2 keeps 0.3 and 0.15 (not 0.3 alone).
    result = next_token_distribution(_logits(FIVE), SamplingSettings(top_k=2), forbidden=[0])
    assert_close(result[0].tolist(), [0.0, 0.0, 0.3 / 0.45, 0.0, 0.15 / 0.45])
    # Forbidden tokens with no filter: the rest renormalised.
    result = next_token_distribution(_logits(FIVE), SamplingSettings(), forbidden=[0, 2])
    assert_close(result[0].tolist(), [0.0, 0.1 / 0.3, 0.0, 0.05 / 0.3, 0.15 / 0.3])


def test_draw_frequencies_match_the_distribution():
    # 20,000 draws: a frequency's standard error is sqrt(p (1 - p) / n) (<= 0.0035); 5 of them
    # per token would fail by chance for about one seed in a million per token, while a
    # sampler off by one token's share (0.05 here) or ignoring the temperature fails by far.
    n = 20_000
    settings = SamplingSettings(temperature=0.8, top_p=0.9)
    logits = _logits(FIVE)
    expected = next_token_distribution(logits, settings)[0]  # (V,)
    drawn = choose_tokens(logits.expand(n, 5), settings, _seeded(11))
    frequencies = torch.bincount(drawn, minlength=5).double() / n
    tolerance = 5 * torch.sqrt(expected * (1 - expected) / n)
    assert bool((frequencies - expected).abs().le(tolerance).all()), (frequencies, expected)
    assert frequencies[3] == 0.0  # 0.05 is outside the nucleus at T = 0.8


def test_temperature_zero_sampling_is_greedy_search_bit_for_bit():
    toy = PrefixToy(vocab=9, scale=1.5)
    sentences, limits = list(range(6)), torch.tensor([0, 1, 3, 5, 8, 12])
    greedy = greedy_search(toy, toy.start(sentences), max_lengths=limits, **SPECIAL)
    sampled = sample_search(
        toy,
        toy.start(sentences),
        max_lengths=limits,
        settings=SamplingSettings(temperature=0.0, top_k=2, top_p=0.5),
        generator=_seeded(0),
        **SPECIAL,
    )
    assert sampled == greedy


def _sample(seed: int, settings: SamplingSettings, alpha: float = 0.0) -> list:
    toy = PrefixToy(vocab=7, scale=1.0)
    return sample_search(
        toy,
        toy.start(list(range(8))),
        max_lengths=torch.full((8,), 10),
        settings=settings,
        generator=_seeded(seed),
        length_penalty=alpha,
        **SPECIAL,
    )


def test_the_same_seed_draws_the_same_outputs_and_another_seed_others():
    settings = SamplingSettings(temperature=1.2, top_k=4)
    first, again, other = _sample(5, settings), _sample(5, settings), _sample(6, settings)
    assert first == again
    assert [h.tokens for h in first] != [h.tokens for h in other]


def test_sampled_outputs_are_scored_by_the_model_and_respect_limits_and_specials():
    toy = PrefixToy(vocab=7, scale=1.0)
    alpha = 0.7
    results = _sample(2, SamplingSettings(temperature=1.5), alpha=alpha)
    for sentence, result in enumerate(results):
        assert len(result.tokens) <= 10
        assert not {BOS, PAD, EOS} & set(result.tokens)
        fed = (BOS, *result.tokens)
        # The model's log P at T = 1, unfiltered, the final EOS included (forced or drawn).
        log_prob = sum(
            float(torch.log_softmax(toy.logits_of(sentence, fed[: t + 1]), dim=0)[token])
            for t, token in enumerate((*result.tokens, EOS))
        )
        assert_close(result.log_prob, log_prob)
        assert_close(result.score, log_prob / ((5 + len(result.tokens) + 1) / 6) ** alpha)


def test_a_row_at_its_limit_gets_eos_without_a_draw():
    # EOS has probability 0 everywhere: only the limit can end, and no draw may see that row.
    loop = MarkovTable({BOS: {A: 0.5, E: 0.5}, A: {A: 0.5, E: 0.5}, E: {A: 0.5, E: 0.5}})
    results = sample_search(
        loop,
        loop.start(3),
        max_lengths=torch.tensor([0, 2, 5]),
        settings=SamplingSettings(),
        generator=_seeded(1),
        **SPECIAL,
    )
    assert [len(result.tokens) for result in results] == [0, 2, 5]
    assert all(result.log_prob == -math.inf for result in results)  # the forced EOS's log P


def _prefilled(toy: PrefixToy, sentence: int) -> tuple[Tensor, object]:
    """What a language model hands stream_tokens: the logits after its prompt (here BOS)."""
    logits, state = toy.decode_step(torch.tensor([[BOS]]), toy.start([sentence]))
    return logits[0], state  # (V,)


@pytest.mark.parametrize(
    "settings",
    [
        SamplingSettings(),
        SamplingSettings(temperature=0.7, top_k=3),
        SamplingSettings(temperature=1.3, top_p=0.9),
    ],
)
def test_stream_draws_what_sample_search_draws_for_one_sentence(settings):
    toy = PrefixToy(vocab=7, scale=1.0)
    ended_by_eos = 0
    for sentence in range(5):
        [batched] = sample_search(
            toy,
            toy.start([sentence]),
            max_lengths=torch.tensor([12]),
            settings=settings,
            generator=_seeded(sentence),
            **SPECIAL,
        )
        logits, state = _prefilled(toy, sentence)
        streamed = list(
            stream_tokens(
                toy,
                state,
                logits,
                max_new_tokens=13,
                settings=settings,
                generator=_seeded(sentence),
                stop_ids=(EOS,),
                forbidden=(BOS, PAD),
            )
        )
        if len(batched.tokens) < 12:  # ended by a drawn EOS, not by the limit
            assert streamed == [*batched.tokens, EOS]
            ended_by_eos += 1
        else:
            assert streamed[:12] == list(batched.tokens)
    assert ended_by_eos >= 3  # the comparison above is mostly of whole outputs


def test_stream_stops_at_a_stop_id_without_a_wasted_step():
    chain = MarkovTable({BOS: {A: 0.5, B_: 0.5}, A: {C: 1.0}, B_: {C: 1.0}, C: {D: 1.0}})
    logits, state = chain.decode_step(torch.tensor([[BOS]]), chain.start())
    tokens = list(
        stream_tokens(
            chain,
            state,
            logits,
            max_new_tokens=10,
            settings=SamplingSettings(),
            generator=_seeded(0),
            stop_ids=(C, EOS),
        )
    )
    assert tokens[0] in (A, B_) and tokens[1:] == [C]
    assert chain.fed == [BOS, tokens[0]]  # C, the stop id, is never fed


def test_stream_stops_after_max_new_tokens_without_a_wasted_step():
    chain = MarkovTable({BOS: {A: 1.0}, A: {A: 1.0}})
    logits, state = chain.decode_step(torch.tensor([[BOS]]), chain.start())
    settings, generator = SamplingSettings(), _seeded(0)
    tokens = list(
        stream_tokens(
            chain, state, logits, max_new_tokens=4, settings=settings, generator=generator
        )
    )
    assert tokens == [A, A, A, A]
    assert chain.fed == [BOS, A, A, A]  # the fourth A is yielded, not fed
    nothing = stream_tokens(
        chain, state, logits, max_new_tokens=0, settings=settings, generator=generator
    )
    assert list(nothing) == [] and chain.fed == [BOS, A, A, A]


def test_stream_leaves_the_callers_grad_mode_alone():
    chain = MarkovTable({BOS: {A: 1.0}, A: {A: 1.0}})
    logits, state = chain.decode_step(torch.tensor([[BOS]]), chain.start())
    tokens = stream_tokens(
        chain, state, logits, max_new_tokens=3, settings=SamplingSettings(), generator=_seeded(0)
    )
    for _ in tokens:
        assert torch.is_grad_enabled()


def test_bad_settings_name_the_field():
    with pytest.raises(ValueError, match=r"temperature must be a finite number >= 0.*got -0.5"):
        SamplingSettings(temperature=-0.5)
    with pytest.raises(ValueError, match=r"temperature .* got inf"):
        SamplingSettings(temperature=math.inf)
    with pytest.raises(ValueError, match=r"temperature .* got nan"):
        SamplingSettings(temperature=math.nan)
    with pytest.raises(ValueError, match=r"top_k must be an int >= 1 .* got 0"):
        SamplingSettings(top_k=0)
    with pytest.raises(ValueError, match=r"top_k must be an int >= 1 .* got 2.5"):
        SamplingSettings(top_k=2.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"top_p must be a number in \(0, 1\] .* got 0"):
        SamplingSettings(top_p=0)
    with pytest.raises(ValueError, match=r"top_p must be a number in \(0, 1\] .* got 1.5"):
        SamplingSettings(top_p=1.5)
    with pytest.raises(AttributeError):
        SamplingSettings().temperature = 2.0  # type: ignore[misc]


def test_bad_draw_arguments_name_the_values():
    logits = _logits(FIVE)
    settings = SamplingSettings()
    with pytest.raises(ValueError, match=r"no token can be chosen in row\(s\) \[0\]"):
        choose_tokens(logits, settings, _seeded(0), forbidden=[0, 1, 2, 3, 4])
    with pytest.raises(ValueError, match=r"forbidden token ids \[7\] must lie in \[0, 5\)"):
        choose_tokens(logits, settings, _seeded(0), forbidden=[7])
    with pytest.raises(ValueError, match="logits must not hold NaN"):
        choose_tokens(torch.tensor([[0.0, math.nan]]), settings, _seeded(0))
    with pytest.raises(ValueError, match=r"logits must have shape \(B, V\)"):
        next_token_distribution(logits[0], settings)
    with pytest.raises(ValueError, match="generator must be a torch.Generator, got int"):
        choose_tokens(logits, settings, 0)  # type: ignore[arg-type]
    chain = MarkovTable({BOS: {A: 1.0}})
    with pytest.raises(ValueError, match="max_new_tokens must be an int >= 0, got -1"):
        stream_tokens(
            chain, chain.start(), logits, max_new_tokens=-1, settings=settings, generator=_seeded(0)
        )
    with pytest.raises(ValueError, match=r"logits must have shape \(1, V\) or \(V,\).*\(2, 5\)"):
        stream_tokens(
            chain,
            chain.start(),
            logits.expand(2, 5),
            max_new_tokens=3,
            settings=settings,
            generator=_seeded(0),
        )
    assert chain.fed == []  # checked at the call, before any step
