"""What reading the sentiment task's files did, said: skipped rows and cut texts with file and
line (``SentimentTask.data_notes`` and the report's ``data`` section), labels differing only in
case, and the training files refused (one label only; labels only in held-out rows).

Nothing here trains; the report uses a freshly built model in eval mode.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from _reviews import alternating_reviews, write_csv
from seqlab.errors import SeqlabError
from seqlab.tasks.configuration import build_run_config
from seqlab.tasks.sentiment.task import SentimentTask

_REAL_DATA = os.environ.get("SEQLAB_DATA", "").strip()


def make_task(train_file: Path, *settings: str) -> SentimentTask:
    run = build_run_config(
        "sentiment",
        family="lstm",
        preset="cpu-small",
        overrides=[
            f"data.train_file={train_file}",
            "data.vocab_size=200",
            "model.hidden_size=8",
            "model.embed_dim=8",
            *settings,
        ],
    )
    return SentimentTask(run)


def with_bad_rows(path: Path, rows: list[tuple[str, str]], bad_lines: dict[int, str]) -> Path:
    """``rows`` as a CSV whose file lines ``bad_lines`` (2 = the first row) are replaced by the
    given raw text."""
    write_csv(path, rows)
    lines = path.read_text(encoding="utf-8").splitlines()
    for line, raw in bad_lines.items():
        lines[line - 1] = raw
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


# ---- refused training files ----


def test_one_label_only_is_refused_naming_the_file_and_the_label(tmp_path):
    rows = [(text, "positive") for text, _ in alternating_reviews(30)]
    path = write_csv(tmp_path / "one_label.csv", rows)
    task = make_task(path)
    with pytest.raises(SeqlabError) as caught:
        task.data_notes()
    assert str(caught.value) == (
        f"{path}: every usable row has the label 'positive' (30 rows), and a classifier needs at "
        "least two labels; add rows of another label, or check that data.label_column ('label') "
        "names the label column"
    )
    with pytest.raises(SeqlabError, match="every usable row has the label 'positive'"):
        make_task(path).build_model()  # the same refusal without the notes


def test_a_label_found_only_in_the_held_out_rows_is_refused(tmp_path):
    path = write_csv(tmp_path / "two_rows.csv", [("a fine film", "pos"), ("a dull one", "neg")])
    task = make_task(path)  # round(2 * 0.1) -> 1 row held out: one of the two labels
    held = task.text_data.split("val").labels[0]
    with pytest.raises(SeqlabError) as caught:
        task.data_notes()
    assert str(caught.value) == (
        f"{path}: label '{held}' (1 row) is only in the rows held out for validation, so "
        "training never sees them; add rows of them, or give a validation file (data.val_file)"
    )


# ---- labels that differ only in case ----


def _case_file(tmp_path: Path) -> Path:
    rows = alternating_reviews(40)  # odd rows positive
    rows = [(text, "POSITIVE" if index in (1, 3) else label) for index, (text, label) in
            enumerate(rows)]  # fmt: skip
    return write_csv(tmp_path / "cases.csv", rows)


def test_labels_differing_only_in_case_are_kept_apart_and_noted(tmp_path):
    path = _case_file(tmp_path)
    task = make_task(path, f"data.val_file={path}")  # no hold-out: every row trains
    assert task.data_notes() == [
        f"{path}: labels 'positive' (18 rows) and 'POSITIVE' (2 rows) differ only in case and are "
        "kept as separate classes; if they mean the same, write them one way (data.strict "
        "refuses such labels)"
    ]
    assert task.text_data.labels.to_list() == ["POSITIVE", "negative", "positive"]
    data = task.report(task.build_model().eval(), "test")["data"]
    assert data["label_case_variants"] == [["POSITIVE", "positive"]]


def test_labels_differing_only_in_case_are_refused_under_strict(tmp_path):
    path = _case_file(tmp_path)
    task = make_task(path, "data.strict=true", f"data.val_file={path}")
    with pytest.raises(SeqlabError) as caught:
        task.data_notes()
    assert "\n" not in str(caught.value)
    assert str(caught.value) == (
        f"{path}: labels 'positive' (18 rows) and 'POSITIVE' (2 rows) differ only in case; write "
        "each label one way, or train without data.strict to keep them as separate classes"
    )


# ---- skipped rows and cut texts, in notes and in the report ----


def test_notes_and_report_name_every_skipped_row_of_the_training_file(tmp_path):
    rows = alternating_reviews(60)
    bad = {3: "no label here,", 5: ",negative", 7: "one,two,three", 9: "x,neutral,extra"}
    bad |= {11: ",", 13: "a,"}
    path = with_bad_rows(tmp_path / "train.csv", rows, bad)
    task = make_task(path)
    notes = task.data_notes()
    assert notes[0] == f"{path}: 6 rows skipped (not used), 54 rows read"
    assert notes[1:6] == [
        f"  {path}:3: missing label ('label'); add the row's label",
        f"  {path}:5: empty text; fill in the text or delete the row",
        f"  {path}:7: 3 columns, the header has 2 columns; quote fields that hold the delimiter",
        f"  {path}:9: 3 columns, the header has 2 columns; quote fields that hold the delimiter",
        f"  {path}:11: empty text; fill in the text or delete the row",
    ]
    assert notes[6].startswith(f"  {path}: and 1 more row skipped")
    assert len(notes) == 7
    report = task.report(task.build_model().eval(), "test")
    data = report["data"]
    assert data["source"] == {"train": str(path)}  # validation rows are held out of it
    assert data["rows"] == {"train": 54}
    assert data["skipped_rows"]["train"]["total"] == 6
    assert [row["line"] for row in data["skipped_rows"]["train"]["first"]] == [3, 5, 7, 9, 11, 13]
    assert data["skipped_rows"]["train"]["first"][0] == {
        "line": 3,
        "reason": "missing label ('label')",
    }
    assert task.artifacts()["train_rows_skipped"] == 6


def test_validation_and_test_files_are_reported_per_split(tmp_path):
    train = write_csv(tmp_path / "train.csv", alternating_reviews(40))
    rows = alternating_reviews(12, seed=1)
    val = with_bad_rows(tmp_path / "val.csv", rows, {4: "the plot was fine,mixed"})
    test = with_bad_rows(tmp_path / "test.csv", rows, {2: "bad\tbytes,negative"})
    test.write_bytes(test.read_bytes().replace(b"bad\tbytes", b"caf\xe9"))
    task = make_task(train, f"data.val_file={val}", f"data.test_file={test}")
    notes = task.data_notes()
    assert notes == [
        f"{val}: 1 row skipped (not used), 11 rows read",
        f"  {val}:4: unknown label 'mixed' (the model knows: negative, positive); fix the label "
        "or retrain with this label in the training data",
        f"{test}: 1 row skipped (not used), 11 rows read",
        f"  {test}:2: bytes that are not UTF-8; save the file as UTF-8",
    ]
    data = task.report(task.build_model().eval(), "test")["data"]
    assert data["source"] == {"train": str(train), "val": str(val), "test": str(test)}
    assert {split: value["total"] for split, value in data["skipped_rows"].items()} == {
        "train": 0,
        "val": 1,
        "test": 1,
    }
    assert data["label_case_variants"] == []


def test_long_texts_are_cut_to_max_chars_and_noted_with_their_line(tmp_path):
    rows = alternating_reviews(30)
    long_text = "the movie was good " * 20  # 380 characters
    rows[4] = (long_text, "positive")  # file line 6
    path = write_csv(tmp_path / "long.csv", rows)
    task = make_task(path, "data.max_chars=100", f"data.val_file={path}")
    notes = task.data_notes()
    assert notes[:2] == [
        f"{path}: 1 text longer than 100 characters, cut to the first 100 (data.max_chars)",
        f"  {path}:6: a text of 379 characters",
    ]
    assert task.text_data.split("train").texts[4] == long_text[:100].rstrip()
    data = task.report(task.build_model().eval(), "test")["data"]
    assert data["truncated_texts"]["train"] == {"total": 1, "first": [{"line": 6, "chars": 379}]}
    # Texts given directly (the predictor's) are read up to max_chars as well.
    encoded = task.text_data.encode([long_text, long_text[:100]])
    assert encoded.ids[0] == encoded.ids[1]


def test_max_chars_must_be_positive(tmp_path):
    path = write_csv(tmp_path / "t.csv", alternating_reviews(10))
    with pytest.raises(ValueError, match=r"data.max_chars \(0\) must be at least 1"):
        make_task(path, "data.max_chars=0")


def test_tsv_quoting_is_a_data_setting(tmp_path):
    path = tmp_path / "quotes.tsv"
    rows = [f'{index % 2}\t"quoted {index}' for index in range(20)]
    path.write_text("label\ttext\n" + "\n".join(rows) + "\n", encoding="utf-8")
    plain = make_task(path, f"data.val_file={path}")
    assert plain.data_notes() == []
    assert len(plain.text_data.split("train")) == 20
    quoted = make_task(path, f"data.val_file={path}", "data.tsv_quoting=true")
    with pytest.raises(SeqlabError, match=r"quotes\.tsv has no usable rows .*malformed row"):
        quoted.data_notes()


@pytest.mark.skipif(not _REAL_DATA, reason="SEQLAB_DATA is not set (point it at ../shared/data)")
def test_sst2_reads_whole_with_nothing_to_say(monkeypatch):
    monkeypatch.setenv("SEQLAB_DATA", _REAL_DATA)
    run = build_run_config("sentiment", family="lstm", preset="cpu-small")
    task = SentimentTask(run)
    assert task.data_notes() == []
    # dev.tsv is both validation and test (GLUE's test labels are not public).
    assert task.text_data.report()["rows"] == {"train": 67_349, "val": 872, "test": 872}
    assert task.text_data.labels.to_list() == ["negative", "positive"]
