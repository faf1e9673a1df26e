"""``seqlab compare``: RNN vs LSTM vs GRU vs Transformer on long-range memory, across distances.

The experiment behind the study material's central claim (vanilla RNNs fail past 10 to 20 steps,
LSTMs reach hundreds, Transformers any distance), measured: every family is trained on the recall
and adding problems (seqlab.data.memory) at each distance with comparable parameter counts, the
same step budget and batch size, a learning rate suited to the family, the chosen gate-bias
initialisation, and fixed seeds. Each run stops early once its validation metric reaches the
target (so "steps" also says how fast a family learned). Beside the metrics it measures the
gradient of the loss with respect to each input position (lab.gradients) and the seconds per
training step at each sequence length.

Results are reported as measured; the verdict rules are stated in the report.
"""

from __future__ import annotations

import math
import shutil
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import torch
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from seqlab._version import __version__
from seqlab.lab.gradients import input_gradient_norms, seconds_per_training_step
from seqlab.lab.workers import run_side_by_side
from seqlab.models.memory import MemoryModel
from seqlab.tasks.configuration import build_run_config
from seqlab.tasks.memory.task import MemoryTask
from seqlab.tasks.runner import count_parameters, train_run

FAMILY_ORDER = ("rnn", "lstm", "gru", "transformer")
FAMILY_LABEL = {"rnn": "vanilla RNN", "lstm": "LSTM", "gru": "GRU", "transformer": "Transformer"}
# What counts as learned: the thresholds (>= 95% recall accuracy; adding MSE < 0.01,
# a sixteenth of the trivial predictor's 0.167).
SOLVED = {"recall": 0.95, "adding": 0.01, "copy": 0.95}
# Training stops once validation reaches these: past "solved" (adding: half its threshold), so
# the figure shows a clear margin, without spending the budget polishing a solved run.
STOP_AT = {"recall": 0.99, "adding": 0.005, "copy": 0.99}
# Gains smaller than these do not restart the no-progress patience: about the evaluation noise of
# an accuracy near chance on 512 examples, and of the adding MSE near the trivial predictor's.
MIN_DELTA = {"recall": 0.02, "adding": 0.005, "copy": 0.02}


# The knobs of one training run that an experiment built on compare's runs may set.
RUN_KNOBS = ("steps", "batch_size", "eval_every", "eval_examples", "jobs", "parameter_budget",
             "init", "recurrent_init", "seed", "device")  # fmt: skip


@dataclass(frozen=True)
class CompareSettings:
    tasks: tuple[str, ...] = ("recall", "adding")
    families: tuple[str, ...] = FAMILY_ORDER
    distances: tuple[int, ...] = (10, 20, 50, 100, 200)
    steps: int = 1000
    batch_size: int = 128
    eval_every: int = 50
    eval_examples: int = 512
    # Stop a run after this many evaluations without a gain above MIN_DELTA. Off by default:
    # gated networks sit at chance for hundreds of steps before they find a long dependency
    # (measured: an LSTM at recall distance 200 jumps to 98% after 850 steps), so a patience
    # rule would report a budget cut as a failure.
    patience: int | None = None
    # Training runs at a time (processes of one thread each); step timing always runs alone.
    jobs: int = 2
    parameter_budget: int = 34_000
    init: Literal["chrono", "forget-bias-1", "standard"] = "chrono"
    recurrent_init: Literal["orthogonal", "uniform"] = "orthogonal"
    seed: int = 0
    device: str = "cpu"

    @classmethod
    def quick(cls) -> CompareSettings:
        """A few minutes on a 2-core CPU: shorter distances, a smaller budget."""
        return cls(distances=(10, 20, 50), steps=400, batch_size=64, eval_examples=256)

    @classmethod
    def from_knobs(cls, knobs: Mapping[str, Any], **experiment: Any) -> CompareSettings:
        """The settings of an experiment that reuses these runs (a claim): the run knobs it sets
        among RUN_KNOBS, the rest at their defaults, and ``experiment`` (tasks, families,
        distances) as it gives them."""
        return cls(**{name: knobs[name] for name in RUN_KNOBS if name in knobs}, **experiment)

    def __post_init__(self) -> None:
        unknown = [name for name in self.families if name not in FAMILY_ORDER]
        if unknown:
            raise ValueError(
                f"unknown family '{unknown[0]}'; choose from {', '.join(FAMILY_ORDER)}"
            )
        bad_tasks = [name for name in self.tasks if name not in SOLVED]
        if bad_tasks:
            raise ValueError(f"unknown task '{bad_tasks[0]}'; choose from {', '.join(SOLVED)}")
        if not self.distances or min(self.distances) < 2:
            raise ValueError(f"distances ({self.distances}) must be integers of at least 2")
        if self.jobs < 1:
            raise ValueError(f"jobs ({self.jobs}) must be at least 1")
        if self.steps < 10:
            raise ValueError(f"steps ({self.steps}) must be at least 10")


@dataclass
class RunResult:
    task: str
    family: str
    distance: int
    metric: str
    value: float
    chance: float
    verdict: str
    solved: bool
    steps: int
    stop_reason: str
    seconds: float
    tokens_per_second: float
    parameters: int
    curve: list[tuple[int, float, float]] = field(default_factory=list)  # (step, metric, loss)


@dataclass
class CompareResults:
    settings: CompareSettings
    runs: list[RunResult]
    model_sizes: dict[str, dict[str, int]]
    gradients: dict[str, dict[str, list[float]]]  # family -> {"initial", "trained"} -> by distance
    gradient_distance: int
    step_seconds: dict[str, dict[int, float]]  # family -> sequence length -> seconds per step
    seconds: float
    seqlab_version: str = __version__

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["step_seconds"] = {
            family: {str(length): value for length, value in by_length.items()}
            for family, by_length in self.step_seconds.items()
        }
        return data


# ---- model sizes with comparable parameter counts ----


def memory_task(
    settings: CompareSettings, *, family: str, kind: str, distance: int, model: dict[str, Any]
) -> MemoryTask:
    patience = "null" if settings.patience is None else settings.patience
    overrides = [
        f"data.kind={kind}",
        f"data.distance={distance}",
        f"data.eval_examples={settings.eval_examples}",
        f"train.steps={settings.steps}",
        f"train.batch_size={settings.batch_size}",
        f"train.eval_every={settings.eval_every}",
        f"train.warmup_steps={min(50, settings.steps // 10)}",
        f"train.stop_at={STOP_AT[kind]}",
        f"train.early_stopping_patience={patience}",
        f"train.early_stopping_min_delta={MIN_DELTA[kind]}",
        f"train.seed={settings.seed}",
        f"train.device={settings.device}",
        "train.keep_checkpoints=false",
        *(f"model.{key}={value}" for key, value in model.items()),
    ]
    if family != "transformer":
        overrides.append(f"model.init={settings.init}")
        overrides.append(f"model.recurrent_init={settings.recurrent_init}")
    run = build_run_config("memory", family=family, preset="cpu-small", overrides=overrides)
    return MemoryTask(run)


def _size_candidates(family: str) -> list[dict[str, Any]]:
    if family == "transformer":
        # Two pre-norm layers of 4 heads, feed-forward twice the width; the width is searched.
        return [
            {"d_model": width, "num_heads": 4, "num_layers": 2, "dim_feedforward": 2 * width}
            for width in range(8, 257, 4)
        ]
    return [{"hidden_size": width} for width in range(8, 513, 2)]


def match_model_size(settings: CompareSettings, family: str) -> tuple[dict[str, Any], int]:
    """The model settings whose recall model is closest to ``settings.parameter_budget``."""
    best: tuple[int, dict[str, Any], int] | None = None
    for candidate in _size_candidates(family):
        task = memory_task(settings, family=family, kind="recall", distance=10, model=candidate)
        parameters = count_parameters(task.build_model())
        gap = abs(parameters - settings.parameter_budget)
        if best is None or gap < best[0]:
            best = (gap, candidate, parameters)
        elif parameters > settings.parameter_budget:
            break  # counts grow with width: past the budget and getting further away
    assert best is not None
    return best[1], best[2]


# ---- verdicts ----

VERDICT_RULES = (
    "solved: recall or copy accuracy at least 95%, adding MSE below 0.01 (test set). "
    "At chance: accuracy within three standard errors of chance, adding MSE at least 90% "
    "of the trivial predictor's. Still falling / still improving: the last validation loss is "
    "more than 5% below the best of the first half of the run, so a larger step budget would "
    "likely help; such a run is not evidence that the family cannot learn the distance."
)


def verdict(
    kind: str,
    value: float,
    chance: float,
    curve: list[tuple[int, float, float]],
    *,
    examples: int,
) -> str:
    """Words for one run, by the rules the report states (VERDICT_RULES)."""
    if (value >= SOLVED[kind]) if kind != "adding" else (value < SOLVED[kind]):
        return "solved"
    if kind == "adding":
        at_chance = value >= 0.9 * chance
    else:
        # Within three standard errors of chance accuracy on ``examples`` evaluation examples.
        at_chance = value <= chance + 3 * math.sqrt(chance * (1 - chance) / examples)
    losses = [loss for _, _, loss in curve]
    still_falling = len(losses) >= 4 and losses[-1] < 0.95 * min(losses[: len(losses) // 2])
    if at_chance:
        return "at chance, loss still falling" if still_falling else "at chance"
    return "partly learned, still improving" if still_falling else "partly learned"


# ---- the experiment ----


@dataclass(frozen=True)
class TrainingJob:
    settings: CompareSettings
    kind: str
    distance: int
    family: str
    model: dict[str, Any]
    run_dir: Path
    measure_gradients: bool


def _train_job(job: TrainingJob) -> tuple[RunResult, dict[str, list[float]] | None]:
    """One training run (in this process or a worker): its result, and the gradient profiles
    at initialisation and after training when this is the run that measures them."""
    settings = job.settings
    if settings.jobs > 1:
        # Workers share the cores: one thread each instead of every worker claiming them all.
        torch.set_num_threads(1)
    task = memory_task(settings, family=job.family, kind=job.kind, distance=job.distance,
                        model=job.model)  # fmt: skip
    gradients = None
    if job.measure_gradients:
        torch.manual_seed(settings.seed)
        initial = task.build_model().to(settings.device)
        gradients = {"initial": input_gradient_norms(initial, task)}
    try:
        trained = train_run(task.run, job.run_dir, progress="quiet", final_split="test")
        if gradients is not None:
            model = trained.model
            assert isinstance(model, MemoryModel)  # what MemoryTask.build_model made
            gradients["trained"] = input_gradient_norms(model, task)
    finally:
        shutil.rmtree(job.run_dir, ignore_errors=True)
    result = run_result(task, trained, kind=job.kind, distance=job.distance, family=job.family)
    return result, gradients


def run_compare(settings: CompareSettings, *, console: Console | None = None) -> CompareResults:
    console = console or Console(stderr=True)
    torch.manual_seed(settings.seed)
    started = time.monotonic()
    sizes: dict[str, dict[str, Any]] = {}
    size_parameters: dict[str, dict[str, int]] = {}
    for family in settings.families:
        sizes[family], parameters = match_model_size(settings, family)
        size_parameters[family] = {**sizes[family], "parameters": parameters}

    gradient_distance = max(settings.distances)
    gradients: dict[str, dict[str, list[float]]] = {}
    step_seconds: dict[str, dict[int, float]] = {family: {} for family in settings.families}
    scratch = Path(tempfile.mkdtemp(prefix="seqlab-compare-"))
    jobs = [
        TrainingJob(settings, kind, distance, family, sizes[family],
             scratch / f"{kind}-{distance}-{family}",
             kind == settings.tasks[0] and distance == gradient_distance)
        for kind in settings.tasks
        for distance in settings.distances
        for family in settings.families
    ]  # fmt: skip
    progress = Progress(
        TextColumn("[bold]{task.description}"), BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(), TimeRemainingColumn(), console=console, transient=True,
    )  # fmt: skip
    results: dict[int, RunResult] = {}
    try:
        with progress:
            bar = progress.add_task("compare", total=len(jobs) + len(settings.families))
            # Step timing runs alone, before any training, so its figure is not disturbed.
            for family in settings.families:
                progress.update(bar, description=f"step timing: {FAMILY_LABEL[family]}")
                for distance in settings.distances:
                    task = memory_task(settings, family=family, kind="recall",
                                        distance=distance, model=sizes[family])  # fmt: skip
                    torch.manual_seed(settings.seed)
                    step_seconds[family][distance] = seconds_per_training_step(
                        task.build_model().to(settings.device), task
                    )
                progress.advance(bar)
            progress.update(bar, description=f"training ({settings.jobs} at a time)")
            for index, (result, profile) in run_jobs(jobs, settings.jobs):
                results[index] = result
                if profile is not None:
                    gradients[result.family] = profile
                progress.advance(bar)
                label = f"{result.task} d={result.distance} {FAMILY_LABEL[result.family]}"
                console.print(
                    f"{label:32s} {result.metric} {result.value:.3f} (chance "
                    f"{result.chance:.3f}) {result.verdict}; {result.steps} steps, "
                    f"{result.seconds:.1f} s",
                    soft_wrap=True,
                )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return CompareResults(
        settings=settings,
        runs=[results[index] for index in range(len(jobs))],
        model_sizes=size_parameters,
        gradients={family: gradients[family] for family in settings.families},
        gradient_distance=gradient_distance,
        step_seconds=step_seconds,
        seconds=time.monotonic() - started,
    )


def run_jobs(
    jobs: list[TrainingJob], workers: int
) -> Iterator[tuple[int, tuple[RunResult, dict[str, list[float]] | None]]]:
    """(job index, outcome) as each run finishes, ``workers`` runs side by side."""
    return run_side_by_side(_train_job, jobs, workers)


def run_result(
    task: MemoryTask, trained: Any, *, kind: str, distance: int, family: str
) -> RunResult:
    metric, _ = task.monitor
    chance = task.chance
    curve = [
        (record.step, float(record.metrics[metric]), float(record.metrics["loss"]))
        for record in trained.fit.history
    ]
    value = float(trained.metrics[metric])
    words = verdict(kind, value, chance, curve, examples=task.data.eval_examples)
    fit = trained.fit
    tokens = fit.steps * task.run.train.batch_size * task.length
    return RunResult(
        task=kind,
        family=family,
        distance=distance,
        metric=metric,
        value=value,
        chance=chance,
        verdict=words,
        solved=words == "solved",
        steps=fit.steps,
        stop_reason=fit.stop_reason,
        seconds=fit.seconds,
        tokens_per_second=tokens / max(fit.seconds, 1e-9),
        parameters=count_parameters(trained.model),
        curve=curve,
    )


def with_overrides(settings: CompareSettings, **changes: Any) -> CompareSettings:
    return replace(settings, **{key: value for key, value in changes.items() if value is not None})
