"""The temporary folder ``seqlab retrain`` builds a new model directory in, and the ones a killed
run left behind.

References: POSIX ``rename(2)`` (a folder renamed within one file system appears whole or not at
all) and ``kill(2)`` with signal 0 (asks whether a process exists without signalling it).

The folder lies beside the target, named ``.<target name>.retrain-<host>-<pid>-<random>.tmp``:
``host`` is the first 8 hex digits of the SHA-256 of this machine's host name and ``pid`` the
building process. A run that completes renames it to the target; one that fails removes it; one
that is killed (SIGKILL, a power cut) cannot, and leaves it. The next retrain to the same target
(:func:`remove_stale_work_folders`) removes such a folder when it can tell it is stale: its name
has this form, it was made on this machine, and its process no longer exists; it says so. Any
other folder of the form ``.<target name>.*.tmp`` (made on another machine sharing the folder,
by a process still running, or by an earlier seqlab, whose folders were
``.<target name>.<random>.tmp``)
is an error naming it, so that nothing another run may still be writing is ever removed.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import socket
import tempfile
from pathlib import Path

from seqlab.errors import SeqlabError
from seqlab.utils.io import fsync_dir, new_folder_mode

__all__ = ["make_work_folder", "move_into_place", "remove_stale_work_folders"]


def _host_tag() -> str:
    return hashlib.sha256(socket.gethostname().encode("utf-8")).hexdigest()[:8]


def make_work_folder(target: Path) -> Path:
    """A new, empty folder beside ``target`` (whose parent must exist), named as the module
    docstring says, with a new folder's usual mode."""
    prefix = f".{target.name}.retrain-{_host_tag()}-{os.getpid()}-"
    work = Path(tempfile.mkdtemp(dir=target.parent, prefix=prefix, suffix=".tmp"))
    # mkdtemp makes a private folder (0o700); the model directory gets a new folder's usual
    # mode, as 'seqlab train' gives it.
    os.chmod(work, new_folder_mode())
    return work


def _process_exists(pid: int) -> bool:
    """Whether process ``pid`` exists on this machine (True when that cannot be told)."""
    if os.name == "nt":  # os.kill(pid, 0) would terminate it there
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, OSError):
        return True  # another user's process, or a number the system refuses: keep it
    return True


def remove_stale_work_folders(target: Path) -> list[str]:
    """Remove the temporary folders a killed retrain to ``target`` left beside it; one line per
    folder removed. Raises SeqlabError naming a folder of either form the module docstring
    gives that cannot be told stale."""
    if not target.parent.is_dir():
        return []
    name = re.escape(target.name)
    own = re.compile(rf"\.{name}\.retrain-([0-9a-f]{{8}})-(\d+)-[a-z0-9_]{{8}}\.tmp")
    older = re.compile(rf"\.{name}\.[a-z0-9_]{{8}}\.tmp")  # earlier versions' names
    removed = []
    for path in sorted(target.parent.iterdir()):
        match = own.fullmatch(path.name)
        if match is None and older.fullmatch(path.name) is None:
            continue
        if not path.is_dir() or path.is_symlink():
            continue
        if match is None or match.group(1) != _host_tag():
            raise SeqlabError(
                f"{path} is a temporary folder of a run building --out {target} that did not "
                "finish here (another machine's, or an older seqlab's); if no such run is going "
                "on, remove it and run again"
            )
        pid = int(match.group(2))
        if _process_exists(pid):
            raise SeqlabError(
                f"{path}: process {pid} may still be building --out {target} there; wait for "
                "it, or if it is not a 'seqlab retrain', remove the folder and run again"
            )
        shutil.rmtree(path)
        removed.append(
            f"removed {path}, left by a 'seqlab retrain' to {target} that did not finish "
            f"(process {pid} is gone)"
        )
    return removed


def move_into_place(work: Path, target: Path) -> None:
    """Rename the finished ``work`` folder to ``target`` (absent or an empty folder)."""
    try:
        # Renaming a folder is atomic; POSIX lets it replace an empty folder of that name.
        os.rename(work, target)
    except OSError as error:
        raise SeqlabError(f"cannot move the new model into --out {target}: {error}") from None
    fsync_dir(target.parent)
