"""Vocabularies of a language model: one id per character, or byte-level BPE; one interface.

References: Karpathy, 2015, char-rnn, and nanoGPT's ``data/shakespeare_char/prepare.py`` (the
vocabulary is the sorted set of the text's characters; ids in that order); Graves, 2013,
"Generating Sequences With Recurrent Neural Networks" (bits per character); Radford et al., 2019
(GPT-2's byte-level BPE, as :mod:`seqlab.data.subwords` builds it, and its byte-to-symbol map);
RFC 3629 (a UTF-8 character has exactly one byte outside 0x80-0xBF, its lead byte).

Character vocabulary (:class:`CharVocabulary`): id 0 is the unknown symbol, spelled U+FFFD
(the Unicode replacement character), for characters the training text lacks; ids 1..V-1 are
the training text's distinct characters in code-point order (nanoGPT's order, shifted by one).
Spelling the unknown symbol U+FFFD means decoding needs no special case: an unseen character
comes back as U+FFFD, and a U+FFFD in the training text is simply id 0, so
``decode(encode(text)) == text`` for every text made of training characters. Every character
counts, line breaks, spaces and tabs included; nothing is normalised.

The file is a Hugging Face ``tokenizers`` ``tokenizer.json``: a WordLevel model over the
characters with ``unk_token`` U+FFFD, a Split pre-tokenizer on the regex ``[\\s\\S]`` (any one
character, line breaks included; Oniguruma's ``.`` skips line breaks) with behaviour
``isolated``, and a Fuse decoder (tokens joined with nothing between). The library reads the file
and gives the same ids and text back (tests check it on arbitrary text). :class:`CharVocabulary`
encodes with a code-point lookup in numpy instead of calling the library, which takes a second
for Tiny Shakespeare's million characters.

BPE vocabulary (:class:`BPEVocabulary`): wraps :class:`seqlab.data.subwords.SubwordTokenizer`.
It models the normalised text (NFKC, white space stripped at both ends: :meth:`normalize`),
encodes a whole text at once (the pre-tokenizer adds one space in front of it) and decodes back
to the normalised text. Known limit: its merges are learned from white-space-separated chunks,
each seen with a space in front, while a word at the start of a line follows a line break, not a
space, so line-initial words are cut into more pieces (Tiny Shakespeare's training split at
4,000 ids: 334,713 tokens; with a space put before each line-initial word, the same vocabulary
gives 312,425, 7 % fewer, although the text is longer).

Bits per character: a model's summed loss in nats over some target ids, divided by ln 2 and by
``count_characters(target_ids)``. For characters this is the number of ids. For BPE it is the
number of characters those ids spell: the number of UTF-8 lead bytes in their byte symbols
(special tokens count 0). Counts add up over any partition of the ids, so the characters of a
split's targets are counted exactly even when a character's bytes fall in two tokens. Over all
the ids of an encoded text, the count is ``len(normalize(text)) + 1``: the first id carries the
added space; it is never a target, so ``count_characters(ids[1:])`` counts the characters
that begin in the targets.

:func:`load_lm_vocabulary` reads either kind from its file (the model type tells which).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol, runtime_checkable

import numpy as np

from seqlab.data.subwords import SPECIAL_TOKENS, SubwordTokenizer, train_subword_tokenizer
from seqlab.data.tokenization import read_tokenizer_file
from seqlab.errors import SeqlabError
from seqlab.utils.io import atomic_write_text

if TYPE_CHECKING:
    from tokenizers import Tokenizer

__all__ = [
    "UNKNOWN_CHAR",
    "UNKNOWN_ID",
    "BPEVocabulary",
    "CharVocabulary",
    "LMVocabulary",
    "VocabularyKind",
    "byte_symbols",
    "load_lm_vocabulary",
]

VocabularyKind = Literal["char", "bpe"]
UNKNOWN_CHAR = "\ufffd"
UNKNOWN_ID = 0
# Any one character, line breaks included (the library's regexes are Oniguruma's).
_ONE_CHARACTER = r"[\s\S]"


@runtime_checkable
class LMVocabulary(Protocol):
    """What the language-model task needs of a vocabulary, whichever kind it is."""

    @property
    def kind(self) -> VocabularyKind: ...

    @property
    def vocab_size(self) -> int:
        """Number of ids (the embedding table's V)."""
        ...

    def normalize(self, text: str) -> str:
        """The text as the vocabulary models it: what ``decode(encode(text))`` gives back."""
        ...

    def encode(self, text: str) -> list[int]: ...

    def decode(self, ids: Iterable[int]) -> str: ...

    def count_characters(self, ids: Sequence[int] | np.ndarray) -> int:
        """Characters that ``ids`` spell (the denominator of bits per character)."""
        ...

    def save(self, path: str | os.PathLike[str]) -> None: ...


class CharVocabulary:
    """One id per character of the training text, id 0 for any other (see the module docstring)."""

    kind: VocabularyKind = "char"

    def __init__(self, characters: Iterable[str]) -> None:
        chars = sorted(set(characters) - {UNKNOWN_CHAR})
        long = [char for char in chars if len(char) != 1]
        if long:
            raise ValueError(f"vocabulary entries must be single characters, got {long[:3]!r}")
        self.characters: tuple[str, ...] = tuple(chars)
        self._spellings = (UNKNOWN_CHAR, *chars)  # id -> character
        # Sorted code points: the id of a character is 1 + its position here.
        self._code_points = np.array([ord(char) for char in chars], dtype=np.int64)

    @classmethod
    def from_text(cls, text: str) -> CharVocabulary:
        """The vocabulary of ``text`` (the training split: validation characters it lacks are
        unknown, as they would be for any new text)."""
        if not text:
            raise SeqlabError("cannot build a character vocabulary from an empty text")
        return cls(set(text))

    @property
    def vocab_size(self) -> int:
        return len(self._spellings)

    def normalize(self, text: str) -> str:
        return text

    def encode(self, text: str) -> list[int]:
        """The id of each character; characters outside the vocabulary get ``UNKNOWN_ID``."""
        return self.encode_array(text).tolist()

    def encode_array(self, text: str) -> np.ndarray:
        """:meth:`encode` as an int64 array (no Python list for a long text)."""
        codes = np.frombuffer(text.encode("utf-32-le"), dtype="<u4").astype(np.int64)  # (N,)
        if len(self._code_points) == 0:
            return np.zeros(len(codes), dtype=np.int64)
        positions = np.searchsorted(self._code_points, codes)  # (N,)
        inside = np.minimum(positions, len(self._code_points) - 1)
        known = self._code_points[inside] == codes
        return np.where(known, positions + 1, UNKNOWN_ID).astype(np.int64)

    def decode(self, ids: Iterable[int]) -> str:
        """The characters of ``ids``; ``UNKNOWN_ID`` gives U+FFFD."""
        spellings = self._spellings
        values = _id_list(ids)
        bad = next((value for value in values if not 0 <= value < len(spellings)), None)
        if bad is not None:
            raise ValueError(f"id {bad} is outside the vocabulary of {len(spellings)} ids")
        return "".join([spellings[value] for value in values])

    def count_characters(self, ids: Sequence[int] | np.ndarray) -> int:
        """Each id is one character (the unknown one too)."""
        return len(ids)

    def to_tokenizer(self) -> Tokenizer:
        """The vocabulary as a ``tokenizers`` Tokenizer (the module docstring gives its parts)."""
        from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers

        vocab = {char: token_id for token_id, char in enumerate(self._spellings)}
        tokenizer = Tokenizer(models.WordLevel(vocab=vocab, unk_token=UNKNOWN_CHAR))
        tokenizer.pre_tokenizer = pre_tokenizers.Split(Regex(_ONE_CHARACTER), behavior="isolated")
        tokenizer.decoder = decoders.Fuse()
        return tokenizer

    def to_json(self) -> str:
        return self.to_tokenizer().to_str(pretty=True) + "\n"

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the ``tokenizer.json`` atomically (a crash never leaves half a file)."""
        atomic_write_text(path, self.to_json())

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> CharVocabulary:
        """Read a file written by :meth:`save`; a SeqlabError names the file if it is not one."""
        file_path = Path(path)
        return cls.from_tokenizer(read_tokenizer_file(file_path), source=str(file_path))

    @classmethod
    def from_tokenizer(cls, tokenizer: Tokenizer, *, source: str) -> CharVocabulary:
        """The vocabulary a character-level ``tokenizers`` Tokenizer holds, checked to encode and
        decode as :meth:`to_tokenizer` does."""
        spec = json.loads(tokenizer.to_str())
        model = spec.get("model") or {}
        fix = "save it with seqlab's CharVocabulary or retrain"
        if model.get("type") != "WordLevel" or model.get("unk_token") != UNKNOWN_CHAR:
            raise SeqlabError(
                f"{source}: not a character vocabulary (model {model.get('type')!r} with unknown "
                f"token {model.get('unk_token')!r}, expected 'WordLevel' with U+FFFD); {fix}"
            )
        by_id = sorted((token_id, token) for token, token_id in model.get("vocab", {}).items())
        spellings = [token for _, token in by_id]
        characters = spellings[1:]
        if (
            [token_id for token_id, _ in by_id] != list(range(len(by_id)))
            or spellings[:1] != [UNKNOWN_CHAR]
            or any(len(char) != 1 for char in characters)
            or characters != sorted(set(characters) - {UNKNOWN_CHAR})
        ):
            raise SeqlabError(
                f"{source}: the character vocabulary is not id 0 = U+FFFD followed by distinct "
                f"single characters in code-point order; {fix}"
            )
        vocabulary = cls(characters)
        # The pre-tokenizer and decoder decide how the library splits and joins; one pass over
        # the vocabulary's own characters proves they are the ones this class writes.
        every = "".join(vocabulary.characters)
        if (
            tokenizer.encode(every).ids != list(range(1, vocabulary.vocab_size))
            or tokenizer.decode(list(range(vocabulary.vocab_size))) != UNKNOWN_CHAR + every
        ):
            raise SeqlabError(
                f"{source}: the tokenizer does not split text into single characters and join "
                f"them back unchanged (pre_tokenizer {spec.get('pre_tokenizer')}, decoder "
                f"{spec.get('decoder')}); {fix}"
            )
        return vocabulary


class BPEVocabulary:
    """Byte-level BPE ids of a whole text (see the module docstring)."""

    kind: VocabularyKind = "bpe"

    def __init__(self, tokenizer: SubwordTokenizer) -> None:
        self.tokenizer = tokenizer
        self._characters_per_id = _characters_per_id(tokenizer)

    @classmethod
    def train(cls, text: str, *, vocab_size: int, min_frequency: int = 2) -> BPEVocabulary:
        """Learn a vocabulary of at most ``vocab_size`` ids from ``text`` (the training split)."""
        return cls(
            train_subword_tokenizer([text], vocab_size=vocab_size, min_frequency=min_frequency)
        )

    @property
    def vocab_size(self) -> int:
        return self.tokenizer.vocab_size

    def normalize(self, text: str) -> str:
        return self.tokenizer.normalize(text)

    def encode(self, text: str) -> list[int]:
        return self.tokenizer.encode_one(text)

    def decode(self, ids: Iterable[int]) -> str:
        """The text of ``ids``; bytes that do not form whole characters give U+FFFD."""
        return self.tokenizer.decode(ids)

    def count_characters(self, ids: Sequence[int] | np.ndarray) -> int:
        """UTF-8 lead bytes among the byte symbols of ``ids`` (special tokens count 0)."""
        return int(self._characters_per_id[np.asarray(ids, dtype=np.int64)].sum())

    def save(self, path: str | os.PathLike[str]) -> None:
        self.tokenizer.save(path)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> BPEVocabulary:
        return cls(SubwordTokenizer.load(path))


def load_lm_vocabulary(path: str | os.PathLike[str]) -> CharVocabulary | BPEVocabulary:
    """The vocabulary saved at ``path``, of whichever kind: a WordLevel model is a
    :class:`CharVocabulary`, a BPE model a :class:`BPEVocabulary`."""
    file_path = Path(path)
    tokenizer = read_tokenizer_file(file_path)
    model_type = json.loads(tokenizer.to_str()).get("model", {}).get("type")
    if model_type == "WordLevel":
        return CharVocabulary.from_tokenizer(tokenizer, source=str(file_path))
    if model_type == "BPE":
        return BPEVocabulary(SubwordTokenizer(tokenizer, source=str(file_path)))
    raise SeqlabError(
        f"{file_path}: a {model_type} tokenizer is not a language-model vocabulary (a WordLevel "
        "character vocabulary or a byte-level BPE); retrain the model's vocabulary"
    )


@cache
def byte_symbols() -> dict[int, str]:
    """GPT-2's byte-to-symbol map (Radford et al., 2019, ``bytes_to_unicode``): printable bytes
    stand for themselves, the others for the characters from U+0100 on, in byte order."""
    printable = [*range(ord("!"), ord("~") + 1), *range(0xA1, 0xAC + 1), *range(0xAE, 0xFF + 1)]
    symbols = {byte: chr(byte) for byte in printable}
    shifted = 0
    for byte in range(256):
        if byte not in symbols:
            symbols[byte] = chr(256 + shifted)
            shifted += 1
    return dict(sorted(symbols.items()))


def _characters_per_id(tokenizer: SubwordTokenizer) -> np.ndarray:
    """(V,) int64: how many characters each id's bytes begin (its UTF-8 lead bytes)."""
    continuation = {symbol for byte, symbol in byte_symbols().items() if 0x80 <= byte <= 0xBF}
    counts = np.zeros(tokenizer.vocab_size, dtype=np.int64)  # (V,)
    specials = set(SPECIAL_TOKENS)
    for token, token_id in tokenizer.tokenizer.get_vocab(with_added_tokens=True).items():
        if token not in specials:
            counts[token_id] = sum(symbol not in continuation for symbol in token)
    return counts


def _id_list(ids: Iterable[int]) -> list[int]:
    """``ids`` (a list, numpy array or tensor) as Python ints."""
    tolist = getattr(ids, "tolist", None)
    return list(tolist()) if callable(tolist) else [int(value) for value in ids]
