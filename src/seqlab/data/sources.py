"""Named data sets, where their files come from, and their SHA-256 checksums.

References: the data README (``../shared/data/README.md``: layout and checksums); FIPS 180-4
(SHA-256); the canonical sources of each set:

- SST-2: Socher et al., 2013, "Recursive Deep Models for Semantic Compositionality Over a Sentiment
  Treebank", as packaged by GLUE (Wang et al., 2018) in ``SST-2.zip``;
- Multi30k: Elliott et al., 2016, "Multi30K: Multilingual English-German Image Descriptions",
  ``multi30k/dataset`` repository, ``data/task1/raw``;
- ETTh1: Zhou et al., 2021, "Informer", ``zhouhaoyi/ETDataset``, ``ETT-small``;
- Tiny Shakespeare: Karpathy, 2015, ``karpathy/char-rnn``, ``data/tinyshakespeare``.

``resolve_file(dataset, name)`` looks, in order, in the folder named by ``$SEQLAB_DATA`` (the same
layout as the shared data folder: ``sst2/train.tsv``, ``ett/ETTh1.csv``, ...), then in the user
cache (``$SEQLAB_CACHE``, else ``~/.cache/seqlab``, same layout), then downloads into the cache.
Every copy, local or downloaded, must match the registered SHA-256: a result trained on other
bytes than the ones the checksum in ``metrics.json`` names would not be reproducible.

Known limit: the SST-2 checksums are those of the reference copy in the shared data folder, a
re-exported variant (``label<TAB>sentence`` header, CRLF line ends in ``train.tsv``, text column
``content`` in ``dev.tsv``); GLUE's zip holds ``sentence<TAB>label`` files with other bytes, so a
download from GLUE fails the checksum and the error says to place a verified copy instead. The
parsers read both layouts (columns by name).
"""

from __future__ import annotations

import hashlib
import io
import os
import urllib.request
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from seqlab.errors import SeqlabError
from seqlab.utils.io import atomic_write_bytes

__all__ = [
    "DATASETS",
    "DataFile",
    "DataSet",
    "cache_dir",
    "data_dir",
    "dataset_checksum",
    "download_file",
    "file_sha256",
    "get_dataset",
    "resolve_file",
]

# Downloads are small (the largest, SST-2.zip, is about 7 MB), so they are read into memory,
# checked, and written once, atomically.
_DOWNLOAD_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class DataFile:
    """One file of a named data set.

    name: the file's name inside the data set's folder (``train.tsv``).
    sha256: hex digest of the file's bytes as stored (compressed files are hashed compressed).
    url: the canonical public download.
    member: when ``url`` is a zip archive, the path of this file inside it; None otherwise.
    """

    name: str
    sha256: str
    url: str
    member: str | None = None


@dataclass(frozen=True)
class DataSet:
    """A named data set: the folder it lives in (under SEQLAB_DATA or the cache) and its files."""

    name: str
    folder: str
    files: tuple[DataFile, ...]
    description: str

    def file(self, name: str) -> DataFile:
        for data_file in self.files:
            if data_file.name == name:
                return data_file
        known = ", ".join(f.name for f in self.files)
        raise SeqlabError(f"data set '{self.name}' has no file '{name}'; use one of: {known}")


_GLUE_SST2 = "https://dl.fbaipublicfiles.com/glue/data/SST-2.zip"
_MULTI30K = "https://raw.githubusercontent.com/multi30k/dataset/master/data/task1/raw/"
_ETT = "https://raw.githubusercontent.com/zhouhaoyi/ETDataset/main/ETT-small/ETTh1.csv"
_SHAKESPEARE = (
    "https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt"
)


def _multi30k(name: str, sha256: str) -> DataFile:
    return DataFile(name=name, sha256=sha256, url=_MULTI30K + name)


DATASETS: dict[str, DataSet] = {
    "sst2": DataSet(
        name="sst2",
        folder="sst2",
        description="SST-2 binary sentiment (GLUE); train 67,349 rows, dev 872 rows",
        files=(
            DataFile(
                name="train.tsv",
                sha256="e981ceb4fe6c9acd1c79851d0d091b9e78103f1f2a399ca83dda27915d41c56c",
                url=_GLUE_SST2,
                member="SST-2/train.tsv",
            ),
            DataFile(
                name="dev.tsv",
                sha256="84207e6be5873fb18db798cc6faec86871f5a426554650ff64a1c34e87665f6f",
                url=_GLUE_SST2,
                member="SST-2/dev.tsv",
            ),
        ),
    ),
    "multi30k": DataSet(
        name="multi30k",
        folder="multi30k",
        description="Multi30k task 1, German-English, one sentence a line, gzip",
        files=(
            _multi30k(
                "train.de.gz", "726e39b2fa9eb9ffb6dc763fb35a179f80fae06ffc5d28b6ace5faa883de28a6"
            ),
            _multi30k(
                "train.en.gz", "d79cfa999dd4c51d2cb42499b6796d5a882c3a8a961923c25a898c90f8bbd56f"
            ),
            _multi30k(
                "val.de.gz", "f0cba2f995189cf5770f29a8a9a537a3ad3f51657ad873405082ff6863a5e75a"
            ),
            _multi30k(
                "val.en.gz", "14f7d25ddd868909a9213e361768460edcacdd6ab9d1e77b92560dc10c10dc28"
            ),
            _multi30k(
                "test_2016_flickr.de.gz",
                "9204244e408ccb38d2a55cfcd344df15005fc42a07a6e55ca6c52b6ababb8cc8",
            ),
            _multi30k(
                "test_2016_flickr.en.gz",
                "611d361c6334bc7246101d48097c13cf5c4413c5befc793cc629934359d532d9",
            ),
        ),
    ),
    "etth1": DataSet(
        name="etth1",
        folder="ett",
        description="ETTh1 electricity transformer temperature, hourly, 17,420 rows",
        files=(
            DataFile(
                name="ETTh1.csv",
                sha256="f18de3ad269cef59bb07b5438d79bb3042d3be49bdeecf01c1cd6d29695ee066",
                url=_ETT,
            ),
        ),
    ),
    "tinyshakespeare": DataSet(
        name="tinyshakespeare",
        folder="tinyshakespeare",
        description="Tiny Shakespeare, plain text, 1,115,394 characters",
        files=(
            DataFile(
                name="input.txt",
                sha256="86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed",
                url=_SHAKESPEARE,
            ),
        ),
    ),
}


def get_dataset(dataset: str) -> DataSet:
    """The registered data set called ``dataset``; a SeqlabError lists the known names."""
    try:
        return DATASETS[dataset]
    except KeyError:
        known = ", ".join(sorted(DATASETS))
        raise SeqlabError(f"unknown data set '{dataset}'; use one of: {known}") from None


def data_dir() -> Path | None:
    """The folder named by ``$SEQLAB_DATA``, or None when the variable is unset or empty."""
    value = os.environ.get("SEQLAB_DATA", "").strip()
    return Path(value).expanduser() if value else None


def cache_dir() -> Path:
    """The download cache: ``$SEQLAB_CACHE``, else ``~/.cache/seqlab``."""
    value = os.environ.get("SEQLAB_CACHE", "").strip()
    return Path(value).expanduser() if value else Path.home() / ".cache" / "seqlab"


# (absolute path, size, mtime_ns) -> hex digest. Hashing the largest file takes ~10 ms, but a run
# resolves the same files many times (each split, each evaluation), and tests build many runs.
_verified: dict[tuple[str, int, int], str] = {}


def file_sha256(path: str | os.PathLike[str]) -> str:
    """SHA-256 hex digest of a file, remembered per (path, size, mtime) so a repeat is free.

    A file changed in place gets a new mtime (or size), so a stale digest is never returned.
    """
    resolved = Path(path).resolve()
    stat = resolved.stat()
    key = (str(resolved), stat.st_size, stat.st_mtime_ns)
    digest = _verified.get(key)
    if digest is None:
        hasher = hashlib.sha256()
        with open(resolved, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                hasher.update(block)
        digest = hasher.hexdigest()
        _verified[key] = digest
    return digest


def _fetch(url: str) -> bytes:
    """The bytes at ``url``. Tests replace this function so they never touch the network."""
    request = urllib.request.Request(url, headers={"User-Agent": "seqlab"})
    with urllib.request.urlopen(request, timeout=_DOWNLOAD_TIMEOUT_S) as response:
        return response.read()


def download_file(data_file: DataFile, destination: Path, *, label: str) -> None:
    """Download ``data_file`` to ``destination``, checked against its SHA-256, written atomically.

    ``label`` names the file in messages (``sst2/train.tsv``). The bytes are checked before they
    are written, so a mismatch leaves nothing behind. Network errors propagate as they are
    (``OSError``); the caller turns them into the missing-file message.
    """
    payload = _fetch(data_file.url)
    if data_file.member is not None:
        try:
            with zipfile.ZipFile(io.BytesIO(payload)) as archive:
                payload = archive.read(data_file.member)
        except (zipfile.BadZipFile, KeyError) as err:
            raise SeqlabError(
                f"{label}: {data_file.url} is not a zip archive holding {data_file.member} "
                f"({err}); download it by hand and put {data_file.member} at {destination}"
            ) from None
    actual = hashlib.sha256(payload).hexdigest()
    if actual != data_file.sha256:
        raise SeqlabError(
            f"{label} downloaded from {data_file.url} has SHA-256 {actual}, expected "
            f"{data_file.sha256} (not kept); the source has changed: put a verified copy in "
            f"$SEQLAB_DATA/{label} or {destination}"
        )
    atomic_write_bytes(destination, payload)


def _verify_local(path: Path, data_file: DataFile, *, where: str) -> Path:
    actual = file_sha256(path)
    if actual != data_file.sha256:
        raise SeqlabError(
            f"{path} ({where}) has SHA-256 {actual}, expected {data_file.sha256}; replace it "
            f"with the original file from {data_file.url}"
        )
    return path


def resolve_file(dataset: str, name: str, *, download: bool = True) -> Path:
    """The local path of file ``name`` of the named ``dataset``, checksum verified.

    Order: ``$SEQLAB_DATA/<folder>/<name>``, then ``<cache>/<folder>/<name>``, then (when
    ``download`` is true and ``$SEQLAB_OFFLINE`` is not ``1``) a download into the cache. A local
    copy with the wrong checksum is an error, not a reason to look further: silently preferring
    another copy would hide a corrupted or edited file.
    """
    spec = get_dataset(dataset)
    data_file = spec.file(name)
    label = f"{spec.folder}/{name}"

    root = data_dir()
    if root is not None and (root / label).is_file():
        return _verify_local(root / label, data_file, where="in SEQLAB_DATA")

    cached = cache_dir() / label
    if cached.is_file():
        return _verify_local(cached, data_file, where="in the seqlab cache")

    if not download or os.environ.get("SEQLAB_OFFLINE", "").strip() == "1":
        why = "downloads are off"
    else:
        try:
            download_file(data_file, cached, label=label)
            return cached
        except OSError as err:  # URLError, timeouts and refused connections are all OSErrors
            why = f"download from {data_file.url} failed: {_one_line(err)}"

    searched = f"SEQLAB_DATA={root} has no {label}" if root is not None else "SEQLAB_DATA is unset"
    raise SeqlabError(
        f"{label} not found ({searched}): set SEQLAB_DATA to a folder holding {label}, or put it "
        f"in {cached} ({why})"
    )


def dataset_checksum(dataset: str, names: Sequence[str] | None = None) -> str:
    """One SHA-256 naming exactly which bytes a result was computed on, for ``metrics.json``.

    It is the SHA-256 of the lines ``"<sha256>  <folder>/<name>\\n"`` (``sha256sum`` format)
    for the chosen files (default: all of the data set's files), sorted by name so the order in
    which a task lists its splits does not matter. It is computed from the registry: any file a
    run read was verified against these digests by :func:`resolve_file`.
    """
    spec = get_dataset(dataset)
    chosen = [spec.file(name) for name in (names if names is not None else _names(spec))]
    if not chosen:
        raise SeqlabError(f"dataset_checksum('{dataset}') needs at least one file name")
    lines = sorted({f"{f.sha256}  {spec.folder}/{f.name}\n" for f in chosen})
    return hashlib.sha256("".join(lines).encode()).hexdigest()


def _names(spec: DataSet) -> list[str]:
    return [f.name for f in spec.files]


def _one_line(err: BaseException) -> str:
    return " ".join(str(err).split()) or type(err).__name__
