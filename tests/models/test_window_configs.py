"""Local attention chosen from the model configs: ``model.window`` (TransformerConfig: the
sentiment classifier's and the forecaster's centred band) and ``model.window`` /
``model.decoder_window`` (Seq2SeqTransformerConfig: the translation encoder's centred band and the
decoder's causal one). The checks' messages, the one-line refusal on the command line, and models
built from such configs: the band holds (a token outside it changes nothing), cached decoding
equals teacher forcing, and one training step lowers the loss."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from seqlab import cli
from seqlab.errors import SeqlabError
from seqlab.models.classifier import SequenceClassifier
from seqlab.models.config import TransformerConfig
from seqlab.models.forecaster import TransformerForecaster
from seqlab.models.seq2seq_config import Seq2SeqTransformerConfig
from seqlab.models.seq2seq_transformer import TransformerSeq2Seq
from seqlab.tasks.configuration import build_run_config

SMALL = {"d_model": 16, "num_heads": 2, "dim_feedforward": 32, "dropout": 0.0, "max_len": 64}


@pytest.mark.parametrize(
    ("make", "field"),
    [
        (lambda **w: TransformerConfig(**SMALL, **w), "window"),
        (lambda **w: Seq2SeqTransformerConfig(**SMALL, **w), "window"),
        (lambda **w: Seq2SeqTransformerConfig(**SMALL, **w), "decoder_window"),
    ],
)
def test_config_refuses_a_window_below_one_or_beyond_max_len(make, field) -> None:
    with pytest.raises(ValueError) as error:
        make(**{field: 0})
    assert str(error.value) == (
        f"model.{field} (0) must be a positive number of tokens, or null for full attention"
    )
    with pytest.raises(ValueError) as error:
        make(**{field: 65})
    assert str(error.value) == (
        f"model.{field} (65) is larger than model.max_len (64), the longest sequence the model "
        f"reads; set model.{field} to at most 64, or null for full attention"
    )
    assert getattr(make(**{field: 64}), field) == 64  # the limit itself is allowed
    assert getattr(make(**{field: 1}), field) == 1


@pytest.mark.parametrize(
    ("task", "setting", "message"),
    [
        ("sentiment", "model.window=0", "model.window (0) must be a positive number of tokens"),
        ("sentiment", "model.window=5000", "set model.window to at most 4096, or null"),
        ("translation", "model.decoder_window=2048", "set model.decoder_window to at most 1024"),
    ],
)
def test_the_command_line_refuses_a_bad_window_in_one_line(
    task, setting, message, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SeqlabError, match=message.replace("(", r"\(").replace(")", r"\)")):
        build_run_config(task, family="transformer", overrides=[setting])
    capsys.readouterr()
    argv = ["train", task, "--model", "transformer", "--set", setting, "--out", str(tmp_path / "r")]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("seqlab: error: ") and message in err
    assert not (tmp_path / "r").exists()


def _classifier(window: int | None) -> SequenceClassifier:
    config = TransformerConfig(**SMALL, num_layers=1, window=window, pooling="cls")
    torch.manual_seed(0)
    return SequenceClassifier(
        config=config, vocab_size=30, num_classes=3, pad_id=0, expected_length=12,
        head_dropout=0.0, generator=torch.Generator().manual_seed(0),
    ).double().eval()  # fmt: skip


def test_a_windowed_classifier_reads_only_its_band_and_trains() -> None:
    """One layer, window 3 (centred: one token each side): the [CLS] output reads tokens 0 and 1
    only, so changing token 5 leaves the logits alone; with full attention it does not."""
    ids = torch.randint(3, 30, (4, 12), generator=torch.Generator().manual_seed(1))
    lengths = torch.tensor([12, 12, 9, 7])
    changed = ids.clone()
    changed[:, 5] = (ids[:, 5] + 1 - 3) % 27 + 3  # another real token
    windowed, full = _classifier(3), _classifier(None)
    assert [layer.window for layer in windowed.backbone.encoder.layers] == [3]
    torch.testing.assert_close(windowed(changed, lengths), windowed(ids, lengths), rtol=0, atol=0)
    assert (full(changed, lengths) - full(ids, lengths)).abs().max() > 1e-4
    # The same weights, window dropped: a band that does not cover the sequence differs.
    full.load_state_dict(windowed.state_dict())
    assert (full(ids, lengths) - windowed(ids, lengths)).abs().max() > 1e-4

    labels = torch.tensor([0, 1, 2, 1])
    windowed.train()
    optimiser = torch.optim.SGD(windowed.parameters(), lr=0.05)
    before = F.cross_entropy(windowed(ids, lengths), labels)
    before.backward()
    optimiser.step()
    after = F.cross_entropy(windowed(ids, lengths), labels)
    assert after < before


def _seq2seq(window: int | None, decoder_window: int | None) -> TransformerSeq2Seq:
    config = Seq2SeqTransformerConfig(
        **SMALL, num_encoder_layers=1, num_decoder_layers=1, window=window,
        decoder_window=decoder_window,
    )  # fmt: skip
    torch.manual_seed(0)
    return TransformerSeq2Seq(config, src_vocab_size=25, tgt_vocab_size=21, pad_id=0).double()


def test_a_windowed_translation_model_decodes_as_it_trains() -> None:
    model = _seq2seq(window=3, decoder_window=2).eval()
    assert model.encoder.layers[0].window == 3 and model.decoder.layers[0].window == 2
    assert model.decoder.layers[0].cross_attn.window is None
    generator = torch.Generator().manual_seed(2)
    src = torch.randint(3, 25, (2, 9), generator=generator)
    src_lengths = torch.tensor([9, 6])
    tgt = torch.randint(3, 21, (2, 8), generator=generator)
    tgt[:, 0] = 1  # BOS
    tgt_lengths = torch.tensor([8, 8])
    logits = model(src, src_lengths, tgt, tgt_lengths)  # (B, T, V)

    # decoder_window 2 in one layer: position t reads target tokens t - 1 and t only.
    changed = tgt.clone()
    changed[:, 1] = (tgt[:, 1] - 3 + 1) % 18 + 3
    moved = model(src, src_lengths, changed, tgt_lengths)
    torch.testing.assert_close(moved[:, 3:], logits[:, 3:], rtol=0, atol=0)
    assert (moved[:, 1:3] - logits[:, 1:3]).abs().max() > 1e-4

    # Step by step, with the cache and without it, equals teacher forcing.
    for use_cache in (True, False):
        state = model.start_decoding(src, src_lengths, use_cache=use_cache)
        for t in range(tgt.shape[1]):
            step_logits, state = model.decode_step(tgt[:, t : t + 1], state)
            torch.testing.assert_close(step_logits, logits[:, t], rtol=1e-10, atol=1e-10)

    model.train()
    optimiser = torch.optim.SGD(model.parameters(), lr=0.05)
    target = torch.roll(tgt, -1, dims=1)

    def loss() -> torch.Tensor:
        return F.cross_entropy(model(src, src_lengths, tgt, tgt_lengths).flatten(0, 1),
                               target.flatten())  # fmt: skip

    before = loss()
    before.backward()
    optimiser.step()
    assert loss() < before


def test_a_windowed_forecaster_attends_a_centred_band_of_patches() -> None:
    """12 steps in patches of 2 = 6 tokens; window 3 in one layer: each token reads its
    neighbours only, so the forecast equals the unwindowed model's only when the band covers."""
    config = TransformerConfig(**SMALL, num_layers=1, window=3)
    torch.manual_seed(0)
    model = TransformerForecaster(
        config, input_features=2, input_length=12, horizon=3, patch_length=2
    ).double().eval()  # fmt: skip
    assert [layer.window for layer in model.backbone.encoder.layers] == [3]
    x = torch.randn(4, 12, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    windowed = model(x)  # (B, horizon, F_out)
    model.backbone.encoder.layers[0].self_attn.window = 11  # covers 6 tokens both ways
    covering = model(x)
    model.backbone.encoder.layers[0].self_attn.window = None
    full = model(x)
    torch.testing.assert_close(covering, full, rtol=1e-10, atol=1e-12)
    assert (windowed - full).abs().max() > 1e-4
