"""The memory task's command-line face: its description, families, presets and flags.

Torch-free (seqlab.tasks.options), so ``seqlab train --help`` never loads a model.
"""

from __future__ import annotations

from typing import Any

from seqlab.tasks.options import TaskOptions


def presets() -> dict[str, dict[str, Any]]:
    small_model = {
        "rnn": {"hidden_size": 128},
        "lstm": {"hidden_size": 64},
        "gru": {"hidden_size": 74},
        "transformer": {
            "d_model": 64, "num_heads": 4, "num_layers": 2, "dim_feedforward": 128,
            "dropout": 0.0, "norm_first": True,
        },
    }  # fmt: skip
    return {
        "cpu-small": {
            "data": {"distance": 50, "eval_examples": 512},
            "train": {
                "steps": 1000, "batch_size": 32, "eval_every": 100, "log_every": 50,
            },
            "model_by_family": small_model,
        }
    }  # fmt: skip


def family_defaults(family: str) -> dict[str, Any]:
    # One schedule for every family (short warm-up, cosine decay to a tenth) and the
    # learning rate that trains each family well on these problems with Adam. Clipping at
    # global norm 5.0 keeps the recurrent families' exploding gradients in check; the
    # Transformer, without recurrence, gets the usual 1.0.
    train = {"steps": 2000, "eval_every": 100, "log_every": 50, "schedule": "cosine",
             "warmup_steps": 50, "min_lr_ratio": 0.1, "betas": (0.9, 0.999),
             "weight_decay": 0.0}  # fmt: skip
    if family == "transformer":
        return {"train": {**train, "lr": 1e-3, "grad_clip": 1.0}}
    return {"train": {**train, "lr": 1e-3 if family == "rnn" else 3e-3, "grad_clip": 5.0}}


def cli_options() -> list[tuple[str, str, str, dict[str, Any]]]:
    return [
        ("--kind", "data", "kind", {"choices": ("recall", "adding", "copy"),
                                    "help": "which problem (default: recall)"}),
        ("--distance", "data", "distance",
         {"type": int, "help": "steps between the information and the answer"}),
    ]  # fmt: skip


OPTIONS = TaskOptions(
    name="memory",
    description="remember across a distance: recall, adding and copy problems",
    families=("rnn", "lstm", "gru", "transformer"),
    default_family="lstm",
    presets=presets(),
    family_defaults=family_defaults,
    cli_options=tuple(cli_options()),
)
