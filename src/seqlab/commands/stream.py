"""``seqlab stream DIR``: the running sentiment of text read from standard input as it arrives.

Input is UTF-8 (RFC 3629), decoded as it arrives: a character split across two reads waits for
its other bytes (at most 3 are held back), and bytes that are not UTF-8 become U+FFFD (the
replacement character), with a warning on standard error naming the input line, so the stream
goes on. A text keeps at most the model's ``data.max_chars`` characters (the rest, up to the next
empty line, is passed over with a warning): nothing read is buffered without bound.
"""

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
            "prefix; each line shows the measured cost per token. An empty line resets. Bytes "
            "that are not UTF-8 are replaced by U+FFFD, with a warning naming the input line."
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


class InputDecoder:
    """UTF-8 bytes in, text out, as they arrive. Bytes that are not UTF-8 become U+FFFD and
    their (1-based) input line goes into ``bad_lines``; the first bytes of a character that has
    not fully arrived wait for the next call (``final=True``: no more will come)."""

    def __init__(self) -> None:
        self.line = 1  # the input line the next decoded character is on
        self.bad_lines: list[int] = []
        self._held = b""  # at most 3 bytes: an unfinished character

    def decode(self, block: bytes, *, final: bool = False) -> str:
        data, self._held = self._held + block, b""
        parts: list[str] = []
        while data:
            try:
                parts.append(self._counted(data.decode("utf-8")))
                break
            except UnicodeDecodeError as err:
                parts.append(self._counted(data[: err.start].decode("utf-8")))
                if err.end == len(data) and not final and err.reason == "unexpected end of data":
                    self._held = data[err.start :]
                    break
                if not self.bad_lines or self.bad_lines[-1] != self.line:
                    self.bad_lines.append(self.line)
                parts.append("\ufffd")
                data = data[err.end :]
        return "".join(parts)

    @property
    def held_bytes(self) -> int:
        """How many bytes of an unfinished character wait for the next call (at most 3)."""
        return len(self._held)

    def _counted(self, text: str) -> str:
        self.line += text.count("\n")
        return text


def run(args: argparse.Namespace) -> int:
    import seqlab

    predictor = seqlab.load(args.model_dir)
    if not hasattr(predictor, "stream"):
        raise SeqlabError(f"{args.model_dir} holds a '{predictor.task}' model, which cannot stream")
    stream: ClassifierStream = predictor.stream()
    descriptor = sys.stdin.fileno()
    splitter = _Splitter()
    decoder = InputDecoder()
    warned = 0  # how many of decoder.bad_lines have been reported
    clipped_warned = False
    while True:
        block = os.read(descriptor, 4096)  # returns as soon as any input arrives
        line = decoder.line  # the input line the chunk starts on
        chunk = decoder.decode(block, final=not block)
        for line in decoder.bad_lines[warned:]:
            _warn(f"standard input line {line}: bytes that are not UTF-8, read as U+FFFD; "
                  "send UTF-8 text")  # fmt: skip
        warned = len(decoder.bad_lines)
        for piece in splitter.pieces(chunk):
            if piece is RESET:  # the line end of an empty line
                line += 1
                stream.reset()
                clipped_warned = False
                continue
            result = stream.push(piece)
            if result.clipped and not clipped_warned:
                _warn(f"standard input line {line}: the text reached "
                      f"{stream.max_chars:,} characters (data.max_chars); the rest up to the "
                      "next empty line is not read")  # fmt: skip
                clipped_warned = True
            line += piece.count("\n")
            if result.new_tokens == 0 and piece.strip() == "":
                continue
            _print(result, as_json=args.json)
        if not block:
            break
    return 0


def _warn(message: str) -> None:
    print(f"seqlab stream: {message}", file=sys.stderr, flush=True)


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
