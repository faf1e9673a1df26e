"""`seqlab train sentiment`, `seqlab eval`, `seqlab predict` and `seqlab stream`, end to end.

One small LSTM is trained once for the module on a generated CSV (200 rows, templates with
positive and negative adjectives; 120 steps). The commands run in-process through
``seqlab.cli.main`` (its return value is the exit code), except ``seqlab stream``, which reads its
standard input from a pipe and so runs as a subprocess. Numbers printed by the commands are checked
against the same model used directly through ``seqlab.load``.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch.testing import assert_close

import seqlab
from _reviews import shuffled_reviews, write_csv
from seqlab import cli

TRAIN_SETTINGS = [
    "train.warmup_steps=5",
    "train.eval_every=30",
    "train.batch_size=16",
    "train.device=cpu",
    "data.vocab_size=200",
    "model.hidden_size=32",
    "model.embed_dim=32",
]


def _train_args(data: Path, out: Path, *extra: str) -> list[str]:
    return [
        "train",
        "sentiment",
        "--model",
        "lstm",
        "--preset",
        "cpu-small",
        "--steps",
        "120",
        "--data",
        str(data),
        *(arg for s in TRAIN_SETTINGS for arg in ("--set", s)),
        "--quiet",
        "--out",
        str(out),
        *extra,
    ]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("sentiment-cli")


@pytest.fixture(scope="module")
def model_dir(workdir) -> Path:
    data = write_csv(workdir / "reviews.csv", shuffled_reviews(200, seed=0))
    out = workdir / "model"
    assert cli.main(_train_args(data, out)) == 0
    return out


@pytest.fixture(scope="module")
def predictor(model_dir):
    return seqlab.load(model_dir)


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()  # drop anything printed before
    code = cli.main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err  # one line, no traceback
    assert lines[0].startswith("seqlab: error: ")
    return lines[0]


# ---- the model directory ----


def test_model_directory_holds_every_file(model_dir):
    for name in ("config.json", "model.safetensors", "tokenizer.json", "metrics.json", "log.jsonl"):
        assert (model_dir / name).is_file(), name
    config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    assert config["task"] == "sentiment"
    assert config["model"]["family"] == "lstm"
    assert config["artifacts"]["labels"] == ["negative", "positive"]
    record = json.loads((model_dir / "metrics.json").read_text(encoding="utf-8"))
    metrics = record["metrics"]
    for key in ("accuracy", "macro_f1", "loss", "per_class", "confusion_matrix"):
        assert key in metrics, key
    assert set(metrics["per_class"]) == {"negative", "positive"}
    matrix = metrics["confusion_matrix"]["rows_true_columns_predicted"]
    assert sum(map(sum, matrix)) == metrics["examples"] == 20  # round(200 * 0.1) held out
    assert metrics["accuracy"] == pytest.approx((matrix[0][0] + matrix[1][1]) / 20, abs=1e-12)
    assert metrics["accuracy"] >= 0.7  # 120 steps learn the adjectives
    lines = (model_dir / "log.jsonl").read_text(encoding="utf-8").splitlines()
    assert lines and all(isinstance(json.loads(line), dict) for line in lines)


def test_training_excludes_the_held_out_rows(model_dir):
    config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    assert config["artifacts"]["train_examples"] == 200 - 20


# ---- seqlab eval ----


def test_eval_json_is_one_object_matching_metrics_json(model_dir, predictor, capsys):
    code, out, _ = _run(capsys, "eval", str(model_dir), "--json")
    assert code == 0
    result = json.loads(out)  # the whole output is one JSON object
    for key in ("accuracy", "macro_f1", "loss", "per_class", "confusion_matrix"):
        assert key in result, key
    saved = json.loads((model_dir / "metrics.json").read_text(encoding="utf-8"))["metrics"]
    assert result["accuracy"] == saved["accuracy"]
    assert result["macro_f1"] == saved["macro_f1"]
    assert result["loss"] == pytest.approx(saved["loss"], rel=1e-6)
    # Independently: the predictor's labels on the held-out rows.
    test = predictor.task_object.text_data.split("test")
    guesses = [doc["sentiment"] for doc in predictor.predict(list(test.texts))]
    right = sum(guess == truth for guess, truth in zip(guesses, test.labels, strict=True))
    assert result["accuracy"] == pytest.approx(right / len(test), abs=1e-12)


def test_eval_table_shows_the_metrics(model_dir, capsys):
    code, out, _ = _run(capsys, "eval", str(model_dir))
    assert code == 0
    saved = json.loads((model_dir / "metrics.json").read_text(encoding="utf-8"))["metrics"]
    assert "accuracy" in out and f"{saved['accuracy']:.4f}" in out
    assert "confusion_matrix" in out


def test_eval_on_another_file(model_dir, predictor, workdir, capsys):
    rows = shuffled_reviews(30, seed=7)
    other = write_csv(workdir / "other.csv", rows)
    code, out, _ = _run(capsys, "eval", str(model_dir), "--data", str(other), "--json")
    assert code == 0
    result = json.loads(out)
    assert result["examples"] == 30
    guesses = [doc["sentiment"] for doc in predictor.predict([text for text, _ in rows])]
    right = sum(guess == label for guess, (_, label) in zip(guesses, rows, strict=True))
    assert result["accuracy"] == pytest.approx(right / 30, abs=1e-12)
    support = {label: result["per_class"][label]["support"] for label in ("negative", "positive")}
    assert support == {"negative": 15, "positive": 15}


# ---- seqlab predict ----


def test_predict_prints_azure_shaped_documents(model_dir, predictor, capsys):
    texts = ["the movie was really wonderful", "the plot felt so dreadful"]
    code, out, _ = _run(capsys, "predict", str(model_dir), *texts)
    assert code == 0
    documents = json.loads(out)["documents"]
    assert [doc["id"] for doc in documents] == ["0", "1"]
    probabilities = predictor.probabilities(texts)  # (N, C)
    for doc, row in zip(documents, probabilities, strict=True):
        scores = doc["confidenceScores"]
        assert list(scores) == ["negative", "positive"]
        assert math.isclose(sum(scores.values()), 1.0, abs_tol=1e-5)
        assert doc["sentiment"] == max(scores, key=scores.__getitem__)
        assert_close(torch.tensor(list(scores.values())), row, rtol=0, atol=1e-6)
    # The model learned the adjectives: these two are clear-cut.
    assert [doc["sentiment"] for doc in documents] == ["positive", "negative"]


def test_predict_table_format(model_dir, predictor, capsys):
    texts = ["this film is good", "the story was bad"]
    code, out, _ = _run(capsys, "predict", str(model_dir), *texts, "--format", "table")
    assert code == 0
    for text, doc in zip(texts, predictor.predict(texts), strict=True):
        assert text in out
        for score in doc["confidenceScores"].values():
            assert f"{score:.3f}" in out
    assert "negative" in out and "positive" in out
    with pytest.raises(json.JSONDecodeError):
        json.loads(out)


def test_predict_reads_texts_from_a_file(model_dir, predictor, workdir, capsys):
    texts = ["the acting was superb", "the ending is poor", "this film felt lovely"]
    path = workdir / "texts.txt"
    path.write_text(texts[0] + "\n\n" + "\n".join(texts[1:]) + "\n", encoding="utf-8")
    code, out, _ = _run(capsys, "predict", str(model_dir), "--file", str(path))
    assert code == 0
    assert json.loads(out)["documents"] == predictor.predict(texts)


def test_predict_without_texts_is_a_one_line_error(model_dir, capsys):
    code, out, err = _run(capsys, "predict", str(model_dir))
    assert code == 2
    assert out == ""
    assert "no texts given" in _error_line(err)


# ---- seqlab stream ----


def _stream(model_dir: Path, text: str, *options: str) -> list[str]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    completed = subprocess.run(
        [sys.executable, "-m", "seqlab", "stream", str(model_dir), *options],
        input=text,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    return completed.stdout.splitlines()


def test_stream_prints_one_line_per_word_and_json_lines_parse(model_dir, predictor):
    text = "the movie was really great\nthe plot felt so boring\n"
    lines = _stream(model_dir, text, "--json")
    words = text.split()
    assert len(lines) == len(words) == 10  # one line per word
    updates = [json.loads(line) for line in lines]
    so_far = ""
    for word, update in zip(
        [
            "the ",
            "movie ",
            "was ",
            "really ",
            "great\n",
            "the ",
            "plot ",
            "felt ",
            "so ",
            "boring\n",
        ],
        updates,
        strict=True,
    ):
        so_far += word
        assert update["text"] == so_far
        expected = predictor.probabilities([so_far])[0]
        scores = update["confidenceScores"]
        assert_close(
            torch.tensor([scores["negative"], scores["positive"]]), expected, rtol=0, atol=1e-5
        )
        assert update["sentiment"] == max(scores, key=scores.__getitem__)
        assert update["tokens"] == len(predictor.task_object.text_data.encode([so_far]).ids[0])
        assert update["mode"] == "re-encode"  # the preset's bidirectional LSTM
        assert update["ms_per_token"] >= 0


def test_stream_empty_line_resets_with_piped_input(model_dir):
    lines = _stream(model_dir, "the movie was great\n\nso boring\n", "--json")
    updates = [json.loads(line) for line in lines]
    assert [update["text"] for update in updates][-2:] == ["so ", "so boring\n"]
    assert updates[-2]["tokens"] == 1


def test_stream_plain_lines(model_dir):
    lines = _stream(model_dir, "this film was truly awful\n")
    assert len(lines) == 5
    assert all(("negative" in line or "positive" in line) and "tokens]" in line for line in lines)
    assert lines[-1].rstrip().endswith("this film was truly awful")
    assert "[  5 tokens]" in lines[-1]


# ---- bad training files ----


def test_training_file_without_usable_rows_is_a_one_line_error_naming_it(workdir, capsys):
    bad = write_csv(
        workdir / "all_bad.csv",
        [("the movie was good", ""), ("", "positive"), ("the plot was bad", "")],
    )
    code, _, err = _run(capsys, *_train_args(bad, workdir / "never"))
    assert code == 2
    line = _error_line(err)
    assert str(bad) in line
    assert "no usable rows" in line
    assert not (workdir / "never" / "model.safetensors").exists()


def test_strict_training_stops_at_the_bad_row_naming_file_and_line(workdir, capsys):
    rows = shuffled_reviews(40, seed=3)
    rows[2] = (rows[2][0], "")  # line 4 of the file (line 1 is the header)
    data = write_csv(workdir / "one_bad.csv", rows)
    code, _, err = _run(capsys, *_train_args(data, workdir / "strict-out", "--strict"))
    assert code == 2
    line = _error_line(err)
    assert f"{data}:4:" in line
    assert "missing label" in line


# ---- bad input, said with file and line ----


def test_training_says_every_skipped_row_with_its_line_and_records_them(workdir, capsys):
    rows = shuffled_reviews(60, seed=4)
    data = write_csv(workdir / "some_bad.csv", rows)
    lines = data.read_text(encoding="utf-8").splitlines()
    for line in (3, 6, 9, 12, 15, 18, 21):  # seven rows without a label
        lines[line - 1] = lines[line - 1].rsplit(",", 1)[0] + ","
    data.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = workdir / "skipped-out"
    code, _, err = _run(capsys, *_train_args(data, out, "--steps", "8"))
    assert code == 0
    said = [line for line in err.splitlines() if str(data) in line]
    assert said[0] == f"{data}: 7 rows skipped (not used), 53 rows read"
    assert said[1] == f"  {data}:3: missing label ('label'); add the row's label"
    assert [line.split(":")[1] for line in said[1:6]] == ["3", "6", "9", "12", "15"]
    assert said[6].startswith(f"  {data}: and 2 more rows skipped")
    metrics = json.loads((out / "metrics.json").read_text(encoding="utf-8"))["metrics"]
    skipped = metrics["data"]["skipped_rows"]["train"]
    assert skipped["total"] == 7
    assert [row["line"] for row in skipped["first"]] == [3, 6, 9, 12, 15, 18, 21]
    assert metrics["data"]["source"]["train"] == str(data)


def test_training_on_one_label_is_a_one_line_error_naming_file_and_label(workdir, capsys):
    data = write_csv(workdir / "only_pos.csv", [(f"good film {i}", "pos") for i in range(30)])
    code, _, err = _run(capsys, *_train_args(data, workdir / "one-label-out"))
    assert code == 2
    line = _error_line(err)
    assert f"{data}: every usable row has the label 'pos' (30 rows)" in line
    assert not (workdir / "one-label-out" / "model.safetensors").exists()


def test_eval_data_with_bad_rows_says_them_on_stderr_and_in_the_json(model_dir, workdir, capsys):
    rows = shuffled_reviews(30, seed=7)
    other = write_csv(workdir / "other_bad.csv", [*rows[:3], ("meh", "neutral"), *rows[3:]])
    code, out, err = _run(capsys, "eval", str(model_dir), "--data", str(other), "--json")
    assert code == 0
    assert err.splitlines() == [
        f"{other}: 1 row skipped (not used), 30 rows read",
        f"  {other}:5: unknown label 'neutral' (the model knows: negative, positive); fix the "
        "label or retrain with this label in the training data",
    ]
    result = json.loads(out)
    assert result["examples"] == 30 and result["skipped_rows"] == 1
    assert result["data"]["skipped_rows"] == {
        "test": {
            "total": 1,
            "first": [
                {
                    "line": 5,
                    "reason": "unknown label 'neutral' (the model knows: negative, positive)",
                }  # fmt: skip
            ],
        }
    }


def test_predict_file_with_bytes_not_utf8_is_an_error_naming_the_line(model_dir, workdir, capsys):
    path = workdir / "latin1.txt"
    path.write_bytes(b"the movie was good\n\ncaf\xe9 was awful\n")
    code, out, err = _run(capsys, "predict", str(model_dir), "--file", str(path))
    assert code == 2 and out == ""
    assert _error_line(err) == (
        f"seqlab: error: {path}:3: bytes that are not UTF-8 (at column 4); save the file as UTF-8"
    )


def test_predict_warns_of_texts_past_max_chars_naming_them(model_dir, predictor, workdir, capsys):
    long_text = "the movie was good " * 6_000  # 114,000 characters
    path = workdir / "long.txt"
    path.write_text("the plot was bad\n" + long_text + "\n", encoding="utf-8")
    code, out, err = _run(capsys, "predict", str(model_dir), "a fine film", "--file", str(path))
    assert code == 0
    assert err.splitlines() == [
        f"seqlab predict: {path}:2: a text of 114,000 characters, read up to its first "
        "100,000 (the model's data.max_chars)"
    ]
    documents = json.loads(out)["documents"]
    assert len(documents) == 3
    expected = predictor.predict([long_text[:100_000]])[0]
    assert documents[2]["confidenceScores"] == expected["confidenceScores"]


def test_stream_goes_on_after_bytes_that_are_not_utf8_naming_the_line(model_dir):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    completed = subprocess.run(
        [sys.executable, "-m", "seqlab", "stream", str(model_dir), "--json"],
        input=b"the movie was great\n\nthis \xff film\xe2\x82 was awful\n",
        capture_output=True,
        timeout=120,
        env=env,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stderr.decode().splitlines() == [
        "seqlab stream: standard input line 3: bytes that are not UTF-8, read as U+FFFD; send "
        "UTF-8 text"
    ]
    updates = [json.loads(line) for line in completed.stdout.decode().splitlines()]
    assert updates[-1]["text"] == "this \ufffd film\ufffd was awful\n"
    assert len(updates) == 4 + 5  # one per word of both texts ("\ufffd" is a word)
