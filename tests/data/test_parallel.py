"""Parallel corpora (seqlab.data.parallel): aligned files, tables, skipped pairs, Multi30k.

The fixture files in tests/fixtures/parallel/ hold one case per line; their README lists what
each line exercises. Expected line numbers are counted by hand from those files.
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from seqlab.data.parallel import (
    ParallelCorpus,
    SkippedPair,
    multi30k_files,
    read_aligned_files,
    read_multi30k,
    read_parallel_file,
)
from seqlab.errors import SeqlabError

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "parallel"
_REAL_DATA = os.environ.get("SEQLAB_DATA", "").strip()
needs_data = pytest.mark.skipif(
    not _REAL_DATA, reason="SEQLAB_DATA is unset: the real Multi30k files are not available"
)

GOOD_DE = (
    "Ein Mann fährt Fahrrad.",
    "Zwei Hunde spielen im Schnee.",
    "Kinder spielen Fußball.",
    "Der 3. Mann trägt einen Hut.",
)
GOOD_EN = (
    "A man rides a bicycle.",
    "Two dogs play in the snow.",
    "Children play football.",
    "The third man wears a hat.",
)


def _skips(corpus: ParallelCorpus) -> list[tuple[int, str | None, str]]:
    return [(pair.line, pair.file, pair.reason) for pair in corpus.skipped]


def _file_lines(path: Path) -> int:
    data = path.read_bytes()
    if data.startswith(b"\x1f\x8b"):
        data = gzip.decompress(data)
    return data.count(b"\n") + (0 if data.endswith(b"\n") else 1)


def test_aligned_files_skip_bad_pairs_with_file_and_line():
    de, en = FIXTURES / "aligned.de", FIXTURES / "aligned.en"
    corpus = read_aligned_files(de, en)
    assert corpus.sources == GOOD_DE
    assert corpus.targets == GOOD_EN
    assert corpus.lines == (1, 2, 6, 8)
    assert _skips(corpus) == [
        (3, str(en), "empty target"),
        (4, None, "empty source and target"),
        (5, str(de), "bytes that are not UTF-8"),
        (7, str(de), "empty source"),
    ]
    assert all(pair.fix for pair in corpus.skipped)
    # Nothing lost: every line of the files is a pair read or a pair skipped.
    assert len(corpus) + len(corpus.skipped) == corpus.records == _file_lines(de) == 8


def test_aligned_notes_and_record_name_each_skipped_pair():
    de, en = FIXTURES / "aligned.de", FIXTURES / "aligned.en"
    corpus = read_aligned_files(de, en)
    assert corpus.notes(limit=2) == [
        f"{de} + {en}: 4 pairs skipped (not used), 4 pairs read",
        f"  {en}:3: empty target; fill in the target or delete the pair",
        f"  {de} + {en}:4: empty source and target; delete the pair or fill it in",
        f"  {de} + {en}: and 2 more skipped (the first 20 are listed under data.skipped_pairs "
        "in the report)",
    ]
    record = corpus.record(limit=1)
    assert record == {
        "pairs": 4,
        "records": 8,
        "skipped_pairs": {
            "total": 4,
            "first": [{"file": str(en), "line": 3, "reason": "empty target"}],
        },
    }


def test_gzip_files_read_like_plain_ones_and_a_missing_final_line_end_is_a_line():
    corpus = read_aligned_files(FIXTURES / "clean.de.gz", FIXTURES / "clean.en.gz")
    assert (corpus.sources, corpus.targets) == (GOOD_DE, GOOD_EN)
    assert corpus.lines == (1, 2, 3, 4)
    assert corpus.skipped == ()
    assert corpus.records == _file_lines(FIXTURES / "clean.en.gz") == 4


def test_misaligned_files_are_one_line_error_with_both_counts_and_names():
    de, en = FIXTURES / "misaligned.de", FIXTURES / "misaligned.en"
    with pytest.raises(SeqlabError) as caught:
        read_aligned_files(de, en)
    message = str(caught.value)
    assert message == (
        f"{de} has 3 lines but {en} has 2; aligned files need one sentence a line and the same "
        "count"
    )
    assert "\n" not in message


def test_strict_raises_on_the_first_bad_pair_naming_file_and_line():
    de, en = FIXTURES / "aligned.de", FIXTURES / "aligned.en"
    with pytest.raises(SeqlabError) as caught:
        read_aligned_files(de, en, strict=True)
    assert str(caught.value) == f"{en}:3: empty target; fill in the target or delete the pair"


def test_strict_names_the_undecodable_file_and_line(tmp_path):
    de, en = tmp_path / "a.de", tmp_path / "a.en"
    de.write_bytes(b"Gut.\nGut.\n")
    en.write_bytes(b"Good.\ncaf\xe9\n")
    with pytest.raises(SeqlabError) as caught:
        read_aligned_files(de, en, strict=True)
    assert str(caught.value) == f"{en}:2: bytes that are not UTF-8; save the file as UTF-8"


def test_over_long_pairs_are_skipped_not_cut():
    de, en = FIXTURES / "aligned.de", FIXTURES / "aligned.en"
    corpus = read_aligned_files(de, en, max_chars=23)
    # "Zwei Hunde spielen im Schnee." has 29 characters, "Two dogs play in the snow." 26,
    # "Der 3. Mann trägt einen Hut." 28, "The third man wears a hat." 26.
    assert corpus.sources == ("Ein Mann fährt Fahrrad.", "Kinder spielen Fußball.")
    assert (2, str(de), "source has 29 characters, over max_chars (23)") in _skips(corpus)
    assert (8, str(de), "source has 28 characters, over max_chars (23)") in _skips(corpus)
    assert corpus.records == 8


def test_without_long_pairs_in_tokens_reports_each_pair_in_line_order():
    de, en = FIXTURES / "aligned.de", FIXTURES / "aligned.en"
    corpus = read_aligned_files(de, en)

    def words(text: str) -> int:
        return len(text.split())

    short = corpus.without_long_pairs(5, count_source=words, count_target=words)
    # Source words: 4, 5, 3, 6; target words: 5, 6, 3, 6.
    assert short.sources == ("Ein Mann fährt Fahrrad.", "Kinder spielen Fußball.")
    assert [pair.line for pair in short.skipped] == [2, 3, 4, 5, 7, 8]
    assert short.skipped[0] == SkippedPair(
        line=2,
        reason="target has 6 tokens, over max_tokens (5)",
        fix="raise max_tokens or split the sentence in both languages",
        file=str(en),
    )
    assert short.skipped[-1].reason == "source has 6 tokens, over max_tokens (5)"
    assert short.records == corpus.records == 8
    with pytest.raises(SeqlabError, match=rf"^{en}:2: target has 6 tokens, over max_tokens"):
        corpus.without_long_pairs(5, count_source=words, count_target=words, strict=True)


def test_tsv_columns_by_name_and_bad_rows():
    path = FIXTURES / "pairs.tsv"
    corpus = read_parallel_file(path, source_column="de", target_column="en")
    assert corpus.sources == ("Ein Mann läuft.", '"Hallo" sagt er.', "Das Ende.")
    assert corpus.targets == ("A man runs.", '"Hello" he says.', "The end.")
    assert corpus.lines == (2, 7, 9)
    assert _skips(corpus) == [
        (3, str(path), "empty target ('en')"),
        (4, str(path), "4 columns, the header has 3"),
        (5, str(path), "bytes that are not UTF-8"),
        (8, str(path), "2 columns, the header has 3"),
    ]
    # 9 lines: the header, one blank line, 3 pairs read, 4 skipped.
    assert 1 + 1 + corpus.records == _file_lines(path) == 9


def test_either_direction_swaps_the_columns():
    path = FIXTURES / "pairs.tsv"
    forward = read_parallel_file(path, source_column="de", target_column="en")
    backward = read_parallel_file(path, source_column="en", target_column="de")
    assert (backward.sources, backward.targets) == (forward.targets, forward.sources)


def test_csv_with_bom_quoting_and_a_record_over_two_lines():
    path = FIXTURES / "pairs.csv"
    corpus = read_parallel_file(path, source_column="de", target_column="en")
    assert corpus.sources == ("Ein Hund bellt.", "Ja, sicher.", "Zwei\nZeilen.", "Gut.")
    assert corpus.targets == ("A dog barks.", "Yes, sure.", "Two lines.", "Good.")
    assert corpus.lines == (2, 3, 4, 8)
    assert _skips(corpus) == [
        (6, str(path), "empty source ('de')"),
        (7, str(path), "malformed row (',' expected after '\"')"),
    ]


def test_jsonl_bad_rows():
    path = FIXTURES / "pairs.jsonl"
    corpus = read_parallel_file(path, source_column="de", target_column="en")
    assert corpus.sources == ("Ein Vogel fliegt.", "Ein Boot über Wasser.")
    assert corpus.lines == (1, 9)
    assert [(line, reason) for line, _, reason in _skips(corpus)] == [
        (2, "target ('en') is a number, not a string"),
        (3, "an array, not a JSON object"),
        (4, "not valid JSON (Expecting property name enclosed in double quotes)"),
        (5, "no 'en' key"),
        (6, "missing source ('de')"),
        (8, "source ('de') holds an unpaired surrogate escape"),
    ]
    assert corpus.records + 1 == _file_lines(path)  # line 7 is blank


def test_missing_column_names_the_header_and_the_fix():
    path = FIXTURES / "pairs.tsv"
    with pytest.raises(SeqlabError) as caught:
        read_parallel_file(path, source_column="de", target_column="fr")
    assert str(caught.value) == (
        f"{path}:1: header has no column 'fr' (it has: id, de, en); name them with "
        "--source-column/--target-column (data.source_column, data.target_column) or fix the "
        "header"
    )


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "has no sentence pairs; add at least one"),
        (b"de\ten\n\tx\n", "has no usable pairs (1 skipped; first:"),
        (b"\xff\xfede\ten\n", "is UTF-16 text"),
        (b"\x1f\x8bnot gzip", "not a valid gzip file"),
    ],
)
def test_files_with_nothing_usable_are_errors(tmp_path, content, message):
    path = tmp_path / "corpus.tsv"
    path.write_bytes(content)
    with pytest.raises(SeqlabError, match=message.replace("(", r"\(")):
        read_parallel_file(path, source_column="de", target_column="en")


def test_missing_file_and_same_column_twice_are_errors(tmp_path):
    with pytest.raises(SeqlabError, match=r"nothing\.de not found; check the path"):
        read_aligned_files(tmp_path / "nothing.de", FIXTURES / "aligned.en")
    with pytest.raises(SeqlabError, match="source_column and target_column are both 'de'"):
        read_parallel_file(FIXTURES / "pairs.tsv", source_column="de", target_column="de")


def test_a_stray_carriage_return_does_not_shift_the_alignment(tmp_path):
    de, en = tmp_path / "a.de", tmp_path / "a.en"
    de.write_bytes(b"Eins\rmit CR.\nZwei.\n")
    en.write_bytes(b"One with CR.\nTwo.\n")
    corpus = read_aligned_files(de, en)
    assert corpus.targets == ("One with CR.", "Two.")
    assert corpus.sources == ("Eins\rmit CR.", "Zwei.")


def test_select_keeps_the_report_only_when_asked():
    corpus = read_aligned_files(FIXTURES / "aligned.de", FIXTURES / "aligned.en")
    part = corpus.select([3, 0], with_report=False)
    assert part.sources == (GOOD_DE[0], GOOD_DE[3])
    assert part.lines == (1, 8)
    assert part.skipped == ()
    assert corpus.select([1], with_report=True).skipped == corpus.skipped


def test_multi30k_file_names_and_bad_names():
    assert multi30k_files("test") == ("test_2016_flickr.de.gz", "test_2016_flickr.en.gz")
    assert multi30k_files("train", source_lang="en", target_lang="de") == (
        "train.en.gz",
        "train.de.gz",
    )
    with pytest.raises(SeqlabError, match="Multi30k has no split 'dev'; use one of: train, val"):
        multi30k_files("dev")
    with pytest.raises(SeqlabError, match="Multi30k has no language 'fr'; use de or en"):
        multi30k_files("train", target_lang="fr")
    with pytest.raises(SeqlabError, match="both 'de'"):
        multi30k_files("train", target_lang="de")


@needs_data
@pytest.mark.parametrize(("split", "pairs"), [("train", 29_000), ("val", 1_014), ("test", 1_000)])
def test_multi30k_reads_every_pair(split, pairs):
    corpus = read_multi30k(split, download=False)
    assert len(corpus) == pairs
    assert corpus.skipped == ()
    if split == "train":
        assert corpus.sources[0] == (
            "Zwei junge weiße Männer sind im Freien in der Nähe vieler Büsche."
        )
        assert corpus.targets[0] == "Two young, White males are outside near many bushes."


@needs_data
def test_multi30k_in_the_other_direction_swaps_sides():
    forward = read_multi30k("val", download=False)
    backward = read_multi30k("val", source_lang="en", target_lang="de", download=False)
    assert (backward.sources, backward.targets) == (forward.targets, forward.sources)


_LINE = st.binary(max_size=12).map(lambda raw: raw.replace(b"\n", b" "))


@settings(max_examples=150, deadline=None, derandomize=True)
@given(lines=st.lists(st.tuples(_LINE, _LINE), min_size=1, max_size=8))
def test_any_aligned_bytes_account_for_every_line(tmp_path_factory, lines):
    # Arbitrary bytes (invalid UTF-8, NUL, CR, BOM-like starts): reading either succeeds with
    # every line read or skipped, or fails with a SeqlabError, never another exception.
    folder = tmp_path_factory.mktemp("fuzz")
    de, en = folder / "f.de", folder / "f.en"
    de.write_bytes(b"".join(source + b"\n" for source, _ in lines))
    en.write_bytes(b"".join(target + b"\n" for _, target in lines))
    try:
        corpus = read_aligned_files(de, en)
    except SeqlabError as err:
        assert "\n" not in str(err)
        return
    assert corpus.records == len(lines)
    assert sorted([*corpus.lines, *(pair.line for pair in corpus.skipped)]) == list(
        range(1, len(lines) + 1)
    )
