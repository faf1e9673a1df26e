"""``--unlabelled FILE``: plain lines or the sentiment task's formats read for their text alone;
an unreadable row names the file and line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from seqlab.distill.unlabelled import read_unlabelled_texts
from seqlab.errors import SeqlabError


def test_plain_text_one_a_line(tmp_path: Path) -> None:
    path = tmp_path / "chat.txt"
    path.write_bytes(b"\xef\xbb\xbffirst message\n\n   \nsecond one  \r\nthird\n")
    assert read_unlabelled_texts(path) == ["first message", "second one", "third"]


def test_table_formats_read_their_text_column(tmp_path: Path) -> None:
    csv_path = tmp_path / "more.csv"
    csv_path.write_text('id,sentence\n1,"a text, with a comma"\n2,another\n', encoding="utf-8")
    assert read_unlabelled_texts(csv_path) == ["a text, with a comma", "another"]
    tsv_path = tmp_path / "more.tsv"
    tsv_path.write_text("label\tbody\n1\tone\n0\ttwo\n", encoding="utf-8")
    assert read_unlabelled_texts(tsv_path, text_column="body") == ["one", "two"]
    jsonl_path = tmp_path / "more.jsonl"
    rows = [{"text": "x y", "label": "pos"}, {"text": "z"}]
    jsonl_path.write_text("\n".join(json.dumps(row) for row in rows) + "\n", encoding="utf-8")
    assert read_unlabelled_texts(jsonl_path) == ["x y", "z"]


def test_unreadable_rows_name_the_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "chat.txt"
    path.write_bytes(b"fine\nalso fine\nbad \xff byte\n")
    with pytest.raises(SeqlabError, match=r"--unlabelled .*chat.txt:3: bytes that are not UTF-8"):
        read_unlabelled_texts(path)
    csv_path = tmp_path / "more.csv"
    csv_path.write_text("text,other\nok,1\n,2\n", encoding="utf-8")
    with pytest.raises(SeqlabError, match=r"more.csv:3: empty text"):
        read_unlabelled_texts(csv_path)
    with pytest.raises(SeqlabError, match=r"--unlabelled .*missing.txt not found"):
        read_unlabelled_texts(tmp_path / "missing.txt")
