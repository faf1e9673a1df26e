"""Checks shared by the model-config dataclasses: each error names the field as ``model.NAME``,
the form a user writes it in ``--set`` (torch-free, as the configs are)."""

from __future__ import annotations


def check_positive(config: object, *names: str) -> None:
    """Each of ``names`` on ``config`` is an integer of at least 1."""
    for name in names:
        value = getattr(config, name)
        if value < 1:
            raise ValueError(f"model.{name} ({value}) must be a positive integer")


def check_dropout(value: float) -> None:
    """A dropout probability in [0, 1)."""
    if not 0.0 <= value < 1.0:
        raise ValueError(f"model.dropout ({value}) must be in [0, 1)")
