"""Subword tokenisation (seqlab.data.tokenization): special ids, determinism, save/load, truncation.

The corpus is a few dozen short sentences, so training takes milliseconds; expected word pieces are
read off the trained vocabulary, never assumed.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from tokenizers import Tokenizer, models, pre_tokenizers

from seqlab.data.tokenization import SpecialTokens, TextEncoder, train_tokenizer
from seqlab.errors import SeqlabError

CORPUS = [
    "The movie was great , truly great !",
    "A dull and boring film .",
    "Great acting ; boring plot .",
    "The film was not great , but the acting was fine .",
    "I loved the acting and the music .",
    "The plot was dull and the music was loud .",
] * 4


@pytest.fixture(scope="module", params=["wordpiece", "bpe"])
def encoder(request) -> TextEncoder:
    return train_tokenizer(CORPUS, vocab_size=120, model=request.param, min_frequency=1)


def test_special_token_ids_are_fixed(encoder):
    assert (encoder.pad_id, encoder.unk_id, encoder.cls_id, encoder.sep_id, encoder.mask_id) == (
        0,
        1,
        2,
        3,
        4,
    )
    vocab = encoder.tokenizer.get_vocab()
    assert [vocab[t] for t in ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")] == [0, 1, 2, 3, 4]


@pytest.mark.parametrize("model", ["wordpiece", "bpe"])
def test_training_is_deterministic(model):
    first = train_tokenizer(CORPUS, vocab_size=120, model=model, min_frequency=1)
    second = train_tokenizer(list(CORPUS), vocab_size=120, model=model, min_frequency=1)
    assert first.to_json() == second.to_json()


def test_training_is_deterministic_across_processes(encoder):
    # The library's own trainers number symbols in hash-map order, random per process; a second
    # process is the check that catches that (within one process the order can repeat).
    model = "bpe" if "</w>" in encoder.to_json() else "wordpiece"
    script = (
        "import sys; from seqlab.data.tokenization import train_tokenizer; "
        f"sys.stdout.write(train_tokenizer({CORPUS!r}, vocab_size=120, model={model!r}, "
        "min_frequency=1).to_json())"
    )
    other = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    )
    assert other.stdout == encoder.to_json()


def test_merges_are_learned_by_frequency_then_by_string():
    # "ab" occurs 3 times, "cd" 2 times: the first merge joins a+##b, the second c+##d; with
    # equal counts ("ef", "gh" once each) the smaller strings ("e", "##f") go first.
    encoder = train_tokenizer(["ab ab ab cd cd gh ef"], vocab_size=5 + 8 + 3, min_frequency=1)
    vocab = encoder.tokenizer.get_vocab()
    initial = sorted(["a", "##b", "c", "##d", "e", "##f", "g", "##h"])
    assert [token for token, _ in sorted(vocab.items(), key=lambda item: item[1])] == (
        ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + initial + ["ab", "cd", "ef"]
    )


def test_save_load_round_trip_gives_identical_ids(encoder, tmp_path):
    path = tmp_path / "model" / "tokenizer.json"
    encoder.save(path)
    assert [p.name for p in path.parent.iterdir()] == ["tokenizer.json"]  # no temp file left
    json.loads(path.read_text(encoding="utf-8"))  # a plain tokenizers JSON file
    loaded = TextEncoder.load(path)
    texts = CORPUS[:6] + ["Unseen words : zebra quartz !", ""]
    assert loaded.encode_batch(texts, max_length=16) == encoder.encode_batch(texts, max_length=16)
    assert loaded.vocab_size == encoder.vocab_size


def test_normalisation_lowercases(encoder):
    assert encoder.tokens("THE MOVIE") == encoder.tokens("the movie")


def test_unseen_characters_become_unk_and_unseen_words_split_into_pieces(encoder):
    ids = encoder.encode_batch(["ø"], max_length=8, add_cls=False).ids[0]
    assert ids == [encoder.unk_id]
    # "actingmusic" is not a word of the corpus, but its letters are: it becomes several known
    # pieces and no [UNK].
    vocab = encoder.tokenizer.get_vocab()
    pieces = encoder.tokens("actingmusic")
    assert len(pieces) > 1
    assert all(piece in vocab for piece in pieces)
    assert "[UNK]" not in pieces


def test_truncation_keeps_the_first_tokens_counting_cls(encoder):
    texts = ["the film was dull and the music was loud", "the film", "the film was"]
    full = encoder.encode_batch(texts, max_length=512, add_cls=False).ids
    limit = 4
    result = encoder.encode_batch(texts, max_length=limit)
    expected = [[encoder.cls_id] + pieces[: limit - 1] for pieces in full]
    assert result.ids == expected
    assert all(len(ids) <= limit for ids in result.ids)
    assert result.truncated == sum(len(pieces) > limit - 1 for pieces in full)
    # A text whose pieces exactly fill the room is not truncated.
    exact = encoder.encode_batch([texts[2]], max_length=len(full[2]) + 1)
    assert exact.truncated == 0 and exact.ids == [[encoder.cls_id] + full[2]]


def test_truncation_with_sep_and_without_cls(encoder):
    text = ["the film was dull and the music was loud"]
    pieces = encoder.encode_batch(text, max_length=512, add_cls=False).ids[0]
    with_sep = encoder.encode_batch(text, max_length=5, add_sep=True)
    assert with_sep.ids == [[encoder.cls_id] + pieces[:3] + [encoder.sep_id]]
    assert with_sep.truncated == 1
    bare = encoder.encode_batch(text, max_length=5, add_cls=False)
    assert bare.ids == [pieces[:5]]


def test_max_length_without_room_is_an_error(encoder):
    with pytest.raises(
        SeqlabError, match=r"max_length \(2\) leaves no room .* use max_length >= 3"
    ):
        encoder.encode_batch(["x"], max_length=2, add_sep=True)


def test_loaded_tokenizer_settings_do_not_override_the_policy(encoder, tmp_path):
    raw = Tokenizer.from_str(encoder.to_json())
    raw.enable_truncation(max_length=2)
    raw.enable_padding(length=20)
    path = tmp_path / "tokenizer.json"
    path.write_text(raw.to_str(), encoding="utf-8")
    loaded = TextEncoder.load(path)
    assert loaded.encode_batch(["the film was dull"], max_length=64) == encoder.encode_batch(
        ["the film was dull"], max_length=64
    )


def test_foreign_special_token_spellings(tmp_path):
    vocab = {"<pad>": 0, "<unk>": 1, "<s>": 2, "</s>": 3, "<mask>": 4, "hello": 5}
    raw = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    raw.pre_tokenizer = pre_tokenizers.Whitespace()
    path = tmp_path / "tokenizer.json"
    path.write_text(raw.to_str(), encoding="utf-8")
    with pytest.raises(SeqlabError, match=r"has no pad token '\[PAD\]'; pass special_tokens="):
        TextEncoder.load(path)
    special = SpecialTokens(pad="<pad>", unk="<unk>", cls="<s>", sep="</s>", mask="<mask>")
    loaded = TextEncoder.load(path, special_tokens=special)
    assert loaded.encode_batch(["hello world"], max_length=8).ids == [[2, 5, 1]]


def test_bad_files_are_one_line_errors(tmp_path):
    with pytest.raises(SeqlabError, match=r"tokenizer\.json not found; train a tokenizer first"):
        TextEncoder.load(tmp_path / "tokenizer.json")
    broken = tmp_path / "broken.json"
    broken.write_text('{"version": "1.0"', encoding="utf-8")
    with pytest.raises(SeqlabError) as caught:
        TextEncoder.load(broken)
    assert "not a tokenizers tokenizer.json" in str(caught.value)
    assert "\n" not in str(caught.value)


def test_training_arguments_are_checked():
    with pytest.raises(SeqlabError, match=r"vocab_size \(5\) must exceed the 5 special tokens"):
        train_tokenizer(CORPUS, vocab_size=5)
    with pytest.raises(SeqlabError, match="cannot train a tokenizer on no text"):
        train_tokenizer(["", "  "], vocab_size=100)
    with pytest.raises(SeqlabError, match="unknown tokenizer model 'unigram'"):
        train_tokenizer(CORPUS, vocab_size=100, model="unigram")  # type: ignore[arg-type]


def test_wordpiece_decode_restores_the_lowercased_text():
    encoder = train_tokenizer(CORPUS, vocab_size=120, min_frequency=1)
    ids = encoder.encode_batch(["The acting was fine ."], max_length=32).ids[0]
    assert encoder.decode(ids) == "the acting was fine."


@pytest.mark.parametrize("model", ["wordpiece", "bpe"])
def test_words_past_max_word_chars_are_left_out_of_the_statistics(model):
    """A 20,000-letter word changes nothing in the vocabulary (WordPiece reads it as [UNK]) and
    costs no time: before, every merge rescanned it (100,000 letters took 386 s)."""
    import random
    import time

    from seqlab.data.tokenization import MAX_WORD_CHARS

    rng = random.Random(0)
    runaway = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(20_000))
    plain = train_tokenizer(CORPUS, vocab_size=120, model=model, min_frequency=1)
    started = time.perf_counter()
    with_runaway = train_tokenizer([*CORPUS, runaway], vocab_size=120, model=model, min_frequency=1)
    assert time.perf_counter() - started < 2.0
    assert with_runaway.to_json() == plain.to_json()
    edge = "a" * MAX_WORD_CHARS
    if model == "wordpiece":
        assert plain.tokens(edge + "a") == ["[UNK]"]  # the library's own limit
        assert plain.tokens(edge) != ["[UNK]"]
