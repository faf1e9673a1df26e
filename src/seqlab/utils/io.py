"""Atomic file writes and JSON-lines logs.

References: POSIX ``rename(2)`` (replacing a file by renaming over it is atomic within one file
system) and the usual write-temp / fsync / rename recipe (e.g. "Files are hard", Dan Luu, 2015).
The temporary file lives in the target's folder so the final ``os.replace`` never crosses file
systems, where it would stop being atomic.
"""

from __future__ import annotations

import contextlib
import functools
import json
import math
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

__all__ = [
    "append_jsonl",
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_text",
    "fsync_dir",
    "new_file_mode",
    "new_folder_mode",
    "save_safetensors_atomic",
]


def fsync_dir(path: str | os.PathLike[str]) -> None:
    """Flush a folder's entry table so a rename inside it survives a power cut.

    Windows cannot open folders for fsync; there the rename is as durable as the OS makes it.
    """
    with contextlib.suppress(OSError):
        fd = os.open(os.fspath(path), os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@functools.cache
def _umask() -> int:
    # os.umask can only be read by setting it: set it and put it back at once, and only once.
    umask = os.umask(0o022)
    os.umask(umask)
    return umask


def new_file_mode() -> int:
    """What ``open()`` would give a new file: 0o666 minus the umask."""
    return 0o666 & ~_umask()


def new_folder_mode() -> int:
    """What ``mkdir()`` would give a new folder: 0o777 minus the umask (a folder made by
    ``tempfile.mkdtemp`` starts private, 0o700)."""
    return 0o777 & ~_umask()


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` so readers see either the old file or the complete new one.

    The new file gets the old file's permissions, or the umask's default for a new file (the
    temporary file starts private, 0o600).
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        mode = target.stat().st_mode & 0o777
    except FileNotFoundError:
        mode = new_file_mode()
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with contextlib.suppress(OSError):  # e.g. file systems without POSIX modes
            os.chmod(tmp_name, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            # fsync before the rename: otherwise a crash can leave the new name on empty data.
            os.fsync(handle.fileno())
        os.replace(tmp_name, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp_name)
        raise
    fsync_dir(target.parent)


def atomic_write_text(path: str | os.PathLike[str], text: str, *, encoding: str = "utf-8") -> None:
    """Write ``text`` atomically (see :func:`atomic_write_bytes`)."""
    atomic_write_bytes(path, text.encode(encoding))


def _dumps(obj: Any, *, indent: int | None, what: str) -> str:
    # allow_nan=False: NaN/Infinity are not JSON, and other readers (jq, browsers) reject them.
    try:
        return json.dumps(obj, indent=indent, allow_nan=False, ensure_ascii=False)
    except ValueError as err:
        raise ValueError(
            f"{what}: {err}; replace NaN/inf values with None (or a string) before writing"
        ) from err
    except TypeError as err:
        hint = "convert the value to str, int, float, list or dict"
        raise TypeError(f"{what}: {err}; {hint}") from err


def atomic_write_json(path: str | os.PathLike[str], obj: Any, *, indent: int | None = 2) -> None:
    """Write ``obj`` as strict JSON (no NaN/inf), atomically, with a trailing newline."""
    text = _dumps(obj, indent=indent, what=f"cannot write {os.fspath(path)} as JSON")
    atomic_write_text(path, text + "\n")


def append_jsonl(path: str | os.PathLike[str], record: Mapping[str, Any]) -> None:
    """Append one JSON object as one line to ``path`` (a JSON-lines log).

    Non-finite floats become ``None`` so every line stays strict JSON. The line is written with a
    single ``write`` call on a file opened for appending, so a crash loses at most the last line;
    it is not fsynced (a log is not worth a disk flush per step).
    """
    line = _dumps(_finite_or_none(dict(record)), indent=None, what=f"cannot log to {path}")
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target, "a", encoding="utf-8") as handle:
        handle.write(line + "\n")


def _finite_or_none(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {key: _finite_or_none(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite_or_none(item) for item in value]
    return value


def save_safetensors_atomic(
    tensors: Mapping[str, torch.Tensor],
    path: str | os.PathLike[str],
    metadata: Mapping[str, str] | None = None,
) -> None:
    """Save ``tensors`` in safetensors format (loading it never executes code), atomically.

    Tensors are moved to CPU and made contiguous. safetensors refuses tensors sharing memory
    (tied weights, e.g. an embedding reused as the output layer); those are cloned, so the file
    holds each name with its own copy and ``load_state_dict`` fills every name.
    """
    import torch
    from safetensors.torch import save

    if metadata is not None:
        bad = {key: value for key, value in metadata.items() if not isinstance(value, str)}
        if bad or not all(isinstance(key, str) for key in metadata):
            raise TypeError(
                f"safetensors metadata must map str to str; {sorted(map(str, bad))} are not "
                "strings; convert them with json.dumps or str"
            )
    prepared: dict[str, torch.Tensor] = {}
    seen_storages: set[int] = set()
    for name, tensor in tensors.items():
        if not isinstance(tensor, torch.Tensor):
            raise TypeError(f"tensor '{name}' is a {type(tensor).__name__}, not a torch.Tensor")
        data = tensor.detach().to("cpu").contiguous()
        storage = data.untyped_storage().data_ptr()
        if data.numel() > 0 and storage in seen_storages:
            data = data.clone()
        elif data.numel() > 0:
            seen_storages.add(storage)
        prepared[name] = data
    payload = save(prepared, metadata=dict(metadata) if metadata is not None else None)
    atomic_write_bytes(path, _sorted_header(payload))


def _sorted_header(payload: bytes) -> bytes:
    """The same safetensors file with its JSON header's keys sorted.

    The format is an 8-byte little-endian header length, the JSON header (padded with spaces),
    then the tensor bytes at offsets relative to the header's end. safetensors writes the
    ``__metadata__`` map in a varying order, so equal weights could give different files; the
    sorted header has the same length (the same keys and values), so every offset still holds.
    """
    length = int.from_bytes(payload[:8], "little")
    header = json.loads(payload[8 : 8 + length])
    text = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
    if len(text) > length:  # never expected; keep the library's own bytes rather than break it
        return payload
    return payload[:8] + text.ljust(length, b" ") + payload[8 + length :]
