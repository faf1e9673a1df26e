"""The teacher: a trained sentiment model directory, loaded the way every command loads one.

Any directory of the sentiment task serves: the fine-tuned MiniLM or any seqlab classifier.
Refused, each with one line naming the directory and the fix: a path that is not a trained model
directory, a directory of another task, and a teacher whose labels differ from the data's (the
student's classes are the data's; a teacher over other classes has nothing to say about them).

The teacher is identified by the SHA-256 of its weights file, recorded in the student's
config.json and in the cached logits' record (seqlab.distill.logit_cache).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import nn

from seqlab.data.sources import file_sha256
from seqlab.errors import SeqlabError
from seqlab.model_dir import METRICS, ModelDir
from seqlab.tasks.base import Task
from seqlab.tasks.directory_checks import read_model_config
from seqlab.tasks.runner import load_trained
from seqlab.tasks.sentiment.task import SentimentTask

_TEACHER_TASK = "sentiment"


@dataclass(frozen=True)
class Teacher:
    """A loaded teacher: its directory, task object (tokenizer, labels), model in eval mode,
    config.json's contents and the SHA-256 of its weights."""

    directory: Path
    task: SentimentTask
    model: nn.Module
    config: dict[str, Any]
    checksum: str

    @property
    def labels(self) -> list[str]:
        return self.task.text_data.labels.to_list()

    @property
    def family(self) -> str:
        return str(self.config["model"].get("family", "?"))

    def record(self) -> dict[str, Any]:
        """What the student's config.json keeps of its teacher."""
        record: dict[str, Any] = {
            "path": str(self.directory.resolve()),
            "task": self.config["task"],
            "family": self.family,
            "labels": self.labels,
            "weights_sha256": self.checksum,
        }
        accuracy = _recorded_accuracy(ModelDir(self.directory))
        if accuracy is not None:
            record["accuracy"] = accuracy
        return record


def load_teacher(path: str | Path) -> Teacher:
    """The teacher in ``path``; a one-line SeqlabError when it cannot be one."""
    directory = ModelDir(path)
    try:
        config = read_model_config(directory)
    except SeqlabError as error:
        raise SeqlabError(f"teacher: {error}") from None
    if config["task"] != _TEACHER_TASK:
        raise SeqlabError(
            f"teacher '{path}' is a '{config['task']}' model; a teacher must be a sentiment "
            "classifier: pass a directory written by 'seqlab train sentiment'"
        )
    try:
        task, model, config = load_trained(directory, config)
    except SeqlabError as error:
        raise SeqlabError(f"teacher: {error}") from None
    return Teacher(
        directory=directory.path,
        task=_sentiment_task(task),
        model=model,
        config=config,
        checksum=file_sha256(directory.weights_path),
    )


def _sentiment_task(task: Task) -> SentimentTask:
    if not isinstance(task, SentimentTask):  # the task registry maps "sentiment" to it
        raise TypeError(f"a sentiment directory loaded as {type(task).__name__}")
    return task


def teacher_columns(teacher: Teacher, data_labels: list[str], *, data_source: str) -> list[int]:
    """For each of the data's classes in order, the column of the teacher's logits that scores
    it; a SeqlabError naming both label sets when they differ."""
    if sorted(teacher.labels) != sorted(data_labels):
        raise SeqlabError(
            f"the teacher '{teacher.directory}' has labels {', '.join(teacher.labels)} but the "
            f"data ({data_source}) has labels {', '.join(data_labels)}; distil on data labelled "
            "with the teacher's labels (--data FILE, --label-column), or use a teacher trained "
            "on these labels"
        )
    return [teacher.labels.index(label) for label in data_labels]


def _recorded_accuracy(directory: ModelDir) -> float | None:
    """The accuracy the teacher's metrics.json reports, if it can be read."""
    if not directory.metrics_path.exists():
        return None
    try:
        record = directory.read_json(METRICS)
    except SeqlabError:
        return None
    metrics = record.get("metrics") if isinstance(record, dict) else None
    accuracy = metrics.get("accuracy") if isinstance(metrics, dict) else None
    return float(accuracy) if isinstance(accuracy, int | float) else None
