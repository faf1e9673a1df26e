"""Tests for seqlab.infer.decoding on toy models whose log-probabilities are known exactly:
greedy and beam search against hand computations, beam search against an exhaustive search,
the GNMT length penalty, the length limit, and batching."""

from __future__ import annotations

import itertools
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
from torch.testing import assert_close

from seqlab.infer.decoding import (
    Hypothesis,
    beam_search,
    greedy_search,
    length_penalty_factor,
    max_output_lengths,
)


# The length-penalty case (module docstring of the tests' subject, step by step):
# "a" EOS is likelier, "b c d" EOS wins once lengths are normalised with alpha = 1.
def _length_case() -> MarkovTable:
    return MarkovTable(
        {
            BOS: {A: 0.55, B_: 0.4, EOS: 0.05},
            A: {EOS: 0.6, E: 0.4},
            B_: {C: 0.9, EOS: 0.1},
            C: {D: 0.9, EOS: 0.1},
            D: {EOS: 0.9, D: 0.1},
            E: {E: 0.99, EOS: 0.01},
        }
    )


SHORT_LOG_PROB = math.log(0.55) + math.log(0.6)
LONG_LOG_PROB = math.log(0.4) + 3 * math.log(0.9)


def _exhaustive_best(toy: PrefixToy, sentence: int, limit: int, alpha: float) -> Hypothesis:
    """Score every output of up to `limit` words (pad and BOS excluded) and keep the best."""
    words = [token for token in range(toy.vocab) if token not in (PAD, BOS, EOS)]
    best = None
    for n in range(limit + 1):
        for output in itertools.product(words, repeat=n):
            fed = (BOS, *output)
            log_prob = sum(
                float(torch.log_softmax(toy.logits_of(sentence, fed[: t + 1]), dim=0)[token])
                for t, token in enumerate((*output, EOS))
            )
            score = log_prob / length_penalty_factor(n + 1, alpha)
            if best is None or score > best.score:
                best = Hypothesis(output, log_prob, score)
    assert best is not None
    return best


def test_length_penalty_factor_is_gnmt():
    assert length_penalty_factor(7, 0.0) == 1.0
    assert length_penalty_factor(4, 1.0) == 1.5  # (5 + 4) / 6
    assert_close(length_penalty_factor(7, 0.5), math.sqrt(2.0))  # ((5 + 7) / 6)^0.5


def test_max_output_lengths_is_a_times_source_length_plus_b_rounded_down():
    lengths = torch.tensor([3, 4, 10])
    limits = max_output_lengths(lengths, max_length_a=1.5, max_length_b=2)
    assert limits.tolist() == [6, 8, 17] and limits.dtype == torch.int64
    assert max_output_lengths(lengths, max_length_a=0.0, max_length_b=5).tolist() == [5, 5, 5]
    with pytest.raises(ValueError, match=r"max_length_a \(-1.0\)"):
        max_output_lengths(lengths, max_length_a=-1.0, max_length_b=5)


def test_greedy_takes_the_most_likely_token_each_step():
    toy = _length_case()
    result = greedy_search(toy, toy.start(), max_lengths=torch.tensor([10]), **SPECIAL)
    assert result[0].tokens == (A,)
    assert_close(result[0].log_prob, SHORT_LOG_PROB)
    assert result[0].score == result[0].log_prob  # alpha 0


def test_beam_without_length_penalty_prefers_the_short_hypothesis():
    toy = _length_case()
    [best] = beam_search(toy, toy.start(), beam_size=2, max_lengths=torch.tensor([10]), **SPECIAL)
    assert best.tokens == (A,)
    assert_close(best.log_prob, SHORT_LOG_PROB)
    assert_close(best.score, SHORT_LOG_PROB)
    # "a" EOS finished at step 2; after step 3 the best live log P, log(.4 * .9 * .9), is below
    # it, so with alpha 0 nothing can beat it and the search stops after 3 model calls.
    assert toy.steps == 3


def test_beam_with_length_penalty_one_prefers_the_long_hypothesis():
    toy = _length_case()
    [best] = beam_search(
        toy,
        toy.start(),
        beam_size=2,
        max_lengths=torch.tensor([10]),
        length_penalty=1.0,
        **SPECIAL,
    )
    assert best.tokens == (B_, C, D)
    assert_close(best.log_prob, LONG_LOG_PROB)
    assert_close(best.score, LONG_LOG_PROB / ((5 + 4) / 6))
    # The short one scores log P / lp(2) = SHORT_LOG_PROB / (7 / 6), which is lower:
    assert best.score > SHORT_LOG_PROB / (7 / 6) and SHORT_LOG_PROB > LONG_LOG_PROB
    # With "a" and "b c d" finished the sentence has beam_size finished hypotheses: the search
    # stops after 4 model calls, although by the bound the live "a e e e" might still win.
    assert toy.steps == 4


@pytest.mark.parametrize("alpha", [0.0, 0.8])
def test_beam_size_one_equals_greedy_exactly(alpha):
    toy = PrefixToy(vocab=9, scale=1.5)
    sentences = list(range(6))
    limits = torch.tensor([0, 1, 3, 5, 8, 12])
    greedy = greedy_search(
        toy, toy.start(sentences), max_lengths=limits, length_penalty=alpha, **SPECIAL
    )
    beam = beam_search(
        toy,
        toy.start(sentences),
        beam_size=1,
        max_lengths=limits,
        length_penalty=alpha,
        **SPECIAL,
    )
    assert beam == greedy  # tokens, log-probabilities and scores, bit for bit
    # Limits 0, 1, 3 and 5 end the first four; the last two end with EOS before theirs.
    assert [len(hypothesis.tokens) for hypothesis in greedy] == [0, 1, 3, 5, 7, 9]


@pytest.mark.parametrize("alpha", [0.0, 0.6, 1.5])
def test_a_beam_wider_than_every_output_is_an_exhaustive_search(alpha):
    toy = PrefixToy(vocab=6)  # 3 words: 1 + 3 + 9 + 27 = 40 outputs of up to 3 words
    limits = [3, 1, 2]
    results = beam_search(
        toy,
        toy.start([0, 1, 2]),
        beam_size=64,
        max_lengths=torch.tensor(limits),
        length_penalty=alpha,
        **SPECIAL,
    )
    for sentence, (result, limit) in enumerate(zip(results, limits, strict=True)):
        expected = _exhaustive_best(toy, sentence, limit, alpha)
        assert result.tokens == expected.tokens
        assert_close(result.log_prob, expected.log_prob)
        assert_close(result.score, expected.score)


@pytest.mark.parametrize("beam_size", [None, 1, 3])
def test_a_sentence_decodes_the_same_alone_and_in_a_batch(beam_size):
    toy = PrefixToy(vocab=7, scale=1.5)
    sentences, limits = [4, 9, 2, 7], [6, 2, 9, 4]

    def search(chosen):
        limit = torch.tensor([limits[i] for i in chosen])
        state = toy.start([sentences[i] for i in chosen])
        if beam_size is None:
            return greedy_search(toy, state, max_lengths=limit, length_penalty=0.5, **SPECIAL)
        return beam_search(
            toy, state, beam_size=beam_size, max_lengths=limit, length_penalty=0.5, **SPECIAL
        )

    together = search([0, 1, 2, 3])
    alone = [search([i])[0] for i in range(4)]
    assert together == alone


def test_eos_is_forced_at_the_length_limit():
    # Two loops that rarely end; EOS never ranks among the two best before the limit.
    loops = MarkovTable({BOS: {E: 0.9, A: 0.1}, E: {E: 0.99, EOS: 0.01}, A: {A: 0.99, EOS: 0.01}})
    limit = torch.tensor([4])
    greedy = greedy_search(loops, loops.start(), max_lengths=limit, **SPECIAL)
    beam = beam_search(loops, loops.start(), beam_size=2, max_lengths=limit, **SPECIAL)
    for [result] in (greedy, beam):
        assert result.tokens == (E, E, E, E)
        assert_close(result.log_prob, math.log(0.9) + 3 * math.log(0.99) + math.log(0.01))
    ending = MarkovTable({BOS: {E: 0.9, EOS: 0.1}})
    [empty] = greedy_search(ending, ending.start(), max_lengths=torch.tensor([0]), **SPECIAL)
    assert empty.tokens == ()
    assert_close(empty.log_prob, math.log(0.1))


def test_bos_and_pad_are_never_generated_and_scores_stay_the_models():
    toy = MarkovTable({BOS: {PAD: 0.4, BOS: 0.3, A: 0.2, EOS: 0.1}, A: {PAD: 0.5, EOS: 0.5}})
    [result] = greedy_search(toy, toy.start(), max_lengths=torch.tensor([5]), **SPECIAL)
    assert result.tokens == (A,)
    assert_close(result.log_prob, math.log(0.2) + math.log(0.5))  # not renormalised


def test_a_model_whose_bos_is_its_eos_can_end():
    toy = MarkovTable({BOS: {A: 0.7, BOS: 0.3}, A: {BOS: 0.8, A: 0.2}})
    [result] = greedy_search(
        toy, toy.start(), max_lengths=torch.tensor([5]), bos_id=BOS, eos_id=BOS, pad_id=PAD
    )
    assert result.tokens == (A,)
    assert_close(result.log_prob, math.log(0.7) + math.log(0.8))


def test_bad_arguments_name_the_values():
    toy = PrefixToy()
    with pytest.raises(ValueError, match="beam_size must be a positive int, got 0"):
        beam_search(toy, toy.start([0]), beam_size=0, max_lengths=torch.tensor([3]), **SPECIAL)
    with pytest.raises(ValueError, match=r"length_penalty \(-0.5\) must be >= 0"):
        greedy_search(
            toy, toy.start([0]), max_lengths=torch.tensor([3]), length_penalty=-0.5, **SPECIAL
        )
    with pytest.raises(ValueError, match="max_lengths must hold integers"):
        greedy_search(toy, toy.start([0]), max_lengths=torch.tensor([3.0]), **SPECIAL)
    with pytest.raises(ValueError, match=r"max_lengths must be >= 0, got \[-1\]"):
        greedy_search(toy, toy.start([0]), max_lengths=torch.tensor([-1]), **SPECIAL)
