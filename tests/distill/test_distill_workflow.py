"""``seqlab distill`` end to end on generated reviews: a tiny LSTM teacher is trained (seconds),
distilled into a one-direction LSTM student through the command line, and the student is read
back by ``seqlab eval``, ``seqlab predict`` and ``seqlab.load`` like any sentiment model. Also:
the cached teacher logits against fresh ones, their reuse on resume, and every refused input."""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from torch.testing import assert_close

import seqlab
from _reviews import shuffled_reviews, write_csv
from seqlab import cli
from seqlab.commands import distill as distill_command
from seqlab.data.batching import pad_batch
from seqlab.distill import workflow
from seqlab.distill.settings import DistillSettings
from seqlab.distill.teacher import load_teacher
from seqlab.distill.teacher_logits import teacher_logits
from seqlab.distill.transfer_set import build_transfer_set
from seqlab.errors import SeqlabError
from seqlab.model_dir import TEACHER_LOGITS, TEACHER_LOGITS_RECORD
from seqlab.tasks.configuration import run_config_from_dict
from seqlab.tasks.sentiment.task import sentiment_data

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "model_dirs"
SETTINGS = ["train.warmup_steps=5", "train.eval_every=50", "train.batch_size=16", "train.lr=0.01",
            "train.device=cpu", "data.vocab_size=200", "model.hidden_size=16",
            "model.embed_dim=16"]  # fmt: skip
UNLABELLED = ["the acting was lovely", "so boring and poor", "what a superb ending"]


def _sets(*extra: str) -> list[str]:
    return [arg for setting in (*SETTINGS, *extra) for arg in ("--set", setting)]


def _distill_registered() -> bool:
    subparsers = cli.build_parser()._subparsers
    return subparsers is not None and "distill" in subparsers._group_actions[0].choices  # type: ignore[attr-defined]


def seqlab_main(argv: Sequence[str]) -> int:
    """``seqlab.cli.main(argv)``; until cli.py registers ``distill``, the same dispatch and
    one-line error handling over a parser holding that command alone."""
    if argv[0] != "distill" or _distill_registered():
        return cli.main(list(argv))
    parser = argparse.ArgumentParser(prog="seqlab")
    distill_command.register(parser.add_subparsers())
    args = parser.parse_args(list(argv))
    try:
        return int(args.command(args))
    except (SeqlabError, ValueError) as error:
        print(f"seqlab: error: {error}", file=sys.stderr)
        return 2


def _distill_args(teacher: Path, data: Path, out: Path, *extra: str, steps: int = 200) -> list[str]:
    return ["distill", str(teacher), "--model", "lstm", "--data", str(data), "--steps", str(steps),
            *_sets("model.bidirectional=false"), "--quiet", "--out", str(out), *extra]  # fmt: skip


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("distill")


@pytest.fixture(scope="module")
def data(workdir: Path) -> Path:
    return write_csv(workdir / "reviews.csv", shuffled_reviews(200, seed=0))


@pytest.fixture(scope="module")
def teacher(workdir: Path, data: Path) -> Path:
    out = workdir / "teacher"
    argv = ["train", "sentiment", "--model", "lstm", "--steps", "80", "--data", str(data),
            *_sets(), "--quiet", "--out", str(out)]  # fmt: skip
    assert cli.main(argv) == 0
    return out


@pytest.fixture(scope="module")
def unlabelled(workdir: Path) -> Path:
    path = workdir / "chat.txt"
    path.write_text("\n".join(UNLABELLED) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def student(workdir: Path, teacher: Path, data: Path, unlabelled: Path) -> Path:
    out = workdir / "student"
    argv = _distill_args(teacher, data, out, "--augment", "2", "--unlabelled", str(unlabelled))
    assert seqlab_main(argv) == 0
    return out


def _config(directory: Path) -> dict:
    return json.loads((directory / "config.json").read_text())


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = seqlab_main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_the_student_is_an_ordinary_sentiment_directory(capsys, student: Path) -> None:
    metrics = json.loads((student / "metrics.json").read_text())["metrics"]
    assert metrics["accuracy"] >= 0.9  # the teacher reads these reviews perfectly
    code, out, _ = _run(capsys, "eval", str(student), "--json")
    assert code == 0 and json.loads(out)["accuracy"] == pytest.approx(metrics["accuracy"])
    texts = ["the film was really awful", "the plot is so lovely"]
    code, out, _ = _run(capsys, "predict", str(student), *texts)
    documents = json.loads(out)["documents"]
    assert code == 0 and [doc["sentiment"] for doc in documents] == ["negative", "positive"]
    predictor = seqlab.load(student)
    probabilities = predictor.probabilities(texts)  # (2, C)
    printed = torch.tensor([[doc["confidenceScores"][label] for label in predictor.labels]
                            for doc in documents])  # fmt: skip
    assert_close(printed, probabilities, rtol=0, atol=1e-6)
    stream = predictor.stream()  # one direction: streams token by token
    for word in texts[1].split():
        result = stream.push(word + " ")
    assert result.mode == "incremental" and result.label == "positive"
    assert result.scores["positive"] == pytest.approx(float(probabilities[1, 1]), abs=1e-5)


def test_config_records_the_teacher_and_the_transfer_set(student: Path, teacher: Path) -> None:
    record = _config(student)["artifacts"]["distillation"]
    weights = hashlib.sha256((teacher / "model.safetensors").read_bytes()).hexdigest()
    assert record["teacher"] == {
        "path": str(teacher.resolve()), "task": "sentiment", "family": "lstm",
        "labels": ["negative", "positive"], "weights_sha256": weights,
        "accuracy": json.loads((teacher / "metrics.json").read_text())["metrics"]["accuracy"],
    }  # fmt: skip
    transfer = record["transfer_set"]
    assert transfer["originals"] == 180  # 200 rows, 10% held out for validation
    assert transfer["unlabelled"] == len(UNLABELLED)
    # 2 copies of each, less those equal to their text or to the other copy (a five-word
    # review keeps all its words with probability 0.8^5, and then is not cut with 0.75)
    assert 200 <= transfer["augmented"] <= 360
    assert transfer["total"] == 180 + transfer["augmented"] + len(UNLABELLED)
    assert transfer["augmentation"] == {"augment": 2, "p_mask": 0.1, "p_replace": 0.1,
                                        "p_ngram": 0.25, "max_ngram": 5}  # fmt: skip
    assert record["objective"] == {"loss": "mse", "temperature": 1.0, "alpha": 0.0,
                                   "teacher_batch_size": 64, "embeddings": "teacher"}  # fmt: skip
    cache = json.loads((student / TEACHER_LOGITS_RECORD).read_text())
    assert cache["transfer_set_checksum"] == transfer["checksum"]
    assert cache["teacher_weights_sha256"] == weights


def test_cached_logits_equal_fresh_ones(student: Path, teacher: Path, unlabelled: Path) -> None:
    config = _config(student)
    run = run_config_from_dict({key: config[key] for key in ("task", "data", "model", "train")})
    text_data = sentiment_data(run)
    train = text_data.split("train")
    transfer = build_transfer_set(
        train.texts, text_data.labels.encode(train.labels), unlabelled=UNLABELLED,
        settings=DistillSettings(augment=2), seed=run.train.seed,
    )  # fmt: skip
    recorded = config["artifacts"]["distillation"]["transfer_set"]
    assert transfer.checksum() == recorded["checksum"]
    assert transfer.augmented == recorded["augmented"]
    loaded = load_teacher(teacher)
    fresh = teacher_logits(loaded, transfer.texts, batch_size=64)  # (N, C)
    cached = load_file(str(student / TEACHER_LOGITS))["logits"]
    assert_close(cached, fresh, rtol=0, atol=0)
    # Sorting by length and padding change nothing: each text alone gives the same logits.
    encoder_data = loaded.task.text_data
    for index in (0, 200, len(transfer) - 1):
        ids = encoder_data.encode([transfer.texts[index]]).ids
        batch = pad_batch(ids, pad_id=encoder_data.encoder.pad_id)
        with torch.no_grad():
            alone = loaded.model(batch.ids, batch.lengths)[0]  # (C,)
        assert_close(cached[index], alone, rtol=1e-5, atol=1e-5)


def test_resume_reuses_the_cached_logits_and_recomputes_stale_ones(
    monkeypatch, workdir: Path, student: Path, teacher: Path, data: Path, unlabelled: Path
) -> None:
    # A run stopped after labelling, before its first checkpoint: only the cache is there.
    out = workdir / "resumed"
    out.mkdir()
    for name in (TEACHER_LOGITS, TEACHER_LOGITS_RECORD):
        shutil.copy(student / name, out / name)
    calls: list[int] = []

    def counted(*args, **kwargs):
        calls.append(1)
        return teacher_logits(*args, **kwargs)

    monkeypatch.setattr(workflow, "teacher_logits", counted)
    extra = ("--augment", "2", "--unlabelled", str(unlabelled), "--resume")
    assert seqlab_main(_distill_args(teacher, data, out, *extra, steps=10)) == 0
    assert calls == [] and (out / "model.safetensors").exists()
    # Another transfer set (one copy instead of two): the cache no longer applies.
    other = workdir / "other"
    other.mkdir()
    for name in (TEACHER_LOGITS, TEACHER_LOGITS_RECORD):
        shutil.copy(student / name, other / name)
    assert seqlab_main(_distill_args(teacher, data, other, "--augment", "1", steps=10)) == 0
    assert calls == [1]
    record = json.loads((other / TEACHER_LOGITS_RECORD).read_text())
    transfer = _config(other)["artifacts"]["distillation"]["transfer_set"]
    assert record["transfer_set_checksum"] == transfer["checksum"]


def _refused(capsys, *argv: str) -> str:
    code, _, err = _run(capsys, *argv)
    assert code == 2 and err.count("\n") == 1 and err.startswith("seqlab: error: "), err
    return err


def test_bad_teachers_are_refused(capsys, workdir: Path, data: Path) -> None:
    out = str(workdir / "never")
    missing = _refused(capsys, *_distill_args(workdir / "nowhere", data, Path(out)))
    assert "teacher: model directory" in missing and "nowhere' does not exist" in missing
    assert not (workdir / "never").exists()
    for task in ("memory", "forecasting"):
        err = _refused(capsys, *_distill_args(FIXTURES / task, data, Path(out)))
        assert f"is a '{task}' model; a teacher must be a sentiment classifier" in err
    not_a_model = workdir / "empty-folder"
    not_a_model.mkdir()
    err = _refused(capsys, *_distill_args(not_a_model, data, Path(out)))
    assert "has no config.json" in err


def test_teacher_labels_must_equal_the_data_labels(capsys, workdir: Path, teacher: Path) -> None:
    rows = [(text, "pos" if label == "positive" else "neg")
            for text, label in shuffled_reviews(60, seed=1)]  # fmt: skip
    other = write_csv(workdir / "other_labels.csv", rows)
    err = _refused(capsys, *_distill_args(teacher, other, workdir / "never"))
    assert "has labels negative, positive but the data" in err
    assert "has labels neg, pos" in err and "other_labels.csv" in err


def test_bad_options_are_refused(capsys, workdir: Path, teacher: Path, data: Path) -> None:
    out = workdir / "never"
    for family in ("minilm", "cnn"):
        args = _distill_args(teacher, data, out)
        args[args.index("--model") + 1] = family
        assert f"--model '{family}' cannot be a student" in _refused(capsys, *args)
    err = _refused(capsys, *_distill_args(teacher, data, out, "--augment", "-1"))
    assert "--augment (-1) must be at least 0" in err
    bad = workdir / "bad.txt"
    bad.write_bytes(b"good line\n\xfe\xfe\n")
    err = _refused(capsys, *_distill_args(teacher, data, out, "--unlabelled", str(bad)))
    assert f"{bad}:2: bytes that are not UTF-8" in err
    err = _refused(capsys, *_distill_args(teacher, data, out, "--loss", "l1"))
    assert "distill.loss" in err
    err = _refused(capsys, *_distill_args(teacher, data, out, "--embeddings", "glove"))
    assert "distill.embeddings: 'glove' is not one of 'own', 'teacher'" in err


def test_a_student_can_start_from_the_teacher_s_vocabulary(
    capsys, workdir: Path, teacher: Path, data: Path
) -> None:
    out = workdir / "student-teacher-embeddings"
    # model.embed_dim=8 is replaced by the teacher's width (16), and data.vocab_size=60 by the
    # teacher's tokenizer (138 tokens): the vocabulary and vectors are the teacher's.
    argv = _distill_args(teacher, data, out, "--embeddings", "teacher", "--set",
                         "model.embed_dim=8", "--set", "data.vocab_size=60", steps=40)  # fmt: skip
    assert seqlab_main(argv) == 0
    config = _config(out)
    assert config["model"]["embed_dim"] == _config(teacher)["model"]["embed_dim"] == 16
    assert config["artifacts"]["distillation"]["objective"]["embeddings"] == "teacher"
    assert (out / "tokenizer.json").read_bytes() == (teacher / "tokenizer.json").read_bytes()
    predictor = seqlab.load(out)
    assert predictor.predict(["a superb film"])[0]["sentiment"] in ("negative", "positive")
    # A Transformer student must already have the teacher's width.
    args = ["distill", str(teacher), "--model", "transformer", "--data", str(data),
            "--embeddings", "teacher", "--set", "model.d_model=32", "--set", "model.num_heads=2",
            "--quiet", "--out", str(workdir / "never")]  # fmt: skip
    err = _refused(capsys, *args)
    assert "the teacher's 16-wide token vectors, but model.d_model is 32" in err
    assert "--set model.d_model=16" in err


def test_alpha_one_learns_the_labels_alone_without_labelling(
    monkeypatch, workdir: Path, teacher: Path, data: Path
) -> None:
    def never(*args, **kwargs):
        raise AssertionError("the teacher labelled a transfer set whose logits weigh nothing")

    monkeypatch.setattr(workflow, "teacher_logits", never)
    out = workdir / "labels-only"
    argv = _distill_args(teacher, data, out, "--alpha", "1", "--embeddings", "own", steps=30)
    assert seqlab_main(argv) == 0
    assert not (out / TEACHER_LOGITS).exists()
    # The same student trained by 'seqlab train' on the labels (with a tokenizer and embeddings
    # of its own): the same batches, the same cross-entropy, so the same weights.
    plain = workdir / "labels-only-plain"
    argv = ["train", "sentiment", "--model", "lstm", "--steps", "30", "--data", str(data),
            *_sets("model.bidirectional=false"), "--quiet", "--out", str(plain)]  # fmt: skip
    assert cli.main(argv) == 0
    distilled, trained = (
        load_file(str(out / "model.safetensors")),
        load_file(str(plain / "model.safetensors")),
    )
    assert distilled.keys() == trained.keys()
    for name, tensor in trained.items():
        assert_close(distilled[name], tensor, rtol=1e-5, atol=1e-6, msg=name)


def test_students_of_other_seeds_share_one_transfer_set(
    monkeypatch, workdir: Path, teacher: Path, data: Path
) -> None:
    # With a validation file, the training rows do not depend on the seed; a student of seed 7
    # given --augment-seed 0 then has seed 0's transfer set, and seed 0's cached logits serve it.
    val = write_csv(workdir / "val.csv", shuffled_reviews(30, seed=3))
    first, second = workdir / "seed-0", workdir / "seed-7"
    common = ("--val-data", str(val), "--augment", "2")
    assert seqlab_main(_distill_args(teacher, data, first, *common, steps=10)) == 0
    second.mkdir()
    for name in (TEACHER_LOGITS, TEACHER_LOGITS_RECORD):
        shutil.copy(first / name, second / name)
    monkeypatch.setattr(workflow, "teacher_logits", None)  # calling it would fail
    extra = (*common, "--augment-seed", "0", "--seed", "7")
    assert seqlab_main(_distill_args(teacher, data, second, *extra, steps=10)) == 0
    config = _config(second)
    assert config["train"]["seed"] == 7
    transfer = config["artifacts"]["distillation"]["transfer_set"]
    assert transfer["seed"] == 0 and transfer["augmented"] > 0
    assert (
        transfer["checksum"]
        == _config(first)["artifacts"]["distillation"]["transfer_set"]["checksum"]
    )
    # A resumed run draws its copies with the recorded seed again, not train.seed (else its
    # transfer set would differ and the resume be refused).
    with pytest.warns(RuntimeWarning, match="steps 10 -> 12"):
        assert seqlab_main(_distill_args(teacher, data, second, "--resume", steps=12)) == 0


def test_own_embeddings_train_a_tokenizer_of_the_student_s_own(
    workdir: Path, teacher: Path, data: Path
) -> None:
    # The module's teacher has a 138-token vocabulary; a student of its own gets data.vocab_size.
    out = workdir / "student-own"
    argv = _distill_args(teacher, data, out, "--embeddings", "own", "--set",
                         "data.vocab_size=60", steps=10)  # fmt: skip
    assert seqlab_main(argv) == 0
    vocabulary = json.loads((out / "tokenizer.json").read_text())["model"]["vocab"]
    teacher_vocabulary = json.loads((teacher / "tokenizer.json").read_text())["model"]["vocab"]
    assert len(vocabulary) == 60 < len(teacher_vocabulary) == 138
    assert _config(out)["model"]["embed_dim"] == 16  # the student's own setting
