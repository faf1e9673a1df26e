"""The language-model task's data settings: where the text comes from, its vocabulary, and how it
is cut into training and evaluation sequences."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class LanguageModelDataConfig:
    """Where the text comes from and how it becomes token ids.

    dataset: "tinyshakespeare" (Karpathy's char-rnn corpus), used when ``file`` is not given.
    file: a UTF-8 text file, or a folder whose ``.txt`` files are read in path order. The first
    ``train_fraction`` of its characters train and the rest validate (nanoGPT's split of Tiny
    Shakespeare: 0.9), unless ``val_file`` gives the validation text. The test split is the
    validation text (the named data set has no third part).
    vocabulary: "char" (one id per character of the training text, plus one unknown symbol for
    characters it lacks) or "bpe" (byte-level BPE of ``vocab_size`` ids, seqlab.data.subwords).
    bptt: a recurrent model's segment length (truncated back-propagation through time: the
    state is carried from segment to segment and its graph cut between them); a Transformer
    reads windows of its ``model.context`` instead (with ``model.memory_length`` > 0, contiguous
    segments of ``model.context`` with its memory carried from one to the next).
    eval_batch_size: sequences per evaluation batch.
    """

    dataset: Literal["tinyshakespeare"] | None = "tinyshakespeare"
    file: str | None = None
    val_file: str | None = None
    train_fraction: float = 0.9
    vocabulary: Literal["char", "bpe"] = "char"
    vocab_size: int = 4000
    bptt: int = 128
    eval_batch_size: int = 64

    def __post_init__(self) -> None:
        if self.dataset is None and self.file is None:
            raise ValueError("set data.file (a UTF-8 text file or folder) or data.dataset")
        if not 0.0 < self.train_fraction < 1.0:
            raise ValueError(f"data.train_fraction ({self.train_fraction}) must be in (0, 1)")
        for name in ("vocab_size", "bptt", "eval_batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"data.{name} ({getattr(self, name)}) must be at least 1")
        if self.vocabulary == "bpe" and self.vocab_size < 260:
            raise ValueError(
                f"data.vocab_size ({self.vocab_size}) must be at least 260 for a byte-level BPE "
                "vocabulary (4 special tokens and 256 bytes)"
            )
