"""Claim 16: a GRU trains faster than an LSTM and overfits less on small data sets.

The argument behind it: a GRU (Cho et al. 2014) has three gate blocks where an LSTM (Hochreiter
and Schmidhuber 1997; Gers et al. 2000) has four, so at the same width each step does about 3/4
of the LSTM's matrix work (claim 10 counts the parameters), and fewer parameters leave less room
to memorise a small training set. Both halves are measured on a small random subset of SST-2
(Socher et al. 2013, the GLUE binary sentiment task) with seqlab's sentiment classifier (an
embedding, a bidirectional recurrent layer, max pooling, a two-layer head):

- time per training step (forward, backward, optimizer update) on the same batch (the one of
  median length among an epoch's length-bucketed batches), at equal width
  and at equal parameter count, each the median over rounds of medians of repeated steps, the
  rounds interleaving the models so that a change in the machine's load touches all of them; the
  timing noise is the standard deviation over rounds of the LSTM-minus-GRU difference measured
  within a round (a paired difference, so a load that slows every model alike cancels);
- the gap between training and validation (SST-2's dev set) after a fixed step budget, in
  accuracy (train minus validation) and in mean cross-entropy (validation minus train), over
  seeds, without dropout or weight averaging so that nothing hides the overfitting.

The data come from ``$SEQLAB_DATA/sst2`` only (never downloaded by this claim); without it the
claim is not yet measurable.
"""

from __future__ import annotations

import math
import random
import shutil
import statistics
import tempfile
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import torch

from seqlab.data.sources import data_dir, resolve_file
from seqlab.errors import SeqlabError
from seqlab.lab.claims.base import Claim, Settings, hardware
from seqlab.lab.claims.short_sequences import median_seconds
from seqlab.lab.claims.verdicts import (
    DOES_NOT_HOLD,
    HOLDS_WITH_CAVEAT,
    NOT_YET_MEASURABLE,
    Numbers,
    Verdict,
)
from seqlab.lab.figures import COLOURS, LABELS, plt, png_bytes
from seqlab.lab.workers import run_side_by_side
from seqlab.tasks.base import RunConfig
from seqlab.tasks.configuration import build_run_config
from seqlab.tasks.runner import count_parameters, evaluate_split, train_run
from seqlab.tasks.sentiment.data import SentimentData
from seqlab.tasks.sentiment.task import SentimentTask
from seqlab.train.protocol import move_to

# ---- verdict rule ----

GAPS = ("accuracy_gap", "loss_gap")
GAP_WORDS = {"accuracy_gap": "accuracy gap", "loss_gap": "loss gap"}

GRU_TRAINS_FASTER_RULE = (
    "two parts. Trains faster: at equal width the GRU's median training-step time is below the "
    "LSTM's by more than the timing noise (the standard deviation over timing rounds of the "
    "LSTM-minus-GRU difference within a round). Overfits less: the GRU's mean train/validation "
    "gap over the seeds is smaller than the LSTM's by more than the seeds' spread (the larger of "
    "the two families' standard deviations), for the accuracy gap and for the loss gap. Holds "
    "with a caveat (the hardware, named, for the timing; the seeds and the step budget for the "
    "gap) if both parts hold; does not hold here if either fails, saying which; not yet "
    "measurable without the SST-2 data. A step time is a property of the hardware and its "
    "kernels, so this claim never simply holds."
)


def _spread(values: list[float]) -> float:
    """The standard deviation over seeds (or timing rounds); zero for a single one, which
    cannot show one."""
    return statistics.stdev(values) if len(values) > 1 else 0.0


def timing_verdict(numbers: Numbers) -> tuple[bool, str]:
    """Whether the GRU is faster at equal width beyond the noise, and the words for it."""
    seconds, noise = numbers["step_seconds"], numbers["timing_noise"]
    lstm, gru, matched = seconds["lstm"], seconds["gru"], seconds["gru_equal_parameters"]
    faster = lstm - gru > noise
    words = (
        f"a training step takes {gru * 1e3:.2f} ms for the GRU against {lstm * 1e3:.2f} ms for "
        f"the LSTM at equal width (ratio {gru / lstm:.2f}; noise {noise * 1e3:.2f} ms), "
        f"{matched * 1e3:.2f} ms for the GRU at equal parameters (ratio {matched / lstm:.2f})"
    )
    return faster, words


def gap_verdict(numbers: Numbers) -> tuple[bool, str]:
    """Whether the GRU's mean gaps are both smaller beyond the seeds' spread, and the words."""
    held, words = [], []
    for gap in GAPS:
        lstm, gru = numbers["gaps"]["lstm"][gap], numbers["gaps"]["gru"][gap]
        spread = max(_spread(lstm), _spread(gru))
        lstm_mean, gru_mean = statistics.fmean(lstm), statistics.fmean(gru)
        held.append(lstm_mean - gru_mean > spread)
        words.append(
            f"{GAP_WORDS[gap]} {gru_mean:.3f} for the GRU against {lstm_mean:.3f} (spread "
            f"{spread:.3f})"
        )
    return all(held), "; ".join(words)


def gru_trains_faster(numbers: Numbers) -> Verdict:
    if numbers.get("missing_data"):
        return NOT_YET_MEASURABLE, numbers["missing_data"]
    faster, timing = timing_verdict(numbers)
    less, gaps = gap_verdict(numbers)
    seeds, steps = len(numbers["seeds"]), numbers["steps"]
    setting = f"{numbers['train_examples']:,} SST-2 sentences, {seeds} seeds, {steps} steps"
    if faster and less:
        return HOLDS_WITH_CAVEAT, (
            f"{timing}: depends on the hardware, here {numbers['hardware']}; {gaps}: depends on "
            f"the seeds and the step budget ({setting})"
        )
    failed = [part for part, held in (("trains faster", faster), ("overfits less", less))
              if not held]  # fmt: skip
    return DOES_NOT_HOLD, (
        f"'{' and '.join(failed)}' failed: {timing} on {numbers['hardware']}; {gaps} ({setting})"
    )


# ---- the data ----


def missing_data() -> str | None:
    """Why SST-2 cannot be read here (one line naming the fix), or None when it can."""
    root = data_dir()
    if root is None:
        return (
            "SEQLAB_DATA is unset: set it to the folder holding sst2/train.tsv and sst2/dev.tsv "
            "(the shared reference data, see its README) and run the claim again"
        )
    try:
        for name in ("train.tsv", "dev.tsv"):
            resolve_file("sst2", name, download=False)
    except SeqlabError as error:
        return str(error).splitlines()[0]
    return None


def write_subset(examples: int, seed: int, folder: Path) -> Path:
    """A TSV of ``examples`` rows of SST-2's training file chosen at random (with ``seed``),
    header kept."""
    header, *rows = resolve_file("sst2", "train.tsv", download=False).read_text().splitlines()
    if examples > len(rows):
        raise SeqlabError(f"train_examples ({examples}) is more than SST-2's {len(rows)} rows")
    chosen = random.Random(seed).sample(rows, examples)
    path = folder / "train-subset.tsv"
    path.write_text("\n".join([header, *chosen]) + "\n", encoding="utf-8")
    return path


# ---- the runs ----


@dataclass(frozen=True)
class SentimentRun:
    settings: dict[str, Any]
    family: str
    hidden_size: int
    seed: int
    train_file: str


def run_config(run: SentimentRun) -> RunConfig:
    """The sentiment run: cpu-small's classifier at this width, the subset for training, SST-2's
    dev set for validation, evaluated once at the end, no dropout and no weight averaging."""
    settings = run.settings
    steps = settings["steps"]
    overrides = [
        f"data.train_file={run.train_file}",
        f"data.val_file={resolve_file('sst2', 'dev.tsv', download=False)}",
        f"data.vocab_size={settings['vocab_size']}",
        f"data.max_length={settings['max_length']}",
        f"train.steps={steps}",
        f"train.batch_size={settings['batch_size']}",
        f"train.eval_every={steps}",  # one evaluation: the final weights are the ones measured
        f"train.warmup_steps={max(1, steps // 10)}",
        "train.weight_average_decay=null",
        "train.early_stopping_patience=null",
        f"train.seed={run.seed}",
        f"train.device={settings['device']}",
        "train.keep_checkpoints=false",
        f"model.hidden_size={run.hidden_size}",
        f"model.embed_dim={settings['embed_dim']}",
        "model.dropout=0.0",
    ]
    return build_run_config("sentiment", family=run.family, preset="cpu-small",
                            overrides=overrides)  # fmt: skip


def train_sentiment(run: SentimentRun) -> dict[str, Any]:
    """Train one run (here or in a worker); accuracy and loss on training and validation."""
    if run.settings["jobs"] > 1:
        torch.set_num_threads(1)  # workers share the cores: one thread each
    config = run_config(run)
    scratch = Path(tempfile.mkdtemp(prefix="seqlab-claims-sst2-"))
    try:
        trained = train_run(config, scratch / "run", progress="quiet", final_split="val")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    train = evaluate_split(trained.task, trained.model, "train")
    return {
        "train_accuracy": float(train["accuracy"]),
        "train_loss": float(train["loss"]),
        "val_accuracy": float(trained.metrics["accuracy"]),
        "val_loss": float(trained.metrics["loss"]),
        "parameters": count_parameters(trained.model),
    }


# ---- step timing ----


def _classifier(run: SentimentRun, data: SentimentData) -> torch.nn.Module:
    return SentimentTask(run_config(run), text_data=data).build_model()


def equal_parameter_width(base: SentimentRun, data: SentimentData, target: int) -> int:
    """The GRU width whose classifier's parameter count is closest to ``target``."""
    best: tuple[int, int] | None = None
    for width in range(base.hidden_size, 2 * base.hidden_size + 1):
        gap = abs(count_parameters(_classifier(_with(base, "gru", width), data)) - target)
        if best is not None and gap > best[0]:
            break  # counts grow with width: past the target and getting further away
        best = (gap, width)
    assert best is not None
    return best[1]


def _with(run: SentimentRun, family: str, width: int) -> SentimentRun:
    return SentimentRun(run.settings, family, width, run.seed, run.train_file)


def _training_step(
    model: torch.nn.Module, optimizer: torch.optim.Optimizer, task: SentimentTask, batch: Any
) -> None:
    optimizer.zero_grad(set_to_none=True)
    step_loss = task.loss(model, batch)
    (step_loss.loss_sum / step_loss.count).backward()
    optimizer.step()


def typical_batch(task: SentimentTask) -> Any:
    """The training batch of median length among one epoch's: batches are cut from pools sorted
    by length, so the first one may be far shorter or longer than most."""
    epoch = math.ceil(task.text_data.training_batches().examples / task.run.train.batch_size)
    batches = sorted((task.train_batch(index) for index in range(epoch)),
                     key=lambda batch: batch.ids.shape[1])  # fmt: skip
    return batches[len(batches) // 2]


def step_times(settings: Settings, base: SentimentRun) -> dict[str, Any]:
    """Median seconds of one training step of each classifier on the same batch, over rounds
    that interleave the models; the noise of the LSTM-minus-GRU difference; widths and counts."""
    device = settings["device"]
    task = SentimentTask(run_config(base))
    data = task.text_data
    lstm_parameters = count_parameters(_classifier(base, data))
    matched = equal_parameter_width(base, data, lstm_parameters)
    variants = {"lstm": base, "gru": _with(base, "gru", base.hidden_size),
                "gru_equal_parameters": _with(base, "gru", matched)}  # fmt: skip
    torch.manual_seed(base.seed)
    models, calls = {}, {}
    batch = move_to(typical_batch(task), device)
    for name, run in variants.items():
        model = _classifier(run, data).to(device).train()
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
        models[name] = model
        calls[name] = partial(_training_step, model, optimizer, task, batch)
    rounds: dict[str, list[float]] = {name: [] for name in variants}
    repeats, warmup = settings["timing_repeats"], settings["timing_warmup"]
    for _ in range(settings["timing_rounds"]):
        for name, call in calls.items():
            rounds[name].append(median_seconds(call, repeats=repeats, warmup=warmup, device=device))
    paired = [lstm - gru for lstm, gru in zip(rounds["lstm"], rounds["gru"], strict=True)]
    return {
        "vocabulary": data.encoder.vocab_size,
        "hidden_size": {name: run.hidden_size for name, run in variants.items()},
        "parameters": {name: count_parameters(model) for name, model in models.items()},
        "batch_shape": list(batch.ids.shape),  # (B, T)
        "round_seconds": rounds,
        "step_seconds": {name: statistics.median(values) for name, values in rounds.items()},
        "timing_noise": _spread(paired),
    }


def measure(settings: Settings) -> dict[str, Any]:
    reason = missing_data()
    if reason is not None:
        return {"missing_data": reason}
    seeds = list(range(settings["seeds"]))
    scratch = Path(tempfile.mkdtemp(prefix="seqlab-claims-gru-"))
    try:
        train_file = str(write_subset(settings["train_examples"], settings["subset_seed"], scratch))
        base = SentimentRun(dict(settings), "lstm", settings["hidden_size"], 0, train_file)
        # Timing runs alone, before any training, so the workers do not disturb it.
        timing = step_times(settings, base)
        runs = [SentimentRun(base.settings, family, base.hidden_size, seed, train_file)
                for family in ("lstm", "gru") for seed in seeds]  # fmt: skip
        outcomes = dict(run_side_by_side(train_sentiment, runs, settings["jobs"]))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    results: dict[str, list[dict[str, Any]]] = {"lstm": [], "gru": []}
    for index, run in enumerate(runs):
        results[run.family].append(outcomes[index])
    gaps = {
        family: {
            "accuracy_gap": [r["train_accuracy"] - r["val_accuracy"] for r in runs_of],
            "loss_gap": [r["val_loss"] - r["train_loss"] for r in runs_of],
        }
        for family, runs_of in results.items()
    }
    return {
        "hardware": hardware(settings["device"]),
        "train_examples": settings["train_examples"],
        "validation": "SST-2 dev (872 sentences)",
        "seeds": seeds,
        "steps": settings["steps"],
        "batch_size": settings["batch_size"],
        **timing,
        "runs": results,
        "gaps": gaps,
    }


# ---- the figure ----


def figure(numbers: Numbers) -> bytes:
    if numbers.get("missing_data"):
        chart, axis = plt.subplots(figsize=(6.4, 1.6))
        axis.axis("off")
        axis.text(0.5, 0.5, "not measured: " + numbers["missing_data"], ha="center",
                  va="center", wrap=True, fontsize=8)  # fmt: skip
        return png_bytes(chart)
    chart, axes = plt.subplots(1, 3, figsize=(12.0, 3.8))
    timing, *gap_axes = axes
    names = ("lstm", "gru", "gru_equal_parameters")
    for place, name in enumerate(names):
        family = "gru" if name.startswith("gru") else "lstm"
        milliseconds = [s * 1e3 for s in numbers["round_seconds"][name]]
        timing.bar(place, numbers["step_seconds"][name] * 1e3, width=0.6, color=COLOURS[family],
                   alpha=0.5 if name == "gru_equal_parameters" else 0.9)  # fmt: skip
        timing.plot([place] * len(milliseconds), milliseconds, "k.", markersize=4)
    timing.set_xticks(range(len(names)))
    timing.set_xticklabels([f"{LABELS['gru' if n.startswith('gru') else 'lstm']} "
                            f"{numbers['hidden_size'][n]}\n{numbers['parameters'][n]:,} par."
                            for n in names], fontsize=7)  # fmt: skip
    timing.set_ylabel("training step, median (ms); dots: rounds")
    timing.set_title(f"Step time, batch {numbers['batch_shape']}", fontsize=9)
    for axis, gap in zip(gap_axes, GAPS, strict=True):
        for place, family in enumerate(("lstm", "gru")):
            values = numbers["gaps"][family][gap]
            axis.bar(place, statistics.fmean(values), width=0.6, color=COLOURS[family])
            axis.plot([place] * len(values), values, "k.")
        axis.set_xticks([0, 1])
        axis.set_xticklabels([LABELS["lstm"], LABELS["gru"]])
        axis.set_ylabel(GAP_WORDS[gap] + (" (train - val)" if gap == "accuracy_gap"
                                          else " (val - train)"))  # fmt: skip
        axis.set_title(f"{numbers['train_examples']:,} sentences, {numbers['steps']} steps; "
                       "dots: seeds", fontsize=9)  # fmt: skip
    chart.suptitle(numbers["hardware"], fontsize=8)
    return png_bytes(chart)


CLAIM = Claim(
    number=16,
    id="gru-trains-faster",
    statement=(
        "A GRU trains faster than an LSTM and overfits less on small data sets: a shorter "
        "training step, and a smaller gap between training and validation on a small subset of "
        "a real task."
    ),
    design=(
        "seqlab's sentiment classifier (embedding, one bidirectional recurrent layer, max "
        "pooling, a two-layer head) as an LSTM and as a GRU of the same width, plus a GRU "
        "widened to the LSTM's parameter count, on a fixed random subset of SST-2's training "
        "sentences (data from SEQLAB_DATA), validated on SST-2's dev set. Step time: one "
        "training step (forward, backward, AdamW update) on the same batch (the median-length "
        "batch of an epoch), the median over interleaved rounds of medians of repeated steps, "
        "timed alone before any training; the noise is the spread of the LSTM-minus-GRU "
        "difference between rounds. Overfitting: each family trained at equal width for the "
        "same step budget and seeds, without dropout or weight averaging, then the accuracy "
        "(train minus validation) and cross-entropy (validation minus train) gaps of its final "
        "weights; their means and spread over the seeds decide."
    ),
    rule=GRU_TRAINS_FASTER_RULE,
    verdict=gru_trains_faster,
    measure=measure,
    figure=figure,
    quick={"train_examples": 1000, "subset_seed": 0, "vocab_size": 2000, "max_length": 64,
           "embed_dim": 64, "hidden_size": 64, "steps": 300, "batch_size": 32, "seeds": 2,
           "jobs": 2, "timing_rounds": 5, "timing_repeats": 30, "timing_warmup": 5},
    full={"train_examples": 2000, "subset_seed": 0, "vocab_size": 4000, "max_length": 64,
          "embed_dim": 128, "hidden_size": 128, "steps": 600, "batch_size": 32, "seeds": 4,
          "jobs": 2, "timing_rounds": 9, "timing_repeats": 50, "timing_warmup": 10},
)  # fmt: skip
