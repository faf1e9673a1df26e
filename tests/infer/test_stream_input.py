"""``seqlab stream``'s input decoding (seqlab.commands.stream.InputDecoder): UTF-8 as it
arrives, characters split across reads joined, bytes that are not UTF-8 replaced by U+FFFD with
their input line recorded, never more than three bytes held back."""

from __future__ import annotations

import pytest

from seqlab.commands.stream import InputDecoder


def decode_in_blocks(data: bytes, size: int) -> tuple[str, list[int], InputDecoder]:
    decoder = InputDecoder()
    text = ""
    for start in range(0, len(data), size):
        text += decoder.decode(data[start : start + size])
        assert decoder.held_bytes <= 3
    text += decoder.decode(b"", final=True)
    return text, decoder.bad_lines, decoder


@pytest.mark.parametrize("size", [1, 2, 3, 5, 4096])
def test_valid_utf8_comes_out_whole_however_it_is_split(size):
    data = "café — naïve 😀 text\nsecond line\n".encode()
    text, bad, decoder = decode_in_blocks(data, size)
    assert text == data.decode("utf-8")
    assert bad == []
    assert decoder.line == 3


@pytest.mark.parametrize("size", [1, 2, 4096])
def test_bad_bytes_become_replacement_characters_and_name_their_line(size):
    data = b"fine\nbad \xff byte\nalso fine\ntwo \xc3\x28 and \xe2\x82 cut\n"
    text, bad, _ = decode_in_blocks(data, size)
    # Python's own replacing decoder is the reference for what the text becomes.
    assert text == data.decode("utf-8", errors="replace")
    assert bad == [2, 4]  # each line once


def test_a_character_cut_short_by_the_end_of_input_is_replaced():
    decoder = InputDecoder()
    assert decoder.decode(b"end \xe2\x82") == "end "  # maybe the rest is on its way
    assert decoder.bad_lines == []
    assert decoder.decode(b"", final=True) == "\ufffd"
    assert decoder.bad_lines == [1]


def test_an_endless_stream_of_bad_bytes_holds_nothing_back():
    decoder = InputDecoder()
    out = decoder.decode(b"\xff" * 10_000)
    assert out == "\ufffd" * 10_000
    assert decoder.held_bytes == 0
    assert decoder.bad_lines == [1]
