"""Labelled texts from any user file (CSV, TSV or JSON lines), with every row that is not used,
or not used whole, reported with its line.

References: RFC 4180 (CSV: quoted fields may hold the delimiter, quotes doubled as ``""`` and line
breaks) as read by Python's ``csv`` module; the IANA ``text/tab-separated-values`` type (TSV: one
record a line, fields split at tabs, no quoting, the form GLUE's SST-2 files take); JSON Lines
(https://jsonlines.org: one JSON value per line, UTF-8); the Unicode byte order mark (U+FEFF,
bytes EF BB BF), which spreadsheet programs put at the start of UTF-8 exports and which would
otherwise become part of the first column's name.

How a file is read (seqlab.data.text_formats parses each format):

- the format comes from the extension (``.csv``, ``.tsv``/``.tab``, ``.jsonl``/``.ndjson``) or
  ``format=``;
- CSV and TSV need a header line naming the columns (SST-2: ``label<TAB>sentence``); JSONL rows
  are objects with the two keys; ``text_column=None`` picks the first of
  :data:`TEXT_COLUMN_CANDIDATES` the file has (the shared SST-2 copy names its text column
  ``sentence`` in ``train.tsv`` but ``content`` in ``dev.tsv``);
- TSV is read as plain lines split at tabs: a quote is an ordinary character (a text opening with
  ``"`` would otherwise swallow the rows after it). ``tsv_quoting=True`` reads TSV with CSV's
  quoting rules instead;
- bytes are decoded line by line, so a line that is not UTF-8 is reported with its number while the
  rest of the file still loads;
- text and label are stripped of surrounding white space; labels are strings (a JSONL integer label
  ``1`` becomes ``"1"``); a text longer than ``max_chars`` characters keeps its first ``max_chars``
  and is reported as a :class:`CutText` (fields of any length are read: there is no field limit);
- lines holding only white space are not rows and are passed over (they carry no data); every
  other line belongs to the header, to a row read, or to a row skipped;
- every row that cannot be used becomes a :class:`BadRow` with its line number: skipped and
  reported by default, the first one raised as a ``SeqlabError`` with ``strict=True``.

:meth:`LabelledTexts.notes` says all of it in lines for a person (the first rows in full, then a
count), :meth:`LabelledTexts.record` as a dict for a report.
"""

from __future__ import annotations

import functools
import os
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

from seqlab.data.file_bytes import read_file_bytes
from seqlab.data.text_formats import (
    TEXT_COLUMN_CANDIDATES,
    BadRow,
    CutText,
    RowSink,
    is_blank,
    read_delimited,
    read_jsonl,
    read_plain_tsv,
)
from seqlab.errors import SeqlabError

__all__ = [
    "DEFAULT_MAX_CHARS",
    "TEXT_COLUMN_CANDIDATES",
    "BadRow",
    "CutText",
    "LabelMap",
    "LabelledTexts",
    "TextFormat",
    "detect_format",
    "label_case_variants",
    "read_labelled_texts",
]

TextFormat = Literal["csv", "tsv", "jsonl"]

# Far above any real sentence or review (SST-2's longest text has 267 characters), low enough
# that one runaway field (a whole file pasted into a cell) cannot take minutes and gigabytes.
DEFAULT_MAX_CHARS = 100_000

# How many rows a note prints in full, and how many a report lists, before giving a count.
NOTED_ROWS = 5
RECORDED_ROWS = 20

_EXTENSIONS: dict[str, TextFormat] = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".tab": "tsv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
}
_BOM = b"\xef\xbb\xbf"
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")


@dataclass(frozen=True)
class LabelledTexts:
    """The usable rows of a file, in file order, and what reading it left out.

    spans: the first and last line of each row read (equal unless a quoted field spans lines).
    skipped: the rows not used. truncated: the texts cut to ``max_chars`` characters.
    header: the first and last line of the header (None for JSON lines, which have none).
    Every line of the file that holds more than white space is in the header, in a span or in a
    skipped row.
    """

    texts: tuple[str, ...]
    labels: tuple[str, ...]
    source: str
    skipped: tuple[BadRow, ...] = ()
    truncated: tuple[CutText, ...] = ()
    spans: tuple[tuple[int, int], ...] = ()
    header: tuple[int, int] | None = None

    def __len__(self) -> int:
        return len(self.texts)

    def with_labels(self, labels: Sequence[str]) -> LabelledTexts:
        """The same rows with ``labels`` (one per row) instead."""
        if len(labels) != len(self.texts):
            raise ValueError(f"{len(labels)} labels for {len(self.texts)} rows")
        return replace(self, labels=tuple(labels))

    def select(self, indices: Iterable[int], *, source: str, with_report: bool) -> LabelledTexts:
        """The rows at ``indices`` (in file order) under the name ``source``; ``with_report``
        keeps the file's skipped and truncated rows (give them to one part of a split only)."""
        chosen = sorted(indices)
        return LabelledTexts(
            texts=tuple(self.texts[i] for i in chosen),
            labels=tuple(self.labels[i] for i in chosen),
            source=source,
            skipped=self.skipped if with_report else (),
            truncated=self.truncated if with_report else (),
            spans=tuple(self.spans[i] for i in chosen) if self.spans else (),
            header=self.header,
        )

    def notes(self, *, limit: int = NOTED_ROWS) -> list[str]:
        """What reading the file left out, for a person: one line per skipped row and per cut
        text (``FILE:LINE: reason; fix``), the first ``limit`` of each, then a count."""
        lines: list[str] = []
        if self.skipped:
            lines.append(
                f"{self.source}: {_rows(len(self.skipped))} skipped (not used), "
                f"{_rows(len(self.texts))} read"
            )
            for row in self.skipped[:limit]:
                fix = f"; {row.fix}" if row.fix else ""
                lines.append(f"  {self.source}:{row.line}: {row.reason}{fix}")
            if len(self.skipped) > limit:
                lines.append(
                    f"  {self.source}: and {_more(len(self.skipped) - limit, 'row')} skipped "
                    f"(the first {RECORDED_ROWS} are listed under data.skipped_rows in the report)"
                )
        if self.truncated:
            kept = self.truncated[0].kept
            lines.append(
                f"{self.source}: {_texts(len(self.truncated))} longer than {kept:,} characters, "
                f"cut to the first {kept:,} (data.max_chars)"
            )
            for cut in self.truncated[:limit]:
                lines.append(f"  {self.source}:{cut.line}: a text of {cut.chars:,} characters")
            if len(self.truncated) > limit:
                lines.append(
                    f"  {self.source}: and {_more(len(self.truncated) - limit, 'text')} cut "
                    f"(the first {RECORDED_ROWS} are listed under data.truncated_texts in the "
                    "report)"
                )
        return lines

    def record(self, *, limit: int = RECORDED_ROWS) -> dict[str, Any]:
        """What reading the file left out, for a report: counts and the first ``limit`` rows."""
        return {
            "rows": len(self.texts),
            "skipped_rows": {
                "total": len(self.skipped),
                "first": [{"line": row.line, "reason": row.reason} for row in self.skipped[:limit]],
            },
            "truncated_texts": {
                "total": len(self.truncated),
                "first": [{"line": cut.line, "chars": cut.chars} for cut in self.truncated[:limit]],
            },
        }


def _rows(count: int) -> str:
    return f"{count} row" if count == 1 else f"{count} rows"


def _texts(count: int) -> str:
    return f"{count} text" if count == 1 else f"{count} texts"


def _more(count: int, noun: str) -> str:
    return f"{count} more {noun}" if count == 1 else f"{count} more {noun}s"


def detect_format(path: str | os.PathLike[str]) -> TextFormat:
    """The format implied by a file's extension; a SeqlabError says how to name it otherwise."""
    suffix = Path(path).suffix.lower()
    try:
        return _EXTENSIONS[suffix]
    except KeyError:
        known = ", ".join(sorted(_EXTENSIONS))
        raise SeqlabError(
            f"{path}: cannot tell the format from the extension '{suffix}'; rename it to one of "
            f"{known} or pass format='csv', 'tsv' or 'jsonl'"
        ) from None


def read_labelled_texts(
    path: str | os.PathLike[str],
    *,
    format: TextFormat | None = None,
    text_column: str | None = None,
    label_column: str = "label",
    known_labels: Iterable[str] | None = None,
    strict: bool = False,
    tsv_quoting: bool = False,
    max_chars: int = DEFAULT_MAX_CHARS,
) -> LabelledTexts:
    """Read (text, label) rows from a CSV, TSV or JSONL file.

    known_labels: when given (at evaluation time: the labels the model was trained on), a row
    with any other label is a bad row.
    strict: raise ``SeqlabError("FILE:LINE: reason; fix")`` on the first bad row instead of
    skipping it.
    tsv_quoting: read TSV with CSV's quoting rules (a field in ``"..."`` may hold tabs and line
    breaks) instead of as plain lines split at tabs.
    max_chars: texts longer than this keep their first ``max_chars`` characters (reported in
    ``truncated``).
    An empty file, a missing column and a file with no usable row are errors in either mode.
    """
    if max_chars < 1:
        raise SeqlabError(f"max_chars ({max_chars}) must be at least 1")
    file_path = Path(path)
    source = str(file_path)
    chosen = format if format is not None else detect_format(file_path)
    if chosen not in ("csv", "tsv", "jsonl"):
        raise SeqlabError(f"{source}: unknown format '{chosen}'; use 'csv', 'tsv' or 'jsonl'")
    lines = _file_lines(file_path, source)

    rows = RowSink(
        source=source,
        strict=strict,
        known_labels=frozenset(known_labels) if known_labels is not None else None,
        max_chars=max_chars,
    )
    if chosen == "jsonl":
        read_jsonl(lines, rows, text_column=text_column, label_column=label_column)
    elif chosen == "tsv" and not tsv_quoting:
        read_plain_tsv(lines, rows, text_column=text_column, label_column=label_column)
    else:
        delimiter = "," if chosen == "csv" else "\t"
        read_delimited(
            lines, rows, delimiter=delimiter, text_column=text_column, label_column=label_column
        )

    if not rows.texts and not rows.bad:
        what = "no rows" if chosen == "jsonl" else "a header but no rows"
        raise SeqlabError(f"{source} has {what}; add at least one row")
    if not rows.texts:
        first = rows.bad[0]
        raise SeqlabError(
            f"{source} has no usable rows ({len(rows.bad)} bad rows; first: line {first.line}: "
            f"{first.reason}); fix the file or check text_column/label_column"
        )
    return LabelledTexts(
        texts=tuple(rows.texts),
        labels=tuple(rows.labels),
        source=source,
        skipped=tuple(rows.bad),
        truncated=tuple(rows.cut),
        spans=tuple(rows.spans),
        header=rows.header,
    )


def _file_lines(file_path: Path, source: str) -> list[bytes]:
    """The file's physical lines with their line ends (split at LF, CR LF and lone CR), without
    a UTF-8 byte order mark; a SeqlabError when there is nothing to read."""
    data = read_file_bytes(file_path, source=source)
    if data.startswith(_UTF16_BOMS):
        raise SeqlabError(f"{source} is UTF-16 text (it starts with a UTF-16 byte order mark); "
                          "save it as UTF-8")  # fmt: skip
    if data.startswith(_BOM):
        data = data[len(_BOM) :]
    lines = data.splitlines(keepends=True)
    if all(is_blank(line) for line in lines):
        raise SeqlabError(f"{source} is empty; give a file with a header and at least one row")
    return lines


def label_case_variants(labels: Iterable[str]) -> list[dict[str, int]]:
    """The labels that differ only in case (``pos``, ``POS``): one dict per group, each spelling
    with its number of rows, most rows first; groups in order of their first spelling."""
    counts = Counter(labels)
    groups: dict[str, dict[str, int]] = {}
    for label in sorted(counts):
        groups.setdefault(label.casefold(), {})[label] = counts[label]
    return [
        dict(sorted(group.items(), key=lambda item: (-item[1], item[0])))
        for group in groups.values()
        if len(group) > 1
    ]


@dataclass(frozen=True)
class LabelMap:
    """String labels <-> class ids 0..C-1, in a fixed order saved with the model.

    :meth:`from_labels` sorts the distinct labels: numerically when every label is an integer
    (``"2"`` before ``"10"``, so star ratings keep their order), else as strings. The order only
    has to be deterministic for training; after that it is saved (:meth:`to_list`) and loaded
    (:meth:`from_list`), never recomputed.
    """

    labels: tuple[str, ...]

    def __post_init__(self) -> None:
        if not self.labels:
            raise SeqlabError("a LabelMap needs at least one label")
        for label in self.labels:
            if not isinstance(label, str):
                raise SeqlabError(f"label {label!r} is a {type(label).__name__}, not a string")
        if len(set(self.labels)) != len(self.labels):
            repeated = sorted({label for label in self.labels if self.labels.count(label) > 1})
            raise SeqlabError(f"labels repeat: {', '.join(repeated)}; list each label once")

    @classmethod
    def from_labels(cls, labels: Iterable[str]) -> LabelMap:
        distinct = set(labels)
        key: Callable[[str], object] = int if all(_is_int(label) for label in distinct) else str
        return cls(labels=tuple(sorted(distinct, key=lambda label: (key(label), label))))

    @classmethod
    def from_list(cls, labels: object, *, source: str = "label list") -> LabelMap:
        """Rebuild from :meth:`to_list`'s output (e.g. read from ``config.json``)."""
        if not isinstance(labels, list):
            raise SeqlabError(f"{source}: labels must be a list of strings, not {labels!r}")
        return cls(labels=tuple(labels))

    def to_list(self) -> list[str]:
        return list(self.labels)

    @property
    def num_classes(self) -> int:
        return len(self.labels)

    def __len__(self) -> int:
        return len(self.labels)

    def id_of(self, label: str) -> int:
        try:
            return self._index[label]
        except KeyError:
            raise SeqlabError(
                f"unknown label '{label}'; the known labels are: {', '.join(self.labels)}"
            ) from None

    def label_of(self, class_id: int) -> str:
        if not 0 <= class_id < len(self.labels):
            raise SeqlabError(f"class id {class_id} is outside 0..{len(self.labels) - 1}")
        return self.labels[class_id]

    def encode(self, labels: Iterable[str]) -> list[int]:
        return [self.id_of(label) for label in labels]

    def decode(self, class_ids: Iterable[int]) -> list[str]:
        return [self.label_of(int(class_id)) for class_id in class_ids]

    @functools.cached_property
    def _index(self) -> dict[str, int]:
        # cached_property writes the instance __dict__ directly, which a frozen dataclass allows;
        # equality and hashing still compare only ``labels``.
        return {label: i for i, label in enumerate(self.labels)}


def _is_int(text: str) -> bool:
    try:
        int(text)
    except ValueError:
        return False
    return True
