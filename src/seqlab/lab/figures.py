"""Figures for the compare report (matplotlib, no display needed): each returns PNG bytes."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

import matplotlib
import matplotlib.ticker

matplotlib.use("Agg")  # files only: no window, works on a server without a display
import matplotlib.pyplot as plt  # noqa: E402

if TYPE_CHECKING:
    from seqlab.lab.compare import CompareResults

COLOURS = {"rnn": "#d62728", "lstm": "#1f77b4", "gru": "#2ca02c", "transformer": "#9467bd"}
LABELS = {"rnn": "vanilla RNN", "lstm": "LSTM", "gru": "GRU", "transformer": "Transformer"}


def png_bytes(figure: plt.Figure) -> bytes:
    buffer = io.BytesIO()
    figure.tight_layout()
    figure.savefig(buffer, format="png", dpi=110)
    plt.close(figure)
    return buffer.getvalue()


def metric_vs_distance(results: CompareResults) -> bytes:
    tasks = list(results.settings.tasks)
    figure, axes = plt.subplots(1, len(tasks), figsize=(5.2 * len(tasks), 3.8), squeeze=False)
    for axis, kind in zip(axes[0], tasks, strict=True):
        runs = [run for run in results.runs if run.task == kind]
        for family in results.settings.families:
            points = sorted((run.distance, run.value) for run in runs if run.family == family)
            if points:
                distances, values = zip(*points, strict=True)
                axis.plot(distances, values, "o-", color=COLOURS[family], label=LABELS[family])
        if runs:
            axis.axhline(runs[0].chance, color="grey", linestyle="--", label="chance")
            axis.set_ylabel(f"test {runs[0].metric}")
        axis.set_xscale("log")
        axis.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())  # only the distances run
        axis.set_xticks(list(results.settings.distances))
        axis.set_xticklabels([str(d) for d in results.settings.distances])
        axis.set_xlabel("distance (steps between information and answer)")
        if kind == "adding":
            axis.set_yscale("log")
        axis.set_title(kind)
        axis.legend(fontsize=8)
    return png_bytes(figure)


def gradient_vs_distance(results: CompareResults) -> bytes:
    figure, axes = plt.subplots(1, 2, figsize=(10.5, 3.8), sharey=True)
    for axis, phase in zip(axes, ("initial", "trained"), strict=True):
        for family, by_phase in results.gradients.items():
            norms = by_phase.get(phase)
            if norms:
                # Floor at a tiny value so exact zeros still show on the log scale.
                axis.plot(range(len(norms)), [max(n, 1e-30) for n in norms],
                          color=COLOURS[family], label=LABELS[family])  # fmt: skip
        axis.set_yscale("log")
        axis.set_xlabel("distance from the answer (steps)")
        axis.set_title("at initialisation" if phase == "initial" else "after training")
        axis.legend(fontsize=8)
    axes[0].set_ylabel("mean ||dL/dx_t||")
    figure.suptitle(
        f"Gradient reaching each input position ({results.settings.tasks[0]}, "
        f"distance {results.gradient_distance})"
    )
    return png_bytes(figure)


def step_time_vs_length(results: CompareResults) -> bytes:
    figure, axis = plt.subplots(figsize=(5.6, 3.8))
    for family, by_length in results.step_seconds.items():
        lengths = sorted(by_length)
        axis.plot(lengths, [by_length[n] * 1e3 for n in lengths], "o-",
                  color=COLOURS[family], label=LABELS[family])  # fmt: skip
    axis.set_xlabel("sequence length")
    axis.set_ylabel("ms per training step")
    axis.set_title(f"Training step time (batch {results.settings.batch_size})")
    axis.legend(fontsize=8)
    return png_bytes(figure)
