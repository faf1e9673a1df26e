"""SequenceClassifier: padding never changes logits; streaming equals the whole-sequence forward.

Every model runs in float64 and eval mode (dropout off), so the comparisons are exact up to
rounding. The reference for a padded batch is each sequence run alone with no padding at all.
"""

from __future__ import annotations

import pytest
import torch
from torch.testing import assert_close

from seqlab.models.classifier import SequenceClassifier
from seqlab.models.config import RecurrentConfig, TransformerConfig

VOCAB, CLASSES, PAD = 30, 3, 0


def _build(config) -> SequenceClassifier:
    model = SequenceClassifier(
        config=config,
        vocab_size=VOCAB,
        num_classes=CLASSES,
        pad_id=PAD,
        expected_length=12,
        head_dropout=0.3,
        generator=torch.Generator().manual_seed(0),
    )
    return model.double().eval()


def _batch() -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(1)
    lengths = torch.tensor([7, 3, 5, 1])
    ids = torch.randint(5, VOCAB, (4, 7), generator=generator)  # (B, T), no pad id inside
    ids[torch.arange(7)[None] >= lengths[:, None]] = PAD
    return ids, lengths


def _recurrent(**overrides) -> RecurrentConfig:
    return RecurrentConfig(**{"hidden_size": 8, "embed_dim": 6, **overrides})


RECURRENT_CASES = [
    _recurrent(family=family, bidirectional=bidirectional, pooling=pooling, num_layers=layers)
    for family in ("rnn", "lstm", "gru")
    for bidirectional in (False, True)
    for pooling in ("last", "mean", "max")
    for layers in (1, 2)
]
TRANSFORMER_CASES = [
    TransformerConfig(
        d_model=8,
        num_heads=2,
        num_layers=2,
        dim_feedforward=16,
        max_len=32,
        pooling=pooling,
        impl=impl,
    )
    for pooling in ("cls", "mean")
    for impl in ("fused", "reference")
]


def _case_id(config) -> str:
    if isinstance(config, TransformerConfig):
        return f"transformer-{config.pooling}-{config.impl}"
    direction = "bi" if config.bidirectional else "uni"
    return f"{config.family}-{direction}-{config.pooling}-L{config.num_layers}"


@pytest.mark.parametrize("config", RECURRENT_CASES + TRANSFORMER_CASES, ids=_case_id)
def test_padding_changes_no_logits(config):
    model = _build(config)
    ids, lengths = _batch()
    with torch.no_grad():
        logits = model(ids, lengths)  # (B, C)
        extra = torch.full((ids.shape[0], 5), PAD, dtype=torch.long)
        padded = model(torch.cat([ids, extra], dim=1), lengths)  # (B, C)
        # Padding filled with real-looking ids: still ignored, because lengths say so.
        noisy = ids.clone()
        noisy[torch.arange(7)[None] >= lengths[:, None]] = 7
        noisy_logits = model(noisy, lengths)
        alone = torch.cat(
            [model(ids[row : row + 1, : lengths[row]], lengths[row : row + 1]) for row in range(4)]
        )  # (B, C): each sequence with no padding at all
    assert logits.shape == (4, CLASSES)
    assert_close(padded, logits)
    assert_close(noisy_logits, logits)
    assert_close(logits, alone)
    # The rows differ from each other: a model ignoring its input would pass the checks above.
    assert not torch.allclose(logits[0], logits[1])


@pytest.mark.parametrize("impl", ["fused", "reference"])
@pytest.mark.parametrize("pooling", ["last", "mean", "max"])
def test_lstm_padding_invariance_with_reference_path(pooling, impl):
    model = _build(_recurrent(family="lstm", bidirectional=True, pooling=pooling, impl=impl))
    ids, lengths = _batch()
    with torch.no_grad():
        padded = model(torch.cat([ids, torch.zeros(4, 3, dtype=torch.long)], dim=1), lengths)
        alone = torch.cat(
            [model(ids[row : row + 1, : lengths[row]], lengths[row : row + 1]) for row in range(4)]
        )
    assert_close(padded, alone)


@pytest.mark.parametrize("layers", [1, 2])
@pytest.mark.parametrize("family", ["lstm", "gru", "rnn"])
@pytest.mark.parametrize("pooling", ["last", "mean", "max"])
def test_stream_in_two_chunks_equals_forward(pooling, family, layers):
    model = _build(_recurrent(family=family, pooling=pooling, num_layers=layers))
    assert model.streams_incrementally
    ids, _ = _batch()
    sequence = ids[:1]  # (1, 7), the full-length row
    with torch.no_grad():
        whole = model(sequence, torch.tensor([7]))  # (1, C)
        prefix = model(sequence[:, :3], torch.tensor([3]))
        start = model.start_stream()
        first = model.stream_step(sequence[:, :3], start)
        first_logits = model.stream_logits(first)
        second = model.stream_step(sequence[:, 3:], first)
        streamed = model.stream_logits(second)
        # stream_step leaves the summary it was given unchanged (a tentative step is discardable).
        first_again = model.stream_logits(first)
    assert_close(streamed, whole)
    assert_close(first_logits, prefix)
    assert_close(first_again, first_logits)
    assert second["count"] == 7 and first["count"] == 3
    assert not torch.allclose(streamed, first_logits)


def test_stream_token_by_token_equals_forward_at_every_prefix():
    model = _build(_recurrent(family="lstm", pooling="mean"))
    ids, _ = _batch()
    sequence = ids[:1]
    stream = model.start_stream()
    with torch.no_grad():
        for end in range(1, 8):
            stream = model.stream_step(sequence[:, end - 1 : end], stream)
            assert_close(model.stream_logits(stream), model(sequence[:, :end], torch.tensor([end])))


@pytest.mark.parametrize(
    "config",
    [
        _recurrent(family="lstm", bidirectional=True),
        TransformerConfig(d_model=8, num_heads=2, num_layers=1, dim_feedforward=16, max_len=32),
    ],
    ids=["bidirectional-lstm", "transformer"],
)
def test_models_that_need_the_whole_text_do_not_stream_incrementally(config):
    assert not _build(config).streams_incrementally


def test_embedding_dropout_drops_the_recurrent_inputs_in_training_only():
    """The backbone reads dropout(embedding(ids)), drawn from the same random stream as a hand
    call to torch's dropout; eval mode reads the embeddings untouched."""
    ids, lengths = _batch()
    dropped = _build(_recurrent(family="lstm", pooling="mean", embedding_dropout=0.5))
    plain = _build(_recurrent(family="lstm", pooling="mean"))
    plain.load_state_dict(dropped.state_dict())
    assert_close(dropped(ids, lengths), plain(ids, lengths), rtol=0, atol=0)

    dropped.train()
    dropped.head.dropout.p = 0.0  # only the embedding dropout draws random numbers
    torch.manual_seed(5)
    logits = dropped(ids, lengths)  # (B, C)
    torch.manual_seed(5)
    inputs = torch.nn.functional.dropout(dropped.embedding(ids), p=0.5, training=True)
    outputs, _ = dropped.backbone(inputs, lengths=lengths)  # (B, T, H)
    mask = (torch.arange(ids.shape[1])[None] < lengths[:, None]).unsqueeze(-1)  # (B, T, 1)
    pooled = (outputs * mask).sum(dim=1) / lengths[:, None]  # (B, H)
    assert_close(logits, dropped.head(pooled))
    plain.train()
    plain.head.dropout.p = 0.0
    torch.manual_seed(5)
    assert not torch.allclose(logits, plain(ids, lengths))  # the dropout did drop something


@pytest.mark.parametrize("field", ["dropout", "embedding_dropout"])
def test_recurrent_dropout_outside_zero_to_one_is_refused(field):
    with pytest.raises(ValueError, match=rf"model\.{field} \(1\.0\) must be in \[0, 1\)"):
        _recurrent(**{field: 1.0})
