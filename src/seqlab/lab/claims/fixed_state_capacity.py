"""Claim 17: a recurrent network's fixed-size hidden state limits what it can hold, while
attention reads every token.

The copy problem (Arjovsky, Shah and Bengio 2016, "Unitary Evolution Recurrent Neural Networks",
sec. 4.1; seqlab.data.memory): a string of S symbols from an alphabet of A, then blanks and a
delimiter, then S blanks during which the model must emit the string. To copy, an LSTM
(Hochreiter and Schmidhuber 1997) must carry all S log2(A) bits across the blanks in its state of
H cells, whatever S is; a Transformer's causal self-attention (Vaswani et al. 2017, sec. 3.2)
reads each symbol of the string directly from its position at the step that emits it. With H
held fixed and S growing, the LSTM's per-symbol accuracy should fall once S log2(A) outgrows what
its H cells can be trained to hold, while a Transformer of about the same parameter count keeps
copying.

Runs are compare's memory runs (lab.compare: its learning rates, schedule, stopping at 99% on
validation, its run verdicts), with the string length set per run; the Transformer's size is
compare.match_model_size at the LSTM's parameter count.
"""

from __future__ import annotations

import math
import shutil
import statistics
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch

from seqlab.lab.claims.base import Claim, Settings
from seqlab.lab.claims.verdicts import (
    DOES_NOT_HOLD,
    HOLDS,
    HOLDS_WITH_CAVEAT,
    Numbers,
    Verdict,
)
from seqlab.lab.compare import SOLVED, CompareSettings, match_model_size, memory_task, run_result
from seqlab.lab.figures import COLOURS, LABELS, plt, png_bytes
from seqlab.lab.workers import run_side_by_side
from seqlab.tasks.memory.task import MemoryTask
from seqlab.tasks.runner import count_parameters, train_run

# ---- verdict rule ----

# compare's run verdicts for a run whose validation loss was still falling at the end of its
# budget (compare.VERDICT_RULES): more steps would likely have helped.
STILL_IMPROVING = ("at chance, loss still falling", "partly learned, still improving")

FIXED_STATE_RULE = (
    f"a family solves a string length when its mean per-symbol test accuracy over the seeds is "
    f"at least {SOLVED['copy']:.0%}. Holds if the LSTM (hidden size fixed) solves the shortest "
    f"length but not the longest, and the Transformer solves every length; holds with a caveat "
    f"(the step budget) if so but some LSTM run it failed was still improving when its budget "
    f"ran out; does not hold here if the Transformer misses a length, or if the LSTM solves "
    f"every length (its state was no limit here) or none (no capacity to see a limit of)."
)


def _lengths_where(numbers: Numbers, family: str, *, solved: bool) -> list[int]:
    means = numbers["mean_accuracy"][family]
    return [n for n in numbers["string_lengths"] if (means[str(n)] >= SOLVED["copy"]) == solved]


def _improving(numbers: Numbers, family: str, lengths: list[int]) -> list[int]:
    return [n for n in lengths if numbers["still_improving"][family][str(n)]]


def fixed_state_capacity(numbers: Numbers) -> Verdict:
    lengths = numbers["string_lengths"]
    shortest, longest = min(lengths), max(lengths)
    lstm, transformer = numbers["mean_accuracy"]["lstm"], numbers["mean_accuracy"]["transformer"]
    hidden = numbers["hidden_size"]
    budget = f"{numbers['steps']} steps"
    missed = _lengths_where(numbers, "transformer", solved=False)
    if missed:
        improving = _improving(numbers, "transformer", missed)
        tail = (
            f"; still improving at {improving}: depends on the step budget ({budget})"
            if improving
            else ""
        )
        accuracies = ", ".join(f"{transformer[str(n)]:.1%} at S={n}" for n in missed)
        return DOES_NOT_HOLD, f"the Transformer did not copy every length ({accuracies}){tail}"
    solved = _lengths_where(numbers, "lstm", solved=True)
    failed = _lengths_where(numbers, "lstm", solved=False)
    if not failed:
        return DOES_NOT_HOLD, (
            f"the LSTM with {hidden} hidden units copied every length up to S={longest} "
            f"({lstm[str(longest)]:.1%}): its state was no limit at these lengths"
        )
    if shortest not in solved:
        return DOES_NOT_HOLD, (
            f"the LSTM with {hidden} hidden units did not copy even S={shortest} "
            f"({lstm[str(shortest)]:.1%}), so no limit of its state can be told from the "
            f"training budget ({budget})"
        )
    if longest in solved:
        return DOES_NOT_HOLD, (
            f"the LSTM with {hidden} hidden units copied the longest length S={longest} "
            f"({lstm[str(longest)]:.1%}) while missing {failed}: no fall with length"
        )
    limit = max(n for n in solved if n < min(failed))
    measured = (
        f"the LSTM with {hidden} hidden units copied up to S={limit} "
        f"({lstm[str(limit)]:.1%} per symbol) and fell to {lstm[str(longest)]:.1%} at "
        f"S={longest}, while the Transformer ({numbers['parameters']['transformer']:,} "
        f"parameters against the LSTM's {numbers['parameters']['lstm']:,}) copied every length "
        f"(at least {min(transformer.values()):.1%})"
    )
    improving = _improving(numbers, "lstm", failed)
    if improving:
        return HOLDS_WITH_CAVEAT, (
            f"{measured}; the LSTM was still improving at S={improving} when its {budget} ran "
            f"out: depends on the step budget"
        )
    return HOLDS, measured


# ---- the measurement ----


@dataclass(frozen=True)
class CopyRun:
    """One training run: ``family`` at string length ``string_length`` with seed ``seed``."""

    settings: CompareSettings
    family: str
    model: dict[str, Any]
    string_length: int
    seed: int


def _compare_settings(settings: Settings) -> CompareSettings:
    return CompareSettings.from_knobs(
        settings, tasks=("copy",), families=("lstm", "transformer"),
        distances=(settings["distance"],),
    )  # fmt: skip


def copy_task(run: CopyRun) -> MemoryTask:
    """compare's copy task for ``run``, with its string length and seed."""
    settings = replace(run.settings, seed=run.seed)
    task = memory_task(settings, family=run.family, kind="copy",
                        distance=settings.distances[0], model=run.model)  # fmt: skip
    data = replace(task.run.data, string_length=run.string_length)
    return MemoryTask(replace(task.run, data=data))


def train_copy(run: CopyRun) -> dict[str, Any]:
    """Train one run (here or in a worker); its test accuracies, steps and compare's words."""
    if run.settings.jobs > 1:
        torch.set_num_threads(1)  # workers share the cores: one thread each
    task = copy_task(run)
    scratch = Path(tempfile.mkdtemp(prefix="seqlab-claims-copy-"))
    try:
        trained = train_run(task.run, scratch / "run", progress="quiet", final_split="test")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    result = run_result(task, trained, kind="copy", distance=task.data.distance, family=run.family)
    return {
        "accuracy": result.value,
        "sequence_accuracy": float(trained.metrics["sequence_accuracy"]),
        "steps": result.steps,
        "words": result.verdict,
    }


def measure(settings: Settings) -> dict[str, Any]:
    compare = _compare_settings(settings)
    lstm_model: dict[str, Any] = {"hidden_size": settings["hidden_size"]}
    lengths, seeds = list(settings["string_lengths"]), list(range(settings["seeds"]))
    # The Transformer's size: compare's search at the LSTM's parameter count on the copy task.
    lstm_probe = CopyRun(compare, "lstm", lstm_model, lengths[0], 0)
    lstm_parameters = count_parameters(copy_task(lstm_probe).build_model())
    transformer_model, _ = match_model_size(
        replace(compare, parameter_budget=lstm_parameters), "transformer"
    )
    models = {"lstm": lstm_model, "transformer": transformer_model}
    transformer_probe = CopyRun(compare, "transformer", transformer_model, lengths[0], 0)
    parameters = {
        "lstm": lstm_parameters,
        "transformer": count_parameters(copy_task(transformer_probe).build_model()),
    }
    runs = [
        CopyRun(compare, family, models[family], length, seed)
        for length in reversed(lengths)  # the longest (slowest) runs first: less idle at the end
        for family in ("lstm", "transformer")
        for seed in seeds
    ]
    outcomes = dict(run_side_by_side(train_copy, runs, settings["jobs"]))

    def table(key: str) -> dict[str, dict[str, list[Any]]]:
        by_family: dict[str, dict[str, list[Any]]] = {"lstm": {}, "transformer": {}}
        for index, run in enumerate(runs):
            cell = by_family[run.family].setdefault(str(run.string_length), [])
            cell.append(outcomes[index][key])
        return by_family

    accuracy, words = table("accuracy"), table("words")
    return {
        "hidden_size": settings["hidden_size"],
        "distance": settings["distance"],
        "string_lengths": lengths,
        "alphabet_size": 8,  # the memory task's default alphabet
        "bits_to_hold": {str(n): n * math.log2(8) for n in lengths},
        "seeds": seeds,
        "steps": settings["steps"],
        "chance": 1 / 8,
        "solved_at": SOLVED["copy"],
        "models": models,
        "parameters": parameters,
        "accuracy": accuracy,
        "mean_accuracy": {
            family: {n: statistics.fmean(values) for n, values in cells.items()}
            for family, cells in accuracy.items()
        },
        "sequence_accuracy": {
            family: {n: statistics.fmean(values) for n, values in cells.items()}
            for family, cells in table("sequence_accuracy").items()
        },
        "steps_taken": table("steps"),
        "run_verdicts": words,
        "still_improving": {
            family: {n: any(word in STILL_IMPROVING for word in cell) for n, cell in cells.items()}
            for family, cells in words.items()
        },
    }


def figure(numbers: Numbers) -> bytes:
    chart, axis = plt.subplots(figsize=(6.4, 3.8))
    lengths = numbers["string_lengths"]
    for family in ("lstm", "transformer"):
        means = [numbers["mean_accuracy"][family][str(n)] for n in lengths]
        size = (
            f"hidden {numbers['hidden_size']}"
            if family == "lstm"
            else f"width {numbers['models']['transformer']['d_model']}"
        )
        label = f"{LABELS[family]} ({size}, {numbers['parameters'][family]:,} parameters)"
        axis.plot(lengths, means, "o-", color=COLOURS[family], label=label)
        for n in lengths:  # each seed, and a ring where the run was still improving
            seeds = numbers["accuracy"][family][str(n)]
            axis.plot([n] * len(seeds), seeds, ".", color=COLOURS[family], alpha=0.5)
            if numbers["still_improving"][family][str(n)]:
                axis.plot(n, numbers["mean_accuracy"][family][str(n)], "o", markersize=11,
                          markerfacecolor="none", color=COLOURS[family])  # fmt: skip
    axis.axhline(numbers["solved_at"], color="grey", linestyle="--", label="solved")
    axis.axhline(numbers["chance"], color="grey", linestyle=":", label="chance")
    axis.set_xscale("log", base=2)
    axis.set_xticks(lengths)
    axis.set_xticklabels([f"{n}\n({numbers['bits_to_hold'][str(n)]:.0f} bits)" for n in lengths])
    axis.set_xlabel("string length to copy (information to hold)")
    axis.set_ylabel("test accuracy per symbol")
    axis.set_ylim(0, 1.05)
    axis.set_title(f"Copy task, {numbers['steps']} steps at most (ring: still improving)",
                   fontsize=9)  # fmt: skip
    axis.legend(fontsize=7, loc="lower left")
    return png_bytes(chart)


CLAIM = Claim(
    number=17,
    id="fixed-state-capacity",
    statement=(
        "A recurrent network's fixed-size hidden state limits what it can hold, while attention "
        "reads every token: on the copy task, with the hidden size held fixed, the LSTM's "
        "accuracy falls as the string to copy grows, while a Transformer of similar size keeps "
        "copying."
    ),
    design=(
        "The copy task (seqlab's memory task kind 'copy': a string of S symbols from 8, a few "
        "blanks and a delimiter, then S steps in which to emit the string) at growing S. An "
        "LSTM with its hidden size held fixed and a two-layer Transformer matched to its "
        "parameter count (compare.match_model_size) are trained as `seqlab compare` trains its "
        "memory runs (Adam, cosine schedule, stopping once validation reaches 99%), each over "
        "the same seeds and step budget; the mean per-symbol test accuracy at each S decides, "
        "and compare's words for each run say whether it was still improving when its budget "
        "ran out."
    ),
    rule=FIXED_STATE_RULE,
    verdict=fixed_state_capacity,
    measure=measure,
    figure=figure,
    quick={"hidden_size": 32, "distance": 5, "string_lengths": [2, 4, 8, 16], "steps": 1000,
           "batch_size": 64, "eval_every": 50, "eval_examples": 256, "seeds": 1, "jobs": 2},
    full={"hidden_size": 32, "distance": 5, "string_lengths": [2, 4, 8, 16, 32], "steps": 3000,
          "batch_size": 64, "eval_every": 100, "eval_examples": 512, "seeds": 3, "jobs": 2},
)  # fmt: skip
