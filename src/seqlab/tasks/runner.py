"""Train a run into a model directory, and read a model directory back: the same for every task.

The directory (DESIGN.md, "The model directory"): config.json (written first, so even a crashed
run says what it was), checkpoints/ and log.jsonl (the engine's), the task's files that need the
trained model (``Task.save_trained_files``), then model.safetensors (the best weights, or the
average of the last checkpoints when ``train.average_checkpoints`` kept it) and
metrics.json (the final evaluation with its split and data checksum). Every file is written
atomically. Only then, with ``train.keep_checkpoints`` false, is ``checkpoints/last`` removed, so
a crash before the directory is complete can still be resumed.

Under ``torchrun`` every process calls ``train_run`` alike (``seqlab.train.distributed``): all
train, rank 0 alone checks and writes the directory and evaluates the final model, and every
rank returns rank 0's final weights and metrics.

Reading a directory back is ``load_trained``, the one way every command and ``seqlab.load``
read one; its checks are seqlab.tasks.directory_checks'.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import torch
from torch import nn

from seqlab._version import __version__
from seqlab.errors import SeqlabError
from seqlab.infer import Predictor
from seqlab.model_dir import (
    CHECKPOINT_TRAINER_JSON,
    CHECKPOINTS,
    WEIGHTS,
    ModelDir,
    quantization_of,
)
from seqlab.tasks import task_class
from seqlab.tasks.base import RunConfig, Task
from seqlab.tasks.configuration import config_json
from seqlab.tasks.directory_checks import (
    check_model_config,
    from_config,
    load_weights,
    read_model_config,
    restore_task,
    run_config_of,
)
from seqlab.train import FitResult, drop_resume_state, fit, load_final_weights, resolve_device
from seqlab.train.checkpoint import find_checkpoint
from seqlab.train.distributed import (
    World,
    broadcast,
    broadcast_module_state,
    check_batch_size,
    distributed_training,
)
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


def check_can_start(run: RunConfig, out: ModelDir, *, resume: bool) -> None:
    """Refuse, before anything is read or written, a run that cannot start: a device this
    machine lacks; without ``resume``, a directory that holds a run already; with it, a
    directory that holds no checkpoint to resume from."""
    resolve_device(run.train.device)
    last = out.checkpoint_path("last")
    if resume:
        if find_checkpoint(last) is not None:
            return
        if not out.path.is_dir():
            raise SeqlabError(
                f"'{out}' does not exist, so there is no run to resume; drop --resume to start a "
                "new run there"
            )
        if out.is_trained():
            raise SeqlabError(
                f"'{out}' holds a finished run whose {CHECKPOINTS}/last was not kept "
                "(train.keep_checkpoints=false), so it cannot be resumed; train a new run into "
                "another --out"
            )
        raise SeqlabError(
            f"'{out}' holds no run to resume (no {last / CHECKPOINT_TRAINER_JSON}); drop "
            "--resume to start a new run there"
        )
    if out.is_trained():
        raise SeqlabError(
            f"{out} already holds a trained model; choose another --out, or pass --resume to "
            "continue its run"
        )
    if out.checkpoints_path.exists():
        raise SeqlabError(
            f"{out} holds an unfinished run (checkpoints/ but no model weights); pass --resume to "
            "continue it, or choose another --out"
        )


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
    with distributed_training(run.train.device) as world:
        return _train_run(
            run, out_dir, resume=resume, progress=progress, final_split=final_split, task=task,
            initial_weights=initial_weights, world=world,
        )  # fmt: skip


def _train_run(
    run: RunConfig,
    out_dir: str | Path,
    *,
    resume: bool,
    progress: ProgressReporter | ProgressKind,
    final_split: str,
    task: Task | None,
    initial_weights: Mapping[str, torch.Tensor] | None,
    world: World,
) -> TrainedRun:
    """``train_run``'s body, inside the process group when there is one."""
    out = ModelDir(out_dir)
    if task_class(run.task).options.batches_by_rows:
        check_batch_size(run.train.batch_size, world)
    _checked_on_main(lambda: check_can_start(run, out, resume=resume), world)
    if task is None:
        task = task_class(run.task)(run)
    elif task.run != run:
        raise ValueError("train_run: task.run differs from run; pass the task built from run")
    if world.is_main:
        out.create()
    model = initial_model(task)
    if initial_weights is not None:
        model.load_state_dict(initial_weights, strict=True)
    if world.is_main:
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
        keep_resume_state=True,  # until the directory is complete, below
    )
    if world.is_main:
        # The best checkpoint, or the mean of the last ones when train.average_checkpoints is
        # set and that mean validated at least as well.
        load_final_weights(model, out.path)
    broadcast_module_state(model, world)  # every rank returns the final model
    metrics = _write_directory(run, out, task, model, result, final_split) if world.is_main else {}
    metrics = broadcast(metrics, world)
    return TrainedRun(model_dir=out.path, model=model, task=task, fit=result, metrics=metrics)


def _checked_on_main(check: Callable[[], None], world: World) -> None:
    """Run ``check`` on rank 0 and raise its SeqlabError on every rank: the other ranks may not
    see the directory, or see rank 0 already writing into it."""
    if not world.distributed:
        check()
        return
    message = None
    if world.is_main:
        try:
            check()
        except SeqlabError as error:
            message = str(error)
    message = broadcast(message, world)
    if message is not None:
        raise SeqlabError(message)


def _write_directory(
    run: RunConfig,
    out: ModelDir,
    task: Task,
    model: nn.Module,
    result: FitResult,
    final_split: str,
) -> dict[str, Any]:
    """Evaluate the final model on ``final_split`` and complete the directory: the task's
    trained files, the weights, metrics.json; then drop the resume state. The metrics."""
    monitor = task.monitor[0]
    metrics = evaluate_split(task, model, final_split, detail=True)
    task.save_trained_files(model, out)
    weights = {name: tensor.detach().cpu() for name, tensor in model.state_dict().items()}
    # One metadata key: safetensors writes several in a varying order, and the same weights
    # should give the same file bytes.
    out.write_weights(weights, metadata={"seqlab_version": __version__})
    training: dict[str, Any] = {
        "steps": result.steps,
        "best_step": result.best_step,
        "best_val": {monitor: result.best_metric},
        "stop_reason": result.stop_reason,
        "seconds": round(result.seconds, 3),
    }
    if result.checkpoint_average is not None:
        # The steps averaged, the average's and the best's val metrics, and which was kept.
        training["checkpoint_average"] = result.checkpoint_average.to_json()
    record = {
        "split": final_split,
        "data_checksum": task.data_checksum(),
        "metrics": metrics,
        "parameters": count_parameters(model),
        "training": training,
    }
    out.write_metrics(record)
    # Only now is the directory complete: a crash before this line can still be resumed.
    drop_resume_state(out.path, keep_checkpoints=run.train.keep_checkpoints)
    return metrics


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
    (read here unless ``config`` gives them).

    Every way a directory can be wrong (a missing, unreadable or damaged file, a config.json
    with a missing or mistyped section or artifact, weights of another model, a file name
    leading out of the directory) is a SeqlabError whose one line names the file and the fix;
    the checks are seqlab.tasks.directory_checks'.
    """
    directory = model_dir if isinstance(model_dir, ModelDir) else ModelDir(model_dir)
    if config is None:
        config = read_model_config(directory)
    else:
        check_model_config(config, directory)
    run = run_config_of(config, directory)
    task = restore_task(run, directory, config["artifacts"])
    model = from_config(directory, "the model", task.build_model)
    if quantization_of(config, directory) is not None:
        # An int8 directory (seqlab export --format int8): its weights load into the int8 layers.
        from seqlab.export.int8_model import int8_skeleton

        model = int8_skeleton(model)
    if not directory.is_trained():
        if find_checkpoint(directory.checkpoint_path("last")) is None:
            raise SeqlabError(
                f"'{directory}' has no {WEIGHTS} and no checkpoint to resume from; restore "
                f"{WEIGHTS} from the run that wrote the directory, or retrain"
            )
        raise SeqlabError(
            f"'{directory}' has no {WEIGHTS}: its training did not finish; resume it with "
            f"'seqlab train {run.task} --out {directory} --resume'"
        )
    load_weights(model, directory)
    return task, model.eval(), config
