"""The sentiment task's data settings: where the labelled texts come from and how they become
token ids."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

from seqlab.data.text_files import DEFAULT_MAX_CHARS
from seqlab.errors import SeqlabError

SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class SentimentDataConfig:
    """Where the labelled texts come from and how they become token ids.

    dataset: a named data set ("sst2"), used for any split whose file is not given.
    train_file / val_file / test_file: the user's files; without val_file, ``val_fraction`` of
    the training rows (a fixed random choice) is held out; without test_file, test = validation.
    word_dropout: during training, each real token other than [CLS]/[SEP] is replaced by [UNK]
    with this probability (Iyyer et al., 2015, "Deep Unordered Composition Rivals Syntactic
    Methods for Text Classification"; Gal & Ghahramani, 2016, "A Theoretically Grounded
    Application of Dropout in Recurrent Neural Networks", who drop whole words). A classifier
    that cannot count on any one word learns to read the rest of the sentence, and [UNK], which
    the training split otherwise rarely shows, gets trained for the unseen words of new text.
    strict: stop at the first bad row (or at labels differing only in case) instead of skipping
    and reporting it. tsv_quoting: read TSV files with CSV's quoting rules (a field in "..." may
    hold tabs and line breaks); by default a TSV line is split at its tabs and quotes are text.
    max_chars: a text longer than this keeps its first max_chars characters, reported with its
    file and line (the default is far above any sentence or review; it bounds the time and
    memory one runaway field can take).
    bucket_pool: training batches are cut from pools of this many batches sorted by length
    (seqlab.data.batching.BucketedBatches), so little compute goes to padding; 1 gives plain
    random batches, each mixing short and long texts.
    """

    dataset: str | None = "sst2"
    train_file: str | None = None
    val_file: str | None = None
    test_file: str | None = None
    format: Literal["csv", "tsv", "jsonl"] | None = None
    text_column: str | None = None
    label_column: str = "label"
    strict: bool = False
    tsv_quoting: bool = False
    max_chars: int = DEFAULT_MAX_CHARS
    vocab_size: int = 8000
    tokenizer_model: Literal["wordpiece", "bpe"] = "wordpiece"
    max_length: int = 128
    val_fraction: float = 0.1
    label_smoothing: float = 0.0
    word_dropout: float = 0.0
    bucket_pool: int = 50
    eval_batch_size: int = 256

    def __post_init__(self) -> None:
        if self.dataset is None and self.train_file is None:
            raise ValueError("set data.train_file (your labelled file) or data.dataset (sst2)")
        if self.dataset not in (None, "sst2"):
            raise ValueError(f"data.dataset ({self.dataset!r}) must be 'sst2' or null")
        if self.max_chars < 1:
            raise ValueError(f"data.max_chars ({self.max_chars}) must be at least 1")
        if self.max_length < 2:
            raise ValueError(f"data.max_length ({self.max_length}) must be at least 2")
        if not 0.0 < self.val_fraction < 1.0:
            raise ValueError(f"data.val_fraction ({self.val_fraction}) must be in (0, 1)")
        if not 0.0 <= self.label_smoothing < 1.0:
            raise ValueError(f"data.label_smoothing ({self.label_smoothing}) must be in [0, 1)")
        if not 0.0 <= self.word_dropout < 1.0:
            raise ValueError(f"data.word_dropout ({self.word_dropout}) must be in [0, 1)")
        if self.bucket_pool < 1:
            raise ValueError(
                f"data.bucket_pool ({self.bucket_pool}) must be at least 1 (1: random batches)"
            )

    @property
    def uses_sst2(self) -> bool:
        """True when the named data set gives the splits (no training file of the user's)."""
        return self.dataset == "sst2" and not self.train_file

    def split_file(self, split: str) -> str | None:
        """The user's file for ``split``, if one is given."""
        check_split(split)
        return {"train": self.train_file, "val": self.val_file, "test": self.test_file}[split]

    def with_split_file(self, split: str, path: str) -> SentimentDataConfig:
        """These settings with ``path`` as the file of ``split``."""
        check_split(split)
        if split == "train":
            return replace(self, train_file=path)
        if split == "val":
            return replace(self, val_file=path)
        return replace(self, test_file=path)


def check_split(split: str) -> None:
    if split not in SPLITS:
        raise SeqlabError(f"sentiment has splits train, val and test, not '{split}'")
