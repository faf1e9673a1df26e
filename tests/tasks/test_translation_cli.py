"""`seqlab translate`, end to end: sentences, --beam, --file documents, --json, --out, the
--alignment heatmap and the errors a user can meet.

One tiny Transformer is trained once for the module on the generated number-and-colour corpus
of _translation_runs (about 7 s). The commands run in-process through ``seqlab.cli.main`` (its
return value is the exit code), and what they print is checked against the same model used
directly through ``seqlab.load``. The heatmap is checked by reading its pixels back: the figure
is grayscale on a fixed 0..1 scale, so the gray level at a cell's centre is that cell's weight.
"""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib.image
import matplotlib.pyplot as plt
import numpy as np
import pytest
from _translation_runs import sentence_pairs, train_args, write_table

import seqlab
from seqlab import cli
from seqlab.errors import SeqlabError
from seqlab.tasks.translation.alignment_figure import (
    WORD_START,
    alignment_figure,
    draw_alignment,
    tick_label,
)
from seqlab.tasks.translation.predictor import Alignment, TranslationPredictor

pytestmark = pytest.mark.slow

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "model_dirs"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# A gray level in a PNG is one of 256 steps, and the colour map has 256 entries: a weight read
# back from a pixel is within about two steps of the weight drawn.
PIXEL_TOLERANCE = 2.5 / 255


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("translation")
    data = write_table(folder / "pairs.tsv", sentence_pairs(400))
    assert cli.main(train_args(data, folder / "model")) == 0
    return folder / "model"


@pytest.fixture(scope="module")
def predictor(model_dir: Path) -> TranslationPredictor:
    return seqlab.load(model_dir)


@pytest.fixture(autouse=True)
def _no_debug(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SEQLAB_DEBUG", raising=False)  # errors as users see them: one line


def _sources(count: int, *, seed: int) -> list[str]:
    return [source for source, _ in sentence_pairs(count, seed=seed)]


def _document(sentences: int) -> str:
    """Paragraphs of ten generated sentences, then one sentence longer than the model's
    max_length (128 subwords), which must be cut and noted."""
    sources = _sources(sentences, seed=2)
    paragraphs = [" ".join(sources[i : i + 10]) for i in range(0, sentences, 10)]
    return "\n\n".join([*paragraphs, " ".join(["eins", "zwei", "rot", "blau"] * 15) + "."])


def _translate(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[str, str]:
    assert cli.main(["translate", *args]) == 0
    captured = capsys.readouterr()
    return captured.out, captured.err


# ---- sentences ----


def test_prints_one_line_per_text_equal_to_the_predictor(
    model_dir: Path, predictor: TranslationPredictor, capsys: pytest.CaptureFixture[str]
) -> None:
    texts = _sources(12, seed=1)
    out, _ = _translate(capsys, str(model_dir), *texts)
    expected = predictor.translate(texts)
    assert out.splitlines() == expected
    # The model learned the word-for-word mapping: most translations are the references.
    references = [target for _, target in sentence_pairs(12, seed=1)]
    assert sum(a == b for a, b in zip(expected, references, strict=True)) >= 6


def test_beam_one_is_greedy_search(
    model_dir: Path, predictor: TranslationPredictor, capsys: pytest.CaptureFixture[str]
) -> None:
    texts = _sources(80, seed=1)
    greedy = predictor.translate(texts, beam_size=1)
    beamed = predictor.translate(texts)  # the model's data.beam_size, 2
    assert predictor.beam_size == 2
    # Without a difference the flag's effect could not be seen.
    assert greedy != beamed, "greedy and beam search agree on every text"
    assert _translate(capsys, str(model_dir), *texts, "--beam", "1")[0].splitlines() == greedy
    assert _translate(capsys, str(model_dir), *texts, "--beam", "2")[0].splitlines() == beamed


def test_json_of_texts(
    model_dir: Path, predictor: TranslationPredictor, capsys: pytest.CaptureFixture[str]
) -> None:
    texts = _sources(5, seed=3)
    out, _ = _translate(capsys, str(model_dir), *texts, "--json", "--beam", "1")
    assert json.loads(out) == {"translations": predictor.translate(texts, beam_size=1)}


# ---- documents ----


def test_file_translates_a_long_document_as_translate_document(
    model_dir: Path,
    predictor: TranslationPredictor,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    text = _document(150)
    path = tmp_path / "doc.txt"
    path.write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))  # a byte order mark is allowed
    document = predictor.translate_document(text)
    assert len(document.plan.windows) > 5 and len(document.notes()) == 1  # long, one cut
    out, err = _translate(capsys, str(model_dir), "--file", str(path))
    assert out == document.text + "\n"
    assert out.count("\n\n") == 15  # each paragraph break kept
    assert err.splitlines() == [f"seqlab translate: {path}: {document.notes()[0]}"]


def test_file_as_json_and_beam(
    model_dir: Path,
    predictor: TranslationPredictor,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    text = _document(40)
    path = tmp_path / "doc.txt"
    path.write_text(text, encoding="utf-8")
    out, _ = _translate(capsys, str(model_dir), "--file", str(path), "--json", "--beam", "1")
    document = predictor.translate_document(text, beam_size=1)
    assert json.loads(out) == {"translation": document.text, "notes": document.notes()}
    assert document.notes()  # the JSON carries a real note, not an empty list


def test_out_writes_the_output_to_a_file(
    model_dir: Path,
    predictor: TranslationPredictor,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    texts = _sources(4, seed=4)
    target = tmp_path / "new" / "translations.txt"
    out, err = _translate(capsys, str(model_dir), *texts, "--out", str(target))
    assert out == ""
    assert target.read_text(encoding="utf-8").splitlines() == predictor.translate(texts)
    assert str(target) in err
    assert [p.name for p in target.parent.iterdir()] == ["translations.txt"]  # no temporary left


# ---- the alignment heatmap ----


def _cell_values(png: Path, alignment: Alignment) -> np.ndarray:
    """The gray level at the centre of every cell (T, S) of the heatmap in ``png``, located
    with the figure laid out for the same alignment (the title does not move the cells)."""
    pixels = matplotlib.image.imread(png)  # (height, width, RGBA), floats in 0..1
    figure = alignment_figure(alignment, title="another title")
    try:
        figure.canvas.draw()
        height = figure.get_figheight() * figure.dpi
        assert pixels.shape[:2] == (round(height), round(figure.get_figwidth() * figure.dpi))
        axis = figure.axes[0]
        rows, columns = len(alignment.target_tokens), len(alignment.source_tokens)
        values = np.zeros((rows, columns))
        for t in range(rows):
            for s in range(columns):
                x, y = axis.transData.transform((s, t))
                red, green, blue = pixels[int(height - y), int(x), :3]
                assert red == green == blue  # gray
                values[t, s] = red
    finally:
        plt.close(figure)
    return values


def test_alignment_heatmap_holds_the_weights_of_alignment(
    model_dir: Path,
    predictor: TranslationPredictor,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    text = "Eins zwei rot schwarz."
    png = tmp_path / "figures" / "alignment.png"
    out, err = _translate(capsys, str(model_dir), text, "--alignment", str(png))
    alignment = predictor.alignment(text)
    assert out.splitlines() == [alignment.translation] == predictor.translate([text])
    assert f"wrote the alignment figure {png}" in err
    assert png.read_bytes().startswith(PNG_SIGNATURE)
    weights = np.array(alignment.weights)
    assert weights.shape == (len(alignment.target_tokens), len(alignment.source_tokens))
    np.testing.assert_allclose(weights.sum(axis=1), 1.0, atol=1e-5)  # attention rows
    drawn = _cell_values(png, alignment)
    np.testing.assert_allclose(drawn, weights, atol=PIXEL_TOLERANCE)
    assert np.ptp(weights) > 0.3  # a figure of contrasts, so a wrong cell would show


def test_alignment_with_json_and_beam(
    model_dir: Path,
    predictor: TranslationPredictor,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    text = "Blau grün fünf vier."
    png = tmp_path / "alignment.png"
    args = (str(model_dir), text, "--alignment", str(png), "--json", "--beam", "1")
    out, _ = _translate(capsys, *args)
    alignment = predictor.alignment(text, beam_size=1)
    assert json.loads(out) == {
        "translations": [alignment.translation],
        "alignment": {
            "figure": str(png),
            "source_tokens": alignment.source_tokens,
            "target_tokens": alignment.target_tokens,
            "weights": alignment.weights,
        },
    }
    np.testing.assert_allclose(
        _cell_values(png, alignment), alignment.weights, atol=PIXEL_TOLERANCE
    )


def test_draw_alignment_of_known_weights(tmp_path: Path) -> None:
    alignment = Alignment(
        source_tokens=[" Ein", " Mann", "$5", "", "</s>"],
        target_tokens=[" A", " man", "</s>"],
        weights=[[0.0, 0.25, 0.75, 0.0, 0.0], [1.0, 0.0, 0.0, 0.0, 0.0], [0.1, 0.2, 0.3, 0.4, 0.0]],
        translation="A man",
    )
    written = draw_alignment(alignment, tmp_path / "known.png", title="$x$ not TeX")
    assert written == tmp_path / "known.png"
    np.testing.assert_allclose(
        _cell_values(written, alignment), alignment.weights, atol=PIXEL_TOLERANCE
    )
    figure = alignment_figure(alignment)
    try:
        axis = figure.axes[0]
        np.testing.assert_array_equal(axis.images[0].get_array(), alignment.weights)
        assert [label.get_text() for label in axis.get_xticklabels()] == [
            f"{WORD_START}Ein", f"{WORD_START}Mann", "$5", "·", "</s>"
        ]  # fmt: skip
        assert [label.get_text() for label in axis.get_yticklabels()] == [
            f"{WORD_START}A", f"{WORD_START}man", "</s>"
        ]  # fmt: skip
        assert "source" in axis.get_xlabel() and "target" in axis.get_ylabel()
        assert figure.get_suptitle() == "attention alignment"
    finally:
        plt.close(figure)
    svg = draw_alignment(alignment, tmp_path / "known.svg")
    assert svg.read_bytes().lstrip().startswith(b"<?xml")


def test_tick_labels_make_white_space_visible() -> None:
    assert tick_label("  x") == f"{WORD_START * 2}x"
    assert tick_label("") == "·"
    assert tick_label("x y") == "x y"


def test_draw_alignment_refuses_what_it_cannot_draw(tmp_path: Path) -> None:
    alignment = Alignment(["a", "</s>"], ["b", "</s>"], [[1.0, 0.0], [0.0, 1.0]], "b")
    with pytest.raises(SeqlabError, match=r"'\.bmp' is not a figure format"):
        draw_alignment(alignment, tmp_path / "figure.bmp")
    ragged = Alignment(["a", "</s>"], ["b", "</s>"], [[1.0, 0.0], [1.0]], "b")
    with pytest.raises(SeqlabError, match="not 2 rows of 2"):
        draw_alignment(ragged, tmp_path / "figure.png")
    assert list(tmp_path.iterdir()) == []


# ---- errors: one line, exit status 2 ----


def _error(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    assert cli.main(["translate", *args]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("seqlab: error: "), captured.err
    assert "Traceback" not in captured.err
    return lines[0]


def test_error_missing_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    line = _error(capsys, str(tmp_path / "nowhere"), "Eins.")
    assert "nowhere" in line and "does not exist" in line


def test_error_a_directory_of_another_task(capsys: pytest.CaptureFixture[str]) -> None:
    directory = FIXTURES / "sentiment"
    line = _error(capsys, str(directory), "Eins.")
    assert "'sentiment' model" in line and "does not translate" in line
    assert f"seqlab predict {directory}" in line


def test_error_alignment_of_two_texts(
    model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    png = tmp_path / "a.png"
    line = _error(capsys, str(model_dir), "Eins.", "Zwei.", "--alignment", str(png))
    assert "--alignment draws one sentence" in line and "2 texts" in line
    assert not png.exists()


def test_error_empty_text(model_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    line = _error(capsys, str(model_dir), "Eins.", "  ")
    assert "text 2 is empty" in line


def test_error_file_that_is_not_utf8(
    model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "latin1.txt"
    path.write_bytes("Eins zwei.\r\nDrei vier.\nFünf rot.\n".encode("latin-1"))
    line = _error(capsys, str(model_dir), "--file", str(path))
    assert f"{path}:3: bytes that are not UTF-8 (at column 2)" in line


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("Eins.", "--beam", "0"), "--beam (0) must be at least 1"),
        ((), "no texts given"),
        (("Eins.", "--file", "doc.txt"), "not both"),
        (("--file", "missing.txt"), "missing.txt not found"),
    ],
)
def test_error_requests_that_cannot_be_answered(
    model_dir: Path, capsys: pytest.CaptureFixture[str], args: tuple[str, ...], expected: str
) -> None:
    assert expected in _error(capsys, str(model_dir), *args)
