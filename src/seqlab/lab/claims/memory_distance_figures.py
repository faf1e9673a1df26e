"""The figures of claims 1 to 3 (memory_distance), drawn from the shared measurement's numbers:
accuracy against distance with the chance and solved lines, training steps against distance, and
the gradient reaching each input position on a log scale."""

from __future__ import annotations

from typing import Any

import matplotlib.ticker

from seqlab.lab.claims.memory_distance_measurement import (
    budget_words,
    failed_at,
    run_at,
    trained_at,
)
from seqlab.lab.claims.verdicts import Numbers
from seqlab.lab.figures import COLOURS, LABELS


def _distance_ticks(axis: Any, numbers: Numbers) -> None:
    """A log distance axis labelled with the distances run, and only those."""
    every = sorted({d for family in numbers["families"] for d in trained_at(numbers, family)})
    axis.set_xscale("log")
    axis.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
    axis.set_xticks(every)
    axis.set_xticklabels([str(d) for d in every])
    axis.set_xlabel("recall distance d")


def accuracy_axis(axis: Any, numbers: Numbers, emphasis: tuple[str, ...]) -> None:
    """Test accuracy against distance for every family; the claim's families drawn boldly."""
    for family in numbers["families"]:
        distances = sorted(trained_at(numbers, family))
        accuracy = [run_at(numbers, family, d)["accuracy"] for d in distances]
        bold = family in emphasis
        axis.plot(distances, accuracy, "o-", color=COLOURS[family], label=LABELS[family],
                  alpha=1.0 if bold else 0.35, linewidth=2.0 if bold else 1.0)  # fmt: skip
    axis.axhline(numbers["chance"], color="grey", linestyle="--", label="chance")
    axis.axhline(numbers["solved_at"], color="black", linestyle=":", label="solved")
    _distance_ticks(axis, numbers)
    axis.set_ylim(0, 1.05)
    axis.set_ylabel("test accuracy")
    axis.set_title(f"Recall, about {numbers['parameter_budget']:,} parameters per model")
    axis.legend(fontsize=7)


def steps_axis(axis: Any, numbers: Numbers, families: tuple[str, ...]) -> None:
    """Training steps each run took (to 99% validation accuracy, or its budget); a cross marks
    a run that did not solve the task."""
    for family in families:
        distances = sorted(trained_at(numbers, family))
        steps = [run_at(numbers, family, d)["steps"] for d in distances]
        axis.plot(distances, steps, "o-", color=COLOURS[family], label=LABELS[family])
        failed = failed_at(numbers, family)
        axis.plot(failed, [run_at(numbers, family, d)["steps"] for d in failed], "x",
                  color="black", markersize=9)  # fmt: skip
    axis.plot([], [], "x", color="black", label="not solved")
    axis.axhline(numbers["steps"], color="grey", linestyle="--", label="step budget")
    _distance_ticks(axis, numbers)
    axis.set_ylabel("training steps taken")
    axis.set_title(budget_words(numbers), fontsize=8)
    axis.legend(fontsize=7)


def gradient_axis(axis: Any, numbers: Numbers, *, mark: int) -> None:
    """||dL/dx_t|| against the steps before the answer, every family, at initialisation (solid)
    and after training (dashed), on a log scale, with a line at ``mark`` steps."""
    for family in numbers["families"]:
        for phase, style in (("initial", "-"), ("trained", "--")):
            norms = numbers["gradients"][family][phase]
            # Floor exact zeros (float32 underflow) so they still show on the log scale.
            axis.plot(range(len(norms)), [max(n, 1e-30) for n in norms], style,
                      color=COLOURS[family], label=f"{LABELS[family]}, {phase}")  # fmt: skip
    axis.axvline(mark, color="grey", linestyle=":", linewidth=1)
    axis.set_yscale("log")
    axis.set_xlabel(f"steps before the answer (d = {numbers['gradient_distance']})")
    axis.set_ylabel("mean ||dL/dx_t||")
    axis.set_title("Gradient reaching each input position")
    axis.legend(fontsize=6, ncol=2)
