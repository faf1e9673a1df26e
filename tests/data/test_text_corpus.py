"""Reading text for language modelling (file, folder, Tiny Shakespeare) and the 90/10 split."""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

import pytest

from seqlab.data.sources import data_dir, dataset_checksum
from seqlab.data.text_corpus import read_text, split_text, tinyshakespeare_text
from seqlab.errors import SeqlabError


def _write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_a_file_is_read_verbatim_without_its_byte_order_mark(tmp_path: Path) -> None:
    path = _write(tmp_path / "t.txt", b"\xef\xbb\xbfHello\r\n\tw\xc3\xb6rld  \n")
    source = read_text(path)
    assert source.text == "Hello\r\n\twörld  \n"
    assert source.files == (path,)
    assert source.offsets == (0,)
    assert source.locate(8) == f"{path}:2:2"  # the "w" after the tab


def test_bytes_that_are_not_utf8_name_the_file_line_and_byte_offset(tmp_path: Path) -> None:
    # Line 3 starts at byte 6; the Latin-1 "é" (0xe9) is byte 8.
    path = _write(tmp_path / "latin1.txt", b"ab\ncd\nOl\xe9 ok\n")
    with pytest.raises(SeqlabError) as caught:
        read_text(path)
    message = str(caught.value)
    assert message.startswith(f"{path}:3: byte 0xe9 at byte offset 8 is not UTF-8; convert")
    assert "\n" not in message


def test_the_byte_offset_counts_the_byte_order_mark(tmp_path: Path) -> None:
    path = _write(tmp_path / "bom.txt", b"\xef\xbb\xbfa\n\xff")
    with pytest.raises(SeqlabError, match=re.escape(f"{path}:2: byte 0xff at byte offset 5 ")):
        read_text(path)


def test_utf16_empty_missing_and_too_short_texts_are_errors(tmp_path: Path) -> None:
    utf16 = _write(tmp_path / "u16.txt", "hello".encode("utf-16"))
    with pytest.raises(SeqlabError, match="is UTF-16 text .*save it as UTF-8"):
        read_text(utf16)
    empty = _write(tmp_path / "empty.txt", b"")
    with pytest.raises(SeqlabError, match=re.escape(f"{empty} is empty")):
        read_text(empty)
    with pytest.raises(SeqlabError, match="not found; check the path"):
        read_text(tmp_path / "missing.txt")
    short = _write(tmp_path / "short.txt", b"abcde")
    with pytest.raises(
        SeqlabError,
        match=re.escape(
            f"{short} has 5 characters, fewer than the 9 needed (context + 1 = 9 in each "
            "split); give a longer text"
        ),
    ):
        read_text(short, min_chars=9, why="context + 1 = 9 in each split")
    assert read_text(short, min_chars=5).text == "abcde"


def test_a_folder_is_read_in_sorted_path_order_joined_by_one_empty_line(tmp_path: Path) -> None:
    root = tmp_path / "corpus"
    second = _write(root / "b" / "10.txt", b"ten\n")  # ends with a line break
    third = _write(root / "b" / "2.txt", b"two")  # does not
    fourth = _write(root / "c.TXT", b"cee\n")
    first = _write(root / "a.txt", b"\xef\xbb\xbfaaa")
    _write(root / "notes.md", b"not text")
    _write(root / ".hidden" / "copy.txt", b"hidden copy")
    _write(root / "b" / ".draft.txt", b"hidden draft")
    source = read_text(root)
    assert source.files == (first, second, third, fourth)
    assert source.text == "aaa\n\nten\n\ntwo\n\ncee\n"
    assert source.offsets == (0, 5, 10, 15)
    assert [source.text[offset] for offset in source.offsets] == ["a", "t", "t", "c"]
    assert source.locate(11) == f"{third}:1:2"
    assert source.locate(16) == f"{fourth}:1:2"
    assert source.locate(4) == f"{first}:2:1"  # a joining line break belongs to the file before


def test_a_folder_error_names_the_file_inside_it(tmp_path: Path) -> None:
    root = tmp_path / "corpus"
    _write(root / "a.txt", b"fine\n")
    bad = _write(root / "sub" / "b.txt", b"ok\nok\n\x80")
    with pytest.raises(SeqlabError, match=re.escape(f"{bad}:3: byte 0x80 at byte offset 6 ")):
        read_text(root)
    _write(tmp_path / "other" / "read_me.md", b"x")
    with pytest.raises(SeqlabError, match=re.escape(f"{tmp_path / 'other'} holds no .txt files")):
        read_text(tmp_path / "other")


def test_checksum_of_a_folder_hashes_each_file_by_its_relative_name(tmp_path: Path) -> None:
    root = tmp_path / "corpus"
    _write(root / "z.txt", b"zed\n")
    _write(root / "d" / "a.txt", b"ay\n")
    lines = sorted(
        f"{hashlib.sha256(data).hexdigest()}  {name}\n"
        for name, data in (("z.txt", b"zed\n"), ("d/a.txt", b"ay\n"))
    )
    expected = hashlib.sha256("".join(lines).encode()).hexdigest()
    assert read_text(root).checksum() == expected
    single = read_text(root / "z.txt").checksum()
    line = hashlib.sha256(b"zed\n").hexdigest() + "  z.txt\n"
    assert single == hashlib.sha256(line.encode()).hexdigest()


def test_split_is_at_int_of_length_times_fraction() -> None:
    text = "".join(chr(ord("a") + i % 26) for i in range(15))
    train, val = split_text(text)
    assert (len(train), len(val)) == (13, 2)  # int(15 * 0.9) = int(13.5) = 13
    assert train + val == text
    train, val = split_text(text[:10], train_fraction=0.7)  # 10 * 0.7 = 7.000000000000001
    assert (train, val) == (text[:7], text[7:10])


def test_split_errors_give_both_lengths() -> None:
    with pytest.raises(
        SeqlabError,
        match=re.escape(
            "splitting 20 characters at train_fraction 0.9 gives 18 training and 2 validation "
            "characters; each part needs at least 5 (context + 1)"
        ),
    ):
        split_text("x" * 20, min_chars=5, why="context + 1")
    with pytest.raises(SeqlabError, match=r"train_fraction \(1\.0\) must be between 0 and 1"):
        split_text("abc", train_fraction=1.0)
    with pytest.raises(SeqlabError, match="gives 0 training and 1 validation"):
        split_text("a")


def _has_tinyshakespeare() -> bool:
    root = data_dir()
    return root is not None and (root / "tinyshakespeare" / "input.txt").is_file()


@pytest.mark.skipif(
    not _has_tinyshakespeare(),
    reason="needs Tiny Shakespeare: set SEQLAB_DATA to a folder holding tinyshakespeare/input.txt",
)
def test_tinyshakespeare_splits_as_nanogpt(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEQLAB_OFFLINE", "1")
    source = tinyshakespeare_text()
    assert len(source.text) == 1_115_394
    assert source.text.startswith("First Citizen:\nBefore we proceed any further, hear me speak.")
    assert source.checksum() == dataset_checksum("tinyshakespeare")
    train, val = split_text(source.text)
    assert (len(train), len(val)) == (1_003_854, 111_540)
    assert len(set(source.text)) == 65  # nanoGPT's vocabulary size
    assert os.fspath(source.files[0]).endswith(os.path.join("tinyshakespeare", "input.txt"))
