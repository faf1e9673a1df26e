"""The parameter set of a recurrent layer, in torch.nn.RNN/LSTM/GRU's layout, and its cuDNN buffer.

References: torch.nn.RNNBase: parameter names (`weight_ih_l{k}`, `weight_hh_l{k}`, `bias_ih_l{k}`,
`bias_hh_l{k}`, with `_reverse` for the reverse direction), shapes, registration order (layer,
then direction, then weight_ih, weight_hh, bias_ih, bias_hh), initialisation and
`flatten_parameters`. Keeping all of it means a torch state dict loads unchanged, the same seed
gives the same initial weights, and the flat list below is the one torch's kernels expect.

Both execution paths of `seqlab.nn.recurrent` read this one set: the fused path as the flat list
(`flat_weights`), the reference path per layer and direction (`cell_weights`). Both look the
parameters up by name on every call, so parameter swaps such as torch.func.functional_call apply.

Shapes (the repository's legend): F input features (input_size), L layers; hidden_size and
num_directions are written out, since H and D mean heads and model width.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple, Self, cast

import torch
from torch import Tensor, nn

from seqlab.nn.cells import empty_parameter, reset_recurrent_parameters

__all__ = ["GATE_ROWS", "CellWeights", "RecurrentParameters"]

# Blocks of hidden_size rows in each weight, by torch's kernel name (mode).
GATE_ROWS = {"RNN_TANH": 1, "RNN_RELU": 1, "LSTM": 4, "GRU": 3}


class CellWeights(NamedTuple):
    """One layer and direction's weights, in the order the step functions of seqlab.nn.cells take.

    G is GATE_ROWS[mode] * hidden_size; a layer above the first reads num_directions * hidden_size
    features instead of F.
    """

    weight_ih: Tensor  # (G, F)
    weight_hh: Tensor  # (G, hidden_size)
    bias_ih: Tensor | None  # (G,), None without bias
    bias_hh: Tensor | None  # (G,), None without bias


class RecurrentParameters(nn.Module):
    """torch's parameters of a stacked, optionally bidirectional recurrent layer; no forward.

    `mode` is torch's kernel name ("RNN_TANH", "RNN_RELU", "LSTM" or "GRU"), given by each layer
    class before this constructor runs, since it fixes the number of gate rows.
    """

    mode: str

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int,
        bias: bool,
        bidirectional: bool,
        *,
        device: torch.device | str | None,
        dtype: torch.dtype | None,
    ) -> None:
        super().__init__()
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.bias = bias
        self.bidirectional = bidirectional
        gate_size = GATE_ROWS[self.mode] * hidden_size
        self._weight_names: list[str] = []
        for layer in range(num_layers):
            layer_input_size = input_size if layer == 0 else hidden_size * self.num_directions
            for direction in range(self.num_directions):
                suffix = _suffix(layer, direction)
                shapes: dict[str, tuple[int, ...]] = {
                    "weight_ih": (gate_size, layer_input_size),
                    "weight_hh": (gate_size, hidden_size),
                }
                if bias:
                    shapes |= {"bias_ih": (gate_size,), "bias_hh": (gate_size,)}
                for stem, shape in shapes.items():
                    # (G, F) or (G, num_directions*hidden_size), (G, hidden_size), (G,): see
                    # CellWeights
                    parameter = empty_parameter(shape, device=device, dtype=dtype)
                    setattr(self, stem + suffix, parameter)
                    self._weight_names.append(stem + suffix)
        self.reset_parameters()
        self.flatten_parameters()

    @property
    def num_directions(self) -> int:
        return 2 if self.bidirectional else 1

    @property
    def output_size(self) -> int:
        """Width of the layer's output: num_directions * hidden_size."""
        return self.num_directions * self.hidden_size

    def reset_parameters(self) -> None:
        """torch's init: every parameter uniform in [-1/sqrt(hidden_size), 1/sqrt(hidden_size)]."""
        reset_recurrent_parameters(self, self.hidden_size)

    def _tensor(self, name: str) -> Tensor:
        # Read through getattr (not get_parameter): functional_call swaps in plain tensors.
        return cast(Tensor, getattr(self, name))

    def flat_weights(self) -> list[Tensor]:
        """Every parameter in registration order: the list torch's fused kernels take."""
        return [self._tensor(name) for name in self._weight_names]

    def cell_weights(self, layer: int, direction: int) -> CellWeights:
        """The weights of one layer and direction (direction 1 is the reverse one)."""
        suffix = _suffix(layer, direction)
        weight_ih, weight_hh = (
            self._tensor("weight_ih" + suffix),
            self._tensor("weight_hh" + suffix),
        )
        if not self.bias:
            return CellWeights(weight_ih, weight_hh, None, None)
        bias_ih, bias_hh = self._tensor("bias_ih" + suffix), self._tensor("bias_hh" + suffix)
        return CellWeights(weight_ih, weight_hh, bias_ih, bias_hh)

    def flatten_parameters(self) -> None:
        """Put the weights in one contiguous cuDNN buffer, as torch.nn.RNNBase does.

        Only acts on CUDA with cuDNN (otherwise a no-op); without it cuDNN would copy the weights
        into such a buffer on every call. Called at construction and after `.to()` / `.cuda()`.
        """
        weights = self.flat_weights()
        dtype = weights[0].dtype
        for weight in weights:
            if (
                weight.dtype != dtype
                or not weight.is_cuda
                or not torch.backends.cudnn.is_acceptable(weight)
            ):
                return
        # Aliased parameters cannot be flattened without breaking the aliasing; torch skips too.
        if len({weight.data_ptr() for weight in weights}) != len(weights):
            return
        import torch.backends.cudnn.rnn as cudnn_rnn

        with torch.cuda.device_of(weights[0]), torch.no_grad():
            if torch._use_cudnn_rnn_flatten_weight():
                torch._cudnn_rnn_flatten_weight(
                    weights,
                    4 if self.bias else 2,  # weight_stride0: tensors per layer and direction
                    self.input_size,
                    cudnn_rnn.get_cudnn_mode(self.mode),
                    self.hidden_size,
                    0,  # proj_size
                    self.num_layers,
                    True,  # batch_first
                    self.bidirectional,
                )

    def _apply(self, fn: Callable[[Tensor], Tensor], recurse: bool = True) -> Self:
        result = super()._apply(fn, recurse)
        # Moving to a new device or dtype replaces the storages; re-flatten like torch does.
        self.flatten_parameters()
        return result


def _suffix(layer: int, direction: int) -> str:
    return f"_l{layer}" + ("_reverse" if direction == 1 else "")
