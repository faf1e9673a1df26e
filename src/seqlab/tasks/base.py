"""What every workload provides: the Task base class and the run configuration it is built from.

A task is the small object the engine and the commands talk to (DESIGN.md, "The layers"): it
prepares data, builds a model from the config, computes the loss of a batch (a sum, with its
count: convention 7), evaluates a split into named metrics, and makes a Predictor from a model
directory. ``seqlab.train.fit`` sees it only through the ``TrainableTask`` protocol.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

from torch import nn

from seqlab.errors import SeqlabError
from seqlab.model_dir import ModelDir
from seqlab.models.config import ModelConfig
from seqlab.models.language_model_config import (
    LMConfig,
    LMRecurrentConfig,
    LMTransformerConfig,
)
from seqlab.models.seq2seq_config import (
    Seq2SeqConfig,
    Seq2SeqRecurrentConfig,
    Seq2SeqTransformerConfig,
)
from seqlab.tasks.options import TaskOptions
from seqlab.train import StepLoss, TrainConfig


@dataclass(frozen=True)
class RunConfig:
    """Everything one training run was built from; saved as config.json in its model directory."""

    task: str
    data: Any  # the task's own frozen data-config dataclass
    model: ModelConfig | Seq2SeqConfig | LMConfig
    train: TrainConfig


class Task(ABC):
    """Base class of a workload. Subclasses set ``options`` (their package's torch-free
    ``options.OPTIONS``), ``data_config_class`` and the abstract methods; ``name``,
    ``families`` and ``default_family`` are copied from ``options``. Presets, family defaults
    and flags are read from ``options`` alone (by seqlab.tasks.configuration and
    ``seqlab train``), never from the class, so they need no torch."""

    options: ClassVar[TaskOptions]
    name: ClassVar[str]
    data_config_class: ClassVar[type]
    default_family: ClassVar[str]
    families: ClassVar[tuple[str, ...]]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        options = cls.__dict__.get("options")
        if options is not None:
            cls.name = options.name
            cls.families = options.families
            cls.default_family = options.default_family

    def __init__(self, run: RunConfig) -> None:
        self.run = run

    @property
    def stack_model(self) -> ModelConfig:
        """The run's model config, for a task whose networks are one stack (a classifier, a
        forecaster): never an encoder-decoder's or a language model's, which only translation
        and lm build."""
        model = self.run.model
        if isinstance(
            model,
            Seq2SeqTransformerConfig
            | Seq2SeqRecurrentConfig
            | LMTransformerConfig
            | LMRecurrentConfig,
        ):
            raise SeqlabError(
                f"task '{self.name}' builds one stack; its model section is "
                f"{type(model).__name__}, a translation or language model's"
            )
        return model

    # ---- what the training engine asks for (seqlab.train.TrainableTask) ----
    @property
    def stateful(self) -> bool:
        return False

    @abstractmethod
    def train_batch(self, index: int) -> Any: ...

    @abstractmethod
    def loss(self, model: nn.Module, batch: Any, state: Any = None) -> StepLoss: ...

    @abstractmethod
    def evaluate(self, model: nn.Module, split: str) -> dict[str, float]: ...

    # ---- what the commands ask for ----
    @property
    @abstractmethod
    def monitor(self) -> tuple[str, Literal["min", "max"]]:
        """The validation metric that picks the best checkpoint, and whether lower is better."""

    @abstractmethod
    def build_model(self) -> nn.Module: ...

    def report(self, model: nn.Module, split: str) -> dict[str, Any]:
        """What ``seqlab eval`` prints: the metrics, plus any detail nested under further keys."""
        return dict(self.evaluate(model, split))

    def data_notes(self) -> list[str]:
        """What was done to the user's data while reading it, one line each, with file, line
        and column: rows skipped and why, values filled, texts truncated. ``seqlab train`` prints
        them before training and ``seqlab eval`` before its report (on standard error), so
        nothing the user gave is changed or dropped without a word. None by default."""
        return []

    def summary(self, metrics: dict[str, Any]) -> list[str]:
        """Lines the end of ``seqlab train`` prints below the metrics (repairs made to the data,
        the baselines beside the model); none by default."""
        return []

    def with_eval_file(self, path: Path, *, split: str) -> Task:
        """This task evaluating ``split`` on the user's file ``path`` instead."""
        raise SeqlabError(f"task '{self.name}' generates its data; it takes no --data file")

    def with_eval_pair(self, source: Path, reference: Path, *, split: str) -> Task:
        """This task evaluating ``split`` on a source file and its reference file, aligned by
        line (a translation task's ``--source`` and ``--reference``)."""
        raise SeqlabError(
            f"task '{self.name}' takes no --source/--reference files; use --data FILE"
        )

    def with_beam_size(self, beam_size: int) -> Task:
        """This task decoding with beam search of width ``beam_size`` (a generating task)."""
        raise SeqlabError(f"task '{self.name}' does not decode with a beam; drop --beam")

    def artifacts(self) -> dict[str, Any]:
        """Extra facts to save in config.json beside the run config (labels, scaler statistics)."""
        return {}

    def save_files(self, model_dir: ModelDir) -> None:  # noqa: B027 (optional hook, empty by default)
        """Write task files into the model directory (a tokenizer.json, for instance)."""

    def save_trained_files(self, model: nn.Module, model_dir: ModelDir) -> None:  # noqa: B027
        """Write task files that need the trained model (reference errors for monitoring, say):
        called with the best weights loaded, before model.safetensors marks the directory
        complete. Empty by default."""

    def data_checksum(self) -> str | None:
        """SHA-256 of the data the run trained on, recorded in metrics.json; None for generated.
        ``seqlab eval`` compares it with the recorded one before it evaluates a split cut from
        the training data (seqlab.tasks.directory_checks.check_training_data)."""
        return None

    @classmethod
    def from_model_dir(cls, run: RunConfig, model_dir: ModelDir, artifacts: dict[str, Any]) -> Task:
        """The task as it was when ``model_dir`` was trained (its tokenizer, labels, scaler).

        Called by ``seqlab.tasks.runner.load_trained`` after config.json's sections are checked
        (``artifacts`` is a dict, its values unchecked). Files are named through
        ``model_dir.file(name)``, which refuses names leading out of the directory. What a task
        checks itself it raises as a SeqlabError naming the file; a KeyError, TypeError or
        ValueError escaping from here is reported as config.json's artifacts being malformed."""
        return cls(run)

    @classmethod
    def load_predictor(cls, model_dir: ModelDir, config: dict[str, Any]) -> Any:
        """The task's Predictor over ``model_dir``, whose config.json holds ``config``."""
        raise NotImplementedError(f"task '{cls.name}' has no predictor yet")
