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


def check_window(
    window: int | None, *, name: str, max_len: int, limit_name: str = "max_len"
) -> None:
    """The local-attention window in field ``name``: None (full attention) or a number of
    tokens from 1 to ``max_len`` (the field ``limit_name``). A larger window could never be
    filled (no sequence is longer than max_len), so it is refused as a likely typo rather than
    silently equal to full attention; a window of 1 (each token attends itself alone) is
    allowed, causal or centred."""
    if window is None:
        return
    if window < 1:
        raise ValueError(
            f"model.{name} ({window}) must be a positive number of tokens, "
            "or null for full attention"
        )
    if window > max_len:
        raise ValueError(
            f"model.{name} ({window}) is larger than model.{limit_name} ({max_len}), the longest "
            f"sequence the model reads; set model.{name} to at most {max_len}, "
            "or null for full attention"
        )


# model.residual_of's and model.combine_with's values besides None (off);
# seqlab.models.config.ResidualOf lists the same.
RESIDUAL_OF: tuple[str, ...] = (
    "auto", "repeat", "seasonal_24", "seasonal_168", "linear", "nlinear", "dlinear"
)  # fmt: skip


def check_residual_of(value: str | None) -> None:
    """model.residual_of: None, or a baseline's name, or "auto". A config file or ``--set`` is
    checked against the field's type before this; this catches a config built in Python."""
    _check_baseline_name("residual_of", value, "for a network without a baseline")


def check_combine_with(value: str | None) -> None:
    """model.combine_with: None, or a baseline's name, or "auto" (as model.residual_of)."""
    _check_baseline_name("combine_with", value, "for the network's forecast alone")


def _check_baseline_name(field: str, value: str | None, off: str) -> None:
    if value is not None and value not in RESIDUAL_OF:
        raise ValueError(
            f"model.{field} ({value!r}) must be one of {', '.join(RESIDUAL_OF)}, or null {off}"
        )
