"""Streaming classification equals whole-text prediction at every prefix.

Small models are trained once per module through the command line (`seqlab train sentiment`) on a
generated CSV, one per kind of streaming: unidirectional LSTM / GRU / RNN (incremental, one per
pooling: last, mean, max), a bidirectional LSTM and a Transformer (re-encode). Every push of a
text, word by word and character by character, must give the scores that
``SentimentPredictor.probabilities([text so far])`` gives for the same text. The models are trained
with ``data.max_length=8`` and the texts are longer, so both paths also have to truncate the same
way.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch.testing import assert_close

import seqlab
from _reviews import grouped_reviews, write_csv
from seqlab import cli
from seqlab.infer.streaming import StreamResult

MAX_LENGTH = 8
LONG_TEXT = (
    "the movie was really wonderful, but the acting felt so dreadful "
    "and the ending was truly boring zebra!"
)
SHORT_TEXT = "this film seemed quite lovely"

RECURRENT = ["model.hidden_size=24", "model.embed_dim=24"]
MODELS = {
    "lstm-last": ("lstm", [*RECURRENT, "model.bidirectional=false", "model.pooling=last"]),
    "gru-mean": ("gru", [*RECURRENT, "model.bidirectional=false", "model.pooling=mean"]),
    "rnn-max": ("rnn", [*RECURRENT, "model.bidirectional=false", "model.pooling=max"]),
    "bilstm-max": ("lstm", [*RECURRENT, "model.bidirectional=true", "model.pooling=max"]),
    "transformer-cls": (
        "transformer",
        ["model.d_model=24", "model.num_heads=2", "model.num_layers=1", "model.dim_feedforward=48"],
    ),
}
INCREMENTAL = {"lstm-last", "gru-mean", "rnn-max"}


@pytest.fixture(scope="module")
def reviews_csv(tmp_path_factory) -> Path:
    return write_csv(tmp_path_factory.mktemp("stream-data") / "reviews.csv", grouped_reviews(200))


@pytest.fixture(scope="module", params=sorted(MODELS))
def trained(request, reviews_csv, tmp_path_factory):
    """(name, predictor) for a model trained once per module."""
    name = request.param
    family, settings = MODELS[name]
    out = tmp_path_factory.mktemp(f"stream-{name}") / "model"
    overrides = [
        "train.warmup_steps=5",
        "train.eval_every=30",
        "train.batch_size=16",
        "train.device=cpu",
        "data.vocab_size=200",
        f"data.max_length={MAX_LENGTH}",
        *settings,
    ]
    code = cli.main(
        [
            "train",
            "sentiment",
            "--model",
            family,
            "--preset",
            "cpu-small",
            "--steps",
            "30",
            "--data",
            str(reviews_csv),
            *(arg for o in overrides for arg in ("--set", o)),
            "--quiet",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    return name, seqlab.load(out)


def _assert_matches_whole_text(result: StreamResult, predictor, text: str, mode: str) -> None:
    assert result.text == text
    assert result.mode == mode
    ids = predictor.task_object.text_data.encode([text]).ids
    assert result.tokens == len(ids[0]) <= MAX_LENGTH
    expected = predictor.probabilities([text])[0]  # (C,)
    got = torch.tensor([result.scores[label] for label in predictor.labels])
    assert list(result.scores) == predictor.labels
    assert_close(got, expected, rtol=0, atol=1e-5)
    assert result.label == predictor.labels[int(expected.argmax())]


def _mode(name: str) -> str:
    return "incremental" if name in INCREMENTAL else "re-encode"


def test_word_by_word_equals_whole_text_at_every_prefix(trained):
    name, predictor = trained
    stream = predictor.stream()
    so_far, new_tokens, results = "", 0, []
    for word in LONG_TEXT.split(" "):
        piece = word + " "
        so_far += piece
        result = stream.push(piece)
        _assert_matches_whole_text(result, predictor, so_far, _mode(name))
        new_tokens += result.new_tokens
        results.append(result)
    assert results[-1].tokens == MAX_LENGTH  # the text is longer than max_length
    assert new_tokens == MAX_LENGTH  # no token is counted twice, none after truncation
    # Scores change while the text fits, then stay fixed: later words are cut off in both paths.
    assert results[0].scores != results[3].scores
    truncated = [r for r in results if r.tokens == MAX_LENGTH]
    assert len(truncated) >= 5
    for result in truncated[1:]:
        assert result.scores == pytest.approx(truncated[0].scores, abs=1e-6)


def test_character_by_character_equals_whole_text(trained):
    name, predictor = trained
    stream = predictor.stream()
    so_far = ""
    for character in LONG_TEXT[:70]:
        so_far += character
        result = stream.push(character)
        _assert_matches_whole_text(result, predictor, so_far, _mode(name))


def test_reset_starts_over(trained):
    name, predictor = trained
    stream = predictor.stream()
    stream.push("the plot was awful and ")
    stream.push("boring ")
    stream.reset()
    assert stream.text == ""
    result = stream.push(SHORT_TEXT)
    _assert_matches_whole_text(result, predictor, SHORT_TEXT, _mode(name))
    short_ids = predictor.task_object.text_data.encode([SHORT_TEXT]).ids[0]
    assert result.new_tokens == result.tokens == len(short_ids)


def test_whitespace_only_text_gives_uniform_scores(trained):
    _, predictor = trained
    result = predictor.stream().push("  ")
    assert result.tokens == 0 and result.new_tokens == 0
    assert result.scores == {label: 1.0 / len(predictor.labels) for label in predictor.labels}


def test_stream_mode_follows_the_model(trained):
    name, predictor = trained
    assert predictor.model.streams_incrementally is (name in INCREMENTAL)
    config = predictor.task_object.run.model
    if name in INCREMENTAL:
        assert config.bidirectional is False
        assert config.pooling == name.split("-")[1]  # the setting reached the trained model


def test_incremental_stream_never_re_reads_the_prefix(trained):
    """Word by word, the tokenizer sees each committed character once (plus the unfinished last
    word), so the work per push does not grow with the text: O(1) per token, not O(n)."""
    name, predictor = trained
    if name not in INCREMENTAL:
        pytest.skip("re-encoding streams read the prefix by design")
    stream = predictor.stream()
    seen: list[str] = []
    tokenize = stream.tokenize
    stream.tokenize = lambda text: seen.append(text) or tokenize(text)
    text = "the plot was awful and boring but the acting was great "
    for word in text.split(" ")[:-1]:
        seen.clear()
        stream.push(word + " ")
        assert "".join(seen) == word + " "  # the newly committed word and an empty tail
