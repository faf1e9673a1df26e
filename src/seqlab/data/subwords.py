"""Byte-level BPE subword vocabularies for translation: trained deterministically, saved as
``tokenizers`` files, and decoded back to the exact (normalised) text.

References: Sennrich, Haddow and Birch, 2016, "Neural Machine Translation of Rare Words with
Subword Units" (BPE merges; a joint vocabulary for both languages, their "joint BPE"); Radford et
al., 2019, "Language Models are Unsupervised Multitask Learners" (GPT-2's byte-level BPE: the 256
byte values are the base symbols, so no text is ever unknown, and its pre-tokenisation regex);
Unicode Standard Annex #15 (NFKC). The merges are learned by
:func:`seqlab.data.tokenization.learn_merges`, the project's deterministic learner (same texts,
same file, byte for byte, in any process); the ``tokenizers`` library does normalisation,
pre-tokenisation, encoding, decoding and the file format.

Pipeline: normalise (NFKC, then strip Unicode white space at both ends), pre-tokenise (GPT-2's
byte-level split: letters, digits, punctuation and white space runs apart, a space kept at the
front of the word it precedes, one space added in front of the text), BPE. Decoding maps bytes
back and removes the one added space. Round trip: ``decode(encode(text)) == normalize(text)``
for every string (tests check it on arbitrary text): no character maps to ``<unk>`` because every
byte is in the vocabulary, and white space inside a text is kept as it is. NFKC changes few
characters of ordinary text (it composes ``a`` + combining diaeresis into ``ä``, and maps
compatibility forms: ``ﬁ`` to ``fi``, ``½`` to ``1⁄2``, a no-break space to a space). In
Multi30k it changes only 48 no-break spaces (``Nummer 5003``), in 45 German sentences (tested).

Special tokens have fixed ids: ``<pad>``=0 (a zero-filled tensor is all padding), ``<unk>``=1,
``<s>``=2 (BOS), ``</s>``=3 (EOS). They are vocabulary entries, deliberately not registered as
the library's "added tokens": a text that spells ``<s>`` is then encoded as the characters it is
(the pre-tokeniser splits ``<``, ``s`` and ``>`` apart, so no merge can ever produce a special's
spelling) and round-trips, instead of turning into a sentence boundary. ``<unk>`` is never
produced by encoding; it exists for models that reserve it.

Deviation from GPT-2: its vocabulary orders tokens by its own training run; here the 256 byte
symbols come first (sorted), then the merges in the order learned. Word counts for training are
taken per white-space-separated chunk (seqlab.data.tokenization's fast counter), which differs
from encoding whole texts only for runs of several white-space characters, and only in the
training statistics, never in how a text is encoded.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from seqlab.data.tokenization import count_words, learn_merges, read_tokenizer_file
from seqlab.errors import SeqlabError
from seqlab.utils.io import atomic_write_text

__all__ = [
    "BOS",
    "EOS",
    "PAD",
    "SPECIAL_TOKENS",
    "UNK",
    "SubwordTokenizer",
    "TranslationTokenizers",
    "train_subword_tokenizer",
    "train_translation_tokenizers",
]

PAD, UNK, BOS, EOS = "<pad>", "<unk>", "<s>", "</s>"
SPECIAL_TOKENS: tuple[str, ...] = (PAD, UNK, BOS, EOS)  # ids 0, 1, 2, 3
_BYTE_SYMBOLS = 256


class SubwordTokenizer:
    """A byte-level BPE ``tokenizers.Tokenizer`` with fixed special ids and an exact decoder.

    Build one with :func:`train_subword_tokenizer` or :meth:`load`. :meth:`encode` gives the
    subword ids of a text without special tokens (batching adds BOS and EOS); :meth:`decode`
    turns ids back into text.
    """

    def __init__(self, tokenizer: object, *, source: str = "tokenizer") -> None:
        from tokenizers import Tokenizer

        if not isinstance(tokenizer, Tokenizer):
            raise TypeError(f"expected a tokenizers.Tokenizer, got {type(tokenizer).__name__}")
        tokenizer.no_truncation()
        tokenizer.no_padding()
        for expected, token in enumerate(SPECIAL_TOKENS):
            found = tokenizer.token_to_id(token)
            if found != expected:
                raise SeqlabError(
                    f"{source}: special token '{token}' has id {found}, expected {expected}; "
                    "use a tokenizer trained by seqlab's train_subword_tokenizer"
                )
        if tokenizer.normalizer is None:
            raise SeqlabError(f"{source}: the tokenizer has no normaliser; retrain it")
        self.tokenizer = tokenizer
        self.pad_id, self.unk_id, self.bos_id, self.eos_id = 0, 1, 2, 3

    @property
    def vocab_size(self) -> int:
        """Number of ids, special tokens included (the embedding table's V)."""
        return self.tokenizer.get_vocab_size(with_added_tokens=True)

    def normalize(self, text: str) -> str:
        """The text as the tokenizer sees it (NFKC, surrounding white space stripped): what
        :meth:`decode` gives back."""
        return self.tokenizer.normalizer.normalize_str(text)

    def encode(self, texts: Sequence[str]) -> list[list[int]]:
        """Subword ids of each text, no special tokens."""
        return [encoding.ids for encoding in self.tokenizer.encode_batch(list(texts))]

    def encode_one(self, text: str) -> list[int]:
        return list(self.tokenizer.encode(text).ids)

    def count_tokens(self, text: str) -> int:
        """How many subword ids ``text`` has (a budget function for long documents)."""
        return len(self.tokenizer.encode(text).ids)

    def tokens(self, text: str) -> list[str]:
        """The subwords of ``text`` as the vocabulary spells them (for display)."""
        return list(self.tokenizer.encode(text).tokens)

    def decode(self, ids: Iterable[int]) -> str:
        """The text of ``ids``: read up to the first EOS, padding, BOS and UNK dropped.

        Ids a model generated may not form whole UTF-8 characters; such bytes decode to U+FFFD.
        """
        kept: list[int] = []
        for token_id in ids:
            token_id = int(token_id)
            if token_id == self.eos_id:
                break
            if token_id not in (self.pad_id, self.bos_id, self.unk_id):
                kept.append(token_id)
        return self.tokenizer.decode(kept, skip_special_tokens=False)

    def decode_batch(self, sequences: Iterable[Iterable[int]]) -> list[str]:
        return [self.decode(ids) for ids in sequences]

    def to_json(self) -> str:
        return self.tokenizer.to_str(pretty=True) + "\n"

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the tokenizer file atomically (a crash never leaves half a file)."""
        atomic_write_text(path, self.to_json())

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> SubwordTokenizer:
        """Read a file written by :meth:`save`; a SeqlabError names the file if it is not one."""
        file_path = Path(path)
        tokenizer = read_tokenizer_file(file_path)
        return cls(tokenizer, source=str(file_path))


def train_subword_tokenizer(
    texts: Iterable[str], *, vocab_size: int = 8000, min_frequency: int = 2
) -> SubwordTokenizer:
    """Learn a byte-level BPE vocabulary of at most ``vocab_size`` ids from ``texts``.

    The vocabulary is the 4 special tokens, the 256 byte symbols and up to ``vocab_size - 260``
    merges (fewer on a small corpus: a merge must be seen ``min_frequency`` times).
    """
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers

    floor = len(SPECIAL_TOKENS) + _BYTE_SYMBOLS
    if vocab_size < floor:
        raise SeqlabError(
            f"vocab_size ({vocab_size}) must be at least {floor} (the {len(SPECIAL_TOKENS)} "
            f"special tokens and the {_BYTE_SYMBOLS} byte symbols); use a few thousand"
        )
    if min_frequency < 1:
        raise SeqlabError(f"min_frequency ({min_frequency}) must be at least 1")
    normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Strip()])
    pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=True, use_regex=True)
    word_counts = count_words(texts, normalizer=normalizer, pre_tokenizer=pre_tokenizer)
    if not word_counts:
        raise SeqlabError("cannot train a tokenizer on no text; give the training texts")
    byte_symbols = sorted(pre_tokenizers.ByteLevel.alphabet())
    seen = len({symbol for word in word_counts for symbol in word})
    # learn_merges counts the symbols it starts from (those seen) in its limit.
    tokens, merges = learn_merges(
        word_counts,
        max_tokens=seen + vocab_size - floor,
        min_frequency=min_frequency,
        prefix="",
        suffix="",
    )
    base = set(byte_symbols)
    vocabulary = [*SPECIAL_TOKENS, *byte_symbols, *(t for t in tokens if t not in base)]
    tokenizer = Tokenizer(
        models.BPE(
            vocab={token: i for i, token in enumerate(vocabulary)}, merges=merges, unk_token=UNK
        )
    )
    tokenizer.normalizer = normalizer
    tokenizer.pre_tokenizer = pre_tokenizer
    # ByteLevel maps the bytes back; Strip removes the one space the pre-tokeniser put in front.
    tokenizer.decoder = decoders.Sequence([decoders.ByteLevel(), decoders.Strip(" ", 1, 0)])
    return SubwordTokenizer(tokenizer)


@dataclass(frozen=True)
class TranslationTokenizers:
    """The source and target tokenizers of a translation model; ``joint`` when they are one
    vocabulary learned from both languages (then ``source is target``)."""

    source: SubwordTokenizer
    target: SubwordTokenizer
    joint: bool

    def save(
        self, source_path: str | os.PathLike[str], target_path: str | os.PathLike[str] | None
    ) -> None:
        """Write the tokenizer file(s): a joint vocabulary to ``source_path`` alone
        (``target_path`` None), separate ones to both paths."""
        if self.joint != (target_path is None):
            need = "no target_path" if self.joint else "a target_path"
            kind = "joint" if self.joint else "separate"
            raise SeqlabError(f"{kind} vocabularies are saved with {need}")
        self.source.save(source_path)
        if target_path is not None:
            self.target.save(target_path)

    @classmethod
    def load(
        cls, source_path: str | os.PathLike[str], target_path: str | os.PathLike[str] | None
    ) -> TranslationTokenizers:
        """Read what :meth:`save` wrote: one file means a joint vocabulary."""
        source = SubwordTokenizer.load(source_path)
        if target_path is None:
            return cls(source=source, target=source, joint=True)
        return cls(source=source, target=SubwordTokenizer.load(target_path), joint=False)


def train_translation_tokenizers(
    source_texts: Sequence[str],
    target_texts: Sequence[str],
    *,
    joint: bool,
    vocab_size: int = 8000,
    min_frequency: int = 2,
) -> TranslationTokenizers:
    """One vocabulary of ``vocab_size`` learned from both languages (``joint``), or one of
    ``vocab_size`` per language. A joint vocabulary lets names and numbers, spelled alike in both
    languages, share ids (Sennrich et al., 2016, section 3.2)."""
    if joint:
        shared = train_subword_tokenizer(
            [*source_texts, *target_texts], vocab_size=vocab_size, min_frequency=min_frequency
        )
        return TranslationTokenizers(source=shared, target=shared, joint=True)
    return TranslationTokenizers(
        source=train_subword_tokenizer(
            source_texts, vocab_size=vocab_size, min_frequency=min_frequency
        ),
        target=train_subword_tokenizer(
            target_texts, vocab_size=vocab_size, min_frequency=min_frequency
        ),
        joint=False,
    )
