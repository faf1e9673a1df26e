"""Options several commands share. Imported while ``seqlab --help`` builds its parser, so it
imports nothing heavy (no torch)."""

from __future__ import annotations

import argparse
from collections.abc import Iterable, Mapping
from typing import Any, Literal

# What --quiet and --plain choose among: the kinds of seqlab.train.progress.make_progress, spelt
# out here because importing that module would load torch while the parser is built.
ProgressKind = Literal["auto", "plain", "quiet"]


def add_progress_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--quiet", action="store_true", help="print nothing while working")
    group.add_argument(
        "--plain", action="store_true", help="plain progress lines instead of a live bar"
    )


def progress_kind(args: argparse.Namespace) -> ProgressKind:
    if args.quiet:
        return "quiet"
    return "plain" if args.plain else "auto"


def add_task_options(
    parser: argparse.ArgumentParser, cli_options: Iterable[tuple[str, str, str, dict[str, Any]]]
) -> None:
    """A task's own flags (``TaskOptions.cli_options``: flag, config section, key, argparse
    keywords), each stored under a dest naming its config key."""
    for flag, section, key, keywords in cli_options:
        if keywords.get("action") is None and "choices" not in keywords:
            # The dest encodes the config key; show the flag's own name in --help instead
            # (argparse shows a flag with choices as the choices themselves).
            keywords = {"metavar": flag.lstrip("-").replace("-", "_").upper(), **keywords}
        parser.add_argument(flag, dest=f"option:{section}.{key}", **keywords)


def command_line_layer(
    args: argparse.Namespace, common: Mapping[str, tuple[str, str]]
) -> dict[str, dict[str, Any]]:
    """The config values the flags set: ``common`` (attribute -> (section, key), e.g. --seed
    -> train.seed) and the task's own flags (``add_task_options``)."""
    layer: dict[str, dict[str, Any]] = {}
    for option, (section, key) in common.items():
        value = getattr(args, option, None)
        if value is not None:
            layer.setdefault(section, {})[key] = value
    for name, value in vars(args).items():
        if name.startswith("option:") and value is not None:
            section, key = name.removeprefix("option:").split(".", 1)
            layer.setdefault(section, {})[key] = value
    return layer
