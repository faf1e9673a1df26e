"""Plain text for language modelling: one UTF-8 file, a folder of ``.txt`` files, or Tiny
Shakespeare; split by characters into training and validation text.

References: RFC 3629 (UTF-8); the Unicode Standard, section 23.8 (U+FEFF, the byte order mark,
bytes EF BB BF at the start of a UTF-8 file); nanoGPT's ``data/shakespeare_char/prepare.py``
(Karpathy, 2022): ``n = len(data); train = data[:int(n * 0.9)]; val = data[int(n * 0.9):]``,
the split of Tiny Shakespeare (Karpathy, 2015, char-rnn) that published character-level results
use, which :func:`split_text` reproduces exactly (1,115,394 characters: 1,003,854 train, 111,540
validation).

How a text is read (:func:`read_text`):

- a file is read whole, through :func:`seqlab.data.file_bytes.read_file_bytes`, and decoded as
  strict UTF-8: a byte sequence that is not UTF-8 is an error naming the file, its line and the
  byte offset in the file as stored (BOM included), never replaced by U+FFFD. A leading UTF-8
  byte order mark is dropped; a UTF-16 one is an error (save the file as UTF-8). Nothing else is
  changed: line ends (CR LF stays CR LF), tabs and trailing white space are part of the text a
  language model learns;
- a folder is read as every regular file under it, at any depth, whose extension is ``.txt`` in
  any case (``.TXT`` too), except those under a hidden name (a file or folder whose name starts
  with ``.``, such as ``.git`` or ``.ipynb_checkpoints``, which hold copies rather than text).
  Files are read in sorted order of their path relative to the folder, compared part by part as
  strings (``a.txt``, ``b/10.txt``, ``b/2.txt``). They are joined so that exactly one empty line
  separates them when each ends with one line break: a file that ends with a line break is
  followed by one more (``\\n``), a file that does not by two (``\\n\\n``);
- an empty file (also inside a folder), a folder without ``.txt`` files, or a text shorter than
  the ``min_chars`` the caller needs is an error saying so.

:class:`TextSource` keeps the files read (for the checksum a result is reported with) and where
each one starts in the joined text, so :meth:`TextSource.locate` turns a character offset back
into ``FILE:LINE:COLUMN``.
"""

from __future__ import annotations

import bisect
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from seqlab.data.file_bytes import read_file_bytes
from seqlab.data.sources import dataset_checksum, file_sha256, resolve_file
from seqlab.errors import SeqlabError

__all__ = [
    "TINYSHAKESPEARE_FILE",
    "TextSource",
    "read_text",
    "split_text",
    "tinyshakespeare_text",
]

TINYSHAKESPEARE_FILE = "input.txt"
_BOM = b"\xef\xbb\xbf"
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
_TEXT_EXTENSION = ".txt"


@dataclass(frozen=True)
class TextSource:
    """A text read for language modelling, and where its characters came from.

    text: the whole text (files joined as the module docstring says).
    source: how messages name it (the path given, or the data set's file).
    files: the files read, in reading order. offsets: the character offset in ``text`` at which
    each file's text starts (``offsets[0] == 0``). root: the path given (a file or a folder),
    which :meth:`checksum` names files relative to. dataset: the named data set the text is
    (``"tinyshakespeare"``), or None for a user's text.
    """

    text: str
    source: str
    files: tuple[Path, ...]
    offsets: tuple[int, ...]
    root: Path
    dataset: str | None = None

    def __len__(self) -> int:
        return len(self.text)

    def locate(self, offset: int) -> str:
        """``FILE:LINE:COLUMN`` (1-based) of the character at ``offset`` in :attr:`text`.

        The line breaks that join two files count as the end of the earlier file.
        """
        if not 0 <= offset < len(self.text):
            raise ValueError(f"offset {offset} is outside the text of {len(self.text)} characters")
        which = bisect.bisect_right(self.offsets, offset) - 1
        start = self.offsets[which]
        line = self.text.count("\n", start, offset) + 1
        line_start = self.text.rfind("\n", start, offset) + 1 or start
        return f"{self.files[which]}:{line}:{offset - line_start + 1}"

    def checksum(self) -> str:
        """One SHA-256 naming exactly which bytes the text was read from, for ``metrics.json``.

        The named data set: :func:`seqlab.data.sources.dataset_checksum` of its file. A user's
        text: the SHA-256 of the lines ``"<sha256>  <name>\\n"`` (``sha256sum`` format), one per
        file, sorted, where name is the file's path relative to the folder given (its own name
        when a file was given), so moving the folder keeps the checksum.
        """
        if self.dataset is not None:
            return dataset_checksum(self.dataset, [TINYSHAKESPEARE_FILE])
        lines = sorted(f"{file_sha256(path)}  {self._name(path)}\n" for path in self.files)
        return hashlib.sha256("".join(lines).encode()).hexdigest()

    def _name(self, path: Path) -> str:
        if path == self.root:
            return path.name
        return path.relative_to(self.root).as_posix()


def read_text(
    path: str | os.PathLike[str], *, min_chars: int = 1, why: str | None = None
) -> TextSource:
    """The UTF-8 text of a file, or of a folder's ``.txt`` files (see the module docstring).

    ``min_chars``: the fewest characters the caller can use; a shorter text is an error whose
    message gives both numbers and ``why`` (for example ``"context + 1 = 257 in each split"``).
    """
    root = Path(path)
    if root.is_dir():
        files = _text_files(root)
        if not files:
            raise SeqlabError(
                f"{root} holds no {_TEXT_EXTENSION} files; put the text in .txt files (UTF-8) or "
                "give the path of one file"
            )
    else:
        files = [root]
    parts: list[str] = []
    offsets: list[int] = []
    position = 0
    for file_path in files:
        if parts:
            separator = "\n" if parts[-1].endswith("\n") else "\n\n"
            parts.append(separator)
            position += len(separator)
        text = _decode_file(file_path)
        offsets.append(position)
        parts.append(text)
        position += len(text)
    joined = "".join(parts)
    if len(joined) < min_chars:
        because = f" ({why})" if why else ""
        raise SeqlabError(
            f"{root} has {len(joined):,} characters, fewer than the {min_chars:,} needed"
            f"{because}; give a longer text"
        )
    return TextSource(
        text=joined, source=str(root), files=tuple(files), offsets=tuple(offsets), root=root
    )


def tinyshakespeare_text(*, download: bool = True) -> TextSource:
    """Tiny Shakespeare (1,115,394 characters), found by
    :func:`seqlab.data.sources.resolve_file` and checked against its SHA-256."""
    path = resolve_file("tinyshakespeare", TINYSHAKESPEARE_FILE, download=download)
    return TextSource(
        text=_decode_file(path),
        source=str(path),
        files=(path,),
        offsets=(0,),
        root=path,
        dataset="tinyshakespeare",
    )


def split_text(
    text: str, *, train_fraction: float = 0.9, min_chars: int = 1, why: str | None = None
) -> tuple[str, str]:
    """(train, validation): the first ``int(len(text) * train_fraction)`` characters and the rest.

    The boundary is nanoGPT's, computed the same way, so Tiny Shakespeare splits into exactly
    the published 1,003,854 and 111,540 characters. Each part must have at least ``min_chars``
    characters (``why`` says what for); otherwise the error gives both lengths.
    """
    if not 0.0 < train_fraction < 1.0:
        raise SeqlabError(f"train_fraction ({train_fraction}) must be between 0 and 1, exclusive")
    boundary = int(len(text) * train_fraction)
    train, val = text[:boundary], text[boundary:]
    if min(len(train), len(val)) < max(min_chars, 1):
        because = f" ({why})" if why else ""
        raise SeqlabError(
            f"splitting {len(text):,} characters at train_fraction {train_fraction} gives "
            f"{len(train):,} training and {len(val):,} validation characters; each part needs at "
            f"least {max(min_chars, 1):,}{because}; give a longer text or a validation file, or "
            "change train_fraction"
        )
    return train, val


def _text_files(root: Path) -> list[Path]:
    """The ``.txt`` files under ``root`` that are read, in reading order."""
    found: list[tuple[tuple[str, ...], Path]] = []
    for candidate in root.rglob("*"):
        relative = candidate.relative_to(root).parts
        if any(part.startswith(".") for part in relative):
            continue
        if candidate.suffix.lower() == _TEXT_EXTENSION and candidate.is_file():
            found.append((relative, candidate))
    return [candidate for _, candidate in sorted(found)]


def _decode_file(file_path: Path) -> str:
    """The strict UTF-8 text of one file, without a leading byte order mark."""
    data = read_file_bytes(file_path)
    if data.startswith(_UTF16_BOMS):
        raise SeqlabError(
            f"{file_path} is UTF-16 text (it starts with a UTF-16 byte order mark); save it as "
            "UTF-8"
        )
    skipped = len(_BOM) if data.startswith(_BOM) else 0
    try:
        text = data[skipped:].decode("utf-8")
    except UnicodeDecodeError as err:
        offset = skipped + err.start
        line = data.count(b"\n", 0, offset) + 1
        raise SeqlabError(
            f"{file_path}:{line}: byte 0x{data[offset]:02x} at byte offset {offset:,} is not "
            "UTF-8; convert the file to UTF-8 (for example iconv -f cp1252 -t utf-8) and read "
            "it again"
        ) from None
    if not text:
        raise SeqlabError(f"{file_path} is empty; give it text or remove it")
    return text
