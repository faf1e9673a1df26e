"""The teacher's logits over the transfer set, computed once.

Texts are encoded with the teacher's own tokenizer, sorted by length and run in batches of
``batch_size``: each batch then holds texts of nearly one length, so a Transformer teacher, which
computes every padded cell, spends almost nothing on padding (the order changes no text's
logits: padding is masked). The result is put back in transfer-set order.

The mask token: transfer texts write masked words as ``[MASK]`` (seqlab.distill.transfer_set);
a teacher whose tokenizer spells its mask token otherwise reads its own spelling.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from seqlab.data.batching import pad_batch
from seqlab.distill.progress import LabellingProgress, ProgressKind
from seqlab.distill.teacher import Teacher
from seqlab.distill.transfer_set import MASK_TOKEN


@torch.inference_mode()
def teacher_logits(
    teacher: Teacher,
    texts: Sequence[str],
    *,
    batch_size: int,
    device: torch.device | str = "cpu",
    progress: ProgressKind = "quiet",
) -> torch.Tensor:
    """(N, C) float32 logits of the teacher for ``texts``, columns in the teacher's label order."""
    text_data = teacher.task.text_data
    mask = text_data.encoder.special_tokens.mask
    if mask != MASK_TOKEN:
        texts = [text.replace(MASK_TOKEN, mask) for text in texts]
    ids = text_data.encode(list(texts)).ids
    order = sorted(range(len(ids)), key=lambda index: len(ids[index]))
    model = teacher.model.to(device).eval()
    logits = torch.empty(len(ids), len(teacher.labels), dtype=torch.float32)  # (N, C)
    with LabellingProgress(progress, total=len(ids)) as bar:
        for start in range(0, len(order), batch_size):
            members = order[start : start + batch_size]
            batch = pad_batch([ids[index] for index in members], pad_id=text_data.encoder.pad_id)
            scores = model(batch.ids.to(device), batch.lengths.to(device))  # (B, C)
            logits[members] = scores.float().cpu()
            bar.advance(len(members))
    return logits
