"""The sentiment Task: wires the data (seqlab.tasks.sentiment.data) to a classifier, its loss and
its metrics.

Models: seqlab.models.classifier.SequenceClassifier for the recurrent and Transformer families,
or the pretrained MiniLM encoder under a classification head (seqlab.models.pretrained).
Loss: cross-entropy summed over the batch, with optional label smoothing (Szegedy et al., 2016,
"Rethinking the Inception Architecture for Computer Vision", sec. 7).
Metrics: accuracy, macro-F1 and the mean loss; ``report`` adds per-class precision, recall and
F1, the confusion matrix (seqlab.tasks.sentiment.metrics) and under ``data`` what reading the
files left out (skipped rows, cut texts: ``SentimentData.report``), which ``data_notes`` also says
in lines.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import torch
import torch.nn.functional as F
from torch import nn

from seqlab.data.batching import TokenBatch
from seqlab.data.text_files import LabelMap
from seqlab.data.tokenization import TextEncoder
from seqlab.model_dir import TOKENIZER, ModelDir
from seqlab.models.classifier import SequenceClassifier
from seqlab.models.config import PretrainedConfig, TransformerConfig
from seqlab.tasks.base import RunConfig, Task
from seqlab.tasks.sentiment.config import SentimentDataConfig
from seqlab.tasks.sentiment.data import SentimentData
from seqlab.tasks.sentiment.metrics import classification_report
from seqlab.tasks.sentiment.options import OPTIONS
from seqlab.train import StepLoss
from seqlab.utils.config import to_dict
from seqlab.utils.seeding import init_generator, seed_everything

if TYPE_CHECKING:
    from seqlab.tasks.sentiment.predictor import SentimentPredictor


def sentiment_data(
    run: RunConfig, *, encoder: TextEncoder | None = None, labels: LabelMap | None = None
) -> SentimentData:
    """The data of ``run``: its settings, seed and batch size, and what its model reads ([CLS]
    first for a Transformer pooling [CLS] and for the pretrained encoder)."""
    model = run.model
    pretrained = isinstance(model, PretrainedConfig)
    reads_cls = isinstance(model, TransformerConfig) and model.pooling == "cls"
    return SentimentData(
        run.data,
        seed=run.train.seed,
        batch_size=run.train.batch_size,
        add_cls=pretrained or reads_cls,
        pretrained=pretrained,
        encoder=encoder,
        labels=labels,
    )


def _labels_of(batch: TokenBatch) -> torch.Tensor:
    if batch.labels is None:
        raise ValueError("sentiment batches carry labels; this one was made from unlabelled text")
    return batch.labels  # (B,)


class SentimentTask(Task):
    """Classify the sentiment of texts (SST-2 or the user's labelled CSV/TSV/JSONL).

    text_data: the run's data (built from ``run`` when None). bert: the pretrained encoder's
    architecture, when rebuilt from a model directory (or once a fresh one is loaded).
    """

    options = OPTIONS
    data_config_class = SentimentDataConfig

    def __init__(
        self,
        run: RunConfig,
        *,
        text_data: SentimentData | None = None,
        bert: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(run)
        self.text_data = sentiment_data(run) if text_data is None else text_data
        self._bert = bert

    @property
    def data(self) -> SentimentDataConfig:
        return self.run.data

    @property
    def monitor(self) -> tuple[str, Literal["min", "max"]]:
        return "accuracy", "max"

    # ---- the model ----
    def build_model(self) -> nn.Module:
        model = self.stack_model
        if isinstance(model, PretrainedConfig):
            return self._build_pretrained(model)
        encoder = self.text_data.encoder
        return SequenceClassifier(
            config=model,
            vocab_size=encoder.vocab_size,
            num_classes=self.text_data.labels.num_classes,
            pad_id=encoder.pad_id,
            expected_length=self.data.max_length,
            head_dropout=model.dropout,
            generator=init_generator(self.run.train.seed),
        )

    def _build_pretrained(self, model: PretrainedConfig) -> nn.Module:
        from seqlab.models.bert import BertConfig, BertEncoder
        from seqlab.models.classifier import ClassifierHead
        from seqlab.models.pretrained import MiniLMClassifier, load_minilm
        from seqlab.utils.config import from_dict

        if self._bert is not None:
            # Rebuilding a fine-tuned model: the architecture is in config.json and the weights
            # in model.safetensors, so the pretrained package is not needed.
            encoder = BertEncoder(from_dict(BertConfig, self._bert), impl=model.impl)
        else:
            encoder, _, config = load_minilm(impl=model.impl)
            self._bert = to_dict(config)
        # The head's initialisation: reseeded so that it depends on the seed alone, not on what
        # building the encoder above drew from the global generator.
        seed_everything(self.run.train.seed)
        head = ClassifierHead(
            input_size=encoder.config.hidden_size,
            num_classes=self.text_data.labels.num_classes,
            dropout=model.dropout,
        )
        # The trainer's optimizer, clipping and weight averaging only see trainable tensors.
        encoder.word_embeddings.weight.requires_grad_(not model.freeze_word_embeddings)
        return MiniLMClassifier(encoder, head, pooling=model.pooling).train()

    # ---- training ----
    def train_batch(self, index: int) -> TokenBatch:
        return self.text_data.training_batch(index)

    def loss(self, model: nn.Module, batch: TokenBatch, state: Any = None) -> StepLoss:
        logits = model(batch.ids, batch.lengths)  # (B, C)
        per_item = F.cross_entropy(
            logits, _labels_of(batch), reduction="none", label_smoothing=self.data.label_smoothing
        )  # (B,)
        return StepLoss(
            loss_sum=per_item.sum(), count=per_item.numel(), tokens=int(batch.lengths.sum())
        )

    # ---- evaluation ----
    def _predict_split(
        self, model: nn.Module, split: str
    ) -> tuple[torch.Tensor, torch.Tensor, float]:
        """True class ids (N,), predicted class ids (N,) and the mean loss over ``split``."""
        device = next(model.parameters()).device
        true, predicted, loss_sum = [], [], 0.0
        for batch in self.text_data.evaluation_batches(split):
            logits = model(batch.ids.to(device), batch.lengths.to(device))  # (B, C)
            labels = _labels_of(batch)  # (B,)
            loss_sum += float(F.cross_entropy(logits, labels.to(device), reduction="sum"))
            true.append(labels)
            predicted.append(logits.argmax(dim=-1).cpu())  # (B,)
        true_all = torch.cat(true)  # (N,)
        return true_all, torch.cat(predicted), loss_sum / max(1, true_all.numel())

    @torch.no_grad()
    def evaluate(self, model: nn.Module, split: str) -> dict[str, float]:
        true, predicted, loss = self._predict_split(model, split)
        report = classification_report(true, predicted, self.text_data.labels.to_list())
        return {"accuracy": report["accuracy"], "macro_f1": report["macro_f1"], "loss": loss}

    @torch.no_grad()
    def report(self, model: nn.Module, split: str) -> dict[str, Any]:
        true, predicted, loss = self._predict_split(model, split)
        details = classification_report(true, predicted, self.text_data.labels.to_list())
        texts = self.text_data.split(split)
        return {
            "accuracy": details["accuracy"],
            "macro_f1": details["macro_f1"],
            "loss": loss,
            "examples": int(true.numel()),
            "skipped_rows": len(texts.skipped),
            "per_class": details["per_class"],
            "confusion_matrix": details["confusion_matrix"],
            "data": self.text_data.report(),
        }

    def data_notes(self) -> list[str]:
        """Rows skipped (file, line, reason, fix), texts cut to ``data.max_chars`` and labels
        differing only in case, for every file read. A fresh run reads all its splits first, so
        the notes (and any refusal: one label only, say) come before training."""
        if self.text_data.fresh:
            self.text_data.read_all()
        return self.text_data.notes()

    # ---- the model directory ----
    def artifacts(self) -> dict[str, Any]:
        train = self.text_data.split("train")
        training = self.text_data.training_batches()
        pretrained = {"bert": self._bert} if self._bert is not None else {}
        return {
            **pretrained,
            "labels": self.text_data.labels.to_list(),
            "tokenizer": TOKENIZER,
            "add_cls": self.text_data.add_cls,
            "train_examples": training.examples,
            "train_rows_skipped": len(train.skipped),
            "train_texts_truncated": training.truncated,
        }

    def save_files(self, model_dir: ModelDir) -> None:
        self.text_data.encoder.save(model_dir.file(TOKENIZER))

    def data_checksum(self) -> str | None:
        return self.text_data.checksum()

    def with_eval_file(self, path: Path, *, split: str) -> SentimentTask:
        text_data = self.text_data.with_split_file(path, split=split)
        return SentimentTask(
            replace(self.run, data=text_data.config), text_data=text_data, bert=self._bert
        )

    @classmethod
    def from_model_dir(
        cls, run: RunConfig, model_dir: ModelDir, artifacts: dict[str, Any]
    ) -> SentimentTask:
        encoder = TextEncoder.load(model_dir.file(artifacts.get("tokenizer", TOKENIZER)))
        labels = LabelMap.from_list(artifacts["labels"], source=str(model_dir.config_path))
        text_data = sentiment_data(run, encoder=encoder, labels=labels)
        return cls(run, text_data=text_data, bert=artifacts.get("bert"))

    @classmethod
    def load_predictor(cls, model_dir: ModelDir, config: dict[str, Any]) -> SentimentPredictor:
        from seqlab.tasks.runner import predictor_from_dir
        from seqlab.tasks.sentiment.predictor import SentimentPredictor

        return predictor_from_dir(SentimentPredictor, model_dir, config)


TASK = SentimentTask
