"""``seqlab export DIR --format onnx|int8 --out PATH``: a trained model for other runtimes, or
smaller and faster.

- ``onnx``: one ONNX file (seqlab.export.onnx_export) with dynamic batch and length axes, for
  ONNX Runtime and every other ONNX consumer; sentiment classifiers and forecasters.
- ``int8``: a new model directory with dynamically quantised int8 weights
  (seqlab.export.int8_dir) that seqlab.load, ``seqlab predict`` and ``seqlab serve`` read.

Every refusal is one line: an unknown format (the formats listed), a missing directory, a task
that cannot be exported (the supported ones listed), an --out of the wrong kind.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from seqlab.errors import SeqlabError

FORMATS: tuple[str, ...] = ("onnx", "int8")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "export",
        help="export a model directory to ONNX, or to a model directory with int8 weights",
        description=(
            "Export the model in DIR. --format onnx writes one ONNX file (inputs: token ids and "
            "lengths for a sentiment classifier, the scaled window for a forecaster; dynamic "
            "batch and length axes; metadata: task, inputs, labels, seqlab version). --format "
            "int8 writes a new model directory whose Linear, attention-projection and LSTM/GRU "
            "weights are int8 (dynamic quantisation), which seqlab predict and seqlab serve "
            "read like any other."
        ),
    )
    parser.add_argument("model_dir", type=Path, metavar="DIR", help="a trained model directory")
    parser.add_argument(
        "--format",
        required=True,
        metavar="FORMAT",
        help=f"what to write: {' or '.join(FORMATS)}",
    )
    parser.add_argument(
        "--out",
        type=Path,
        required=True,
        help="the ONNX file to write (onnx), or the new model directory (int8; must not exist "
        "or be empty)",
    )
    parser.set_defaults(command=run)


def check_out(out: Path, export_format: str) -> None:
    """Refuse an --out of the wrong kind before anything is loaded."""
    if export_format == "onnx" and out.is_dir():
        raise SeqlabError(
            f"--out '{out}' is a folder; --format onnx writes one file: name the file, e.g. "
            f"{out / 'model.onnx'}"
        )
    if export_format == "int8":
        if out.exists() and not out.is_dir():
            raise SeqlabError(
                f"--out '{out}' is a file; --format int8 writes a model directory: name a new "
                "folder"
            )
        if out.is_dir() and any(out.iterdir()):
            raise SeqlabError(
                f"--out '{out}' is a folder that is not empty; --format int8 writes a new model "
                "directory: name a new folder, or empty this one"
            )


def run(args: argparse.Namespace) -> int:
    export_format = str(args.format).lower()
    if export_format not in FORMATS:
        raise SeqlabError(f"unknown format '{args.format}'; choose one of: {', '.join(FORMATS)}")
    source: Path = args.model_dir
    out: Path = args.out
    check_out(out, export_format)
    out.parent.mkdir(parents=True, exist_ok=True)
    if export_format == "int8":
        from seqlab.export.int8_dir import export_int8

        field = export_int8(source, out)
        kept = field["float_layers"]
        note = f"; kept float32: {', '.join(kept)}" if kept else ""
        print(f"wrote {out}: {field['int8_layers']} layers in int8{note}")
        return 0
    from seqlab.export.onnx_export import export_model_onnx
    from seqlab.export.onnx_models import NOT_ONE_GRAPH, ONNX_TASKS
    from seqlab.model_dir import ModelDir, quantization_of
    from seqlab.tasks.directory_checks import read_model_config
    from seqlab.tasks.runner import load_trained

    directory = ModelDir(source)
    config = read_model_config(directory)
    if quantization_of(config, directory) is not None:
        raise SeqlabError(
            f"'{source}' holds an int8 model, which cannot be exported to ONNX (its quantised "
            "kernels are torch's own); export the float32 directory it was made from"
        )
    if config["task"] not in ONNX_TASKS:
        raise SeqlabError(
            f"'{source}' holds a model of the {config['task']} task, which cannot be exported to "
            f"ONNX ({NOT_ONE_GRAPH.get(config['task'], 'it is not one graph')}); --format onnx "
            f"exports the tasks {', '.join(ONNX_TASKS)}"
        )
    _, model, config = load_trained(directory, config)
    export_model_onnx(model, config, out, source=str(source))
    print(f"wrote {out}")
    return 0
