"""The memory workload: recall, adding and copy problems at a chosen distance (seqlab.data.memory).

Losses (sums, with their counts): cross-entropy over the answer for recall and over each string
position for copy (with optional label smoothing); squared error for adding. Metrics: accuracy
(per symbol for copy, plus whole-string accuracy) or MSE, always with the chance level beside it.
Validation and test sets are fixed streams derived from the run's seed, disjoint from training.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

import torch
import torch.nn.functional as F
from torch import nn

from seqlab.data.memory import (
    MemoryBatch,
    chance_level,
    memory_batch,
    sequence_length,
    vocabulary_size,
)
from seqlab.model_dir import ModelDir
from seqlab.models.memory import MemoryModel
from seqlab.tasks.base import Task
from seqlab.tasks.memory.config import MemoryDataConfig
from seqlab.tasks.memory.options import OPTIONS
from seqlab.train import StepLoss
from seqlab.utils.seeding import init_generator

if TYPE_CHECKING:
    from seqlab.tasks.memory.predictor import MemoryPredictor

# Offsets that put validation and test streams far from any training batch index.
_SPLIT_SEED_OFFSET = {"val": 1_000_003, "test": 2_000_003}
_EVAL_BATCH = 256


class MemoryTask(Task):
    """Remember across a distance: recall, adding and copy problems."""

    options = OPTIONS
    data_config_class = MemoryDataConfig

    @property
    def data(self) -> MemoryDataConfig:
        return self.run.data

    @property
    def monitor(self) -> tuple[str, Literal["min", "max"]]:
        return ("mse", "min") if self.data.kind == "adding" else ("accuracy", "max")

    @property
    def chance(self) -> float:
        return chance_level(self.data.kind, alphabet_size=self.data.alphabet_size)

    @property
    def length(self) -> int:
        return sequence_length(
            self.data.kind, distance=self.data.distance, string_length=self.data.string_length
        )

    def build_model(self) -> MemoryModel:
        data = self.data
        generator = init_generator(self.run.train.seed)
        kind_outputs = {"recall": data.alphabet_size, "adding": 1, "copy": data.alphabet_size}
        return MemoryModel(
            config=self.stack_model,
            vocab_size=vocabulary_size(data.kind, alphabet_size=data.alphabet_size),
            input_features=2,
            output_size=kind_outputs[data.kind],
            answer_steps=data.string_length if data.kind == "copy" else None,
            expected_length=self.length,
            generator=generator,
        )

    def _batch(self, *, size: int, seed: int, index: int) -> MemoryBatch:
        data = self.data
        return memory_batch(
            data.kind,
            batch_size=size,
            distance=data.distance,
            alphabet_size=data.alphabet_size,
            string_length=data.string_length,
            seed=seed,
            index=index,
        )

    def train_batch(self, index: int) -> MemoryBatch:
        return self._batch(size=self.run.train.batch_size, seed=self.run.train.seed, index=index)

    def loss_terms(
        self, outputs: torch.Tensor, targets: torch.Tensor, *, smoothing: float
    ) -> torch.Tensor:
        """Per-item losses: (B,) for recall and adding, (B, S) for copy."""
        if self.data.kind == "adding":
            return (outputs - targets) ** 2  # (B,)
        logits = outputs.reshape(-1, outputs.shape[-1])  # (B * S, C)
        per_item = F.cross_entropy(
            logits, targets.reshape(-1), reduction="none", label_smoothing=smoothing
        )  # (B * S,)
        return per_item.reshape(targets.shape)

    def loss(self, model: nn.Module, batch: MemoryBatch, state: Any = None) -> StepLoss:
        outputs = model(batch.inputs)
        terms = self.loss_terms(outputs, batch.targets, smoothing=self.data.label_smoothing)
        return StepLoss(
            loss_sum=terms.sum(),
            count=terms.numel(),
            tokens=int(batch.inputs.shape[0]) * self.length,
        )

    def split_batches(self, split: str) -> list[MemoryBatch]:
        """The fixed evaluation examples of ``split`` ("val" or "test"), in batches."""
        if split not in _SPLIT_SEED_OFFSET:
            raise ValueError(f"memory tasks have splits 'val' and 'test', not '{split}'")
        seed = self.run.train.seed + _SPLIT_SEED_OFFSET[split]
        total, batches = self.data.eval_examples, []
        for index, start in enumerate(range(0, total, _EVAL_BATCH)):
            batches.append(
                self._batch(size=min(_EVAL_BATCH, total - start), seed=seed, index=index)
            )
        return batches

    @torch.no_grad()
    def evaluate(self, model: nn.Module, split: str) -> dict[str, float]:
        device = next(model.parameters()).device
        loss_sum, count, correct, strings_correct, examples = 0.0, 0, 0, 0, 0
        for batch in self.split_batches(split):
            inputs, targets = batch.inputs.to(device), batch.targets.to(device)
            outputs = model(inputs)
            terms = self.loss_terms(outputs, targets, smoothing=0.0)
            loss_sum += float(terms.sum())
            count += terms.numel()
            examples += targets.shape[0]
            if self.data.kind != "adding":
                hits = outputs.argmax(dim=-1) == targets  # (B,) or (B, S)
                correct += int(hits.sum())
                if hits.dim() == 2:
                    strings_correct += int(hits.all(dim=1).sum())
        metrics: dict[str, float] = {"loss": loss_sum / count}
        if self.data.kind == "adding":
            metrics["mse"] = loss_sum / count
            metrics["chance_mse"] = self.chance
        else:
            metrics["accuracy"] = correct / count
            metrics["chance_accuracy"] = self.chance
            if self.data.kind == "copy":
                metrics["sequence_accuracy"] = strings_correct / examples
        return metrics

    @classmethod
    def load_predictor(cls, model_dir: ModelDir, config: dict[str, Any]) -> MemoryPredictor:
        from seqlab.tasks.memory.predictor import MemoryPredictor
        from seqlab.tasks.runner import predictor_from_dir

        return predictor_from_dir(MemoryPredictor, model_dir, config)


TASK = MemoryTask
