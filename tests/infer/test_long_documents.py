"""Long-document translation (seqlab.infer.long_documents): sentence splitting, windows under a
budget with context, stitching that keeps every sentence once and in order.

The translator is a fake that maps a sentence ``Satz k ...`` to ``<k>``, so the stitched output
shows which sentences were kept, how often, and in which order.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from seqlab.errors import SeqlabError
from seqlab.infer.long_documents import (
    plan_document,
    sentence_spans,
    stitch,
    translate_document,
)


def words(text: str) -> int:
    return len(text.split())


def _document(count: int) -> str:
    """Sentences ``Satz k`` of 3 to 9 words, in paragraphs of 5, with German punctuation."""
    sentences = []
    for k in range(count):
        # At least one word after the number: "Satz 3." would read as an ordinal ("am 3. Juli").
        filler = " ".join(["Wort"] * (1 + k % 7))
        end = "!" if k % 11 == 3 else "?" if k % 13 == 4 else "."
        sentences.append(f"Satz {k} {filler}{end}".replace(" " + end, end))
    return "".join(s + ("\n\n" if k % 5 == 4 else " ") for k, s in enumerate(sentences))


class TaggingTranslator:
    """Maps each sentence to ``<k>`` and records every call."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def __call__(self, sentences: Sequence[str]) -> list[str]:
        self.calls.append(list(sentences))
        return [f"<{sentence.split()[1]}>" for sentence in sentences]


@pytest.mark.parametrize("context_sentences", [0, 1, 3])
def test_every_sentence_is_translated_once_in_order(context_sentences):
    document = _document(400)
    translator = TaggingTranslator()
    result = translate_document(
        document,
        translator,
        max_tokens=30,
        count_tokens=words,
        context_sentences=context_sentences,
    )
    tags = re.findall(r"<(\d+)>", result.text)
    assert tags == [str(k) for k in range(400)]
    # Paragraph breaks survive, the rest is joined by one space.
    assert result.text.startswith("<0> <1> <2> <3> <4>\n\n<5> <6>")
    assert result.text.endswith("<398> <399>\n\n")
    plan = result.plan
    assert len(plan.segments) == 400 and plan.long_sentences == ()
    assert max(window.tokens for window in plan.windows) <= 30
    # Each call got the window's context then its new sentences; the contexts were dropped.
    for call, window in zip(translator.calls, plan.windows, strict=True):
        assert len(call) == len(window.context) + len(window.new)
        assert len(window.context) <= context_sentences
    # The cost of context: sentences translated beyond the 400.
    translated = sum(len(call) for call in translator.calls)
    extra = sum(len(window.context) for window in plan.windows)
    assert translated == 400 + extra
    assert extra <= context_sentences * len(plan.windows)


def test_windows_with_context_are_exact_for_a_small_document():
    document = "Satz 0 ab cd. Satz 1 ef. Satz 2 gh ij kl. Satz 3."
    plan = plan_document(document, max_tokens=8, count_tokens=words, context_sentences=1)
    assert [s.tokens for s in plan.segments] == [4, 3, 5, 2]
    shape = [(list(w.context), list(w.new), w.tokens) for w in plan.windows]
    # Window 2: sentence 1 as context (3) + sentence 2 (5) = 8; window 3: 2 as context + 3.
    assert shape == [([], [0, 1], 7), ([1], [2], 8), ([2], [3], 7)]
    assert plan.window_texts(1) == ["Satz 1 ef.", "Satz 2 gh ij kl."]


def test_context_shrinks_when_the_next_sentence_would_not_fit_beside_it():
    document = "Satz 0 ab cd ef gh ij. Satz 1 ab cd ef gh ij kl mn."
    plan = plan_document(document, max_tokens=10, count_tokens=words, context_sentences=1)
    # Sentence 1 has 10 tokens: no room for sentence 0 (7) as context.
    assert [(list(w.context), list(w.new)) for w in plan.windows] == [([], [0]), ([], [1])]


def test_a_sentence_over_the_budget_is_split_at_word_boundaries_and_reported():
    long_sentence = "Satz 1 " + " ".join(f"w{i}" for i in range(23)) + "."
    document = f"Satz 0 kurz. {long_sentence} Satz 2 kurz."
    result = translate_document(
        document, lambda s: [x.upper() for x in s], max_tokens=10, count_tokens=words
    )
    plan = result.plan
    # 25 words in pieces of at most 10 words: 10, 10, 5.
    pieces = [s.text for s in plan.segments if s.sentence == 1]
    assert [words(piece) for piece in pieces] == [10, 10, 5]
    assert " ".join(pieces) == long_sentence
    assert result.notes() == [
        "sentence 2 (characters 13-102) has 25 tokens, over the window budget of 10: split at "
        "word boundaries into 3 pieces, translated separately"
    ]
    assert result.text == f"SATZ 0 KURZ. {long_sentence.upper()} SATZ 2 KURZ."


def test_a_word_over_the_budget_is_cut_between_characters():
    def characters(text: str) -> int:
        return len(text)

    document = "Ein " + "x" * 25 + " Ende."
    plan = plan_document(document, max_tokens=10, count_tokens=characters, context_sentences=0)
    assert [s.text for s in plan.segments] == ["Ein", "x" * 10, "x" * 10, "x" * 5, "Ende."]
    assert [s.separator for s in plan.segments] == [" ", "", "", " ", ""]
    assert plan.long_sentences[0].words_cut
    outputs = [[s.upper() for s in plan.window_texts(i)] for i in range(len(plan.windows))]
    assert stitch(plan, outputs) == "EIN " + "X" * 25 + " ENDE."


def test_fifty_thousand_characters_within_a_second():
    start = _document(1600)
    # A last sentence of one long word brings the document to exactly 50,000 characters.
    document = f"{start}Satz 1600 {'a' * (50_000 - len(start) - 11)}."
    translator = TaggingTranslator()
    start = time.perf_counter()
    result = translate_document(document, translator, max_tokens=60, count_tokens=words)
    elapsed = time.perf_counter() - start
    assert len(document) == 50_000
    assert len(result.plan.segments) == 1601
    assert re.findall(r"<(\d+)>", result.text) == [str(k) for k in range(1601)]
    assert elapsed < 1.0
    # One huge sentence without any boundary also goes through, split at words.
    endless = " ".join(["Wort"] * 10_000)
    start = time.perf_counter()
    result = translate_document(endless, lambda s: list(s), max_tokens=100, count_tokens=words)
    assert time.perf_counter() - start < 1.0
    assert result.text == endless
    assert result.plan.long_sentences[0].pieces == 100


def test_sentence_boundaries_skip_abbreviations_ordinals_and_lowercase_continuations():
    text = (
        'Am 3. Juli kam Dr. Müller an. Er rief: "Hallo!" Dann ging er, z. B. nach Hause... '
        "und schlief.\n\nNeuer Absatz ohne Punkt\nmit Zeilenumbruch? Ja"
    )
    assert [text[a:b] for a, b in sentence_spans(text)] == [
        "Am 3. Juli kam Dr. Müller an.",
        'Er rief: "Hallo!"',
        "Dann ging er, z. B. nach Hause... und schlief.",
        "Neuer Absatz ohne Punkt\nmit Zeilenumbruch?",
        "Ja",
    ]


@settings(max_examples=200, deadline=None, derandomize=True)
@given(
    text=st.text(alphabet=st.sampled_from(list("ab Z.!?\n\t\"'1") + ["…", "ä"]), max_size=120),
    budget=st.integers(min_value=1, max_value=6),
    context=st.integers(min_value=0, max_value=3),
)
def test_splitting_never_drops_text_and_windows_cover_every_segment(text, budget, context):
    plan = plan_document(text, max_tokens=budget, count_tokens=words, context_sentences=context)
    assert plan.source_text() == text
    assert all(segment.text == segment.text.strip() and segment.text for segment in plan.segments)
    covered = [index for window in plan.windows for index in window.new]
    assert covered == list(range(len(plan.segments)))
    assert all(window.tokens <= budget for window in plan.windows)
    outputs = [[f"[{i}]" for i in window.segments] for window in plan.windows]
    kept = re.findall(r"\[(\d+)\]", stitch(plan, outputs))
    assert kept == [str(i) for i in range(len(plan.segments))]


def test_a_translator_returning_the_wrong_count_is_an_error():
    with pytest.raises(SeqlabError, match="window 0: the translator returned 1 outputs for 2"):
        translate_document("Eins. Zwei.", lambda s: ["x"], max_tokens=10, count_tokens=words)
    plan = plan_document("Eins.", max_tokens=10, count_tokens=words)
    with pytest.raises(SeqlabError, match="0 window outputs for 1 windows"):
        stitch(plan, [])
    with pytest.raises(SeqlabError, match=r"max_tokens \(0\) must be at least 1"):
        plan_document("x", max_tokens=0, count_tokens=words)


def test_an_empty_document_needs_no_translation():
    result = translate_document("  \n ", lambda s: [], max_tokens=5, count_tokens=words)
    assert result.text == "" and result.plan.windows == ()
    assert result.plan.source_text() == "  \n "
