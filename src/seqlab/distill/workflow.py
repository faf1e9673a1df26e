"""``seqlab distill``'s work, start to end: teacher, transfer set, teacher's logits, student.

References: Tang et al., 2019, "Distilling Task-Specific Knowledge from BERT into Simple Neural
Networks" (the whole recipe); Hinton, Vinyals and Dean, 2015 (the KL objective).

Steps, each checked before the next costs time:

1. the student's output directory can take the run (seqlab.tasks.runner.check_can_start);
2. the teacher loads and is a sentiment model (seqlab.distill.teacher); with
   ``settings.embeddings == "teacher"``, the student will read text through the teacher's
   tokenizer, its embeddings starting as the teacher's token vectors
   (seqlab.distill.teacher_embeddings);
3. the data's labels (the training split's) equal the teacher's;
4. the transfer set is built (seqlab.distill.transfer_set) from the labelled training split,
   ``settings.augment`` copies of each text and the unlabelled texts;
5. the teacher's logits over it are read from the directory's cache when its checksums match,
   else computed (sorted by length, batched, with a progress bar) and cached
   (seqlab.distill.logit_cache); with ``alpha`` 1 they carry no weight and are not computed
   (the student then learns the labels alone: a baseline of the same student and budget);
6. the student trains through the engine (seqlab.tasks.runner.train_run) as a
   :class:`~seqlab.distill.student_task.DistillationTask`, and its directory is an ordinary
   sentiment model directory whose config.json records the teacher and the transfer set.

Resuming (``resume=True``): the training resumes from ``checkpoints/last``; when the run stopped
after labelling but before its first checkpoint, training starts afresh with the cached logits.
A resumed run must distil the same transfer set from the same teacher as it started with
(its config.json says which); otherwise it is refused.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch

from seqlab.distill.logit_cache import CachedLogits, read_cached_logits, write_cached_logits
from seqlab.distill.progress import ProgressKind
from seqlab.distill.settings import DistillSettings
from seqlab.distill.student_task import DistillationTask
from seqlab.distill.teacher import Teacher, load_teacher, teacher_columns
from seqlab.distill.teacher_embeddings import teacher_token_vectors
from seqlab.distill.teacher_logits import teacher_logits
from seqlab.distill.transfer_set import TransferSet, build_transfer_set
from seqlab.distill.unlabelled import read_unlabelled_texts
from seqlab.errors import SeqlabError
from seqlab.model_dir import TEACHER_LOGITS_RECORD, ModelDir
from seqlab.models.config import PretrainedConfig, RecurrentConfig, TransformerConfig
from seqlab.tasks.base import RunConfig
from seqlab.tasks.runner import TrainedRun, check_can_start, train_run
from seqlab.tasks.sentiment.task import sentiment_data
from seqlab.train import resolve_device
from seqlab.train.checkpoint import find_checkpoint

STUDENT_FAMILIES = ("rnn", "lstm", "gru", "transformer")


@dataclass(frozen=True)
class DistilledRun:
    """The trained student and what it took: the transfer set, the teacher, the seconds the
    teacher spent labelling (when computed, or as recorded when the cache was reused)."""

    trained: TrainedRun
    transfer: TransferSet
    teacher: Teacher
    labelling_seconds: float
    logits_reused: bool


def distill(
    teacher_dir: str | Path,
    run: RunConfig,
    out_dir: str | Path,
    *,
    settings: DistillSettings,
    unlabelled: Path | None = None,
    resume: bool = False,
    progress: ProgressKind = "auto",
) -> DistilledRun:
    """Distil the teacher in ``teacher_dir`` into a student built from ``run`` (a sentiment run
    config) at ``out_dir``."""
    check_student(run)
    out = ModelDir(out_dir)
    resume_training = resume and find_checkpoint(out.checkpoint_path("last")) is not None
    labelled_before = resume and (out.path / TEACHER_LOGITS_RECORD).exists()
    check_can_start(run, out, resume=resume_training or (resume and not labelled_before))

    teacher = load_teacher(teacher_dir)
    vectors = None
    if settings.embeddings == "teacher":
        vectors = teacher_token_vectors(teacher)  # (V, E)
        run = with_embedding_width(run, int(vectors.shape[1]))
        text_data = sentiment_data(run, encoder=teacher.task.text_data.encoder)
    else:
        text_data = sentiment_data(run)
    text_data.read_all()  # every split and the labels now: their errors before any labelling
    train = text_data.split("train")
    columns = teacher_columns(teacher, text_data.labels.to_list(), data_source=train.source)
    extra = [] if unlabelled is None else read_unlabelled_texts(
        unlabelled, text_column=run.data.text_column, tsv_quoting=run.data.tsv_quoting
    )  # fmt: skip
    transfer = build_transfer_set(
        train.texts, text_data.labels.encode(train.labels), unlabelled=extra,
        settings=settings, seed=settings.copies_seed(run.train.seed),
    )  # fmt: skip
    if resume_training:
        _check_same_run(out, transfer, teacher)

    if settings.labels_only:
        # alpha = 1: the teacher's outputs carry no weight, so it labels nothing.
        logits = torch.zeros(len(transfer), len(teacher.labels))  # (N, C)
        cached, seconds = None, 0.0
    else:
        logits, cached, seconds = _labelled(out, teacher, transfer, run, settings, progress)
    teacher.model.cpu()  # the student trains next; the teacher's memory is not needed there

    record = distillation_record(
        teacher, transfer, settings=settings, seed=settings.copies_seed(run.train.seed)
    )
    record["labelling_seconds"] = round(seconds, 3)
    task = DistillationTask(
        run, text_data=text_data, transfer=transfer,
        teacher_logits=logits[:, columns].contiguous(), settings=settings, record=record,
        initial_embeddings=vectors,
    )  # fmt: skip
    trained = train_run(run, out.path, resume=resume_training, progress=progress, task=task)
    return DistilledRun(
        trained=trained, transfer=transfer, teacher=teacher, labelling_seconds=seconds,
        logits_reused=cached is not None,
    )  # fmt: skip


def _labelled(
    out: ModelDir,
    teacher: Teacher,
    transfer: TransferSet,
    run: RunConfig,
    settings: DistillSettings,
    progress: ProgressKind,
) -> tuple[torch.Tensor, CachedLogits | None, float]:
    """The teacher's logits (N, C) over the transfer set, the cache they were read from (None
    when computed now) and the seconds labelling took (as recorded, for cached ones)."""
    started = time.perf_counter()
    cached = read_cached_logits(
        out, transfer_checksum=transfer.checksum(), teacher_checksum=teacher.checksum,
        shape=(len(transfer), len(teacher.labels)),
    )  # fmt: skip
    if cached is not None:
        return cached.logits, cached, cached.seconds
    logits = teacher_logits(
        teacher, transfer.texts, batch_size=settings.teacher_batch_size,
        device=resolve_device(run.train.device), progress=progress,
    )  # fmt: skip
    seconds = time.perf_counter() - started
    write_cached_logits(
        out, logits, transfer_checksum=transfer.checksum(), teacher_checksum=teacher.checksum,
        seconds=seconds,
    )  # fmt: skip
    return logits, None, seconds


def check_student(run: RunConfig) -> None:
    """A student is a sentiment classifier of a family trained from scratch, on settings the
    transfer set does not replace."""
    if run.task != "sentiment":
        raise SeqlabError(f"a student is a sentiment model, not a '{run.task}' one")
    family = run.model.family
    if isinstance(run.model, PretrainedConfig) or family not in STUDENT_FAMILIES:
        raise SeqlabError(
            f"--model '{family}' cannot be a student; choose one of "
            f"{', '.join(STUDENT_FAMILIES)} (minilm is a teacher's family)"
        )
    if run.data.word_dropout:
        raise SeqlabError(
            f"data.word_dropout ({run.data.word_dropout}) does not apply when distilling: the "
            "transfer set masks words instead (--p-mask); drop the setting"
        )
    if run.data.label_smoothing:
        raise SeqlabError(
            f"data.label_smoothing ({run.data.label_smoothing}) does not apply when distilling: "
            "the teacher's logits are the soft targets; drop the setting"
        )


def with_embedding_width(run: RunConfig, width: int) -> RunConfig:
    """The student of ``run`` reading the teacher's ``width``-wide token vectors: a recurrent
    student's model.embed_dim becomes ``width``; a Transformer's d_model must already be it."""
    model = run.model
    if isinstance(model, TransformerConfig):
        if model.d_model != width:
            raise SeqlabError(
                f"--embeddings teacher gives the student the teacher's {width}-wide token "
                f"vectors, but model.d_model is {model.d_model}; set --set model.d_model={width} "
                "(with model.num_heads dividing it) or pass --embeddings own"
            )
        return run
    if not isinstance(model, RecurrentConfig):
        raise SeqlabError(f"--model '{model.family}' cannot be a student")
    return replace(run, model=replace(model, embed_dim=width))


def distillation_record(
    teacher: Teacher, transfer: TransferSet, *, settings: DistillSettings, seed: int
) -> dict[str, Any]:
    """config.json's ``artifacts.distillation``: the teacher, the transfer set, the objective."""
    return {
        "teacher": teacher.record(),
        "transfer_set": transfer.record(settings=settings, seed=seed),
        "objective": {
            "loss": settings.loss,
            "temperature": settings.temperature,
            "alpha": settings.alpha,
            "teacher_batch_size": settings.teacher_batch_size,
            "embeddings": settings.embeddings,
        },
    }


def _check_same_run(out: ModelDir, transfer: TransferSet, teacher: Teacher) -> None:
    """A resumed run distils the transfer set and teacher it started with."""
    saved = out.read_config().get("artifacts", {}).get("distillation")
    if not isinstance(saved, dict):
        raise SeqlabError(
            f"'{out}' holds a run that was not distilled; resume it with 'seqlab train "
            f"sentiment --out {out} --resume'"
        )
    was_transfer = saved.get("transfer_set", {}).get("checksum")
    was_teacher = saved.get("teacher", {}).get("weights_sha256")
    if was_transfer != transfer.checksum():
        raise SeqlabError(
            f"the transfer set differs from the one the run in '{out}' started with (other "
            "data, --augment, augmentation settings, seed or --unlabelled file); resume with "
            "the settings it records in config.json, or drop --resume and choose another --out"
        )
    if was_teacher != teacher.checksum:
        raise SeqlabError(
            f"the teacher's weights differ from those the run in '{out}' started with; resume "
            "with the same teacher, or drop --resume and choose another --out"
        )
