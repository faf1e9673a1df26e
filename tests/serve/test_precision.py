"""``seqlab serve --dtype bfloat16``: which models are converted, and that a converted
classifier's answers stay within bfloat16's rounding of the float32 ones."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from seqlab.serve import load_models
from seqlab.serve.precision import apply_dtype, can_run_in_bfloat16

TEXTS = ["a good film", "the worst plot of the year", "it was fine , i guess", "good good"]


def test_bfloat16_converts_the_transformer_classifier_and_keeps_its_answers(
    sentiment_transformer_dir: Path, sentiment_lstm_dir: Path
) -> None:
    models = load_models([f"tr={sentiment_transformer_dir}", f"rnn={sentiment_lstm_dir}"])
    transformer, lstm = models["tr"], models["rnn"]
    before = transformer.predictor.probabilities(TEXTS)  # (N, C) in float32
    lstm_before = lstm.predictor.probabilities(TEXTS)
    lines = apply_dtype(models.values(), "bfloat16")

    assert can_run_in_bfloat16(transformer) and not can_run_in_bfloat16(lstm)
    assert {p.dtype for p in transformer.predictor.model.parameters()} == {torch.bfloat16}
    assert {p.dtype for p in lstm.predictor.model.parameters()} == {torch.float32}
    assert (transformer.dtype, lstm.dtype) == ("bfloat16", "float32")
    assert lines[0] == "tr: bfloat16 weights"
    assert lines[1].startswith("rnn: stays float32") and "family lstm, task sentiment" in lines[1]

    after = transformer.predictor.probabilities(TEXTS)
    assert after.dtype == torch.float32  # the answers are float32 whatever the weights
    # bfloat16 keeps 8 bits of mantissa: a relative rounding of 2^-8 per product, a few of them
    # compounding through the layers; the float32 answers are the reference.
    torch.testing.assert_close(after, before, atol=3e-2, rtol=0)
    assert not torch.equal(after, before)  # the weights really are rounded
    torch.testing.assert_close(lstm.predictor.probabilities(TEXTS), lstm_before, atol=0, rtol=0)
    assert transformer.describe()["dtype"] == "bfloat16"


def test_float32_changes_nothing_and_an_unknown_dtype_is_refused(
    sentiment_lstm_dir: Path,
) -> None:
    models = load_models([str(sentiment_lstm_dir)])
    assert apply_dtype(models.values(), "float32") == []
    with pytest.raises(ValueError, match="dtype must be one of float32, bfloat16"):
        apply_dtype(models.values(), "float16")  # type: ignore[arg-type]


def test_an_int8_directory_serves_as_int8_and_bfloat16_leaves_it_alone(
    sentiment_transformer_dir: Path, tmp_path: Path
) -> None:
    from seqlab.export.int8_dir import export_int8

    export_int8(sentiment_transformer_dir, tmp_path / "int8")
    models = load_models([f"q={tmp_path / 'int8'}"])
    quantised = models["q"]
    before = quantised.predictor.probabilities(TEXTS)
    assert quantised.describe()["dtype"] == "int8"
    lines = apply_dtype(models.values(), "bfloat16")
    assert lines[0] == "q: stays int8 (quantised by seqlab export)"
    # The int8 model's float32 scales were not cast: its answers are unchanged, bit for bit.
    torch.testing.assert_close(quantised.predictor.probabilities(TEXTS), before, atol=0, rtol=0)
