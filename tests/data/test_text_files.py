"""Labelled text files (seqlab.data.text_files): formats, bad rows with line numbers, strict mode.

The fixture files in tests/fixtures/text/ hold one case per line; their README lists what each
line exercises. Expected line numbers are counted by hand from those files.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from seqlab.data.text_files import BadRow, LabelMap, read_labelled_texts
from seqlab.errors import SeqlabError

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "text"
_REAL_DATA = os.environ.get("SEQLAB_DATA", "").strip()


def _lines_and_reasons(skipped: tuple[BadRow, ...]) -> list[tuple[int, str]]:
    return [(row.line, row.reason) for row in skipped]


def test_csv_bad_rows_are_skipped_with_line_numbers():
    result = read_labelled_texts(FIXTURES / "bad_rows.csv")
    assert result.texts == ("a fine film", "a quoted, comma", "spans\ntwo lines", "meh", "last one")
    assert result.labels == ("pos", "neg", "pos", "neutral", "pos")
    assert result.source == str(FIXTURES / "bad_rows.csv")
    assert _lines_and_reasons(result.skipped) == [
        (3, "empty text"),
        (4, "empty text"),
        (5, "missing label ('label')"),
        (6, "3 columns, the header has 2 columns"),
        (7, "1 column, the header has 2 columns"),
        (8, "bytes that are not UTF-8"),
        (14, "malformed row (',' expected after '\"')"),
    ]
    assert all(row.fix for row in result.skipped)


def test_unknown_labels_are_bad_rows_when_known_labels_given():
    result = read_labelled_texts(FIXTURES / "bad_rows.csv", known_labels={"pos", "neg"})
    assert "meh" not in result.texts
    unknown = [row for row in result.skipped if row.line == 13]
    assert unknown == [
        BadRow(
            line=13,
            reason="unknown label 'neutral' (the model knows: neg, pos)",
            fix="fix the label or retrain with this label in the training data",
        )
    ]


def test_strict_raises_on_the_first_bad_row():
    with pytest.raises(SeqlabError) as caught:
        read_labelled_texts(FIXTURES / "bad_rows.csv", strict=True)
    assert str(caught.value) == (
        f"{FIXTURES / 'bad_rows.csv'}:3: empty text; fill in the text or delete the row"
    )


def test_strict_names_an_undecodable_line(tmp_path):
    path = tmp_path / "latin1.csv"
    path.write_bytes(b"text,label\nok,pos\ncaf\xe9,pos\n")
    with pytest.raises(
        SeqlabError, match=r"latin1\.csv:3: bytes that are not UTF-8; save the file as UTF-8$"
    ):
        read_labelled_texts(path, strict=True)


def test_strict_accepts_a_clean_file():
    result = read_labelled_texts(FIXTURES / "quoted.tsv", strict=True)
    assert len(result) == 4


def test_tsv_quoted_fields_and_crlf():
    result = read_labelled_texts(FIXTURES / "quoted.tsv")
    assert result.texts == (
        "tab\tinside",
        'say "hi" twice',
        "it 's plain , tokenized text .",
        "comma, and\nnewline",
    )
    assert result.labels == ("1", "0", "1", "0")
    assert result.skipped == ()


def test_bom_is_not_part_of_the_first_column_name():
    result = read_labelled_texts(FIXTURES / "bom.csv")
    assert result.texts == ("hello", "bye")
    assert result.labels == ("pos", "neg")


def test_unclosed_quote_is_one_bad_row_spanning_to_the_end():
    result = read_labelled_texts(FIXTURES / "unclosed_quote.csv")
    assert result.texts == ("good",)
    assert _lines_and_reasons(result.skipped) == [
        (3, "malformed row (unexpected end of data, lines 3-4)")
    ]


def test_jsonl_every_bad_case():
    result = read_labelled_texts(FIXTURES / "rows.jsonl")
    assert result.texts == ("good one", "numbered", "last")
    assert result.labels == ("pos", "1", "neg")  # an integer label becomes its string
    assert _lines_and_reasons(result.skipped) == [
        (3, "a JSON array, not an object"),
        (4, "not valid JSON (Expecting ',' delimiter)"),
        (5, "empty text"),
        (6, "missing label ('label')"),
        (7, "bytes that are not UTF-8"),
        (9, "text is a number, not a string"),
        (10, "label is a non-integer number"),
        (11, "no 'text' key"),
    ]


def test_jsonl_strict_message():
    with pytest.raises(SeqlabError) as caught:
        read_labelled_texts(FIXTURES / "rows.jsonl", strict=True)
    assert str(caught.value).startswith(
        f"{FIXTURES / 'rows.jsonl'}:3: a JSON array, not an object;"
    )


def test_column_names_are_settable(tmp_path):
    path = tmp_path / "reviews.csv"
    path.write_text("id,body,stars\n1,great,5\n2,awful,1\n", encoding="utf-8")
    result = read_labelled_texts(path, text_column="body", label_column="stars")
    assert result.texts == ("great", "awful")
    assert result.labels == ("5", "1")
    with pytest.raises(
        SeqlabError, match=r"header has no column 'label' \(it has: id, body, stars\)"
    ):
        read_labelled_texts(path, text_column="body")


def test_explicit_format_overrides_the_extension():
    with pytest.raises(SeqlabError, match=r"cannot tell the format from the extension '\.txt'"):
        read_labelled_texts(FIXTURES / "ratings.txt")
    result = read_labelled_texts(FIXTURES / "ratings.txt", format="tsv")
    assert result.labels == ("10", "2", "3")


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("empty.csv", r"empty\.csv is empty; give a file with a header and at least one row$"),
        ("header_only.csv", r"header_only\.csv has a header but no rows; add at least one row$"),
        (
            "all_bad.csv",
            r"all_bad\.csv has no usable rows \(2 bad rows; first: line 2: empty text\); ",
        ),
        (
            "no_text_column.csv",
            r"header has none of the text columns text, sentence, content, review "
            r"\(it has: body, label\); pass text_column=NAME$",
        ),
    ],
)
def test_unusable_files_are_clear_errors(name, message):
    with pytest.raises(SeqlabError, match=message):
        read_labelled_texts(FIXTURES / name)


def test_missing_file_is_a_one_line_error(tmp_path):
    with pytest.raises(SeqlabError, match=r"nope\.csv not found; check the path$"):
        read_labelled_texts(tmp_path / "nope.csv")


def test_label_map_order_ids_and_round_trip():
    label_map = LabelMap.from_labels(["pos", "neg", "pos", "neutral"])
    assert label_map.labels == ("neg", "neutral", "pos")
    assert label_map.encode(["pos", "neg"]) == [2, 0]
    assert label_map.decode([1, 2]) == ["neutral", "pos"]
    assert LabelMap.from_list(label_map.to_list()) == label_map
    with pytest.raises(
        SeqlabError, match="unknown label 'meh'; the known labels are: neg, neutral, pos"
    ):
        label_map.id_of("meh")
    with pytest.raises(SeqlabError, match=r"class id 3 is outside 0\.\.2"):
        label_map.label_of(3)


def test_label_map_sorts_integer_labels_numerically():
    assert LabelMap.from_labels(["10", "2", "1", "3"]).labels == ("1", "2", "3", "10")


def test_label_map_rejects_bad_lists():
    with pytest.raises(SeqlabError, match="labels repeat: a"):
        LabelMap.from_list(["a", "b", "a"])
    with pytest.raises(SeqlabError, match="must be a list of strings"):
        LabelMap.from_list("ab")
    with pytest.raises(SeqlabError, match="at least one label"):
        LabelMap.from_list([])


@pytest.mark.skipif(not _REAL_DATA, reason="SEQLAB_DATA is not set (point it at ../shared/data)")
def test_real_sst2_dev_parses_completely():
    # dev.tsv names its text column "content" (train.tsv: "sentence"); both are found by default.
    result = read_labelled_texts(Path(_REAL_DATA) / "sst2" / "dev.tsv", strict=True)
    assert len(result) == 872
    assert LabelMap.from_labels(result.labels).labels == ("0", "1")
