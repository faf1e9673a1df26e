"""The transfer set: every text the teacher labels and the student learns from.

References: Tang et al., 2019, sec. 3.2 (the training texts plus their augmented copies, and any
unlabelled in-domain text); Hinton et al., 2015, sec. 2 ("transfer set").

Order, fixed: the labelled training texts ("originals"), then the augmented copies of training
text 0, of text 1, ..., then the unlabelled texts in file order. Each item carries a class id:
an original its label; a copy the label of the text it was made from, kept for reference only
(a copy may have lost the words that made it positive); an unlabelled text -1.

The label rule (seqlab.distill.loss): the label term of the loss counts on originals alone;
copies and unlabelled texts learn from the teacher's logits alone. ``has_label`` says which.

Masked words are written ``[MASK]``: the teacher reads its mask token; the student reads its
unknown token (``student_ids``), as Tang et al.'s students do.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from seqlab.data.tokenization import SPECIAL_TOKENS
from seqlab.distill.augmentation import Vocabulary, augmented_copies
from seqlab.distill.settings import DistillSettings
from seqlab.utils.config import to_dict

MASK_TOKEN = SPECIAL_TOKENS.mask
UNLABELLED = -1

# Settings of the objective and the student, recorded elsewhere (the seed of the copies is the
# record's own "seed").
_NOT_AUGMENTATION = ("loss", "temperature", "alpha", "teacher_batch_size", "embeddings",
                     "augment_seed")  # fmt: skip


@dataclass(frozen=True)
class TransferSet:
    """texts: (N,) in the order of the module docstring. labels: (N,) class ids, -1 for
    unlabelled texts. originals, augmented, unlabelled: how many of each, in that order."""

    texts: tuple[str, ...]
    labels: tuple[int, ...]
    originals: int
    augmented: int
    unlabelled: int

    def __len__(self) -> int:
        return len(self.texts)

    def has_label(self) -> torch.Tensor:
        """(N,) bool: True where the label term counts (the originals)."""
        flags = torch.zeros(len(self.texts), dtype=torch.bool)  # (N,)
        flags[: self.originals] = True
        return flags

    def checksum(self) -> str:
        """SHA-256 of the texts, their labels and the three counts (what the teacher's logits
        and the training depend on)."""
        hasher = hashlib.sha256()
        hasher.update(f"{self.originals},{self.augmented},{self.unlabelled}\n".encode())
        for text, label in zip(self.texts, self.labels, strict=True):
            hasher.update(f"{label}\t{text}\n".encode())
        return hasher.hexdigest()

    def record(self, *, settings: DistillSettings, seed: int) -> dict[str, Any]:
        """What config.json keeps of the transfer set."""
        augmentation = to_dict(settings)
        for key in _NOT_AUGMENTATION:
            augmentation.pop(key)
        return {
            "originals": self.originals,
            "augmented": self.augmented,
            "unlabelled": self.unlabelled,
            "total": len(self.texts),
            "augmentation": augmentation,
            "seed": seed,
            "checksum": self.checksum(),
        }


def build_transfer_set(
    texts: Sequence[str],
    labels: Sequence[int],
    *,
    unlabelled: Sequence[str] = (),
    settings: DistillSettings,
    seed: int,
) -> TransferSet:
    """The originals, ``settings.augment`` copies of each (duplicates dropped), the unlabelled
    texts; the vocabulary of replacement words is the originals'."""
    if len(texts) != len(labels):
        raise ValueError(f"{len(texts)} texts for {len(labels)} labels; give one label each")
    copies: list[str] = []
    copy_labels: list[int] = []
    if settings.augment > 0:
        vocabulary = Vocabulary.from_texts(texts)
        for example, (text, label) in enumerate(zip(texts, labels, strict=True)):
            made = augmented_copies(
                text, seed=seed, example=example, count=settings.augment, settings=settings,
                vocabulary=vocabulary, mask_token=MASK_TOKEN,
            )  # fmt: skip
            copies += made
            copy_labels += [label] * len(made)
    return TransferSet(
        texts=(*texts, *copies, *unlabelled),
        labels=(*labels, *copy_labels, *[UNLABELLED] * len(unlabelled)),
        originals=len(texts),
        augmented=len(copies),
        unlabelled=len(unlabelled),
    )


def student_ids(ids: list[list[int]], *, mask_id: int, unk_id: int) -> list[list[int]]:
    """The student's token ids of the transfer texts: the mask token read as unknown."""
    return [[unk_id if token == mask_id else token for token in row] for row in ids]
