"""``seqlab stream DIR``: the running sentiment of text read from standard input as it arrives."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from seqlab.errors import SeqlabError

if TYPE_CHECKING:
    from seqlab.infer.streaming import ClassifierStream, StreamResult


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "stream",
        help="print the running sentiment of standard input after every token",
        description=(
            "Read text from standard input as it arrives (typed, or piped from a chat) and print "
            "the running label after every word. A unidirectional recurrent model spends one "
            "recurrent step per new token; a bidirectional or Transformer model re-encodes the "
            "prefix; each line shows the measured cost per token. An empty line resets."
        ),
    )
    parser.add_argument("model_dir", type=Path, metavar="DIR", help="a model directory")
    parser.add_argument("--json", action="store_true", help="one JSON object per update")
    parser.set_defaults(command=run)


RESET = None  # a piece meaning "an empty line: start a new text"


class _Splitter:
    """Cuts arriving text into pieces that each end after a word and the space that follows it,
    and an empty line into RESET; remembers across reads whether the current line has text."""

    def __init__(self) -> None:
        self.line_has_text = False

    def pieces(self, chunk: str) -> list[str | None]:
        pieces: list[str | None] = []
        current = ""
        for character in chunk:
            if character == "\n" and not self.line_has_text:
                if current:
                    pieces.append(current)
                    current = ""
                pieces.append(RESET)
                continue
            current += character
            if character == "\n":
                self.line_has_text = False
            elif not character.isspace():
                self.line_has_text = True
            if character.isspace() and current.strip():
                pieces.append(current)
                current = ""
        if current:
            pieces.append(current)
        return pieces


def run(args: argparse.Namespace) -> int:
    import seqlab

    predictor = seqlab.load(args.model_dir)
    if not hasattr(predictor, "stream"):
        raise SeqlabError(f"{args.model_dir} holds a '{predictor.task}' model, which cannot stream")
    stream: ClassifierStream = predictor.stream()
    descriptor = sys.stdin.fileno()
    splitter = _Splitter()
    pending = b""
    while True:
        block = os.read(descriptor, 4096)  # returns as soon as any input arrives
        if not block:
            break
        pending += block
        try:
            chunk, pending = pending.decode("utf-8"), b""
        except UnicodeDecodeError:
            continue  # a multi-byte character split across reads: wait for the rest
        for piece in splitter.pieces(chunk):
            if piece is RESET:
                stream.reset()
                continue
            result = stream.push(piece)
            if result.new_tokens == 0 and piece.strip() == "":
                continue
            _print(result, as_json=args.json)
    return 0


def _print(result: StreamResult, *, as_json: bool) -> None:
    cost_ms = result.seconds_per_token * 1e3
    if as_json:
        print(json.dumps({"text": result.text, "tokens": result.tokens, "sentiment": result.label,
                          "confidenceScores": result.scores, "mode": result.mode,
                          "ms_per_token": round(cost_ms, 4)}), flush=True)  # fmt: skip
        return
    scores = " ".join(f"{label} {p:.2f}" for label, p in result.scores.items())
    shown = result.text.strip().replace("\n", " ")[-50:]
    print(f"[{result.tokens:3d} tokens] {result.label:>10s} ({scores}) "
          f"{cost_ms:.2f} ms/token {result.mode} | {shown}", flush=True)  # fmt: skip
