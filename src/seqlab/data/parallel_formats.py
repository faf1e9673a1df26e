"""The files of a parallel corpus, byte by byte and format by format: gzip, byte order marks,
lines, and the records of a TSV, CSV or JSONL table with a source and a target column.

References: RFC 1952 (gzip, recognised by its magic bytes ``1f 8b``); the Unicode byte order mark
(U+FEFF, bytes EF BB BF; a UTF-16 one is refused); RFC 4180 (CSV quoting) as read by Python's
``csv`` module with ``strict=True``; the IANA ``text/tab-separated-values`` type (fields split at
tabs, no quoting); JSON Lines (https://jsonlines.org). seqlab.data.parallel reads a file with
:func:`read_corpus_bytes` and :func:`physical_lines`, then turns the records one of the readers
here yields into pairs. Each reader yields ``(first line, values or Problem)`` for every record
and passes over lines holding only white space; a header that cannot be read is an error.
"""

from __future__ import annotations

import csv
import gzip
import json
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from seqlab.data.file_bytes import read_file_bytes
from seqlab.errors import SeqlabError

__all__ = [
    "JSON_TYPES",
    "NOT_UTF8",
    "Problem",
    "Record",
    "csv_records",
    "jsonl_records",
    "physical_lines",
    "plain_tsv_records",
    "read_corpus_bytes",
]

_BOM = b"\xef\xbb\xbf"
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
_GZIP_MAGIC = b"\x1f\x8b"
NOT_UTF8 = ("bytes that are not UTF-8", "save the file as UTF-8")
# The csv module refuses fields over 131,072 characters unless told otherwise; sides are bounded
# by max_chars after reading instead.
_NO_FIELD_LIMIT = 2**31 - 1


JSON_TYPES: dict[type, str] = {
    dict: "an object",
    list: "an array",
    int: "a number",
    float: "a number",
    bool: "a boolean",
    type(None): "null",
}


@dataclass(frozen=True)
class Problem:
    """Why a record of a table cannot be a pair, and the fix."""

    reason: str
    fix: str


# A record of a table: its first line, and its two values or why it cannot be used.
Record = tuple[int, tuple[object, object] | Problem]


def read_corpus_bytes(path: Path) -> bytes:
    """The file's bytes, gunzipped when they start with gzip's magic, without a UTF-8 byte order
    mark; a SeqlabError naming the file when it cannot be read, is broken gzip or is UTF-16."""
    source = str(path)
    data = read_file_bytes(path)
    if data.startswith(_GZIP_MAGIC):
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as err:
            detail = " ".join(str(err).split()) or type(err).__name__
            raise SeqlabError(
                f"{source}: not a valid gzip file ({detail}); compress it again or give it "
                "uncompressed"
            ) from None
    if data.startswith(_UTF16_BOMS):
        raise SeqlabError(
            f"{source} is UTF-16 text (it starts with a UTF-16 byte order mark); save it as UTF-8"
        )
    return data[len(_BOM) :] if data.startswith(_BOM) else data


def physical_lines(data: bytes) -> list[bytes]:
    """Lines split at LF, a CR before the LF dropped; a final LF ends the last line."""
    if not data:
        return []
    lines = data.split(b"\n")
    if lines[-1] == b"":
        lines.pop()
    return [line[:-1] if line.endswith(b"\r") else line for line in lines]


def _header_indices(
    names: Sequence[str], columns: tuple[str, str], *, source: str, line: int
) -> tuple[int, int, int]:
    """Positions of the two columns and the number of columns the header names."""
    names = [name.strip() for name in names]
    missing = [column for column in columns if column not in names]
    if missing:
        raise SeqlabError(
            f"{source}:{line}: header has no column {', '.join(map(repr, missing))} (it has: "
            f"{', '.join(names)}); name them with --source-column/--target-column "
            "(data.source_column, data.target_column) or fix the header"
        )
    return names.index(columns[0]), names.index(columns[1]), len(names)


def _column_problem(got: int, want: int) -> Problem:
    return Problem(
        f"{got} columns, the header has {want}",
        "quote fields that hold the delimiter" if got > want else "fill in the missing columns",
    )


def plain_tsv_records(
    lines: Sequence[bytes], columns: tuple[str, str], *, source: str
) -> Iterator[Record]:
    header: tuple[int, int, int] | None = None
    for number, raw in enumerate(lines, start=1):
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError:
            if header is None:
                raise SeqlabError(f"{source}:{number}: header: {'; '.join(NOT_UTF8)}") from None
            yield number, Problem(*NOT_UTF8)
            continue
        if not line.strip():
            continue
        fields = line.split("\t")
        if header is None:
            header = _header_indices(fields, columns, source=source, line=number)
        elif len(fields) != header[2]:
            yield number, _column_problem(len(fields), header[2])
        else:
            yield number, (fields[header[0]], fields[header[1]])


def csv_records(
    lines: Sequence[bytes], columns: tuple[str, str], *, source: str, delimiter: str
) -> Iterator[Record]:
    """Records of a CSV (or quoted TSV) file: a quoted field may hold the delimiter and line
    breaks, so a record may span lines; it is reported at its first line."""
    decoded: list[str] = []
    undecodable: set[int] = set()
    for number, raw in enumerate(lines, start=1):
        try:
            decoded.append(raw.decode("utf-8") + "\n")
        except UnicodeDecodeError:
            # Replaced, so the csv reader's line count stays in step with the file.
            undecodable.add(number)
            decoded.append(raw.decode("utf-8", errors="replace") + "\n")
    # strict=True makes malformed quoting an error we can report instead of a merged field.
    reader = csv.reader(decoded, delimiter=delimiter, strict=True)
    header: tuple[int, int, int] | None = None
    last = 0  # reader.line_num after the previous record: a record spans last+1 .. line_num
    previous = csv.field_size_limit(_NO_FIELD_LIMIT)
    try:
        while True:
            try:
                record = next(reader)
            except StopIteration:
                break
            except csv.Error as err:
                first, last = last + 1, reader.line_num
                fix = 'close the quoted field, and double quotes inside it ("")'
                if header is None:
                    raise SeqlabError(f"{source}:{first}: bad header ({err}); {fix}") from None
                yield first, Problem(f"malformed row ({err})", fix)
                continue
            first, last = last + 1, reader.line_num
            spanned = range(first, last + 1)
            if all(not decoded[number - 1].strip() for number in spanned):
                continue  # a line of white space: not a record
            if any(number in undecodable for number in spanned):
                if header is None:
                    raise SeqlabError(f"{source}:{first}: header: {'; '.join(NOT_UTF8)}")
                yield first, Problem(*NOT_UTF8)
            elif header is None:
                header = _header_indices(record, columns, source=source, line=first)
            elif len(record) != header[2]:
                yield first, _column_problem(len(record), header[2])
            else:
                yield first, (record[header[0]], record[header[1]])
    finally:
        csv.field_size_limit(previous)


def jsonl_records(lines: Sequence[bytes], columns: tuple[str, str]) -> Iterator[Record]:
    one_object = "write one JSON object per line"
    for number, raw in enumerate(lines, start=1):
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError:
            yield number, Problem(*NOT_UTF8)
            continue
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as err:
            yield number, Problem(f"not valid JSON ({err.msg})", one_object)
            continue
        except (ValueError, RecursionError):  # a number of over 4,300 digits; deep nesting
            yield number, Problem("not valid JSON (too long a number or too deep)", one_object)
            continue
        if not isinstance(value, dict):
            kind = JSON_TYPES.get(type(value), "a string")
            example = f'{{"{columns[0]}": ..., "{columns[1]}": ...}}'
            fix = f"write one object per line, e.g. {example}"
            yield number, Problem(f"{kind}, not a JSON object", fix)
            continue
        missing = [column for column in columns if column not in value]
        if missing:
            keys = " and ".join(f"'{column}'" for column in missing)
            yield number, Problem(f"no {keys} key", f"add {keys}")
            continue
        yield number, (value[columns[0]], value[columns[1]])
