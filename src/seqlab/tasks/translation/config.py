"""The translation task's data settings: where the sentence pairs come from, how they become
subword ids and batches, and how evaluation decodes."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Literal

from seqlab.data.parallel import DEFAULT_MAX_CHARS
from seqlab.errors import SeqlabError

SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class TranslationDataConfig:
    """Where the sentence pairs come from and how they are read, batched and decoded.

    dataset: "multi30k" (Elliott et al., 2016), used for any split whose files are not given;
    source_lang / target_lang pick its direction (de -> en or en -> de).
    A split of the user's is either one TSV/CSV/JSONL file with a source and a target column
    (``train_file``; the columns ``source_column`` and ``target_column``), or two files aligned
    by line, plain or gzip (``train_source_file`` and ``train_target_file``); the same for val
    and test. Without a validation corpus, ``val_fraction`` of the training pairs (a fixed
    random choice) is held out; without a test corpus, test is the validation corpus.
    strict: stop at the first skipped pair instead of reporting it. max_chars: a side longer
    than this many characters skips its pair (a paragraph in one line of a sentence corpus).

    vocab_size / joint_vocabulary / min_frequency: the byte-level BPE vocabularies
    (seqlab.data.subwords): one learned from both languages, or one per language.
    max_length: training pairs of which a side has more subwords than this are skipped and
    reported (evaluation and translation keep every sentence).
    max_tokens: a training batch's token budget, padding included, B * (S + T)
    (seqlab.data.token_batches). label_smoothing: Szegedy et al. 2016; 0.1 as in Vaswani et al.

    Decoding (seqlab.infer.decoding): beam_size for ``seqlab eval``, ``seqlab translate`` and
    ``seqlab.load(DIR).translate``; val_beam_size for the validation BLEU that picks the best
    checkpoint during training (1: greedy, several times faster); length_penalty: GNMT's alpha;
    an output has at most ``max_length_a * source length + max_length_b`` subwords.
    eval_max_tokens: the token budget of an evaluation batch.
    """

    dataset: Literal["multi30k"] | None = "multi30k"
    source_lang: str = "de"
    target_lang: str = "en"
    train_file: str | None = None
    val_file: str | None = None
    test_file: str | None = None
    train_source_file: str | None = None
    train_target_file: str | None = None
    val_source_file: str | None = None
    val_target_file: str | None = None
    test_source_file: str | None = None
    test_target_file: str | None = None
    source_column: str = "source"
    target_column: str = "target"
    format: Literal["csv", "tsv", "jsonl"] | None = None
    tsv_quoting: bool = False
    strict: bool = False
    max_chars: int = DEFAULT_MAX_CHARS
    val_fraction: float = 0.05
    vocab_size: int = 8000
    joint_vocabulary: bool = True
    min_frequency: int = 2
    max_length: int = 128
    max_tokens: int = 4096
    label_smoothing: float = 0.1
    beam_size: int = 4
    val_beam_size: int = 1
    length_penalty: float = 1.0
    max_length_a: float = 1.5
    max_length_b: int = 10
    eval_max_tokens: int = 12_000

    def __post_init__(self) -> None:
        for split in SPLITS:
            table = getattr(self, f"{split}_file")
            source = getattr(self, f"{split}_source_file")
            target = getattr(self, f"{split}_target_file")
            if (source is None) != (target is None):
                raise ValueError(
                    f"data.{split}_source_file and data.{split}_target_file go together: give "
                    "both aligned files, or neither"
                )
            if table is not None and source is not None:
                raise ValueError(
                    f"data.{split}_file and data.{split}_source_file both give the {split} "
                    "corpus; give one"
                )
        if self.dataset is None and not self.has_files("train"):
            raise ValueError(
                "set data.train_file (a TSV/CSV/JSONL with source and target columns), "
                "data.train_source_file with data.train_target_file, or data.dataset (multi30k)"
            )
        if self.source_lang == self.target_lang:
            raise ValueError(
                f"data.source_lang and data.target_lang are both '{self.source_lang}'; pick two"
            )
        positive = ("max_chars", "vocab_size", "min_frequency", "max_length", "max_tokens",
                    "beam_size", "val_beam_size", "eval_max_tokens")  # fmt: skip
        for name in positive:
            if getattr(self, name) < 1:
                raise ValueError(f"data.{name} ({getattr(self, name)}) must be at least 1")
        if not 0.0 < self.val_fraction < 1.0:
            raise ValueError(f"data.val_fraction ({self.val_fraction}) must be in (0, 1)")
        if not 0.0 <= self.label_smoothing < 1.0:
            raise ValueError(f"data.label_smoothing ({self.label_smoothing}) must be in [0, 1)")
        if self.length_penalty < 0.0:
            raise ValueError(f"data.length_penalty ({self.length_penalty}) must be >= 0")
        if self.max_length_a < 0.0 or self.max_length_b < 1:
            raise ValueError(
                f"data.max_length_a ({self.max_length_a}) must be >= 0 and data.max_length_b "
                f"({self.max_length_b}) at least 1"
            )

    def has_files(self, split: str) -> bool:
        """True when the user gave the corpus of ``split`` (one table or two aligned files)."""
        check_split(split)
        return (
            getattr(self, f"{split}_file") is not None
            or getattr(self, f"{split}_source_file") is not None
        )

    @property
    def uses_multi30k(self) -> bool:
        """True when the named data set gives the training pairs."""
        return self.dataset == "multi30k" and not self.has_files("train")

    def with_table(self, split: str, path: str) -> TranslationDataConfig:
        """These settings with the table ``path`` as the corpus of ``split``."""
        check_split(split)
        changes: dict[str, Any] = {
            f"{split}_file": path, f"{split}_source_file": None, f"{split}_target_file": None,
        }  # fmt: skip
        return replace(self, **changes)

    def with_aligned(self, split: str, source: str, target: str) -> TranslationDataConfig:
        """These settings with the aligned files as the corpus of ``split``."""
        check_split(split)
        changes: dict[str, Any] = {
            f"{split}_file": None, f"{split}_source_file": source, f"{split}_target_file": target,
        }  # fmt: skip
        return replace(self, **changes)


def check_split(split: str) -> None:
    if split not in SPLITS:
        raise SeqlabError(f"translation has splits train, val and test, not '{split}'")
