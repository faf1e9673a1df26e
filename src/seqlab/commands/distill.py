"""``seqlab distill TEACHER_DIR --model FAMILY --out DIR``: train a small sentiment classifier on a
teacher's outputs (Tang et al., 2019; seqlab.distill).

The student's configuration is composed as ``seqlab train sentiment``'s is (family defaults,
``--preset``, ``--config``, the data flags, ``--set``); the distillation settings come from
their flags and ``--set distill.KEY=VALUE`` (later wins). Both are printed at the start and
recorded in the student's config.json. Torch is imported in ``run`` only, so ``--help`` is quick.
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
from seqlab.tasks import task_options

_TASK = "sentiment"
_STUDENT_FAMILIES = ("rnn", "lstm", "gru", "transformer")
_SECTIONS = ("data", "model", "train")
_DISTILL = "distill"
# Flags of the distillation settings: flag -> (settings key, type, help).
_DISTILL_FLAGS: dict[str, tuple[str, type, str]] = {
    "--augment": ("augment", int, "augmented copies of each training text (default 0)"),
    "--loss": ("loss", str, "mse (squared distance of logits; default) or kl"),
    "--temperature": ("temperature", float, "softmax temperature of --loss kl (default 1)"),
    "--alpha": ("alpha", float, "weight of the label cross-entropy on labelled originals "
                "(default 0: the teacher alone)"),
    "--p-mask": ("p_mask", float, "probability a word of a copy is masked (default 0.1)"),
    "--p-replace": ("p_replace", float, "probability a word of a copy is replaced by a "
                    "training word (default 0.1)"),
    "--p-ngram": ("p_ngram", float, "probability a copy is cut to a random 1-5-gram "
                  "(default 0.25)"),
    "--embeddings": ("embeddings", str, "teacher (the teacher's tokenizer, embeddings starting "
                     "as its token vectors; default) or own (a tokenizer and embeddings of the "
                     "student's own)"),
    "--augment-seed": ("augment_seed", int, "seed of the augmented copies (default: the run's "
                       "seed); students of several seeds then share one transfer set"),
    "--teacher-batch-size": ("teacher_batch_size", int, "texts per teacher call (default 64)"),
}  # fmt: skip
_COMMON = {"seed": ("train", "seed"), "steps": ("train", "steps"), "device": ("train", "device")}


def register(subparsers: argparse._SubParsersAction) -> None:
    options = task_options(_TASK)
    parser = subparsers.add_parser(
        "distill",
        help="train a small sentiment model on a teacher model's outputs",
        description=(
            "Distil a trained sentiment model (TEACHER_DIR: a fine-tuned MiniLM or any seqlab "
            "classifier) into a student of another family: the teacher labels a transfer set "
            "(the training texts, --augment copies of each, --unlabelled texts) once, and the "
            "student learns its logits. The student is an ordinary sentiment model directory."
        ),
    )
    parser.add_argument("teacher", type=Path, metavar="TEACHER_DIR", help="the teacher's directory")
    parser.add_argument(
        "--model", default="lstm", help=f"student family: {', '.join(_STUDENT_FAMILIES)} (lstm)"
    )
    parser.add_argument("--preset", choices=sorted(options.presets), default=None,
                        help="the student's sizes and budget, as for seqlab train")  # fmt: skip
    parser.add_argument("--config", type=Path, help="a JSON or YAML config file for the student")
    parser.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
        help="override one value of data, model, train or distill, e.g. --set distill.p_mask=0.2",
    )  # fmt: skip
    parser.add_argument("--out", type=Path, required=True, help="the student's model directory")
    parser.add_argument(
        "--resume", action="store_true",
        help="continue the run in --out, reusing its cached teacher logits",
    )  # fmt: skip
    parser.add_argument(
        "--unlabelled", type=Path, metavar="FILE",
        help="more texts for the transfer set: one a line, or CSV/TSV/JSONL",
    )  # fmt: skip
    parser.add_argument("--seed", type=int, help="random seed (train.seed; also the copies')")
    parser.add_argument("--steps", type=int, help="step budget (train.steps)")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), help="train.device")
    for flag, (_, kind, text) in _DISTILL_FLAGS.items():
        parser.add_argument(flag, dest=f"distill:{flag}", type=kind, default=None, help=text,
                            metavar=kind.__name__.upper().replace("STR", "NAME"))  # fmt: skip
    add_task_options(parser, options.cli_options)
    add_progress_options(parser)
    parser.set_defaults(command=run)


def _command_line_layer(args: argparse.Namespace) -> dict[str, Any]:
    """The student's config values the flags set."""
    return command_line_layer(args, _COMMON)


def _split_overrides(overrides: list[str]) -> tuple[list[str], list[str]]:
    """(the student's overrides, the distill.* ones)."""
    distill = [item for item in overrides if item.strip().startswith(f"{_DISTILL}.")]
    return [item for item in overrides if item not in distill], distill


def _settings_layer(args: argparse.Namespace, overrides: list[str]) -> dict[str, Any]:
    from seqlab.utils.config import deep_merge, parse_overrides

    flags = {
        key: getattr(args, f"distill:{flag}")
        for flag, (key, _, _) in _DISTILL_FLAGS.items()
        if getattr(args, f"distill:{flag}") is not None
    }
    parsed = parse_overrides(overrides, sections=(_DISTILL,)).get(_DISTILL, {})
    return deep_merge(flags, parsed)


def _saved_settings(saved: dict[str, Any]) -> dict[str, Any]:
    """The distillation settings a resumed run's config.json records."""
    record = saved.get("artifacts", {}).get("distillation", {})
    transfer = record.get("transfer_set", {})
    seed = {"augment_seed": transfer["seed"]} if "seed" in transfer else {}
    return {**transfer.get("augmentation", {}), **seed, **record.get("objective", {})}


def run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from seqlab.distill.settings import DistillSettings
    from seqlab.distill.workflow import distill
    from seqlab.model_dir import ModelDir
    from seqlab.tasks.configuration import build_run_config, run_config_to_dict
    from seqlab.tasks.directory_checks import read_model_config
    from seqlab.utils.config import deep_merge, from_dict, to_dict

    if args.model not in _STUDENT_FAMILIES:
        raise SeqlabError(
            f"--model '{args.model}' cannot be a student; choose one of "
            f"{', '.join(_STUDENT_FAMILIES)}"
        )
    student_overrides, distill_overrides = _split_overrides(args.overrides)
    settings_layer = _settings_layer(args, distill_overrides)
    out = ModelDir(args.out)
    if args.resume and out.config_path.exists():
        # A resumed run continues the configuration it started with; options given now apply
        # on top (and a changed transfer set is refused by the workflow).
        saved = read_model_config(out)
        extra = {key: saved[key] for key in _SECTIONS}
        for section, values in _command_line_layer(args).items():
            extra[section] = {**extra[section], **values}
        run_config = build_run_config(
            _TASK, family=saved["model"].get("family"), extra=extra, overrides=student_overrides
        )
        settings_layer = deep_merge(_saved_settings(saved), settings_layer)
    else:
        run_config = build_run_config(
            _TASK, family=args.model, preset=args.preset, config_file=args.config,
            overrides=student_overrides, extra=_command_line_layer(args),
        )  # fmt: skip
    settings = from_dict(DistillSettings, settings_layer, _path=_DISTILL)
    console = Console(stderr=True, quiet=args.quiet)
    console.print_json(data={**run_config_to_dict(run_config), _DISTILL: to_dict(settings)})
    result = distill(
        args.teacher, run_config, args.out, settings=settings, unlabelled=args.unlabelled,
        resume=args.resume, progress=progress_kind(args),
    )  # fmt: skip
    transfer = result.transfer
    how = "reused from the cache" if result.logits_reused else "computed"
    how = f"{how} ({result.labelling_seconds:.1f} s)"
    if settings.labels_only:
        how = "not needed (--alpha 1 trains on the labels alone)"
    console.print(
        f"transfer set: {len(transfer):,} texts ({transfer.originals:,} originals, "
        f"{transfer.augmented:,} augmented, {transfer.unlabelled:,} unlabelled); teacher logits "
        f"{how}",
        markup=False, highlight=False, soft_wrap=True,
    )  # fmt: skip
    shown = ", ".join(
        f"{name} {value:.4g}"
        for name, value in result.trained.metrics.items()
        if isinstance(value, float)
    )
    console.print(f"[bold]{args.out}[/bold]: test {shown}")
    return 0
