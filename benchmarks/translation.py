"""Translation on Multi30k test2016: quality, training time and decoding speed of trained models.

Each directory given is a model trained by ``seqlab train translation``; it is measured on its own
test split, in the direction it was trained (Multi30k test2016, 1,000 sentences, unless the run
named a test corpus of its own):

- quality, with beam search (``--beam``, 4 by default) and with greedy search: lowercased BLEU
  with sacreBLEU's 13a tokeniser (``bleu``, the form the Multi30k literature reports), cased
  detokenised sacreBLEU with its signature, and chrF2. They come from the task's own report, so
  they are exactly what ``seqlab eval DIR --beam K`` prints (seqlab.tasks.translation.metrics);
- training: the run's wall-clock time, which is the last ``elapsed`` of its log.jsonl (every
  logged ``elapsed`` already adds the seconds of the earlier calls of a resumed run, so it is
  taken, not summed; it includes the validation decoding), the step whose checkpoint became the
  model (best validation BLEU) and when it was reached, and the trainable parameters;
- decoding speed, in sentences per second over the test sources: sorted longest first, as
  ``translate_ids`` orders them, and decoded ``--batch`` (32) sentences at a time, each slice
  one call of ``translate_ids`` (one batch: its token budget never splits it). Three searches:
  beam search reading the decoder's cache (a Transformer's keys and values, a recurrent
  decoder's carried state), the same beam search recomputing the whole prefix at every step
  (``use_cache=False``), and greedy search with the cache. Each is warmed up on one batch, then
  the whole set is timed with time.perf_counter (the median of ``--repeats`` passes, the three
  searches taking turns, benchmarks/_report.py). The cache's speed-up is the ratio of the two
  beam timings of the same run, and the cached and uncached translations are compared token for
  token: a sentence that differs is a mismatch, and any mismatch makes the script exit with 1.

Usage: python benchmarks/translation.py DIR [DIR ...] [--beam 4] [--batch 32] [--threads 1]
       [--limit N] [--quality-limit N] [--repeats 1] [--device cpu] [--note TEXT] [--no-append]
``--limit N`` times only the first N test sentences; ``--quality-limit N`` scores only the first
N (for a quick look: the figures are then not the test set's). Needs SEQLAB_DATA (the directory
holding multi30k/) unless the runs' data is elsewhere.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import (  # noqa: E402
    append_section,
    interleaved_medians,
    markdown_table,
    positive_int,
)
from seqlab.errors import SeqlabError  # noqa: E402
from seqlab.infer.decoding import Hypothesis  # noqa: E402
from seqlab.model_dir import ModelDir  # noqa: E402
from seqlab.tasks.directory_checks import check_training_data  # noqa: E402
from seqlab.tasks.runner import count_parameters, evaluate_split, load_trained  # noqa: E402
from seqlab.tasks.translation.decode import SearchSettings, translate_ids  # noqa: E402
from seqlab.tasks.translation.task import TranslationTask, search_settings  # noqa: E402
from seqlab.train import resolve_device  # noqa: E402
from seqlab.utils.console import output_console  # noqa: E402

TEST_SPLIT = "test"
CACHED, UNCACHED, GREEDY = "beam, cache", "beam, no cache", "greedy, cache"


# ---- quality ----
@dataclass(frozen=True)
class Quality:
    """The task report's scores of one search over the test split."""

    bleu: float
    sacrebleu: float
    chrf: float
    perplexity: float
    sentences: int
    signatures: dict[str, str]


def scored(task: TranslationTask, model: torch.nn.Module, beam_size: int) -> Quality:
    """What ``seqlab eval DIR --beam beam_size`` reports on the test split."""
    report = evaluate_split(task.with_beam_size(beam_size), model, TEST_SPLIT, detail=True)
    return Quality(
        bleu=report["bleu"],
        sacrebleu=report["sacrebleu"],
        chrf=report["chrf"],
        perplexity=report["perplexity"],
        sentences=report["sentences"],
        signatures=dict(report["signatures"]),
    )


def first_test_pairs(task: TranslationTask, count: int, folder: Path) -> TranslationTask:
    """The task with its test split cut to the first ``count`` pairs: written to two aligned
    files and read back as ``seqlab eval --source --reference`` reads them (reading strips each
    line, as the pairs already are, so the sentences come back unchanged)."""
    test = task.corpus.split(TEST_SPLIT)
    source, reference = folder / "test.source", folder / "test.reference"
    source.write_text("".join(f"{text}\n" for text in test.sources[:count]), encoding="utf-8")
    reference.write_text("".join(f"{text}\n" for text in test.targets[:count]), encoding="utf-8")
    return task.with_eval_pair(source, reference, split=TEST_SPLIT)


# ---- training ----
@dataclass(frozen=True)
class Training:
    """What the run's log.jsonl and metrics.json say about its training."""

    seconds: float | None  # the run's wall-clock time, every resumed call included
    steps: int | None
    best_step: int | None
    best_val_bleu: float | None
    seconds_to_best: float | None  # elapsed at the evaluation that chose the best checkpoint
    calls: int  # fit calls: the first and one per resume
    stop_reason: str | None


def log_events(path: Path) -> list[dict[str, Any]]:
    """The log's events; a line that is not JSON (cut short by a crash mid-write) is passed over."""
    events = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(event, dict):
            events.append(event)
    return events


def training_record(directory: ModelDir, monitor: str) -> Training:
    events = log_events(directory.log_path) if directory.log_path.exists() else []
    timed = [event for event in events if isinstance(event.get("elapsed"), int | float)]
    evaluations = [event for event in events if event.get("event") == "eval"]
    record: dict[str, Any] = {}
    if directory.metrics_path.exists():
        record = json.loads(directory.metrics_path.read_text(encoding="utf-8")).get("training", {})
    best_step = record.get("best_step")
    best_val = record.get("best_val", {}).get(monitor)
    if best_step is None and evaluations:
        # No metrics.json to say: the best validation score in the log (the first of equals,
        # as only a strictly better score replaces the kept checkpoint).
        best = max(evaluations, key=lambda event: (event["metrics"][monitor], -event["step"]))
        best_step, best_val = best["step"], best["metrics"][monitor]
    at_best = [event for event in evaluations if event["step"] == best_step]
    steps = record.get("steps")
    return Training(
        seconds=float(timed[-1]["elapsed"]) if timed else None,
        steps=steps if steps is not None else max((e.get("step", 0) for e in events), default=None),
        best_step=best_step,
        best_val_bleu=best_val,
        seconds_to_best=float(at_best[-1]["elapsed"]) if at_best else None,
        calls=1 + sum(event.get("event") == "resume" for event in events),
        stop_reason=record.get("stop_reason"),
    )


# ---- decoding speed ----
@dataclass(frozen=True)
class Speed:
    sentences: int
    seconds: dict[str, float]  # per search, the median time of the whole set
    subwords: dict[str, int]  # per search, the subwords of its translations (EOS not counted)
    mismatches: int  # sentences whose cached and uncached beam translations differ


def length_sorted_batches(sources: list[list[int]], batch_size: int) -> list[list[list[int]]]:
    """The sources longest first (ties in input order, as translate_ids sorts), cut into
    batches of ``batch_size``."""
    order = sorted(range(len(sources)), key=lambda i: (-len(sources[i]), i))
    ordered = [sources[i] for i in order]
    return [ordered[start : start + batch_size] for start in range(0, len(ordered), batch_size)]


def decoding_speed(
    task: TranslationTask,
    model: torch.nn.Module,
    *,
    beam_size: int,
    batch_size: int,
    limit: int | None,
    repeats: int,
) -> Speed:
    test = task.corpus.split(TEST_SPLIT)
    sources = task.corpus.source_ids(list(test.sources[:limit]))
    batches = length_sorted_batches(sources, batch_size)
    target = task.tokenizers.target
    ids = {"bos_id": target.bos_id, "eos_id": target.eos_id, "pad_id": target.pad_id}
    # An unbounded token budget: each slice of batch_size sentences is decoded as one batch.
    base = replace(search_settings(task.data, beam_size=beam_size), max_tokens=sys.maxsize)
    settings = {
        CACHED: base,
        UNCACHED: replace(base, use_cache=False),
        GREEDY: replace(base, beam_size=1),
    }
    outputs: dict[str, list[Hypothesis]] = {}

    def decoder(name: str, chosen: SearchSettings) -> Callable[[], None]:
        def decode() -> None:
            found: list[Hypothesis] = []
            for batch in batches:
                found.extend(translate_ids(model, batch, chosen, **ids))
            outputs[name] = found

        return decode

    for chosen in settings.values():  # warm-up: the first calls allocate and pick kernels
        translate_ids(model, batches[0], chosen, **ids)
    candidates = {name: decoder(name, chosen) for name, chosen in settings.items()}
    seconds = interleaved_medians(candidates, repeats=repeats, warmup=0)
    mismatches = sum(
        cached.tokens != uncached.tokens
        for cached, uncached in zip(outputs[CACHED], outputs[UNCACHED], strict=True)
    )
    return Speed(
        sentences=len(sources),
        seconds=seconds,
        subwords={name: sum(len(h.tokens) for h in found) for name, found in outputs.items()},
        mismatches=mismatches,
    )


# ---- one model ----
@dataclass(frozen=True)
class Measured:
    name: str
    family: str
    direction: str
    test_corpus: str
    parameters: int
    beam: Quality
    greedy: Quality
    training: Training
    speed: Speed


def test_corpus_name(task: TranslationTask) -> str:
    data = task.data
    if data.uses_multi30k and not data.has_files(TEST_SPLIT):
        return "Multi30k test2016"
    origin = task.corpus.split(TEST_SPLIT).origin
    # Without a test corpus of its own, the task tests on the validation corpus.
    return origin if data.has_files(TEST_SPLIT) else f"the validation pairs of {origin}"


def measure(directory: Path, args: argparse.Namespace, console: Console) -> Measured:
    model_dir = ModelDir(directory)
    task, model, _ = load_trained(model_dir)
    if not isinstance(task, TranslationTask):
        raise SeqlabError(f"{directory} holds a {task.run.task} model; give translation models")
    model = model.to(resolve_device(args.device))
    data = task.data
    console.print(f"{directory}: {task.run.model.family}, {data.source_lang}->{data.target_lang}")
    for warning in check_training_data(task, model_dir, allow_changed=False):
        console.print(f"warning: {warning}", markup=False)
    with tempfile.TemporaryDirectory() as folder:
        scoring = task
        if args.quality_limit is not None:
            scoring = first_test_pairs(task, args.quality_limit, Path(folder))
        console.print(f"  scoring beam {args.beam} and greedy translations ...")
        beam, greedy = scored(scoring, model, args.beam), scored(scoring, model, 1)
    console.print(f"  timing decoding, batches of {args.batch} ...")
    speed = decoding_speed(
        task,
        model,
        beam_size=args.beam,
        batch_size=args.batch,
        limit=args.limit,
        repeats=args.repeats,
    )
    return Measured(
        name=str(directory),
        family=task.run.model.family,
        direction=f"{data.source_lang}->{data.target_lang}",
        test_corpus=test_corpus_name(task),
        parameters=count_parameters(model),
        beam=beam,
        greedy=greedy,
        training=training_record(model_dir, task.monitor[0]),
        speed=speed,
    )


# ---- the report ----
def duration(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    if seconds < 60:
        return f"{seconds:.1f} s"
    return f"{seconds / 60:.1f} min" if seconds < 7200 else f"{seconds / 3600:.2f} h"


def tables(
    results: Sequence[Measured], beam_size: int
) -> list[tuple[str, list[str], list[list[str]]]]:
    """(title, header, rows) of the quality, training, speed and cache tables."""
    quality = []
    for m in results:
        for search, scores in ((f"beam {beam_size}", m.beam), ("greedy", m.greedy)):
            quality.append([
                m.name, m.family, m.direction, search, str(scores.sentences),
                f"{scores.bleu:.2f}", f"{scores.sacrebleu:.2f}", f"{scores.chrf:.2f}",
            ])  # fmt: skip
    training = [
        [m.name, f"{m.parameters:,}", str(m.training.steps), str(m.training.best_step),
         "?" if m.training.best_val_bleu is None else f"{m.training.best_val_bleu:.2f}",
         duration(m.training.seconds), duration(m.training.seconds_to_best),
         str(m.training.calls), str(m.training.stop_reason), f"{m.beam.perplexity:.2f}"]
        for m in results
    ]  # fmt: skip
    speed, cache = [], []
    for m in results:
        for name in (CACHED, UNCACHED, GREEDY):
            seconds = m.speed.seconds[name]
            speed.append([
                m.name, name.replace("beam", f"beam {beam_size}"), str(m.speed.sentences),
                f"{seconds:.2f}", f"{m.speed.sentences / seconds:.1f}",
                f"{m.speed.subwords[name] / seconds:,.0f}",
            ])  # fmt: skip
        speed_up = m.speed.seconds[UNCACHED] / m.speed.seconds[CACHED]
        cache.append([m.name, f"{speed_up:.2f}x", f"{m.speed.mismatches} of {m.speed.sentences}"])
    return [
        ("Quality on the test split", [
            "model", "family", "direction", "search", "sentences", "BLEU (lc)", "sacreBLEU",
            "chrF",
        ], quality),
        ("Training", [
            "model", "parameters", "steps", "best step", "best val BLEU (lc)", "training time",
            "time to best", "fit calls", "stopped by", "test perplexity",
        ], training),
        ("Decoding speed", [
            "model", "search", "sentences", "seconds", "sentences/s", "output subwords/s",
        ], speed),
        (f"Beam {beam_size}: the cache against recomputing the prefix", [
            "model", "speed-up", "sentences translated differently",
        ], cache),
    ]  # fmt: skip


def signature_lines(results: Sequence[Measured]) -> list[str]:
    signatures = {
        (name, signature) for m in results for name, signature in m.beam.signatures.items()
    }
    return [f"- {name}: `{signature}`" for name, signature in sorted(signatures)]


def markdown_body(results: Sequence[Measured], args: argparse.Namespace) -> str:
    corpora = ", ".join(sorted({f"{m.test_corpus} {m.direction}" for m in results}))
    scored_on = (
        f"the first {args.quality_limit} test sentences (not the whole test set)"
        if args.quality_limit is not None
        else "every test sentence"
    )
    timed_on = "every test sentence" if args.limit is None else f"the first {args.limit}"
    intro = (
        f"Test split: {corpora}. Quality on {scored_on}, the figures of `seqlab eval DIR "
        f"--beam K`; BLEU (lc) is lowercased 13a BLEU, sacreBLEU is cased. Training time is the "
        "run's wall-clock time from its log.jsonl (validation included, resumed calls added). "
        f"Decoding speed on {timed_on}, longest first in batches of {args.batch} sentences, "
        f"{args.threads} thread(s) on {args.device}, median of {args.repeats} pass(es) after one "
        "warm-up batch; the cache speed-up is (no-cache seconds) / (cache seconds) in the same "
        "run, and mismatches count sentences whose cached and uncached beam translations differ."
    )
    parts = [intro]
    for title, header, rows in tables(results, args.beam):
        parts.append(f"{title}:\n\n{markdown_table(header, rows)}")
    parts.append("Signatures:\n\n" + "\n".join(signature_lines(results)))
    if args.note:
        parts.append(f"Note: {args.note}")
    return "\n\n".join(parts)


def print_tables(console: Console, results: Sequence[Measured], beam_size: int) -> None:
    for title, header, rows in tables(results, beam_size):
        table = Table(title=title)
        for index, column in enumerate(header):
            table.add_column(column, justify="left" if index == 0 else "right")
        for row in rows:
            table.add_row(*row)
        console.print(table)
    for line in signature_lines(results):
        console.print(line, markup=False, highlight=False)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model_dirs", type=Path, nargs="+", metavar="DIR")
    parser.add_argument("--beam", type=positive_int, default=4, help="beam size (default 4)")
    parser.add_argument("--batch", type=positive_int, default=32, help="sentences a decoding batch")
    parser.add_argument("--threads", type=positive_int, default=1, help="torch threads (default 1)")
    parser.add_argument("--limit", type=positive_int, help="time only the first N test sentences")
    parser.add_argument("--quality-limit", type=positive_int, help="score only the first N")
    parser.add_argument("--repeats", type=positive_int, default=1, help="timed passes per search")
    parser.add_argument("--device", choices=("cpu", "cuda", "auto"), default="cpu")
    parser.add_argument("--note", default="", help="a sentence recorded with the results")
    parser.add_argument("--no-append", action="store_true", help="do not append to BENCHMARKS.md")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    console = Console(stderr=True)
    try:
        results = [measure(directory, args, console) for directory in args.model_dirs]
    except SeqlabError as error:
        console.print(f"error: {error}", markup=False, highlight=False, soft_wrap=True)
        return 2
    print_tables(output_console(), results, args.beam)
    if not args.no_append:
        append_section("Multi30k translation", markdown_body(results, args))
    mismatched = [m.name for m in results if m.speed.mismatches]
    if mismatched:
        console.print(
            f"error: cached and uncached beam search translate differently for "
            f"{', '.join(mismatched)}; the decoder's cache does not reproduce its prefix",
            markup=False,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
