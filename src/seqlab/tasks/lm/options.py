"""The language-model task's command-line face: its description, families, presets and flags.

Torch-free (seqlab.tasks.options), so ``seqlab train --help`` never loads a model.
"""

from __future__ import annotations

from typing import Any

from seqlab.models.language_model_config import LMRecurrentConfig, LMTransformerConfig
from seqlab.tasks.options import TaskOptions


def presets() -> dict[str, dict[str, Any]]:
    return {
        # Sized for a 10-minute budget on a laptop CPU, one thread (train.max_seconds stops a
        # slower machine there): a 4-layer, 128-wide Transformer over 128 characters, or one
        # LSTM layer of 512 units over segments of 128, batches of 32. The step budgets are
        # what fits in the ten minutes (about 0.4 s and 0.7 s a step), so the cosine schedule
        # decays to its floor by the end.
        "cpu-small": {
            "train": {"eval_every": 250, "log_every": 50, "max_seconds": 600,
                      "batch_size": 32, "lr": 2e-3, "warmup_steps": 100},
            "model_by_family": {
                "transformer": {"num_layers": 4, "num_heads": 4, "d_model": 128,
                                "context": 128, "dropout": 0.0},
                **{family: {"hidden_size": 512, "num_layers": 1, "dropout": 0.0}
                   for family in ("lstm", "gru", "rnn")},
            },
            "train_by_family": {
                "transformer": {"steps": 1500},
                **{family: {"steps": 800} for family in ("lstm", "gru", "rnn")},
            },
        },
        # nanoGPT's config/train_shakespeare_char.py ("baby GPT", a GPU run): 6 layers, 6 heads,
        # 384 wide, context 256, dropout 0.2, batches of 64, lr 1e-3 with 100 warm-up steps and
        # cosine decay to 1e-4 over 5,000 steps, Adam betas (0.9, 0.99).
        "nanogpt": {
            "train": {"steps": 5000, "batch_size": 64, "lr": 1e-3, "warmup_steps": 100,
                      "schedule": "cosine", "min_lr_ratio": 0.1, "betas": (0.9, 0.99),
                      "eval_every": 250, "weight_decay": 0.1},
        },
    }  # fmt: skip


def family_defaults(family: str) -> dict[str, Any]:
    train = {"schedule": "cosine", "min_lr_ratio": 0.1, "betas": (0.9, 0.99), "eps": 1e-8,
             "weight_decay": 0.1, "grad_clip": 1.0, "steps": 5000, "eval_every": 250,
             "batch_size": 64, "lr": 1e-3, "warmup_steps": 100}  # fmt: skip
    if family == "transformer":
        return {"train": train}
    # Recurrent language models: a larger Adam step and no weight decay (dropout regularises
    # them, Zaremba et al. 2014); the gradient norm clipped at 1 as for the Transformer.
    return {"train": {**train, "weight_decay": 0.0, "grad_clip": 1.0, "lr": 2e-3}}


def model_config_class(family: str) -> type:
    return LMTransformerConfig if family == "transformer" else LMRecurrentConfig


def cli_options() -> list[tuple[str, str, str, dict[str, Any]]]:
    return [
        ("--data", "data", "file",
         {"help": "your UTF-8 text file, or a folder of .txt files (default: tinyshakespeare)"}),
        ("--val-data", "data", "val_file",
         {"help": "a validation text (default: the last 10%% of --data)"}),
        ("--vocabulary", "data", "vocabulary",
         {"choices": ("char", "bpe"), "help": "characters (default) or byte-level BPE"}),
    ]  # fmt: skip


OPTIONS = TaskOptions(
    name="lm",
    description="model and generate text (Tiny Shakespeare or your UTF-8 text)",
    families=("transformer", "lstm", "gru", "rnn"),
    default_family="transformer",
    presets=presets(),
    family_defaults=family_defaults,
    cli_options=tuple(cli_options()),
    model_config_class=model_config_class,
)
