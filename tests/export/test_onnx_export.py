"""ONNX export: the graph ONNX Runtime runs computes seqlab's function at every batch size and
length, padding included, and records its metadata.

Tiny untrained models from the project's own builders (fixed seeds); the reference is the same
model run by seqlab in eval mode. Tolerance 1e-4 (the issue's): float32 kernels of two runtimes
summing in different orders differ by about 1e-7 at these sizes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from seqlab.export.onnx_export import export_encoder_onnx, export_model_onnx  # noqa: E402
from seqlab.models.classifier import SequenceClassifier  # noqa: E402
from seqlab.models.config import RecurrentConfig, TransformerConfig  # noqa: E402
from seqlab.models.forecaster import RecurrentForecaster, TransformerForecaster  # noqa: E402
from seqlab.nn import TransformerEncoder  # noqa: E402

VOCAB, PAD = 40, 0
# (B, T) shapes to run, none of them the traced (3, 5).
SHAPES = [(1, 1), (2, 9), (7, 4), (4, 23)]


def _classifier(config: RecurrentConfig | TransformerConfig) -> SequenceClassifier:
    torch.manual_seed(0)
    return SequenceClassifier(
        config=config,
        vocab_size=VOCAB,
        num_classes=3,
        pad_id=PAD,
        expected_length=32,
        head_dropout=0.1,
        generator=torch.Generator().manual_seed(0),
    ).eval()


def _session(path: Path) -> ort.InferenceSession:
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def _padded_batch(batch: int, length: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-padded ids (B, T) and lengths (B,): the first row full, the others shorter."""
    generator = torch.Generator().manual_seed(seed)
    lengths = torch.randint(1, length + 1, (batch,), generator=generator)  # (B,)
    lengths[0] = length
    ids = torch.randint(1, VOCAB, (batch, length), generator=generator)  # (B, T)
    ids[torch.arange(length)[None, :] >= lengths[:, None]] = PAD
    return ids, lengths


SENTIMENT = {
    "task": "sentiment",
    "model": {"family": "?"},
    "artifacts": {"labels": ["a", "b", "c"]},
}


@pytest.mark.parametrize(
    "config",
    [
        RecurrentConfig(
            family="lstm", hidden_size=8, embed_dim=6, bidirectional=True, pooling="max"
        ),
        RecurrentConfig(family="gru", hidden_size=8, num_layers=2, pooling="last"),
        RecurrentConfig(family="rnn", hidden_size=8, bidirectional=True, pooling="mean"),
        # The reference path is a Python loop over steps: export must not unroll it.
        RecurrentConfig(family="lstm", hidden_size=8, pooling="last", impl="reference"),
        TransformerConfig(d_model=16, num_heads=2, num_layers=2, dim_feedforward=24, max_len=32),
        TransformerConfig(
            d_model=16, num_heads=4, num_layers=1, dim_feedforward=24, max_len=32,
            norm_first=True, pooling="mean", positions="learned", impl="reference",
        ),
    ],
    ids=["bilstm-max", "gru-2-layers", "birnn-mean", "lstm-reference", "transformer-cls",
         "transformer-prenorm-mean-reference"],
)  # fmt: skip
def test_classifier_graph_matches_seqlab_at_every_shape(tmp_path, config):
    model = _classifier(config)
    path = tmp_path / "model.onnx"
    export_model_onnx(model, SENTIMENT, path, source="test")
    session = _session(path)
    for index, (batch, length) in enumerate(SHAPES):
        ids, lengths = _padded_batch(batch, length, seed=index)
        with torch.no_grad():
            expected = model(ids, lengths).numpy()  # (B, C)
        (logits,) = session.run(None, {"ids": ids.numpy(), "lengths": lengths.numpy()})
        np.testing.assert_allclose(logits, expected, atol=1e-4, rtol=0)


def test_padding_does_not_change_a_text_in_the_graph(tmp_path):
    """A text padded into a longer batch gets the logits it gets alone."""
    model = _classifier(RecurrentConfig(family="lstm", hidden_size=8, bidirectional=True))
    path = tmp_path / "model.onnx"
    export_model_onnx(model, SENTIMENT, path, source="test")
    session = _session(path)
    ids = np.array([[4, 5, 6, 0, 0, 0, 0]], dtype=np.int64)
    alone = session.run(None, {"ids": ids[:, :3], "lengths": np.array([3])})[0]
    padded = session.run(None, {"ids": ids, "lengths": np.array([3])})[0]
    np.testing.assert_allclose(padded, alone, atol=1e-6, rtol=0)


def test_metadata_records_task_inputs_labels_and_version(tmp_path):
    model = _classifier(TransformerConfig(d_model=8, num_heads=2, num_layers=1, dim_feedforward=8))
    path = tmp_path / "model.onnx"
    export_model_onnx(model, SENTIMENT, path, source="test")
    metadata = {entry.key: entry.value for entry in onnx.load(str(path)).metadata_props}
    from seqlab import __version__

    assert metadata == {
        "seqlab_version": __version__,
        "task": "sentiment",
        "family": "?",
        "inputs": "ids,lengths",
        "outputs": "logits",
        "labels": '["a", "b", "c"]',
    }
    assert [node.name for node in onnx.load(str(path)).graph.input] == ["ids", "lengths"]
    assert not list(tmp_path.glob(".*tmp"))  # the temporary file was renamed away


def _forecasting(length: int) -> dict[str, object]:
    return {"task": "forecasting", "model": {"family": "?"}, "data": {"input_length": length}}


def test_recurrent_forecaster_graph_matches_at_every_batch_and_length(tmp_path):
    torch.manual_seed(0)
    config = RecurrentConfig(family="gru", hidden_size=8, bidirectional=True)
    model = RecurrentForecaster(
        config, input_features=3, horizon=4, output_features=1, input_length=12,
        last_values_in_head=True, instance_norm=True, generator=torch.Generator().manual_seed(0),
    ).eval()  # fmt: skip
    path = tmp_path / "forecaster.onnx"
    export_model_onnx(model, _forecasting(12), path, source="test")
    session = _session(path)
    for batch, length in [(1, 12), (5, 12), (3, 20)]:
        window = torch.randn(batch, length, 3, generator=torch.Generator().manual_seed(length))
        with torch.no_grad():
            expected = model(window).numpy()  # (B, horizon, 1)
        (forecast,) = session.run(None, {"window": window.numpy()})
        np.testing.assert_allclose(forecast, expected, atol=1e-4, rtol=0)


def test_transformer_forecaster_graph_matches_at_every_batch(tmp_path):
    torch.manual_seed(0)
    config = TransformerConfig(d_model=16, num_heads=2, num_layers=2, dim_feedforward=16)
    model = TransformerForecaster(
        config, input_features=2, input_length=12, horizon=3, output_features=2,
        patch_length=4, instance_norm=True,
    ).eval()  # fmt: skip
    path = tmp_path / "forecaster.onnx"
    export_model_onnx(model, _forecasting(12), path, source="test")
    session = _session(path)
    for batch in (1, 6):
        window = torch.randn(batch, 12, 2, generator=torch.Generator().manual_seed(batch))
        with torch.no_grad():
            expected = model(window).numpy()  # (B, horizon, 2)
        (forecast,) = session.run(None, {"window": window.numpy()})
        np.testing.assert_allclose(forecast, expected, atol=1e-4, rtol=0)


def test_transformer_encoder_graph_matches_with_padding(tmp_path):
    torch.manual_seed(0)
    encoder = TransformerEncoder.build(
        num_layers=2, d_model=16, num_heads=4, dim_feedforward=32, norm_first=True
    ).eval()
    path = tmp_path / "encoder.onnx"
    export_encoder_onnx(encoder, path)
    session = _session(path)
    for batch, length in [(1, 2), (4, 11)]:
        x = torch.randn(batch, length, 16, generator=torch.Generator().manual_seed(length))
        mask = torch.arange(length)[None, :] < torch.arange(length, length - batch, -1)[:, None]
        with torch.no_grad():
            expected = encoder(x, key_padding_mask=mask).output.numpy()  # (B, T, D)
        (output,) = session.run(None, {"x": x.numpy(), "padding_mask": mask.numpy()})
        np.testing.assert_allclose(output, expected, atol=1e-4, rtol=0)
