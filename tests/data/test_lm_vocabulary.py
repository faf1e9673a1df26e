"""Language-model vocabularies: characters (with the unknown symbol) and byte-level BPE."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tokenizers import Tokenizer, pre_tokenizers

from seqlab.data.lm_vocabulary import (
    UNKNOWN_CHAR,
    UNKNOWN_ID,
    BPEVocabulary,
    CharVocabulary,
    LMVocabulary,
    byte_symbols,
    load_lm_vocabulary,
)
from seqlab.errors import SeqlabError

_TRAIN = "To be, or not to be:\nthat is the question.\n\tWhether 'tis nobler\r\n"


def test_ids_are_the_sorted_training_characters_after_the_unknown_symbol() -> None:
    vocabulary = CharVocabulary.from_text("hello\n world")
    expected = ["\n", " ", "d", "e", "h", "l", "o", "r", "w"]
    assert list(vocabulary.characters) == expected
    assert vocabulary.vocab_size == 10
    assert vocabulary.kind == "char"
    assert vocabulary.encode("hold\n") == [5, 7, 6, 3, 1]
    # "Z" and "é" never occur in training: the unknown id, decoded as U+FFFD.
    assert vocabulary.encode("Zoé") == [UNKNOWN_ID, 7, UNKNOWN_ID]
    assert vocabulary.decode([UNKNOWN_ID, 7, UNKNOWN_ID]) == "\ufffdo\ufffd"
    assert vocabulary.count_characters([0, 7, 0]) == 3
    assert isinstance(vocabulary, LMVocabulary)


def test_encode_array_and_decode_of_arrays_and_tensors_agree() -> None:
    import torch

    vocabulary = CharVocabulary.from_text(_TRAIN)
    ids = vocabulary.encode_array(_TRAIN)
    assert ids.dtype == np.int64
    assert ids.tolist() == [vocabulary.characters.index(c) + 1 for c in _TRAIN]
    assert vocabulary.decode(ids) == _TRAIN
    assert vocabulary.decode(torch.from_numpy(ids)) == _TRAIN
    assert vocabulary.encode("") == []
    with pytest.raises(ValueError, match="id 99 is outside the vocabulary of"):
        vocabulary.decode([1, 99])
    with pytest.raises(ValueError, match="id -1 is outside"):
        vocabulary.decode([-1])


@settings(max_examples=150, deadline=None)
@given(training=st.text(min_size=1), other=st.text())
def test_round_trip_and_the_library_agree_on_any_text(training: str, other: str) -> None:
    vocabulary = CharVocabulary.from_text(training)
    ids = vocabulary.encode(training)
    assert vocabulary.decode(ids) == training
    # Unseen characters map to the unknown id, seen ones to their own.
    known = set(training)
    expected = [
        vocabulary.characters.index(c) + 1 if c in known and c != UNKNOWN_CHAR else UNKNOWN_ID
        for c in other
    ]
    assert vocabulary.encode(other) == expected
    # The saved form is a tokenizers file that encodes and decodes the same way.
    library = Tokenizer.from_str(vocabulary.to_json())
    assert library.encode(training + other).ids == vocabulary.encode(training + other)
    assert library.decode(ids) == training


def test_a_replacement_character_in_training_text_is_the_unknown_id() -> None:
    vocabulary = CharVocabulary.from_text("a\ufffdb")
    assert vocabulary.characters == ("a", "b")
    assert vocabulary.encode("a\ufffdb") == [1, 0, 2]
    assert vocabulary.decode([1, 0, 2]) == "a\ufffdb"


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    vocabulary = CharVocabulary.from_text(_TRAIN)
    path = tmp_path / "model" / "tokenizer.json"
    vocabulary.save(path)
    loaded = CharVocabulary.load(path)
    assert loaded.characters == vocabulary.characters
    assert loaded.encode(_TRAIN + "ZZ") == vocabulary.encode(_TRAIN + "ZZ")
    assert isinstance(load_lm_vocabulary(path), CharVocabulary)
    spec = json.loads(path.read_text(encoding="utf-8"))
    assert spec["model"]["type"] == "WordLevel"
    assert spec["model"]["vocab"][UNKNOWN_CHAR] == 0
    assert spec["decoder"] == {"type": "Fuse"}
    assert not list(path.parent.glob(".*.tmp"))  # the atomic write left no temporary file


def test_files_that_are_not_character_vocabularies_are_named(tmp_path: Path) -> None:
    not_json = tmp_path / "tokenizer.json"
    not_json.write_text("{ not json", encoding="utf-8")
    with pytest.raises(SeqlabError, match=f"{tmp_path}/tokenizer.json: not a tokenizers"):
        CharVocabulary.load(not_json)
    with pytest.raises(SeqlabError, match="missing.json not found"):
        load_lm_vocabulary(tmp_path / "missing.json")

    bpe_path = tmp_path / "bpe.json"
    BPEVocabulary.train(_TRAIN * 3, vocab_size=280).save(bpe_path)
    with pytest.raises(SeqlabError, match=r"bpe.json: not a character vocabulary \(model 'BPE'"):
        CharVocabulary.load(bpe_path)

    # A WordLevel file whose pre-tokenizer splits on white space only: it would not give one
    # id per character, so it is refused.
    library = CharVocabulary.from_text("ab c").to_tokenizer()
    library.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    edited = tmp_path / "edited.json"
    edited.write_text(library.to_str(), encoding="utf-8")
    with pytest.raises(SeqlabError, match="edited.json: the tokenizer does not split text into"):
        CharVocabulary.load(edited)

    spec = json.loads(CharVocabulary.from_text("ab").to_json())
    spec["model"]["vocab"] = {UNKNOWN_CHAR: 0, "b": 1, "a": 2}
    unsorted = tmp_path / "unsorted.json"
    unsorted.write_text(json.dumps(spec), encoding="utf-8")
    with pytest.raises(SeqlabError, match="unsorted.json: the character vocabulary is not id 0"):
        CharVocabulary.load(unsorted)
    spec["model"]["vocab"] = {UNKNOWN_CHAR: 0, "a": 1, "the": 2}  # a word, not a character
    words = tmp_path / "words.json"
    words.write_text(json.dumps(spec), encoding="utf-8")
    with pytest.raises(SeqlabError, match="words.json: the character vocabulary is not id 0"):
        load_lm_vocabulary(words)


def test_byte_symbols_are_gpt2s_byte_level_alphabet() -> None:
    symbols = byte_symbols()
    assert sorted(symbols) == list(range(256))
    assert set(symbols.values()) == set(pre_tokenizers.ByteLevel.alphabet())
    assert symbols[ord(" ")] == "Ġ" and symbols[ord("\n")] == "Ċ" and symbols[ord("A")] == "A"


_BPE_TRAIN = ("the cat sat on the mat; the dog sat on the log.\n" * 20) + "café naïve — ½ 𝄞\n"


@pytest.fixture(scope="module")
def bpe() -> BPEVocabulary:
    return BPEVocabulary.train(_BPE_TRAIN, vocab_size=300)


def test_bpe_round_trip_and_characters_counted_from_lead_bytes(bpe: BPEVocabulary) -> None:
    assert bpe.kind == "bpe"
    assert isinstance(bpe, LMVocabulary)
    text = "  the cat — 𝄞 ate ½ café\n\n"
    ids = bpe.encode(text)
    assert bpe.normalize(text) == "the cat — 𝄞 ate 1⁄2 café"  # NFKC and stripped
    assert bpe.decode(ids) == bpe.normalize(text)
    # All ids: the characters of the normalised text plus the one space added in front.
    assert bpe.count_characters(ids) == len(bpe.normalize(text)) + 1
    # Any prefix of the ids spells the characters whose first byte it holds, also when it ends
    # inside a character's bytes (the 3-byte "—" and the 4-byte "𝄞" are not merged).
    spelled = " " + bpe.normalize(text)
    starts = np.cumsum([0] + [len(char.encode("utf-8")) for char in spelled])[:-1]
    inside_a_character = 0
    for cut in range(len(ids) + 1):
        prefix_bytes = sum(len(bpe.tokenizer.tokenizer.id_to_token(i)) for i in ids[:cut])
        assert bpe.count_characters(ids[:cut]) == int((starts < prefix_bytes).sum())
        inside_a_character += prefix_bytes not in {*starts.tolist(), len(spelled.encode())}
    assert inside_a_character >= 3
    assert bpe.count_characters(np.array([0, 1, 2, 3])) == 0  # special tokens spell nothing


@settings(max_examples=60, deadline=None)
@given(text=st.text(min_size=1, max_size=40))
def test_bpe_character_count_matches_the_normalised_text(bpe: BPEVocabulary, text: str) -> None:
    normalized = bpe.normalize(text)
    ids = bpe.encode(text)
    assert bpe.decode(ids) == normalized
    assert bpe.count_characters(ids) == (len(normalized) + 1 if normalized else 0)


def test_bpe_save_and_load(tmp_path: Path, bpe: BPEVocabulary) -> None:
    path = tmp_path / "tokenizer.json"
    bpe.save(path)
    loaded = load_lm_vocabulary(path)
    assert isinstance(loaded, BPEVocabulary)
    assert loaded.vocab_size == bpe.vocab_size
    assert loaded.encode(_BPE_TRAIN) == bpe.encode(_BPE_TRAIN)
    assert BPEVocabulary.load(path).encode("the mat") == bpe.encode("the mat")
