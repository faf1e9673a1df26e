"""``seqlab predict DIR TEXT...``: labels and confidence scores for texts, as JSON or a table."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from seqlab.errors import SeqlabError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "predict",
        help="predict with a trained model directory (texts on the command line or a file)",
        description=(
            "Predict the label of each text with the model in DIR. Output: one JSON object "
            '{"documents": [{"id", "sentiment", "confidenceScores": {label: p}}]} (the Azure AI '
            "Language sentiment shape), or a table with --format table."
        ),
    )
    parser.add_argument("model_dir", type=Path, metavar="DIR", help="a model directory")
    parser.add_argument("texts", nargs="*", metavar="TEXT", help="texts to classify")
    parser.add_argument(
        "--file", type=Path, help="read texts from this file, one per line ('-': standard input)"
    )
    parser.add_argument("--format", choices=("json", "table"), default="json")
    parser.set_defaults(command=run)


def _read_texts(args: argparse.Namespace) -> list[str]:
    texts = list(args.texts)
    if args.file is not None:
        try:
            handle = sys.stdin if str(args.file) == "-" else args.file.open(encoding="utf-8")
        except OSError as error:
            raise SeqlabError(f"cannot read {args.file}: {error.strerror}") from None
        with handle:
            try:
                texts += [line.rstrip("\n") for line in handle if line.strip()]
            except UnicodeDecodeError as error:
                raise SeqlabError(f"{args.file} is not UTF-8 text ({error.reason})") from None
    if not texts:
        raise SeqlabError("no texts given: pass them as arguments or with --file FILE")
    return texts


def run(args: argparse.Namespace) -> int:
    import seqlab

    predictor = seqlab.load(args.model_dir)
    if not hasattr(predictor, "probabilities"):
        raise SeqlabError(
            f"{args.model_dir} holds a '{predictor.task}' model, which does not classify texts"
        )
    texts = _read_texts(args)
    results = predictor.predict(texts)
    if args.format == "json":
        print(json.dumps({"documents": results}, indent=2, ensure_ascii=False))
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table()
    table.add_column("text")
    table.add_column("label")
    for label in predictor.labels:
        table.add_column(label, justify="right")
    for text, result in zip(texts, results, strict=True):
        scores = result["confidenceScores"]
        table.add_row(text, result["sentiment"], *(f"{scores[label]:.3f}" for label in scores))
    Console().print(table)
    return 0
