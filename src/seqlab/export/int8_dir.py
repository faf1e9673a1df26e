"""``seqlab export DIR --format int8 --out NEW_DIR``: a model directory with int8 weights.

The new directory is an ordinary model directory (DESIGN.md, "The model directory") that
``seqlab.load``, ``seqlab predict``, ``seqlab eval`` and ``seqlab serve`` read: the source's
files (tokenizer, scaler statistics in config.json, baselines, monitoring reference) copied
unchanged, model.safetensors holding the quantised model's state dict (int8 ``values`` and
float32 ``scale`` per quantised matrix, float32 for the rest: seqlab.export.int8_model), and
config.json with one more field, ``quantization`` (seqlab.model_dir.QUANTIZATION):
``{"scheme": "int8-dynamic", "int8_layers": n, "float_layers": [...], "source": DIR}``.
Loading sees the field and swaps the same layers before it loads the weights.

Not copied: log.jsonl and checkpoints/ (the float model's training; an int8 model is not
trained further). metrics.json is copied with ``float32_metrics: true`` added, since its numbers
are the source model's: ``seqlab eval NEW_DIR`` measures the int8 model.

The directory is assembled under a temporary name beside NEW_DIR and renamed into place, so a
crash never leaves a half-written model directory.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from seqlab._version import __version__
from seqlab.errors import SeqlabError
from seqlab.export.int8_model import INT8_SCHEME, quantize_model
from seqlab.model_dir import CHECKPOINTS, CONFIG, LOG, METRICS, QUANTIZATION, WEIGHTS, ModelDir
from seqlab.model_dir import quantization_of as _quantization_of
from seqlab.utils.io import fsync_dir, new_folder_mode

__all__ = ["INT8_TASKS", "export_int8"]

# Tasks whose predictors run one forward pass of a classifier or forecaster; the decoding tasks'
# step-by-step loops are left float32.
INT8_TASKS: tuple[str, ...] = ("sentiment", "forecasting")
_NOT_COPIED = (CONFIG, WEIGHTS, LOG, CHECKPOINTS)


def export_int8(source: Path, out: Path) -> dict[str, Any]:
    """Write the int8 copy of the model directory ``source`` to ``out`` (which must not exist,
    or be an empty folder); returns config.json's quantization field."""
    from seqlab.tasks.directory_checks import read_model_config
    from seqlab.tasks.runner import load_trained

    directory = ModelDir(source)
    config = read_model_config(directory)
    if _quantization_of(config, directory) is not None:
        raise SeqlabError(f"'{source}' holds an int8 model already; export its float32 source")
    task = config["task"]
    if task not in INT8_TASKS:
        raise SeqlabError(
            f"'{source}' holds a model of the {task} task; --format int8 quantises the tasks "
            f"{', '.join(INT8_TASKS)} (the others decode step by step and stay float32)"
        )
    _, model, config = load_trained(directory, config)
    summary = quantize_model(model)
    if summary["int8_layers"] == 0:
        raise SeqlabError(
            f"the {config['model'].get('family')} model in '{source}' has no layer int8 applies to"
        )
    field = {"scheme": INT8_SCHEME, **summary, "source": str(source)}
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp"))
    try:
        os.chmod(staging, new_folder_mode())
        _copy_files(directory, staging)
        written = ModelDir(staging)
        written.write_config({**config, QUANTIZATION: field})
        weights = {name: tensor.detach().cpu() for name, tensor in model.state_dict().items()}
        written.write_weights(
            weights, metadata={"seqlab_version": __version__, QUANTIZATION: INT8_SCHEME}
        )
        if directory.metrics_path.exists():
            metrics = directory.read_json(METRICS)
            if isinstance(metrics, dict):
                written.write_metrics({**metrics, "float32_metrics": True})
        os.replace(staging, out)  # onto a missing name or an empty folder: atomic
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    fsync_dir(out.parent)
    return field


def _copy_files(directory: ModelDir, target: Path) -> None:
    """Every file of the source directory the int8 one keeps (module docstring)."""
    for path in sorted(directory.path.iterdir()):
        if path.name in _NOT_COPIED or not path.is_file():
            continue
        shutil.copy2(path, target / path.name)
