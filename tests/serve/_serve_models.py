"""Tiny trained model directories for the service's tests: each trains in a few seconds on
generated data (the tasks' own tiny-run helpers), so every route has a real model behind it."""

from __future__ import annotations

import csv
import random
from pathlib import Path

from _lm_runs import periodic_text, write_text
from _lm_runs import train_args as lm_args
from _translation_runs import sentence_pairs, write_table
from _translation_runs import train_args as translation_args

from seqlab import cli

REVIEW_WORDS = {
    "positive": ["good", "great", "wonderful", "lovely", "superb"],
    "negative": ["bad", "awful", "terrible", "boring", "poor"],
}


def _reviews(count: int, seed: int) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    subjects = ["the movie", "this film", "the plot", "the acting", "the story"]
    rows = []
    for index in range(count):
        label = "positive" if index % 2 else "negative"
        rows.append((f"{rng.choice(subjects)} was {rng.choice(REVIEW_WORDS[label])}", label))
    return rows


def train_sentiment_transformer(folder: Path) -> Path:
    """A 2-layer, 2-head Transformer classifier (so attention maps have layers and heads)."""
    data = folder / "reviews.csv"
    with data.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        writer.writerows(_reviews(120, seed=0))
    settings = ["model.d_model=16", "model.num_heads=2", "model.num_layers=2",
                "model.dim_feedforward=32", "data.vocab_size=100", "train.eval_every=40",
                "train.batch_size=16", "train.warmup_steps=2", "train.lr=3e-3"]  # fmt: skip
    out = folder / "model"
    args = ["train", "sentiment", "--model", "transformer", "--data", str(data),
            "--steps", "80", *(arg for s in settings for arg in ("--set", s)),
            "--quiet", "--out", str(out)]  # fmt: skip
    assert cli.main(args) == 0
    return out


def train_translation(folder: Path) -> Path:
    """A tiny Transformer translator of number and colour words (tests/tasks/_translation_runs)."""
    data = write_table(folder / "pairs.tsv", sentence_pairs(400))
    out = folder / "model"
    assert cli.main(translation_args(data, out, steps=150)) == 0
    return out


def train_lm(folder: Path) -> Path:
    """A tiny character Transformer language model of one repeated line (tests/tasks/_lm_runs)."""
    data = write_text(folder / "text.txt", periodic_text(6000))
    out = folder / "model"
    assert cli.main(lm_args(data, out, steps=150)) == 0
    return out
