"""Claim 12: learning-rate warm-up helps Transformer training.

Warm-up raises the learning rate linearly from near zero to its peak over the first W steps
(Vaswani et al. 2017, sec. 5.3, eq. 3; Goyal et al. 2017). Two accounts of why it helps:
Xiong et al. 2020, "On Layer Normalization in the Transformer Architecture", show that with the
LayerNorm after each residual sum (post-norm, the original layout) the gradients of the last
layers are large at initialisation, so a full learning rate at once can throw the model into a
bad region, while with the LayerNorm inside the residual branch (pre-norm) they are well scaled
and warm-up matters much less; Liu et al. 2020, "On the Variance of the Adaptive Learning Rate
and Beyond", point at Adam's second-moment estimate, which rests on few gradients early on. Both
say the benefit depends on the layer-norm placement and on the peak learning rate, so both are
varied here.

The experiment: seqlab's GPT-style language model (seqlab.models.language_model_transformer,
which offers both placements through ``model.norm_first``) on a slice of Tiny Shakespeare,
trained by the project's engine (seqlab.train) with the language-model task's schedule, cosine
decay to a tenth of the peak (seqlab.train.schedules), once with a linear warm-up of W steps and
once without (W = 0: the first step already runs at the peak). Everything else, the peak
learning rate included, is the same, and so are the seeds: seed s draws the same initial
weights and batches in both arms.
"""

from __future__ import annotations

import math
import statistics
import tempfile
from pathlib import Path
from typing import Any

from seqlab.data.sources import resolve_file
from seqlab.errors import SeqlabError
from seqlab.lab.claims.base import Claim, Settings
from seqlab.lab.claims.verdicts import (
    DOES_NOT_HOLD,
    HOLDS,
    HOLDS_WITH_CAVEAT,
    NOT_YET_MEASURABLE,
    Numbers,
    Verdict,
)
from seqlab.lab.figures import plt, png_bytes
from seqlab.tasks.configuration import build_run_config
from seqlab.tasks.runner import count_parameters, train_run
from seqlab.train.step import TrainingDiverged

# ---- verdict rule ----

SPREAD = "the larger of the two arms' sample standard deviations over seeds"
WARM_UP_RULE = (
    "for each layer-norm placement and peak learning rate, warm-up helps if it lowers the mean "
    f"final validation loss over the seeds by more than the seeds' spread ({SPREAD}), or if "
    "fewer seeds diverge with it than without. Holds if warm-up helps at every placement and "
    "learning rate measured; holds with a caveat, naming where it helps and what that depends "
    "on (the placement, the learning rate), if it helps at some only; does not hold here if it "
    "helps at none. Not yet measurable while the Tiny Shakespeare text is not available."
)

ARMS = ("warm_up", "no_warm_up")
ARM_WORDS = {"warm_up": "with warm-up", "no_warm_up": "without"}
PLACEMENTS = {"post-norm": False, "pre-norm": True}  # name -> model.norm_first


def _finite(finals: list[float | None]) -> list[float]:
    return [value for value in finals if value is not None]


def compare_cell(cell: Numbers) -> tuple[bool, str]:
    """Whether warm-up helped at one placement and learning rate, and the numbers saying so."""
    warm, cold = cell["warm_up"]["final_loss"], cell["no_warm_up"]["final_loss"]
    warm_diverged, cold_diverged = warm.count(None), cold.count(None)
    where = f"{cell['placement']} at peak lr {cell['learning_rate']:g}"
    if warm_diverged != cold_diverged:
        return cold_diverged > warm_diverged, (
            f"{where}: {cold_diverged} of {len(cold)} runs diverged without warm-up, "
            f"{warm_diverged} of {len(warm)} with it"
        )
    warm_finite, cold_finite = _finite(warm), _finite(cold)
    if min(len(warm_finite), len(cold_finite)) < 2:
        return False, f"{where}: too few runs finished to compare"
    gain = statistics.mean(cold_finite) - statistics.mean(warm_finite)
    spread = max(statistics.stdev(warm_finite), statistics.stdev(cold_finite))
    return gain > spread, (
        f"{where}: final validation loss {statistics.mean(warm_finite):.3f} with warm-up, "
        f"{statistics.mean(cold_finite):.3f} without (gain {gain:+.3f}, spread {spread:.3f})"
    )


def tuned(cells: list[Any]) -> dict[str, dict[str, dict[str, float]]]:
    """Per placement and arm, the peak learning rate with the lowest mean final validation
    loss (runs that finished), and that loss: the learning rate tuned on validation."""
    best: dict[str, dict[str, dict[str, float]]] = {}
    for cell in cells:
        for arm in ARMS:
            finite = _finite(cell[arm]["final_loss"])
            if not finite:
                continue
            loss = statistics.mean(finite)
            current = best.setdefault(cell["placement"], {}).get(arm)
            if current is None or loss < current["mean_final_loss"]:
                best[cell["placement"]][arm] = {"learning_rate": cell["learning_rate"],
                                                "mean_final_loss": loss}  # fmt: skip
    return best


def _describe_tuned(cells: list[Any]) -> str:
    parts = []
    for placement, arms in tuned(cells).items():
        said = [f"{ARM_WORDS[arm]} lr {best['learning_rate']:g} "
                f"({best['mean_final_loss']:.3f})" for arm, best in arms.items()]  # fmt: skip
        parts.append(f"{placement}: {', '.join(said)}")
    return "best peak lr on validation: " + "; ".join(parts)


def warm_up_helps(numbers: Numbers) -> Verdict:
    if "missing" in numbers:
        return NOT_YET_MEASURABLE, numbers["missing"]
    cells = numbers["cells"]
    outcomes = [compare_cell(cell) for cell in cells]
    details = "; ".join(text for _, text in outcomes)
    if len(numbers["learning_rates"]) > 1:
        details = f"{details}; {_describe_tuned(cells)}"
    setup = (
        f"{numbers['seeds']} seeds, {numbers['steps']} steps, warm-up {numbers['warmup_steps']} "
        "steps"
    )
    helped = [cell for cell, (helps, _) in zip(cells, outcomes, strict=True) if helps]
    if not helped:
        return DOES_NOT_HOLD, f"warm-up did not help by more than the seeds' spread: {details}"
    if len(helped) == len(cells):
        return HOLDS, f"warm-up helped at every placement and learning rate: {details} ({setup})"
    depends = []
    placements = {cell["placement"] for cell in cells}
    if {cell["placement"] for cell in helped} != placements:
        depends.append("the layer-norm placement")
    for placement in placements:
        ours = [cell for cell in cells if cell["placement"] == placement]
        mine = [cell for cell in helped if cell["placement"] == placement]
        if 0 < len(mine) < len(ours):
            depends.append("the peak learning rate")
            break
    where = ", ".join(f"{cell['placement']} at lr {cell['learning_rate']:g}" for cell in helped)
    return HOLDS_WITH_CAVEAT, (
        f"warm-up helped only {where}: depends on {' and '.join(depends)} (and on this step "
        f"budget, {setup}); {details}"
    )


# ---- the measurement ----


def _overrides(settings: Settings, text_file: Path, *, norm_first: bool, learning_rate: float,
               warmup_steps: int, seed: int) -> list[str]:  # fmt: skip
    return [
        f"data.file={text_file}",
        f"model.num_layers={settings['layers']}",
        f"model.d_model={settings['d_model']}",
        f"model.num_heads={settings['heads']}",
        f"model.context={settings['context']}",
        "model.dropout=0.0",
        f"model.norm_first={str(norm_first).lower()}",
        f"train.steps={settings['steps']}",
        f"train.batch_size={settings['batch_size']}",
        f"train.lr={learning_rate}",
        f"train.warmup_steps={warmup_steps}",
        f"train.eval_every={settings['eval_every']}",
        f"train.seed={seed}",
        f"train.device={settings['device']}",
        "train.keep_checkpoints=false",
    ]


def train_once(settings: Settings, text_file: Path, scratch: Path, **choice: Any) -> dict[str, Any]:
    """One run of the language-model task; its validation loss at every evaluation (None for
    the final loss when the run diverged) and its parameter count."""
    run = build_run_config("lm", family="transformer",
                           overrides=_overrides(settings, text_file, **choice))  # fmt: skip
    try:
        trained = train_run(run, scratch, progress="quiet", final_split="val")
    except TrainingDiverged:
        return {"final_loss": None, "curve": None, "parameters": None}
    curve = [[record.step, record.metrics["loss"]] for record in trained.fit.history]
    final = curve[-1][1] if curve and curve[-1][0] == settings["steps"] else None
    if final is not None and not math.isfinite(final):
        final = None
    return {"final_loss": final, "curve": curve, "parameters": count_parameters(trained.model)}


def measure(settings: Settings) -> dict[str, Any]:
    try:
        source = resolve_file("tinyshakespeare", "input.txt", download=False)
    except SeqlabError as error:
        return {"missing": f"the Tiny Shakespeare text is not available: {error}"}
    text = source.read_text(encoding="utf-8")[: settings["characters"]]
    cells, parameters = [], None
    with tempfile.TemporaryDirectory(prefix="seqlab-warm-up-") as folder:
        text_file = Path(folder) / "slice.txt"
        text_file.write_text(text, encoding="utf-8")
        runs = 0
        for placement, norm_first in PLACEMENTS.items():
            for learning_rate in settings["learning_rates"]:
                cell: dict[str, Any] = {"placement": placement, "learning_rate": learning_rate}
                for arm, warmup_steps in zip(ARMS, (settings["warmup_steps"], 0), strict=True):
                    trained = []
                    for seed in range(settings["seeds"]):
                        runs += 1
                        trained.append(train_once(
                            settings, text_file, Path(folder) / f"run-{runs}",
                            norm_first=norm_first, learning_rate=learning_rate,
                            warmup_steps=warmup_steps, seed=seed))  # fmt: skip
                        parameters = parameters or trained[-1]["parameters"]
                    cell[arm] = {"final_loss": [run["final_loss"] for run in trained],
                                 "curves": [run["curve"] for run in trained]}  # fmt: skip
                cells.append(cell)
    for cell in cells:
        helps, _ = compare_cell(cell)
        cell["warm_up_helps"] = helps
    return {
        "data": f"the first {len(text):,} characters of Tiny Shakespeare (90% train, 10% val)",
        "model": {
            "layers": settings["layers"],
            "d_model": settings["d_model"],
            "heads": settings["heads"],
            "context": settings["context"],
            "parameters": parameters,
        },
        "schedule": "cosine decay to 0.1 x peak (the lm task's), with or without linear warm-up",
        "steps": settings["steps"],
        "batch_size": settings["batch_size"],
        "warmup_steps": settings["warmup_steps"],
        "learning_rates": list(settings["learning_rates"]),
        "seeds": settings["seeds"],
        "spread": SPREAD,
        "cells": cells,
        "tuned": tuned(cells),
    }


# ---- the figure ----


def _band(curves: list[list[list[float]] | None]) -> tuple[list[float], list[float], list[float]]:
    """Steps, mean and standard deviation over the seeds' validation curves (finished runs)."""
    finished = [curve for curve in curves if curve is not None]
    length = min(len(curve) for curve in finished)
    steps = [finished[0][index][0] for index in range(length)]
    columns = [[curve[index][1] for curve in finished] for index in range(length)]
    means = [statistics.mean(column) for column in columns]
    deviations = [statistics.stdev(column) if len(column) > 1 else 0.0 for column in columns]
    return steps, means, deviations


def figure(numbers: Numbers) -> bytes:
    if "missing" in numbers:
        chart, axis = plt.subplots(figsize=(6.4, 1.6))
        axis.axis("off")
        axis.text(0.5, 0.5, "not yet measurable: the Tiny Shakespeare text is not available",
                  ha="center", va="center")  # fmt: skip
        return png_bytes(chart)
    rates, placements = numbers["learning_rates"], list(PLACEMENTS)
    chart, axes = plt.subplots(len(rates), len(placements), squeeze=False, sharey=True,
                               figsize=(5.2 * len(placements), 3.2 * len(rates)))  # fmt: skip
    styles = {"warm_up": ("#1f77b4", f"warm-up {numbers['warmup_steps']} steps"),
              "no_warm_up": ("#d62728", "no warm-up")}  # fmt: skip
    for cell in numbers["cells"]:
        axis = axes[rates.index(cell["learning_rate"])][placements.index(cell["placement"])]
        for arm, (colour, label) in styles.items():
            if all(curve is None for curve in cell[arm]["curves"]):
                continue
            steps, means, deviations = _band(cell[arm]["curves"])
            low = [m - d for m, d in zip(means, deviations, strict=True)]
            high = [m + d for m, d in zip(means, deviations, strict=True)]
            axis.plot(steps, means, color=colour, label=f"{label} (mean)")
            axis.fill_between(steps, low, high, color=colour, alpha=0.2)
        verdict = "helps" if cell["warm_up_helps"] else "does not help"
        axis.set_title(f"{cell['placement']}, peak lr {cell['learning_rate']:g}: warm-up "
                       f"{verdict}", fontsize=9)  # fmt: skip
        axis.set_xlabel("step")
        axis.legend(fontsize=7)
    for row in axes:
        row[0].set_ylabel("validation loss (nats/char)")
    chart.suptitle(f"Mean over {numbers['seeds']} seeds, band: one standard deviation",
                   fontsize=9)  # fmt: skip
    return png_bytes(chart)


CLAIM = Claim(
    number=12,
    id="warm-up",
    statement=(
        "Learning-rate warm-up helps Transformer training: the same model trained with and "
        "without warm-up (the same peak learning rate), over several seeds."
    ),
    design=(
        "seqlab's GPT-style character language model (4 layers, width 32, 2 heads, context 32, "
        "no dropout) is trained by the lm task's engine on the first 200,000 characters of "
        "Tiny Shakespeare (90% train, 10% validation) with AdamW, gradient clipping at 1 and "
        "cosine decay to a tenth of the peak learning rate, once with a linear warm-up over "
        "the first quarter of the steps and once without, everything else equal (the peak "
        "learning rate, seeds, batches and initial weights). This is done for post-norm and "
        "pre-norm blocks and for each peak learning rate, over several seeds. The validation "
        "loss after the last step decides (mean over the seeds against their spread); the "
        "learning rates are compared on validation loss only, no test text is read. The figure "
        "shows each arm's mean validation curve with a band of one standard deviation."
    ),
    rule=WARM_UP_RULE,
    verdict=warm_up_helps,
    measure=measure,
    figure=figure,
    quick={"characters": 200_000, "layers": 4, "d_model": 32, "heads": 2, "context": 32,
           "batch_size": 16, "steps": 200, "warmup_steps": 50, "eval_every": 20,
           "learning_rates": [0.02], "seeds": 3},
    full={"characters": 200_000, "layers": 4, "d_model": 32, "heads": 2, "context": 32,
          "batch_size": 16, "steps": 300, "warmup_steps": 75, "eval_every": 25,
          "learning_rates": [0.005, 0.02], "seeds": 5},
)  # fmt: skip
