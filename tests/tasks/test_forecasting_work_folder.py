"""The temporary folder `seqlab retrain` builds in (seqlab.tasks.forecasting.work_folder): a
stale one of its own is removed with a line saying so (tests/tasks/test_forecasting_retrain.py
checks that end to end); any other one beside the target is named in the error, and left alone.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from seqlab import cli
from seqlab.errors import SeqlabError
from seqlab.tasks.forecasting import work_folder
from seqlab.tasks.forecasting.work_folder import make_work_folder, remove_stale_work_folders


def _refused(target: Path, folder: Path) -> str:
    with pytest.raises(SeqlabError) as caught:
        remove_stale_work_folders(target)
    assert folder.is_dir()  # never removed when it cannot be told stale
    return str(caught.value)


def test_a_folder_of_a_running_retrain_is_named_not_removed(tmp_path: Path) -> None:
    target = tmp_path / "new"
    work = make_work_folder(target)  # this process: alive
    host = work_folder._host_tag()
    assert work.name.startswith(f".new.retrain-{host}-{os.getpid()}-") and work.suffix == ".tmp"
    assert _refused(target, work) == (
        f"{work}: process {os.getpid()} may still be building --out {target} there; wait for "
        "it, or if it is not a 'seqlab retrain', remove the folder and run again"
    )


@pytest.mark.parametrize(
    "name",
    [".new.retrain-00000000-1-abcd1234.tmp", ".new.x1y2z3_4.tmp"],
    ids=["another machine", "an earlier seqlab"],
)
def test_a_folder_that_cannot_be_told_stale_is_named(tmp_path: Path, name: str) -> None:
    target = tmp_path / "new"
    folder = tmp_path / name
    folder.mkdir()
    assert _refused(target, folder) == (
        f"{folder} is a temporary folder of a run building --out {target} that did not finish "
        "here (another machine's, or an older seqlab's); if no such run is going on, remove it "
        "and run again"
    )


def test_other_names_beside_the_target_are_left_alone(tmp_path: Path) -> None:
    host = work_folder._host_tag()
    names = [f".new.v2.retrain-{host}-1-abcd1234.tmp", ".other.abcd1234.tmp", "new.abcd1234.tmp"]
    for name in names:
        (tmp_path / name).mkdir()
    (tmp_path / ".new.abcd1234.tmp").write_text("a file, not a folder")
    assert remove_stale_work_folders(tmp_path / "new") == []
    assert remove_stale_work_folders(tmp_path / "absent" / "new") == []
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted([*names, ".new.abcd1234.tmp"])


def test_retrain_names_the_folder_in_its_error_before_reading_anything(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / ".new.x1y2z3_4.tmp"
    folder.mkdir()
    capsys.readouterr()
    argv = ["retrain", str(tmp_path / "old"), "--data", str(tmp_path / "new.csv"),
            "--out", str(tmp_path / "new")]  # fmt: skip
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"seqlab: error: {folder} is a temporary folder of a run building")
