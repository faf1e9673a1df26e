"""The bytes of a user's file, or one line saying why they cannot be read.

Every reader of user files (labelled texts, parallel corpora) starts here, so a wrong path, a
folder or a file without read permission gets the same one-line error, naming the file and the
fix, whichever loader met it.
"""

from __future__ import annotations

from pathlib import Path

from seqlab.errors import SeqlabError


def read_file_bytes(path: Path, *, source: str | None = None) -> bytes:
    """``path``'s bytes; ``source`` is how messages name the file (default: the path)."""
    name = str(path) if source is None else source
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise SeqlabError(f"{name} not found; check the path") from None
    except IsADirectoryError:
        raise SeqlabError(f"{name} is a folder; give a file") from None
    except OSError as err:
        raise SeqlabError(f"{name}: cannot read ({err.strerror}); check permissions") from None
