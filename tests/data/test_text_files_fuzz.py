"""Malformed labelled text files, generated: reading one either fails with a one-line
SeqlabError, or accounts for every line that holds more than white space.

Files are built (hypothesis, derandomized so CI sees the same files every run) from fragments
that break each format: quotes opened and never closed, doubled or stray, wrong column counts,
bytes that are not UTF-8 (a lone continuation byte, a character cut short), NUL bytes, a field
longer than the csv module's 131,072-character limit, JSON of the wrong type, nested too deep or
with numbers too long, empty files, a byte order mark (UTF-8 or UTF-16), and LF, CR LF and lone CR
line ends, mixed with valid rows and random bytes. The lines are counted independently of the
reader: split at LF, CR LF and CR, after the UTF-8 byte order mark, white space being what
``str.strip`` removes.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from seqlab.data.text_files import LabelledTexts, TextFormat, read_labelled_texts
from seqlab.errors import SeqlabError

HUGE = b"h" * 140_000  # over the csv module's default field limit

COMMON = [b"fine text", b"pos", b"neg", b" ", b"\t", b",", b'"', b'""', b"\xff", b"\xe2\x82",
          b"\x00", b"\xef\xbb\xbf", b"caf\xc3\xa9", b"\\", b"'", HUGE]  # fmt: skip
FRAGMENTS: dict[str, list[bytes]] = {
    "csv": [*COMMON, b"text,label", b"a,pos", b'"q, d",neg', b'"open', b'close"', b'a"b'],
    "tsv": [*COMMON, b"label\tsentence", b"1\tfine", b'0\t"quoted\ttab"', b'"open', b'close"'],
    "jsonl": [*COMMON, b'{"text": "fine", "label": "pos"}', b'{"text": 1, "label": "a"}',
              b'{"text": "x"}', b'{"label": 2, "text": "y"}', b"[1, 2]", b"null", b"{",
              b'"\\ud800"', b'{"text": "\\udc00", "label": "a"}', b"[" * 3000,
              b'{"text": "n", "label": ' + b"7" * 4400 + b"}", b'{"text": "t", "label": true}'],
}  # fmt: skip
HEADERS: dict[str, list[bytes]] = {
    "csv": [b"text,label"] * 4 + [b'"text","label"', b"label,text,extra", b"body,label"],
    "tsv": [b"label\tsentence"] * 4 + [b"sentence\tlabel\textra", b"label"],
    "jsonl": [b'{"text": "first", "label": "pos"}'],
}
ROWS: dict[str, list[bytes]] = {
    "csv": [b"a fine film,pos", b"a dull one,neg", b'"a quoted, comma",pos'],
    "tsv": [b"1\ta fine film", b"0\ta dull one"],
    "jsonl": [b'{"text": "a fine film", "label": "pos"}', b'{"text": "dull", "label": 0}'],
}
LINE_ENDS = [b"\n", b"\r\n", b"\r"]


@st.composite
def malformed_lines(draw: st.DrawFn, format: str) -> bytes:
    """A valid row (half the time), a valid row with a fragment inserted, or fragments."""
    pieces = st.one_of(st.sampled_from(FRAGMENTS[format]), st.binary(max_size=4))
    kind = draw(st.sampled_from(["row", "row", "spoilt row", "fragments"]))
    if kind == "fragments":
        return b"".join(draw(st.lists(pieces, max_size=5)))
    row = draw(st.sampled_from(ROWS[format]))
    if kind == "row":
        return row
    at = draw(st.integers(0, len(row)))
    return row[:at] + draw(pieces) + row[at:]


@st.composite
def malformed_files(draw: st.DrawFn, format: str) -> bytes:
    lines = draw(st.lists(malformed_lines(format), max_size=10))
    if draw(st.sampled_from([True] * 5 + [False])):  # usually a proper header
        lines.insert(0, draw(st.sampled_from(HEADERS[format])))
    ends = draw(st.lists(st.sampled_from(LINE_ENDS), min_size=len(lines), max_size=len(lines)))
    body = b"".join(line + end for line, end in zip(lines, ends, strict=True))
    if body and draw(st.booleans()):
        body = body.removesuffix(ends[-1])  # no line end after the last line
    start = draw(st.sampled_from([b""] * 4 + [b"\xef\xbb\xbf", b"\xff\xfe"]))
    return start + body


def lines_with_content(data: bytes) -> set[int]:
    data = data.removeprefix(b"\xef\xbb\xbf")
    return {
        number
        for number, raw in enumerate(data.splitlines(), start=1)
        if raw.decode("utf-8", errors="replace").strip()
    }


def accounted_lines(result: LabelledTexts) -> list[int]:
    """Every line the result names, once per mention (so a line named twice shows twice)."""
    spans = [*result.spans, *((row.line, row.last_line or row.line) for row in result.skipped)]
    if result.header is not None:
        spans.append(result.header)
    return sorted(n for first, last in spans for n in range(first, last + 1))


def check_outcome(data: bytes, format: TextFormat, *, strict: bool, quoting: bool) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"fuzz.{format}"
        path.write_bytes(data)
        try:
            result = read_labelled_texts(path, strict=strict, tsv_quoting=quoting, max_chars=500)
        except SeqlabError as error:
            event("SeqlabError")
            message = str(error)
            assert message and "\n" not in message.strip()
            assert str(path) in message
            return
    event(f"read, skipped {'some' if result.skipped else 'none'}")
    event(f"{'with' if result.truncated else 'no'} texts cut")
    content = lines_with_content(data)
    named = accounted_lines(result)
    # Nothing lost silently, nothing counted twice: the header, the rows read and the rows
    # skipped cover every line with content, each once (a quoted field may span blank lines).
    assert content <= set(named), sorted(content - set(named))
    assert len(named) == len(set(named))
    assert len(result.texts) == len(result.labels) == len(result.spans) > 0
    if format == "jsonl" or (format == "tsv" and not quoting):
        # One row a line: rows read + rows skipped (+ the header) == lines with content.
        header = 0 if result.header is None else 1
        assert len(result.texts) + len(result.skipped) + header == len(content)
    if strict:
        assert result.skipped == ()
    assert all(text == text.strip() and text for text in result.texts)
    assert all(len(text) <= 500 for text in result.texts)
    assert {cut.line for cut in result.truncated} <= {first for first, _ in result.spans}


FUZZ = settings(
    max_examples=300,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@FUZZ
@given(data=malformed_files("csv"), strict=st.booleans())
def test_malformed_csv_is_an_error_or_fully_accounted(data, strict):
    check_outcome(data, "csv", strict=strict, quoting=False)


@FUZZ
@given(data=malformed_files("tsv"), strict=st.booleans(), quoting=st.booleans())
def test_malformed_tsv_is_an_error_or_fully_accounted(data, strict, quoting):
    check_outcome(data, "tsv", strict=strict, quoting=quoting)


@FUZZ
@given(data=malformed_files("jsonl"), strict=st.booleans())
def test_malformed_jsonl_is_an_error_or_fully_accounted(data, strict):
    check_outcome(data, "jsonl", strict=strict, quoting=False)


def test_the_generated_files_reach_both_outcomes():
    """The generator is not vacuous: fixed files of its kinds give rows read, rows skipped and
    errors."""
    outcomes = []
    for data in (b"text,label\na,pos\n\xff,neg\n", b"", b"\xff\xfe", b"body,label\nx,1\n"):
        try:
            with tempfile.TemporaryDirectory() as folder:
                path = Path(folder) / "f.csv"
                path.write_bytes(data)
                result = read_labelled_texts(path)
            outcomes.append((len(result), len(result.skipped)))
        except SeqlabError:
            outcomes.append("error")
    assert outcomes == [(1, 1), "error", "error", "error"]
