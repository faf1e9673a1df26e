"""seqlab.nn.LSTM and GRU with int8 weights: torch's dynamically quantised recurrent kernels.

References: the quantisation of seqlab.export.int8_matrix (symmetric, one scale per output row of
every weight_ih and weight_hh); torch.ao.nn.quantized.dynamic.LSTM / GRU, whose kernels
(``torch.quantized_lstm``, ``torch.quantized_gru``) run each gate's matrix products in int8 with
dynamically quantised inputs (as many bits as seqlab.export.int8_matrix.REDUCE_RANGE allows)
and keep the biases, the cell state and the gate nonlinearities in float32. seqlab's layers
carry torch.nn's parameter names and layouts (DESIGN.md, "Public names"), so each weight maps
onto the kernel's unchanged.

``Int8Recurrent`` keeps the face of seqlab.nn.LSTM/GRU: batch-first x (B, T, F),
``forward(x, state=None, lengths=None) -> (output, state)`` with the state in torch's layer-major
layout, outputs past a sequence's length zero and the final state taken at its true last step
(the same packing as seqlab.nn.recurrent_fused). The vanilla RNN has no int8 kernel in torch and
stays float32. Saved are plain tensors (int8 values and scales per weight, float32 biases); the
kernel's packed parameters are rebuilt from them on first use and after ``load_state_dict``.

Shapes: B batch, T time steps, F input features, L layers; hidden_size and num_directions are
written out.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn
from torch.ao.nn.quantized import dynamic as quantized_dynamic
from torch.ao.nn.quantized.dynamic.modules.rnn import PackedParameter
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

from seqlab.export.int8_matrix import REDUCE_RANGE, QuantizedMatrix
from seqlab.nn import GRU, LSTM
from seqlab.nn.recurrent_params import GATE_ROWS, RecurrentParameters

__all__ = ["QUANTIZABLE_RECURRENT", "Int8Recurrent"]

# seqlab's recurrent layers that have an int8 kernel, by torch's kernel name (mode).
QUANTIZABLE_RECURRENT: dict[str, type[nn.Module]] = {"LSTM": LSTM, "GRU": GRU}
_KERNEL_MODULES: dict[str, type[nn.Module]] = {
    "LSTM": quantized_dynamic.LSTM,
    "GRU": quantized_dynamic.GRU,
}

State = Tensor | tuple[Tensor, Tensor]


class Int8Recurrent(nn.Module):
    """An LSTM or GRU stack (``mode``) whose weights are int8 (module docstring)."""

    def __init__(
        self,
        mode: str,
        input_size: int,
        hidden_size: int,
        *,
        num_layers: int = 1,
        bidirectional: bool = False,
        bias: bool = True,
    ) -> None:
        super().__init__()
        if mode not in _KERNEL_MODULES:
            raise ValueError(f"mode ({mode!r}) must be one of {', '.join(_KERNEL_MODULES)}")
        self.mode = mode
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.bidirectional = bidirectional
        self.bias = bias
        self.impl = "fused"  # torch's kernel: there is no step-by-step int8 path
        gate_size = GATE_ROWS[mode] * hidden_size
        self._names: list[str] = []
        for layer in range(num_layers):
            layer_input = input_size if layer == 0 else hidden_size * self.num_directions
            for direction in range(self.num_directions):
                suffix = f"_l{layer}" + ("_reverse" if direction else "")
                # (G, F or num_directions*hidden_size) and (G, hidden_size), G gate rows
                setattr(self, "weight_ih" + suffix, QuantizedMatrix(gate_size, layer_input))
                setattr(self, "weight_hh" + suffix, QuantizedMatrix(gate_size, hidden_size))
                if bias:
                    setattr(self, "bias_ih" + suffix, nn.Parameter(torch.zeros(gate_size)))
                    setattr(self, "bias_hh" + suffix, nn.Parameter(torch.zeros(gate_size)))
                self._names.append(suffix)
        self._kernel: Any = None  # torch's quantised module holding the packed weights

    @property
    def num_directions(self) -> int:
        return 2 if self.bidirectional else 1

    @property
    def output_size(self) -> int:
        return self.num_directions * self.hidden_size

    @classmethod
    def from_float(cls, layer: nn.Module) -> Int8Recurrent:
        """The int8 copy of a seqlab.nn.LSTM or GRU (its weights quantised per row)."""
        mode = getattr(layer, "mode", None)
        if mode not in _KERNEL_MODULES:
            raise ValueError(f"{type(layer).__name__} has no int8 kernel (LSTM and GRU have)")
        if not isinstance(layer, RecurrentParameters):
            raise ValueError(f"{type(layer).__name__} is not a seqlab.nn recurrent layer")
        quantized = cls(
            mode,
            layer.input_size,
            layer.hidden_size,
            num_layers=layer.num_layers,
            bidirectional=layer.bidirectional,
            bias=layer.bias,
        )
        for name, tensor in layer.named_parameters():
            target = getattr(quantized, name)
            if isinstance(target, QuantizedMatrix):
                setattr(quantized, name, QuantizedMatrix.from_float(tensor))
            else:
                target.data.copy_(tensor.detach().float())
        return quantized

    def _load_from_state_dict(self, *args: Any, **kwargs: Any) -> None:
        super()._load_from_state_dict(*args, **kwargs)
        self._kernel = None

    def _packed_kernel(self) -> Any:
        """torch's dynamic quantised LSTM/GRU holding this layer's weights, built once."""
        if self._kernel is None:
            with warnings.catch_warnings():
                # Its constructor quantises placeholder weights with torch 2.13's deprecated
                # quantised tensors; they are replaced below.
                warnings.simplefilter("ignore", UserWarning)
                kernel = _KERNEL_MODULES[self.mode](
                    self.input_size,
                    self.hidden_size,
                    self.num_layers,
                    self.bias,
                    True,  # batch_first
                    0.0,  # dropout: inference only
                    self.bidirectional,
                    dtype=torch.qint8,
                )
            # One packed cell per layer and direction, as torch's set_weight_bias makes them but
            # with this machine's input precision (seqlab.export.int8_matrix.REDUCE_RANGE).
            cells = []
            for suffix in self._names:
                packed, biases = [], []
                for stem in ("ih", "hh"):
                    matrix = getattr(self, f"weight_{stem}{suffix}")
                    bias = getattr(self, f"bias_{stem}{suffix}", None)
                    bias = None if bias is None else bias.detach().float()
                    packed.append(torch.ops.quantized.linear_prepack(matrix.quantized(), bias))
                    biases.append(bias)
                cell = torch.ops.quantized.make_quantized_cell_params_dynamic(
                    packed[0], packed[1], biases[0], biases[1], REDUCE_RANGE
                )
                cells.append(PackedParameter(cell))
            kernel._all_weight_values = nn.ModuleList(cells)
            # Not a submodule: its packed weights are a cache of the tensors above, never saved.
            object.__setattr__(self, "_kernel", kernel.eval())
        return self._kernel

    def forward(
        self,
        x: Tensor,
        state: State | None = None,
        lengths: Tensor | Sequence[int] | None = None,
    ) -> tuple[Tensor, State]:
        """x (B, T, F) from ``state`` (zeros when None) -> (output (B, T,
        num_directions*hidden_size), final state), as seqlab.nn.LSTM/GRU."""
        kernel: Any = self._packed_kernel()
        hx = state
        if lengths is None:
            output, final = kernel(x.float(), hx)
            return output, _state(final)
        lengths = torch.as_tensor(lengths, dtype=torch.long).cpu()
        packed = pack_padded_sequence(x.float(), lengths, batch_first=True, enforce_sorted=False)
        result, final = kernel(packed, hx)
        assert isinstance(result, PackedSequence)
        output, _ = pad_packed_sequence(result, batch_first=True, total_length=x.shape[1])
        return output, _state(final)  # (B, T, num_directions*hidden_size), final state

    def extra_repr(self) -> str:
        text = f"{self.mode}, {self.input_size}, {self.hidden_size}"
        if self.num_layers != 1:
            text += f", num_layers={self.num_layers}"
        if self.bidirectional:
            text += ", bidirectional=True"
        return text + ", int8"


def _state(final: Any) -> State:
    # torch's LSTM returns (h, c); its GRU returns h. Both (L*num_directions, B, hidden_size).
    if isinstance(final, tuple | list):
        return final[0], final[1]
    return final
