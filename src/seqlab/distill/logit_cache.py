"""The teacher's logits kept in the student's directory, reused while they still apply.

Two files: ``teacher_logits.safetensors`` (one tensor ``logits``, (N, C) float32, in transfer-set
order and the teacher's label order) and ``teacher_logits.json`` (the transfer set's checksum,
the teacher's weights checksum, N, C and the seconds labelling took). Both written atomically,
the tensors first, so a record never vouches for a missing or half-written tensor file.

They are reused when the record's two checksums equal the current transfer set's and teacher's
and the tensor has shape (N, C); anything else (missing, damaged, another transfer set, a
retrained teacher) means the logits are computed afresh.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from seqlab.errors import SeqlabError
from seqlab.model_dir import TEACHER_LOGITS, TEACHER_LOGITS_RECORD, ModelDir

# The cache's files in the model directory.


@dataclass(frozen=True)
class CachedLogits:
    logits: torch.Tensor  # (N, C)
    seconds: float  # how long labelling took when they were computed


def write_cached_logits(
    directory: ModelDir,
    logits: torch.Tensor,
    *,
    transfer_checksum: str,
    teacher_checksum: str,
    seconds: float,
) -> None:
    directory.create()
    directory.write_tensors(TEACHER_LOGITS, {"logits": logits.detach().float().cpu().contiguous()})
    directory.write_json(
        TEACHER_LOGITS_RECORD,
        {
            "transfer_set_checksum": transfer_checksum,
            "teacher_weights_sha256": teacher_checksum,
            "texts": int(logits.shape[0]),
            "classes": int(logits.shape[1]),
            "seconds": round(seconds, 3),
        },
    )


def read_cached_logits(
    directory: ModelDir, *, transfer_checksum: str, teacher_checksum: str, shape: tuple[int, int]
) -> CachedLogits | None:
    """The cached logits if they belong to this transfer set and teacher; else None."""
    if not (directory.path / TEACHER_LOGITS_RECORD).exists():
        return None
    try:
        record: Any = directory.read_json(TEACHER_LOGITS_RECORD)
        if not isinstance(record, dict):
            return None
        if record.get("transfer_set_checksum") != transfer_checksum:
            return None
        if record.get("teacher_weights_sha256") != teacher_checksum:
            return None
        logits = directory.read_arrays(TEACHER_LOGITS).get("logits")
    except SeqlabError:  # damaged: computed again, and the files replaced
        return None
    if logits is None or tuple(logits.shape) != shape:
        return None
    seconds = record.get("seconds")
    return CachedLogits(
        logits=torch.from_numpy(logits.copy()).float(),
        seconds=float(seconds) if isinstance(seconds, int | float) else 0.0,
    )
