"""The attention alignment of one translated sentence as a heatmap, the figure of Bahdanau, Cho
and Bengio, 2015, "Neural Machine Translation by Jointly Learning to Align and Translate"
(figure 3): source subwords across the top (x axis), target subwords down the side (y axis),
cell (t, s) the weight alpha_ts the step that produced target subword t paid to source subword s,
in grayscale, 0 black and 1 white, on a fixed 0..1 scale (each row sums to 1), so figures of
different sentences compare and a cell's gray level is its weight.

Tick labels are the subwords as :class:`~seqlab.tasks.translation.predictor.Alignment` gives
them, with white space made visible: white space that starts a subword (the space before a word
in byte-level BPE) is shown as ``▁`` (U+2581, SentencePiece's word-start mark), and an empty
subword as ``·``. (``TranslationPredictor.alignment`` decodes each subword alone, and decoding
drops a leading space, so its word-initial subwords arrive without it and a subword that is a
lone space arrives as ``·``.) Labels are drawn as plain text: a ``$`` in a subword is not TeX.

The figure is rendered in memory and written with seqlab.utils.io.atomic_write_bytes, so a
reader never sees half a file; its format follows the file's suffix (.png, .svg, .pdf).
"""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import TYPE_CHECKING

import matplotlib

matplotlib.use("Agg")  # files only: no window, works on a server without a display
import matplotlib.pyplot as plt  # noqa: E402
from mpl_toolkits.axes_grid1 import make_axes_locatable  # noqa: E402

from seqlab.errors import SeqlabError  # noqa: E402
from seqlab.utils.io import atomic_write_bytes  # noqa: E402

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from seqlab.tasks.translation.predictor import Alignment

__all__ = ["DPI", "WORD_START", "alignment_figure", "draw_alignment", "tick_label"]

# Dots per inch of the figure and of the file: equal, so the file's pixel (row, column) is the
# figure's display point (column, height - row), which the tests use to read weights back.
DPI = 100
WORD_START = "▁"
# Inches per heatmap cell, and room around the heatmap for tick labels, titles and the colour bar.
_CELL = 0.32
_MARGIN_WIDTH, _MARGIN_HEIGHT = 2.6, 2.4
_TITLE_BAND = 0.45
_MIN_WIDTH = 4.5
# Title font sizes (points): the largest, the smallest, and the width of an average character
# of DejaVu Sans in ems, to shrink a long title to the figure's width rather than cut it off.
_TITLE_POINTS, _TITLE_MIN_POINTS, _CHARACTER_EMS = 12.0, 6.0, 0.62
_LEADING_SPACE = re.compile(r"^\s+")


def tick_label(token: str) -> str:
    """How ``token`` reads on an axis: leading white space as ``▁``, empty as ``·``."""
    if not token:
        return "·"
    return _LEADING_SPACE.sub(lambda match: WORD_START * len(match.group()), token)


def _title_size(title: str, width: float) -> float:
    """The font size (points) at which ``title`` fits in ``width`` inches, within limits."""
    fitting = 72 * (width - 0.3) / (_CHARACTER_EMS * max(1, len(title)))
    return max(_TITLE_MIN_POINTS, min(_TITLE_POINTS, fitting))


def _check(alignment: Alignment) -> None:
    rows, columns = len(alignment.target_tokens), len(alignment.source_tokens)
    if rows == 0 or columns == 0:
        raise SeqlabError("the alignment has no subwords to draw; translate a non-empty sentence")
    if len(alignment.weights) != rows or any(len(row) != columns for row in alignment.weights):
        raise SeqlabError(
            f"the alignment's weights are not {rows} rows of {columns} (one row per target "
            "subword, one column per source subword)"
        )


def alignment_figure(alignment: Alignment, *, title: str | None = None) -> Figure:
    """The heatmap as a matplotlib Figure, laid out (the caller closes it: ``plt.close``)."""
    _check(alignment)
    rows, columns = len(alignment.target_tokens), len(alignment.source_tokens)
    width = max(_MIN_WIDTH, _MARGIN_WIDTH + _CELL * columns)
    figure, axis = plt.subplots(figsize=(width, _MARGIN_HEIGHT + _CELL * rows), dpi=DPI)
    image = axis.imshow(
        alignment.weights,  # (T, S)
        cmap="gray",
        vmin=0.0,
        vmax=1.0,
        aspect="equal",
        interpolation="nearest",  # one flat cell per weight, never blended with its neighbours
    )
    # A colour bar as tall as the heatmap, whatever the sentence lengths.
    bar_axis = make_axes_locatable(axis).append_axes("right", size=0.18, pad=0.15)
    colour_bar = figure.colorbar(image, cax=bar_axis)
    colour_bar.set_label("attention weight")
    axis.set_xticks(range(columns))
    source_labels = [tick_label(token) for token in alignment.source_tokens]
    target_labels = [tick_label(token) for token in alignment.target_tokens]
    axis.set_xticklabels(source_labels, rotation=90, parse_math=False)
    axis.set_yticks(range(rows))
    axis.set_yticklabels(target_labels, parse_math=False)
    # As in Bahdanau et al.: the source read along the top, the translation down the side.
    axis.xaxis.tick_top()
    axis.xaxis.set_label_position("top")
    marked = any(label.startswith(WORD_START) for label in [*source_labels, *target_labels])
    axis.set_xlabel("source subwords" + f" ({WORD_START}: a word's leading space)" * marked)
    axis.set_ylabel("target subwords (the translation)")
    axis.tick_params(length=0, labelsize=8)
    # The title sits in a band of its own, left out of the layout, so that where each cell lands
    # depends on the subwords alone, not on the title's text.
    band = _TITLE_BAND / figure.get_figheight()
    heading_text = title or "attention alignment"
    heading = figure.suptitle(heading_text, y=1 - band / 2, va="center", parse_math=False,
                              fontsize=_title_size(heading_text, width))  # fmt: skip
    heading.set_in_layout(False)
    figure.tight_layout(rect=(0, 0, 1, 1 - band))
    return figure


def draw_alignment(alignment: Alignment, path: str | Path, *, title: str | None = None) -> Path:
    """Write the heatmap of ``alignment`` to ``path`` (format from its suffix; PNG when none),
    atomically; returns the path written."""
    target = Path(path)
    kind = target.suffix.lstrip(".").lower() or "png"
    figure = alignment_figure(alignment, title=title)
    try:
        if kind not in figure.canvas.get_supported_filetypes():
            raise SeqlabError(
                f"{target}: '.{kind}' is not a figure format; name the file .png, .svg or .pdf"
            )
        buffer = io.BytesIO()
        figure.savefig(buffer, format=kind, dpi=DPI)
    finally:
        plt.close(figure)
    atomic_write_bytes(target, buffer.getvalue())
    return target
