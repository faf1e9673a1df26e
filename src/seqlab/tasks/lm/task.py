"""The language-model Task: wires a text (seqlab.tasks.lm.data) to a GPT-style Transformer or a
recurrent language model (seqlab.models.language_model), its loss and its metrics.

Loss: cross-entropy of every next token, summed with its count (convention 7). A Transformer
reads random windows of its context (nanoGPT); a recurrent model reads contiguous streams
``data.bptt`` tokens at a time, its state carried from segment to segment with the graph cut
between them by the engine (truncated BPTT, Williams and Peng 1990) and reset at each epoch.
A Transformer with a memory (``model.memory_length`` > 0, Transformer-XL, Dai et al. 2019)
reads contiguous streams the same way, ``model.context`` tokens a segment, and carries its
memory (each layer's last M input states, detached by the model and again by the engine) as
the recurrent state is carried, reset where an epoch starts.

Metrics: ``loss`` in nats per token, ``perplexity`` = exp(loss), and ``bits_per_char``: the
summed loss in bits over the characters the targets stand for (for a character vocabulary the
loss / ln 2; for BPE, per character of the decoded text). Every target ``ids[1:]`` of the split
is predicted once, in order, but with different contexts: a Transformer without memory reads
non-overlapping windows of its context, each from its start (seqlab.data.lm_batches), so a
target sees the 1 to ``context`` tokens before it in its window (about (context + 1) / 2 on
average); a recurrent model and a Transformer with memory read the split as one stream from its
first token, ``data.bptt`` or ``model.context`` tokens a segment with the state or memory
carried throughout, so a target at place t of its segment sees the t + 1 tokens of the
segment up to it plus the memory's M positions per layer (and, through the layers, up to about
L M tokens further back): the perplexity of Transformer-XL's evaluation (sec. 3.2), not of
independent windows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import torch
import torch.nn.functional as F
from torch import nn

from seqlab.data.lm_batches import StreamBatches
from seqlab.data.lm_vocabulary import load_lm_vocabulary
from seqlab.errors import SeqlabError
from seqlab.model_dir import TOKENIZER, ModelDir
from seqlab.models.language_model import build_language_model
from seqlab.models.language_model_config import LMRecurrentConfig, LMTransformerConfig
from seqlab.tasks.base import RunConfig, Task
from seqlab.tasks.lm.config import LanguageModelDataConfig
from seqlab.tasks.lm.data import LanguageModelData
from seqlab.tasks.lm.options import OPTIONS
from seqlab.train import StepLoss

if TYPE_CHECKING:
    from seqlab.data.lm_vocabulary import LMVocabulary
    from seqlab.tasks.lm.predictor import LanguageModelPredictor


@dataclass(frozen=True)
class TextSegment:
    """A training batch: inputs and targets (B, T); ``reset``: a recurrent model starts its
    state afresh (the first segment of an epoch)."""

    inputs: torch.Tensor
    targets: torch.Tensor
    reset: bool = False


def language_model_data(
    run: RunConfig, *, vocabulary: LMVocabulary | None = None
) -> LanguageModelData:
    model = run.model
    if isinstance(model, LMTransformerConfig):
        window, recurrent = model.context, model.carries_memory
    elif isinstance(model, LMRecurrentConfig):
        window, recurrent = run.data.bptt, True
    else:
        raise SeqlabError(f"lm trains language models; model.family '{model.family}' is not one")
    return LanguageModelData(
        run.data,
        seed=run.train.seed,
        window=window,
        batch_size=run.train.batch_size,
        recurrent=recurrent,
        vocabulary=vocabulary,
    )


class LanguageModelTask(Task):
    """Model a text (Tiny Shakespeare or the user's) and generate more of it."""

    options = OPTIONS
    data_config_class = LanguageModelDataConfig

    def __init__(self, run: RunConfig, *, text_data: LanguageModelData | None = None) -> None:
        super().__init__(run)
        self.text_data = language_model_data(run) if text_data is None else text_data

    @property
    def stateful(self) -> bool:
        return self.text_data.recurrent

    @property
    def monitor(self) -> tuple[str, Literal["min", "max"]]:
        return "loss", "min"

    def build_model(self) -> nn.Module:
        model = self.run.model
        if not isinstance(model, LMTransformerConfig | LMRecurrentConfig):
            raise SeqlabError(f"lm trains language models; '{model.family}' is not one")
        return build_language_model(model, vocab_size=self.text_data.vocabulary.vocab_size)

    # ---- training ----
    def train_batch(self, index: int) -> TextSegment:
        batches = self.text_data.training_batches()
        inputs, targets = batches.batch(index)
        reset = isinstance(batches, StreamBatches) and batches.starts_epoch(index)
        return TextSegment(inputs=inputs, targets=targets, reset=reset)

    def _logits(
        self, model: nn.Module, inputs: torch.Tensor, state: Any
    ) -> tuple[torch.Tensor, Any]:
        if self.text_data.recurrent:
            logits, state = model(inputs, state)  # (B, T, V), the state or memory to carry
            return logits, state
        output = model(inputs)
        if isinstance(output, tuple):  # a relative-position Transformer without memory
            return output[0], None  # (B, T, V); its memory is None
        return output, None  # (B, T, V)

    def loss(self, model: nn.Module, batch: TextSegment, state: Any = None) -> StepLoss:
        logits, carried = self._logits(model, batch.inputs, None if batch.reset else state)
        loss_sum = F.cross_entropy(
            logits.flatten(0, 1).float(), batch.targets.flatten(), reduction="sum"
        )
        count = batch.targets.numel()
        return StepLoss(loss_sum=loss_sum, count=count, tokens=count, state=carried)

    # ---- evaluation ----
    @torch.no_grad()
    def evaluate(self, model: nn.Module, split: str) -> dict[str, float]:
        device = next(model.parameters()).device
        total, tokens, characters = 0.0, 0, 0
        state = None
        for inputs, targets in self.text_data.evaluation_batches(split):
            logits, state = self._logits(model, inputs.to(device), state)  # (B, T, V)
            total += float(
                F.cross_entropy(
                    logits.flatten(0, 1).float(), targets.to(device).flatten(), reduction="sum"
                )
            )
            tokens += targets.numel()
            characters += self.text_data.characters(targets)
        loss = total / max(1, tokens)
        return {
            "loss": loss,
            "perplexity": math.exp(min(loss, 50.0)),
            "bits_per_char": total / math.log(2) / max(1, characters),
        }

    def report(self, model: nn.Module, split: str) -> dict[str, Any]:
        metrics: dict[str, Any] = dict(self.evaluate(model, split))
        metrics["tokens"] = int(len(self.text_data.ids(split)))
        metrics["vocabulary"] = {
            "kind": self.text_data.vocabulary.kind,
            "size": self.text_data.vocabulary.vocab_size,
        }
        metrics["data"] = self.text_data.report()
        return metrics

    def data_notes(self) -> list[str]:
        """Characters of the validation text the training text lacks; a fresh run reads both
        splits (and learns its vocabulary) first, so a too-short text is refused up front."""
        if self.text_data.fresh:
            self.text_data.ids("train")
            self.text_data.ids("val")
            self.text_data.training_batches()
        return self.text_data.notes()

    # ---- the model directory ----
    def artifacts(self) -> dict[str, Any]:
        vocabulary = self.text_data.vocabulary
        return {
            "tokenizer": TOKENIZER,
            "vocabulary": vocabulary.kind,
            "vocab_size": vocabulary.vocab_size,
            "train_characters": len(self.text_data.text("train")),
            "train_tokens": int(len(self.text_data.ids("train"))),
        }

    def save_files(self, model_dir: ModelDir) -> None:
        self.text_data.vocabulary.save(model_dir.file(TOKENIZER))

    def data_checksum(self) -> str | None:
        return self.text_data.checksum()

    def with_eval_file(self, path: Path, *, split: str) -> LanguageModelTask:
        """Evaluate on the UTF-8 text ``path`` (as the val and test split)."""
        if split == "train":
            raise SeqlabError("--data replaces the val or test text of a language model, not train")
        text_data = self.text_data.with_eval_file(str(path))
        run = RunConfig(task=self.run.task, data=text_data.config, model=self.run.model,
                        train=self.run.train)  # fmt: skip
        return LanguageModelTask(run, text_data=text_data)

    @classmethod
    def from_model_dir(
        cls, run: RunConfig, model_dir: ModelDir, artifacts: dict[str, Any]
    ) -> LanguageModelTask:
        vocabulary = load_lm_vocabulary(model_dir.file(artifacts.get("tokenizer", TOKENIZER)))
        return cls(run, text_data=language_model_data(run, vocabulary=vocabulary))

    @classmethod
    def load_predictor(cls, model_dir: ModelDir, config: dict[str, Any]) -> LanguageModelPredictor:
        from seqlab.tasks.lm.predictor import LanguageModelPredictor
        from seqlab.tasks.runner import predictor_from_dir

        return predictor_from_dir(LanguageModelPredictor, model_dir, config)


TASK = LanguageModelTask
