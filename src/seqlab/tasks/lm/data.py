"""The language-model task's data: the text of each split, its vocabulary, and the training and
evaluation batches.

Splits: train is the first ``train_fraction`` of the text (nanoGPT's 90% of Tiny Shakespeare) or
the whole text when ``val_file`` is given; val is the rest, or ``val_file``; test is val. The
vocabulary is learned from the training text alone, so a character only the validation text
has reads as the unknown symbol (counted in the notes).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import torch

from seqlab.data.lm_batches import LMBatch, RandomWindows, StreamBatches, evaluation_windows
from seqlab.data.lm_vocabulary import BPEVocabulary, CharVocabulary, LMVocabulary
from seqlab.data.text_corpus import TextSource, read_text, split_text, tinyshakespeare_text
from seqlab.errors import SeqlabError
from seqlab.tasks.lm.config import SPLITS, LanguageModelDataConfig


class LanguageModelData:
    """The texts, vocabulary and batches of one run. ``vocabulary`` given: a trained model's;
    None: learned from the training text on first use (``fresh`` is then True).

    window: the training sequence length (a Transformer's context, a recurrent model's bptt);
    batch_size: sequences per training batch; recurrent: True for contiguous streams with a
    state carried from segment to segment (a recurrent model's truncated BPTT, or a Transformer's
    memory, Transformer-XL's segment-level recurrence).
    """

    def __init__(
        self,
        config: LanguageModelDataConfig,
        *,
        seed: int,
        window: int,
        batch_size: int,
        recurrent: bool,
        vocabulary: LMVocabulary | None = None,
    ) -> None:
        self.config = config
        self.seed = seed
        self.window = window
        self.batch_size = batch_size
        self.recurrent = recurrent
        self.fresh = vocabulary is None
        self._vocabulary = vocabulary
        self._sources: dict[str, TextSource] = {}
        self._texts: dict[str, str] = {}
        self._ids: dict[str, np.ndarray] = {}
        self._training: RandomWindows | StreamBatches | None = None

    # ---- texts ----
    @property
    def _why(self) -> str:
        return f"one training window needs window + 1 = {self.window + 1} characters a split"

    def _read(self, path: str) -> TextSource:
        return read_text(path, min_chars=self.window + 1, why=self._why)

    def source(self) -> TextSource:
        """The text the training split is cut from."""
        if "train" not in self._sources:
            file = self.config.file
            self._sources["train"] = tinyshakespeare_text() if file is None else self._read(file)
        return self._sources["train"]

    def text(self, split: str) -> str:
        """The text of ``split`` as read (train, val; test is val)."""
        if split not in SPLITS:
            raise SeqlabError(f"lm has splits train, val and test, not '{split}'")
        split = "val" if split == "test" else split
        if split not in self._texts:
            config = self.config
            if config.val_file is not None:
                if split == "train":
                    self._texts["train"] = self.source().text
                else:
                    source = self._read(config.val_file)
                    self._sources["val"] = source
                    self._texts["val"] = source.text
            else:
                train, val = split_text(
                    self.source().text,
                    train_fraction=config.train_fraction,
                    min_chars=self.window + 1,
                    why=self._why,
                )
                self._texts.update(train=train, val=val)
        return self._texts[split]

    # ---- tokens ----
    @property
    def vocabulary(self) -> LMVocabulary:
        if self._vocabulary is None:
            train = self.text("train")
            if self.config.vocabulary == "bpe":
                self._vocabulary = BPEVocabulary.train(train, vocab_size=self.config.vocab_size)
            else:
                self._vocabulary = CharVocabulary.from_text(train)
        return self._vocabulary

    def ids(self, split: str) -> np.ndarray:
        """(N,) the token ids of ``split``'s text."""
        split = "val" if split == "test" else split
        if split not in self._ids:
            self._ids[split] = np.asarray(self.vocabulary.encode(self.text(split)), dtype=np.int64)
        return self._ids[split]

    def unknown_characters(self, split: str) -> int:
        """How many characters of ``split`` the vocabulary reads as its unknown symbol."""
        vocabulary = self.vocabulary
        if not isinstance(vocabulary, CharVocabulary):
            return 0  # byte-level BPE reads every character
        return int((self.ids(split) == 0).sum())

    def training_batches(self) -> RandomWindows | StreamBatches:
        if self._training is None:
            ids = self.ids("train")
            if self.recurrent:
                self._training = StreamBatches(
                    ids, batch_size=self.batch_size, bptt=self.window, seed=self.seed
                )
            else:
                self._training = RandomWindows(
                    ids, context=self.window, batch_size=self.batch_size, seed=self.seed
                )
        return self._training

    def evaluation_batches(self, split: str) -> list[LMBatch]:
        """Batches predicting every token of ``split`` but the first, once, in order: windows
        of the context for a Transformer; for a recurrent model (or a Transformer with memory)
        one stream read ``window`` tokens at a time, its state (memory) carried through (the
        caller carries it)."""
        ids = self.ids(split)
        if self.recurrent:
            stream = StreamBatches(ids, batch_size=1, bptt=self.window)
            return [stream.batch(index) for index in range(len(stream))]
        return list(
            evaluation_windows(ids, context=self.window, batch_size=self.config.eval_batch_size)
        )

    def characters(self, targets: torch.Tensor) -> int:
        """The characters of text the target ids stand for (bits per character's denominator)."""
        return int(self.vocabulary.count_characters(targets.flatten().cpu().numpy()))

    # ---- what was read ----
    def notes(self) -> list[str]:
        """The validation characters the training text lacks (read as the unknown symbol)."""
        unknown = self.unknown_characters("val") if "val" in self._ids else 0
        if not unknown:
            return []
        return [
            f"{self.config.val_file or self.source().source}: {unknown:,} character(s) of the val "
            "text are not in the training text; the model reads them as its unknown symbol "
            "(U+FFFD)"
        ]

    def report(self) -> dict[str, Any]:
        return {
            "characters": {split: len(text) for split, text in self._texts.items()},
            "tokens": {split: int(len(ids)) for split, ids in self._ids.items()},
            "unknown_characters": {
                split: self.unknown_characters(split) for split in self._ids if split != "train"
            },
        }

    def checksum(self) -> str:
        digests = [self.source().checksum()]
        if self.config.val_file is not None:
            self.text("val")
            digests.append(self._sources["val"].checksum())
        return ",".join(digests)

    def with_eval_file(self, path: str) -> LanguageModelData:
        """The same vocabulary evaluating ``path`` as the validation (and test) text."""
        return LanguageModelData(
            replace(self.config, val_file=path),
            seed=self.seed,
            window=self.window,
            batch_size=self.batch_size,
            recurrent=self.recurrent,
            vocabulary=self.vocabulary,
        )
