"""The transfer set's augmentation (Tang et al., 2019, sec. 3.2): seeded per copy, each rule doing
what it says at its extremes, and labels kept on the copies for reference only."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from seqlab.distill.augmentation import Vocabulary, augmented_copies, augmented_copy
from seqlab.distill.settings import DistillSettings
from seqlab.distill.transfer_set import MASK_TOKEN, UNLABELLED, build_transfer_set, student_ids
from seqlab.errors import SeqlabError

TEXTS = [
    "the movie was really good and the acting was superb",
    "this film is so boring that i fell asleep twice",
    "the plot felt quite dreadful",
]
LABELS = [1, 0, 0]
VOCABULARY = Vocabulary.from_texts(TEXTS)


def _copy(text: str, settings: DistillSettings, *, seed: int = 0, example: int = 0, copy: int = 0):
    return augmented_copy(
        text, seed=seed, example=example, copy=copy, settings=settings,
        vocabulary=VOCABULARY, mask_token=MASK_TOKEN,
    )  # fmt: skip


def test_a_copy_depends_on_seed_example_and_copy_index_alone() -> None:
    settings = DistillSettings(augment=8)
    first = build_transfer_set(TEXTS, LABELS, settings=settings, seed=3)
    again = build_transfer_set(TEXTS, LABELS, settings=settings, seed=3)
    assert first.texts == again.texts and first.checksum() == again.checksum()
    other_seed = build_transfer_set(TEXTS, LABELS, settings=settings, seed=4)
    assert other_seed.texts[3:] != first.texts[3:] and other_seed.checksum() != first.checksum()
    # Copy 5 of text 1 is the same whether or not copies 0-4 were drawn before it (resumable).
    alone = _copy(TEXTS[1], settings, seed=3, example=1, copy=5)
    assert alone == _copy(TEXTS[1], settings, seed=3, example=1, copy=5)
    assert alone in augmented_copies(
        TEXTS[1], seed=3, example=1, count=8, settings=settings, vocabulary=VOCABULARY,
        mask_token=MASK_TOKEN,
    ) or alone == TEXTS[1]  # fmt: skip
    # Different copies of one text differ from each other and from the original.
    copies = first.texts[3 : 3 + first.augmented]
    assert len(set(copies)) == len(copies) and not set(copies) & set(TEXTS)


def test_each_rule_at_probability_one() -> None:
    words = TEXTS[0].split()
    masked = _copy(TEXTS[0], DistillSettings(p_mask=1.0, p_replace=0.0, p_ngram=0.0))
    assert masked.split() == [MASK_TOKEN] * len(words)
    replaced = _copy(TEXTS[0], DistillSettings(p_mask=0.0, p_replace=1.0, p_ngram=0.0)).split()
    assert len(replaced) == len(words) and set(replaced) <= set(VOCABULARY.words)
    assert replaced != words
    for copy in range(20):
        cut = _copy(TEXTS[0], DistillSettings(p_mask=0.0, p_replace=0.0, p_ngram=1.0), copy=copy)
        pieces = cut.split()
        assert 1 <= len(pieces) <= 5
        starts = [i for i in range(len(words)) if words[i : i + len(pieces)] == pieces]
        assert starts, f"{cut!r} is not an n-gram of the text"
    untouched = _copy(TEXTS[0], DistillSettings(p_mask=0.0, p_replace=0.0, p_ngram=0.0))
    assert untouched == TEXTS[0]


def test_replacement_words_follow_the_unigram_distribution() -> None:
    vocabulary = Vocabulary.from_texts(["a a a b"])
    np.testing.assert_allclose(vocabulary.cumulative, [0.75, 1.0])
    drawn = Counter(vocabulary.draw(np.random.default_rng(0), 20_000))
    assert abs(drawn["a"] / 20_000 - 0.75) < 0.015 and set(drawn) == {"a", "b"}


def test_copies_keep_their_original_label_and_only_originals_count_for_the_label_loss() -> None:
    transfer = build_transfer_set(
        TEXTS, LABELS, unlabelled=["more text", "and more"],
        settings=DistillSettings(augment=4), seed=0,
    )  # fmt: skip
    assert transfer.texts[:3] == tuple(TEXTS) and transfer.labels[:3] == tuple(LABELS)
    assert transfer.texts[-2:] == ("more text", "and more")
    assert transfer.labels[-2:] == (UNLABELLED, UNLABELLED)
    assert len(transfer) == 3 + transfer.augmented + 2
    # Each copy's label is the label of the text it came from (copies are in text order).
    expected_labels = []
    for example, (text, label) in enumerate(zip(TEXTS, LABELS, strict=True)):
        made = augmented_copies(
            text, seed=0, example=example, count=4, settings=DistillSettings(augment=4),
            vocabulary=VOCABULARY, mask_token=MASK_TOKEN,
        )  # fmt: skip
        expected_labels += [label] * len(made)
    assert list(transfer.labels[3:-2]) == expected_labels
    assert transfer.has_label().tolist() == [True] * 3 + [False] * (len(transfer) - 3)


def test_the_student_reads_the_mask_as_its_unknown_token() -> None:
    assert student_ids([[2, 4, 9, 4]], mask_id=4, unk_id=1) == [[2, 1, 9, 1]]


def test_settings_refuse_a_negative_augment_and_bad_probabilities() -> None:
    with pytest.raises(SeqlabError, match=r"--augment \(-1\) must be at least 0"):
        DistillSettings(augment=-1)
    with pytest.raises(SeqlabError, match=r"p_mask \+ distill.p_replace"):
        DistillSettings(p_mask=0.6, p_replace=0.6)
    with pytest.raises(SeqlabError, match=r"--temperature \(2.0\) applies to --loss kl only"):
        DistillSettings(temperature=2.0)
