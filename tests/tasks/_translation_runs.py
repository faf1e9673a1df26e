"""A generated parallel corpus and the arguments of a tiny translation run, shared by the
translation task, command-line and loading tests.

The "languages": source words are German number and colour words, each translated by one
English word, in the same order, so a tiny model learns the mapping in a few hundred steps and a
test can check that it did (and that BLEU against the references rises far above a guess).
"""

from __future__ import annotations

import random
from pathlib import Path

WORDS = {
    "eins": "one", "zwei": "two", "drei": "three", "vier": "four", "fünf": "five",
    "rot": "red", "blau": "blue", "grün": "green", "gelb": "yellow", "schwarz": "black",
}  # fmt: skip


def sentence_pairs(count: int, *, seed: int = 0) -> list[tuple[str, str]]:
    """``count`` pairs of 2 to 5 words, translated word by word, with a final period."""
    rng = random.Random(seed)
    german = sorted(WORDS)
    pairs = []
    for _ in range(count):
        words = [rng.choice(german) for _ in range(rng.randint(2, 5))]
        source = " ".join(words).capitalize() + "."
        target = " ".join(WORDS[word] for word in words).capitalize() + "."
        pairs.append((source, target))
    return pairs


def write_table(path: Path, pairs: list[tuple[str, str]]) -> Path:
    """The pairs as a TSV with a ``source`` and a ``target`` column."""
    lines = ["source\ttarget", *(f"{source}\t{target}" for source, target in pairs)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def write_aligned(folder: Path, pairs: list[tuple[str, str]], stem: str) -> tuple[Path, Path]:
    """The pairs as two files aligned by line, ``STEM.de`` and ``STEM.en``."""
    source, target = folder / f"{stem}.de", folder / f"{stem}.en"
    source.write_text("".join(f"{s}\n" for s, _ in pairs), encoding="utf-8")
    target.write_text("".join(f"{t}\n" for _, t in pairs), encoding="utf-8")
    return source, target


TINY_SETTINGS = {
    "transformer": ["model.d_model=32", "model.num_heads=2", "model.num_encoder_layers=1",
                    "model.num_decoder_layers=1", "model.dim_feedforward=64",
                    "model.dropout=0.0", "train.lr=3e-3", "train.warmup_steps=30"],
    "lstm": ["model.hidden_size=32", "model.num_layers=1", "model.dropout=0.0",
             "train.lr=1e-2", "train.warmup_steps=10"],
    "gru": ["model.hidden_size=32", "model.num_layers=1", "model.dropout=0.0",
            "train.lr=1e-2", "train.warmup_steps=10"],
}  # fmt: skip


def train_args(data: Path, out: Path, *, model: str = "transformer", steps: int = 300) -> list[str]:
    """`seqlab train translation` of a tiny model on the TSV ``data`` (5% held out)."""
    settings = [*TINY_SETTINGS[model], "data.vocab_size=300", "data.max_tokens=600",
                "data.beam_size=2", "train.eval_every=100", "train.device=cpu",
                "train.weight_average_decay=null",
                "train.early_stopping_patience=null"]  # fmt: skip
    return [
        "train", "translation", "--model", model, "--data", str(data), "--steps", str(steps),
        *(arg for setting in settings for arg in ("--set", setting)), "--quiet", "--out", str(out),
    ]  # fmt: skip
