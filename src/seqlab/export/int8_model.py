"""Dynamic int8 quantisation of a whole seqlab model: which layers become int8, and how.

References: Jacob et al. 2018 and Krishnamoorthi 2018 (seqlab.export.int8_matrix: symmetric int8
weights, one scale per output row, inputs quantised per call); torch's
``torch.ao.quantization.quantize_dynamic``, which does the same for torch.nn.Linear and
torch.nn.LSTM/GRU. seqlab's own layers are not torch's classes, so the swap is done here:

- every ``torch.nn.Linear`` becomes an Int8Linear (the heads, the feed-forward networks, the
  attention output projections, a forecaster's input projection);
- every seqlab.nn.MultiHeadAttention keeps its module but its ``in_proj_weight`` (the stacked
  W^Q, W^K, W^V) becomes a QuantizedMatrix, which its ``F.linear`` call runs in int8;
- every seqlab.nn.LSTM and GRU becomes an Int8Recurrent (torch's quantised kernels);
- embeddings, LayerNorms, biases and the vanilla RNN (no int8 kernel in torch) stay float32.

The same swap builds the skeleton a saved int8 directory's weights load into
(:func:`int8_skeleton`): the float model the task builds, swapped, then filled from
model.safetensors, whose names are the swapped model's state-dict names.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from seqlab.export.int8_matrix import Int8Linear, QuantizedMatrix
from seqlab.export.int8_recurrent import QUANTIZABLE_RECURRENT, Int8Recurrent
from seqlab.nn.attention import MultiHeadAttention
from seqlab.nn.recurrent_params import RecurrentParameters

__all__ = ["INT8_SCHEME", "int8_skeleton", "quantize_model"]

# What config.json's quantization field records as the scheme (seqlab.model_dir.QUANTIZATION).
INT8_SCHEME = "int8-dynamic"


def quantize_model(model: nn.Module) -> dict[str, Any]:
    """Swap ``model``'s layers for int8 ones in place (module docstring); returns what was done:
    ``{"int8_layers": n, "float_layers": [names of recurrent layers left float32]}``."""
    swapped, kept = 0, []
    for parent_name, parent in list(model.named_modules()):
        if isinstance(parent, MultiHeadAttention) and isinstance(
            parent.in_proj_weight, nn.Parameter
        ):
            weight = parent.in_proj_weight.detach()  # (3D, D)
            del parent.in_proj_weight  # a parameter; the module takes its place
            # F.linear accepts it through __torch_function__ (seqlab.export.int8_matrix).
            parent.in_proj_weight = QuantizedMatrix.from_float(weight)  # type: ignore[assignment]
            swapped += 1
        for child_name, child in list(parent.named_children()):
            name = f"{parent_name}.{child_name}" if parent_name else child_name
            if isinstance(child, nn.Linear):
                setattr(parent, child_name, Int8Linear.from_float(child))
                swapped += 1
            elif isinstance(child, RecurrentParameters) and child.mode in QUANTIZABLE_RECURRENT:
                setattr(parent, child_name, Int8Recurrent.from_float(child))
                swapped += 1
            elif isinstance(child, RecurrentParameters):  # the vanilla RNN: no int8 kernel
                kept.append(name)
    return {"int8_layers": swapped, "float_layers": kept}


def int8_skeleton(model: nn.Module) -> nn.Module:
    """``model`` (freshly built from a config) with the int8 layers an int8 directory's
    weights load into; its own weights are overwritten by the caller's load."""
    quantize_model(model)
    return model.eval()
