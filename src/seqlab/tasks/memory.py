"""The memory workload: recall, adding and copy problems at a chosen distance (seqlab.data.memory).

Losses (sums, with their counts): cross-entropy over the answer for recall and over each string
position for copy (with optional label smoothing); squared error for adding. Metrics: accuracy
(per symbol for copy, plus whole-string accuracy) or MSE, always with the chance level beside it.
Validation and test sets are fixed streams derived from the run's seed, disjoint from training.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

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
from seqlab.infer import Predictor
from seqlab.models.memory import MemoryModel
from seqlab.tasks.base import Task
from seqlab.train import StepLoss

# Offsets that put validation and test streams far from any training batch index.
_SPLIT_SEED_OFFSET = {"val": 1_000_003, "test": 2_000_003}
_EVAL_BATCH = 256


@dataclass(frozen=True)
class MemoryDataConfig:
    """kind: recall | adding | copy. distance: steps between the information and the answer."""

    kind: Literal["recall", "adding", "copy"] = "recall"
    distance: int = 50
    alphabet_size: int = 8
    string_length: int = 10
    eval_examples: int = 1024
    label_smoothing: float = 0.0

    def __post_init__(self) -> None:
        minimum = 2 if self.kind == "adding" else 1
        if self.distance < minimum:
            raise ValueError(f"data.distance ({self.distance}) must be at least {minimum}")
        if self.alphabet_size < 2:
            raise ValueError(f"data.alphabet_size ({self.alphabet_size}) must be at least 2")
        if self.string_length < 1 or self.eval_examples < 1:
            raise ValueError(
                f"data.string_length ({self.string_length}) and data.eval_examples "
                f"({self.eval_examples}) must be positive"
            )
        if not 0.0 <= self.label_smoothing < 1.0:
            raise ValueError(f"data.label_smoothing ({self.label_smoothing}) must be in [0, 1)")


class MemoryTask(Task):
    """remember across a distance: recall, adding and copy problems"""

    name = "memory"
    data_config_class = MemoryDataConfig
    default_family = "lstm"
    families = ("rnn", "lstm", "gru", "transformer")

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
        generator = torch.Generator().manual_seed(self.run.train.seed)
        kind_outputs = {"recall": data.alphabet_size, "adding": 1, "copy": data.alphabet_size}
        return MemoryModel(
            config=self.run.model,
            vocab_size=vocabulary_size(data.kind, alphabet_size=data.alphabet_size),
            input_features=2,
            output_size=kind_outputs[data.kind],
            answer_steps=data.string_length if data.kind == "copy" else 1,
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
    def presets(cls) -> dict[str, dict[str, Any]]:
        small_model = {
            "rnn": {"hidden_size": 128},
            "lstm": {"hidden_size": 64},
            "gru": {"hidden_size": 74},
            "transformer": {
                "d_model": 64, "num_heads": 4, "num_layers": 2, "dim_feedforward": 128,
                "dropout": 0.0, "norm_first": True,
            },
        }  # fmt: skip
        return {
            "cpu-small": {
                "data": {"distance": 50, "eval_examples": 512},
                "train": {
                    "steps": 1000, "batch_size": 32, "eval_every": 100, "log_every": 50,
                },
                "model_by_family": small_model,
            }
        }  # fmt: skip

    @classmethod
    def family_defaults(cls, family: str) -> dict[str, Any]:
        # One schedule for every family (short warm-up, cosine decay to a tenth) and the
        # learning rate that trains each family well on these problems with Adam. Clipping at
        # global norm 5.0 keeps the recurrent families' exploding gradients in check; the
        # Transformer, without recurrence, gets the usual 1.0.
        train = {"steps": 2000, "eval_every": 100, "log_every": 50, "schedule": "cosine",
                 "warmup_steps": 50, "min_lr_ratio": 0.1, "betas": (0.9, 0.999),
                 "weight_decay": 0.0}  # fmt: skip
        if family == "transformer":
            return {"train": {**train, "lr": 1e-3, "grad_clip": 1.0}}
        return {"train": {**train, "lr": 1e-3 if family == "rnn" else 3e-3, "grad_clip": 5.0}}

    @classmethod
    def cli_options(cls) -> list[tuple[str, str, str, dict[str, Any]]]:
        return [
            ("--kind", "data", "kind", {"choices": ("recall", "adding", "copy"),
                                        "help": "which problem (default: recall)"}),
            ("--distance", "data", "distance",
             {"type": int, "help": "steps between the information and the answer"}),
        ]  # fmt: skip

    @classmethod
    def load_predictor(cls, model_dir: Path) -> MemoryPredictor:
        from seqlab.tasks.runner import load_trained

        _, model, config = load_trained(model_dir)
        return MemoryPredictor(model=model, config=config, model_dir=model_dir)


class MemoryPredictor(Predictor):
    """Answers memory problems: ``predict(inputs)`` with inputs shaped like the training data."""

    @torch.no_grad()
    def predict(self, inputs: torch.Tensor) -> torch.Tensor:
        """recall: (B, T) ids -> (B,) predicted first symbols; copy: (B, S+T+S) ids -> (B, S)
        predicted strings; adding: (B, T, 2) -> (B,) predicted sums."""
        outputs = self.model(inputs.to(self.device))
        if self.config["data"]["kind"] == "adding":
            return outputs.cpu()
        return outputs.argmax(dim=-1).cpu()


TASK = MemoryTask
