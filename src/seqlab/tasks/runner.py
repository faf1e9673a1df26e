"""Train a run into a model directory, and read a model directory back: the same for every task.

The directory (DESIGN.md, "The model directory"): config.json (written first, so even a crashed
run says what it was), checkpoints/ and log.jsonl (the engine's), the task's files that need the
trained model (``Task.save_trained_files``), then model.safetensors (the best weights) and
metrics.json (the final evaluation with its split and data checksum). Every file is written
atomically.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import torch
from torch import nn

from seqlab._version import __version__
from seqlab.errors import SeqlabError
from seqlab.infer import Predictor
from seqlab.model_dir import ModelDir
from seqlab.tasks import task_class
from seqlab.tasks.base import RunConfig, Task
from seqlab.tasks.configuration import config_json, run_config_from_dict
from seqlab.train import FitResult, fit, load_best_weights
from seqlab.train.progress import ProgressKind, ProgressReporter
from seqlab.utils.seeding import seed_everything

P = TypeVar("P", bound=Predictor[Any])  # a task's Predictor subclass


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


def initial_model(task: Task) -> nn.Module:
    """The model a training run of ``task`` starts from: ``task.build_model()`` right after
    every generator is seeded with the run's seed (seqlab.utils.seeding, point 1)."""
    seed_everything(task.run.train.seed)
    return task.build_model()


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

    Seeding (seqlab.utils.seeding): the model is built right after every generator is seeded
    with ``run.train.seed`` (``initial_model``), and ``fit`` seeds them again before its first
    step, so the training's random draws do not depend on how many the model's building took.
    """
    out = ModelDir(out_dir)
    if task is None:
        task = task_class(run.task)(run)
    elif task.run != run:
        raise ValueError("train_run: task.run differs from run; pass the task built from run")
    if not resume and out.is_trained():
        raise SeqlabError(
            f"{out} already holds a trained model; choose another --out, or pass --resume to "
            "continue its run"
        )
    if not resume and out.checkpoints_path.exists():
        raise SeqlabError(
            f"{out} holds an unfinished run (checkpoints/ but no model weights); pass --resume to "
            "continue it, or choose another --out"
        )
    out.create()
    model = initial_model(task)
    if initial_weights is not None:
        model.load_state_dict(initial_weights, strict=True)
    out.write_config(config_json(run, task.artifacts()))
    task.save_files(out)
    monitor, mode = task.monitor
    result = fit(
        model,
        task,
        run.train,
        out.path,
        monitor=monitor,
        mode=mode,
        resume=resume,
        progress=progress,
    )
    load_best_weights(model, out.path)
    metrics = evaluate_split(task, model, final_split, detail=True)
    task.save_trained_files(model, out)
    weights = {name: tensor.detach().cpu() for name, tensor in model.state_dict().items()}
    # One metadata key: safetensors writes several in a varying order, and the same weights
    # should give the same file bytes.
    out.write_weights(weights, metadata={"seqlab_version": __version__})
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
    out.write_metrics(record)
    return TrainedRun(model_dir=out.path, model=model, task=task, fit=result, metrics=metrics)


def run_config_of(config: dict[str, Any]) -> RunConfig:
    names = ("task", "data", "model", "train")
    sections: dict[str, Any] = {key: config[key] for key in names if key in config}
    return run_config_from_dict(sections)


def predictor_from_dir(
    predictor_class: type[P], model_dir: str | Path | ModelDir, config: dict[str, Any] | None = None
) -> P:
    """``predictor_class`` over the trained model in ``model_dir``, with its task object (the
    tokenizer, labels or scaler it was trained with). config: config.json's contents, when the
    caller has read them already."""
    task, model, config = load_trained(model_dir, config)
    directory = model_dir if isinstance(model_dir, ModelDir) else ModelDir(model_dir)
    return predictor_class(model=model, config=config, model_dir=directory.path, task_object=task)


def load_trained(
    model_dir: str | Path | ModelDir, config: dict[str, Any] | None = None
) -> tuple[Task, nn.Module, dict[str, Any]]:
    """The task, the model with its trained weights (in eval mode), and config.json's contents
    (read here unless ``config`` gives them)."""
    directory = model_dir if isinstance(model_dir, ModelDir) else ModelDir(model_dir)
    if config is None:
        config = directory.read_config()
    run = run_config_of(config)
    task = task_class(run.task).from_model_dir(run, directory, config.get("artifacts", {}))
    model = task.build_model()
    if not directory.is_trained():
        raise SeqlabError(
            f"'{directory}' has no {directory.weights_path.name}: its training did not finish; "
            f"resume it with 'seqlab train {run.task} --out {directory} --resume'"
        )
    state = directory.read_weights()
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        absent = ", ".join(missing[:3]) or "none"
        extra = ", ".join(unexpected[:3]) or "none"
        raise SeqlabError(
            f"{directory.weights_path} does not match the model its config.json describes "
            f"(missing: {absent}; unexpected: {extra}); was the directory edited by hand?"
        )
    return task, model.eval(), config
