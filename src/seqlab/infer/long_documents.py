"""Translating a document longer than a model's limit: split at sentence boundaries into windows
under a token budget, give each window the sentences before it as context, stitch the outputs.

References: Tiedemann and Scherrer, 2017, "Neural Machine Translation with Extended Context"
(previous sentences as context, their translation discarded: the "2-to-1" setting, here
generalised to k context sentences and several new ones per window); Kiss and Strunk, 2006,
"Unsupervised Multilingual Sentence Boundary Detection" (why a period is not always a boundary:
abbreviations, initials, ordinal numbers; the rules below are a small subset, not their method).

Method (sentence-aligned windows). The document is cut into segments: sentences, and pieces of
a sentence longer than the budget (cut at word boundaries, a single word longer than the budget
cut between characters; each such sentence is reported). Windows are formed left to right: window
w is responsible for the new segments ``new = range(a, b)``, with ``a`` where the previous window
stopped, and is given up to ``context_sentences`` segments before ``a`` as context. The new
segments fill the budget left by the context; the context shrinks (oldest first) when even one
new segment would not fit beside it. The translator gets the window's segments (context then
new) and must return one output per segment; the outputs of the context segments are dropped.

Why nothing is lost, repeated or reordered: the ``new`` ranges of the windows are consecutive,
non-empty and cover 0..n-1 (:class:`DocumentPlan` checks it), and stitching keeps, window by
window, exactly the outputs at the ``new`` positions, so output k is the translation of segment
k, once, in order; a translator returning the wrong number of outputs is an error, never a guess.
The cost: each context segment is translated again as context, so a document of n segments in
W windows translates at most n + W * context_sentences segments (about
``1 + context_sentences / segments per window`` times the work of no context).

The budget counts the tokens of the window's segments, each counted alone by the ``count_tokens``
function passed in; a translator that joins them with separator tokens should pass a budget
lowered by those. Splitting is a pure function of the text; the segments with the white space
between them give back the document exactly (tested), so splitting never drops text.

Sentence boundaries (a heuristic): after ``.``, ``!``, ``?`` or ``…`` (closing quotes and brackets
may follow) and white space, unless the next word starts with a lowercase letter, or the period
follows a single letter (initials, ``z. B.``), a number (German ordinals: ``am 3. Juli``) or one
of a few abbreviations (``Dr.``, ``Mr.``, ...); and at every blank line. A wrong boundary costs
translation quality, never text. Stitched output keeps paragraph breaks and line breaks between
segments, and joins the rest with one space (nothing inside a word cut).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from seqlab.errors import SeqlabError

__all__ = [
    "DocumentPlan",
    "LongSentence",
    "Segment",
    "TranslatedDocument",
    "Window",
    "plan_document",
    "sentence_spans",
    "stitch",
    "translate_document",
]

CountTokens = Callable[[str], int]
Translate = Callable[[Sequence[str]], Sequence[str]]

_SENTENCE_END = re.compile(r"[.!?…]+[\"'”’»)\]]*(?=\s)")
_PARAGRAPH = re.compile(r"\n[^\S\n]*\n")
_WORD = re.compile(r"\S+")
# The first character after white space, read in place: slicing off the rest of the text at
# every sentence end would make splitting quadratic in the document's length.
_NEXT_CHARACTER = re.compile(r"\s*(\S?)")
_ABBREVIATIONS = frozenset({"Mr", "Mrs", "Ms", "Dr", "Prof", "St", "Nr", "Hr", "Fr", "vs", "bzw"})
# How far back a period looks for the word it ends: longer words are never abbreviations.
_LOOKBACK = 12


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each sentence of ``text``, without surrounding white space, in order."""
    cuts = {match.start() for match in _PARAGRAPH.finditer(text)}
    cuts.update(match.end() for match in _SENTENCE_END.finditer(text) if _is_boundary(text, match))
    spans: list[tuple[int, int]] = []
    start = 0
    for cut in [*sorted(cuts), len(text)]:
        piece = text[start:cut]
        stripped = piece.strip()
        if stripped:
            first = start + len(piece) - len(piece.lstrip())
            spans.append((first, first + len(stripped)))
        start = cut
    return spans


def _is_boundary(text: str, match: re.Match[str]) -> bool:
    after = _NEXT_CHARACTER.match(text, match.end())
    following = after.group(1) if after else ""
    if following.islower():
        return False
    if match.group() != ".":
        return True
    before = text[max(0, match.start() - _LOOKBACK - 1) : match.start()]
    words = before.split()
    if not words or before[-1].isspace() or len(words[-1]) > _LOOKBACK:
        return True
    word = words[-1]
    return not ((len(word) == 1 and word.isalpha()) or word.isdigit() or word in _ABBREVIATIONS)


@dataclass(frozen=True)
class Segment:
    """A unit of translation: a sentence, or a piece of one longer than the budget.

    start, end: its characters in the document. separator: the white space between it and the
    next segment (after the last: to the end of the document; "" inside a cut word). sentence:
    the index of the sentence it belongs to. tokens: its count by ``count_tokens``.
    """

    text: str
    start: int
    end: int
    separator: str
    sentence: int
    tokens: int


@dataclass(frozen=True)
class LongSentence:
    """A sentence over the budget, split into ``pieces`` segments; ``words_cut`` when a word
    alone was over the budget and had to be cut between characters."""

    sentence: int
    start: int
    end: int
    tokens: int
    pieces: int
    words_cut: bool


@dataclass(frozen=True)
class Window:
    """Segment indices given as context (outputs dropped) and translated as new (kept)."""

    context: range
    new: range
    tokens: int

    @property
    def segments(self) -> range:
        """Every segment the translator gets, context first."""
        return range(self.context.start if self.context else self.new.start, self.new.stop)


@dataclass(frozen=True)
class DocumentPlan:
    """A document cut into segments and windows (see the module docstring)."""

    leading: str
    segments: tuple[Segment, ...]
    windows: tuple[Window, ...]
    max_tokens: int
    long_sentences: tuple[LongSentence, ...]

    def __post_init__(self) -> None:
        expected = 0
        for number, window in enumerate(self.windows):
            if window.new.start != expected or not window.new or window.new.step != 1:
                raise ValueError(f"window {number}: new segments {window.new} do not follow")
            expected = window.new.stop
        if expected != len(self.segments):
            raise ValueError(f"windows cover {expected} of {len(self.segments)} segments")

    def window_texts(self, number: int) -> list[str]:
        """What the translator gets for window ``number``: context segments, then new ones."""
        return [self.segments[i].text for i in self.windows[number].segments]

    def source_text(self) -> str:
        """The document back from its segments and separators (equal to the input)."""
        return self.leading + "".join(s.text + s.separator for s in self.segments)

    def notes(self) -> list[str]:
        """The sentences split for being over the budget, one line each."""
        lines: list[str] = []
        for long in self.long_sentences:
            how = "at word boundaries" + (" (a word cut between characters)" * long.words_cut)
            lines.append(
                f"sentence {long.sentence + 1} (characters {long.start}-{long.end}) has "
                f"{long.tokens:,} tokens, over the window budget of {self.max_tokens:,}: split "
                f"{how} into {long.pieces} pieces, translated separately"
            )
        return lines


def _longest_prefix(word: str, max_tokens: int, count_tokens: CountTokens) -> int:
    """Characters of the longest prefix of ``word`` within the budget (at least one)."""
    low, high = 1, len(word)
    while low < high:  # binary search: prefixes only grow in tokens as they grow in characters
        middle = (low + high + 1) // 2
        if count_tokens(word[:middle]) <= max_tokens:
            low = middle
        else:
            high = middle - 1
    return low


def _word_pieces(
    text: str, offset: int, max_tokens: int, count_tokens: CountTokens
) -> tuple[list[tuple[int, int]], bool]:
    """Spans (document offsets) of pieces of a sentence, each within the budget, cut at word
    boundaries (and between characters inside a word over the budget); whether a word was cut.

    A piece grows while the sum of its words' counts stays within the budget (each word counted
    once, so a huge sentence costs linear time), then is counted whole and shrunk word by word
    while over: a subword count of joined words can differ from the sum of their counts.
    """
    words: list[tuple[int, int, int]] = []  # start, end, tokens
    cut_word = False
    for match in _WORD.finditer(text):
        start, end = match.span()
        tokens = count_tokens(text[start:end])
        while tokens > max_tokens and end - start > 1:
            keep = _longest_prefix(text[start:end], max_tokens, count_tokens)
            words.append((start, start + keep, count_tokens(text[start : start + keep])))
            start, cut_word = start + keep, True
            tokens = count_tokens(text[start:end])
        words.append((start, end, tokens))
    pieces: list[tuple[int, int]] = []
    first = 0
    while first < len(words):
        stop, total = first + 1, words[first][2]
        while stop < len(words) and total + words[stop][2] <= max_tokens:
            total += words[stop][2]
            stop += 1
        while stop - first > 1 and count_tokens(_joined(text, words, first, stop)) > max_tokens:
            stop -= 1
        pieces.append((offset + words[first][0], offset + words[stop - 1][1]))
        first = stop
    return pieces, cut_word


def _joined(text: str, words: Sequence[tuple[int, int, int]], first: int, stop: int) -> str:
    """The text of words ``first`` .. ``stop - 1``, with the white space between them."""
    return text[words[first][0] : words[stop - 1][1]]


def _segments(
    text: str, *, max_tokens: int, count_tokens: CountTokens
) -> tuple[list[tuple[int, int, int, int]], list[LongSentence]]:
    """(start, end, sentence, tokens) of every segment, and the sentences that were split."""
    segments: list[tuple[int, int, int, int]] = []
    long_sentences: list[LongSentence] = []
    for number, (start, end) in enumerate(sentence_spans(text)):
        tokens = count_tokens(text[start:end])
        if tokens <= max_tokens:
            segments.append((start, end, number, tokens))
            continue
        pieces, cut_word = _word_pieces(text[start:end], start, max_tokens, count_tokens)
        long_sentences.append(LongSentence(number, start, end, tokens, len(pieces), cut_word))
        segments.extend((a, b, number, count_tokens(text[a:b])) for a, b in pieces)
    return segments, long_sentences


def _windows(costs: Sequence[int], *, max_tokens: int, context_sentences: int) -> list[Window]:
    windows: list[Window] = []
    first = 0
    while first < len(costs):
        context_start = max(0, first - context_sentences)
        # Context shrinks, oldest first, until the first new segment fits beside it.
        while context_start < first and sum(costs[context_start : first + 1]) > max_tokens:
            context_start += 1
        total = sum(costs[context_start : first + 1])
        stop = first + 1
        while stop < len(costs) and total + costs[stop] <= max_tokens:
            total += costs[stop]
            stop += 1
        windows.append(Window(range(context_start, first), range(first, stop), total))
        first = stop
    return windows


def plan_document(
    text: str, *, max_tokens: int, count_tokens: CountTokens, context_sentences: int = 1
) -> DocumentPlan:
    """Cut ``text`` into segments within ``max_tokens`` each and windows of at most
    ``max_tokens`` tokens, each with up to ``context_sentences`` segments of context."""
    if max_tokens < 1:
        raise SeqlabError(f"max_tokens ({max_tokens}) must be at least 1")
    if context_sentences < 0:
        raise SeqlabError(f"context_sentences ({context_sentences}) must be >= 0")
    spans, long_sentences = _segments(text, max_tokens=max_tokens, count_tokens=count_tokens)
    segments: list[Segment] = []
    for index, (start, end, sentence, tokens) in enumerate(spans):
        next_start = spans[index + 1][0] if index + 1 < len(spans) else len(text)
        segment = Segment(text[start:end], start, end, text[end:next_start], sentence, tokens)
        segments.append(segment)
    windows = _windows(
        [s.tokens for s in segments], max_tokens=max_tokens, context_sentences=context_sentences
    )
    return DocumentPlan(
        leading=text[: spans[0][0]] if spans else text,
        segments=tuple(segments),
        windows=tuple(windows),
        max_tokens=max_tokens,
        long_sentences=tuple(long_sentences),
    )


def _joiner(separator: str) -> str:
    """How a separator of the source reads in the output: paragraph break, line break, one
    space, or nothing (inside a cut word)."""
    breaks = separator.count("\n")
    return "\n\n" if breaks >= 2 else "\n" if breaks == 1 else " " if separator else ""


def stitch(plan: DocumentPlan, outputs: Sequence[Sequence[str]]) -> str:
    """The translated document from one output list per window (context outputs first, as the
    translator got them); only the outputs of each window's new segments are kept."""
    if len(outputs) != len(plan.windows):
        raise SeqlabError(
            f"{len(outputs)} window outputs for {len(plan.windows)} windows; give one per window"
        )
    parts: list[str] = []
    for number, (window, translated) in enumerate(zip(plan.windows, outputs, strict=True)):
        if len(translated) != len(window.segments):
            raise SeqlabError(
                f"window {number}: the translator returned {len(translated)} outputs for "
                f"{len(window.segments)} sentences; it must return one per sentence, in order"
            )
        for index, output in zip(window.new, translated[len(window.context) :], strict=True):
            parts.append(output.strip() + _joiner(plan.segments[index].separator))
    return "".join(parts).rstrip(" ")


@dataclass(frozen=True)
class TranslatedDocument:
    """The stitched translation and the plan it was made with (segments, windows, notes)."""

    text: str
    plan: DocumentPlan

    def notes(self) -> list[str]:
        return self.plan.notes()


def translate_document(
    text: str,
    translate: Translate,
    *,
    max_tokens: int,
    count_tokens: CountTokens,
    context_sentences: int = 1,
) -> TranslatedDocument:
    """Translate ``text`` window by window with ``translate`` (segments in, one output per
    segment out) and stitch the outputs; see the module docstring for the method."""
    plan = plan_document(
        text,
        max_tokens=max_tokens,
        count_tokens=count_tokens,
        context_sentences=context_sentences,
    )
    outputs = [translate(plan.window_texts(number)) for number in range(len(plan.windows))]
    return TranslatedDocument(text=stitch(plan, outputs), plan=plan)
