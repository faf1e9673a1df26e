"""``seqlab translate DIR TEXT...``: translations of sentences, of a text file of any length, and
the attention alignment of one sentence as a heatmap.

Texts on the command line give one translation per line, in order (line breaks inside a
translation become spaces, so line n is always text n's). ``--file`` reads a UTF-8 document (a
byte order mark is allowed; '-' is standard input) and translates it whole through
``TranslationPredictor.translate_document``: split at sentence boundaries into windows the
model can read, each with the sentence before it as context, and stitched back; the notes on
sentences that had to be cut go to standard error (and into the JSON). A file that is not UTF-8
is refused with the line and column of its first bad byte. ``--alignment FILE`` draws where the
decoder looked while translating the one text given (seqlab.tasks.translation.alignment_figure).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

from seqlab.errors import SeqlabError

# The command that serves a model directory of each other task.
_COMMAND_OF_TASK = {
    "sentiment": "seqlab predict DIR TEXT...",
    "forecasting": "seqlab forecast DIR --data CSV",
    "memory": "seqlab eval DIR",
}
_UTF8_BOM = b"\xef\xbb\xbf"
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
_LINE_BREAKS = re.compile(r"\s*[\r\n]+\s*")
# The most characters of the translation the figure's title shows.
_TITLE_CHARS = 60


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "translate",
        help="translate sentences or a text file with a trained translation model",
        description=(
            "Translate each TEXT with the translation model in DIR, one translation per line, "
            "or the UTF-8 text file --file (any length: translated in windows of whole "
            "sentences and stitched). --json prints one JSON object: "
            '{"translations": [...]}, or {"translation": ..., "notes": [...]} for --file. '
            "--alignment draws where the model looked while translating one TEXT."
        ),
    )
    parser.add_argument("model_dir", type=Path, metavar="DIR", help="a translation model directory")
    parser.add_argument("texts", nargs="*", metavar="TEXT", help="sentences to translate")
    parser.add_argument(
        "--file",
        type=Path,
        help="translate this UTF-8 text file, of any length, as one document ('-': standard input)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        metavar="FILE",
        help="write the output (the translations, or the JSON) to FILE instead of standard "
        "output, atomically",
    )
    parser.add_argument(
        "--beam",
        type=int,
        metavar="N",
        help="beam size (1: greedy search; default: the model's data.beam_size)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument(
        "--alignment",
        type=Path,
        metavar="PNG",
        help="draw the attention alignment of the one TEXT given as a heatmap (source subwords "
        "across, target subwords down) into this figure (.png, .svg or .pdf)",
    )
    parser.set_defaults(command=run)


def _check_request(args: argparse.Namespace) -> None:
    """Refuse, before loading the model, what cannot be answered."""
    if args.file is not None and args.texts:
        raise SeqlabError("give texts or --file FILE, not both")
    if args.file is None and not args.texts:
        raise SeqlabError("no texts given: pass them as arguments or a document with --file FILE")
    for number, text in enumerate(args.texts, start=1):
        if not text.strip():
            raise SeqlabError(f"text {number} is empty; give each text at least one word")
    if args.alignment is not None:
        if args.file is not None:
            raise SeqlabError("--alignment draws one sentence given as TEXT, not a --file document")
        if len(args.texts) != 1:
            raise SeqlabError(
                f"--alignment draws one sentence, but {len(args.texts)} texts were given; "
                "give exactly one TEXT"
            )
    if args.beam is not None and args.beam < 1:
        raise SeqlabError(f"--beam ({args.beam}) must be at least 1 (1: greedy search)")


def _check_task(model_dir: Path) -> None:
    """A directory of another task is refused from its config.json, before its weights load."""
    from seqlab.model_dir import ModelDir
    from seqlab.tasks.directory_checks import read_model_config

    task = read_model_config(ModelDir(model_dir))["task"]
    if task != "translation":
        command = _COMMAND_OF_TASK.get(task, "seqlab eval DIR").replace("DIR", str(model_dir))
        raise SeqlabError(
            f"{model_dir} holds a '{task}' model, which does not translate; use '{command}'"
        )


def read_document(path: Path) -> str:
    """The text of ``path`` (or standard input for '-'), decoded as UTF-8; bytes that are not
    UTF-8 are an error naming the line and column of the first."""
    from seqlab.data.file_bytes import read_file_bytes

    name = "standard input" if str(path) == "-" else str(path)
    data = sys.stdin.buffer.read() if str(path) == "-" else read_file_bytes(path, source=name)
    if data.startswith(_UTF16_BOMS):
        raise SeqlabError(
            f"{name} is UTF-16 text (it starts with a UTF-16 byte order mark); save it as UTF-8"
        )
    data = data.removeprefix(_UTF8_BOM)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        line, column = _line_and_column(data, error.start)
        raise SeqlabError(
            f"{name}:{line}: bytes that are not UTF-8 (at column {column}); save the file as UTF-8"
        ) from None
    if not text.strip():
        raise SeqlabError(f"{name} is empty; give a file with at least one sentence")
    return text


def _line_and_column(data: bytes, offset: int) -> tuple[int, int]:
    """1-based line and byte column of ``offset``; lines end at LF, CR LF or a lone CR."""
    lines = data[:offset].splitlines(keepends=True)
    if not lines or lines[-1].endswith((b"\n", b"\r")):
        return len(lines) + 1, 1
    return len(lines), len(lines[-1]) + 1


def _one_line(translation: str) -> str:
    return _LINE_BREAKS.sub(" ", translation).strip()


def _emit(args: argparse.Namespace, output: str) -> None:
    """Print ``output``, or write it to --out atomically."""
    if args.out is None:
        print(output, end="")
        return
    from seqlab.utils.io import atomic_write_text

    try:
        atomic_write_text(args.out, output)
    except OSError as error:
        raise SeqlabError(f"cannot write --out {args.out}: {error.strerror}") from None
    print(f"seqlab: wrote {args.out}", file=sys.stderr)


def _dumps(result: dict[str, Any]) -> str:
    return json.dumps(result, indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def run(args: argparse.Namespace) -> int:
    import seqlab

    _check_request(args)
    _check_task(args.model_dir)
    predictor = seqlab.load(args.model_dir)
    beam = predictor.beam_size if args.beam is None else args.beam
    if args.file is not None:
        document = predictor.translate_document(read_document(args.file), beam_size=beam)
        notes = document.notes()
        for note in notes:
            print(f"seqlab translate: {args.file}: {note}", file=sys.stderr)
        if args.json:
            _emit(args, _dumps({"translation": document.text, "notes": notes}))
        else:
            _emit(args, document.text + "\n")
        return 0
    alignment_record: dict[str, Any] | None = None
    if args.alignment is not None:
        from seqlab.tasks.translation.alignment_figure import draw_alignment

        alignment = predictor.alignment(args.texts[0], beam_size=beam)
        family = predictor.config.get("model", {}).get("family", "?")
        shown = alignment.translation
        if len(shown) > _TITLE_CHARS:
            shown = shown[: _TITLE_CHARS - 1] + "…"
        title = f"{predictor.model_dir.name} ({family}, beam {beam}): {shown}"
        try:
            written = draw_alignment(alignment, args.alignment, title=title)
        except OSError as error:
            raise SeqlabError(
                f"cannot write --alignment {args.alignment}: {error.strerror}"
            ) from None
        print(f"seqlab: wrote the alignment figure {written}", file=sys.stderr)
        translations = [alignment.translation]
        alignment_record = {
            "figure": str(written),
            "source_tokens": alignment.source_tokens,
            "target_tokens": alignment.target_tokens,
            "weights": alignment.weights,
        }
    else:
        translations = predictor.translate(args.texts, beam_size=beam)
    if args.json:
        result: dict[str, Any] = {"translations": translations}
        if alignment_record is not None:
            result["alignment"] = alignment_record
        _emit(args, _dumps(result))
    else:
        _emit(args, "".join(_one_line(translation) + "\n" for translation in translations))
    return 0
