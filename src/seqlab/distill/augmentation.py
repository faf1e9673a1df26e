"""Augmented copies of training texts for the transfer set (Tang et al., 2019, sec. 3.2).

References: Tang, Lu, Liu, Mou, Vechtomova and Lin, 2019, "Distilling Task-Specific Knowledge
from BERT into Simple Neural Networks", sec. 3.2: for each word w_i draw X_i ~ U[0, 1]; if
X_i < p_mask replace w_i by [MASK]; else if X_i < p_mask + p_pos replace it by a word of the same
part of speech drawn from the training vocabulary; then, with probability p_ng, keep only a
random n-gram of the result, n drawn uniformly from 1..5. Repeat n_iter times per text and
discard duplicates.

Deviation: the replacement word is drawn from the unigram distribution of the whole training
vocabulary, not of the words sharing w_i's part-of-speech tag. A POS tagger is a language- and
download-specific dependency, and seqlab distils on any user's labelled file; the teacher labels
whatever the copy became, so a copy that no longer reads like the original still teaches the
student something true (what the teacher says of that text). The mask is written as the
``[MASK]`` token; the student reads it as its unknown token (seqlab.distill.transfer_set), as in
Tang et al., where [MASK] "corresponds to an unknown token" of the student's vocabulary.

Reproducible and resumable: copy c of training text i under seed s is a pure function of
(s, i, c), drawn from ``numpy.random.default_rng([s, i, c])``; no copy depends on how many were
drawn before it. Duplicates (of the original, or of an earlier copy of the same text) are
dropped, as Tang et al. do, so a text gets at most ``count`` copies.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from seqlab.distill.settings import DistillSettings


@dataclass(frozen=True)
class Vocabulary:
    """The training texts' words and their unigram distribution, for replacement draws.

    words: sorted, so the draws do not depend on the order the texts came in.
    cumulative: (V,) cumulative probabilities, the last one 1.
    """

    words: tuple[str, ...]
    cumulative: np.ndarray

    @classmethod
    def from_texts(cls, texts: Iterable[str]) -> Vocabulary:
        counts = Counter(word for text in texts for word in text.split())
        words = tuple(sorted(counts))
        frequencies = np.array([counts[word] for word in words], dtype=np.float64)  # (V,)
        cumulative = np.cumsum(frequencies) / frequencies.sum()  # (V,)
        return cls(words=words, cumulative=cumulative)

    def draw(self, rng: np.random.Generator, size: int) -> list[str]:
        """``size`` words drawn from the unigram distribution (inverse-CDF sampling)."""
        positions = np.searchsorted(self.cumulative, rng.random(size), side="right")
        return [self.words[min(int(p), len(self.words) - 1)] for p in positions]


def augmented_copy(
    text: str,
    *,
    seed: int,
    example: int,
    copy: int,
    settings: DistillSettings,
    vocabulary: Vocabulary,
    mask_token: str,
) -> str:
    """Copy ``copy`` of training text ``example`` (Tang et al.'s rules; module docstring)."""
    rng = np.random.default_rng([seed, example, copy])
    words = text.split()
    draws = rng.random(len(words))  # X_i for each word
    replacements = vocabulary.draw(rng, len(words))
    replace_below = settings.p_mask + settings.p_replace
    result = [
        mask_token if x < settings.p_mask else replacement if x < replace_below else word
        for word, x, replacement in zip(words, draws, replacements, strict=True)
    ]
    if result and rng.random() < settings.p_ngram:
        n = min(int(rng.integers(1, settings.max_ngram + 1)), len(result))
        start = int(rng.integers(0, len(result) - n + 1))
        result = result[start : start + n]
    return " ".join(result)


def augmented_copies(
    text: str,
    *,
    seed: int,
    example: int,
    count: int,
    settings: DistillSettings,
    vocabulary: Vocabulary,
    mask_token: str,
) -> list[str]:
    """Up to ``count`` distinct copies of ``text``, none equal to it (duplicates dropped)."""
    seen = {" ".join(text.split())}
    copies = []
    for copy in range(count):
        made = augmented_copy(
            text, seed=seed, example=example, copy=copy, settings=settings,
            vocabulary=vocabulary, mask_token=mask_token,
        )  # fmt: skip
        if made and made not in seen:
            seen.add(made)
            copies.append(made)
    return copies
