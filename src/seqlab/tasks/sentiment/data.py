"""The sentiment task's data: the splits' texts and labels, the held-out validation rows, the
label map, the tokenizer, and the batches the engine trains and evaluates on.

Splits (seqlab.tasks.sentiment.config): each split is the user's file, else the named data set's
(SST-2: train.tsv, and dev.tsv for both validation and test, since GLUE's test labels are not
public). Without a validation file, a fixed random choice of ``val_fraction`` of the training
rows (seeded by the run's seed) is held out, and neither the tokenizer nor training sees them.
Evaluation files are read against the model's labels: rows with other labels are bad rows.

What reading changed is kept per file: skipped rows, texts cut to ``max_chars`` characters
(seqlab.data.text_files), and training labels that differ only in case (``pos``, ``POS``: kept
as separate classes and noted, refused under ``strict``). :meth:`SentimentData.notes` says it in
lines, :meth:`SentimentData.report` as a dict. Refused: a training file whose rows all carry one
label, and labels found only in the held-out validation rows (training would never see them).

Tokenizer: trained on the training split (seqlab.data.tokenization), given (a model directory's),
or the pretrained encoder's own vocabulary. Texts longer than ``max_length`` tokens keep their
first tokens; encoding the training split says how many were cut (:class:`TrainingBatches`).

Word dropout (Iyyer et al., 2015) replaces real tokens of a training batch by [UNK], drawn from
a generator seeded by the batch index, so a resumed run drops the same words.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch

from seqlab.data.batching import BucketedBatches, OrderedBatches, TokenBatch
from seqlab.data.sources import dataset_checksum, file_sha256, resolve_file
from seqlab.data.text_files import (
    LabelledTexts,
    LabelMap,
    label_case_variants,
    read_labelled_texts,
)
from seqlab.data.tokenization import EncodedTexts, TextEncoder, train_tokenizer
from seqlab.errors import SeqlabError
from seqlab.tasks.sentiment.config import SentimentDataConfig, check_split

# SST-2's labels are 0/1; people read them as words.
SST2_LABEL_NAMES = {"0": "negative", "1": "positive"}

# Word dropout's generator seed is seed * this + batch index: distinct for every batch of a run.
_WORD_DROPOUT_SEED_STRIDE = 1_000_003


@dataclass(frozen=True)
class TrainingBatches:
    """The training split encoded and cut into length-bucketed batches.

    truncated: how many training texts were longer than ``max_length`` tokens and lost their
    last tokens (recorded in config.json as ``train_texts_truncated``).
    """

    batches: BucketedBatches
    examples: int
    truncated: int


class SentimentData:
    """One run's labelled texts, from files to batches.

    config: the data settings. seed: the run's seed (which rows are held out, the training
    order, word dropout). batch_size: training batch size. add_cls: put [CLS] first (a
    Transformer reading its [CLS] output, or the pretrained encoder). pretrained: read text
    through the pretrained MiniLM's vocabulary and end each text with [SEP], as BERT inputs do.
    encoder, labels: the tokenizer and label map a trained model was built with; without them,
    both come from the training split when first needed.
    """

    def __init__(
        self,
        config: SentimentDataConfig,
        *,
        seed: int,
        batch_size: int,
        add_cls: bool,
        pretrained: bool,
        encoder: TextEncoder | None = None,
        labels: LabelMap | None = None,
    ) -> None:
        self.config = config
        self.seed = seed
        self.batch_size = batch_size
        self.add_cls = add_cls
        self.pretrained = pretrained
        self._encoder = encoder
        self._labels = labels
        self.fresh = labels is None  # labels from the training split, not a trained model's
        self._splits: dict[str, LabelledTexts] = {}
        self._files: dict[str, LabelledTexts] = {}  # each file as read, by the split reading it
        self._case_variants: list[dict[str, int]] = []  # in the training labels
        self._training: TrainingBatches | None = None

    def with_split_file(self, path: Path, *, split: str) -> SentimentData:
        """The same data with the user's file ``path`` as ``split``, read with this data's
        tokenizer and labels (which a fresh run learns from its training split first)."""
        return SentimentData(
            self.config.with_split_file(split, str(path)),
            seed=self.seed,
            batch_size=self.batch_size,
            add_cls=self.add_cls,
            pretrained=self.pretrained,
            encoder=self.encoder,
            labels=self.labels,
        )

    # ---- splits ----
    def _read(self, path: Path, *, known: LabelMap | None, split: str) -> LabelledTexts:
        """Read the file of ``split``; with ``known`` (at evaluation), rows with other labels are
        bad rows. What reading it left out is kept for :meth:`notes` and :meth:`report`."""
        known_in_file = None
        if known is not None:
            known_in_file = set(known.to_list())
            if self.config.uses_sst2:  # the file says 0/1 where the model says the names
                known_in_file |= {raw for raw, name in SST2_LABEL_NAMES.items()
                                  if name in known_in_file}  # fmt: skip
        texts = read_labelled_texts(
            path,
            format=self.config.format,
            text_column=self.config.text_column,
            label_column=self.config.label_column,
            known_labels=known_in_file,
            strict=self.config.strict,
            tsv_quoting=self.config.tsv_quoting,
            max_chars=self.config.max_chars,
        )
        if self.config.uses_sst2:
            texts = texts.with_labels(
                [SST2_LABEL_NAMES.get(label, label) for label in texts.labels]
            )
        self._files[split] = texts
        return texts

    def split_path(self, split: str) -> Path | None:
        """The file ``split`` is read from; None when it has none of its own."""
        given = self.config.split_file(split)
        if given:
            return Path(given)
        if self.config.uses_sst2:
            return resolve_file("sst2", "train.tsv" if split == "train" else "dev.tsv")
        return None

    def split(self, split: str) -> LabelledTexts:
        """The labelled texts of "train", "val" or "test" (each read once)."""
        check_split(split)
        if split in self._splits:
            return self._splits[split]
        if split != "test" and self.split_path("val") is None:
            # No validation file: hold rows of the training file out, for both splits at once,
            # so the held-out rows are never trained on (nor seen by the tokenizer).
            self._splits.update(self._hold_out())
            return self._splits[split]
        path = self.split_path(split)
        if path is not None:
            known = None if split == "train" else self.labels
            self._splits[split] = self._read(path, known=known, split=split)
        else:  # test without a file of its own: the validation split, as for SST-2's dev set
            self._splits[split] = self.split("val")
        return self._splits[split]

    def _hold_out(self) -> dict[str, LabelledTexts]:
        """Split the training file into train and validation rows, the same way for a seed."""
        path = self.split_path("train")
        if path is None:
            raise SeqlabError("no training file: set data.train_file or data.dataset")
        everything = self._read(path, known=None, split="train")
        order = list(range(len(everything.texts)))
        random.Random(self.seed).shuffle(order)
        held = max(1, round(len(order) * self.config.val_fraction))
        if len(order) - held < 1:
            raise SeqlabError(f"{path}: {len(order)} usable rows are too few to hold out a "
                              "validation split; add rows or pass data.val_file")  # fmt: skip

        def subset(indices: list[int], label: str) -> LabelledTexts:
            source = f"{everything.source} ({label})"
            return everything.select(indices, source=source, with_report=label == "train")

        return {"train": subset(order[held:], "train"), "val": subset(order[:held], "val")}

    def checksum(self) -> str:
        """SHA-256 of the data: the named data set's, or the user's files' joined by commas."""
        if self.config.uses_sst2:
            return dataset_checksum("sst2")
        files = [self.split_path(split) for split in ("train", "val", "test")]
        return ",".join(file_sha256(path) for path in files if path is not None)

    # ---- labels and tokens ----
    @property
    def labels(self) -> LabelMap:
        """The label map: given, or the training split's labels in sorted order (at least two;
        labels that differ only in case are noted, or refused under ``data.strict``)."""
        if self._labels is None:
            self._labels = self._training_labels()
        return self._labels

    def _training_labels(self) -> LabelMap:
        train = self.split("train")
        in_file = self._files["train"]  # all its rows, held-out ones too
        counts = Counter(in_file.labels)
        trained = set(train.labels)
        if len(counts) < 2:
            ((label, count),) = counts.items()
            raise SeqlabError(
                f"{in_file.source}: every usable row has the label {_labelled(label, count)}, and "
                "a classifier needs at least two labels; add rows of another label, or check "
                f"that data.label_column ('{self.config.label_column}') names the label column"
            )
        if len(trained) < len(counts):  # some labels are only in the held-out validation rows
            held = sorted(set(counts) - trained)
            only_held = ", ".join(_labelled(label, counts[label]) for label in held)
            raise SeqlabError(
                f"{in_file.source}: {'label' if len(held) == 1 else 'labels'} {only_held} "
                f"{'is' if len(held) == 1 else 'are'} only in the rows held out for "
                "validation, so training never sees them; add rows of them, or give a "
                "validation file (data.val_file)"
            )
        self._case_variants = label_case_variants(in_file.labels)
        if self._case_variants and self.config.strict:
            raise SeqlabError(
                f"{in_file.source}: labels {_spellings(self._case_variants[0])} differ only in "
                "case; write each label one way, or train without data.strict to keep them as "
                "separate classes"
            )
        return LabelMap.from_labels(train.labels)

    # ---- what reading the files changed ----
    def read_all(self) -> None:
        """Read every split and the labels now (a fresh run does before training, so that what
        reading did is said, and any error raised, before the first step)."""
        for split in ("train", "val", "test"):
            self.split(split)
        _ = self.labels

    def notes(self) -> list[str]:
        """What reading the files read so far left out or changed, one line each (file, line,
        reason): skipped rows, texts cut to ``max_chars``, labels differing only in case."""
        read = {texts.source: texts for texts in self._files.values()}  # SST-2: dev.tsv twice
        lines = [line for texts in read.values() for line in texts.notes()]
        if self._case_variants:
            source = self._files["train"].source
            lines += [
                f"{source}: labels {_spellings(group)} differ only in case and are kept as "
                "separate classes; if they mean the same, write them one way (data.strict "
                "refuses such labels)"
                for group in self._case_variants
            ]
        return lines

    def report(self) -> dict[str, Any]:
        """The same facts for a report (metrics.json, ``seqlab eval --json``): per split read,
        its file, rows read, skipped rows and cut texts (counts and the first rows), and the
        groups of the model's labels that differ only in case."""
        records = {split: texts.record() for split, texts in self._files.items()}
        return {
            "source": {split: texts.source for split, texts in self._files.items()},
            "rows": {split: record["rows"] for split, record in records.items()},
            "skipped_rows": {split: record["skipped_rows"] for split, record in records.items()},
            "truncated_texts": {
                split: record["truncated_texts"] for split, record in records.items()
            },
            "label_case_variants": [
                sorted(group) for group in label_case_variants(self.labels.to_list())
            ],
        }

    @property
    def encoder(self) -> TextEncoder:
        """The tokenizer: given, the pretrained encoder's, or trained on the training split."""
        if self._encoder is None and self.pretrained:
            from seqlab.models.pretrained import minilm_tokenizer_path

            # The pretrained model reads text through its own vocabulary, never a new one.
            self._encoder = TextEncoder.load(minilm_tokenizer_path())
        if self._encoder is None:
            self._encoder = train_tokenizer(
                self.split("train").texts,
                vocab_size=self.config.vocab_size,
                model=self.config.tokenizer_model,
            )
        return self._encoder

    def encode(self, texts: tuple[str, ...] | list[str]) -> EncodedTexts:
        """Token ids of each text, at most ``max_length`` with the special tokens, and how many
        texts were cut. Only a text's first ``max_chars`` characters are read (texts from files
        are already cut, and reported, when read; this bounds texts given directly)."""
        limit = self.config.max_chars
        return self.encoder.encode_batch(
            [text[:limit] for text in texts],
            max_length=self.config.max_length,
            add_cls=self.add_cls,
            add_sep=self.pretrained,  # BERT inputs are [CLS] text [SEP]
        )

    # ---- batches ----
    def training_batches(self) -> TrainingBatches:
        """The training split encoded and cut into length-bucketed batches (once; later calls
        return the same object)."""
        if self._training is None:
            train = self.split("train")
            encoded = self.encode(train.texts)
            batches = BucketedBatches(
                encoded.ids,
                self.labels.encode(train.labels),
                batch_size=self.batch_size,
                pad_id=self.encoder.pad_id,
                seed=self.seed,
                pool_batches=self.config.bucket_pool,
            )
            self._training = TrainingBatches(
                batches=batches, examples=len(train), truncated=encoded.truncated
            )
        return self._training

    def training_batch(self, index: int) -> TokenBatch:
        """Training batch ``index`` (global over epochs), with word dropout applied."""
        batch = self.training_batches().batches.batch(index)
        if self.config.word_dropout == 0.0:
            return batch
        # Seeded by the batch index, so a resumed run drops the same words as an unbroken one.
        generator = torch.Generator().manual_seed(self.seed * _WORD_DROPOUT_SEED_STRIDE + index)
        encoder = self.encoder
        droppable = batch.mask & (batch.ids != encoder.cls_id) & (batch.ids != encoder.sep_id)
        dropped = torch.rand(batch.ids.shape, generator=generator) < self.config.word_dropout
        ids = batch.ids.masked_fill(dropped & droppable, encoder.unk_id)  # (B, T)
        return replace(batch, ids=ids)

    def evaluation_batches(self, split: str) -> OrderedBatches:
        """``split`` encoded and batched by length (``eval_batch_size`` texts a batch)."""
        texts = self.split(split)
        return OrderedBatches(
            self.encode(texts.texts).ids,
            self.labels.encode(texts.labels),
            batch_size=self.config.eval_batch_size,
            pad_id=self.encoder.pad_id,
            sort_by_length=True,
        )


def _labelled(label: str, count: int) -> str:
    """'pos' (120 rows)"""
    return f"'{label}' ({count} {'row' if count == 1 else 'rows'})"


def _spellings(group: dict[str, int]) -> str:
    """'pos' (120 rows) and 'POS' (3 rows)"""
    shown = [_labelled(label, count) for label, count in group.items()]
    return ", ".join(shown[:-1]) + " and " + shown[-1]
