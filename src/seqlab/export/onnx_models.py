"""What each exportable model looks like from outside: its ONNX inputs, outputs and dynamic axes.

An exported graph takes exactly what the model's ``forward`` takes (DESIGN.md, "Public names"):

- a sentiment classifier (recurrent, Transformer or MiniLM): ``ids`` int64 (B, T), token ids
  right-padded with the tokenizer's pad id, and ``lengths`` int64 (B,), each text's real token
  count; output ``logits`` float32 (B, C), in the order of the model's labels. Both B and T are
  dynamic: the recurrent layers export as ONNX LSTM/GRU/RNN nodes with ``sequence_lens`` (the
  fused path's packed sequences), attention masks the padded keys;
- a forecaster: ``window`` float32 (B, T, F), the scaled input window; output ``forecast``
  float32 (B, horizon, F_out), scaled. B is dynamic; T is dynamic for a recurrent forecaster and
  fixed at ``data.input_length`` for a Transformer one, whose flatten head reads a fixed number of
  encoder outputs (seqlab.models.forecaster.TransformerForecaster);
- a Transformer encoder stack (seqlab.nn.TransformerEncoder, Python API only): ``x`` float32
  (B, T, D) and ``padding_mask`` bool (B, T), True = real token; output ``output`` (B, T, D).

Tasks whose models decode step by step (translation, lm) or are generated test problems (memory)
are not exported: their inference is a loop around the network, not one graph.

Shape legend: B batch, T time steps or tokens, C classes, F features, F_out forecast features,
D model width.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from seqlab.errors import SeqlabError

__all__ = ["NOT_ONE_GRAPH", "ONNX_TASKS", "OnnxSignature", "encoder_signature", "signature_of"]

ONNX_TASKS: tuple[str, ...] = ("sentiment", "forecasting")


@dataclass(frozen=True)
class OnnxSignature:
    """The graph's named inputs (with example tensors to trace) and outputs, and which axes of
    each vary (axis index -> name)."""

    input_names: tuple[str, ...]
    output_names: tuple[str, ...]
    example_inputs: tuple[torch.Tensor, ...]
    dynamic_axes: dict[str, dict[int, str]]


# Why each task without an ONNX export has none: its inference is not one graph.
NOT_ONE_GRAPH = {
    "translation": "its inference is a beam search looping over the decoder in Python",
    "lm": "its generation is a sampling loop over the model in Python",
    "memory": "it is a teaching task on generated problems, not a model to deploy",
}


def signature_of(model: nn.Module, config: dict[str, Any], directory: str) -> OnnxSignature:
    """The signature of the model a directory of ``config`` holds (module docstring)."""
    task = config.get("task")
    if task == "sentiment":
        return _classifier_signature(config)
    if task == "forecasting":
        return _forecaster_signature(model, config)
    raise SeqlabError(
        f"{directory}: a model of the {task} task cannot be exported to ONNX "
        f"({NOT_ONE_GRAPH.get(str(task), 'it is not one graph')}); --format onnx exports the "
        f"tasks {', '.join(ONNX_TASKS)}"
    )


def _classifier_signature(config: dict[str, Any]) -> OnnxSignature:
    # Three texts of different lengths, so tracing sees real padding; the values do not matter.
    ids = torch.tensor([[2, 5, 6, 7, 3], [2, 8, 3, 0, 0], [2, 3, 0, 0, 0]])  # (B, T)
    lengths = torch.tensor([5, 3, 2])  # (B,)
    return OnnxSignature(
        input_names=("ids", "lengths"),
        output_names=("logits",),
        example_inputs=(ids, lengths),
        dynamic_axes={
            "ids": {0: "batch", 1: "length"},
            "lengths": {0: "batch"},
            "logits": {0: "batch"},
        },
    )


def _forecaster_signature(model: nn.Module, config: dict[str, Any]) -> OnnxSignature:
    length = int(config["data"]["input_length"])
    features = _input_features(model)
    window = torch.randn(2, length, features)  # (B, T, F)
    window_axes = {0: "batch"}
    if not _fixed_length(model):
        window_axes[1] = "length"
    return OnnxSignature(
        input_names=("window",),
        output_names=("forecast",),
        example_inputs=(window,),
        dynamic_axes={"window": window_axes, "forecast": {0: "batch"}},
    )


def encoder_signature(d_model: int) -> OnnxSignature:
    """A Transformer encoder stack's signature (module docstring)."""
    x = torch.randn(3, 5, d_model)  # (B, T, D)
    mask = torch.tensor([[True] * 5, [True] * 3 + [False] * 2, [True] * 2 + [False] * 3])
    return OnnxSignature(
        input_names=("x", "padding_mask"),
        output_names=("output",),
        example_inputs=(x, mask),
        dynamic_axes={
            "x": {0: "batch", 1: "length"},
            "padding_mask": {0: "batch", 1: "length"},
            "output": {0: "batch", 1: "length"},
        },
    )


def _input_features(model: nn.Module) -> int:
    features = getattr(model, "input_features", None)
    if not isinstance(features, int):
        raise SeqlabError(f"{type(model).__name__} does not say how many input features it reads")
    return features


def _fixed_length(model: nn.Module) -> bool:
    """Whether the forecaster reads windows of one length only (a Transformer's flatten head)."""
    inner = getattr(model, "inner", model)  # seqlab.models.forecaster.ChannelIndependent
    return getattr(inner, "input_length", None) is not None
