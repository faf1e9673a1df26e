"""Named data sets (seqlab.data.sources): resolution order, checksums, downloads, error messages.

Every test runs with SEQLAB_DATA and SEQLAB_CACHE pointed at fresh temporary folders and with the
downloader replaced by one that fails, so no test can touch the network or the user's cache. A
small registered data set ("toy") with known bytes stands in for the real ones; the real files
are checked only when SEQLAB_DATA was set before the tests started.
"""

from __future__ import annotations

import hashlib
import io
import os
import urllib.error
import zipfile
from pathlib import Path

import pytest

from seqlab.data import sources
from seqlab.data.sources import DataFile, DataSet, dataset_checksum, file_sha256, resolve_file
from seqlab.errors import SeqlabError

# Captured at import, before the autouse fixture points SEQLAB_DATA at an empty folder.
_REAL_DATA = os.environ.get("SEQLAB_DATA", "").strip()

TOY_BYTES = b"one\ntwo\n"
TOY_SHA = hashlib.sha256(TOY_BYTES).hexdigest()
TOY_URL = "https://example.invalid/toy/a.txt"
ZIP_URL = "https://example.invalid/toy.zip"


def _zip_with(member: str, payload: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(member, payload)
    return buffer.getvalue()


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """Fresh data and cache folders, no network, and a 'toy' data set in the registry."""
    data, cache = tmp_path / "data", tmp_path / "cache"
    data.mkdir()
    cache.mkdir()
    monkeypatch.setenv("SEQLAB_DATA", str(data))
    monkeypatch.setenv("SEQLAB_CACHE", str(cache))
    monkeypatch.delenv("SEQLAB_OFFLINE", raising=False)

    def no_network(url: str) -> bytes:
        raise urllib.error.URLError("network disabled in tests")

    monkeypatch.setattr(sources, "_fetch", no_network)
    toy = DataSet(
        name="toy",
        folder="toyfolder",
        description="test data",
        files=(
            DataFile(name="a.txt", sha256=TOY_SHA, url=TOY_URL),
            DataFile(name="b.txt", sha256=TOY_SHA, url=ZIP_URL, member="inner/b.txt"),
        ),
    )
    monkeypatch.setitem(sources.DATASETS, "toy", toy)
    return data, cache


def _put(folder: Path, relative: str, payload: bytes = TOY_BYTES) -> Path:
    path = folder / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(payload)
    return path


def test_seqlab_data_wins_over_cache(isolated):
    data, cache = isolated
    in_data = _put(data, "toyfolder/a.txt")
    _put(cache, "toyfolder/a.txt")
    assert resolve_file("toy", "a.txt") == in_data


def test_cache_used_when_seqlab_data_lacks_the_file(isolated):
    _, cache = isolated
    in_cache = _put(cache, "toyfolder/a.txt")
    assert resolve_file("toy", "a.txt") == in_cache


def test_cache_used_when_seqlab_data_unset(isolated, monkeypatch):
    _, cache = isolated
    monkeypatch.delenv("SEQLAB_DATA")
    in_cache = _put(cache, "toyfolder/a.txt")
    assert resolve_file("toy", "a.txt", download=False) == in_cache


def test_default_cache_is_under_home(monkeypatch, tmp_path):
    monkeypatch.delenv("SEQLAB_CACHE")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert sources.cache_dir() == tmp_path / "home" / ".cache" / "seqlab"


def test_download_into_cache_then_reuse(isolated, monkeypatch):
    _, cache = isolated
    calls: list[str] = []

    def fetch(url: str) -> bytes:
        calls.append(url)
        return TOY_BYTES

    monkeypatch.setattr(sources, "_fetch", fetch)
    path = resolve_file("toy", "a.txt")
    assert path == cache / "toyfolder" / "a.txt"
    assert path.read_bytes() == TOY_BYTES
    assert resolve_file("toy", "a.txt") == path
    assert calls == [TOY_URL]  # the second call found the cached copy
    leftovers = [p.name for p in path.parent.iterdir() if p.name != "a.txt"]
    assert leftovers == []  # the atomic write left no temporary file


def test_download_extracts_zip_member(isolated, monkeypatch):
    _, cache = isolated
    monkeypatch.setattr(sources, "_fetch", lambda url: _zip_with("inner/b.txt", TOY_BYTES))
    path = resolve_file("toy", "b.txt")
    assert path == cache / "toyfolder" / "b.txt"
    assert path.read_bytes() == TOY_BYTES


def test_download_zip_without_member_is_an_error(isolated, monkeypatch):
    monkeypatch.setattr(sources, "_fetch", lambda url: _zip_with("other.txt", TOY_BYTES))
    with pytest.raises(SeqlabError, match=r"is not a zip archive holding inner/b\.txt"):
        resolve_file("toy", "b.txt")


def test_download_checksum_mismatch_keeps_nothing(isolated, monkeypatch):
    _, cache = isolated
    monkeypatch.setattr(sources, "_fetch", lambda url: b"tampered\n")
    with pytest.raises(SeqlabError) as caught:
        resolve_file("toy", "a.txt")
    message = str(caught.value)
    assert hashlib.sha256(b"tampered\n").hexdigest() in message
    assert TOY_SHA in message
    assert "\n" not in message
    assert not (cache / "toyfolder" / "a.txt").exists()


def test_checksum_mismatch_in_seqlab_data_names_file_and_both_hashes(isolated):
    data, cache = isolated
    bad = _put(data, "toyfolder/a.txt", b"edited\n")
    _put(cache, "toyfolder/a.txt")  # a good copy elsewhere must not hide the bad one
    with pytest.raises(SeqlabError) as caught:
        resolve_file("toy", "a.txt")
    message = str(caught.value)
    assert str(bad) in message
    assert "in SEQLAB_DATA" in message
    assert hashlib.sha256(b"edited\n").hexdigest() in message
    assert TOY_SHA in message


def test_checksum_mismatch_in_cache_is_an_error(isolated):
    _, cache = isolated
    _put(cache, "toyfolder/a.txt", b"edited\n")
    with pytest.raises(SeqlabError, match="in the seqlab cache"):
        resolve_file("toy", "a.txt")


def test_missing_everywhere_says_what_and_where(isolated):
    data, cache = isolated
    with pytest.raises(SeqlabError) as caught:
        resolve_file("toy", "a.txt")
    assert str(caught.value) == (
        f"toyfolder/a.txt not found (SEQLAB_DATA={data} has no toyfolder/a.txt): set "
        f"SEQLAB_DATA to a folder holding toyfolder/a.txt, or put it in "
        f"{cache / 'toyfolder' / 'a.txt'} (download from {TOY_URL} failed: <urlopen error "
        "network disabled in tests>)"
    )


def test_downloads_off_never_calls_the_downloader(isolated, monkeypatch):
    def fail(url: str) -> bytes:
        raise AssertionError("downloader called")

    monkeypatch.setattr(sources, "_fetch", fail)
    with pytest.raises(SeqlabError, match=r"\(downloads are off\)$"):
        resolve_file("toy", "a.txt", download=False)
    monkeypatch.setenv("SEQLAB_OFFLINE", "1")
    with pytest.raises(SeqlabError, match=r"\(downloads are off\)$"):
        resolve_file("toy", "a.txt")


def test_unknown_names_list_the_known_ones():
    with pytest.raises(SeqlabError, match=r"unknown data set 'nope'; use one of: .*sst2"):
        resolve_file("nope", "a.txt")
    with pytest.raises(SeqlabError, match=r"data set 'sst2' has no file 'test.tsv'; .*dev.tsv"):
        resolve_file("sst2", "test.tsv")


def test_file_sha256_is_cached_per_path_size_and_mtime(tmp_path):
    path = _put(tmp_path, "f.bin")
    assert file_sha256(path) == TOY_SHA
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    assert sources._verified[key] == TOY_SHA
    sources._verified[key] = "remembered"  # prove the second call reads the cache, not the file
    assert file_sha256(path) == "remembered"
    path.write_bytes(b"ONE\nTWO\n")  # same size, new mtime: must be hashed again
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    assert file_sha256(path) == hashlib.sha256(b"ONE\nTWO\n").hexdigest()


def test_dataset_checksum_is_sha256sum_of_sorted_lines():
    expected_lines = f"{TOY_SHA}  toyfolder/a.txt\n{TOY_SHA}  toyfolder/b.txt\n"
    expected = hashlib.sha256(expected_lines.encode()).hexdigest()
    assert dataset_checksum("toy") == expected
    assert dataset_checksum("toy", ["b.txt", "a.txt"]) == expected  # order does not matter
    only_a = hashlib.sha256(f"{TOY_SHA}  toyfolder/a.txt\n".encode()).hexdigest()
    assert dataset_checksum("toy", ["a.txt"]) == only_a
    assert dataset_checksum("sst2", ["train.tsv", "dev.tsv"]) != dataset_checksum(
        "sst2", ["dev.tsv"]
    )
    with pytest.raises(SeqlabError, match="at least one file"):
        dataset_checksum("toy", [])


def test_registry_matches_the_data_readme_layout():
    expected = {
        "sst2": ("sst2", {"train.tsv", "dev.tsv"}),
        "multi30k": (
            "multi30k",
            {
                f"{split}.{lang}.gz"
                for split in ("train", "val", "test_2016_flickr")
                for lang in ("de", "en")
            },
        ),
        "etth1": ("ett", {"ETTh1.csv"}),
        "tinyshakespeare": ("tinyshakespeare", {"input.txt"}),
    }
    for name, (folder, files) in expected.items():
        spec = sources.get_dataset(name)
        assert spec.folder == folder
        assert {f.name for f in spec.files} == files
        for data_file in spec.files:
            assert len(data_file.sha256) == 64 and int(data_file.sha256, 16) >= 0
            assert data_file.url.startswith("https://")


@pytest.mark.skipif(not _REAL_DATA, reason="SEQLAB_DATA is not set (point it at ../shared/data)")
@pytest.mark.parametrize("dataset", ["sst2", "multi30k", "etth1", "tinyshakespeare"])
def test_real_files_verify(dataset, monkeypatch):
    monkeypatch.setenv("SEQLAB_DATA", _REAL_DATA)
    for data_file in sources.get_dataset(dataset).files:
        path = resolve_file(dataset, data_file.name, download=False)
        assert (
            path
            == Path(_REAL_DATA).expanduser() / sources.get_dataset(dataset).folder / data_file.name
        )
