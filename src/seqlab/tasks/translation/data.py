"""The translation task's data: the corpora of each split, their subword vocabularies, the
training batches and what reading them left out.

Splits: train is the user's corpus or Multi30k's; val is the user's, Multi30k's (when Multi30k
gives the training pairs) or ``val_fraction`` of the training pairs held out; test is the
user's, Multi30k's test2016, or else the validation corpus. Sources get EOS appended (the
encoder sees where a sentence ends, as in fairseq); targets get BOS and EOS in batching
(seqlab.data.token_batches). Vocabularies are learned from the training split alone, before
long pairs are dropped, so a model directory's tokenizer is a function of its training file.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from seqlab.data.parallel import (
    ParallelCorpus,
    read_aligned_files,
    read_multi30k,
    read_parallel_file,
)
from seqlab.data.sources import dataset_checksum, file_sha256
from seqlab.data.subwords import TranslationTokenizers, train_translation_tokenizers
from seqlab.data.token_batches import TokenBudgetBatches
from seqlab.errors import SeqlabError
from seqlab.tasks.translation.config import SPLITS, TranslationDataConfig, check_split


class TranslationData:
    """The corpora, tokenizers and batches of one run (``tokenizers`` given: a trained model's;
    None: learned from the training split on first use, ``fresh`` is then True)."""

    def __init__(
        self,
        config: TranslationDataConfig,
        *,
        seed: int,
        tokenizers: TranslationTokenizers | None = None,
    ) -> None:
        self.config = config
        self.seed = seed
        self.fresh = tokenizers is None
        self._tokenizers = tokenizers
        self._splits: dict[str, ParallelCorpus] = {}
        self._held_out: tuple[ParallelCorpus, ParallelCorpus] | None = None
        self._training_corpus: ParallelCorpus | None = None
        self._training: TokenBudgetBatches | None = None

    # ---- corpora ----
    def _read_files(self, split: str) -> ParallelCorpus:
        config = self.config
        table = getattr(config, f"{split}_file")
        if table is not None:
            return read_parallel_file(
                table,
                source_column=config.source_column,
                target_column=config.target_column,
                format=config.format,
                tsv_quoting=config.tsv_quoting,
                max_chars=config.max_chars,
                strict=config.strict,
            )
        return read_aligned_files(
            getattr(config, f"{split}_source_file"),
            getattr(config, f"{split}_target_file"),
            max_chars=config.max_chars,
            strict=config.strict,
        )

    def _read_multi30k(self, split: str) -> ParallelCorpus:
        config = self.config
        return read_multi30k(
            split,
            source_lang=config.source_lang,
            target_lang=config.target_lang,
            max_chars=config.max_chars,
            strict=config.strict,
        )

    def _split_training_file(self) -> tuple[ParallelCorpus, ParallelCorpus]:
        """(train, val): ``val_fraction`` of the user's training pairs held out, a fixed
        random choice from the seed; the training part keeps the file's skipped pairs."""
        if self._held_out is None:
            whole = self._read_files("train")
            if len(whole) < 2:
                raise SeqlabError(
                    f"{whole.origin}: {len(whole)} usable pair(s); holding out validation pairs "
                    "needs at least 2 (or give a validation corpus)"
                )
            count = min(len(whole) - 1, max(1, round(len(whole) * self.config.val_fraction)))
            held = set(random.Random(self.seed).sample(range(len(whole)), count))
            kept = [i for i in range(len(whole)) if i not in held]
            self._held_out = (
                whole.select(kept, with_report=True),
                whole.select(held, with_report=False),
            )
        return self._held_out

    def split(self, split: str) -> ParallelCorpus:
        """The pairs of ``split`` as read (nothing dropped for length)."""
        check_split(split)
        if split not in self._splits:
            self._splits[split] = self._read_split(split)
        return self._splits[split]

    def _read_split(self, split: str) -> ParallelCorpus:
        config = self.config
        if config.has_files(split):
            corpus = self._read_files(split)
        elif split == "train":
            corpus = self._read_multi30k("train")
        elif config.uses_multi30k:
            corpus = self._read_multi30k(split)
        elif split == "val":
            corpus = self._split_training_file()[1]
        else:  # test without a corpus of its own: the validation corpus
            return self.split("val")
        if split == "train" and not config.has_files("val") and not config.uses_multi30k:
            corpus = self._split_training_file()[0]
        if len(corpus) == 0:
            raise SeqlabError(f"{corpus.origin}: no usable sentence pair; see the lines above")
        return corpus

    def read_all(self) -> None:
        """Read every split (and learn the vocabularies), so that problems come up front."""
        for split in SPLITS:
            self.split(split)
        self.training_batches()

    # ---- tokens ----
    @property
    def tokenizers(self) -> TranslationTokenizers:
        if self._tokenizers is None:
            train = self.split("train")
            self._tokenizers = train_translation_tokenizers(
                train.sources,
                train.targets,
                joint=self.config.joint_vocabulary,
                vocab_size=self.config.vocab_size,
                min_frequency=self.config.min_frequency,
            )
        return self._tokenizers

    def source_ids(self, texts: Sequence[str]) -> list[list[int]]:
        """Subword ids of each source text, EOS appended."""
        source = self.tokenizers.source
        return [ids + [source.eos_id] for ids in source.encode(texts)]

    def target_ids(self, texts: Sequence[str]) -> list[list[int]]:
        """Subword ids of each target text, no special tokens (batching adds BOS and EOS)."""
        return self.tokenizers.target.encode(texts)

    def training_corpus(self) -> ParallelCorpus:
        """The training pairs without those of which a side has over ``max_length`` subwords
        (reported with their lines; an error under ``strict``)."""
        if self._training_corpus is None:
            tokenizers = self.tokenizers
            self._training_corpus = self.split("train").without_long_pairs(
                self.config.max_length,
                count_source=tokenizers.source.count_tokens,
                count_target=tokenizers.target.count_tokens,
                strict=self.config.strict,
                limit_name="data.max_length",
            )
            if len(self._training_corpus) == 0:
                raise SeqlabError(
                    f"{self._training_corpus.origin}: every pair is longer than data.max_length "
                    f"({self.config.max_length}) subwords; raise it"
                )
        return self._training_corpus

    def training_batches(self) -> TokenBudgetBatches:
        if self._training is None:
            corpus = self.training_corpus()
            tokenizers = self.tokenizers
            target = tokenizers.target
            self._training = TokenBudgetBatches(
                self.source_ids(corpus.sources),
                self.target_ids(corpus.targets),
                max_tokens=self.config.max_tokens,
                bos_id=target.bos_id,
                eos_id=target.eos_id,
                pad_id=target.pad_id,
                seed=self.seed,
            )
        return self._training

    # ---- what was left out ----
    def _read_corpora(self) -> list[tuple[str, ParallelCorpus]]:
        """Each corpus read so far once (test may be the validation corpus), the training
        split with its long pairs."""
        seen: list[tuple[str, ParallelCorpus]] = []
        for split in SPLITS:
            corpus = self._splits.get(split)
            if split == "train" and self._training_corpus is not None:
                corpus = self._training_corpus
            if corpus is not None and all(corpus is not other for _, other in seen):
                seen.append((split, corpus))
        return seen

    def notes(self) -> list[str]:
        """Pairs skipped (file, line, reason, fix) for every corpus read, and pairs over the
        batch budget."""
        lines: list[str] = []
        for _, corpus in self._read_corpora():
            lines.extend(corpus.notes())
        if self._training is not None:
            lines.extend(self._training.notes())
        return lines

    def report(self) -> dict[str, Any]:
        """What reading each corpus left out, for ``seqlab eval`` and metrics.json."""
        return {split: corpus.record() for split, corpus in self._read_corpora()}

    def checksum(self) -> str:
        """SHA-256 of the data: Multi30k's, or the user's files' joined by commas."""
        names = [f"{split}{side}_file" for split in SPLITS for side in ("", "_source", "_target")]
        files = [getattr(self.config, name) for name in names]
        digests = [file_sha256(path) for path in files if path is not None]
        if self.config.uses_multi30k:
            digests.insert(0, dataset_checksum("multi30k"))
        return ",".join(digests)

    def with_config(self, config: TranslationDataConfig) -> TranslationData:
        """The same tokenizers over other settings (another evaluation corpus, say)."""
        return TranslationData(config, seed=self.seed, tokenizers=self.tokenizers)

    def with_eval_table(self, path: str, *, split: str) -> TranslationData:
        return self.with_config(self.config.with_table(split, path))

    def with_eval_aligned(self, source: str, target: str, *, split: str) -> TranslationData:
        return self.with_config(self.config.with_aligned(split, source, target))

    def with_decoding(self, **changes: Any) -> TranslationData:
        return self.with_config(replace(self.config, **changes))
