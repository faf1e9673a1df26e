"""Tiny Shakespeare language models: validation loss, generation speed and a sample per family.

Each family (``--families``, the Transformer and the LSTM by default) is trained at character
level on Tiny Shakespeare (SEQLAB_DATA/tinyshakespeare/input.txt; the first 90% trains, the last
10%, 111,540 characters, validates) with ``--preset cpu-small`` for ``--budget-seconds`` of
wall-clock time (``train.max_seconds``, evaluations included), on ``--threads`` CPU thread(s),
through the library (``build_run_config`` and ``train_run``: the same run as the
``seqlab train lm`` command printed beside it). Then, for each family:

- quality: the final model's loss on the val split in nats per character (the task's test split
  is the val text, so this is also what ``seqlab eval DIR`` prints), and bits per character
  (loss / ln 2 for a character vocabulary); the steps done in the budget, the training seconds
  (metrics.json's ``training.seconds``: the fit's wall-clock time, evaluations included),
  the trainable parameters. With several ``--seeds``, the mean and every seed's value;
- generation speed at batch 1 on the first seed's model: a 100-character prompt (the first 100
  characters of the val text), then 500 new characters, greedy (temperature 0) so every path
  makes the same tokens. The model reads the prompt (``model.start``) and each new token goes
  through ``decode_step`` (seqlab.infer.sampling.stream_tokens, as ``seqlab generate`` does):
  for the Transformer with its key/value cache (``use_cache=True``) and without it
  (``use_cache=False``, recomputing the whole window, at most the context, at every step); for a
  recurrent model with its carried state. Each path is warmed up once, then timed with
  time.perf_counter (the median of ``--repeats`` calls, the paths taking turns:
  benchmarks/_report.py), prompt reading included; tokens/s = 500 / seconds. The cache's
  speed-up is (no-cache seconds) / (cache seconds) of the same run, and the cached and uncached
  tokens are compared position by position: any mismatch makes the script exit with 1;
- a sample: 300 characters after the prompt "ROMEO:" at temperature 0.8, top-k 20, seed 0.

Usage: python benchmarks/language_model.py [--families transformer,lstm] [--budget-seconds 600]
       [--seeds 0] [--threads 1] [--out-root runs/bench-lm] [--reuse] [--repeats 3]
       [--set KEY=VALUE ...] [--note TEXT] [--no-append]
The first seed trains into ``OUT_ROOT/FAMILY``, others into ``OUT_ROOT/FAMILY-seedS``; a
directory that already holds a trained model is an error, unless ``--reuse`` measures it again
(its row then says "reused" and shows the budget it was trained with). ``--set`` adds settings
to every run, after the preset and the budget (``--set train.eval_every=50``, say).
"""

from __future__ import annotations

import argparse
import json
import shlex
import statistics
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import torch
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import (  # noqa: E402
    append_section,
    interleaved_medians,
    markdown_table,
    parse_seeds,
    positive_int,
    positive_number,
)
from seqlab.errors import SeqlabError  # noqa: E402
from seqlab.infer.sampling import SamplingSettings, stream_tokens  # noqa: E402
from seqlab.model_dir import ModelDir  # noqa: E402
from seqlab.models.language_model import LanguageModel, build_language_model  # noqa: E402
from seqlab.models.language_model_config import LMTransformerConfig  # noqa: E402
from seqlab.tasks.configuration import build_run_config  # noqa: E402
from seqlab.tasks.directory_checks import check_training_data  # noqa: E402
from seqlab.tasks.lm.options import OPTIONS  # noqa: E402
from seqlab.tasks.lm.predictor import LanguageModelPredictor  # noqa: E402
from seqlab.tasks.lm.task import LanguageModelTask  # noqa: E402
from seqlab.tasks.runner import (  # noqa: E402
    count_parameters,
    evaluate_split,
    predictor_from_dir,
    train_run,
)
from seqlab.utils.console import output_console  # noqa: E402
from seqlab.utils.seeding import seed_everything  # noqa: E402

PRESET = "cpu-small"
VAL_SPLIT = "val"
PROMPT_CHARACTERS, NEW_TOKENS = 100, 500
SAMPLE_PROMPT, SAMPLE_CHARACTERS = "ROMEO:", 300
SAMPLE_TEMPERATURE, SAMPLE_TOP_K, SAMPLE_SEED = 0.8, 20, 0
GREEDY = SamplingSettings(temperature=0.0)
CACHED, UNCACHED, CARRIED = "key/value cache", "no cache (window recomputed)", "carried state"
DEFAULT_FAMILIES = "transformer,lstm"


# ---- training ----
@dataclass(frozen=True)
class Trained:
    """One seed's run: its directory, whether it was reused, and what its files say."""

    family: str
    seed: int
    directory: Path
    reused: bool
    command: str  # the same run from the command line
    budget_seconds: float | None  # train.max_seconds the run had
    val_loss: float  # nats per character
    bits_per_char: float
    steps: int | None
    seconds: float | None
    stop_reason: str | None
    parameters: int


def run_dir(root: Path, family: str, seed: int, first_seed: int) -> Path:
    """The first seed trains into ``root/family`` (the model timed and sampled), others beside."""
    return root / family if seed == first_seed else root / f"{family}-seed{seed}"


def settings(args: argparse.Namespace, seed: int) -> list[str]:
    """The ``--set`` overrides of one run: the budget, threads, seed and device, then the user's."""
    return [f"train.max_seconds={args.budget_seconds:g}", f"train.threads={args.threads}",
            f"train.seed={seed}", "train.device=cpu", *args.set]  # fmt: skip


def train_command(family: str, overrides: Sequence[str], out: Path) -> str:
    return shlex.join(["seqlab", "train", "lm", "--model", family, "--preset", PRESET,
                       *(part for setting in overrides for part in ("--set", setting)),
                       "--out", str(out), "--quiet"])  # fmt: skip


def read_json(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    record = json.loads(path.read_text(encoding="utf-8"))
    return record if isinstance(record, dict) else {}


def logged_seconds(directory: ModelDir) -> float | None:
    """The last ``elapsed`` of log.jsonl (a resumed run's earlier calls already included)."""
    if not directory.log_path.exists():
        return None
    elapsed = None
    for line in directory.log_path.read_text(encoding="utf-8").splitlines():
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line cut short by a crash mid-write
        if isinstance(event, dict) and isinstance(event.get("elapsed"), int | float):
            elapsed = float(event["elapsed"])
    return elapsed


def check_reusable(task: LanguageModelTask, directory: ModelDir, family: str) -> None:
    """A reused directory must hold this benchmark's kind of model, trained on this data."""
    run = task.run
    if run.task != "lm" or run.model.family != family:
        raise SeqlabError(
            f"{directory} holds a '{run.task}' model of family '{run.model.family}', not an lm "
            f"{family} model; give another --out-root or drop --reuse"
        )
    data = run.data
    if data.file is not None or data.vocabulary != "char":
        raise SeqlabError(
            f"{directory} was not trained on Tiny Shakespeare characters (data.file "
            f"{data.file!r}, vocabulary {data.vocabulary!r}); give another --out-root"
        )
    check_training_data(task, directory, allow_changed=False)


def train_or_reuse(
    family: str, seed: int, out: Path, args: argparse.Namespace, console: Console
) -> Trained:
    overrides = settings(args, seed)
    directory = ModelDir(out)
    reused = args.reuse and directory.is_trained()
    if not reused:
        if directory.is_trained():
            raise SeqlabError(
                f"{out} already holds a trained model; pass --reuse to measure it again, or "
                "choose another --out-root"
            )
        run = build_run_config("lm", family=family, preset=PRESET, overrides=overrides)
        budget = run.train.max_seconds
        limit = f"up to {budget:g} s" if budget is not None else f"{run.train.steps} steps"
        console.print(f"training {family}, seed {seed}, for {limit} -> {out}")
        # The final evaluation is of val: the task's test split is the val text.
        train_run(run, out, progress="quiet", final_split=VAL_SPLIT)
    predictor = load_predictor(out)
    task = predictor.task_object
    if reused:
        check_reusable(task, directory, family)
        console.print(f"reusing {out} ({family}, seed {task.run.train.seed})")
    record = read_json(directory.metrics_path)
    metrics = record.get("metrics", {})
    if record.get("split") not in (VAL_SPLIT, "test") or "loss" not in metrics:
        metrics = evaluate_split(task, predictor.model, VAL_SPLIT)
    training = record.get("training", {})
    seconds = training.get("seconds")
    return Trained(
        family=family,
        seed=task.run.train.seed,  # a reused directory's own
        directory=out,
        reused=reused,
        command=train_command(family, overrides, out),
        budget_seconds=task.run.train.max_seconds,
        val_loss=float(metrics["loss"]),
        bits_per_char=float(metrics["bits_per_char"]),
        steps=training.get("steps"),
        seconds=float(seconds) if seconds is not None else logged_seconds(directory),
        stop_reason=training.get("stop_reason"),
        parameters=count_parameters(predictor.model),
    )


def load_predictor(out: Path) -> LanguageModelPredictor:
    predictor = predictor_from_dir(LanguageModelPredictor, out)
    predictor.model.to("cpu")
    return predictor


# ---- generation speed ----
@dataclass(frozen=True)
class Speed:
    seconds: dict[str, float]  # per path, the median seconds of one generation
    mismatches: int | None  # positions where cached and uncached tokens differ (Transformer)


def greedy_generation(
    model: LanguageModel, prompt: torch.Tensor, *, use_cache: bool
) -> Callable[[], list[int]]:
    """A call generating NEW_TOKENS greedy tokens after prompt (1, P), the prompt read included."""

    def generate() -> list[int]:
        generator = torch.Generator(device=prompt.device)  # unused at temperature 0, but required
        with torch.inference_mode():
            logits, state = model.start(prompt, use_cache=use_cache)  # (1, V)
            return list(stream_tokens(model, state, logits, max_new_tokens=NEW_TOKENS,
                                      settings=GREEDY, generator=generator))  # fmt: skip

    return generate


def generation_speed(predictor: LanguageModelPredictor, repeats: int) -> Speed:
    task = predictor.task_object
    return model_speed(
        cast(LanguageModel, predictor.model),
        validation_prompt(predictor, predictor.device),
        recurrent=task.text_data.recurrent,
        repeats=repeats,
    )


def validation_prompt(predictor: LanguageModelPredictor, device: torch.device) -> torch.Tensor:
    """(1, P) the ids of the validation text's first PROMPT_CHARACTERS characters."""
    text_data = predictor.task_object.text_data
    text = text_data.text(VAL_SPLIT)[:PROMPT_CHARACTERS]
    return torch.tensor([text_data.vocabulary.encode(text)], device=device)


def model_speed(
    model: LanguageModel, prompt: torch.Tensor, *, recurrent: bool, repeats: int
) -> Speed:
    """Each decoding path of ``model`` timed on the same greedy generation."""
    paths = {CACHED: True, UNCACHED: False} if not recurrent else {CARRIED: True}
    tokens: dict[str, list[int]] = {}

    def timed(name: str, use_cache: bool) -> Callable[[], None]:
        generate = greedy_generation(model, prompt, use_cache=use_cache)

        def call() -> None:
            tokens[name] = generate()

        return call

    candidates = {name: timed(name, use_cache) for name, use_cache in paths.items()}
    seconds = interleaved_medians(candidates, repeats=repeats, warmup=1)
    mismatches = None
    if UNCACHED in tokens:
        mismatches = sum(a != b for a, b in zip(tokens[CACHED], tokens[UNCACHED], strict=True))
    return Speed(seconds=seconds, mismatches=mismatches)


def sample(predictor: LanguageModelPredictor) -> str:
    generated = predictor.generate(
        SAMPLE_PROMPT,
        max_new_tokens=SAMPLE_CHARACTERS,
        temperature=SAMPLE_TEMPERATURE,
        top_k=SAMPLE_TOP_K,
        seed=SAMPLE_SEED,
    )
    return SAMPLE_PROMPT + generated


def nanogpt_speed(predictor: LanguageModelPredictor, repeats: int) -> Speed:
    """The cache's effect on nanoGPT's Shakespeare-sized model (6 layers, 6 heads, 384 wide,
    context 256: LMTransformerConfig's defaults), untrained: speed does not depend on the
    weights, and greedy tokens from random weights still test that both paths agree."""
    seed_everything(0)
    vocab_size = predictor.task_object.text_data.vocabulary.vocab_size
    model = build_language_model(LMTransformerConfig(), vocab_size=vocab_size).eval()
    prompt = validation_prompt(predictor, torch.device("cpu"))
    return model_speed(cast(LanguageModel, model), prompt, recurrent=False, repeats=repeats)


# ---- one family ----
@dataclass(frozen=True)
class Measured:
    family: str
    runs: list[Trained]
    speed: Speed
    sample: str
    nanogpt: Speed | None = None  # the Transformer's cache at nanoGPT's size


def measure(family: str, seeds: list[int], args: argparse.Namespace, console: Console) -> Measured:
    runs = [
        train_or_reuse(family, seed, run_dir(args.out_root, family, seed, seeds[0]), args, console)
        for seed in seeds
    ]
    predictor = load_predictor(runs[0].directory)
    console.print(f"timing {family} generation, {NEW_TOKENS} tokens at batch 1 ...")
    speed = generation_speed(predictor, args.repeats)
    nanogpt = None
    if family == "transformer":
        console.print(f"timing nanoGPT-sized generation, {NEW_TOKENS} tokens at batch 1 ...")
        nanogpt = nanogpt_speed(predictor, args.repeats)
    return Measured(
        family=family, runs=runs, speed=speed, sample=sample(predictor), nanogpt=nanogpt
    )


# ---- the report ----
def duration(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def over_seeds(values: Sequence[float | None], fmt: str) -> str:
    """One value, or the mean followed by each seed's value."""
    known = [value for value in values if value is not None]
    if not known:
        return "?"
    if len(values) == 1:
        return format(known[0], fmt)
    each = ", ".join("?" if value is None else format(value, fmt) for value in values)
    return f"{format(statistics.fmean(known), fmt)} ({each})"


def tables(results: Sequence[Measured]) -> list[tuple[str, list[str], list[list[str]]]]:
    """(title, header, rows) of the quality, speed and cache tables."""
    quality = []
    for m in results:
        runs = m.runs
        budgets = {run.budget_seconds for run in runs}
        quality.append([
            m.family, f"{runs[0].parameters:,}", ", ".join(str(run.seed) for run in runs),
            over_seeds([run.val_loss for run in runs], ".4f"),
            over_seeds([run.bits_per_char for run in runs], ".4f"),
            over_seeds([run.steps for run in runs], ".0f"),
            over_seeds([run.seconds for run in runs], ".0f"),
            ", ".join(duration(budget) for budget in sorted(budgets, key=lambda b: b or 0)),
            ", ".join(sorted({str(run.stop_reason) for run in runs})),
            ", ".join(dict.fromkeys("reused" if run.reused else "trained" for run in runs)),
        ])  # fmt: skip
    speed, cache = [], []
    for m in results:
        measured = [(m.family, m.speed)]
        if m.nanogpt is not None:
            measured.append((f"{m.family}, nanoGPT size (6 x 384, context 256, untrained)",
                             m.nanogpt))  # fmt: skip
        for name, timing in measured:
            for path, seconds in timing.seconds.items():
                speed.append([name, path, f"{seconds:.3f}", f"{NEW_TOKENS / seconds:,.0f}"])
            if timing.mismatches is not None:
                speed_up = timing.seconds[UNCACHED] / timing.seconds[CACHED]
                cache.append([name, f"{speed_up:.2f}x", f"{timing.mismatches} of {NEW_TOKENS}"])
    parts = [
        ("Validation loss (Tiny Shakespeare val, characters)", [
            "family", "parameters", "seeds", "val loss (nats/char)", "bits/char", "steps",
            "training s", "budget", "stopped by", "run",
        ], quality),
        (f"Generation speed, batch 1, {PROMPT_CHARACTERS}-token prompt + {NEW_TOKENS} greedy "
         "tokens", ["family", "path", "seconds", "tokens/s"], speed),
    ]  # fmt: skip
    if cache:
        parts.append((
            "Transformer: the key/value cache against recomputing the window",
            ["family", "speed-up", "tokens that differ"], cache,
        ))  # fmt: skip
    return parts


def markdown_body(results: Sequence[Measured], args: argparse.Namespace) -> str:
    intro = (
        "Tiny Shakespeare at character level (the first 90% trains, the last 10% validates), "
        f"`--preset {PRESET}`, each run stopped by its wall-clock budget (`train.max_seconds`, "
        f"evaluations included) or its steps, on {args.threads} CPU thread(s). Val loss is the "
        "final model's (the best validation checkpoint) in nats per character; bits/char is "
        "loss / ln 2; with several seeds, the mean and then each seed's value. Generation: the "
        f"first {PROMPT_CHARACTERS} characters of the val text as the prompt, {NEW_TOKENS} new "
        "tokens at temperature 0, the prompt read included, on the first seed's model; median "
        f"of {args.repeats} call(s) after one warm-up, the paths taking turns. The cache's "
        "speed-up is (no-cache seconds) / (cache seconds) in the same run; the tokens that "
        "differ are counted position by position between the two paths. The Transformer is "
        "also timed at nanoGPT's Shakespeare size (6 layers, 384 wide, context 256; untrained "
        "weights, as speed does not depend on them), where the window the cache saves "
        "recomputing is larger."
    )
    parts = [intro]
    for title, header, rows in tables(results):
        parts.append(f"{title}:\n\n{markdown_table(header, rows)}")
    options = f"temperature {SAMPLE_TEMPERATURE}, top-k {SAMPLE_TOP_K}, seed {SAMPLE_SEED}"
    for m in results:
        parts.append(
            f"Sample, {m.family} ({SAMPLE_CHARACTERS} characters after {SAMPLE_PROMPT!r}, "
            f"{options}):\n\n```text\n{m.sample}\n```"
        )
    commands = [
        f"- {run.family}, seed {run.seed}: reused `{run.directory}`, trained with "
        f"train.max_seconds={run.budget_seconds}" if run.reused
        else f"- {run.family}, seed {run.seed}: `{run.command}`"
        for m in results for run in m.runs
    ]  # fmt: skip
    parts.append("The runs (the same training from the command line):\n\n" + "\n".join(commands))
    if args.note:
        parts.append(f"Note: {args.note}")
    return "\n\n".join(parts)


def print_report(console: Console, results: Sequence[Measured]) -> None:
    for title, header, rows in tables(results):
        table = Table(title=title)
        for index, column in enumerate(header):
            table.add_column(column, justify="left" if index < 2 else "right")
        for row in rows:
            table.add_row(*row)
        console.print(table)
    for m in results:
        console.rule(f"{m.family}: sample")
        console.print(m.sample, markup=False, highlight=False)


# ---- the command line ----
def parse_args() -> tuple[argparse.Namespace, list[str], list[int]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--families", default=DEFAULT_FAMILIES,
                        help=f"comma-separated, of {', '.join(OPTIONS.families)} "
                        f"(default {DEFAULT_FAMILIES})")  # fmt: skip
    parser.add_argument("--budget-seconds", type=positive_number, default=600.0,
                        help="train.max_seconds of each run (default 600)")  # fmt: skip
    parser.add_argument("--seeds", default="0", help="comma-separated training seeds (default 0)")
    parser.add_argument("--threads", type=positive_int, default=1, help="torch threads (default 1)")
    parser.add_argument("--out-root", type=Path, default=Path("runs/bench-lm"))
    parser.add_argument("--reuse", action="store_true", help="measure finished runs again")
    parser.add_argument("--repeats", type=positive_int, default=3, help="timed calls per path")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="a setting for every run (repeatable)")  # fmt: skip
    parser.add_argument("--note", default="", help="a sentence recorded with the results")
    parser.add_argument("--no-append", action="store_true", help="do not append to BENCHMARKS.md")
    args = parser.parse_args()
    families = [name.strip() for name in args.families.split(",") if name.strip()]
    unknown = [name for name in families if name not in OPTIONS.families]
    if unknown or not families or len(set(families)) != len(families):
        parser.error(
            f"--families '{args.families}' must name each of {', '.join(OPTIONS.families)} "
            "at most once"
        )
    seeds = parse_seeds(parser, args.seeds)
    return args, families, seeds


def main() -> int:
    args, families, seeds = parse_args()
    torch.set_num_threads(args.threads)
    console = Console(stderr=True)
    try:
        results = [measure(family, seeds, args, console) for family in families]
    except SeqlabError as error:
        console.print(f"error: {error}", markup=False, highlight=False, soft_wrap=True)
        return 2
    # Wide enough for the tables when stdout is a file or a pipe (rich would assume 80 columns).
    print_report(output_console(), results)
    if not args.no_append:
        append_section("Tiny Shakespeare language models", markdown_body(results, args))
    mismatched = [
        m.family for m in results if m.speed.mismatches or (m.nanogpt and m.nanogpt.mismatches)
    ]
    if mismatched:
        console.print(
            f"error: cached and uncached greedy generation differ for {', '.join(mismatched)}; "
            "the key/value cache does not reproduce the window",
            markup=False,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
