"""The rows of a labelled text file, format by format: plain TSV, CSV (or quoted TSV), JSON lines.

References: RFC 4180 (CSV quoting) as read by Python's ``csv`` module with ``strict=True``; the
IANA ``text/tab-separated-values`` type (fields split at tabs, no quoting); JSON Lines
(https://jsonlines.org). seqlab.data.text_files reads a file into physical lines and calls one
parser here; each parser hands every row, with the (first, last) line it occupies, to a
:class:`RowSink`, which keeps good rows and records bad ones. A parser passes over lines holding
only white space and nothing else: every other line is the header, part of a row, or part of a
bad row.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from seqlab.errors import SeqlabError

TEXT_COLUMN_CANDIDATES: tuple[str, ...] = ("text", "sentence", "content", "review")

# The csv module refuses fields over 131,072 characters unless told otherwise; texts are bounded
# by max_chars after reading instead. 2**31 - 1 is the largest limit every platform accepts.
_NO_FIELD_LIMIT = 2**31 - 1

_NOT_UTF8 = ("bytes that are not UTF-8", "save the file as UTF-8")
_NUL = ("a NUL byte (the file may not be text)", "remove the NUL bytes")


@dataclass(frozen=True)
class BadRow:
    """A row that could not be used: the line it starts on (1-based), why, and how to fix it.

    last_line: the line a row spanning several lines ends on (a quoted line break, a quote left
    open); None for a row on one line.
    """

    line: int
    reason: str
    fix: str = ""
    last_line: int | None = None

    @property
    def lines(self) -> range:
        """Every line the row occupies."""
        return range(self.line, (self.last_line or self.line) + 1)


@dataclass(frozen=True)
class CutText:
    """A text longer than ``max_chars``: the line its row starts on, its length in characters
    before the cut, and how many were kept."""

    line: int
    chars: int
    kept: int


class RowSink:
    """Collects the rows a parser finds: good ones (text cut to ``max_chars``), bad ones, in
    strict mode raising on the first bad one. Parsers give each row its (first, last) line."""

    def __init__(
        self,
        *,
        source: str,
        strict: bool,
        known_labels: frozenset[str] | None,
        max_chars: int,
    ) -> None:
        self.source = source
        self.strict = strict
        self.known_labels = known_labels
        self.max_chars = max_chars
        self.texts: list[str] = []
        self.labels: list[str] = []
        self.spans: list[tuple[int, int]] = []
        self.header: tuple[int, int] | None = None  # the header's first and last line
        self.bad: list[BadRow] = []
        self.cut: list[CutText] = []

    def reject(self, span: tuple[int, int], reason: str, fix: str) -> None:
        first, last = span
        if self.strict:
            raise SeqlabError(f"{self.source}:{first}: {reason}; {fix}")
        self.bad.append(BadRow(first, reason, fix, last if last > first else None))

    def accept(
        self, span: tuple[int, int], text: object, label: object, *, label_column: str
    ) -> None:
        problem = _text_problem(text) or _label_problem(label, label_column)
        if problem is not None:
            self.reject(span, *problem)
            return
        assert isinstance(text, str) and isinstance(label, str | int)  # checked just above
        label_text = str(label).strip()
        if self.known_labels is not None and label_text not in self.known_labels:
            self.reject(span, *_unknown_label(label_text, self.known_labels))
            return
        text = text.strip()
        if len(text) > self.max_chars:
            self.cut.append(CutText(span[0], len(text), self.max_chars))
            text = text[: self.max_chars].rstrip()
        self.texts.append(text)
        self.labels.append(label_text)
        self.spans.append(span)


def _text_problem(text: object) -> tuple[str, str] | None:
    if not isinstance(text, str):
        return f"text is a {json_type(text)}, not a string", "quote the text"
    if not text.strip():
        return "empty text", "fill in the text or delete the row"
    if not _encodable(text):
        # Only JSON can say this: "\ud800" escapes a lone half of a surrogate pair.
        return "text holds an unpaired surrogate escape", "write the character itself"
    return None


def _label_problem(label: object, label_column: str) -> tuple[str, str] | None:
    missing = (f"missing label ('{label_column}')", "add the row's label")
    if label is None or label == "":
        return missing
    if isinstance(label, bool) or not isinstance(label, str | int):
        return f"label is a {json_type(label)}", "write the label as a string or integer"
    if isinstance(label, str) and not label.strip():
        return missing
    if isinstance(label, str) and not _encodable(label):
        return "label holds an unpaired surrogate escape", "write the character itself"
    return None


def _unknown_label(label: str, known: frozenset[str]) -> tuple[str, str]:
    same_but_case = sorted(name for name in known if name.casefold() == label.casefold())
    hint = f"; did you mean '{same_but_case[0]}'?" if same_but_case else ""
    return (
        f"unknown label '{label}' (the model knows: {', '.join(sorted(known))}){hint}",
        "fix the label or retrain with this label in the training data",
    )


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


_JSON_TYPES: dict[type, str] = {
    dict: "object",
    list: "array",
    str: "string",
    int: "number",
    float: "non-integer number",
    bool: "boolean",
    type(None): "null",
}


def json_type(value: object) -> str:
    """How JSON names the type of a decoded value ("object", "array", "number", ...)."""
    return _JSON_TYPES.get(type(value), type(value).__name__)


def is_blank(raw: bytes) -> bool:
    """True for a line holding only white space (after decoding; bad bytes are not white)."""
    return not raw.decode("utf-8", errors="replace").strip()


@dataclass(frozen=True)
class _Columns:
    """The header's column names and where the text and the label are."""

    names: tuple[str, ...]
    text: int
    label: int


class _Table:
    """The rows of a file with a header line (CSV, TSV): the first row is the header, every
    later one goes to ``rows`` as a row or a bad row. ``fix_more``: the fix for a row with more
    columns than the header."""

    def __init__(
        self, rows: RowSink, *, text_column: str | None, label_column: str, fix_more: str
    ) -> None:
        self.rows = rows
        self.text_column = text_column
        self.label_column = label_column
        self.fix_more = fix_more
        self.columns: _Columns | None = None

    def take(
        self, span: tuple[int, int], fields: Sequence[str], problem: tuple[str, str] | None
    ) -> None:
        """One record: its lines, its fields, and what makes it unreadable (None: nothing)."""
        source, columns = self.rows.source, self.columns
        if problem is not None:
            if columns is None:
                raise SeqlabError(f"{source}:{span[0]}: header: {problem[0]}; {problem[1]}")
            self.rows.reject(span, *problem)
        elif columns is None:
            self.columns = _header(
                fields,
                text_column=self.text_column,
                label_column=self.label_column,
                source=source,
                line=span[0],
            )
            self.rows.header = span
        elif len(fields) != len(columns.names):
            got, want = len(fields), len(columns.names)
            self.rows.reject(
                span,
                f"{_columns(got)}, the header has {_columns(want)}",
                self.fix_more if got > want else "fill in the missing columns",
            )
        else:
            text, label = fields[columns.text], fields[columns.label]
            self.rows.accept(span, text, label, label_column=self.label_column)

    def malformed(self, span: tuple[int, int], error: csv.Error) -> None:
        """A record the csv module could not parse (bad quoting)."""
        fix = 'close the quoted field, and double quotes inside it ("")'
        if self.columns is None:
            raise SeqlabError(f"{self.rows.source}:{span[0]}: bad header ({error}); {fix}")
        where = f", lines {span[0]}-{span[1]}" if span[1] > span[0] else ""
        self.rows.reject(span, f"malformed row ({error}{where})", fix)


def _header(
    names: Sequence[str], *, text_column: str | None, label_column: str, source: str, line: int
) -> _Columns:
    names = tuple(name.strip() for name in names)
    chosen_text = pick_text_column(names, text_column, source=source, where="header")
    missing = [name for name in (chosen_text, label_column) if name not in names]
    if missing:
        raise SeqlabError(
            f"{source}:{line}: header has no column {', '.join(map(repr, missing))} "
            f"(it has: {', '.join(names)}); pass text_column/label_column or fix the header"
        )
    return _Columns(names, names.index(chosen_text), names.index(label_column))


def pick_text_column(
    columns: Sequence[str], text_column: str | None, *, source: str, where: str
) -> str:
    """``text_column`` if given, else the first of TEXT_COLUMN_CANDIDATES that ``columns`` has."""
    if text_column is not None:
        return text_column
    for candidate in TEXT_COLUMN_CANDIDATES:
        if candidate in columns:
            return candidate
    raise SeqlabError(
        f"{source}: {where} has none of the text columns {', '.join(TEXT_COLUMN_CANDIDATES)} "
        f"(it has: {', '.join(columns) or 'nothing'}); pass text_column=NAME"
    )


def _decoded(raw: bytes) -> str | None:
    """The line as text without its line end; None when it is not UTF-8."""
    try:
        return raw.decode("utf-8").rstrip("\r\n")
    except UnicodeDecodeError:
        return None


def _columns(count: int) -> str:
    return f"{count} column" if count == 1 else f"{count} columns"


def read_plain_tsv(
    lines: Sequence[bytes], rows: RowSink, *, text_column: str | None, label_column: str
) -> None:
    """Tab-separated lines, one row a line, quotes being ordinary characters."""
    more = ("remove the extra tabs (a TSV text cannot hold a tab), or set data.tsv_quoting=true "
            "if the file quotes its fields")  # fmt: skip
    table = _Table(rows, text_column=text_column, label_column=label_column, fix_more=more)
    for number, raw in enumerate(lines, start=1):
        if is_blank(raw):
            continue
        line = _decoded(raw)
        problem = _NOT_UTF8 if line is None else _NUL if "\x00" in line else None
        table.take((number, number), (line or "").split("\t"), problem)


def read_delimited(
    lines: Sequence[bytes],
    rows: RowSink,
    *,
    delimiter: str,
    text_column: str | None,
    label_column: str,
) -> None:
    """CSV (or TSV with quoting): a quoted field may hold the delimiter and line breaks, so a
    row may span lines."""
    more = "quote fields that hold the delimiter"
    table = _Table(rows, text_column=text_column, label_column=label_column, fix_more=more)
    decoded: list[str] = []
    undecodable: set[int] = set()
    for number, raw in enumerate(lines, start=1):
        try:
            decoded.append(raw.decode("utf-8"))
        except UnicodeDecodeError:
            # Replaced, so the csv reader's line count stays in step with the file.
            undecodable.add(number)
            decoded.append(raw.decode("utf-8", errors="replace"))
    for span, record in _csv_records(decoded, delimiter):
        if isinstance(record, csv.Error):
            table.malformed(span, record)
            continue
        spanned = range(span[0], span[1] + 1)
        if all(not decoded[number - 1].strip() for number in spanned):
            continue  # a line of white space: not a row
        problem = (
            _NOT_UTF8 if any(number in undecodable for number in spanned)
            else _NUL if any("\x00" in field for field in record)
            else None
        )  # fmt: skip
        table.take(span, record, problem)


def _csv_records(
    lines: list[str], delimiter: str
) -> Iterator[tuple[tuple[int, int], list[str] | csv.Error]]:
    """Each record the csv module reads from ``lines`` (or the error it raised), with the first
    and last line it spans. Fields of any length are read."""
    # strict=True makes malformed quoting (text after a closing quote, a quote left open at the
    # end of the file) an error we can report, instead of a silently merged field.
    reader = csv.reader(lines, delimiter=delimiter, strict=True)
    last_line = 0  # reader.line_num after the previous record: a record spans last_line+1 .. now
    previous_limit = csv.field_size_limit(_NO_FIELD_LIMIT)
    try:
        while True:
            try:
                record: list[str] | csv.Error = next(reader)
            except StopIteration:
                return
            except csv.Error as err:
                record = err
            yield (last_line + 1, reader.line_num), record
            last_line = reader.line_num
    finally:
        csv.field_size_limit(previous_limit)


def read_jsonl(
    lines: Sequence[bytes], rows: RowSink, *, text_column: str | None, label_column: str
) -> None:
    """One JSON object a line; the first object's keys choose the text key, as a header would."""
    chosen_text = text_column
    one_object = "write one JSON object per line"
    for number, raw in enumerate(lines, start=1):
        if is_blank(raw):
            continue
        span = (number, number)
        line = _decoded(raw)
        if line is None:
            rows.reject(span, *_NOT_UTF8)
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as err:
            rows.reject(span, f"not valid JSON ({err.msg})", one_object)
            continue
        except ValueError:  # an integer of more digits than Python converts (4,300)
            rows.reject(span, "not valid JSON (a number too long to read)", one_object)
            continue
        except RecursionError:
            rows.reject(span, "not valid JSON (nested too deeply)", one_object)
            continue
        if not isinstance(value, dict):
            rows.reject(
                span,
                f"a JSON {json_type(value)}, not an object",
                'write one object per line, e.g. {"text": ..., "label": ...}',
            )
            continue
        if chosen_text is None:
            chosen_text = pick_text_column(
                list(value), None, source=rows.source, where=f"line {number}"
            )
        if chosen_text not in value:
            rows.reject(span, f"no '{chosen_text}' key", f"add the '{chosen_text}' key")
            continue
        rows.accept(span, value[chosen_text], value.get(label_column), label_column=label_column)
