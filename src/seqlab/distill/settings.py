"""The settings of a distillation run: how the transfer set is made and how the student learns
from the teacher.

References: Tang et al., 2019, "Distilling Task-Specific Knowledge from BERT into Simple Neural
Networks", sec. 3.1 (the objective) and 3.2 (the augmentation rules and their SST-2 values
p_mask = p_pos = 0.1, p_ng = 0.25); Hinton, Vinyals and Dean, 2015, "Distilling the Knowledge
in a Neural Network" (the softened KL objective at a temperature).

Set on the command line by flags (``--augment``, ``--loss`` ...) or ``--set distill.KEY=VALUE``,
and recorded in the student's config.json (``artifacts.distillation.settings``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from seqlab.errors import SeqlabError

DistillLoss = Literal["mse", "kl"]
StudentEmbeddings = Literal["own", "teacher"]


@dataclass(frozen=True)
class DistillSettings:
    """augment: augmented copies made of each training text (0: the originals alone).
    p_mask: each word of a copy becomes the mask token with this probability.
    p_replace: otherwise, each word becomes a word drawn from the training vocabulary's unigram
    distribution with this probability (Tang et al.'s POS-guided swap without the POS tags).
    p_ngram: each finished copy is cut to a random n-gram of 1..``max_ngram`` words with this
    probability.
    loss: "mse" (squared distance between logits, Tang et al.'s choice) or "kl" (Hinton et al.'s
    softened KL divergence at ``temperature``). alpha: weight of the label cross-entropy, counted
    on labelled original texts only (seqlab.distill.loss).
    teacher_batch_size: texts per teacher call while labelling the transfer set.
    embeddings: "teacher" (the default: the student reads text through the teacher's tokenizer
    and its embeddings start as the teacher's token vectors, seqlab.distill.teacher_embeddings;
    on SST-2 worth 2 to 4 points) or "own" (a tokenizer trained on the training split and
    embeddings starting at random, as ``seqlab train`` builds; a smaller model directory).
    """

    augment: int = 0
    p_mask: float = 0.1
    p_replace: float = 0.1
    p_ngram: float = 0.25
    max_ngram: int = 5
    loss: DistillLoss = "mse"
    temperature: float = 1.0
    alpha: float = 0.0
    teacher_batch_size: int = 64
    embeddings: StudentEmbeddings = "teacher"
    augment_seed: int | None = None

    def copies_seed(self, train_seed: int) -> int:
        """The seed the augmented copies are drawn with."""
        return train_seed if self.augment_seed is None else self.augment_seed

    @property
    def labels_only(self) -> bool:
        """alpha = 1: the student learns the labels alone and the teacher's outputs carry no
        weight (a baseline with the same student, vocabulary and budget)."""
        return self.alpha == 1.0

    def __post_init__(self) -> None:
        if self.augment < 0:
            raise SeqlabError(
                f"--augment ({self.augment}) must be at least 0 (augmented copies per training "
                "text; 0 distils on the training texts alone)"
            )
        for name in ("p_mask", "p_replace", "p_ngram"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise SeqlabError(f"distill.{name} ({value}) must be a probability in [0, 1]")
        if self.p_mask + self.p_replace > 1.0:
            raise SeqlabError(
                f"distill.p_mask + distill.p_replace ({self.p_mask} + {self.p_replace}) must not "
                "exceed 1: a word is masked or replaced, never both"
            )
        if self.max_ngram < 1:
            raise SeqlabError(f"distill.max_ngram ({self.max_ngram}) must be at least 1")
        if not self.temperature > 0.0:
            raise SeqlabError(f"--temperature ({self.temperature}) must be above 0")
        if self.loss == "mse" and self.temperature != 1.0:
            raise SeqlabError(
                f"--temperature ({self.temperature}) applies to --loss kl only; drop it or use "
                "--loss kl"
            )
        if not 0.0 <= self.alpha <= 1.0:
            raise SeqlabError(f"--alpha ({self.alpha}) must be in [0, 1]")
        if self.teacher_batch_size < 1:
            raise SeqlabError(
                f"distill.teacher_batch_size ({self.teacher_batch_size}) must be at least 1"
            )
