"""The checks between a model directory's files and what is built from them, each failure one line
that names the file and the fix.

References: DESIGN.md, "The model directory" (what each file holds); seqlab.model_dir (the
names, and the readers that refuse unreadable files and names leading out of the directory).

``seqlab.tasks.runner.load_trained`` reads a directory through these, in order:

1. :func:`read_model_config`: config.json is an object with the sections ``config_json`` writes
   (task, data, model, train and artifacts, each of the right kind) and names a known task;
2. :func:`run_config_of`: the sections type-check as the run config;
3. :func:`from_config`: the task rebuilt from the artifacts, and the model built, where a
   ``KeyError``, ``TypeError`` or ``ValueError`` means config.json says something the task
   cannot use;
4. :func:`load_weights`: model.safetensors holds exactly the tensors of that model, of the same
   shapes.

:func:`check_training_data` is what ``seqlab eval`` asks before it evaluates a split cut from
the training data: is that data still the data the run trained on (metrics.json's
``data_checksum``)? A changed training file shifts the held-out rows, and training rows can
then land in the evaluated split.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from torch import nn

from seqlab.errors import SeqlabError
from seqlab.model_dir import CONFIG, METRICS, ModelDir
from seqlab.tasks import task_class, task_options
from seqlab.tasks.base import RunConfig, Task
from seqlab.tasks.configuration import SECTIONS, run_config_from_dict

T = TypeVar("T")

# The sections config_json writes, each with the kind of JSON value it must be.
CONFIG_SECTIONS: dict[str, type] = {
    "task": str,
    **dict.fromkeys(SECTIONS, dict),
    "artifacts": dict,
}
_JSON_KINDS: dict[type, str] = {str: "a string", dict: "an object"}
_FIX = f"restore {CONFIG} from the run that wrote the directory, or retrain"
_RESTORE = "restore it from the run that wrote the directory, or retrain"


def read_model_config(directory: ModelDir) -> dict[str, Any]:
    """config.json of ``directory`` (read once), checked by :func:`check_model_config`."""
    config = directory.read_config()
    check_model_config(config, directory)
    return config


def check_model_config(config: Any, directory: ModelDir) -> None:
    """``config`` (config.json's contents) has every section ``config_json`` writes, each of its
    kind, and names a task this seqlab has."""
    where = directory.config_path
    if not isinstance(config, Mapping):
        raise SeqlabError(f"{where}: not an object of settings; {_FIX}")
    for key, kind in CONFIG_SECTIONS.items():
        if key not in config:
            kind_of_entry = "key" if key == "task" else "section"
            raise SeqlabError(f"{where}: no '{key}' {kind_of_entry}; {_FIX}")
        if not isinstance(config[key], kind):
            raise SeqlabError(
                f"{where}: '{key}' must be {_JSON_KINDS[kind]}, not {config[key]!r:.60}; {_FIX}"
            )
    try:
        task_options(config["task"])
    except SeqlabError as error:
        raise SeqlabError(f"{where}: {error}; {_FIX}") from None


def run_config_of(config: Mapping[str, Any], directory: ModelDir) -> RunConfig:
    """The RunConfig config.json's sections describe; an error names ``directory``'s
    config.json."""
    sections = {key: config[key] for key in ("task", *SECTIONS) if key in config}
    try:
        return run_config_from_dict(sections)
    except (SeqlabError, TypeError, ValueError) as error:
        raise SeqlabError(f"{directory.config_path}: {_one_line(error)}; {_FIX}") from None


def from_config(directory: ModelDir, what: str, build: Callable[[], T]) -> T:
    """``build()``, which makes ``what`` (the task, the model) from config.json's contents and
    the files it names.

    A SeqlabError that names no file of the directory is about config.json, and says so; a
    KeyError, TypeError or ValueError means config.json holds something the task cannot use
    (a key missing from the artifacts, a value of another kind); an OSError names the file that
    could not be read.
    """
    where = directory.config_path
    try:
        return build()
    except SeqlabError as error:
        if str(directory.path) in str(error):
            raise
        raise SeqlabError(f"{where}: {_one_line(error)}; {_FIX}") from None
    except OSError as error:  # a file the artifacts name: a folder, unreadable, ...
        name = error.filename if error.filename is not None else directory.path
        raise SeqlabError(
            f"{name}: cannot be read ({error.strerror or _one_line(error)}); {_RESTORE}"
        ) from None
    except UnicodeDecodeError as error:  # a text file of the directory holds other bytes
        raise SeqlabError(
            f"'{directory}': a file it reads to rebuild {what} is not UTF-8 text "
            f"({_one_line(error)}); {_RESTORE}"
        ) from None
    except KeyError as error:
        key = error.args[0] if error.args else "?"
        raise SeqlabError(
            f"{where}: cannot rebuild {what}: {key!r} is missing from its artifacts or from a "
            f"file they name; {_FIX}"
        ) from None
    except (TypeError, ValueError, IndexError) as error:
        raise SeqlabError(f"{where}: cannot rebuild {what}: {_one_line(error)}; {_FIX}") from None


def restore_task(run: RunConfig, directory: ModelDir, artifacts: dict[str, Any]) -> Task:
    """The task as it was trained, rebuilt from config.json's ``artifacts``."""
    task_type = task_class(run.task)
    return from_config(
        directory,
        f"the {run.task} task",
        lambda: task_type.from_model_dir(run, directory, artifacts),
    )


def load_weights(model: nn.Module, directory: ModelDir) -> None:
    """model.safetensors into ``model``, checked first to hold exactly its tensors, each of its
    shape (else the weights and config.json come from different runs)."""
    where = directory.weights_path
    state = directory.read_weights()
    expected = model.state_dict()
    missing = [name for name in expected if name not in state]
    unexpected = [name for name in state if name not in expected]
    if missing or unexpected:
        absent = ", ".join(missing[:3]) or "none"
        extra = ", ".join(unexpected[:3]) or "none"
        raise SeqlabError(
            f"{where} does not match the model its {CONFIG} describes (missing: {absent}; "
            f"unexpected: {extra}); the two files come from different runs: restore both "
            "from the same run, or retrain"
        )
    for name, parameter in expected.items():  # in the model's order: the first layer first
        found, wanted = tuple(state[name].shape), tuple(parameter.shape)
        if found != wanted:
            raise SeqlabError(
                f"{where}: tensor '{name}' has shape {found}, the model its "
                f"{CONFIG} describes needs {wanted}; the two files come from different runs: "
                "restore both from the same run, or retrain"
            )
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as error:  # a tensor torch cannot copy into the parameter
        raise SeqlabError(f"{where}: {_one_line(error)[:200]}; {_FIX}") from None


def check_training_data(task: Task, directory: ModelDir, *, allow_changed: bool) -> list[str]:
    """Whether the training data ``task`` reads is the data the run in ``directory`` trained on:
    ``task.data_checksum()`` against metrics.json's ``data_checksum``.

    Generated data (a checksum of None) needs no check. When the checksums differ, or metrics.json
    cannot say (missing, unreadable, no checksum), this raises a one-line error, or, with
    ``allow_changed``, returns that line as a warning for the caller to print.
    """
    try:
        current = task.data_checksum()
    except OSError as error:  # the training file is gone or unreadable
        raise SeqlabError(
            f"{directory}: cannot read its training data to check that it is unchanged "
            f"({_one_line(error)}); put the file back, or evaluate another file with --data"
        ) from None
    if current is None:
        return []
    problem = _recorded_checksum_problem(directory, current)
    if problem is None:
        return []
    if allow_changed:
        return [f"{problem}; evaluating anyway (--allow-changed-data)"]
    raise SeqlabError(
        f"{problem}; a split cut from changed data can hold rows the run trained on: restore "
        "the training data, evaluate another file with --data, or pass --allow-changed-data"
    )


def _recorded_checksum_problem(directory: ModelDir, current: str) -> str | None:
    """Why metrics.json does not vouch for data of checksum ``current``; None when it does."""
    where = directory.metrics_path
    if not where.exists():
        return f"'{directory}' has no {METRICS}, so its training data cannot be checked"
    try:
        record = directory.read_json(METRICS)
    except SeqlabError:
        return f"{where} cannot be read, so the training data cannot be checked"
    recorded = record.get("data_checksum") if isinstance(record, dict) else None
    if not isinstance(recorded, str):
        return f"{where}: no data_checksum, so the training data cannot be checked"
    if recorded != current:
        return (
            f"the training data of '{directory}' changed since it was trained (its SHA-256 "
            f"differs from data_checksum in {where})"
        )
    return None


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split()) or type(error).__name__
