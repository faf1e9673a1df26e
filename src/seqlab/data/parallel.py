"""Parallel corpora (source sentence, target sentence): Multi30k and any user corpus, with every
pair that is not used reported with its file and line.

References: Elliott et al., 2016, "Multi30K: Multilingual English-German Image Descriptions" (the
named set ``multi30k``, read through :func:`seqlab.data.sources.resolve_file`); the file formats'
references are in seqlab.data.parallel_formats, which reads the bytes, lines and records.

Two ways to give a corpus:

- two aligned text files (plain or gzip), one sentence a line, pair k = line k of both
  (:func:`read_aligned_files`, :func:`read_multi30k`). Files of different line counts are an
  error naming both counts. Lines are split at LF only (a CR before the LF is dropped): a stray
  CR inside a sentence must not shift every later line of one file against the other. Every line
  is a pair, blank ones included (they are skipped as empty pairs and reported), so
  ``len(corpus) + len(corpus.skipped) == lines``;
- one TSV, CSV or JSONL file with a source and a target column (:func:`read_parallel_file`),
  read as seqlab.data.text_files reads labelled texts: the format from the extension, a header
  line naming the columns (CSV, TSV), plain TSV split at tabs with quotes as ordinary characters,
  CSV quoting with fields that may span lines, one JSON object a line. Lines holding only white
  space are not rows and are passed over; every other line belongs to the header, to a pair read
  or to a pair skipped, so ``len(corpus) + len(corpus.skipped) == corpus.records``.

Both sides are stripped of surrounding white space. A pair is skipped (or, with ``strict=True``,
the first one raised as ``SeqlabError("FILE:LINE: reason; fix")``) when a side is empty, holds
bytes that are not UTF-8 or a NUL byte, or is longer than ``max_chars`` characters; over-long
pairs are skipped, not cut, because a cut source no longer means its target.
:meth:`ParallelCorpus.without_long_pairs` applies a limit in tokens once a tokenizer exists.
:meth:`ParallelCorpus.notes` says what was skipped in lines for a person, :meth:`record` as a
dict for a report.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from seqlab.data.parallel_formats import (
    JSON_TYPES,
    NOT_UTF8,
    Problem,
    csv_records,
    jsonl_records,
    physical_lines,
    plain_tsv_records,
    read_corpus_bytes,
)
from seqlab.data.sources import resolve_file
from seqlab.data.text_files import TextFormat, detect_format
from seqlab.errors import SeqlabError

__all__ = [
    "DEFAULT_MAX_CHARS",
    "MULTI30K_LANGUAGES",
    "MULTI30K_SPLITS",
    "ParallelCorpus",
    "SkippedPair",
    "multi30k_files",
    "read_aligned_files",
    "read_multi30k",
    "read_parallel_file",
]

# Far above a sentence (Multi30k's longest line has 257 characters), low enough that a paragraph
# pasted into one line is noticed: a translation model trained on sentences cannot use it.
DEFAULT_MAX_CHARS = 2_000

# How many pairs a note prints in full, and how many a report lists, before giving a count.
NOTED_PAIRS = 5
RECORDED_PAIRS = 20

# Split name -> file stem in the multi30k folder; "test" is test2016 (Flickr), the split papers
# report BLEU on.
MULTI30K_SPLITS: dict[str, str] = {
    "train": "train",
    "val": "val",
    "test": "test_2016_flickr",
    "test_2016_flickr": "test_2016_flickr",
}
MULTI30K_LANGUAGES: tuple[str, ...] = ("de", "en")


@dataclass(frozen=True)
class SkippedPair:
    """A pair not used: the line it starts on (1-based), the file the problem is in (None when
    it concerns both files of an aligned pair), why, and how to fix it."""

    line: int
    reason: str
    fix: str = ""
    file: str | None = None


@dataclass(frozen=True)
class ParallelCorpus:
    """The usable pairs of a corpus, in file order, and the pairs reading it left out.

    lines: the line each pair starts on. source_file, target_file: the files read (the same
    file for a TSV, CSV or JSONL corpus).
    """

    sources: tuple[str, ...]
    targets: tuple[str, ...]
    lines: tuple[int, ...]
    source_file: str
    target_file: str
    skipped: tuple[SkippedPair, ...] = ()

    def __post_init__(self) -> None:
        if not len(self.sources) == len(self.targets) == len(self.lines):
            raise ValueError(
                f"{len(self.sources)} sources, {len(self.targets)} targets, {len(self.lines)} "
                "lines: give one of each per pair"
            )

    def __len__(self) -> int:
        return len(self.sources)

    @property
    def records(self) -> int:
        """Pairs read plus pairs skipped: every line of aligned files, every row of a table."""
        return len(self.sources) + len(self.skipped)

    @property
    def origin(self) -> str:
        """The file, or ``SOURCE + TARGET`` for aligned files, as messages name the corpus."""
        if self.source_file == self.target_file:
            return self.source_file
        return f"{self.source_file} + {self.target_file}"

    def select(self, indices: Iterable[int], *, with_report: bool) -> ParallelCorpus:
        """The pairs at ``indices`` (in file order); ``with_report`` keeps the skipped pairs (give
        them to one part of a split only, so each is reported once)."""
        chosen = sorted(indices)
        return ParallelCorpus(
            sources=tuple(self.sources[i] for i in chosen),
            targets=tuple(self.targets[i] for i in chosen),
            lines=tuple(self.lines[i] for i in chosen),
            source_file=self.source_file,
            target_file=self.target_file,
            skipped=self.skipped if with_report else (),
        )

    def without_long_pairs(
        self,
        max_tokens: int,
        *,
        count_source: Callable[[str], int],
        count_target: Callable[[str], int],
        strict: bool = False,
        limit_name: str = "max_tokens",
    ) -> ParallelCorpus:
        """This corpus without the pairs of which a side has more than ``max_tokens`` tokens
        (as the count functions say), those added to ``skipped`` in line order; ``strict`` raises
        on the first one instead. ``limit_name``: the setting the notes tell the user to raise."""
        if max_tokens < 1:
            raise SeqlabError(f"max_tokens ({max_tokens}) must be at least 1")
        kept: list[int] = []
        dropped: list[SkippedPair] = []
        sides = (
            ("source", self.source_file, count_source),
            ("target", self.target_file, count_target),
        )
        for index, line in enumerate(self.lines):
            problem = None
            for (role, file, count), text in zip(
                sides, (self.sources[index], self.targets[index]), strict=True
            ):
                tokens = count(text)
                if tokens > max_tokens:
                    problem = SkippedPair(
                        line=line,
                        reason=f"{role} has {tokens:,} tokens, over {limit_name} ({max_tokens:,})",
                        fix=f"raise {limit_name} or split the sentence in both languages",
                        file=file,
                    )
                    break
            if problem is None:
                kept.append(index)
                continue
            if strict:
                raise SeqlabError(_message(problem, self.origin))
            dropped.append(problem)
        return ParallelCorpus(
            sources=tuple(self.sources[i] for i in kept),
            targets=tuple(self.targets[i] for i in kept),
            lines=tuple(self.lines[i] for i in kept),
            source_file=self.source_file,
            target_file=self.target_file,
            skipped=tuple(sorted(self.skipped + tuple(dropped), key=lambda pair: pair.line)),
        )

    def notes(self, *, limit: int = NOTED_PAIRS) -> list[str]:
        """What reading the corpus left out, for a person: a count, then one line per skipped
        pair (``FILE:LINE: reason; fix``), the first ``limit``, then how many more."""
        if not self.skipped:
            return []
        lines = [
            f"{self.origin}: {_pairs(len(self.skipped))} skipped (not used), "
            f"{_pairs(len(self.sources))} read"
        ]
        lines.extend(f"  {_message(pair, self.origin)}" for pair in self.skipped[:limit])
        if len(self.skipped) > limit:
            more = len(self.skipped) - limit
            lines.append(
                f"  {self.origin}: and {more} more skipped (the first {RECORDED_PAIRS} are listed "
                "under data.skipped_pairs in the report)"
            )
        return lines

    def record(self, *, limit: int = RECORDED_PAIRS) -> dict[str, Any]:
        """What reading the corpus left out, for a report: counts and the first ``limit``."""
        return {
            "pairs": len(self.sources),
            "records": self.records,
            "skipped_pairs": {
                "total": len(self.skipped),
                "first": [
                    {"file": pair.file or self.origin, "line": pair.line, "reason": pair.reason}
                    for pair in self.skipped[:limit]
                ],
            },
        }


def _message(pair: SkippedPair, origin: str) -> str:
    fix = f"; {pair.fix}" if pair.fix else ""
    return f"{pair.file or origin}:{pair.line}: {pair.reason}{fix}"


def _pairs(count: int) -> str:
    return f"{count} pair" if count == 1 else f"{count} pairs"


class _Pairs:
    """Collects pairs: checks both sides, keeps good pairs, records (or in strict mode raises
    on) bad ones."""

    def __init__(self, *, source_file: str, target_file: str, strict: bool, max_chars: int) -> None:
        if max_chars < 1:
            raise SeqlabError(f"max_chars ({max_chars}) must be at least 1")
        self.source_file = source_file
        self.target_file = target_file
        self.strict = strict
        self.max_chars = max_chars
        self.sources: list[str] = []
        self.targets: list[str] = []
        self.lines: list[int] = []
        self.skipped: list[SkippedPair] = []

    @property
    def origin(self) -> str:
        if self.source_file == self.target_file:
            return self.source_file
        return f"{self.source_file} + {self.target_file}"

    def skip(self, line: int, reason: str, fix: str, *, file: str | None = None) -> None:
        if file is None and self.source_file == self.target_file:
            file = self.source_file
        pair = SkippedPair(line=line, reason=reason, fix=fix, file=file)
        if self.strict:
            raise SeqlabError(_message(pair, self.origin))
        self.skipped.append(pair)

    def add(self, line: int, source: object, target: object, *, roles: tuple[str, str]) -> None:
        """Check and keep one pair; ``roles`` name the sides in messages (``source ('de')``)."""
        sides = ((roles[0], self.source_file, source), (roles[1], self.target_file, target))
        empty = [role for role, _, text in sides if isinstance(text, str) and not text.strip()]
        if len(empty) == 2:
            self.skip(line, f"empty {empty[0]} and {empty[1]}", "delete the pair or fill it in")
            return
        for role, file, text in sides:
            problem = _side_problem(text, role, self.max_chars)
            if problem is not None:
                self.skip(line, *problem, file=file)
                return
        assert isinstance(source, str) and isinstance(target, str)
        self.sources.append(source.strip())
        self.targets.append(target.strip())
        self.lines.append(line)

    def corpus(self) -> ParallelCorpus:
        if not self.sources and not self.skipped:
            raise SeqlabError(f"{self.origin} has no sentence pairs; add at least one")
        if not self.sources:
            first = self.skipped[0]
            raise SeqlabError(
                f"{self.origin} has no usable pairs ({len(self.skipped)} skipped; first: "
                f"{_message(first, self.origin)})"
            )
        return ParallelCorpus(
            sources=tuple(self.sources),
            targets=tuple(self.targets),
            lines=tuple(self.lines),
            source_file=self.source_file,
            target_file=self.target_file,
            skipped=tuple(self.skipped),
        )


def _side_problem(text: object, role: str, max_chars: int) -> tuple[str, str] | None:
    if text is None:
        return f"missing {role}", f"add the {role}"
    if not isinstance(text, str):
        kind = JSON_TYPES.get(type(text), type(text).__name__)
        return f"{role} is {kind}, not a string", "write the sentence as a JSON string"
    stripped = text.strip()
    if not stripped:
        return f"empty {role}", f"fill in the {role} or delete the pair"
    if "\x00" in text:
        return f"{role} holds a NUL byte (the file may not be text)", "remove the NUL bytes"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # only JSON can say this: "\ud800" escapes half a surrogate pair
        return f"{role} holds an unpaired surrogate escape", "write the character itself"
    if len(stripped) > max_chars:
        return (
            f"{role} has {len(stripped):,} characters, over max_chars ({max_chars:,})",
            "raise max_chars or split the sentence in both languages",
        )
    return None


def read_aligned_files(
    source_path: str | os.PathLike[str],
    target_path: str | os.PathLike[str],
    *,
    max_chars: int = DEFAULT_MAX_CHARS,
    strict: bool = False,
) -> ParallelCorpus:
    """Pairs from two files aligned by line (plain or gzip, one sentence a line).

    Different line counts are a one-line SeqlabError giving both counts and both files. A line
    that is not UTF-8 names its file and line. See the module docstring for what is skipped.
    """
    source_file, target_file = str(source_path), str(target_path)
    source_lines = physical_lines(read_corpus_bytes(Path(source_path)))
    target_lines = physical_lines(read_corpus_bytes(Path(target_path)))
    if len(source_lines) != len(target_lines):
        raise SeqlabError(
            f"{source_file} has {len(source_lines):,} lines but {target_file} has "
            f"{len(target_lines):,}; aligned files need one sentence a line and the same count"
        )
    pairs = _Pairs(
        source_file=source_file, target_file=target_file, strict=strict, max_chars=max_chars
    )
    for number, raw_pair in enumerate(zip(source_lines, target_lines, strict=True), start=1):
        decoded: list[str] = []
        for file, raw in zip((source_file, target_file), raw_pair, strict=True):
            try:
                decoded.append(raw.decode("utf-8"))
            except UnicodeDecodeError:
                pairs.skip(number, *NOT_UTF8, file=file)
                break
        if len(decoded) == 2:
            pairs.add(number, decoded[0], decoded[1], roles=("source", "target"))
    return pairs.corpus()


def multi30k_files(
    split: str, *, source_lang: str = "de", target_lang: str = "en"
) -> tuple[str, str]:
    """The names of the source and target files of a Multi30k split (``train.de.gz``, ...)."""
    stem = MULTI30K_SPLITS.get(split)
    if stem is None:
        raise SeqlabError(
            f"Multi30k has no split '{split}'; use one of: {', '.join(MULTI30K_SPLITS)}"
        )
    for lang in (source_lang, target_lang):
        if lang not in MULTI30K_LANGUAGES:
            raise SeqlabError(
                f"Multi30k has no language '{lang}'; use {' or '.join(MULTI30K_LANGUAGES)}"
            )
    if source_lang == target_lang:
        raise SeqlabError(f"source and target language are both '{source_lang}'; pick two")
    return f"{stem}.{source_lang}.gz", f"{stem}.{target_lang}.gz"


def read_multi30k(
    split: str,
    *,
    source_lang: str = "de",
    target_lang: str = "en",
    max_chars: int = DEFAULT_MAX_CHARS,
    strict: bool = False,
    download: bool = True,
) -> ParallelCorpus:
    """A Multi30k split in either direction, its files found and checked by
    :func:`seqlab.data.sources.resolve_file` (``$SEQLAB_DATA/multi30k/``, the cache, a
    download). Train, val and test hold 29,000, 1,014 and 1,000 pairs, none skipped."""
    source_name, target_name = multi30k_files(
        split, source_lang=source_lang, target_lang=target_lang
    )
    return read_aligned_files(
        resolve_file("multi30k", source_name, download=download),
        resolve_file("multi30k", target_name, download=download),
        max_chars=max_chars,
        strict=strict,
    )


def read_parallel_file(
    path: str | os.PathLike[str],
    *,
    source_column: str,
    target_column: str,
    format: TextFormat | None = None,
    max_chars: int = DEFAULT_MAX_CHARS,
    strict: bool = False,
    tsv_quoting: bool = False,
) -> ParallelCorpus:
    """Pairs from one TSV, CSV or JSONL file (plain or gzip) with a source and a target column.

    format: from the extension unless given. tsv_quoting: read TSV with CSV's quoting rules
    instead of as plain lines split at tabs. A missing column, an empty file and a file with no
    usable pair are errors in either mode.
    """
    if source_column == target_column:
        raise SeqlabError(
            f"source_column and target_column are both '{source_column}'; name two columns"
        )
    file_path = Path(path)
    source = str(file_path)
    chosen = format if format is not None else detect_format(file_path)
    if chosen not in ("csv", "tsv", "jsonl"):
        raise SeqlabError(f"{source}: unknown format '{chosen}'; use 'csv', 'tsv' or 'jsonl'")
    lines = physical_lines(read_corpus_bytes(file_path))
    pairs = _Pairs(source_file=source, target_file=source, strict=strict, max_chars=max_chars)
    columns = (source_column, target_column)
    roles = (f"source ('{source_column}')", f"target ('{target_column}')")
    if chosen == "jsonl":
        records = jsonl_records(lines, columns)
    elif chosen == "tsv" and not tsv_quoting:
        records = plain_tsv_records(lines, columns, source=source)
    else:
        delimiter = "," if chosen == "csv" else "\t"
        records = csv_records(lines, columns, source=source, delimiter=delimiter)
    for line, values in records:
        if isinstance(values, Problem):
            pairs.skip(line, values.reason, values.fix)
        else:
            pairs.add(line, values[0], values[1], roles=roles)
    return pairs.corpus()
