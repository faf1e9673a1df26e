"""Subword tokenisation with Hugging Face ``tokenizers``: train, save, load, encode with truncation.

References: WordPiece (Schuster and Nakajima, 2012; as used by BERT, Devlin et al., 2019, with the
``##`` continuation prefix); byte-pair encoding for words (Sennrich, Haddow and Birch, 2016,
"Neural Machine Translation of Rare Words with Subword Units", with an end-of-word marker
``</w>`` so decoding restores the spaces); Unicode Standard Annex #15 (NFKC normalisation). The
saved file is the ``tokenizers`` library's ``tokenizer.json``, so a pretrained model's tokenizer
loads through the same class.

Pipeline of a trained tokenizer: NFKC normalisation, then lowercase (optional), then split on white
space and on each punctuation character (BERT's pre-tokenizer), then the subword model. Unlike
BERT's uncased normaliser, accents are kept (NFKC, no accent stripping): German ``schön`` and
``schon`` are different words in translation.

Special tokens of a trained tokenizer have fixed ids: ``[PAD]``=0, ``[UNK]``=1, ``[CLS]``=2,
``[SEP]``=3, ``[MASK]``=4 (they come first in the vocabulary, in this order). Padding id 0 means
a zero-filled tensor is all padding.

Truncation policy (:meth:`TextEncoder.encode_batch`): keep the first ``max_length`` ids of the
final sequence, counting ``[CLS]`` (and ``[SEP]`` when asked for): ``[CLS]`` + the first
``max_length - 1`` word pieces. Keeping the start matches what BERT-style classifiers are trained
with; a text is counted as truncated when any of its word pieces is dropped.

Training is deterministic: the same texts give the same ``tokenizer.json`` byte for byte, in any
process (tests train twice in one process and in two processes and compare). This is why the merges
are learned here (:func:`learn_merges`) and not by the library's trainers, which are not
deterministic across runs; the library still does normalisation, pre-tokenisation, encoding and
the file format. Deviation from the library's WordPiece trainer: ties between equally frequent
pairs are broken by the pairs' strings instead of by internal ids. Words longer than
:data:`MAX_WORD_CHARS` characters are left out of the merge statistics: WordPiece reads such a word
as ``[UNK]`` anyway (the library's ``max_input_chars_per_word``), and one runaway word (100,000
letters without a space) made each merge rescan it, taking minutes.
"""

from __future__ import annotations

import heapq
import os
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from seqlab.errors import SeqlabError
from seqlab.utils.io import atomic_write_text

if TYPE_CHECKING:
    from tokenizers import Tokenizer

__all__ = [
    "SPECIAL_TOKENS",
    "EncodedTexts",
    "SpecialTokens",
    "TextEncoder",
    "TokenizerModel",
    "train_tokenizer",
]

TokenizerModel = Literal["wordpiece", "bpe"]

# The library's WordPiece default max_input_chars_per_word: a longer word encodes as [UNK].
MAX_WORD_CHARS = 100


@dataclass(frozen=True)
class SpecialTokens:
    """The spellings of the special tokens a :class:`TextEncoder` looks up by name.

    The defaults are BERT's, which trained tokenizers use too; a pretrained tokenizer with other
    spellings (``<pad>``, ``<s>``) passes its own.
    """

    pad: str = "[PAD]"
    unk: str = "[UNK]"
    cls: str = "[CLS]"
    sep: str = "[SEP]"
    mask: str = "[MASK]"

    def in_id_order(self) -> list[str]:
        """The order a trained tokenizer gives them ids 0..4."""
        return [self.pad, self.unk, self.cls, self.sep, self.mask]


SPECIAL_TOKENS = SpecialTokens()


@dataclass(frozen=True)
class EncodedTexts:
    """Token ids per text (no padding) and how many texts lost tokens to truncation."""

    ids: list[list[int]]
    truncated: int


class TextEncoder:
    """A ``tokenizers.Tokenizer`` with seqlab's truncation policy and special-token ids.

    Build one with :func:`train_tokenizer` or :meth:`TextEncoder.load`. The wrapped tokenizer's
    own truncation and padding settings are switched off: this class applies the one policy the
    module docstring states, and padding happens in batching.
    """

    def __init__(
        self,
        tokenizer: object,
        *,
        special_tokens: SpecialTokens = SPECIAL_TOKENS,
        source: str = "tokenizer",
    ) -> None:
        from tokenizers import Tokenizer

        if not isinstance(tokenizer, Tokenizer):
            raise TypeError(f"expected a tokenizers.Tokenizer, got {type(tokenizer).__name__}")
        tokenizer.no_truncation()
        tokenizer.no_padding()
        self.tokenizer = tokenizer
        self.special_tokens = special_tokens
        ids: dict[str, int] = {}
        for field, token in (
            ("pad", special_tokens.pad),
            ("unk", special_tokens.unk),
            ("cls", special_tokens.cls),
            ("sep", special_tokens.sep),
            ("mask", special_tokens.mask),
        ):
            token_id = tokenizer.token_to_id(token)
            if token_id is None:
                raise SeqlabError(
                    f"{source}: the vocabulary has no {field} token '{token}'; pass "
                    f"special_tokens=SpecialTokens({field}=...) with its spelling in this tokenizer"
                )
            ids[field] = token_id
        self.pad_id: int = ids["pad"]
        self.unk_id: int = ids["unk"]
        self.cls_id: int = ids["cls"]
        self.sep_id: int = ids["sep"]
        self.mask_id: int = ids["mask"]

    @property
    def vocab_size(self) -> int:
        """Number of ids, special tokens included (the embedding table's V)."""
        return self.tokenizer.get_vocab_size(with_added_tokens=True)

    @classmethod
    def load(
        cls, path: str | os.PathLike[str], *, special_tokens: SpecialTokens = SPECIAL_TOKENS
    ) -> TextEncoder:
        """Load a ``tokenizer.json`` (one saved by :meth:`save`, or a pretrained model's)."""
        file_path = Path(path)
        tokenizer = read_tokenizer_file(file_path)
        return cls(tokenizer, special_tokens=special_tokens, source=str(file_path))

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write ``tokenizer.json`` atomically (a crash never leaves half a file)."""
        atomic_write_text(path, self.to_json())

    def to_json(self) -> str:
        return self.tokenizer.to_str(pretty=True) + "\n"

    def encode_batch(
        self,
        texts: Sequence[str],
        *,
        max_length: int,
        add_cls: bool = True,
        add_sep: bool = False,
    ) -> EncodedTexts:
        """Token ids of each text, truncated to at most ``max_length`` ids in all.

        Result per text: ``[CLS]`` (if ``add_cls``) + the first word pieces that fit +
        ``[SEP]`` (if ``add_sep``). A text with no word pieces (empty after normalisation)
        gives just the special tokens, or an empty list when there are none.
        """
        room = max_length - int(add_cls) - int(add_sep)
        if room < 1:
            raise SeqlabError(
                f"max_length ({max_length}) leaves no room for text after "
                f"{int(add_cls) + int(add_sep)} special tokens; use max_length >= "
                f"{int(add_cls) + int(add_sep) + 1}"
            )
        encodings = self.tokenizer.encode_batch(list(texts), add_special_tokens=False)
        prefix = [self.cls_id] if add_cls else []
        suffix = [self.sep_id] if add_sep else []
        ids: list[list[int]] = []
        truncated = 0
        for encoding in encodings:
            pieces = encoding.ids
            if len(pieces) > room:
                truncated += 1
                pieces = pieces[:room]
            ids.append(prefix + pieces + suffix)
        return EncodedTexts(ids=ids, truncated=truncated)

    def tokens(self, text: str) -> list[str]:
        """The word pieces of ``text`` as strings, without special tokens (for display)."""
        return self.tokenizer.encode(text, add_special_tokens=False).tokens

    def decode(self, ids: Sequence[int], *, skip_special_tokens: bool = True) -> str:
        return self.tokenizer.decode(list(ids), skip_special_tokens=skip_special_tokens)


def train_tokenizer(
    texts: Iterable[str],
    *,
    vocab_size: int = 8000,
    model: TokenizerModel = "wordpiece",
    min_frequency: int = 2,
    lowercase: bool = True,
) -> TextEncoder:
    """Learn a WordPiece (default) or BPE vocabulary of at most ``vocab_size`` ids from ``texts``.

    ``min_frequency``: a merge must be seen this many times; 2 keeps one-off typos out of the
    vocabulary. The vocabulary can come out smaller than ``vocab_size`` on a small corpus, and
    larger when the corpus has more distinct characters than ``vocab_size`` (every character is
    kept, so no training word maps to ``[UNK]``). Words longer than ``MAX_WORD_CHARS`` are not
    counted (WordPiece reads them as ``[UNK]``; see the module's docstring).
    """
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers

    special = SPECIAL_TOKENS.in_id_order()
    if vocab_size <= len(special):
        raise SeqlabError(
            f"vocab_size ({vocab_size}) must exceed the {len(special)} special tokens; "
            "use a few thousand for real text"
        )
    if min_frequency < 1:
        raise SeqlabError(f"min_frequency ({min_frequency}) must be at least 1")
    if model not in ("wordpiece", "bpe"):
        raise SeqlabError(f"unknown tokenizer model '{model}'; use 'wordpiece' or 'bpe'")
    steps = [normalizers.NFKC()] + ([normalizers.Lowercase()] if lowercase else [])
    normalizer = normalizers.Sequence(steps)
    pre_tokenizer = pre_tokenizers.BertPreTokenizer()

    word_counts = count_words(texts, normalizer=normalizer, pre_tokenizer=pre_tokenizer)
    if not word_counts:
        raise SeqlabError("cannot train a tokenizer on no text; give the training texts")
    prefix, suffix = ("##", "") if model == "wordpiece" else ("", _END_OF_WORD)
    tokens, merges = learn_merges(
        word_counts,
        max_tokens=vocab_size - len(special),
        min_frequency=min_frequency,
        prefix=prefix,
        suffix=suffix,
    )
    vocab = {token: i for i, token in enumerate(special + tokens)}
    if model == "wordpiece":
        tokenizer = Tokenizer(
            models.WordPiece(
                vocab=vocab,
                unk_token=SPECIAL_TOKENS.unk,
                continuing_subword_prefix="##",
                max_input_chars_per_word=MAX_WORD_CHARS,
            )
        )
        tokenizer.decoder = decoders.WordPiece(prefix="##")
    else:
        tokenizer = Tokenizer(
            models.BPE(
                vocab=vocab, merges=merges, unk_token=SPECIAL_TOKENS.unk, end_of_word_suffix=suffix
            )
        )
        tokenizer.decoder = decoders.BPEDecoder(suffix=suffix)
    tokenizer.normalizer = normalizer
    tokenizer.pre_tokenizer = pre_tokenizer
    # Registering the specials as added tokens makes them whole tokens in the input ("[CLS]" in a
    # text is one id) and lets decode(skip_special_tokens=True) drop them.
    tokenizer.add_special_tokens(special)
    return TextEncoder(tokenizer)


_END_OF_WORD = "</w>"
# Texts are normalised and split in groups: one library call per group instead of per text.
_GROUP = 4096


def count_words(texts: Iterable[str], *, normalizer: object, pre_tokenizer: object) -> Counter[str]:
    """How often each pre-tokenized word of at most MAX_WORD_CHARS characters occurs in
    ``texts``, after normalisation.

    Speed: the pre-tokenizer first splits on white space, so it is run once per distinct
    white-space chunk (tens of thousands) rather than on every text (asking it for 700,000 words
    with offsets took seconds). Python's ``str.split`` also splits at the ASCII separators
    0x1C-0x1F, which the library does not; that only changes counts in texts holding those
    control characters, and only for training statistics, never how a text is encoded.
    """
    chunks: Counter[str] = Counter()
    group: list[str] = []

    def flush() -> None:
        # Joined with newlines (white space): normalising per group saves a call per text.
        chunks.update(normalizer.normalize_str("\n".join(group)).split())  # type: ignore[attr-defined]
        group.clear()

    for text in texts:
        group.append(text)
        if len(group) == _GROUP:
            flush()
    if group:
        flush()
    counts: Counter[str] = Counter()
    for chunk, count in chunks.items():
        for word, _ in pre_tokenizer.pre_tokenize_str(chunk):  # type: ignore[attr-defined]
            if len(word) <= MAX_WORD_CHARS:
                counts[word] += count
    return counts


def learn_merges(
    word_counts: Counter[str],
    *,
    max_tokens: int,
    min_frequency: int,
    prefix: str,
    suffix: str,
) -> tuple[list[str], list[tuple[str, str]]]:
    """Byte-pair-style merge learning (Sennrich et al., 2016, Algorithm 1), deterministic.

    Each word starts as its characters; WordPiece marks non-initial ones with ``prefix`` (``##``),
    BPE marks the last one with ``suffix`` (``</w>``). Repeatedly merge the adjacent pair with the
    highest count (weighted by word frequency), ties broken by the pair's strings, until
    ``max_tokens`` tokens exist or no pair reaches ``min_frequency``.

    Why not the ``tokenizers`` trainers: they number the ``##``/``</w>`` symbols in hash-map order
    (random per process) and break count ties by those numbers, so the same texts gave different
    vocabularies in two runs. This loop orders everything by strings. It keeps pair counts and
    the words holding each pair up to date after every merge, with a lazy max-heap, so a merge
    costs only the words it touches (SST-2 train: about a second).

    Returns the tokens (initial symbols sorted, then merge results in merge order) and the merges.
    """
    words = sorted(word_counts)
    counts = [word_counts[word] for word in words]
    pieces: list[list[str]] = []
    for word in words:
        symbols = [word[0]] + [prefix + char for char in word[1:]]
        if suffix:
            symbols[-1] += suffix
        pieces.append(symbols)
    tokens = sorted({symbol for symbols in pieces for symbol in symbols})
    known = set(tokens)
    merges: list[tuple[str, str]] = []

    pair_counts: dict[tuple[str, str], int] = defaultdict(int)
    holders: dict[tuple[str, str], set[int]] = defaultdict(set)
    for index, symbols in enumerate(pieces):
        for pair in pairwise(symbols):
            pair_counts[pair] += counts[index]
            holders[pair].add(index)
    # Max-heap by count, then smallest pair strings. Entries go stale when a count changes; a
    # fresh entry is pushed for every change, and stale ones are skipped when popped.
    heap = [(-count, pair) for pair, count in pair_counts.items()]
    heapq.heapify(heap)

    while len(tokens) < max_tokens and heap:
        negative, pair = heapq.heappop(heap)
        count = pair_counts.get(pair, 0)
        if count != -negative or count <= 0:
            continue
        if count < min_frequency:
            break  # the best current pair is too rare, so every other one is too
        left, right = pair
        merged = (
            left + right[len(prefix) :] if prefix and right.startswith(prefix) else left + right
        )
        merges.append(pair)
        if merged not in known:
            known.add(merged)
            tokens.append(merged)
        delta: dict[tuple[str, str], int] = defaultdict(int)
        for index in holders.pop(pair):
            symbols = pieces[index]
            weight = counts[index]
            for old in pairwise(symbols):
                delta[old] -= weight
            joined: list[str] = []
            position = 0
            while position < len(symbols):
                if (
                    position + 1 < len(symbols)
                    and symbols[position] == left
                    and symbols[position + 1] == right
                ):
                    joined.append(merged)
                    position += 2
                else:
                    joined.append(symbols[position])
                    position += 1
            pieces[index] = joined
            for new in pairwise(joined):
                delta[new] += weight
                holders[new].add(index)
        del pair_counts[pair]
        for changed, change in delta.items():
            if changed == pair or change == 0:
                continue
            pair_counts[changed] += change
            if pair_counts[changed] > 0:
                heapq.heappush(heap, (-pair_counts[changed], changed))
            else:
                del pair_counts[changed]
    return tokens, merges


def read_tokenizer_file(file_path: Path) -> Tokenizer:
    """A Hugging Face ``tokenizers`` Tokenizer read from its JSON file; a SeqlabError naming the
    file when it is missing, unreadable, not UTF-8 or not a tokenizer."""
    from tokenizers import Tokenizer

    try:
        text = file_path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SeqlabError(
            f"{file_path} not found; train a tokenizer first or give the path of a saved tokenizer"
        ) from None
    except (OSError, UnicodeDecodeError) as err:  # a folder, unreadable, not UTF-8 text
        detail = " ".join(str(err).split())
        raise SeqlabError(
            f"{file_path}: cannot be read as a tokenizer.json ({detail}); save it with "
            "tokenizers' Tokenizer.save or retrain"
        ) from None
    try:
        return Tokenizer.from_str(text)
    except Exception as err:  # the library raises a bare Exception on malformed JSON
        detail = " ".join(str(err).split())
        raise SeqlabError(
            f"{file_path}: not a tokenizers tokenizer.json ({detail}); save it with "
            "tokenizers' Tokenizer.save or retrain"
        ) from None
