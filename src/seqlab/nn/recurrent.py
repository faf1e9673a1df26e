"""Recurrent layers RNN, LSTM and GRU: two execution paths over one torch-compatible parameter set.

References: the cell equations and papers are listed in `seqlab.nn.cells` (Elman 1990; Hochreiter
and Schmidhuber 1997 with Gers et al. 2000's forget gate; Cho et al. 2014 in torch's form). Stacking
and bidirectionality follow torch.nn.RNN/LSTM/GRU: layer l > 0 reads the concatenation of both
directions of layer l - 1 (M. Schuster and K. K. Paliwal, "Bidirectional Recurrent Neural
Networks", 1997), and dropout is applied to each layer's output except the last one's, in training
mode only (W. Zaremba, I. Sutskever and O. Vinyals, "Recurrent Neural Network Regularization",
2014).

This module holds the layers' public face; the machinery lives beside it, one purpose a module:
`recurrent_params` (torch's parameter names, shapes, initialisation and cuDNN buffer),
`recurrent_fused` and `recurrent_reference` (the two paths), `recurrent_checks` (argument and
input checks). The two paths (DESIGN.md "Two paths, one set of weights"), picked by `impl`:

- ``"fused"`` (default) calls torch's fused kernels (`torch._VF.lstm`, `gru`, `rnn_tanh`,
  `rnn_relu`) exactly the way torch.nn.RNNBase.forward does, including the packed-sequence variant
  for `lengths`, so speed is torch's.
- ``"reference"`` is a Python loop over layers, directions and time steps that calls the step
  functions of `seqlab.nn.cells`; `trace` uses it to return every step's hidden state and gates.

Layout decisions (read these before wiring a layer into a model):

- Inputs and outputs are batch-first: x is (B, T, F) and output is
  (B, T, num_directions*hidden_size), num_directions = 2 when bidirectional.
  ``batch_first=False`` is refused rather than silently ignored.
- The state keeps torch's layer-major layout even though inputs are batch-first: h is
  (L*num_directions, B, hidden_size) with row ``layer * num_directions + direction`` (direction 1
  is the reverse one), and the LSTM's state is the pair (h, c) of that shape. A state from
  torch.nn therefore carries over unchanged.
- ``lengths`` (B,) gives each sequence's true length. Outputs past a sequence's length are zero and
  the final state is the state at its true last step; the reverse direction starts at each
  sequence's last real step. This is exactly torch's `pack_padded_sequence(enforce_sorted=False)`
  followed by `pad_packed_sequence(total_length=T)`.

Shapes (the repository's legend): B batch, T time steps, F input features (input_size), L layers;
the hidden width and the number of directions are written out (hidden_size, num_directions),
since H and D mean heads and model width.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import torch
from torch import Tensor

from seqlab.nn.impl import IMPLS, ImplChoice, check_impl
from seqlab.nn.recurrent_checks import (
    LayerInputs,
    State,
    check_bool,
    check_dropout,
    check_lengths,
    check_nonlinearity,
    check_positive_int,
    check_sequence,
    check_state,
)
from seqlab.nn.recurrent_fused import fused_forward
from seqlab.nn.recurrent_params import RecurrentParameters
from seqlab.nn.recurrent_reference import RecurrentTrace, reference_forward, reference_trace

__all__ = ["GRU", "IMPLS", "LSTM", "RNN", "RecurrentTrace", "State"]


class _RecurrentLayer(ImplChoice, RecurrentParameters):
    """What RNN, LSTM and GRU share: torch.nn's constructor arguments (batch_first must stay
    True) plus keyword-only `impl`, the checks, and the choice between the two paths."""

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = True,
        dropout: float = 0.0,
        bidirectional: bool = False,
        *,
        impl: str = "fused",
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        name = type(self).__name__
        if batch_first is not True:
            raise ValueError(
                f"batch_first must be True, got {batch_first!r}: seqlab layers are always "
                f"batch-first, x is (B, T, F); transpose time-major input with x.transpose(0, 1)"
            )
        check_positive_int("input_size", input_size)
        check_positive_int("hidden_size", hidden_size)
        check_positive_int("num_layers", num_layers)
        check_bool("bias", bias)
        check_bool("bidirectional", bidirectional)
        check_dropout(dropout)
        if dropout > 0 and num_layers == 1:
            # Point at the caller's line: one frame further up when a subclass's own __init__
            # (RNN's) calls this one.
            own_init = type(self).__init__ is _RecurrentLayer.__init__
            warnings.warn(
                f"{name}: dropout ({dropout}) is applied between layers only, so it has no effect "
                f"with num_layers=1",
                UserWarning,
                stacklevel=2 if own_init else 3,
            )
        # Checked before the parameters are drawn, so a bad choice consumes no random numbers.
        check_impl(impl)
        super().__init__(
            input_size, hidden_size, num_layers, bias, bidirectional, device=device, dtype=dtype
        )
        self.batch_first = True
        self.dropout = float(dropout)
        self.impl = impl

    def extra_repr(self) -> str:
        text = f"{self.input_size}, {self.hidden_size}"
        if self.num_layers != 1:
            text += f", num_layers={self.num_layers}"
        if not self.bias:
            text += ", bias=False"
        if self.dropout:
            text += f", dropout={self.dropout}"
        if self.bidirectional:
            text += ", bidirectional=True"
        return text + f", impl={self.impl!r}"

    def initial_state(
        self,
        batch_size: int,
        *,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> State:
        """A zero state in torch's layout: (L*num_directions, B, hidden_size), or the pair (h, c)
        for LSTM. device and dtype default to the parameters'."""
        check_positive_int("batch_size", batch_size)
        reference = self._tensor("weight_ih_l0")
        h = torch.zeros(
            self.num_layers * self.num_directions,
            batch_size,
            self.hidden_size,
            device=reference.device if device is None else device,
            dtype=reference.dtype if dtype is None else dtype,
        )  # (L*num_directions, B, hidden_size)
        if self.mode == "LSTM":
            return h, torch.zeros_like(h)  # (L*num_directions, B, hidden_size) each
        return h

    def forward(
        self,
        x: Tensor,
        state: State | None = None,
        lengths: Tensor | Sequence[int] | None = None,
    ) -> tuple[Tensor, State]:
        """Run the whole sequence x (B, T, F) from `state` (zeros when None).

        Returns (output (B, T, num_directions*hidden_size), final state in torch's layer-major
        layout). Passing the returned state to the next call continues the sequence, so a long
        sequence can be fed in chunks. `lengths` (B,) are the true lengths of right-padded
        sequences (module docstring).
        """
        inputs = self._check_inputs(x, state, lengths)
        if self.impl == "fused":
            return fused_forward(self, inputs, dropout=self.dropout, training=self.training)
        output, final_state, _ = reference_forward(
            self, inputs, dropout=self.dropout, training=self.training
        )
        return output, final_state

    def step(self, x_t: Tensor, state: State | None = None) -> tuple[Tensor, State]:
        """Advance one time step for streaming: x_t (B, F) -> (output (B, hidden_size), state).

        Runs the layer's current `impl`. Calling `step` over a sequence, feeding back the state,
        gives the same outputs and final state as one `forward` over the whole sequence.
        """
        if self.bidirectional:
            raise ValueError(
                f"{type(self).__name__}.step needs a unidirectional layer: the reverse direction "
                f"of a bidirectional layer needs the whole sequence; call forward(x) instead"
            )
        if x_t.dim() != 2:
            raise ValueError(f"step takes x_t of shape (B, F), got shape {tuple(x_t.shape)}")
        output, new_state = self.forward(x_t.unsqueeze(1), state)  # (B, 1, hidden_size)
        return output.squeeze(1), new_state  # (B, hidden_size)

    def trace(
        self,
        x: Tensor,
        state: State | None = None,
        lengths: Tensor | Sequence[int] | None = None,
    ) -> RecurrentTrace:
        """Run the reference path (whatever `impl` is) and return every step's states and gates.

        Dropout between layers applies as in `forward` (training mode only); call `eval()` first
        for a deterministic trace. Autograd records the run like forward does; wrap the call in
        `torch.no_grad()` when only displaying it.
        """
        inputs = self._check_inputs(x, state, lengths)
        return reference_trace(self, inputs, dropout=self.dropout, training=self.training)

    def _check_inputs(
        self, x: Tensor, state: State | None, lengths: Tensor | Sequence[int] | None
    ) -> LayerInputs:
        """x, the state and lengths, checked; zeros for a missing state, c0 None if not LSTM."""
        name = type(self).__name__
        dtype = self._tensor("weight_ih_l0").dtype
        check_sequence(x, input_size=self.input_size, dtype=dtype, layer_name=name)
        h0, c0 = check_state(
            x,
            state,
            rows=self.num_layers * self.num_directions,
            hidden_size=self.hidden_size,
            is_lstm=self.mode == "LSTM",
            layer_name=name,
        )  # (L*num_directions, B, hidden_size) each
        return LayerInputs(x, h0, c0, check_lengths(x, lengths))


class RNN(_RecurrentLayer):
    """Stacked (optionally bidirectional) Elman RNN, h_t = tanh(W_ih x_t + W_hh h_{t-1} + b).

    Arguments follow torch.nn.RNN, positional order included (nonlinearity is fourth), except that
    batch_first must stay True, plus keyword-only `impl` ("fused" or "reference").
    State: (L*num_directions, B, hidden_size).
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        nonlinearity: str = "tanh",
        bias: bool = True,
        batch_first: bool = True,
        dropout: float = 0.0,
        bidirectional: bool = False,
        *,
        impl: str = "fused",
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        check_nonlinearity(nonlinearity)
        # The kernel (mode) depends on the nonlinearity and the base constructor reads it, so it
        # is set first; nn.Module accepts plain attributes before its own __init__ runs.
        self.nonlinearity = nonlinearity
        self.mode = "RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU"
        super().__init__(
            input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
            impl=impl, device=device, dtype=dtype,
        )  # fmt: skip

    def extra_repr(self) -> str:
        return super().extra_repr() + f", nonlinearity={self.nonlinearity!r}"


class LSTM(_RecurrentLayer):
    """Stacked (optionally bidirectional) LSTM with torch's gates i, f, g, o (no projection).

    Arguments follow torch.nn.LSTM (without proj_size) except that batch_first must stay True, plus
    keyword-only `impl`. State: the pair (h, c), each (L*num_directions, B, hidden_size).
    """

    mode = "LSTM"


class GRU(_RecurrentLayer):
    """Stacked (optionally bidirectional) GRU in torch's form, gates r, z, n.

    Arguments follow torch.nn.GRU except that batch_first must stay True, plus keyword-only `impl`.
    State: (L*num_directions, B, hidden_size).
    """

    mode = "GRU"
