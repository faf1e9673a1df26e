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
    teacher_logits.safetensors    after ``seqlab distill``: the teacher's logits for the transfer
    teacher_logits.json           set, and the checksums that decide whether they are reused
    metrics.json                  the final evaluation, its split and the data's checksum
    log.jsonl                     one line per logged step or evaluation
    checkpoints/last/, best/      training state for ``--resume`` (seqlab.train.checkpoint):
                                  model.safetensors, optimizer.safetensors, trainer.safetensors,
                                  trainer.json
    checkpoints/recent/step-N/    with ``train.average_checkpoints``: the weights evaluated at
                                  the last evaluations (seqlab.train.checkpoint_averaging)
    checkpoints/average/          their element-wise mean, when it was kept as the final model

config.json's ``quantization`` field (QUANTIZATION), present only in a directory written by
``seqlab export --format int8``, says that model.safetensors holds int8 weights: its ``scheme``
names how (seqlab.export.int8_model), and a loader rebuilds the quantised layers before it loads
them (``quantization_of``).

No other module spells one of these names: they import them from here. Every write is atomic
(seqlab.utils.io), and every read that fails (missing, unreadable, not valid JSON, not a
safetensors file) says which file and what to do, in one line. A name that config.json gives
for a file is looked up with ``ModelDir.file``, which refuses one leading out of the directory.
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
    from collections.abc import Callable, Mapping

    import numpy as np
    import torch

CONFIG = "config.json"
WEIGHTS = "model.safetensors"
TOKENIZER = "tokenizer.json"
# A translation model with one vocabulary per language keeps two tokenizer files.
SOURCE_TOKENIZER = "tokenizer.source.json"
TARGET_TOKENIZER = "tokenizer.target.json"
METRICS = "metrics.json"
LOG = "log.jsonl"
TEACHER_LOGITS = "teacher_logits.safetensors"
TEACHER_LOGITS_RECORD = "teacher_logits.json"
CHECKPOINTS = "checkpoints"
LINEAR_BASELINE = "linear_baseline.safetensors"
# The last-value-normalised and decomposed least-squares baselines (NLinear, DLinear).
NLINEAR_BASELINE = "nlinear_baseline.safetensors"
DLINEAR_BASELINE = "dlinear_baseline.safetensors"
MONITOR_REFERENCE = "monitor_reference.json"
TRAINING_DATA = "training_data.csv"

# Inside each checkpoint folder (checkpoints/last, checkpoints/best).
CHECKPOINT_WEIGHTS = WEIGHTS
CHECKPOINT_OPTIMIZER = "optimizer.safetensors"
CHECKPOINT_TRAINER_TENSORS = "trainer.safetensors"
CHECKPOINT_TRAINER_JSON = "trainer.json"

# Checkpoint averaging (seqlab.train.checkpoint_averaging): ``checkpoints/recent/step-0000500``
# holds the weights evaluated at step 500; ``checkpoints/average`` the mean kept as final model.
CHECKPOINTS_RECENT = "recent"
RECENT_STEP_PREFIX = "step-"
CHECKPOINT_AVERAGE = "average"

CheckpointName = Literal["last", "best"]

# config.json's field marking a quantised directory, and the schemes this seqlab can load.
QUANTIZATION = "quantization"
QUANTIZATION_SCHEMES: tuple[str, ...] = ("int8-dynamic",)

# The fix for a damaged file of a model directory: the run that wrote it is the one source.
_RESTORE = "restore it from the run that wrote the directory, or retrain"


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
        config.json's artifacts record (older directories name their tokenizer there).

        The name must stay inside the directory: an absolute path, a ``..`` or a link that
        leads out is refused, so a directory can never make seqlab read another file."""
        if not isinstance(name, str) or not name.strip() or "\x00" in name:
            raise SeqlabError(
                f"{self.config_path}: {name!r} is not a file name; the artifacts of {CONFIG} "
                f"name files of '{self.path}': restore {CONFIG} from the run, or retrain"
            )
        path = self.path / name
        try:
            root, target = self.path.resolve(), path.resolve()
        except (OSError, RuntimeError) as error:  # a loop of links (RuntimeError before 3.13)
            raise SeqlabError(f"{path}: cannot follow its links ({error}); {_RESTORE}") from None
        if Path(name).is_absolute() or target == root or not target.is_relative_to(root):
            raise SeqlabError(
                f"{self.config_path}: the file {name!r} lies outside the model directory "
                f"'{self.path}' (an absolute path, '..' or a link out of it); a model directory "
                "reads only its own files: copy the file into it and name it there"
            )
        return path

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
        if self.path.exists() and not self.path.is_dir():
            raise SeqlabError(
                f"'{self.path}' is a file, not a model directory; pass the folder written by "
                "'seqlab train'"
            )
        if not self.path.is_dir():
            raise SeqlabError(
                f"model directory '{self.path}' does not exist; pass a folder written by "
                "'seqlab train'"
            )
        return self

    def read_config(self) -> dict[str, Any]:
        """config.json's object; a one-line error when it is missing, unreadable, not valid
        JSON or not a JSON object."""
        self.require()
        if not self.config_path.exists():
            raise SeqlabError(
                f"'{self.path}' has no {CONFIG}; pass a model directory written by 'seqlab train'"
            )
        config = self.read_json(CONFIG)
        if not isinstance(config, dict):
            raise SeqlabError(
                f"{self.config_path}: holds a JSON {_json_kind(config)}, not an object of "
                f"settings; {_RESTORE}"
            )
        return config

    def read_json(self, name: str) -> Any:
        """The JSON file ``name`` of this directory; a one-line error naming it when absent,
        unreadable or not valid JSON."""
        path = self.file(name)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise SeqlabError(f"'{self.path}' has no {name}; {_RESTORE}") from None
        except (OSError, UnicodeDecodeError) as error:
            raise SeqlabError(f"{path}: cannot be read ({_one_line(error)}); {_RESTORE}") from None
        try:
            return json.loads(text)
        except json.JSONDecodeError as error:
            raise SeqlabError(
                f"{path}: line {error.lineno}: not valid JSON ({error.msg}); {_RESTORE}"
            ) from None
        except (ValueError, RecursionError) as error:  # a 5,000-digit number, nesting too deep
            raise SeqlabError(
                f"{path}: not JSON seqlab can read ({_one_line(error)[:120]}); {_RESTORE}"
            ) from None

    def read_weights(self) -> dict[str, torch.Tensor]:
        """model.safetensors as a state dict (on the CPU); a one-line error naming it when it
        is missing, truncated or not a safetensors file."""
        from safetensors.torch import load_file

        tensors: dict[str, torch.Tensor] = _read_safetensors(self, WEIGHTS, load_file)
        return tensors

    def read_arrays(self, name: str) -> dict[str, np.ndarray]:
        """A safetensors file of this directory as numpy arrays; a one-line error naming it
        when it is missing, truncated or not a safetensors file."""
        from safetensors.numpy import load_file

        arrays: dict[str, np.ndarray] = _read_safetensors(self, name, load_file)
        return arrays

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


def quantization_of(config: Mapping[str, Any], directory: ModelDir) -> str | None:
    """The quantisation scheme config.json records (None for float32 weights); a one-line
    error naming config.json when the field is malformed or names a scheme this seqlab lacks."""
    field = config.get(QUANTIZATION)
    if field is None:
        return None
    scheme = field.get("scheme") if isinstance(field, dict) else None
    if scheme not in QUANTIZATION_SCHEMES:
        raise SeqlabError(
            f"{directory.config_path}: '{QUANTIZATION}' must be an object whose scheme is one of "
            f"{', '.join(QUANTIZATION_SCHEMES)}, not {field!r:.80}; export the directory again "
            "with 'seqlab export DIR --format int8'"
        )
    return str(scheme)


def _read_safetensors(directory: ModelDir, name: str, load_file: Callable[[str], Any]) -> Any:
    """``load_file`` of the directory's safetensors file ``name``, its failures as one line."""
    from safetensors import SafetensorError

    path = directory.file(name)
    if not path.exists():
        raise SeqlabError(f"'{directory.path}' has no {name}; {_RESTORE}")
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError, RuntimeError, TypeError) as error:
        raise SeqlabError(
            f"{path}: not a readable safetensors file ({_one_line(error)}); it is damaged or "
            f"truncated: {_RESTORE}"
        ) from None


def _json_kind(value: Any) -> str:
    """JSON's name for the type of a parsed value ("list", "string", ...)."""
    kinds = {list: "list", str: "string", bool: "boolean", int: "number", float: "number"}
    return "null" if value is None else kinds.get(type(value), type(value).__name__)


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split()) or type(error).__name__
