"""Labelled texts from any user file (CSV, TSV or JSON lines), with every bad row reported.

References: RFC 4180 (CSV: quoted fields may hold the delimiter, quotes doubled as ``""`` and line
breaks) as read by Python's ``csv`` module; JSON Lines (https://jsonlines.org: one JSON value per
line, UTF-8); the Unicode byte order mark (U+FEFF, bytes EF BB BF), which spreadsheet programs put
at the start of UTF-8 exports and which would otherwise become part of the first column's name.

How a file is read:

- the format comes from the extension (``.csv``, ``.tsv``, ``.jsonl``/``.ndjson``) or ``format=``;
- CSV and TSV need a header line naming the columns (SST-2: ``label<TAB>sentence``); JSONL rows
  are objects with the two keys; ``text_column=None`` picks the first of
  :data:`TEXT_COLUMN_CANDIDATES` the file has (the shared SST-2 copy names its text column
  ``sentence`` in ``train.tsv`` but ``content`` in ``dev.tsv``);
- bytes are decoded line by line, so a line that is not UTF-8 is reported with its number while the
  rest of the file still loads;
- text and label are stripped of surrounding white space; labels are strings (a JSONL integer label
  ``1`` becomes ``"1"``);
- lines holding only white space are not rows and are passed over (they carry no data);
- every other row that cannot be used becomes a :class:`BadRow` with its line number: skipped and
  counted by default, the first one raised as a ``SeqlabError`` with ``strict=True``.
"""

from __future__ import annotations

import csv
import functools
import json
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from seqlab.errors import SeqlabError

__all__ = [
    "TEXT_COLUMN_CANDIDATES",
    "BadRow",
    "LabelMap",
    "LabelledTexts",
    "TextFormat",
    "detect_format",
    "read_labelled_texts",
]

TextFormat = Literal["csv", "tsv", "jsonl"]

TEXT_COLUMN_CANDIDATES: tuple[str, ...] = ("text", "sentence", "content", "review")

_EXTENSIONS: dict[str, TextFormat] = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".tab": "tsv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
}
_BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True)
class BadRow:
    """A row that could not be used: the line it starts on (1-based), why, and how to fix it."""

    line: int
    reason: str
    fix: str = ""


@dataclass(frozen=True)
class LabelledTexts:
    """The usable rows of a file, in file order, and the rows that were skipped."""

    texts: tuple[str, ...]
    labels: tuple[str, ...]
    source: str
    skipped: tuple[BadRow, ...]

    def __len__(self) -> int:
        return len(self.texts)

    def skipped_summary(self, *, limit: int = 5) -> str:
        """One line for logs: how many rows were skipped and the first few reasons ('' if none)."""
        if not self.skipped:
            return ""
        shown = "; ".join(f"line {row.line}: {row.reason}" for row in self.skipped[:limit])
        more = f"; and {len(self.skipped) - limit} more" if len(self.skipped) > limit else ""
        return f"{self.source}: skipped {len(self.skipped)} bad rows ({shown}{more})"


class _Rows:
    """Collects good rows and bad rows; in strict mode the first bad row raises."""

    def __init__(self, *, source: str, strict: bool, known_labels: frozenset[str] | None):
        self.source = source
        self.strict = strict
        self.known_labels = known_labels
        self.texts: list[str] = []
        self.labels: list[str] = []
        self.bad: list[BadRow] = []

    def reject(self, line: int, reason: str, fix: str) -> None:
        if self.strict:
            raise SeqlabError(f"{self.source}:{line}: {reason}; {fix}")
        self.bad.append(BadRow(line=line, reason=reason, fix=fix))

    def accept(self, line: int, text: object, label: object, *, label_column: str) -> None:
        if not isinstance(text, str):
            self.reject(line, f"text is a {_json_type(text)}, not a string", "quote the text")
            return
        if not text.strip():
            self.reject(line, "empty text", "fill in the text or delete the row")
            return
        if label is None or label == "":
            self.reject(line, f"missing label ('{label_column}')", "add the row's label")
            return
        if isinstance(label, bool) or not isinstance(label, str | int):
            self.reject(
                line, f"label is a {_json_type(label)}", "write the label as a string or integer"
            )
            return
        label_text = str(label).strip()
        if not label_text:
            self.reject(line, f"missing label ('{label_column}')", "add the row's label")
            return
        if self.known_labels is not None and label_text not in self.known_labels:
            known = ", ".join(sorted(self.known_labels))
            self.reject(
                line,
                f"unknown label '{label_text}' (the model knows: {known})",
                "fix the label or retrain with this label in the training data",
            )
            return
        self.texts.append(text.strip())
        self.labels.append(label_text)


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
) -> LabelledTexts:
    """Read (text, label) rows from a CSV, TSV or JSONL file.

    known_labels: when given (at evaluation time: the labels the model was trained on), a row
    with any other label is a bad row.
    strict: raise ``SeqlabError("FILE:LINE: reason; fix")`` on the first bad row instead of
    skipping it.
    An empty file, a missing column and a file with no usable row are errors in either mode.
    """
    file_path = Path(path)
    source = str(file_path)
    chosen = format if format is not None else detect_format(file_path)
    if chosen not in ("csv", "tsv", "jsonl"):
        raise SeqlabError(f"{source}: unknown format '{chosen}'; use 'csv', 'tsv' or 'jsonl'")
    try:
        data = file_path.read_bytes()
    except FileNotFoundError:
        raise SeqlabError(f"{source} not found; check the path") from None
    except OSError as err:
        raise SeqlabError(f"{source}: cannot read ({err.strerror}); check permissions") from None
    if data.startswith(_BOM):
        data = data[len(_BOM) :]
    if not data.strip():
        raise SeqlabError(f"{source} is empty; give a file with a header and at least one row")

    rows = _Rows(
        source=source,
        strict=strict,
        known_labels=frozenset(known_labels) if known_labels is not None else None,
    )
    if chosen == "jsonl":
        _read_jsonl(data, rows, text_column=text_column, label_column=label_column)
    else:
        delimiter = "," if chosen == "csv" else "\t"
        _read_delimited(
            data, rows, delimiter=delimiter, text_column=text_column, label_column=label_column
        )

    if not rows.texts and not rows.bad:
        raise SeqlabError(f"{source} has a header but no rows; add at least one row")
    if not rows.texts:
        first = rows.bad[0] if rows.bad else None
        detail = f"; first: line {first.line}: {first.reason}" if first else ""
        raise SeqlabError(
            f"{source} has no usable rows ({len(rows.bad)} bad rows{detail}); fix the file or "
            "check text_column/label_column"
        )
    return LabelledTexts(
        texts=tuple(rows.texts), labels=tuple(rows.labels), source=source, skipped=tuple(rows.bad)
    )


def _decoded_lines(data: bytes, bad_lines: set[int]) -> Iterator[str]:
    """Each physical line decoded on its own; undecodable ones are recorded (1-based) and
    replaced with U+FFFD so the csv reader's line count stays in step with the file."""
    for number, raw in enumerate(data.splitlines(keepends=True), start=1):
        try:
            yield raw.decode("utf-8")
        except UnicodeDecodeError:
            bad_lines.add(number)
            yield raw.decode("utf-8", errors="replace")


def _pick_text_column(
    columns: Sequence[str], text_column: str | None, *, source: str, where: str
) -> str:
    if text_column is not None:
        return text_column
    for candidate in TEXT_COLUMN_CANDIDATES:
        if candidate in columns:
            return candidate
    raise SeqlabError(
        f"{source}: {where} has none of the text columns {', '.join(TEXT_COLUMN_CANDIDATES)} "
        f"(it has: {', '.join(columns) or 'nothing'}); pass text_column=NAME"
    )


def _read_delimited(
    data: bytes,
    rows: _Rows,
    *,
    delimiter: str,
    text_column: str | None,
    label_column: str,
) -> None:
    source = rows.source
    bad_lines: set[int] = set()
    # strict=True makes malformed quoting (text after a closing quote, a quote left open at the
    # end of the file) an error we can report, instead of a silently merged field.
    reader = csv.reader(_decoded_lines(data, bad_lines), delimiter=delimiter, strict=True)
    header: list[str] | None = None
    text_index = label_index = -1
    last_line = 0  # reader.line_num after the previous record: a record spans last_line+1 .. now
    while True:
        try:
            record = next(reader)
        except StopIteration:
            break
        except csv.Error as err:
            start = last_line + 1
            last_line = reader.line_num
            fix = (
                "remove the NUL bytes"
                if "NUL" in str(err)
                else 'close the quoted field, and double quotes inside it ("")'
            )
            span = f", lines {start}-{last_line}" if last_line > start else ""
            if header is None:
                raise SeqlabError(f"{source}:{start}: bad header ({err}); {fix}") from None
            rows.reject(start, f"malformed row ({err}{span})", fix)
            continue
        start, last_line = last_line + 1, reader.line_num
        spanned = range(start, last_line + 1)
        undecodable = next((n for n in spanned if n in bad_lines), None)
        if undecodable is None and all(not field.strip() for field in record):
            continue  # a blank line (the reader gives []): not a row
        if undecodable is not None:
            if header is None:
                raise SeqlabError(
                    f"{source}:{undecodable}: header is not valid UTF-8; save the file as UTF-8"
                )
            rows.reject(undecodable, "bytes that are not UTF-8", "save the file as UTF-8")
            continue
        if header is None:
            header = [name.strip() for name in record]
            chosen_text = _pick_text_column(header, text_column, source=source, where="header")
            missing = [name for name in (chosen_text, label_column) if name not in header]
            if missing:
                raise SeqlabError(
                    f"{source}:{start}: header has no column {', '.join(map(repr, missing))} "
                    f"(it has: {', '.join(header)}); pass text_column/label_column or fix the "
                    "header"
                )
            text_index, label_index = header.index(chosen_text), header.index(label_column)
            continue
        if len(record) != len(header):
            rows.reject(
                start,
                f"{_columns(len(record))}, the header has {_columns(len(header))}",
                "quote fields that hold the delimiter"
                if len(record) > len(header)
                else "fill in the missing columns",
            )
            continue
        rows.accept(start, record[text_index], record[label_index], label_column=label_column)
    if header is None:
        raise SeqlabError(f"{source} has no header line; add one naming the columns")


def _read_jsonl(data: bytes, rows: _Rows, *, text_column: str | None, label_column: str) -> None:
    source = rows.source
    chosen_text = text_column
    for number, raw in enumerate(data.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError:
            rows.reject(number, "bytes that are not UTF-8", "save the file as UTF-8")
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as err:
            rows.reject(number, f"not valid JSON ({err.msg})", "write one JSON object per line")
            continue
        if not isinstance(value, dict):
            rows.reject(
                number,
                f"a JSON {_json_type(value)}, not an object",
                'write one object per line, e.g. {"text": ..., "label": ...}',
            )
            continue
        if chosen_text is None:
            # The first object decides, as a header would; later rows must use the same key.
            chosen_text = _pick_text_column(
                list(value), None, source=source, where=f"line {number}"
            )
        if chosen_text not in value:
            rows.reject(number, f"no '{chosen_text}' key", f"add the '{chosen_text}' key")
            continue
        rows.accept(number, value[chosen_text], value.get(label_column), label_column=label_column)


_JSON_TYPES: dict[type, str] = {
    dict: "object",
    list: "array",
    str: "string",
    int: "number",
    float: "non-integer number",
    bool: "boolean",
    type(None): "null",
}


def _columns(count: int) -> str:
    return f"{count} column" if count == 1 else f"{count} columns"


def _json_type(value: object) -> str:
    return _JSON_TYPES.get(type(value), type(value).__name__)


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
