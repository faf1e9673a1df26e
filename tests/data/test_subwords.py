"""Byte-level BPE for translation (seqlab.data.subwords): special ids, exact round trip,
determinism, joint and separate vocabularies, save and load.

The corpus is a few dozen Multi30k-like sentences, so training takes milliseconds; expected
subwords are read off the trained vocabulary, never assumed.
"""

from __future__ import annotations

import os
import subprocess
import sys
import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from seqlab.data.subwords import (
    SPECIAL_TOKENS,
    SubwordTokenizer,
    TranslationTokenizers,
    train_subword_tokenizer,
    train_translation_tokenizers,
)
from seqlab.errors import SeqlabError

_REAL_DATA = os.environ.get("SEQLAB_DATA", "").strip()

GERMAN = [
    "Zwei junge weiße Männer sind im Freien in der Nähe vieler Büsche.",
    "Ein kleines Mädchen klettert in ein Spielhaus aus Holz.",
    "Ein Mann in einem blauen Hemd steht auf einer Leiter und putzt ein Fenster.",
    "Drei Männer auf Pferden während eines Rennens.",
    "Zwei Männer stehen am Herd und bereiten Essen zu.",
    "Ein Hund läuft über eine grüne Wiese, während 2 Kinder zuschauen.",
] * 3
ENGLISH = [
    "Two young, White males are outside near many bushes.",
    "A little girl climbing into a wooden playhouse.",
    "A man in a blue shirt is standing on a ladder cleaning a window.",
    "Three men on horses during a race.",
    "Two men are at the stove preparing food.",
    "A dog's running across a green meadow while 2 children watch.",
] * 3
# Punctuation, umlauts and ß, apostrophes, numbers, quotes, a dash, and words never seen in
# training (their bytes still encode).
ROUND_TRIP = [
    "Ein Mann fährt 3,5 km mit dem Fahrrad.",
    "A man's dog isn't there; it's 12:30 - \"really\"?",
    "Größere Straßenbahnen (1999) überqueren die Brücke!",
    "Children's toys, 100% wool: «Qualität» — über alles...",
    "Xylophon-Übungen für Ärzte & Öko-Bäcker",
    "  leading and trailing spaces  ",
    "<s> is text here, not a special token </s>",
]


@pytest.fixture(scope="module")
def german() -> SubwordTokenizer:
    return train_subword_tokenizer(GERMAN, vocab_size=400, min_frequency=2)


def test_special_tokens_have_fixed_ids(german):
    assert (german.pad_id, german.unk_id, german.bos_id, german.eos_id) == (0, 1, 2, 3)
    vocab = german.tokenizer.get_vocab()
    assert [vocab[token] for token in SPECIAL_TOKENS] == [0, 1, 2, 3]
    assert SPECIAL_TOKENS == ("<pad>", "<unk>", "<s>", "</s>")


def test_vocabulary_is_specials_bytes_then_merges(german):
    vocab = german.tokenizer.get_vocab()
    assert german.vocab_size == len(vocab) <= 400
    # 4 specials + 256 byte symbols; the rest are merges (there are enough pairs seen twice here
    # to fill the budget).
    assert german.vocab_size == 400
    by_id = sorted(vocab, key=vocab.__getitem__)
    assert len(set(by_id[4:260])) == 256
    assert all(len(token) == 1 for token in by_id[4:260])
    assert all(len(token) > 1 for token in by_id[260:])


@pytest.mark.parametrize("text", ROUND_TRIP)
def test_decode_encode_round_trips_after_normalisation(german, text):
    ids = german.encode_one(text)
    assert german.unk_id not in ids
    assert german.decode(ids) == german.normalize(text) == text.strip()


def test_normalisation_is_nfkc_then_strip(german):
    assert german.normalize(" ﬁne ½ a\u0308 \u00a0") == "fine 1⁄2 ä"
    assert german.normalize("Zwei Männer.") == "Zwei Männer."


# Unicode's White_Space characters, the ones the normaliser strips: Python's str.strip also strips
# the ASCII separators 0x1C-0x1F, which are not white space to Unicode (or to the library).
_WHITE_SPACE = "".join(
    c for c in map(chr, range(0x3001)) if c.isspace() and c not in "\x1c\x1d\x1e\x1f"
)


@settings(max_examples=200, deadline=None, derandomize=True)
@given(text=st.text(max_size=40))
def test_round_trip_holds_for_any_text(german, text):
    assert german.decode(german.encode_one(text)) == german.normalize(text)
    assert german.normalize(text) == unicodedata.normalize("NFKC", text).strip(_WHITE_SPACE)


def test_specials_spelled_in_text_stay_text(german):
    ids = german.encode_one("<s> </s> <pad>")
    assert not set(ids) & {german.pad_id, german.unk_id, german.bos_id, german.eos_id}


def test_decode_stops_at_eos_and_drops_bos_and_padding(german):
    ids = german.encode_one("Zwei Männer.")
    framed = [german.bos_id, *ids, german.eos_id, *german.encode_one("Rest"), german.pad_id]
    assert german.decode(framed) == "Zwei Männer."
    assert german.decode_batch([framed, [german.bos_id, german.eos_id]]) == ["Zwei Männer.", ""]


def test_frequent_words_become_single_subwords(german):
    # "Männer" occurs 9 times: after training it is one token, with the space before it.
    assert german.tokens("Männer") == ["ĠMÃ¤nner"]
    assert german.count_tokens("Zwei Männer") == 2


def test_training_is_deterministic():
    first = train_subword_tokenizer(GERMAN + ENGLISH, vocab_size=500)
    second = train_subword_tokenizer(list(reversed(GERMAN + ENGLISH)), vocab_size=500)
    assert first.to_json() == second.to_json()


def test_training_is_deterministic_across_processes():
    script = (
        "import sys; from seqlab.data.subwords import train_subword_tokenizer; "
        f"sys.stdout.write(train_subword_tokenizer({GERMAN!r}, vocab_size=400).to_json())"
    )
    outputs = [
        subprocess.run(
            [sys.executable, "-c", script], capture_output=True, text=True, check=True
        ).stdout
        for _ in range(2)
    ]
    local = train_subword_tokenizer(GERMAN, vocab_size=400).to_json()
    assert outputs[0] == outputs[1] == local


def test_joint_vocabulary_is_one_tokenizer_for_both_languages(tmp_path):
    pair = train_translation_tokenizers(GERMAN, ENGLISH, joint=True, vocab_size=500)
    assert pair.joint and pair.source is pair.target
    assert (
        pair.source.to_json() == train_subword_tokenizer(GERMAN + ENGLISH, vocab_size=500).to_json()
    )
    path = tmp_path / "tokenizer.json"
    pair.save(path, None)
    loaded = TranslationTokenizers.load(path, None)
    assert loaded.joint and loaded.source is loaded.target
    assert loaded.source.to_json() == pair.source.to_json()
    with pytest.raises(SeqlabError, match="joint vocabularies are saved with no target_path"):
        pair.save(path, tmp_path / "other.json")


def test_separate_vocabularies_learn_each_language(tmp_path):
    pair = train_translation_tokenizers(GERMAN, ENGLISH, joint=False, vocab_size=400)
    assert not pair.joint
    assert pair.source.to_json() == train_subword_tokenizer(GERMAN, vocab_size=400).to_json()
    assert pair.target.to_json() == train_subword_tokenizer(ENGLISH, vocab_size=400).to_json()
    assert pair.source.tokens("Männer") == ["ĠMÃ¤nner"]
    assert pair.target.tokens("Männer") != ["ĠMÃ¤nner"]
    source_path, target_path = tmp_path / "source.json", tmp_path / "target.json"
    pair.save(source_path, target_path)
    loaded = TranslationTokenizers.load(source_path, target_path)
    assert not loaded.joint
    for text in ROUND_TRIP:
        assert loaded.target.decode(loaded.target.encode_one(text)) == text.strip()
    assert loaded.source.encode(GERMAN[:2]) == pair.source.encode(GERMAN[:2])
    with pytest.raises(SeqlabError, match="separate vocabularies are saved with a target_path"):
        pair.save(source_path, None)


def test_bad_settings_and_files_are_errors(tmp_path):
    with pytest.raises(SeqlabError, match=r"vocab_size \(259\) must be at least 260"):
        train_subword_tokenizer(GERMAN, vocab_size=259)
    with pytest.raises(SeqlabError, match="cannot train a tokenizer on no text"):
        train_subword_tokenizer(["   "], vocab_size=300)
    with pytest.raises(SeqlabError, match="not found; train a tokenizer first"):
        SubwordTokenizer.load(tmp_path / "missing.json")
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(SeqlabError, match="not a tokenizers tokenizer.json"):
        SubwordTokenizer.load(broken)


def test_a_tokenizer_with_other_special_ids_is_refused(tmp_path):
    from tokenizers import Tokenizer, models

    other = Tokenizer(models.BPE(vocab={"<unk>": 0, "<pad>": 1, "<s>": 2, "</s>": 3}, merges=[]))
    path = tmp_path / "other.json"
    path.write_text(other.to_str())
    with pytest.raises(SeqlabError, match="special token '<pad>' has id 1, expected 0"):
        SubwordTokenizer.load(path)


@pytest.mark.skipif(
    not _REAL_DATA, reason="SEQLAB_DATA is unset: the real Multi30k files are not available"
)
def test_normalisation_changes_only_no_break_spaces_in_multi30k(german):
    from seqlab.data.parallel import read_multi30k

    changed: dict[str, int] = {}
    characters = 0
    for split in ("train", "val", "test"):
        corpus = read_multi30k(split, download=False)
        for side, texts in (("de", corpus.sources), ("en", corpus.targets)):
            for text in texts:
                normal = german.normalize(text)
                if normal != text:
                    changed[side] = changed.get(side, 0) + 1
                    characters += text.count("\u00a0")
                    assert normal == text.replace("\u00a0", " ")
    assert changed == {"de": 45}
    assert characters == 48


@pytest.mark.skipif(
    not _REAL_DATA, reason="SEQLAB_DATA is unset: the real Multi30k files are not available"
)
def test_every_multi30k_test_sentence_round_trips():
    from seqlab.data.parallel import read_multi30k

    val = read_multi30k("val", download=False)
    test = read_multi30k("test", download=False)
    tokenizer = train_subword_tokenizer([*val.sources, *val.targets], vocab_size=2000)
    texts = [*test.sources, *test.targets]
    ids = tokenizer.encode(texts)
    assert all(tokenizer.unk_id not in row for row in ids)
    assert tokenizer.decode_batch(ids) == [tokenizer.normalize(text) for text in texts]
    # Deterministic training, so the count is exact: 18.7 subwords a sentence (Multi30k's
    # sentences have about 13 words; unseen words encode as smaller pieces).
    assert tokenizer.vocab_size == 2000
    assert sum(map(len, ids)) == 37_432
