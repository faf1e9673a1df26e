"""The teacher's token vectors a student can start from (seqlab.distill.teacher_embeddings),
against the definitions its docstring gives, computed by hand."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from torch.testing import assert_close

from seqlab.distill.teacher_embeddings import load_into, teacher_token_vectors
from seqlab.errors import SeqlabError
from seqlab.models.bert import BertConfig, BertEncoder
from seqlab.models.classifier import ClassifierHead, SequenceClassifier
from seqlab.models.config import RecurrentConfig, TransformerConfig
from seqlab.models.pretrained import MiniLMClassifier


def _teacher(model: torch.nn.Module) -> object:
    return SimpleNamespace(model=model.eval(), directory=Path("teacher"))


def _bert_teacher() -> MiniLMClassifier:
    torch.manual_seed(0)
    config = BertConfig(vocab_size=30, hidden_size=8, num_layers=1, num_heads=2,
                        intermediate_size=16, max_positions=16, pad_token_id=0)  # fmt: skip
    encoder = BertEncoder(config)
    with torch.no_grad():  # a LayerNorm that is not the identity, so the test sees its gain
        encoder.embedding_norm.weight.uniform_(0.5, 1.5)
        encoder.embedding_norm.bias.uniform_(-0.2, 0.2)
    head = ClassifierHead(input_size=8, num_classes=2, dropout=0.0)
    return MiniLMClassifier(encoder, head)


def test_pretrained_vectors_are_the_encoder_input_without_positions() -> None:
    model = _bert_teacher()
    vectors = teacher_token_vectors(_teacher(model))  # type: ignore[arg-type]
    bert = model.encoder
    x = bert.word_embeddings.weight + bert.token_type_embeddings.weight[0]  # (V, E)
    mean = x.mean(dim=-1, keepdim=True)
    variance = ((x - mean) ** 2).mean(dim=-1, keepdim=True)  # biased, as LayerNorm's
    by_hand = (x - mean) / torch.sqrt(variance + 1e-12) * bert.embedding_norm.weight
    by_hand = by_hand + bert.embedding_norm.bias  # (V, E)
    by_hand[0] = 0.0  # the padding row
    assert vectors.shape == (30, 8)
    assert_close(vectors, by_hand.detach(), rtol=1e-5, atol=1e-5)
    # With position 0's vector added back, they are what the encoder's norm gives a token there.
    position = bert.positions(1)[0]  # (E,)
    first = bert.embedding_norm(bert.word_embeddings.weight[5] + position
                                + bert.token_type_embeddings.weight[0])  # fmt: skip
    assert not torch.allclose(first, vectors[5])  # positions are left out on purpose


def _classifier(family: str, *, vocab: int = 20, width: int = 8) -> SequenceClassifier:
    config: RecurrentConfig | TransformerConfig
    if family == "transformer":
        config = TransformerConfig(d_model=width, num_heads=2, num_layers=1, dim_feedforward=16)
    else:
        config = RecurrentConfig(family=family, hidden_size=6, embed_dim=width)
    return SequenceClassifier(config=config, vocab_size=vocab, num_classes=2, pad_id=0,
                              expected_length=10, head_dropout=0.0)  # fmt: skip


@pytest.mark.parametrize("family", ["lstm", "transformer"])
def test_classifier_vectors_reach_a_student_as_the_teacher_reads_them(family: str) -> None:
    torch.manual_seed(1)
    teacher = _classifier(family)
    vectors = teacher_token_vectors(_teacher(teacher))  # type: ignore[arg-type]
    scale = 8**0.5 if family == "transformer" else 1.0
    assert_close(vectors, teacher.embedding.weight.detach() * scale)
    for student_family in ("gru", "transformer"):
        student = _classifier(student_family)
        load_into(student, vectors)
        ids = torch.tensor([[3, 7, 11]])
        read = student.embedding(ids) * student.embedding_scale  # (1, 3, E)
        assert_close(read, vectors[ids], rtol=1e-6, atol=1e-6)


def test_shapes_and_teachers_without_a_table_are_refused() -> None:
    vectors = torch.zeros(20, 8)
    with pytest.raises(ValueError, match=r"embedding table \(20, 4\) must be the teacher's"):
        load_into(_classifier("lstm", width=4), vectors)
    with pytest.raises(SeqlabError, match="has no token embedding table"):
        teacher_token_vectors(_teacher(torch.nn.Linear(2, 2)))  # type: ignore[arg-type]
