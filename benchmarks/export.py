"""Export and fast inference: float32 against int8, eager against ONNX Runtime, on trained models.

For each trained model directory given, this script writes its int8 directory
(``seqlab export DIR --format int8``) and its ONNX file (``--format onnx``) into ``--work``, then:

- latency of one forward pass of the network (tokenising excluded) at batch 1 and batch 32, for
  float32 eager (the reference), int8 eager (the int8 directory loaded by seqlab.load) and
  float32 ONNX Runtime; all three are timed in turn inside each round
  (_report.interleaved_medians), so the ratios against float32 eager share the machine's noise.
  Sentiment inputs are SST-2 dev sentences (batch 1: one of median length; batch 32: the first
  32, padded to the longest); forecasting inputs are ETTh1 test windows;
- quality: SST-2 dev accuracy (872 sentences; GLUE's test labels are private, so dev is what
  seqlab's sentiment task reports as its test split) or ETTh1 test MSE (scaled units, the task's
  ``mse``), float32 against int8, and the largest |ONNX Runtime - eager| output difference on
  the latency batch.

Target (issue 17): int8 at least 1.5 times faster than float32 at batch 32 for the recurrent
and Transformer classifiers, with at most 0.5 points of accuracy lost.

Usage: python benchmarks/export.py [--models NAME=DIR,...] [--work DIR] [--threads 1]
       [--repeats 30] [--no-record]
Default models: lstm=runs/serve-bench/lstm (one direction, 128 units: the streaming classifier),
bilstm=runs/export-bench/bilstm, transformer=runs/export-bench/transformer-sst2,
minilm=runs/serve-bench/minilm-500, forecast-transformer=runs/export-bench/transformer-etth1;
bilstm, transformer and forecast-transformer are ``seqlab train sentiment|forecasting --model
lstm|transformer --preset cpu-small`` (the transformer with ``--set
train.max_seconds=420``). Needs SEQLAB_DATA, and the ``export`` extra.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import append_section, interleaved_medians, markdown_table, positive_int  # noqa: E402
from seqlab.data.batching import pad_batch  # noqa: E402
from seqlab.export.int8_dir import export_int8  # noqa: E402
from seqlab.export.onnx_export import export_model_onnx  # noqa: E402
from seqlab.tasks.runner import evaluate_split, load_trained  # noqa: E402

DEFAULT_MODELS = (
    "lstm=runs/serve-bench/lstm,bilstm=runs/export-bench/bilstm,"
    "transformer=runs/export-bench/transformer-sst2,minilm=runs/serve-bench/minilm-500,"
    "forecast-transformer=runs/export-bench/transformer-etth1"
)
QUALITY = {
    "sentiment": ("accuracy", "SST-2 dev accuracy"),
    "forecasting": ("mse", "ETTh1 test MSE"),
}


def parse_models(text: str) -> dict[str, Path]:
    models = {}
    for part in text.split(","):
        name, _, path = part.partition("=")
        if not name or not path:
            raise SystemExit(f"--models: '{part}' must be NAME=DIR")
        models[name.strip()] = Path(path.strip())
    return models


def sentiment_inputs(task: Any) -> dict[int, tuple[torch.Tensor, ...]]:
    """Batch size -> (ids (B, T), lengths (B,)) cut from SST-2 dev."""
    data = task.text_data
    encoded = data.encode(list(data.split("test").texts)).ids
    by_length = sorted(encoded, key=len)
    one = pad_batch([by_length[len(by_length) // 2]], pad_id=data.encoder.pad_id)
    many = pad_batch(encoded[:32], pad_id=data.encoder.pad_id)
    return {1: (one.ids, one.lengths), 32: (many.ids, many.lengths)}


def forecasting_inputs(task: Any) -> dict[int, tuple[torch.Tensor, ...]]:
    """Batch size -> (window (B, T, F),) from ETTh1's test windows."""
    windows = task.series_data.windows("test").batch(range(32)).inputs  # (32, T, F)
    return {1: (windows[:1],), 32: (windows,)}


def onnx_feed(names: list[str], inputs: tuple[torch.Tensor, ...]) -> dict[str, np.ndarray]:
    return {name: tensor.numpy() for name, tensor in zip(names, inputs, strict=True)}


def measure(name: str, source: Path, work: Path, threads: int, repeats: int) -> dict[str, Any]:
    import onnxruntime as ort

    int8_dir, onnx_file = work / f"{name}-int8", work / f"{name}.onnx"
    shutil.rmtree(int8_dir, ignore_errors=True)
    export_int8(source, int8_dir)
    task, float_model, config = load_trained(source)
    export_model_onnx(float_model, config, onnx_file, source=str(source))
    int8_task, int8_model, _ = load_trained(int8_dir)
    options = ort.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
    session = ort.InferenceSession(str(onnx_file), options, providers=["CPUExecutionProvider"])
    names = [node.name for node in session.get_inputs()]
    inputs = sentiment_inputs(task) if config["task"] == "sentiment" else forecasting_inputs(task)
    result: dict[str, Any] = {"task": config["task"], "family": config["model"]["family"]}
    for batch, tensors in inputs.items():
        feed = onnx_feed(names, tensors)
        with torch.inference_mode():
            eager = float_model(*tensors)
            onnx_difference = float(np.abs(session.run(None, feed)[0] - eager.numpy()).max())

            def run_float(tensors: tuple[torch.Tensor, ...] = tensors) -> None:
                float_model(*tensors)

            def run_int8(tensors: tuple[torch.Tensor, ...] = tensors) -> None:
                int8_model(*tensors)

            def run_onnx(feed: dict[str, np.ndarray] = feed) -> None:
                session.run(None, feed)

            medians = interleaved_medians(
                {"float32": run_float, "int8": run_int8, "onnx": run_onnx}, repeats=repeats
            )
        result[batch] = {**medians, "onnx_difference": onnx_difference, "shape": tensors[0].shape}
    metric, _ = QUALITY[config["task"]]
    result["float32_quality"] = evaluate_split(task, float_model, "test")[metric]
    result["int8_quality"] = evaluate_split(int8_task, int8_model, "test")[metric]
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=DEFAULT_MODELS, help="NAME=DIR,... (see above)")
    parser.add_argument("--work", type=Path, default=None, help="where exports go (a temp dir)")
    parser.add_argument("--threads", type=positive_int, default=1, help="torch/ORT threads (1)")
    parser.add_argument("--repeats", type=positive_int, default=30, help="timed rounds (30)")
    parser.add_argument("--no-record", action="store_true", help="do not append to BENCHMARKS.md")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    work = args.work or Path(tempfile.mkdtemp(prefix="seqlab-export-benchmark-"))
    work.mkdir(parents=True, exist_ok=True)
    rows, quality_rows, verdicts = [], [], []
    for name, source in parse_models(args.models).items():
        result = measure(name, source, work, args.threads, args.repeats)
        for batch in (1, 32):
            timing = result[batch]
            reference = timing["float32"]
            rows.append([
                name, str(batch), "x".join(map(str, timing["shape"])),
                f"{reference * 1e3:.2f}",
                f"{timing['int8'] * 1e3:.2f} ({reference / timing['int8']:.2f}x)",
                f"{timing['onnx'] * 1e3:.2f} ({reference / timing['onnx']:.2f}x)",
                f"{timing['onnx_difference']:.1e}",
            ])  # fmt: skip
        metric, label = QUALITY[result["task"]]
        before, after = result["float32_quality"], result["int8_quality"]
        if metric == "accuracy":
            change = (after - before) * 100
            shown = [f"{before:.4f}", f"{after:.4f}", f"{change:+.2f} points"]
        else:
            change = after - before
            shown = [f"{before:.6f}", f"{after:.6f}", f"{change:+.6f} ({change / before:+.2%})"]
        quality_rows.append([name, label, *shown])
        if result["task"] == "sentiment" and result["family"] != "rnn":
            speedup = result[32]["float32"] / result[32]["int8"]
            met = speedup >= 1.5 and change >= -0.5
            verdicts.append(
                f"- {name}: int8 {speedup:.2f}x at batch 32, accuracy {change:+.2f} points: "
                f"target (>= 1.5x, >= -0.5 points) {'met' if met else 'MISSED'}"
            )
    latency = markdown_table(
        ["model", "batch", "input", "float32 eager ms", "int8 eager ms (speed-up)",
         "ONNX Runtime ms (speed-up)", "max abs ONNX - eager"],
        rows,
    )  # fmt: skip
    quality = markdown_table(["model", "measure", "float32", "int8", "change"], quality_rows)
    body = (
        f"Forward pass only (tokenising excluded), {args.threads} thread(s), {args.repeats} "
        "interleaved rounds, medians; speed-ups against float32 eager in the same rounds.\n\n"
        f"{latency}\n\n{quality}\n\n" + "\n".join(verdicts)
    )
    print(body)
    if not args.no_record:
        append_section("Export: int8 and ONNX Runtime against float32 eager", body)


if __name__ == "__main__":
    main()
