"""Generated movie reviews for the sentiment tests: short template sentences whose label is
given away by one adjective, so a tiny model learns them in a few dozen steps.

Three orders of the same templates, each exactly what a test module was written against:
``alternating_reviews`` (negative and positive in turn), ``grouped_reviews`` (all positive rows,
then all negative ones) and ``shuffled_reviews`` (the grouped rows in a random order).
"""

from __future__ import annotations

import csv
import itertools
import random
from collections.abc import Sequence
from pathlib import Path

SUBJECTS = ["the movie", "this film", "the plot", "the acting", "the story", "the ending"]
VERBS = ["was", "is", "seemed", "felt"]
ADVERBS = ["really", "very", "quite", "so", "truly"]
ADJECTIVES = {
    "positive": ["good", "great", "wonderful", "lovely", "excellent", "superb"],
    "negative": ["bad", "awful", "terrible", "boring", "dreadful", "poor"],
}

Row = tuple[str, str]  # (text, label)


def _templates(words: list[str]) -> list[tuple[str, str, str, str]]:
    return list(itertools.product(SUBJECTS, VERBS, ADVERBS, words))


def alternating_reviews(count: int, *, seed: int = 0) -> list[Row]:
    """``count`` distinct (text, label) rows, alternating negative/positive."""
    rng = random.Random(seed)
    pools = {label: rng.sample(_templates(words), count) for label, words in ADJECTIVES.items()}
    rows = []
    for index in range(count):
        label = "positive" if index % 2 else "negative"
        rows.append((" ".join(pools[label][index]), label))
    return rows


def _grouped(rng: random.Random, count: int) -> list[Row]:
    rows: list[Row] = []
    for label, words in ADJECTIVES.items():
        rows += [(" ".join(combo), label) for combo in rng.sample(_templates(words), count // 2)]
    return rows


def grouped_reviews(count: int, *, seed: int = 0) -> list[Row]:
    """``count // 2`` distinct positive rows, then as many distinct negative ones."""
    return _grouped(random.Random(seed), count)


def shuffled_reviews(count: int, *, seed: int = 0) -> list[Row]:
    """The rows of ``grouped_reviews(count, seed=seed)`` in an order drawn from the same
    generator."""
    rng = random.Random(seed)
    rows = _grouped(rng, count)
    rng.shuffle(rows)
    return rows


def write_csv(
    path: Path, rows: Sequence[Sequence[str]], header: Sequence[str] = ("text", "label")
) -> Path:
    """``rows`` under ``header`` as a CSV file at ``path``; returns ``path``."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path
