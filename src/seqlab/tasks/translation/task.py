"""The translation Task: wires parallel corpora (seqlab.tasks.translation.data) to an
encoder-decoder (seqlab.models.seq2seq), its loss, and BLEU.

Loss: cross-entropy over the target tokens (y + EOS) with label smoothing (Szegedy et al., 2016;
epsilon 0.1 in Vaswani et al., 2017, sec. 5.4), summed over real tokens with the token count
(convention 7), so accumulation and batches of different sizes weigh every token alike.
Validation: the translations of the validation corpus (greedy by default, ``val_beam_size``)
scored with the lowercased BLEU that picks the best checkpoint (``monitor``), beside chrF,
cased sacreBLEU and the per-token cross-entropy without smoothing (``loss``, whose exp is the
perplexity). ``report`` decodes with ``beam_size`` and adds the signatures, examples and what
reading the data left out.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import torch
import torch.nn.functional as F
from torch import nn

from seqlab.data.subwords import TranslationTokenizers
from seqlab.data.token_batches import OrderedPairBatches, PairBatch
from seqlab.errors import SeqlabError
from seqlab.infer.long_documents import TranslatedDocument, translate_document
from seqlab.model_dir import SOURCE_TOKENIZER, TARGET_TOKENIZER, TOKENIZER, ModelDir
from seqlab.models.seq2seq import build_seq2seq
from seqlab.models.seq2seq_config import Seq2SeqRecurrentConfig, Seq2SeqTransformerConfig
from seqlab.tasks.base import RunConfig, Task
from seqlab.tasks.translation.config import TranslationDataConfig
from seqlab.tasks.translation.data import TranslationData
from seqlab.tasks.translation.decode import SearchSettings, translate_ids
from seqlab.tasks.translation.metrics import translation_metrics
from seqlab.tasks.translation.options import OPTIONS
from seqlab.train import StepLoss

if TYPE_CHECKING:
    from seqlab.tasks.translation.predictor import TranslationPredictor

# Translations kept in a report, so a person can read what the numbers mean.
REPORT_EXAMPLES = 5


def search_settings(config: TranslationDataConfig, *, beam_size: int) -> SearchSettings:
    return SearchSettings(
        beam_size=beam_size,
        length_penalty=config.length_penalty,
        max_length_a=config.max_length_a,
        max_length_b=config.max_length_b,
        max_tokens=config.eval_max_tokens,
    )


class TranslationTask(Task):
    """Translate sentences (Multi30k in either direction, or the user's parallel corpus)."""

    options = OPTIONS
    data_config_class = TranslationDataConfig

    def __init__(self, run: RunConfig, *, corpus: TranslationData | None = None) -> None:
        super().__init__(run)
        self.corpus = TranslationData(run.data, seed=run.train.seed) if corpus is None else corpus

    @property
    def data(self) -> TranslationDataConfig:
        return self.corpus.config

    @property
    def tokenizers(self) -> TranslationTokenizers:
        return self.corpus.tokenizers

    @property
    def monitor(self) -> tuple[str, Literal["min", "max"]]:
        return "bleu", "max"

    # ---- the model ----
    def build_model(self) -> nn.Module:
        model = self.run.model
        if not isinstance(model, Seq2SeqTransformerConfig | Seq2SeqRecurrentConfig):
            raise SeqlabError(
                f"translation trains encoder-decoders; model.family '{model.family}' is not one"
            )
        if isinstance(model, Seq2SeqTransformerConfig) and self.data.max_length + 1 > model.max_len:
            # A training target of max_length subwords is fed as BOS + y: max_length + 1
            # positions, and the source as y + EOS.
            raise SeqlabError(
                f"data.max_length ({self.data.max_length}) needs model.max_len "
                f"({model.max_len}) of at least {self.data.max_length + 1}: the Transformer's "
                "position table must hold a training sentence and its BOS or EOS; raise "
                "model.max_len or lower data.max_length"
            )
        tokenizers = self.tokenizers
        if model.share_embeddings and not tokenizers.joint:
            raise SeqlabError(
                "model.share_embeddings needs one vocabulary for both languages; set "
                "data.joint_vocabulary true or model.share_embeddings false"
            )
        return build_seq2seq(
            model,
            src_vocab_size=tokenizers.source.vocab_size,
            tgt_vocab_size=tokenizers.target.vocab_size,
            pad_id=tokenizers.target.pad_id,
        )

    # ---- training ----
    def train_batch(self, index: int) -> PairBatch:
        return self.corpus.training_batches().batch(index)

    def _token_losses(
        self, model: nn.Module, batch: PairBatch, *, smoothing: float
    ) -> tuple[torch.Tensor, int]:
        """The summed cross-entropy of the real target tokens, and their count."""
        logits = model(
            batch.source_ids, batch.source_lengths, batch.target_input, batch.target_lengths
        )  # (B, T, V)
        per_token = F.cross_entropy(
            logits.flatten(0, 1).float(),
            batch.target_output.flatten(),
            ignore_index=self.tokenizers.target.pad_id,
            reduction="sum",
            label_smoothing=smoothing,
        )
        return per_token, int(batch.target_lengths.sum())

    def loss(self, model: nn.Module, batch: PairBatch, state: Any = None) -> StepLoss:
        loss_sum, count = self._token_losses(model, batch, smoothing=self.data.label_smoothing)
        tokens = int(batch.source_lengths.sum()) + count
        return StepLoss(loss_sum=loss_sum, count=count, tokens=tokens)

    # ---- evaluation ----
    def _mean_loss(self, model: nn.Module, split: str) -> tuple[float, int]:
        """Cross-entropy per target token without smoothing (exp: the perplexity), and how many
        pairs it leaves out: those longer than a Transformer's position table, which it cannot
        read whole (their translations, made window by window, are still scored by BLEU)."""
        corpus = self.corpus.split(split)
        target = self.tokenizers.target
        sources = self.corpus.source_ids(corpus.sources)
        targets = self.corpus.target_ids(corpus.targets)
        limit = getattr(self.run.model, "max_len", None)
        if limit is not None:
            fits = [
                index
                for index, (source, output) in enumerate(zip(sources, targets, strict=True))
                if len(source) <= limit and len(output) + 1 <= limit
            ]
            left_out = len(sources) - len(fits)
            sources, targets = [sources[i] for i in fits], [targets[i] for i in fits]
        else:
            left_out = 0
        if not sources:
            return math.nan, left_out
        batches = OrderedPairBatches(
            sources,
            targets,
            max_tokens=self.data.eval_max_tokens,
            bos_id=target.bos_id,
            eos_id=target.eos_id,
            pad_id=target.pad_id,
            sort_by_length=True,
        )
        device = next(model.parameters()).device
        total, count = 0.0, 0
        for batch in batches:
            loss_sum, tokens = self._token_losses(model, batch.to(device), smoothing=0.0)
            total += float(loss_sum)
            count += tokens
        return total / max(1, count), left_out

    def translate_split(self, model: nn.Module, split: str, *, beam_size: int) -> list[str]:
        """The model's translation of every source sentence of ``split``, in order."""
        return self.translate_texts(model, self.corpus.split(split).sources, beam_size=beam_size)

    def _translate_sentences(
        self, model: nn.Module, texts: Sequence[str], *, beam_size: int
    ) -> list[str]:
        """Each text as one source sentence, however long (no splitting)."""
        target = self.tokenizers.target
        found = translate_ids(
            model,
            self.corpus.source_ids(texts),
            search_settings(self.data, beam_size=beam_size),
            bos_id=target.bos_id,
            eos_id=target.eos_id,
            pad_id=target.pad_id,
        )
        return [target.decode(hypothesis.tokens) for hypothesis in found]

    def translate_texts(
        self, model: nn.Module, texts: Sequence[str], *, beam_size: int
    ) -> list[str]:
        """One translation per text, in order. A text of more than ``data.max_length``
        subwords (longer than any sentence the model trained on, perhaps longer than its
        position table) is translated as a document: ``translate_document``."""
        source = self.tokenizers.source
        limit = self.data.max_length
        short = [index for index, text in enumerate(texts) if source.count_tokens(text) <= limit]
        results = [""] * len(texts)
        translated = self._translate_sentences(
            model, [texts[index] for index in short], beam_size=beam_size
        )
        for index, translation in zip(short, translated, strict=True):
            results[index] = translation
        for index in sorted(set(range(len(texts))) - set(short)):
            results[index] = self.translate_document(model, texts[index], beam_size=beam_size).text
        return results

    def translate_document(
        self, model: nn.Module, text: str, *, beam_size: int, context_sentences: int = 1
    ) -> TranslatedDocument:
        """``text`` split at sentence boundaries into windows of at most ``data.max_length``
        subwords with ``context_sentences`` sentences of context each, translated and stitched
        (seqlab.infer.long_documents)."""
        return translate_document(
            text,
            lambda segments: self._translate_sentences(model, segments, beam_size=beam_size),
            max_tokens=self.data.max_length,
            count_tokens=self.tokenizers.source.count_tokens,
            context_sentences=context_sentences,
        )

    def _scores(self, model: nn.Module, split: str, *, beam_size: int) -> tuple[dict, list[str]]:
        hypotheses = self.translate_split(model, split, beam_size=beam_size)
        references = list(self.corpus.split(split).targets)
        scores = translation_metrics(hypotheses, references)
        loss, left_out = self._mean_loss(model, split)
        if not math.isnan(loss):  # NaN: no pair fits the position table (JSON has no NaN)
            scores["loss"] = loss
            scores["perplexity"] = math.exp(min(loss, 50.0))
        scores["loss_pairs_left_out"] = left_out
        return scores, hypotheses

    @torch.no_grad()
    def evaluate(self, model: nn.Module, split: str) -> dict[str, float]:
        # Validation during training decodes with val_beam_size; a test split with beam_size.
        beam = self.data.val_beam_size if split == "val" else self.data.beam_size
        scores, _ = self._scores(model, split, beam_size=beam)
        names = ("bleu", "sacrebleu", "chrf", "loss", "perplexity")
        return {name: float(scores[name]) for name in names if name in scores}

    @torch.no_grad()
    def report(self, model: nn.Module, split: str) -> dict[str, Any]:
        scores, hypotheses = self._scores(model, split, beam_size=self.data.beam_size)
        corpus = self.corpus.split(split)
        examples = [
            {"source": source, "reference": reference, "translation": translation}
            for source, reference, translation in zip(
                corpus.sources[:REPORT_EXAMPLES],
                corpus.targets[:REPORT_EXAMPLES],
                hypotheses[:REPORT_EXAMPLES],
                strict=False,
            )
        ]
        loss = {name: scores[name] for name in ("loss", "perplexity") if name in scores}
        left_out = scores["loss_pairs_left_out"]
        return {
            "bleu": scores["bleu"],
            "sacrebleu": scores["sacrebleu"],
            "chrf": scores["chrf"],
            **loss,
            "sentences": scores["sentences"],
            **({"loss_pairs_left_out": left_out} if left_out else {}),
            # How the translations were searched: settings, not scores (nested, so that no
            # table of metrics shows them as one).
            "decoding": {
                "beam_size": self.data.beam_size,
                "length_penalty": self.data.length_penalty,
                "max_length_a": self.data.max_length_a,
                "max_length_b": self.data.max_length_b,
            },
            "signatures": scores["signatures"],
            "examples": examples,
            "data": self.corpus.report(),
        }

    def data_notes(self) -> list[str]:
        """Pairs skipped (file, line, reason, fix) and pairs over the batch budget, for every
        corpus read; a fresh run reads every split (and learns its vocabularies) first."""
        if self.corpus.fresh:
            self.corpus.read_all()
        return self.corpus.notes()

    def summary(self, metrics: dict[str, Any]) -> list[str]:
        bleu = metrics.get("bleu")
        if not isinstance(bleu, float):
            return []
        return [
            f"bleu {bleu:.2f} is lowercased BLEU (sacreBLEU's 13a tokeniser), the figure the "
            "Multi30k literature reports; sacrebleu is cased, detokenised BLEU"
        ]

    # ---- the model directory ----
    def artifacts(self) -> dict[str, Any]:
        tokenizers = self.tokenizers
        training = self.corpus.training_corpus()
        train = self.corpus.split("train")
        files = (
            {"tokenizer": TOKENIZER}
            if tokenizers.joint
            else {"source_tokenizer": SOURCE_TOKENIZER, "target_tokenizer": TARGET_TOKENIZER}
        )
        return {
            **files,
            "joint_vocabulary": tokenizers.joint,
            "source_vocab_size": tokenizers.source.vocab_size,
            "target_vocab_size": tokenizers.target.vocab_size,
            "train_pairs": len(training),
            "train_pairs_skipped": len(training.skipped),
            "train_pairs_too_long": len(training.skipped) - len(train.skipped),
        }

    def save_files(self, model_dir: ModelDir) -> None:
        tokenizers = self.tokenizers
        if tokenizers.joint:
            tokenizers.save(model_dir.file(TOKENIZER), None)
        else:
            tokenizers.save(model_dir.file(SOURCE_TOKENIZER), model_dir.file(TARGET_TOKENIZER))

    def data_checksum(self) -> str | None:
        return self.corpus.checksum()

    def with_eval_file(self, path: Path, *, split: str) -> TranslationTask:
        """Evaluate ``split`` on a TSV/CSV/JSONL file with the model's source and target
        columns (data.source_column, data.target_column)."""
        return self._with_corpus(self.corpus.with_eval_table(str(path), split=split))

    def with_eval_pair(self, source: Path, reference: Path, *, split: str) -> TranslationTask:
        """Evaluate ``split`` on a source file and its reference translations, aligned by line."""
        return self._with_corpus(
            self.corpus.with_eval_aligned(str(source), str(reference), split=split)
        )

    def with_beam_size(self, beam_size: int) -> TranslationTask:
        if isinstance(beam_size, bool) or beam_size < 1:
            raise SeqlabError(f"--beam ({beam_size}) must be at least 1 (1: greedy search)")
        return self._with_corpus(self.corpus.with_decoding(beam_size=beam_size))

    def _with_corpus(self, corpus: TranslationData) -> TranslationTask:
        return TranslationTask(replace(self.run, data=corpus.config), corpus=corpus)

    @classmethod
    def from_model_dir(
        cls, run: RunConfig, model_dir: ModelDir, artifacts: dict[str, Any]
    ) -> TranslationTask:
        if artifacts.get("joint_vocabulary", True):
            tokenizers = TranslationTokenizers.load(
                model_dir.file(artifacts.get("tokenizer", TOKENIZER)), None
            )
        else:
            tokenizers = TranslationTokenizers.load(
                model_dir.file(artifacts.get("source_tokenizer", SOURCE_TOKENIZER)),
                model_dir.file(artifacts.get("target_tokenizer", TARGET_TOKENIZER)),
            )
        corpus = TranslationData(run.data, seed=run.train.seed, tokenizers=tokenizers)
        return cls(run, corpus=corpus)

    @classmethod
    def load_predictor(cls, model_dir: ModelDir, config: dict[str, Any]) -> TranslationPredictor:
        from seqlab.tasks.runner import predictor_from_dir
        from seqlab.tasks.translation.predictor import TranslationPredictor

        return predictor_from_dir(TranslationPredictor, model_dir, config)


TASK = TranslationTask
