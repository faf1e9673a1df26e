"""Train a run into a model directory, and read a model directory back: the same for every task.

The directory (DESIGN.md, "The model directory"): config.json (written first, so even a crashed
run says what it was), checkpoints/ and log.jsonl (the engine's), the task's files that need the
trained model (``Task.save_trained_files``), then model.safetensors (the best weights) and
metrics.json (the final evaluation with its split and data checksum). Every file is written
atomically.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import torch
from safetensors.torch import load_file
from torch import nn

from seqlab import __version__
from seqlab.errors import SeqlabError
from seqlab.tasks import task_class
from seqlab.tasks.base import RunConfig, Task
from seqlab.tasks.configuration import config_json, run_config_from_dict
from seqlab.train import FitResult, fit, load_best_weights
from seqlab.train.progress import ProgressKind, ProgressReporter
from seqlab.utils.io import atomic_write_json, save_safetensors_atomic
from seqlab.utils.seeding import seed_everything

CONFIG_FILE = "config.json"
MODEL_FILE = "model.safetensors"
METRICS_FILE = "metrics.json"
P = TypeVar("P")  # a Predictor subclass


@dataclass(frozen=True)
class TrainedRun:
    model_dir: Path
    model: nn.Module
    task: Task
    fit: FitResult
    metrics: dict[str, Any]


def count_parameters(model: nn.Module) -> int:
    return sum(parameter.numel() for parameter in model.parameters() if parameter.requires_grad)


def evaluate_split(
    task: Task, model: nn.Module, split: str, *, detail: bool = False
) -> dict[str, Any]:
    """The task's metrics on ``split`` in eval mode; with ``detail``, its full report."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            return task.report(model, split) if detail else task.evaluate(model, split)
    finally:
        model.train(was_training)


def train_run(
    run: RunConfig,
    out_dir: str | Path,
    *,
    resume: bool = False,
    progress: ProgressReporter | ProgressKind = "auto",
    final_split: str = "test",
    task: Task | None = None,
    initial_weights: Mapping[str, torch.Tensor] | None = None,
) -> TrainedRun:
    """Train ``run`` and write its model directory at ``out_dir``; returns what it measured.

    task: the task object to train (built from ``run`` when None); ``seqlab retrain`` passes one
    holding the previous model's scaler. initial_weights: a state dict the freshly built model
    starts from instead of its initialisation (loaded strictly: every name must match).
    """
    out = Path(out_dir)
    if task is None:
        task = task_class(run.task)(run)
    elif task.run != run:
        raise ValueError("train_run: task.run differs from run; pass the task built from run")
    if not resume and (out / MODEL_FILE).exists():
        raise SeqlabError(
            f"{out} already holds a trained model; choose another --out, or pass --resume to "
            "continue its run"
        )
    if not resume and (out / "checkpoints").exists():
        raise SeqlabError(
            f"{out} holds an unfinished run (checkpoints/ but no {MODEL_FILE}); pass --resume to "
            "continue it, or choose another --out"
        )
    out.mkdir(parents=True, exist_ok=True)
    seed_everything(run.train.seed)  # the weights' initialisation is part of the seed's promise
    model = task.build_model()
    if initial_weights is not None:
        model.load_state_dict(initial_weights, strict=True)
    atomic_write_json(out / CONFIG_FILE, config_json(run, task.artifacts()))
    task.save_files(out)
    monitor, mode = task.monitor
    result = fit(
        model, task, run.train, out, monitor=monitor, mode=mode, resume=resume, progress=progress
    )
    load_best_weights(model, out)
    metrics = evaluate_split(task, model, final_split, detail=True)
    task.save_trained_files(model, out)
    weights = {name: tensor.detach().cpu() for name, tensor in model.state_dict().items()}
    save_safetensors_atomic(
        # One metadata key: safetensors writes several in a varying order, and the same weights
        # should give the same file bytes.
        weights,
        out / MODEL_FILE,
        metadata={"seqlab_version": __version__},
    )
    record = {
        "split": final_split,
        "data_checksum": task.data_checksum(),
        "metrics": metrics,
        "parameters": count_parameters(model),
        "training": {
            "steps": result.steps,
            "best_step": result.best_step,
            "best_val": {monitor: result.best_metric},
            "stop_reason": result.stop_reason,
            "seconds": round(result.seconds, 3),
        },
    }
    atomic_write_json(out / METRICS_FILE, record)
    return TrainedRun(model_dir=out, model=model, task=task, fit=result, metrics=metrics)


def read_config(model_dir: str | Path) -> dict[str, Any]:
    path = Path(model_dir) / CONFIG_FILE
    if not Path(model_dir).is_dir():
        raise SeqlabError(f"model directory '{model_dir}' does not exist; pass a folder written "
                          "by 'seqlab train'")  # fmt: skip
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SeqlabError(
            f"'{model_dir}' has no {CONFIG_FILE}; pass a model directory written by 'seqlab train'"
        ) from None
    except json.JSONDecodeError as error:
        raise SeqlabError(f"{path}: line {error.lineno}: not valid JSON ({error.msg})") from None


def run_config_of(config: dict[str, Any]) -> RunConfig:
    sections = {key: config[key] for key in ("task", "data", "model", "train") if key in config}
    return run_config_from_dict(sections)


def predictor_from_dir(predictor_class: type[P], model_dir: str | Path) -> P:
    """``predictor_class`` over the trained model in ``model_dir``, with its task object (the
    tokenizer, labels or scaler it was trained with) as ``task_object``."""
    task, model, config = load_trained(model_dir)
    predictor = predictor_class(model=model, config=config, model_dir=Path(model_dir))
    predictor.task_object = task  # type: ignore[attr-defined]
    return predictor


def load_trained(model_dir: str | Path) -> tuple[Task, nn.Module, dict[str, Any]]:
    """The task, the model with its trained weights (in eval mode), and config.json's contents."""
    config = read_config(model_dir)
    run = run_config_of(config)
    task = task_class(run.task).from_model_dir(run, Path(model_dir), config.get("artifacts", {}))
    model = task.build_model()
    weights_path = Path(model_dir) / MODEL_FILE
    if not weights_path.exists():
        raise SeqlabError(
            f"'{model_dir}' has no {MODEL_FILE}: its training did not finish; resume it with "
            f"'seqlab train {run.task} --out {model_dir} --resume'"
        )
    state = load_file(str(weights_path))
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        absent = ", ".join(missing[:3]) or "none"
        extra = ", ".join(unexpected[:3]) or "none"
        raise SeqlabError(
            f"{weights_path} does not match the model its config.json describes (missing: "
            f"{absent}; unexpected: {extra}); was the directory edited by hand?"
        )
    return task, model.eval(), config
