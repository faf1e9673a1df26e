"""``seqlab train TASK``: train one model family on one workload into a model directory.

Each task's flags come from its torch-free options (``seqlab.tasks.task_options``), so
``seqlab train --help`` answers without loading torch; the engine is imported in ``run``.

Under ``torchrun --nproc_per_node N -m seqlab train TASK ...`` every process runs this command
alike; the engine finds torchrun's variables (``seqlab.train.distributed``), and only rank 0
prints, checks the directory and writes it.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from seqlab.commands.options import (
    add_progress_options,
    add_task_options,
    command_line_layer,
    progress_kind,
)
from seqlab.errors import SeqlabError
from seqlab.model_dir import CHECKPOINTS, CONFIG, LOG, METRICS, WEIGHTS
from seqlab.tasks import available_tasks, task_options
from seqlab.tasks.options import TaskOptions

# Options every task has, mapped to the config keys they set.
_COMMON_OPTIONS = {"seed": ("train", "seed"), "steps": ("train", "steps"),
                   "device": ("train", "device")}  # fmt: skip


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "train",
        help="train a model on a task and write its model directory",
        description=(
            "Train one model family on one task. The configuration is composed from the task's "
            "defaults, the family's defaults, --preset, --config FILE and --set overrides (later "
            f"ones win); it is printed at the start and saved as {CONFIG} in the model "
            f"directory, beside the weights ({WEIGHTS}), {METRICS}, {LOG} and {CHECKPOINTS}/."
        ),
    )
    tasks = parser.add_subparsers(title="tasks", metavar="TASK", dest="task", required=True)
    for name in available_tasks():
        _add_task_parser(tasks, task_options(name))


def _add_task_parser(tasks: argparse._SubParsersAction, options: TaskOptions) -> None:
    """``seqlab train TASK``'s parser: the options every task has, then the task's own."""
    task_parser = tasks.add_parser(
        options.name, help=options.description, description=options.description
    )
    task_parser.add_argument(
        "--model",
        choices=options.families,
        default=None,
        help=f"model family (default: {options.default_family})",
    )
    task_parser.add_argument(
        "--preset",
        choices=sorted(options.presets),
        default=None,
        help="a named set of sizes and budgets; cpu-small trains in minutes on a laptop CPU",
    )
    task_parser.add_argument("--config", type=Path, help="a JSON or YAML config file")
    task_parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override one config value, e.g. --set train.lr=3e-4 (repeatable)",
    )
    task_parser.add_argument(
        "--out", type=Path, default=None, help="model directory (default: runs/TASK-FAMILY)"
    )
    task_parser.add_argument(
        "--resume", action="store_true", help="continue the run in --out from its checkpoint"
    )
    task_parser.add_argument("--seed", type=int, help="random seed (train.seed)")
    task_parser.add_argument("--steps", type=int, help="step budget (train.steps)")
    task_parser.add_argument(
        "--device", choices=("auto", "cpu", "cuda"), help="where to train (train.device)"
    )
    add_task_options(task_parser, options.cli_options)
    add_progress_options(task_parser)
    task_parser.set_defaults(command=run)


def _command_line_layer(args: argparse.Namespace) -> dict[str, Any]:
    return command_line_layer(args, _COMMON_OPTIONS)


def run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from seqlab.model_dir import ModelDir
    from seqlab.tasks import task_class
    from seqlab.tasks.configuration import build_run_config, run_config_to_dict
    from seqlab.tasks.directory_checks import read_model_config
    from seqlab.tasks.runner import check_can_start, train_run
    from seqlab.train.distributed import check_batch_size, is_main_process, torchrun_world

    main = is_main_process()  # under torchrun, the other ranks stay quiet

    if args.resume and args.out is not None and ModelDir(args.out).config_path.exists():
        # A resumed run continues the configuration it started with; options given now (a
        # larger --steps, say) apply on top, and the engine warns about any that would make the
        # result differ from an uninterrupted run.
        saved = read_model_config(ModelDir(args.out))  # checked: every section, a known task
        if saved.get("task") != args.task:
            raise SeqlabError(
                f"{args.out} holds a '{saved.get('task')}' run, not '{args.task}'; resume it with "
                f"'seqlab train {saved.get('task')} --out {args.out} --resume'"
            )
        extra = {key: saved[key] for key in ("data", "model", "train")}
        for section, values in _command_line_layer(args).items():
            extra[section] = {**extra[section], **values}
        run_config = build_run_config(
            args.task,
            family=saved["model"].get("family"),
            extra=extra,
            overrides=args.overrides,
        )
    else:
        run_config = build_run_config(
            args.task,
            family=args.model,
            preset=args.preset,
            config_file=args.config,
            overrides=args.overrides,
            extra=_command_line_layer(args),
        )
    out = args.out or Path("runs") / f"{run_config.task}-{run_config.model.family}"
    # Before the data is read: a device this machine lacks, or nothing to resume, fails at once
    # (rank 0 alone: the others may see the directory rank 0 is writing; train_run shares its
    # verdict with them).
    if task_class(run_config.task).options.batches_by_rows:
        check_batch_size(run_config.train.batch_size, torchrun_world())
    if main:
        check_can_start(run_config, ModelDir(out), resume=args.resume)
    console = Console(stderr=True, quiet=args.quiet or not main)
    console.print_json(data=run_config_to_dict(run_config))
    task = task_class(run_config.task)(run_config)
    # What reading the data skipped, filled or truncated: said even with --quiet, as a warning.
    notes = Console(stderr=True, quiet=not main)
    for line in task.data_notes():
        notes.print(line, markup=False, highlight=False, soft_wrap=True)
    trained = train_run(
        run_config, out, resume=args.resume, progress=progress_kind(args), task=task
    )
    shown = ", ".join(
        f"{name} {value:.4g}" for name, value in trained.metrics.items() if isinstance(value, float)
    )
    console.print(f"[bold]{out}[/bold]: test {shown}")
    for line in trained.task.summary(trained.metrics):
        console.print(line, markup=False, highlight=False, soft_wrap=True)
    return 0
