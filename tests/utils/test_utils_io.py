"""Atomic writes leave either the old file or the complete new one, never a mix."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file

import seqlab.utils.io as io_module
from seqlab.utils.io import (
    append_jsonl,
    atomic_write_bytes,
    atomic_write_json,
    atomic_write_text,
    save_safetensors_atomic,
)


def test_atomic_writes_replace_content_and_leave_no_temp_files(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "config.json"
    atomic_write_json(target, {"a": 1, "b": [1.5, "x"]})
    atomic_write_json(target, {"a": 2})
    assert json.loads(target.read_text()) == {"a": 2}
    atomic_write_text(tmp_path / "t.txt", "héllo")
    assert (tmp_path / "t.txt").read_text(encoding="utf-8") == "héllo"
    atomic_write_bytes(tmp_path / "b.bin", b"\x00\x01")
    assert (tmp_path / "b.bin").read_bytes() == b"\x00\x01"
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["b.bin", "config.json", "sub", "t.txt"]


def test_new_files_get_the_umask_default_and_rewrites_keep_the_mode(tmp_path: Path) -> None:
    umask = os.umask(0o022)
    os.umask(umask)
    atomic_write_text(tmp_path / "a.txt", "x")
    assert (tmp_path / "a.txt").stat().st_mode & 0o777 == 0o666 & ~umask
    os.chmod(tmp_path / "a.txt", 0o640)
    atomic_write_text(tmp_path / "a.txt", "y")
    assert (tmp_path / "a.txt").stat().st_mode & 0o777 == 0o640


def test_failed_write_keeps_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "metrics.json"
    atomic_write_json(target, {"accuracy": 0.9})

    def failing_replace(src: str, dst: str) -> None:
        raise OSError("power cut (simulated)")

    monkeypatch.setattr(io_module.os, "replace", failing_replace)
    with pytest.raises(OSError, match="simulated"):
        atomic_write_json(target, {"accuracy": 0.1})
    monkeypatch.undo()
    assert json.loads(target.read_text()) == {"accuracy": 0.9}
    assert os.listdir(tmp_path) == ["metrics.json"]


def test_json_rejects_nan_with_a_fix(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"bad.json as JSON: .*replace NaN/inf values with None"):
        atomic_write_json(tmp_path / "bad.json", {"loss": float("nan")})
    assert not (tmp_path / "bad.json").exists()


def test_append_jsonl_writes_one_strict_json_object_per_line(tmp_path: Path) -> None:
    log = tmp_path / "log.jsonl"
    append_jsonl(log, {"step": 1, "loss": 0.5})
    append_jsonl(log, {"step": 2, "loss": float("inf"), "metrics": {"bleu": float("nan")}})
    lines = log.read_text().splitlines()
    assert [json.loads(line) for line in lines] == [
        {"step": 1, "loss": 0.5},
        {"step": 2, "loss": None, "metrics": {"bleu": None}},
    ]


def test_safetensors_round_trip_with_metadata_and_tied_tensors(tmp_path: Path) -> None:
    shared = torch.arange(6, dtype=torch.float32).reshape(2, 3)
    tensors = {"embedding.weight": shared, "output.weight": shared, "t": shared.t()}
    path = tmp_path / "model.safetensors"
    save_safetensors_atomic(tensors, path, metadata={"format": "pt"})
    loaded = load_file(path)
    for name, tensor in tensors.items():
        assert torch.equal(loaded[name], tensor), name
    with safe_open(path, framework="pt") as handle:
        assert handle.metadata() == {"format": "pt"}
    with pytest.raises(TypeError, match=r"metadata must map str to str; \['step'\]"):
        save_safetensors_atomic(tensors, path, metadata={"step": 3})  # type: ignore[dict-item]
