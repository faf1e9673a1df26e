"""Distillation on SST-2: recurrent students trained on a teacher's logits against the same students
trained on the labels alone, at the same budget.

For each student (``lstm``: one direction, 128 units, streams one recurrent step per token;
``bilstm``: the cpu-small BiLSTM, 256 units a direction; ``bilstm150``: 150 a direction, the
size of Tang et al.'s) the script runs, and prints beside its row:

- ``seqlab distill TEACHER --model lstm --preset cpu-small ... --augment N`` (Tang et al., 2019:
  the teacher labels the training texts and N augmented copies of each once; the student learns
  the teacher's logits), and
- ``seqlab train sentiment`` with the same student settings, step budget and batch size, on the
  labels alone;

then measures each model directory (below). With ``--embeddings teacher`` (the default) both
read text through the teacher's tokenizer and start from its token vectors, and the labels-alone
run is ``seqlab distill --alpha 1 --augment 0`` (cross-entropy on the training texts; the
teacher labels nothing), so the two rows differ in the objective alone. ``--seeds 0,1,2`` trains
each run once per seed (the copies are drawn with seed 0 for all, so the teacher labels once)
and reports the mean, each seed's in brackets.

Measured: SST-2 dev accuracy (872 sentences, the task's reported split, which also picks the
best checkpoint: GLUE's test labels are not public; the accuracy at the last step is shown
beside it),
the engine's training seconds (metrics.json), batch-1 ``predict`` latency on dev sentences of about
20 tokens, and the streaming cost per token (benchmarks/sentiment.py's measurements). The
teacher's time to label the transfer set is reported once: the first student labels it and the
other students reuse its cached logits (the transfer set does not depend on the student).

Targets (issue 18, with the cpu-small MiniLM as teacher): the one-direction LSTM at least 88.0%,
batch-1 predict under 1.5 ms and streaming under 0.5 ms per token; the BiLSTM at least 88.5%,
predict under 3 ms; the whole workflow under 60 minutes of CPU.

Usage: python benchmarks/distill.py --teacher DIR [--students lstm,bilstm] [--augment 4]
       [--steps 3000] [--seeds 0] [--embeddings teacher|own] [--logits-from DIR]
       [--set KEY=VALUE ...] [--train-rows N] [--dev-rows N]
       [--out runs/distill-benchmark] [--threads 2] [--train-threads 1] [--repeats 200]
       [--reuse] [--note TEXT] [--no-record]
``--train-rows``/``--dev-rows`` distil on the first N rows of SST-2's train/dev files (written to
``--out`` with SST-2's label names), for a quick trial; the default is all of them.
Needs SEQLAB_DATA (the directory holding sst2/).
"""

from __future__ import annotations

import argparse
import csv
import json
import shlex
import shutil
import statistics
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import seqlab  # noqa: E402
from _report import append_section, markdown_table, positive_int  # noqa: E402
from sentiment import predict_latency, stream_cost  # noqa: E402
from seqlab.data.sources import resolve_file  # noqa: E402
from seqlab.data.text_files import read_labelled_texts  # noqa: E402
from seqlab.model_dir import TEACHER_LOGITS, TEACHER_LOGITS_RECORD  # noqa: E402
from seqlab.tasks.sentiment.data import SST2_LABEL_NAMES  # noqa: E402

EMBEDDING_WORDS = {
    "teacher": "students read the teacher's tokenizer, their embeddings starting as its token "
    "vectors (--embeddings teacher)",
    "own": "students train their own tokenizer and embeddings",
}


@dataclass(frozen=True)
class Student:
    name: str
    what: str
    arguments: tuple[str, ...]
    target: float


STUDENTS = {
    student.name: student
    for student in [
        Student("lstm", "LSTM, one direction, 128 units (streams token by token)",
                ("--model", "lstm", "--preset", "cpu-small", "--set", "model.bidirectional=false",
                 "--set", "model.hidden_size=128"), 0.88),
        Student("bilstm", "BiLSTM, 256 units a direction, max pooling",
                ("--model", "lstm", "--preset", "cpu-small"), 0.885),
        Student("bilstm150", "BiLSTM, 150 units a direction (Tang et al.'s size), max pooling",
                ("--model", "lstm", "--preset", "cpu-small", "--set", "model.hidden_size=150"),
                0.885),
    ]
}  # fmt: skip


def subset_files(out: Path, train_rows: int | None, dev_rows: int | None) -> list[str]:
    """The data flags: none for all of SST-2, else --data/--val-data files of its first rows,
    labels written as SST-2's names (what a teacher trained on SST-2 calls them)."""
    if train_rows is None and dev_rows is None:
        return []
    out.mkdir(parents=True, exist_ok=True)
    flags = []
    for flag, name, rows in (
        ("--data", "train.tsv", train_rows),
        ("--val-data", "dev.tsv", dev_rows),
    ):
        texts = read_labelled_texts(resolve_file("sst2", name))
        count = len(texts.texts) if rows is None else rows
        path = out / f"sst2-{name.removesuffix('.tsv')}-{count}.csv"
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["text", "label"])
            for text, label in list(zip(texts.texts, texts.labels, strict=True))[:count]:
                writer.writerow([text, SST2_LABEL_NAMES.get(label, label)])
        flags += [flag, str(path)]
    return flags


def run_command(command: list[str]) -> None:
    print(f"$ {shlex.join(command)}", flush=True)
    subprocess.run([sys.executable, "-m", "seqlab", *command[1:]], check=True)


def _common(args: argparse.Namespace, seed: int) -> list[str]:
    sets = [arg for setting in args.overrides for arg in ("--set", setting)]
    return ["--steps", str(args.steps), "--seed", str(seed), *sets,
            "--set", f"train.threads={args.train_threads}"]  # fmt: skip


def distill_command(args, student: Student, out: Path, data: list[str], seed: int) -> list[str]:
    """The student on the teacher's logits over the transfer set (copies drawn with seed 0, so
    every seed's student reads the same transfer set and the same cached logits)."""
    return ["seqlab", "distill", str(args.teacher), *student.arguments, *data,
            "--augment", str(args.augment), "--augment-seed", "0",
            "--embeddings", args.embeddings, *_common(args, seed), "--out", str(out),
            "--quiet"]  # fmt: skip


def labels_command(args, student: Student, out: Path, data: list[str], seed: int) -> list[str]:
    """The same student on the labels alone: with the teacher's vocabulary and vectors when the
    distilled one has them (seqlab distill --alpha 1 --augment 0: cross-entropy on the training
    texts, the teacher labelling nothing), else seqlab train."""
    if args.embeddings == "teacher":
        return ["seqlab", "distill", str(args.teacher), *student.arguments, *data,
                "--augment", "0", "--alpha", "1", "--embeddings", "teacher",
                *_common(args, seed), "--out", str(out), "--quiet"]  # fmt: skip
    return ["seqlab", "train", "sentiment", *student.arguments, *data, *_common(args, seed),
            "--out", str(out), "--quiet"]  # fmt: skip


def accuracy_of(out: Path) -> float:
    return float(json.loads((out / "metrics.json").read_text())["metrics"]["accuracy"])


def last_step_accuracy(out: Path) -> float:
    """The accuracy of the run's last evaluation (log.jsonl), not the checkpoint chosen on it:
    SST-2's dev set is both the split that picks the checkpoint and the one reported."""
    events = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines() if line]
    evaluations = [event for event in events if event.get("event") == "eval"]
    return float(evaluations[-1]["metrics"]["accuracy"])


def measured_row(args, student: Student, outs: list[Path], trained_on: str, sentences: list[str]):
    """One table row: the mean dev accuracy over the seeds' directories ``outs`` (each seed's
    in brackets), the first seed's training time, and its latencies."""
    accuracies = [accuracy_of(out) for out in outs]
    accuracy = statistics.mean(accuracies)
    record = json.loads((outs[0] / "metrics.json").read_text())
    predictor = seqlab.load(outs[0])
    latency, samples = predict_latency(predictor, sentences, repeats=args.repeats)
    per_token, mode = stream_cost(predictor, sentences, count=min(100, len(sentences)))
    verdict = ""
    if trained_on.startswith("teacher"):
        verdict = " (meets)" if accuracy >= student.target else f" (target {student.target:.1%})"
    each = ", ".join(f"{value:.2%}" for value in accuracies)
    last = statistics.mean(last_step_accuracy(out) for out in outs)
    return [
        student.what,
        trained_on,
        f"{accuracy:.2%}{verdict}" + (f" [{each}]" if len(outs) > 1 else ""),
        f"{last:.2%}",
        f"{record['training']['seconds'] / 60:.1f} min ({record['training']['steps']} steps)",
        f"{latency * 1e3:.2f} ms ({samples})",
        f"{per_token * 1e3:.3f} ms ({mode})",
    ]


def copy_logits(source: Path, target: Path) -> None:
    """Start ``target`` with the cached teacher logits of ``source`` (the workflow checks they
    belong to its transfer set and teacher, and labels afresh when they do not)."""
    if target.exists() or not (source / TEACHER_LOGITS_RECORD).exists():
        return
    target.mkdir(parents=True)
    for file in (TEACHER_LOGITS, TEACHER_LOGITS_RECORD):
        shutil.copy(source / file, target / file)


def labelling_sentence(distilled: Path) -> str:
    cache = json.loads((distilled / TEACHER_LOGITS_RECORD).read_text())
    config = json.loads((distilled / "config.json").read_text())
    transfer = config["artifacts"]["distillation"]["transfer_set"]
    return (
        f"The teacher labelled the transfer set of {transfer['total']:,} texts "
        f"({transfer['originals']:,} training texts, {transfer['augmented']:,} augmented "
        f"copies) in {cache['seconds']:.1f} s "
        f"({cache['seconds'] / transfer['total'] * 1e3:.1f} ms a text)."
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--teacher", type=Path, required=True, help="a sentiment model directory")
    parser.add_argument("--students", default="lstm,bilstm", help="default: lstm,bilstm")
    parser.add_argument("--augment", type=int, default=4, help="copies per text (default 4)")
    parser.add_argument("--steps", type=positive_int, default=3000, help="budget (default 3000)")
    parser.add_argument("--seeds", default="0", help="comma-separated seeds (default 0)")
    parser.add_argument(
        "--embeddings", choices=("own", "teacher"), default="teacher",
        help="the students' vocabulary and starting vectors (default: the teacher's)",
    )  # fmt: skip
    parser.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
        help="a student setting for both runs of each student, e.g. train.warmup_steps=10",
    )  # fmt: skip
    parser.add_argument(
        "--logits-from",
        type=Path,
        default=None,
        help="a student directory whose cached teacher logits to start from",
    )
    parser.add_argument("--train-rows", type=positive_int, default=None)
    parser.add_argument("--dev-rows", type=positive_int, default=None)
    parser.add_argument("--out", type=Path, default=Path("runs/distill-benchmark"))
    parser.add_argument("--threads", type=int, default=2, help="threads for latency (default 2)")
    parser.add_argument("--train-threads", type=int, default=1, help="threads for training")
    parser.add_argument("--repeats", type=positive_int, default=200, help="latency samples")
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="measure the model directories already trained in --out again",
    )
    parser.add_argument("--note", default="", help="a sentence recorded with the results")
    parser.add_argument("--no-record", action="store_true", help="do not append to BENCHMARKS.md")
    args = parser.parse_args()
    names = [name.strip() for name in args.students.split(",") if name.strip()]
    unknown = [name for name in names if name not in STUDENTS]
    if unknown:
        parser.error(f"unknown student '{unknown[0]}'; choose from {', '.join(STUDENTS)}")
    seeds = [int(seed) for seed in args.seeds.split(",") if seed.strip()]
    data = subset_files(args.out, args.train_rows, args.dev_rows)
    dev_file = Path(data[3]) if data else resolve_file("sst2", "dev.tsv")
    sentences = list(read_labelled_texts(dev_file).texts)

    rows, commands, cache_from = [], [], args.logits_from
    labels_name = "labels (teacher's vectors)" if args.embeddings == "teacher" else "labels"
    for name in names:
        student = STUDENTS[name]
        distilled_dirs, plain_dirs = [], []
        for seed in seeds:
            distilled = args.out / f"{name}-distilled-seed{seed}"
            plain = args.out / f"{name}-labels-seed{seed}"
            distilled_dirs.append(distilled)
            plain_dirs.append(plain)
            if cache_from is not None:
                copy_logits(cache_from, distilled)  # the same transfer set for every student
            for out, command in (
                (distilled, distill_command(args, student, distilled, data, seed)),
                (plain, labels_command(args, student, plain, data, seed)),
            ):
                commands.append(f"- {out.name}: `{shlex.join(command)}`")
                if args.reuse and (out / "metrics.json").exists():
                    continue  # measured again, not retrained
                torch.set_num_threads(args.train_threads)
                run_command(command)
            cache_from = distilled
        torch.set_num_threads(args.threads)
        for outs, trained_on in ((distilled_dirs, "teacher"), (plain_dirs, labels_name)):
            row = measured_row(args, student, outs, trained_on, sentences)
            rows.append(row)
            print(" | ".join(row), flush=True)

    header = ["student", "trained on", "dev accuracy, best checkpoint", "at the last step",
              "training", "predict, batch 1, ~20 tokens", "stream, per token"]  # fmt: skip
    seed_words = f"mean over seeds {', '.join(map(str, seeds))}" if len(seeds) > 1 else "seed "
    seed_words += "" if len(seeds) > 1 else str(seeds[0])
    body = (
        f"Teacher: {args.teacher}; dev sentences: {len(sentences)}; {args.augment} augmented "
        f"copies per text; {EMBEDDING_WORDS[args.embeddings]}; {args.steps} steps each; "
        f"{seed_words}; training on {args.train_threads} thread(s), latency on {args.threads} "
        f"(first seed's model). {labelling_sentence(cache_from) if cache_from else ''}\n\n"
        + markdown_table(header, rows)
        + "\n\nCommands:\n\n"
        + "\n".join(commands)
        + (f"\n\nNote: {args.note}" if args.note else "")
    )
    print(body)
    if not args.no_record:
        append_section("Distillation on SST-2", body)


if __name__ == "__main__":
    main()
