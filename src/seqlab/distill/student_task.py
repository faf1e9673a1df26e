"""The student's task: the sentiment task, trained on the transfer set against the teacher's
logits.

Everything but training is the sentiment task's own (seqlab.tasks.sentiment.task): the model it
builds, the tokenizer (trained on the labelled training split, as for any sentiment run),
evaluation (accuracy on the labelled validation split, which picks the best checkpoint), the
files written and how the directory loads back. So the student is an ordinary sentiment model
directory; its config.json's artifacts add a ``distillation`` record (teacher and transfer set),
which loading ignores.

Training batches are length-bucketed batches of the transfer set (seqlab.data.batching, seeded
by the run's seed, so a resumed run sees the same batches), each carrying its rows' teacher
logits and which rows are labelled originals; the loss is seqlab.distill.loss's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from seqlab.data.batching import BucketedBatches, TokenBatch
from seqlab.distill.loss import distillation_loss
from seqlab.distill.settings import DistillSettings
from seqlab.distill.teacher_embeddings import load_into
from seqlab.distill.transfer_set import TransferSet, student_ids
from seqlab.tasks.base import RunConfig
from seqlab.tasks.sentiment.data import SentimentData
from seqlab.tasks.sentiment.task import SentimentTask
from seqlab.train import StepLoss


@dataclass(frozen=True)
class DistillBatch:
    """tokens: the student's padded token ids, labels (-1: unlabelled) and row indices into
    the transfer set. teacher_logits: (B, C) in the student's label order. has_label: (B,) bool,
    True where the label term counts."""

    tokens: TokenBatch
    teacher_logits: torch.Tensor
    has_label: torch.Tensor


class DistillationTask(SentimentTask):
    """A sentiment task whose training data is the transfer set and whose loss is the
    distillation loss; ``record`` goes into config.json's artifacts as ``distillation``.

    teacher_logits: (N, C) for the transfer set's N texts, columns in the data's label order.
    initial_embeddings: (V, E), the teacher's token vectors the student's embedding table starts
    as (``--embeddings teacher``; the data's tokenizer is then the teacher's), or None.
    """

    def __init__(
        self,
        run: RunConfig,
        *,
        text_data: SentimentData,
        transfer: TransferSet,
        teacher_logits: torch.Tensor,
        settings: DistillSettings,
        record: dict[str, Any],
        initial_embeddings: torch.Tensor | None = None,
    ) -> None:
        super().__init__(run, text_data=text_data)
        expected = (len(transfer), text_data.labels.num_classes)
        if tuple(teacher_logits.shape) != expected:
            raise ValueError(
                f"teacher logits {tuple(teacher_logits.shape)} must be (texts, classes) {expected}"
            )
        self.transfer = transfer
        self.teacher_logits = teacher_logits
        self.has_label = transfer.has_label()  # (N,)
        self.settings = settings
        self.record = record
        self.initial_embeddings = initial_embeddings
        self._batches: BucketedBatches | None = None

    def build_model(self) -> nn.Module:
        model = super().build_model()
        if self.initial_embeddings is not None:
            load_into(model, self.initial_embeddings)  # a resumed run's checkpoint then replaces it
        return model

    def _transfer_batches(self) -> BucketedBatches:
        if self._batches is None:
            encoder = self.text_data.encoder
            encoded = self.text_data.encode(list(self.transfer.texts))
            self._batches = BucketedBatches(
                student_ids(encoded.ids, mask_id=encoder.mask_id, unk_id=encoder.unk_id),
                list(self.transfer.labels),
                batch_size=self.run.train.batch_size,
                pad_id=encoder.pad_id,
                seed=self.run.train.seed,
                pool_batches=self.data.bucket_pool,
            )
        return self._batches

    def train_batch(self, index: int) -> DistillBatch:  # type: ignore[override]
        tokens = self._transfer_batches().batch(index)
        rows = tokens.indices  # (B,) positions in the transfer set
        return DistillBatch(
            tokens=tokens, teacher_logits=self.teacher_logits[rows], has_label=self.has_label[rows]
        )

    def loss(self, model: nn.Module, batch: Any, state: Any = None) -> StepLoss:
        tokens = batch.tokens
        if tokens.labels is None:
            raise ValueError("transfer batches carry labels (-1 for unlabelled texts)")
        logits = model(tokens.ids, tokens.lengths)  # (B, C)
        per_item = distillation_loss(
            logits, batch.teacher_logits, tokens.labels, batch.has_label,
            loss=self.settings.loss, temperature=self.settings.temperature,
            alpha=self.settings.alpha,
        )  # fmt: skip
        return StepLoss(
            loss_sum=per_item.sum(), count=per_item.numel(), tokens=int(tokens.lengths.sum())
        )

    def artifacts(self) -> dict[str, Any]:
        return {**super().artifacts(), "distillation": self.record}
