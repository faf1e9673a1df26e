"""What the recurrent cells and layers accept: their argument checks and input checks, written once.

References: the arguments and layouts are torch.nn.RNN/LSTM/GRU's and torch.nn.RNNCell/LSTMCell/
GRUCell's (a state in torch's layer-major layout, lengths as for `pack_padded_sequence`); DESIGN.md
convention 9: values are checked where they are used, and each error names the values.

Shapes (the repository's legend): B batch, T time steps, F input features (input_size), L layers;
the hidden width and the number of directions are written out (hidden_size, num_directions), since
H and D mean heads and model width.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import torch
from torch import Tensor

__all__ = [
    "NONLINEARITIES",
    "LayerInputs",
    "State",
    "check_bool",
    "check_dropout",
    "check_features",
    "check_lengths",
    "check_nonlinearity",
    "check_positive_int",
    "check_sequence",
    "check_state",
]

NONLINEARITIES: tuple[str, ...] = ("tanh", "relu")

# A layer's state in torch's layout: h (L*num_directions, B, hidden_size) for RNN and GRU, the
# pair (h, c) of that shape for LSTM.
State = Tensor | tuple[Tensor, Tensor]


def select_state_rows(state: State, indices: Tensor) -> State:
    """Batch row b of the result is row indices[b] (B',) of ``state`` (h, or h and c): how beam
    search and batched decoding keep, repeat and drop sentences."""
    if isinstance(state, tuple):
        h, c = state
        return h.index_select(1, indices), c.index_select(1, indices)  # (L, B', hidden_size)
    return state.index_select(1, indices)  # (L, B', hidden_size)


class LayerInputs(NamedTuple):
    """A layer's checked inputs, what both execution paths take."""

    x: Tensor  # (B, T, F)
    h0: Tensor  # (L*num_directions, B, hidden_size)
    c0: Tensor | None  # (L*num_directions, B, hidden_size) for the LSTM, else None
    lengths: Tensor | None  # (B,) CPU int64, or None when every sequence is full length


def check_positive_int(name: str, value: object) -> None:
    # bool is an int subclass; True as a size is always a mistake.
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise ValueError(f"{name} must be a positive int, got {value!r}")


def check_bool(name: str, value: object) -> None:
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be a bool, got {value!r}")


def check_nonlinearity(nonlinearity: str) -> None:
    if nonlinearity not in NONLINEARITIES:
        raise ValueError(f"nonlinearity must be one of {NONLINEARITIES}, got {nonlinearity!r}")


def check_dropout(dropout: object) -> None:
    if isinstance(dropout, bool) or not isinstance(dropout, int | float) or not (0 <= dropout < 1):
        raise ValueError(f"dropout must be a number in [0, 1), got {dropout!r}")


def check_features(x: Tensor, input_size: int, dtype: torch.dtype) -> None:
    """x's last dimension is input_size and its dtype the parameters' dtype."""
    if x.size(-1) != input_size:
        raise ValueError(f"input_size ({input_size}) must match x's last dimension ({x.size(-1)})")
    if x.dtype != dtype:
        raise ValueError(f"x's dtype ({x.dtype}) must match the parameters' dtype ({dtype})")


def check_sequence(x: Tensor, *, input_size: int, dtype: torch.dtype, layer_name: str) -> None:
    """A layer's input: batch-first (B, T, F) with T >= 1, F = input_size, the parameters' dtype."""
    if x.dim() != 3:
        raise ValueError(
            f"{layer_name} takes batch-first x of shape (B, T, F), got shape {tuple(x.shape)}"
        )
    if x.size(1) == 0:
        raise ValueError(f"x must have at least one time step, got shape {tuple(x.shape)}")
    check_features(x, input_size, dtype)


def check_state(
    x: Tensor,
    state: State | None,
    *,
    rows: int,
    hidden_size: int,
    is_lstm: bool,
    layer_name: str,
) -> tuple[Tensor, Tensor | None]:
    """Check a layer's state against x (B, T, F); return (h0, c0), zeros for a missing state.

    rows is L*num_directions; c0 is None unless the layer is an LSTM.
    """
    expected = (rows, x.size(0), hidden_size)
    if state is None:
        h0 = x.new_zeros(expected)  # (L*num_directions, B, hidden_size)
        return h0, (torch.zeros_like(h0) if is_lstm else None)
    if is_lstm:
        if not isinstance(state, tuple | list) or len(state) != 2:
            raise ValueError(
                f"LSTM's state must be a pair (h, c), each of shape (num_layers * "
                f"num_directions, B, hidden_size) = {expected}"
            )
        parts = {"h": state[0], "c": state[1]}
    else:
        if not isinstance(state, Tensor):
            raise ValueError(
                f"{layer_name}'s state must be one tensor of shape (num_layers * num_directions, "
                f"B, hidden_size) = {expected}, got {type(state).__name__}"
            )
        parts = {"state": state}
    for part, tensor in parts.items():
        if tuple(tensor.shape) != expected:
            raise ValueError(
                f"{part} must have torch's layer-major shape (num_layers * num_directions, B, "
                f"hidden_size) = {expected}, got {tuple(tensor.shape)}"
            )
        if tensor.dtype != x.dtype:
            raise ValueError(f"{part}'s dtype ({tensor.dtype}) must match x's dtype ({x.dtype})")
    if is_lstm:
        return parts["h"], parts["c"]
    return parts["state"], None


def check_lengths(x: Tensor, lengths: Tensor | Sequence[int] | None) -> Tensor | None:
    """Check the true lengths of x's right-padded sequences; return them as CPU int64 (B,), what
    packing needs, or None when not given."""
    if lengths is None:
        return None
    lengths = torch.as_tensor(lengths)
    dtype = lengths.dtype
    if dtype.is_floating_point or dtype.is_complex or dtype == torch.bool:
        raise ValueError(f"lengths must hold integers, got dtype {lengths.dtype}")
    batch, steps = x.size(0), x.size(1)
    if tuple(lengths.shape) != (batch,):
        raise ValueError(f"lengths must have shape (B,) = ({batch},), got {tuple(lengths.shape)}")
    lengths = lengths.to(device="cpu", dtype=torch.int64)  # (B,)
    shortest, longest = int(lengths.min()), int(lengths.max())
    if shortest < 1 or longest > steps:
        raise ValueError(
            f"every length must be in [1, T] = [1, {steps}], got min {shortest} and max "
            f"{longest} in lengths {lengths.tolist()}"
        )
    return lengths
