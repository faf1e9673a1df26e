"""The model directory in one place: the name of every file in it, and how each is read and written.

Training writes, and every consumer reads, one directory (DESIGN.md, "The model directory")::

    config.json                   task, family, every hyper-parameter, the task's artifacts
                                  (labels, scaler statistics, ...), the seqlab version
    model.safetensors             the trained weights; written last but metrics.json, so its
                                  presence marks a finished run
    tokenizer.json                text tasks: the vocabulary (Hugging Face tokenizers format)
    linear_baseline.safetensors   forecasting: the least-squares baseline fitted on training windows
    monitor_reference.json        forecasting: what ``seqlab monitor`` compares recent data against
    training_data.csv             forecasting, after ``seqlab retrain``: the series it trained on
    metrics.json                  the final evaluation, its split and the data's checksum
    log.jsonl                     one line per logged step or evaluation
    checkpoints/last/, best/      training state for ``--resume`` (seqlab.train.checkpoint):
                                  model.safetensors, optimizer.safetensors, trainer.safetensors,
                                  trainer.json

No other module spells one of these names: they import them from here. Every write is atomic
(seqlab.utils.io), and every read that fails says which file and what to do, in one line.
This module imports nothing of seqlab but ``errors`` and ``utils``, so every layer may use it.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from seqlab.errors import SeqlabError
from seqlab.utils.io import atomic_write_json, save_safetensors_atomic

if TYPE_CHECKING:
    from collections.abc import Mapping

    import numpy as np
    import torch

CONFIG = "config.json"
WEIGHTS = "model.safetensors"
TOKENIZER = "tokenizer.json"
METRICS = "metrics.json"
LOG = "log.jsonl"
CHECKPOINTS = "checkpoints"
LINEAR_BASELINE = "linear_baseline.safetensors"
MONITOR_REFERENCE = "monitor_reference.json"
TRAINING_DATA = "training_data.csv"

# Inside each checkpoint folder (checkpoints/last, checkpoints/best).
CHECKPOINT_WEIGHTS = WEIGHTS
CHECKPOINT_OPTIMIZER = "optimizer.safetensors"
CHECKPOINT_TRAINER_TENSORS = "trainer.safetensors"
CHECKPOINT_TRAINER_JSON = "trainer.json"

CheckpointName = Literal["last", "best"]


@dataclass(frozen=True, init=False)
class ModelDir:
    """One model directory: the paths of its files and their readers and writers."""

    path: Path

    def __init__(self, path: str | os.PathLike[str]) -> None:
        object.__setattr__(self, "path", Path(path))  # frozen: the path never changes

    def __str__(self) -> str:
        return str(self.path)

    # ---- where each file lives ----
    def file(self, name: str) -> Path:
        """A file of the directory by name: one of this module's names, or a name that
        config.json's artifacts record (older directories name their tokenizer there)."""
        return self.path / name

    @property
    def config_path(self) -> Path:
        return self.path / CONFIG

    @property
    def weights_path(self) -> Path:
        return self.path / WEIGHTS

    @property
    def metrics_path(self) -> Path:
        return self.path / METRICS

    @property
    def log_path(self) -> Path:
        return self.path / LOG

    @property
    def checkpoints_path(self) -> Path:
        return self.path / CHECKPOINTS

    def checkpoint_path(self, which: CheckpointName) -> Path:
        """``checkpoints/last`` (the full training state) or ``checkpoints/best`` (weights)."""
        if which not in ("last", "best"):
            raise ValueError(f"which ({which!r}) must be 'last' or 'best'")
        return self.path / CHECKPOINTS / which

    def is_trained(self) -> bool:
        """Whether training finished: model.safetensors is written only at the end."""
        return self.weights_path.exists()

    # ---- reading ----
    def require(self) -> ModelDir:
        """This directory, or a one-line error when it does not exist."""
        if not self.path.is_dir():
            raise SeqlabError(
                f"model directory '{self.path}' does not exist; pass a folder written by "
                "'seqlab train'"
            )
        return self

    def read_config(self) -> dict[str, Any]:
        """config.json's object; a one-line error when it is missing or not valid JSON."""
        self.require()
        try:
            config = json.loads(self.config_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise SeqlabError(
                f"'{self.path}' has no {CONFIG}; pass a model directory written by 'seqlab train'"
            ) from None
        except json.JSONDecodeError as error:
            raise SeqlabError(
                f"{self.config_path}: line {error.lineno}: not valid JSON ({error.msg})"
            ) from None
        return config

    def read_json(self, name: str) -> Any:
        """The JSON file ``name`` of this directory; a one-line error naming it when absent or
        not valid JSON."""
        path = self.file(name)
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise SeqlabError(f"'{self.path}' has no {name}") from None
        except json.JSONDecodeError as error:
            raise SeqlabError(
                f"{path}: line {error.lineno}: not valid JSON ({error.msg})"
            ) from None

    def read_weights(self) -> dict[str, torch.Tensor]:
        """model.safetensors as a state dict (on the CPU)."""
        from safetensors.torch import load_file

        return load_file(str(self.weights_path))

    def read_arrays(self, name: str) -> dict[str, np.ndarray]:
        """A safetensors file of this directory as numpy arrays."""
        from safetensors.numpy import load_file

        return load_file(str(self.file(name)))

    # ---- writing (every write atomic) ----
    def create(self) -> ModelDir:
        self.path.mkdir(parents=True, exist_ok=True)
        return self

    def write_config(self, config: Mapping[str, Any]) -> None:
        atomic_write_json(self.config_path, config)

    def write_metrics(self, record: Mapping[str, Any]) -> None:
        atomic_write_json(self.metrics_path, record)

    def write_json(self, name: str, obj: Any) -> None:
        atomic_write_json(self.file(name), obj)

    def write_weights(
        self, tensors: Mapping[str, torch.Tensor], *, metadata: Mapping[str, str] | None = None
    ) -> None:
        save_safetensors_atomic(tensors, self.weights_path, metadata=metadata)

    def write_tensors(self, name: str, tensors: Mapping[str, torch.Tensor]) -> None:
        save_safetensors_atomic(tensors, self.file(name))
