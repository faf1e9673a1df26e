"""Distillation on SST-2: recurrent students trained on a teacher's logits against the same students
trained on the labels alone, at the same budget.

For each student (``lstm``: one direction, 128 units, streams one recurrent step per token;
``bilstm``: the cpu-small BiLSTM) the script runs, and prints beside its row:

- ``seqlab distill TEACHER --model lstm --preset cpu-small ... --augment N`` (Tang et al., 2019:
  the teacher labels the training texts and N augmented copies of each once; the student learns
  the teacher's logits), and
- ``seqlab train sentiment`` with the same student settings, step budget and batch size, on the
  labels alone;

then measures each model directory: SST-2 dev accuracy (872 sentences, the task's reported split),
the engine's training seconds (metrics.json), batch-1 ``predict`` latency on dev sentences of about
20 tokens, and the streaming cost per token (benchmarks/sentiment.py's measurements). The
teacher's time to label the transfer set is reported once: the first student labels it and the
other students reuse its cached logits (the transfer set does not depend on the student).

Targets (issue 18, with the cpu-small MiniLM as teacher): the one-direction LSTM at least 88.0%,
batch-1 predict under 1.5 ms and streaming under 0.5 ms per token; the BiLSTM at least 88.5%,
predict under 3 ms; the whole workflow under 60 minutes of CPU.

Usage: python benchmarks/distill.py --teacher DIR [--students lstm,bilstm] [--augment 4]
       [--steps 3000] [--set KEY=VALUE ...] [--train-rows N] [--dev-rows N]
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


def distill_command(args: argparse.Namespace, student: Student, out: Path, data: list[str]):
    threads = f"train.threads={args.train_threads}"
    sets = [arg for setting in args.overrides for arg in ("--set", setting)]
    return ["seqlab", "distill", str(args.teacher), *student.arguments, *data,
            "--augment", str(args.augment), "--steps", str(args.steps), *sets,
            "--set", threads, "--out", str(out), "--quiet"]  # fmt: skip


def labels_command(args: argparse.Namespace, student: Student, out: Path, data: list[str]):
    threads = f"train.threads={args.train_threads}"
    sets = [arg for setting in args.overrides for arg in ("--set", setting)]
    return ["seqlab", "train", "sentiment", *student.arguments, *data, "--steps", str(args.steps),
            *sets, "--set", threads, "--out", str(out), "--quiet"]  # fmt: skip


def measured_row(args, student: Student, out: Path, trained_on: str, sentences: list[str]):
    record = json.loads((out / "metrics.json").read_text())
    accuracy = record["metrics"]["accuracy"]
    predictor = seqlab.load(out)
    latency, samples = predict_latency(predictor, sentences, repeats=args.repeats)
    per_token, mode = stream_cost(predictor, sentences, count=min(100, len(sentences)))
    verdict = ""
    if trained_on == "teacher":
        verdict = " (meets)" if accuracy >= student.target else f" (target {student.target:.1%})"
    return [
        student.what,
        trained_on,
        f"{accuracy:.2%}{verdict}",
        f"{record['training']['seconds'] / 60:.1f} min ({record['training']['steps']} steps)",
        f"{latency * 1e3:.2f} ms ({samples})",
        f"{per_token * 1e3:.3f} ms ({mode})",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--teacher", type=Path, required=True, help="a sentiment model directory")
    parser.add_argument("--students", default="lstm,bilstm", help="default: lstm,bilstm")
    parser.add_argument("--augment", type=int, default=4, help="copies per text (default 4)")
    parser.add_argument("--steps", type=positive_int, default=3000, help="budget (default 3000)")
    parser.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
        help="a student setting for both runs of each student, e.g. train.warmup_steps=10",
    )  # fmt: skip
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
    data = subset_files(args.out, args.train_rows, args.dev_rows)
    dev_file = Path(data[3]) if data else resolve_file("sst2", "dev.tsv")
    sentences = list(read_labelled_texts(dev_file).texts)

    rows, commands, labelling, cache_from = [], [], "", None
    for name in names:
        student = STUDENTS[name]
        distilled, plain = args.out / f"{name}-distilled", args.out / f"{name}-labels"
        if cache_from is not None and not distilled.exists():
            distilled.mkdir(parents=True)  # the same transfer set: its logits are reused
            for file in (TEACHER_LOGITS, TEACHER_LOGITS_RECORD):
                shutil.copy(cache_from / file, distilled / file)
        for out, command in ((distilled, distill_command(args, student, distilled, data)),
                             (plain, labels_command(args, student, plain, data))):  # fmt: skip
            commands.append(f"- {out.name}: `{shlex.join(command)}`")
            if args.reuse and (out / "metrics.json").exists():
                continue  # measured again, not retrained
            torch.set_num_threads(args.train_threads)
            run_command(command)
        if cache_from is None:
            cache_from = distilled
            cache = json.loads((distilled / TEACHER_LOGITS_RECORD).read_text())
            transfer = json.loads((distilled / "config.json").read_text())["artifacts"][
                "distillation"
            ]["transfer_set"]
            labelling = (
                f"The teacher labelled the transfer set of {transfer['total']:,} texts "
                f"({transfer['originals']:,} training texts, {transfer['augmented']:,} augmented "
                f"copies) in {cache['seconds']:.1f} s "
                f"({cache['seconds'] / transfer['total'] * 1e3:.1f} ms a text)."
            )
        torch.set_num_threads(args.threads)
        for out, trained_on in ((distilled, "teacher"), (plain, "labels")):
            row = measured_row(args, student, out, trained_on, sentences)
            rows.append(row)
            print(" | ".join(row), flush=True)

    header = ["student", "trained on", "dev accuracy", "training", "predict, batch 1, ~20 tokens",
              "stream, per token"]  # fmt: skip
    body = (
        f"Teacher: {args.teacher}; dev sentences: {len(sentences)}; {args.augment} augmented "
        f"copies per text; {args.steps} steps each; training on {args.train_threads} thread(s), "
        f"latency on {args.threads}. {labelling}\n\n"
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
