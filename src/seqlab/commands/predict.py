"""``seqlab predict DIR TEXT...``: labels and confidence scores for texts, as JSON or a table.

``--file``: one text a line, UTF-8 (a byte order mark is allowed); lines of white space are not
texts and are passed over; a line that is not UTF-8 stops the command with its line number (the
results are numbered by text, so none may go missing). A text longer than the model's
``data.max_chars`` characters is read up to there, with a warning on standard error naming it.
"""

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
        "--file",
        type=Path,
        help="read texts from this UTF-8 file, one per line, blank lines passed over "
        "('-': standard input)",
    )
    parser.add_argument("--format", choices=("json", "table"), default="json")
    parser.set_defaults(command=run)


def _read_texts(args: argparse.Namespace) -> list[tuple[str, str]]:
    """Each text with where it came from ("text 2" for an argument, "FILE:LINE")."""
    texts = [(f"text {index}", text) for index, text in enumerate(args.texts, start=1)]
    if args.file is not None:
        texts += _file_texts(args.file)
    if not texts:
        raise SeqlabError("no texts given: pass them as arguments or with --file FILE")
    return texts


def _file_texts(path: Path) -> list[tuple[str, str]]:
    name = "standard input" if str(path) == "-" else str(path)
    try:
        data = sys.stdin.buffer.read() if str(path) == "-" else path.read_bytes()
    except OSError as error:
        raise SeqlabError(f"cannot read {path}: {error.strerror}") from None
    texts = []
    for number, raw in enumerate(data.removeprefix(b"\xef\xbb\xbf").splitlines(), start=1):
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as error:
            raise SeqlabError(
                f"{name}:{number}: bytes that are not UTF-8 (at column {error.start + 1}); save "
                "the file as UTF-8"
            ) from None
        if line.strip():
            texts.append((f"{name}:{number}", line))
    return texts


def _warn_long_texts(texts: list[tuple[str, str]], max_chars: int) -> None:
    for where, text in texts:
        if len(text) > max_chars:
            print(
                f"seqlab predict: {where}: a text of {len(text):,} characters, read up to its "
                f"first {max_chars:,} (the model's data.max_chars)",
                file=sys.stderr,
            )


def run(args: argparse.Namespace) -> int:
    import seqlab

    predictor = seqlab.load(args.model_dir)
    if not hasattr(predictor, "probabilities"):
        raise SeqlabError(
            f"{args.model_dir} holds a '{predictor.task}' model, which does not classify texts"
        )
    sourced = _read_texts(args)
    max_chars = getattr(predictor, "max_chars", None)
    if max_chars is not None:
        _warn_long_texts(sourced, max_chars)
    texts = [text for _, text in sourced]
    results = predictor.predict(texts)
    if args.format == "json":
        print(json.dumps({"documents": results}, indent=2, ensure_ascii=False))
        return 0
    from rich.table import Table

    from seqlab.utils.console import output_console

    table = Table()
    table.add_column("text")
    table.add_column("label")
    for label in predictor.labels:
        table.add_column(label, justify="right")
    for text, result in zip(texts, results, strict=True):
        scores = result["confidenceScores"]
        table.add_row(text, result["sentiment"], *(f"{scores[label]:.3f}" for label in scores))
    output_console().print(table)
    return 0
