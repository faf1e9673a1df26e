"""Labelled text files (seqlab.data.text_files): formats, bad rows with line numbers, strict mode.

The fixture files in tests/fixtures/text/ hold one case per line; their README lists what each
line exercises. Expected line numbers are counted by hand from those files.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from seqlab.data.text_files import (
    DEFAULT_MAX_CHARS,
    BadRow,
    CutText,
    LabelMap,
    label_case_variants,
    read_labelled_texts,
)
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
    result = read_labelled_texts(FIXTURES / "quoted.tsv", strict=True, tsv_quoting=True)
    assert len(result) == 4


def test_tsv_quoted_fields_and_crlf_with_tsv_quoting():
    result = read_labelled_texts(FIXTURES / "quoted.tsv", tsv_quoting=True)
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


# ---- TSV without quoting (the default) ----


def test_tsv_reads_quotes_as_text_so_a_leading_quote_swallows_no_rows():
    result = read_labelled_texts(FIXTURES / "leading_quote.tsv", strict=True)
    assert result.texts == (
        '"opening quote starts this text',
        "plain row",
        'this one ends with a quote"',
        "last row",
    )
    assert result.labels == ("1", "0", "1", "0")
    assert result.spans == ((2, 2), (3, 3), (4, 4), (5, 5))
    assert result.header == (1, 1)


def test_tsv_quoting_merges_the_quoted_lines_into_one_row_spanning_them():
    # What CSV quoting does to the same file: lines 2-4 become one text, and nothing is skipped.
    result = read_labelled_texts(FIXTURES / "leading_quote.tsv", tsv_quoting=True)
    assert result.texts == (
        "opening quote starts this text\n0\tplain row\n1\tthis one ends with a quote",
        "last row",
    )
    assert result.spans == ((2, 4), (5, 5))


def test_quoted_tsv_read_plain_reports_the_rows_quoting_would_join():
    result = read_labelled_texts(FIXTURES / "quoted.tsv")
    assert result.texts == ('"say ""hi"" twice"', "it 's plain , tokenized text .", '"comma, and')
    assert _lines_and_reasons(result.skipped) == [
        (2, "3 columns, the header has 2 columns"),
        (6, "1 column, the header has 2 columns"),
    ]
    assert "data.tsv_quoting=true" in result.skipped[0].fix
    assert result.skipped[1].fix == "fill in the missing columns"


@pytest.mark.skipif(not _REAL_DATA, reason="SEQLAB_DATA is not set (point it at ../shared/data)")
@pytest.mark.parametrize(
    ("name", "rows", "digest"),
    [
        ("train.tsv", 67_349, "8f299781c2863674bc9edfd6be9353f2cdd6c02ea46c7152d618257036b5251a"),
        ("dev.tsv", 872, "980a7f729f059449813c96d5dcfaf0351fd354f0a83de1a91d43062459ee6168"),
    ],
)
def test_sst2_reads_the_same_rows_as_before_with_and_without_quoting(name, rows, digest):
    """The digests were taken from the csv-module reader that quoted TSV fields; SST-2 holds no
    quote character, so reading it plain gives the same texts and labels."""
    path = Path(_REAL_DATA) / "sst2" / name
    for quoting in (False, True):
        result = read_labelled_texts(path, strict=True, tsv_quoting=quoting)
        digest_now = hashlib.sha256()
        for text, label in zip(result.texts, result.labels, strict=True):
            digest_now.update(text.encode() + b"\x00" + label.encode() + b"\x01")
        assert (len(result), digest_now.hexdigest()) == (rows, digest)
        assert result.truncated == ()
        # data.max_chars' default is hundreds of times longer than any SST-2 text.
        assert max(map(len, result.texts)) * 100 < DEFAULT_MAX_CHARS


# ---- long fields ----


@pytest.mark.parametrize("name", ["long.csv", "long.tsv", "long.jsonl"])
def test_a_field_longer_than_the_csv_limit_is_read_and_cut_with_its_line(tmp_path, name):
    long_text = "word " * 40_000  # 200,000 characters: over the csv module's 131,072 limit
    path = tmp_path / name
    if name.endswith(".jsonl"):
        rows = [{"text": "short", "label": "a"}, {"text": long_text, "label": "b"}]
        path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    else:
        sep = "," if name.endswith(".csv") else "\t"
        path.write_text(f"text{sep}label\nshort{sep}a\n{long_text}{sep}b\n", encoding="utf-8")
    result = read_labelled_texts(path, max_chars=1_000)
    line = 2 if name.endswith(".jsonl") else 3
    assert result.labels == ("a", "b") and result.skipped == ()
    assert result.texts[1] == long_text[:1_000].rstrip()
    assert result.truncated == (CutText(line=line, chars=len(long_text.strip()), kept=1_000),)
    assert result.notes() == [
        f"{path}: 1 text longer than 1,000 characters, cut to the first 1,000 (data.max_chars)",
        f"  {path}:{line}: a text of 199,999 characters",
    ]
    default = read_labelled_texts(path)  # the default bound, 100,000 characters, cuts it too
    assert len(default.texts[1]) <= DEFAULT_MAX_CHARS
    assert [cut.line for cut in default.truncated] == [line]


def test_max_chars_must_be_positive():
    with pytest.raises(SeqlabError, match=r"max_chars \(0\) must be at least 1"):
        read_labelled_texts(FIXTURES / "bom.csv", max_chars=0)


# ---- what is reported ----


def test_notes_show_the_first_rows_in_full_then_a_count():
    result = read_labelled_texts(FIXTURES / "bad_rows.csv")
    source = FIXTURES / "bad_rows.csv"
    assert result.notes(limit=5) == [
        f"{source}: 7 rows skipped (not used), 5 rows read",
        f"  {source}:3: empty text; fill in the text or delete the row",
        f"  {source}:4: empty text; fill in the text or delete the row",
        f"  {source}:5: missing label ('label'); add the row's label",
        f"  {source}:6: 3 columns, the header has 2 columns; quote fields that hold the delimiter",
        f"  {source}:7: 1 column, the header has 2 columns; fill in the missing columns",
        f"  {source}: and 2 more rows skipped (the first 20 are listed under data.skipped_rows "
        "in the report)",
    ]


def test_record_lists_the_first_rows_and_the_totals():
    result = read_labelled_texts(FIXTURES / "bad_rows.csv")
    record = result.record(limit=2)
    assert record == {
        "rows": 5,
        "skipped_rows": {
            "total": 7,
            "first": [{"line": 3, "reason": "empty text"}, {"line": 4, "reason": "empty text"}],
        },
        "truncated_texts": {"total": 0, "first": []},
    }
    json.dumps(record)  # a report is JSON


def test_every_line_with_content_is_the_header_a_row_or_a_skipped_row():
    result = read_labelled_texts(FIXTURES / "bad_rows.csv")
    assert result.header == (1, 1)
    assert result.spans == ((2, 2), (9, 9), (10, 11), (13, 13), (15, 15))
    assert [row.lines for row in result.skipped if row.last_line] == []
    covered = {1} | {n for a, b in result.spans for n in range(a, b + 1)}
    covered |= {n for row in result.skipped for n in row.lines}
    assert covered == set(range(1, 16)) - {12}  # line 12 is blank


def test_a_quote_left_open_is_one_bad_row_with_its_last_line():
    (row,) = read_labelled_texts(FIXTURES / "unclosed_quote.csv").skipped
    assert (row.line, row.last_line, list(row.lines)) == (3, 4, [3, 4])


def test_a_row_of_only_delimiters_is_reported_not_passed_over(tmp_path):
    path = tmp_path / "commas.csv"
    path.write_text("text,label\nfine,pos\n,\n \n", encoding="utf-8")
    result = read_labelled_texts(path)
    assert _lines_and_reasons(result.skipped) == [(3, "empty text")]  # line 4: white space


@pytest.mark.parametrize("name", ["nul.csv", "nul.tsv"])
def test_nul_bytes_are_bad_rows(tmp_path, name):
    sep = "," if name.endswith(".csv") else "\t"
    path = tmp_path / name
    path.write_bytes(f"text{sep}label\nfine{sep}pos\nnul\x00here{sep}neg\n".encode())
    result = read_labelled_texts(path)
    assert _lines_and_reasons(result.skipped) == [(3, "a NUL byte (the file may not be text)")]


def test_jsonl_numbers_too_long_nesting_too_deep_and_lone_surrogates_are_bad_rows(tmp_path):
    path = tmp_path / "odd.jsonl"
    lines = [
        '{"text": "fine", "label": "pos"}',
        '{"text": "big", "label": ' + "9" * 5000 + "}",
        "[" * 100_000 + "]" * 100_000,
        '{"text": "half \\ud800 pair", "label": "pos"}',
        '{"text": "fine", "label": "\\udfff"}',
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = read_labelled_texts(path)
    assert result.texts == ("fine",)
    assert _lines_and_reasons(result.skipped) == [
        (2, "not valid JSON (a number too long to read)"),
        (3, "not valid JSON (nested too deeply)"),
        (4, "text holds an unpaired surrogate escape"),
        (5, "label holds an unpaired surrogate escape"),
    ]


def test_utf16_files_are_refused_with_the_fix(tmp_path):
    path = tmp_path / "utf16.csv"
    path.write_bytes("text,label\nhi,pos\n".encode("utf-16"))
    with pytest.raises(SeqlabError, match=r"utf16\.csv is UTF-16 text .*; save it as UTF-8$"):
        read_labelled_texts(path)


def test_an_undecodable_header_is_an_error_naming_the_line(tmp_path):
    for name, header in (("h.csv", b"te\xffxt,label"), ("h.tsv", b"te\xffxt\tlabel")):
        path = tmp_path / name
        path.write_bytes(b"\n" + header + b"\nfine,pos\n")
        with pytest.raises(SeqlabError, match=rf"{name}:2: header: bytes that are not UTF-8; "):
            read_labelled_texts(path)


def test_an_unknown_label_that_differs_only_in_case_suggests_the_known_one(tmp_path):
    path = tmp_path / "eval.csv"
    path.write_text("text,label\ngood,POS\nbad,neg\n", encoding="utf-8")
    result = read_labelled_texts(path, known_labels={"pos", "neg"})
    assert result.skipped[0].reason == (
        "unknown label 'POS' (the model knows: neg, pos); did you mean 'pos'?"
    )


def test_label_case_variants_groups_spellings_with_counts():
    labels = ["pos", "POS", "pos", "neg", "Neg", "NEG", "neg", "other"]
    assert label_case_variants(labels) == [{"neg": 2, "NEG": 1, "Neg": 1}, {"pos": 2, "POS": 1}]
    assert label_case_variants(["a", "b"]) == []
