"""The translation task's command-line face: its description, families, presets and flags.

Torch-free (seqlab.tasks.options), so ``seqlab train --help`` never loads a model.
"""

from __future__ import annotations

from typing import Any

from seqlab.models.seq2seq_config import Seq2SeqRecurrentConfig, Seq2SeqTransformerConfig
from seqlab.tasks.options import TaskOptions


def presets() -> dict[str, dict[str, Any]]:
    return {
        # A 3+3-layer, 256-wide Transformer (the size of the best-known Multi30k tutorials)
        # and a 2-layer attention LSTM/GRU, sized to train on a laptop CPU; BPE joint vocabulary
        # of 8,000 shared by both embeddings and the output projection. Validation BLEU
        # (greedy) picks the best checkpoint; the exponential average of the weights stands in
        # for averaging the last checkpoints. 4,000 steps of 4,096-token batches are about 17
        # epochs of Multi30k: the Transformer's validation BLEU (greedy) climbed from 36.1 at
        # step 2,000 to 39.8 at 3,500, still gaining 0.8 in those last 500 steps.
        "cpu-small": {
            "data": {"vocab_size": 8000, "joint_vocabulary": True, "max_tokens": 4096},
            "train": {"steps": 4000, "eval_every": 500, "log_every": 50,
                      "weight_average_decay": 0.999, "early_stopping_patience": 4},
            "model_by_family": {
                "transformer": {"d_model": 256, "num_heads": 8, "num_encoder_layers": 3,
                                "num_decoder_layers": 3, "dim_feedforward": 1024,
                                "dropout": 0.2, "max_len": 512, "share_embeddings": True},
                **{family: {"hidden_size": 256, "num_layers": 2, "attention": "general",
                            "dropout": 0.3, "share_embeddings": True}
                   for family in ("lstm", "gru")},
            },
            "train_by_family": {
                "transformer": {"lr": 1e-3, "warmup_steps": 1000},
                "lstm": {"lr": 2e-3, "warmup_steps": 200},
                "gru": {"lr": 2e-3, "warmup_steps": 200},
            },
        },
        # Vaswani et al. 2017, Table 3 "base" and sec. 5.1-5.4: the model defaults, batches of
        # about 25,000 tokens, Adam (0.9, 0.98, 1e-9), 4,000 warm-up steps, lr d_model^-0.5 x
        # warmup^-0.5 at its peak (7e-4), 100,000 steps. A GPU's recipe, not a CPU's.
        "base": {
            "data": {"vocab_size": 37000, "max_tokens": 25000},
            "train": {"steps": 100_000, "eval_every": 5000, "lr": 7e-4, "warmup_steps": 4000,
                      "weight_average_decay": 0.9999},
        },
    }  # fmt: skip


def family_defaults(family: str) -> dict[str, Any]:
    train = {"schedule": "inverse_sqrt", "betas": (0.9, 0.98), "eps": 1e-9, "weight_decay": 0.0,
             "grad_clip": 1.0, "steps": 20_000, "eval_every": 1000, "lr": 7e-4,
             "warmup_steps": 4000, "early_stopping_patience": 5}  # fmt: skip
    if family == "transformer":
        return {"train": train}
    # Recurrent encoder-decoders: a short warm-up and clipping at 5 (Luong et al. 2015).
    return {"train": {**train, "lr": 1e-3, "warmup_steps": 200, "grad_clip": 5.0}}


def model_config_class(family: str) -> type:
    return Seq2SeqTransformerConfig if family == "transformer" else Seq2SeqRecurrentConfig


def cli_options() -> list[tuple[str, str, str, dict[str, Any]]]:
    return [
        ("--source-lang", "data", "source_lang",
         {"help": "the language translated from (multi30k: de or en; default de)"}),
        ("--target-lang", "data", "target_lang",
         {"help": "the language translated into (multi30k: en or de; default en)"}),
        ("--data", "data", "train_file",
         {"help": "your parallel TSV/CSV/JSONL file with source and target columns "
                  "(default: the multi30k data set)"}),
        ("--source-file", "data", "train_source_file",
         {"help": "your source sentences, one a line (plain or gzip), with --target-file"}),
        ("--target-file", "data", "train_target_file",
         {"help": "their translations, aligned by line with --source-file"}),
        ("--val-data", "data", "val_file",
         {"help": "a validation file (default: hold out 5%% of the training pairs)"}),
        ("--source-column", "data", "source_column",
         {"help": "the source column of --data (default: source)"}),
        ("--target-column", "data", "target_column",
         {"help": "the target column of --data (default: target)"}),
        ("--strict", "data", "strict",
         {"action": "store_true", "default": None,
          "help": "fail on the first empty, undecodable or over-long pair"}),
    ]  # fmt: skip


OPTIONS = TaskOptions(
    name="translation",
    description="translate sentences (Multi30k de<->en, or your parallel corpus)",
    families=("transformer", "lstm", "gru"),
    default_family="transformer",
    presets=presets(),
    family_defaults=family_defaults,
    cli_options=tuple(cli_options()),
    model_config_class=model_config_class,
    batches_by_rows=False,  # batches are filled to data.max_tokens
)
