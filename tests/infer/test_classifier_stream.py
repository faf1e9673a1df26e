"""ClassifierStream over any StreamableClassifier: a small hand-made classifier whose logits are
word counts, so every score is known in closed form (softmax of the counts), and the library's
own classifiers satisfy the protocol.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from seqlab.errors import SeqlabError
from seqlab.infer.streaming import ClassifierStream, StreamableClassifier
from seqlab.models.bert import BertConfig, BertEncoder
from seqlab.models.classifier import ClassifierHead, SequenceClassifier
from seqlab.models.config import RecurrentConfig, TransformerConfig
from seqlab.models.pretrained import MiniLMClassifier
from seqlab.tasks.sentiment.predictor import SentimentPredictor

WORDS = {"good": 1, "bad": 2, "plot": 3}  # id 3: a word that counts for neither class
LABELS = ["negative", "positive"]


class WordCounter:
    """Logits (1, 2) = (count of id 2, count of id 1): satisfies StreamableClassifier without
    being an nn.Module. Records the ids of every step it is given."""

    def __init__(self, *, incremental: bool) -> None:
        self.incremental = incremental
        self.steps: list[list[int]] = []
        self.weight = nn.Parameter(torch.zeros(1))

    @property
    def streams_incrementally(self) -> bool:
        return self.incremental

    def start_stream(self) -> tuple[int, int]:
        return (0, 0)

    def stream_step(self, ids: torch.Tensor, stream: tuple[int, int]) -> tuple[int, int]:
        row = ids[0].tolist()
        self.steps.append(row)
        return (stream[0] + row.count(2), stream[1] + row.count(1))

    def stream_logits(self, stream: tuple[int, int]) -> torch.Tensor:
        return torch.tensor([[float(stream[0]), float(stream[1])]])  # (1, C)

    def eval(self) -> WordCounter:
        return self

    def parameters(self) -> Iterator[nn.Parameter]:
        yield self.weight


def _tokenize(text: str) -> list[int]:
    return [WORDS[word] for word in text.split()]


def _softmax_of_counts(negative: int, positive: int) -> dict[str, float]:
    total = math.exp(negative) + math.exp(positive)
    return {"negative": math.exp(negative) / total, "positive": math.exp(positive) / total}


def _stream(
    model: WordCounter, *, max_length: int = 16, max_chars: int | None = None
) -> ClassifierStream:
    def classify_text(text: str) -> torch.Tensor:  # the re-encoding path: count the whole text
        ids = _tokenize(text)[:max_length]
        return torch.softmax(torch.tensor([float(ids.count(2)), float(ids.count(1))]), dim=-1)

    return ClassifierStream(
        model=model,
        tokenize=_tokenize,
        labels=LABELS,
        max_length=max_length,
        classify_text=classify_text,
        max_chars=max_chars,
    )


def test_a_class_with_the_protocols_members_is_accepted_and_streamed_incrementally():
    model = WordCounter(incremental=True)
    assert isinstance(model, StreamableClassifier)
    stream = _stream(model)
    assert stream.incremental
    expected_counts = [(0, 1), (1, 1), (1, 1), (1, 2)]  # (bad, good) after each push
    for piece, counts in zip(["good ", "bad ", "plot ", "good "], expected_counts, strict=True):
        result = stream.push(piece)
        assert result.mode == "incremental"
        assert result.scores == pytest.approx(_softmax_of_counts(*counts), abs=1e-6)
    assert result.scores["positive"] == pytest.approx(math.e / (math.e + 1), abs=1e-6)  # 0.731
    assert result.label == "positive" and result.tokens == 4
    # Each committed word was stepped once; nothing re-read the prefix.
    assert model.steps == [[1], [2], [3], [1]]


def test_an_unfinished_word_is_stepped_tentatively_and_never_committed():
    model = WordCounter(incremental=True)
    stream = _stream(model)
    assert stream.push("bad").scores == pytest.approx(_softmax_of_counts(1, 0), abs=1e-6)
    result = stream.push(" good")  # "bad" is committed now, "good" is still unfinished
    assert result.scores == pytest.approx(_softmax_of_counts(1, 1), abs=1e-6)
    assert model.steps == [[2], [2], [1]]  # tentative "bad", committed "bad", tentative "good"
    assert (result.tokens, result.new_tokens) == (2, 1)


def test_a_model_that_does_not_stream_incrementally_is_re_encoded():
    model = WordCounter(incremental=False)
    stream = _stream(model, max_length=2)
    results = [stream.push(piece) for piece in ["bad ", "bad ", "good "]]
    assert [result.mode for result in results] == ["re-encode"] * 3
    assert model.steps == []  # the carried-state calls are never made
    # max_length 2: the third word is cut off, as classifying the whole text cuts it.
    assert results[-1].scores == pytest.approx(_softmax_of_counts(2, 0), abs=1e-6)
    assert results[-1].scores["negative"] == pytest.approx(0.8808, abs=1e-4)
    assert [result.new_tokens for result in results] == [1, 1, 0]


@pytest.mark.parametrize("incremental", [True, False])
def test_text_past_max_chars_is_dropped_until_reset_and_said(incremental):
    stream = _stream(WordCounter(incremental=incremental), max_chars=9)
    first = stream.push("good bad ")  # 9 characters: just fits
    assert (first.text, first.clipped) == ("good bad ", False)
    clipped = stream.push("bad bad ")
    assert (clipped.text, clipped.clipped, clipped.new_tokens) == ("good bad ", True, 0)
    assert clipped.scores == pytest.approx(_softmax_of_counts(1, 1), abs=1e-6)
    assert stream.push("good ").clipped  # stays clipped
    stream.reset()
    again = stream.push("bad ")
    assert (again.text, again.clipped) == ("bad ", False)
    partly = _stream(WordCounter(incremental=incremental), max_chars=5).push("good bad ")
    assert (partly.text, partly.clipped, partly.tokens) == ("good ", True, 1)


def _sequence_classifier(config: RecurrentConfig | TransformerConfig) -> SequenceClassifier:
    return SequenceClassifier(
        config=config,
        vocab_size=10,
        num_classes=2,
        pad_id=0,
        expected_length=8,
        head_dropout=0.0,
    )


def test_the_library_classifiers_satisfy_the_protocol():
    lstm = _sequence_classifier(
        RecurrentConfig(family="lstm", hidden_size=4, embed_dim=4, bidirectional=False)
    )
    transformer = _sequence_classifier(
        TransformerConfig(d_model=8, num_heads=2, num_layers=1, dim_feedforward=16, max_len=8)
    )
    bert = BertConfig.from_hf_config(
        {
            "model_type": "bert", "vocab_size": 20, "hidden_size": 8, "num_hidden_layers": 1,
            "num_attention_heads": 2, "intermediate_size": 16, "max_position_embeddings": 16,
        }
    )  # fmt: skip
    minilm = MiniLMClassifier(
        BertEncoder(bert), ClassifierHead(input_size=8, num_classes=2, dropout=0.0)
    )
    for model, incremental in ((lstm, True), (transformer, False), (minilm, False)):
        assert isinstance(model, StreamableClassifier)
        assert model.streams_incrementally is incremental
    with pytest.raises(NotImplementedError, match="re-encodes the whole text"):
        minilm.start_stream()
    assert not isinstance(nn.Linear(2, 2), StreamableClassifier)


def test_a_predictor_whose_model_cannot_stream_says_so():
    predictor = SentimentPredictor(
        model=nn.Linear(2, 2),
        config={"task": "sentiment"},
        model_dir=Path("runs/linear"),
        task_object=SimpleNamespace(text_data=None),
    )
    with pytest.raises(SeqlabError, match=r"Linear in runs/linear cannot stream"):
        predictor.stream()
