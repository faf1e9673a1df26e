"""Writing an ONNX file from a model directory or a module, atomically, with its metadata.

Reference: the ONNX format (onnx.ai, "Open Neural Network Exchange Intermediate Representation",
ModelProto.metadata_props) and torch.onnx.export. The TorchScript-based exporter
(``dynamo=False``) is used: it traces seqlab's fused recurrent path (torch's packed-sequence
kernels) to ONNX LSTM, GRU and RNN nodes with ``sequence_lens``, so one graph runs every batch
size and length; ``torch.export`` (``dynamo=True``, torch 2.13) refuses the packing's
data-dependent sizes and the attention mask built from ``lengths``.

Every block is switched to its fused path before tracing (on a copy; DESIGN.md "Two paths, one
set of weights"): the reference path is a Python loop over time steps, which tracing would
unroll into a graph fixed at the traced length. Dropout is off (eval mode).

The file is written to a temporary name beside ``out`` and renamed into place (seqlab.utils.io),
and records in metadata_props: ``seqlab_version``, ``task``, ``family``, ``inputs``, ``outputs``
(comma-separated names) and, for a classifier, ``labels`` (JSON list).
"""

from __future__ import annotations

import copy
import io
import json
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn

from seqlab._version import __version__
from seqlab.errors import SeqlabError
from seqlab.export.onnx_models import OnnxSignature, encoder_signature, signature_of
from seqlab.nn.impl import ImplChoice
from seqlab.nn.transformer import TransformerEncoder, TransformerEncoderLayer
from seqlab.utils.io import atomic_write_bytes

__all__ = ["OPSET", "export_encoder_onnx", "export_model_onnx", "onnx_bytes"]

# ONNX opset 17: LayerNormalization is a single node there, and every runtime since 2022 has it.
OPSET = 17


def export_model_onnx(model: nn.Module, config: dict[str, Any], out: Path, *, source: str) -> None:
    """Export a loaded model (``seqlab.load(DIR).model``) whose config.json holds ``config``
    to ``out``; ``source`` names the directory in errors."""
    signature = signature_of(model, config, source)
    metadata = {
        "seqlab_version": __version__,
        "task": str(config.get("task")),
        "family": str(config.get("model", {}).get("family")),
        "inputs": ",".join(signature.input_names),
        "outputs": ",".join(signature.output_names),
    }
    labels = config.get("artifacts", {}).get("labels")
    if isinstance(labels, list):
        metadata["labels"] = json.dumps(labels)
    what = f"the {metadata['family']} {metadata['task']} model in {source}"
    atomic_write_bytes(out, onnx_bytes(model, signature, metadata, what=what))


def export_encoder_onnx(encoder: TransformerEncoder, out: Path) -> None:
    """Export a seqlab.nn.TransformerEncoder stack: (x, padding_mask) -> output."""
    first = encoder.layers[0]
    assert isinstance(first, TransformerEncoderLayer)
    d_model = first.self_attn.embed_dim
    wrapper = _EncoderGraph(encoder)
    metadata = {
        "seqlab_version": __version__,
        "task": "encoder",
        "family": "transformer",
        "inputs": "x,padding_mask",
        "outputs": "output",
    }
    signature = encoder_signature(d_model)
    atomic_write_bytes(out, onnx_bytes(wrapper, signature, metadata, what="the encoder"))


class _EncoderGraph(nn.Module):
    """The encoder stack's forward with positional tensors only (what tracing takes)."""

    def __init__(self, encoder: TransformerEncoder) -> None:
        super().__init__()
        self.encoder = encoder

    def forward(self, x: torch.Tensor, padding_mask: torch.Tensor) -> torch.Tensor:
        return self.encoder(x, key_padding_mask=padding_mask).output  # (B, T, D)


def onnx_bytes(
    model: nn.Module, signature: OnnxSignature, metadata: dict[str, str], *, what: str
) -> bytes:
    """The ONNX ModelProto of ``model`` traced on its fused path, with ``metadata``."""
    import onnx

    traced = _fused_copy(model)
    buffer = io.BytesIO()
    try:
        with warnings.catch_warnings(), torch.no_grad():
            # The exporter warns that it is the TorchScript one and about traced shape
            # arithmetic; the tests check the graph at several shapes instead.
            warnings.simplefilter("ignore")
            torch.onnx.export(
                traced,
                signature.example_inputs,
                buffer,  # type: ignore[arg-type]  # a file object is accepted too
                input_names=list(signature.input_names),
                output_names=list(signature.output_names),
                dynamic_axes={name: dict(axes) for name, axes in signature.dynamic_axes.items()},
                opset_version=OPSET,
                dynamo=False,
            )
    except (RuntimeError, TypeError, ValueError, torch.onnx.errors.OnnxExporterError) as error:
        detail = " ".join(str(error).split())[:200]
        raise SeqlabError(f"{what} cannot be exported to ONNX: {detail}") from None
    proto = onnx.load_from_string(buffer.getvalue())
    for key, value in metadata.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    data: bytes = proto.SerializeToString()
    return data


def _fused_copy(model: nn.Module) -> nn.Module:
    """A copy of ``model`` in eval mode with every block on its fused path; a model holding
    int8 layers is refused (their kernels have no ONNX form)."""
    from seqlab.export.int8_matrix import QuantizedMatrix

    if any(isinstance(module, QuantizedMatrix) for module in model.modules()):
        raise SeqlabError(
            "an int8 model cannot be exported to ONNX (its quantised kernels are torch's own); "
            "export the float32 directory it was made from"
        )
    traced = copy.deepcopy(model).eval()
    for module in traced.modules():
        if isinstance(module, ImplChoice):
            module.impl = "fused"
    return traced
