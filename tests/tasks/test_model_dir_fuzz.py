"""Damaged model directories never answer with a traceback.

Each example copies one of the saved fixture directories (tests/fixtures/model_dirs: memory,
sentiment, forecasting) to a temporary folder and applies one or two generated corruptions:
a file truncated, garbled, emptied, deleted, replaced by a folder or by a link out of the
directory; config.json made invalid JSON, a list, or missing a section, a key of its artifacts,
or given values of other kinds, unknown keys, artifact file names leading out of the directory;
weights swapped in from another directory. Then ``seqlab.load`` and ``load_trained`` must either
succeed or raise ``SeqlabError`` whose one line names the directory (every file of it is named
by a path inside it), and ``seqlab eval`` through ``seqlab.cli.main`` must return 0 or 2 with one
line on standard error, never raise.

Hypothesis draws the corruptions (derandomized, so CI sees the same examples every run).
"""

from __future__ import annotations

import contextlib
import io
import json
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import seqlab
from seqlab import cli
from seqlab.errors import SeqlabError
from seqlab.tasks.runner import load_trained

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "model_dirs"
TASKS = ("memory", "sentiment", "forecasting")
# What seqlab eval evaluates each directory on (the training files of the fixtures are gone).
EVAL_DATA = {
    "memory": None,
    "sentiment": FIXTURES / "sentiment_eval.csv",
    "forecasting": FIXTURES / "forecasting_recent.csv",
}
SECTIONS = ("task", "data", "model", "train", "artifacts")
# Values of every JSON kind, put where a value of another kind belongs.
OTHER_KINDS: tuple[Any, ...] = (None, 7, -1.5, "text", [1, "a"], {"x": 1}, True)
# Artifact values that name files, leading out of the directory in each way.
ESCAPING_NAMES = ("../memory/model.safetensors", "/etc/hostname", "sub/../../x.json", "..")
OUTSIDE_FILE = FIXTURES / "sentiment_eval.csv"


@dataclass(frozen=True)
class Corruption:
    """One change to a model directory; ``name`` is what a failing example prints."""

    name: str
    apply: Callable[[Path], None]

    def __repr__(self) -> str:
        return self.name


# ---- byte-level damage to any file ----


def _files(task: str) -> list[str]:
    """The files seqlab reads (expected*.json hold the tests' own reference answers)."""
    names = (path.name for path in (FIXTURES / task).iterdir() if path.is_file())
    return sorted(name for name in names if not name.startswith("expected"))


def _truncate(name: str, fraction: float) -> Corruption:
    def apply(directory: Path) -> None:
        path = directory / name
        if path.is_file():
            data = path.read_bytes()
            path.write_bytes(data[: int(len(data) * fraction)])

    return Corruption(f"truncate {name} to {fraction:.2f}", apply)


def _garble(name: str, start: float, noise: bytes) -> Corruption:
    def apply(directory: Path) -> None:
        path = directory / name
        if path.is_file():
            data = bytearray(path.read_bytes())
            at = int(len(data) * start)
            data[at : at + len(noise)] = noise
            path.write_bytes(bytes(data))

    return Corruption(f"garble {name} at {start:.2f} with {noise!r}", apply)


def _replace(name: str, how: str) -> Corruption:
    def apply(directory: Path) -> None:
        path = directory / name
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        elif path.exists() or path.is_symlink():
            path.unlink()
        if how == "empty":
            path.write_bytes(b"")
        elif how == "folder":
            path.mkdir()
        elif how == "link out":
            path.symlink_to(OUTSIDE_FILE)

    return Corruption(f"{how} {name}" if how != "delete" else f"delete {name}", apply)


def _swap(name: str, other: str) -> Corruption:
    def apply(directory: Path) -> None:
        source = FIXTURES / other / name
        if source.is_file():
            shutil.copyfile(source, directory / name)
        else:
            shutil.copyfile(FIXTURES / other / "model.safetensors", directory / name)

    return Corruption(f"{name} from {other}", apply)


def byte_damage(task: str) -> st.SearchStrategy[Corruption]:
    name = st.sampled_from(_files(task))
    return st.one_of(
        st.builds(_truncate, name, st.floats(0.0, 0.999)),
        st.builds(_garble, name, st.floats(0.0, 0.99), st.binary(min_size=1, max_size=16)),
        st.builds(_replace, name, st.sampled_from(("delete", "empty", "folder", "link out"))),
        st.builds(_swap, st.sampled_from(("model.safetensors", "linear_baseline.safetensors")),
                  st.sampled_from([other for other in TASKS if other != task])),
    )  # fmt: skip


# ---- config.json edited out of shape ----


def _edit_config(name: str, edit: Callable[[Any], Any]) -> Corruption:
    def apply(directory: Path) -> None:
        path = directory / "config.json"
        try:
            config = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return  # an earlier corruption already broke it
        path.write_text(json.dumps(edit(config)), encoding="utf-8")

    return Corruption(f"config.json: {name}", apply)


def _without(mapping: Any, key: str) -> Any:
    if isinstance(mapping, dict):
        return {name: value for name, value in mapping.items() if name != key}
    return mapping


def _with(mapping: Any, key: str, value: Any) -> Any:
    return {**mapping, key: value} if isinstance(mapping, dict) else mapping


def _in_section(section: str, edit: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def apply(config: Any) -> Any:
        if isinstance(config, dict) and isinstance(config.get(section), dict):
            return {**config, section: edit(config[section])}
        return config

    return apply


def config_damage(task: str) -> st.SearchStrategy[Corruption]:
    saved = json.loads((FIXTURES / task / "config.json").read_text(encoding="utf-8"))
    section = st.sampled_from(SECTIONS)
    keyed = [(name, key) for name in SECTIONS[1:] for key in saved[name]]
    artifacts = sorted(saved["artifacts"]) or ["tokenizer"]
    other = st.sampled_from(OTHER_KINDS)
    return st.one_of(
        st.just(Corruption("config.json: a list", lambda d: (d / "config.json").write_text("[]"))),
        st.builds(lambda s: _edit_config(f"no '{s}'", lambda c: _without(c, s)), section),
        st.builds(lambda s, v: _edit_config(f"'{s}' = {v!r}", lambda c: _with(c, s, v)),
                  section, other),
        st.builds(lambda v: _edit_config(f"unknown top-level key = {v!r}",
                                         lambda c: _with(c, "unknown", v)), other),
        st.builds(lambda s: _edit_config(f"unknown key in '{s}'",
                                         _in_section(s, lambda m: _with(m, "bogus", 1))),
                  st.sampled_from(SECTIONS[1:4])),
        st.builds(lambda sk, v: _edit_config(f"{sk[0]}.{sk[1]} = {v!r}",
                                             _in_section(sk[0], lambda m: _with(m, sk[1], v))),
                  st.sampled_from(keyed), other),
        st.builds(lambda k: _edit_config(f"no artifacts.{k}",
                                         _in_section("artifacts", lambda m: _without(m, k))),
                  st.sampled_from(artifacts)),
        st.builds(lambda k, n: _edit_config(f"artifacts.{k} = {n!r}",
                                            _in_section("artifacts", lambda m: _with(m, k, n))),
                  st.sampled_from(("tokenizer", "linear_baseline", "training_data")),
                  st.sampled_from(ESCAPING_NAMES)),
    )  # fmt: skip


def corruptions(task: str) -> st.SearchStrategy[list[Corruption]]:
    return st.lists(st.one_of(byte_damage(task), config_damage(task)), min_size=1, max_size=2)


# ---- what must hold ----


def _check_load(call: Callable[[], Any], directory: Path) -> None:
    """``call`` succeeds, or raises SeqlabError whose one line names ``directory``."""
    try:
        call()
    except SeqlabError as error:
        message = str(error)
        assert "\n" not in message, message
        assert str(directory) in message, message


def _check_eval(directory: Path, task: str) -> None:
    """``seqlab eval`` returns 0, or 2 with one line on standard error; it never raises."""
    argv = ["eval", str(directory), "--json"]
    if EVAL_DATA[task] is not None:
        argv += ["--data", str(EVAL_DATA[task])]
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = cli.main(argv)
    assert status in (0, 2), err.getvalue()
    if status == 2:
        lines = err.getvalue().splitlines()
        assert len(lines) == 1 and lines[0].startswith("seqlab: error: "), err.getvalue()
    else:
        json.loads(out.getvalue())  # the report, whole


def _check_directory(task: str, damage: list[Corruption]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        directory = Path(folder) / task
        shutil.copytree(FIXTURES / task, directory)
        for corruption in damage:
            corruption.apply(directory)
        _check_load(lambda: seqlab.load(directory), directory)
        _check_load(lambda: load_trained(directory), directory)
        _check_eval(directory, task)


FUZZ = settings(
    max_examples=100,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@pytest.mark.parametrize("task", TASKS)
@FUZZ
@given(data=st.data())
def test_damaged_directories_load_or_fail_in_one_line(task: str, data: st.DataObject) -> None:
    _check_directory(task, data.draw(corruptions(task), label="damage"))
