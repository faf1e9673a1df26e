"""Unlabelled texts for the transfer set (``seqlab distill --unlabelled FILE``).

Tang et al. (2019, sec. 3.2) note that any in-domain text helps a student, labelled or not,
since the teacher labels it. Accepted files:

- ``.csv``, ``.tsv``/``.tab``, ``.jsonl``/``.ndjson``: the sentiment task's formats
  (seqlab.data.text_files), read for their text column alone (``--text-column``, or the first of
  text, sentence, content, review); a label column, if present, is ignored;
- anything else: plain UTF-8 text, one text a line; lines of white space are passed over.

Unlike training files, whose bad rows are skipped and reported, an unlabelled file is read
strictly: its first unreadable row stops the command with the file and line, since a transfer
set silently missing texts would change the run's checksum without a word.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

from seqlab.data.file_bytes import read_file_bytes
from seqlab.data.text_files import read_labelled_texts
from seqlab.data.text_formats import pick_text_column
from seqlab.errors import SeqlabError

_FORMATS = {".csv": "csv", ".tsv": "tsv", ".tab": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl"}
_BOM = b"\xef\xbb\xbf"
_FLAG = "--unlabelled"


def read_unlabelled_texts(
    path: Path, *, text_column: str | None = None, tsv_quoting: bool = False
) -> list[str]:
    """The texts of ``path`` in file order (formats in the module docstring)."""
    data = read_file_bytes(path, source=f"{_FLAG} {path}")
    file_format = _FORMATS.get(path.suffix.lower())
    if file_format is None:
        return _plain_lines(path, data)
    column = text_column or _first_text_column(path, data, file_format)
    # Read as a labelled file whose "label" is the text column itself: every row with a text
    # then has one, so the labelled reader's checks and line numbers serve unchanged.
    texts = read_labelled_texts(
        path, format=file_format, text_column=column, label_column=column,  # type: ignore[arg-type]
        strict=True, tsv_quoting=tsv_quoting,
    )  # fmt: skip
    return list(texts.texts)


def _plain_lines(path: Path, data: bytes) -> list[str]:
    texts = []
    for number, raw in enumerate(data.removeprefix(_BOM).splitlines(), start=1):
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as error:
            raise SeqlabError(
                f"{_FLAG} {path}:{number}: bytes that are not UTF-8 (at column "
                f"{error.start + 1}); save the file as UTF-8"
            ) from None
        if "\x00" in line:
            raise SeqlabError(
                f"{_FLAG} {path}:{number}: a NUL byte (the file may not be text); give a text "
                "file, one text a line"
            )
        if line.strip():
            texts.append(line.strip())
    if not texts:
        raise SeqlabError(f"{_FLAG} {path} holds no text; give one text a line")
    return texts


def _first_text_column(path: Path, data: bytes, file_format: str) -> str:
    """The text column the file's header (or first JSON object) names."""
    lines = data.removeprefix(_BOM).splitlines()
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise SeqlabError(
                f"{_FLAG} {path}:{number}: bytes that are not UTF-8; save the file as UTF-8"
            ) from None
        if file_format == "jsonl":
            try:
                first = json.loads(line)
            except ValueError:
                raise SeqlabError(
                    f"{_FLAG} {path}:{number}: not valid JSON; write one JSON object a line"
                ) from None
            columns = list(first) if isinstance(first, dict) else []
        else:
            columns = next(csv.reader([line], delimiter="," if file_format == "csv" else "\t"))
        where = f"line {number}"
        return pick_text_column([c.strip() for c in columns], None, source=str(path), where=where)
    raise SeqlabError(f"{_FLAG} {path} is empty; give a file with at least one text")
