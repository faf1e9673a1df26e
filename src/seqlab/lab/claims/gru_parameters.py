"""Claim 10: a GRU has fewer parameters than an LSTM of the same width, and performs similarly
on the memory tasks at equal parameters.

Per layer, input size I and hidden size H: an LSTM has four gate blocks (input, forget, cell,
output; Hochreiter and Schmidhuber 1997, with the forget gate of Gers et al. 2000), a GRU three
(reset, update, candidate; Cho et al. 2014). Each block has W_ih (H x I), W_hh (H x H) and, as in
torch.nn, two biases b_ih and b_hh (H each), so

    LSTM: 4 (H I + H H + 2 H)        GRU: 3 (H I + H H + 2 H)        GRU / LSTM = 3/4 exactly.

The counts are read off seqlab.nn.GRU / LSTM and checked against torch.nn.GRU / LSTM and the
equations above.

The second half of the claim, that a GRU performs similarly to an LSTM on the memory tasks at
equal parameter counts (Chung et al. 2014, "Empirical Evaluation of Gated Recurrent Neural
Networks on Sequence Modeling", found neither clearly better), is measured with compare's memory
runs (lab.compare): both families sized by compare.match_model_size to the same parameter
budget, trained on recall (and adding in the full run) at a distance both learn, over seeds.
``accuracy_gap`` is the GRU's mean recall test accuracy minus the LSTM's.
"""

from __future__ import annotations

import shutil
import statistics
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

from torch import nn

import seqlab.nn
from seqlab.errors import SeqlabError
from seqlab.lab.claims.base import Claim, Settings
from seqlab.lab.claims.verdicts import GRU_PARAMETERS_RULE, Numbers, gru_fewer_parameters
from seqlab.lab.compare import CompareSettings, TrainingJob, match_model_size, run_jobs
from seqlab.lab.figures import COLOURS, LABELS, plt, png_bytes

GATE_BLOCKS = {"lstm": 4, "gru": 3}


def _count(module: nn.Module) -> int:
    return sum(parameter.numel() for parameter in module.parameters())


def equation_count(family: str, input_size: int, hidden_size: int, num_layers: int) -> int:
    """The count from the equations: per layer, gate blocks x (H I + H H + 2 H); layers after
    the first read the hidden state below (I = H)."""
    total = 0
    for layer in range(num_layers):
        width_in = input_size if layer == 0 else hidden_size
        total += GATE_BLOCKS[family] * (hidden_size * width_in + hidden_size**2 + 2 * hidden_size)
    return total


def measure(settings: Settings) -> dict[str, Any]:
    input_size, num_layers = settings["input_size"], settings["num_layers"]
    counts = {}
    for width in settings["widths"]:
        shape = {"input_size": input_size, "hidden_size": width, "num_layers": num_layers}
        gru, lstm = _count(seqlab.nn.GRU(**shape)), _count(seqlab.nn.LSTM(**shape))
        counts[str(width)] = {
            "gru": gru,
            "lstm": lstm,
            "torch_gru": _count(nn.GRU(**shape)),
            "torch_lstm": _count(nn.LSTM(**shape)),
            "equation_gru": equation_count("gru", input_size, width, num_layers),
            "equation_lstm": equation_count("lstm", input_size, width, num_layers),
            "ratio": gru / lstm,
        }
    memory = equal_parameter_runs(settings) if settings["seeds"] > 0 else None
    gap = None
    if memory is not None:
        recall = memory["results"]["recall"]
        gap = recall["gru"]["mean"] - recall["lstm"]["mean"]
    return {"widths": list(settings["widths"]), "counts": counts, "memory": memory,
            "accuracy_gap": gap}  # fmt: skip


def equal_parameter_runs(settings: Settings) -> dict[str, Any]:
    """The GRU and the LSTM sized to the same parameter budget (compare.match_model_size) and
    trained as compare trains them, on each memory task at one distance, over seeds: per task
    and family the test metric of each seed, its mean, the steps each run took."""
    tasks = tuple(settings["memory_tasks"])
    if tasks[0] != "recall":
        raise SeqlabError(
            f"memory_tasks ({tasks}) must start with recall: its gap is the verdict's"
        )
    compare = CompareSettings.from_knobs(
        settings, tasks=tasks, families=("lstm", "gru"), distances=(settings["distance"],)
    )
    sizes = {family: match_model_size(compare, family)[0] for family in compare.families}
    seeds = list(range(settings["seeds"]))
    scratch = Path(tempfile.mkdtemp(prefix="seqlab-claims-gru-"))
    jobs = [
        TrainingJob(replace(compare, seed=seed), kind, settings["distance"], family, sizes[family],
             scratch / f"{kind}-{family}-{seed}", False)
        for kind in tasks
        for family in compare.families
        for seed in seeds
    ]  # fmt: skip
    try:
        outcomes = {index: result for index, (result, _) in run_jobs(jobs, compare.jobs)}
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    results: dict[str, dict[str, Any]] = {}
    for index, job in enumerate(jobs):
        run = outcomes[index]
        entry = results.setdefault(job.kind, {}).setdefault(job.family, {
            "metric": run.metric, "chance": run.chance, "parameters": run.parameters,
            "values": [], "steps": [], "solved": []})  # fmt: skip
        entry["values"].append(run.value)
        entry["steps"].append(run.steps)
        entry["solved"].append(run.solved)
    for by_family in results.values():
        for entry in by_family.values():
            entry["mean"] = statistics.fmean(entry["values"])
    return {
        "tasks": list(tasks),
        "distance": settings["distance"],
        "seeds": seeds,
        "steps": settings["steps"],
        "parameter_budget": settings["parameter_budget"],
        "sizes": sizes,
        "results": results,
    }


def _counts_panel(axis: Any, numbers: Numbers) -> None:
    widths = numbers["widths"]
    places = range(len(widths))
    for offset, family in ((-0.2, "lstm"), (0.2, "gru")):
        values = [numbers["counts"][str(width)][family] for width in widths]
        axis.bar([p + offset for p in places], values, width=0.4, color=COLOURS[family],
                 label=LABELS[family])  # fmt: skip
    for place, width in zip(places, widths, strict=True):
        counts = numbers["counts"][str(width)]
        axis.annotate(f"{counts['ratio']:.2f}", (place + 0.2, counts["gru"]),
                      ha="center", va="bottom", fontsize=8)  # fmt: skip
    axis.set_xticks(list(places))
    axis.set_xticklabels([str(width) for width in widths])
    axis.set_yscale("log")
    axis.set_xlabel("hidden size (GRU/LSTM ratio above the GRU bars)")
    axis.set_ylabel("parameters")
    axis.set_title("Parameters at equal width")
    axis.legend(fontsize=8)


def _memory_panel(axis: Any, memory: Numbers, task: str) -> None:
    """Each family's test metric on ``task`` at equal parameters: the mean, and each seed."""
    by_family = memory["results"][task]
    for place, family in enumerate(("lstm", "gru")):
        entry = by_family[family]
        axis.bar(place, entry["mean"], width=0.6, color=COLOURS[family], alpha=0.8)
        axis.plot([place] * len(entry["values"]), entry["values"], "k.")
        steps = statistics.fmean(entry["steps"])
        axis.annotate(f"{entry['parameters']:,} parameters\n{steps:.0f} steps (mean)",
                      (place, entry["mean"]), ha="center", va="bottom", fontsize=7)  # fmt: skip
    entry = by_family["lstm"]
    axis.axhline(entry["chance"], color="grey", linestyle=":", label="chance")
    axis.set_xticks([0, 1])
    axis.set_xticklabels([LABELS["lstm"], LABELS["gru"]])
    axis.set_ylabel(f"test {entry['metric']} (bar: mean; dots: seeds)")
    if entry["metric"] == "mse":
        axis.set_yscale("log")
    else:
        axis.set_ylim(0, 1.2)  # room for the labels above a bar at 100%
    axis.set_title(f"{task}, distance {memory['distance']}, equal parameters", fontsize=9)
    axis.legend(fontsize=7)


def figure(numbers: Numbers) -> bytes:
    memory = numbers.get("memory")
    tasks = [] if memory is None else memory["tasks"]
    chart, axes = plt.subplots(1, 1 + len(tasks), figsize=(6.4 + 3.6 * len(tasks), 3.8),
                               squeeze=False)  # fmt: skip
    _counts_panel(axes[0][0], numbers)
    for axis, task in zip(axes[0][1:], tasks, strict=True):
        assert memory is not None  # tasks is empty otherwise
        _memory_panel(axis, memory, task)
    return png_bytes(chart)


CLAIM = Claim(
    number=10,
    id="gru-fewer-parameters",
    statement=(
        "A GRU has fewer parameters than an LSTM of the same width (exact counts) and performs "
        "similarly on the memory tasks at equal parameters."
    ),
    design=(
        "Count the parameters of seqlab.nn.GRU and seqlab.nn.LSTM at several hidden sizes with "
        "the same input size and number of layers, and check each count against torch.nn.GRU / "
        "torch.nn.LSTM and against the equations (4 gate blocks against 3, each with two weight "
        "matrices and two biases: a ratio of exactly 3/4). For the second half a GRU and an LSTM "
        "are sized to the same parameter budget (compare.match_model_size) and trained as "
        "`seqlab compare` trains them (Adam, cosine schedule, stopping once validation reaches "
        "99%) on the recall task, and in the full run also the adding task, at a distance both "
        "families learn, over several seeds; the GRU's mean recall test accuracy minus the "
        "LSTM's is the accuracy gap that decides 'performs similarly' (adding's MSE is shown "
        "beside it)."
    ),
    rule=GRU_PARAMETERS_RULE,
    verdict=gru_fewer_parameters,
    measure=measure,
    figure=figure,
    # The memory runs: compare's parameter budget; distances both families learned in about
    # 150 (recall 50) and 250 steps (recall 100, adding 50) in compare's benchmark.
    quick={"input_size": 16, "num_layers": 1, "widths": [16, 64, 256], "memory_tasks": ["recall"],
           "distance": 50, "parameter_budget": 34_000, "steps": 400, "batch_size": 64,
           "eval_every": 50, "eval_examples": 256, "seeds": 2, "jobs": 2},
    full={"input_size": 64, "num_layers": 2, "widths": [16, 64, 256, 1024],
          "memory_tasks": ["recall", "adding"], "distance": 100, "parameter_budget": 34_000,
          "steps": 1000, "batch_size": 64, "eval_every": 50, "eval_examples": 512, "seeds": 3,
          "jobs": 2},
)  # fmt: skip
