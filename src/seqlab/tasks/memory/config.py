"""The memory task's data settings: which problem, at which distance."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class MemoryDataConfig:
    """kind: recall | adding | copy. distance: steps between the information and the answer."""

    kind: Literal["recall", "adding", "copy"] = "recall"
    distance: int = 50
    alphabet_size: int = 8
    string_length: int = 10
    eval_examples: int = 1024
    label_smoothing: float = 0.0

    def __post_init__(self) -> None:
        minimum = 2 if self.kind == "adding" else 1
        if self.distance < minimum:
            raise ValueError(f"data.distance ({self.distance}) must be at least {minimum}")
        if self.alphabet_size < 2:
            raise ValueError(f"data.alphabet_size ({self.alphabet_size}) must be at least 2")
        if self.string_length < 1 or self.eval_examples < 1:
            raise ValueError(
                f"data.string_length ({self.string_length}) and data.eval_examples "
                f"({self.eval_examples}) must be positive"
            )
        if not 0.0 <= self.label_smoothing < 1.0:
            raise ValueError(f"data.label_smoothing ({self.label_smoothing}) must be in [0, 1)")
